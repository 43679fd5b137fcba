"""Coverage steps: taxonomy mixes, personas and characteristics on each draft (Simula, arXiv
2603.29791; DiaSynth, arXiv 2409.19020), and Evol-Instruct complexification of generated
records (arXiv 2304.12244)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from synthloom.operators.base import with_step
from synthloom.operators.generate.evol_complexify import OPERATIONS, EvolComplexify
from synthloom.operators.plan.coverage import CoveragePlanner
from synthloom.operators.plan.personas import CHARACTERISTICS
from synthloom.operators.plan.taxonomy import load_taxonomies
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import OperatorStep, Record, sha256_text


class _Annotate:
    """Runtime annotate step: the coverage planner, one provenance step per draft."""

    name = "coverage.plan"
    version = "1"

    def __init__(self, planner: CoveragePlanner) -> None:
        self.planner = planner

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        out = []
        for draft in records:
            planned = draft.provenance.operators[0].detail if draft.provenance.operators else {}
            index = int(planned.get("index", 0))
            annotated = self.planner.annotate(draft, index, planned.get("label_index"))
            step = OperatorStep(operator=self.name, version=self.version, verdict="annotated")
            out.append(with_step(annotated, step))
        return out


@register_step
class CoverageStep(StepConfig):
    """Attach a taxonomy mix, a persona and context characteristics to each draft.

    Attributes:
        taxonomy: a taxonomy YAML file (``synthloom taxonomy``); relative to the recipe
            file when loaded from YAML. Enters the fingerprint by content, not path.
        strategy: ``uniform``, ``weighted`` or ``quota`` sampling over leaves.
        personas: a writer persona per draft: from the pool of a ``personas.pool`` plan
            step when the recipe has one (persona ``i % len`` for draft ``i``), else sampled.
        characteristics: context characteristics sampled per draft.
    """

    type: Literal["coverage.plan"] = "coverage.plan"
    taxonomy: str | None = None
    strategy: Literal["uniform", "weighted", "quota"] = "quota"
    personas: bool = False
    characteristics: list[str] = Field(default_factory=list)
    role = "annotate"
    reads = frozenset({"drafts"})
    writes = frozenset({"mix", "persona", "characteristics"})

    @field_validator("characteristics")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(CHARACTERISTICS))
        if unknown:
            raise ValueError(f"unknown characteristics {unknown}; known: "
                             f"{sorted(CHARACTERISTICS)}")
        return v

    _taxonomy_sha256: str | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        """Read the taxonomy file's content hash once, when the recipe is loaded."""
        if self.taxonomy and Path(self.taxonomy).is_file():
            self._taxonomy_sha256 = sha256_text(Path(self.taxonomy).read_text(encoding="utf-8"))

    def fingerprint_data(self) -> dict[str, Any]:
        """The config with the taxonomy file's path replaced by the sha256 of its content
        (as read when the recipe was loaded)."""
        data = self.model_dump(mode="json")
        if self.taxonomy:
            data["taxonomy"] = {"sha256": self._taxonomy_sha256}
        return data

    def build(self, ctx: StepContext) -> Any:
        taxonomies = load_taxonomies(self.taxonomy) if self.taxonomy else []
        return _Annotate(CoveragePlanner(taxonomies, self.strategy, self.personas,
                                         self.characteristics, seed=ctx.recipe.seed,
                                         persona_pool=ctx.artifacts.get("personas")))


@register_step
class ComplexifyStep(StepConfig):
    """Rewrite a fraction of generated records harder (Evol-Instruct in-depth operations).

    Attributes:
        fraction: share of records rewritten, in [0, 1].
        operations: which operations (default: all five).
        max_words: asked length of the rewrite, in words.
    """

    type: Literal["evol.complexify"] = "evol.complexify"
    fraction: float = Field(default=0.3, ge=0.0, le=1.0)
    operations: list[str] = Field(default_factory=list)
    max_words: int = Field(default=45, ge=5, le=400, strict=True)
    role = "transform"
    reads = frozenset({"text", "unit"})
    writes = frozenset({"text"})
    operators = (EvolComplexify,)
    kinds = frozenset({"classification"})

    @field_validator("operations")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        unknown = sorted(set(v) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"unknown operations {unknown}; known: {sorted(OPERATIONS)}")
        return v

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        return EvolComplexify(ctx.backend, task.labels, self.fraction, self.operations or None,
                              max_words=self.max_words, description=task.description,
                              unit=ctx.unit, templates=ctx.templates(EvolComplexify),
                              **ctx.sampled)
