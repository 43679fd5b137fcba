"""What every operator shares: a name, a version, prompt templates and their hashes.

An operator is a small class whose ``__call__`` takes a batch of Records and returns a
batch of Records (kept, changed, or marked rejected with a reason). Operators hold no
global state: everything they need comes in through ``__init__``, so the same operator
runs in-process or in a distributed executor unchanged. Planning operators that come
before any record exists (TarGEN's contexts and instance seeds) return plain values.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, ClassVar

from synthloom.errors import UserInputError
from synthloom.llm.base import BackendIdentity, ChatRequest, SamplingParams
from synthloom.records import OperatorStep, Record, sha256_text, stable_json


def derived_seed(*parts: Any) -> int:
    """A deterministic 31-bit sampler seed from any JSON-able parts (stable across runs)."""
    return int(sha256_text(stable_json(list(parts)))[:8], 16) & 0x7FFFFFFF


class Operator:
    """Base class: subclasses set ``name``, ``version`` and ``templates``.

    Attributes:
        name: dotted operator name recorded in provenance, e.g. ``targen.self_correction``.
        version: bump when behaviour changes.
        templates: prompt templates (``str.format`` fields); their sha256 goes into provenance.
    """

    name: str = "operator"
    version: str = "1"
    templates: dict[str, str] = {}
    #: extra fields a template may use beyond those its default text uses
    extra_template_fields: ClassVar[dict[str, frozenset[str]]] = {}

    def use_templates(self, overrides: Mapping[str, str] | None) -> None:
        """Replace some of this operator's templates (a recipe's ``templates`` section).

        Raises:
            UserInputError: see :func:`check_template_overrides`.
        """
        if overrides:
            check_template_overrides(type(self), overrides)
            self.templates = {**type(self).templates, **overrides}

    def prompt_sha256(self) -> str:
        """sha256 of this operator's templates and version."""
        return sha256_text(stable_json({"v": self.version, "t": self.templates}))

    def step(self, verdict: str | None = None, **detail: Any) -> OperatorStep:
        """A provenance entry for this operator's pass over a record."""
        return OperatorStep(
            operator=self.name,
            version=self.version,
            prompt_sha256=self.prompt_sha256(),
            verdict=verdict,
            detail=detail,
        )

    @staticmethod
    def request(
        system: str, user: str, *, temperature: float, top_p: float, max_tokens: int, seed: int
    ) -> ChatRequest:
        """A two-message chat request with every sampling value explicit."""
        return ChatRequest(
            messages=(
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ),
            sampling=SamplingParams(
                temperature=temperature, top_p=top_p, max_tokens=max_tokens, seed=seed
            ),
        )

    def __call__(self, records: list[Record]) -> list[Record]:  # pragma: no cover - interface
        raise NotImplementedError


def template_fields(template: str) -> set[str]:
    """The ``str.format`` field names a template uses (``{label}`` -> ``label``)."""
    return {f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(template)
            if f}


def check_template_overrides(operator: type[Operator], overrides: Mapping[str, str]) -> None:
    """Check overrides of ``operator``'s templates: known keys, known fields only.

    A template may use the fields its default text uses, plus the operator's
    ``extra_template_fields`` for that key.

    Raises:
        UserInputError: an unknown template key, a field the operator does not fill, or a
            template ``str.format`` cannot parse; the message names the operator and key.
    """
    for key, text in overrides.items():
        where = f"templates: {operator.name}.{key}"
        if key not in operator.templates:
            raise UserInputError(f"{where}: unknown template; known: {sorted(operator.templates)}")
        try:
            used = template_fields(text)
        except ValueError as e:
            raise UserInputError(f"{where}: not a valid template ({e})") from e
        allowed = template_fields(operator.templates[key]) | operator.extra_template_fields.get(
            key, frozenset())
        unknown = sorted(used - allowed)
        if unknown:
            raise UserInputError(f"{where}: unknown field {{{unknown[0]}}}; known: "
                                 f"{sorted(allowed)}")


def with_step(record: Record, step: OperatorStep, **provenance: Any) -> Record:
    """Copy of ``record`` with ``step`` appended to its operator trail and provenance updated."""
    updates = {"operators": [*record.provenance.operators, step], **provenance}
    return record.model_copy(update={"provenance": record.provenance.model_copy(update=updates)})


def identity_provenance(identity: BackendIdentity) -> dict[str, Any]:
    """Provenance fields naming the backend that produced a record."""
    return {
        "backend": identity.backend,
        "model": identity.model,
        "model_sha256": identity.model_sha256,
    }


__all__ = [
    "Operator",
    "check_template_overrides",
    "derived_seed",
    "identity_provenance",
    "template_fields",
    "with_step",
]
