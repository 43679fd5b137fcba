"""What every task kind declares: its record fields, its strata, and how to describe it.

A task kind is one shape of data (``classification``: a text and its label; later
``instruction``, ``preference``, ``dialogue``...). A recipe's ``task`` section is a pydantic
discriminated union on ``kind`` over the registered kinds, so adding a kind is adding a
file that subclasses :class:`TaskSpec`, decorates it with :func:`register_kind` and is
imported by :mod:`synthloom.tasks`.

This layer knows records, not LLMs or pipelines.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from synthloom.records import Record, record_id
from synthloom.registry import registrar

#: kind name -> TaskSpec subclass; filled by :func:`register_kind`.
TASK_KINDS: dict[str, type[TaskSpec]] = {}


#: class decorator: register a :class:`TaskSpec` subclass under its ``kind`` literal
register_kind = registrar(TASK_KINDS, "kind", "task kind")


class TaskSpec(BaseModel):
    """A task: its name, what its texts are, and what one record of it holds.

    Attributes:
        kind: the discriminator (``classification``...).
        name: task name (letters, digits, ``_``, ``-``); recorded in every record.
        description: what the texts are, one or two sentences, in the user's domain.
        unit: what one text is called ("tweet", "legal clause", "commit message"); prompts
            use it instead of naming a domain. When absent, a ``task.unit`` plan step derives
            it once from ``description`` and records it in ``plan/unit.json``.

    Class attributes (declared by each kind):
        input_fields: names of the record's input fields (``Record.inputs`` keys).
        output_fields: names of its output fields (``label`` or ``Record.outputs`` keys).
        stratum_name: what one stratum is for quotas (``label`` for classification).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    description: str = Field(min_length=1)
    unit: str | None = Field(default=None, min_length=1, max_length=60)

    input_fields: ClassVar[tuple[str, ...]] = ()
    output_fields: ClassVar[tuple[str, ...]] = ()
    stratum_name: ClassVar[str] = "stratum"

    def strata(self) -> list[str]:
        """The strata quotas are kept over (one ``"all"`` stratum by default)."""
        return ["all"]

    def stratum_of(self, record: Record) -> str:
        """The stratum an accepted record counts toward."""
        return "all"

    def text_of(self, record: Record) -> str:
        """The text filters and diversity measures look at (``inputs["text"]`` by
        default; kinds without one override it)."""
        return record.text

    def missing_fields(self, record: Record) -> list[str]:
        """The kind's fields that ``record`` lacks (empty when it is complete)."""
        missing = [f for f in self.input_fields if record.inputs.get(f) in (None, "")]
        for f in self.output_fields:
            value = record.label if f == "label" else record.outputs.get(f)
            if value in (None, ""):
                missing.append(f)
        return missing

    def finalize(self, record: Record) -> Record:
        """An accepted record as it is stored: its content id set (see ``record_id``)."""
        return record.model_copy(update={"kind": self.kind, "id": record_id(
            record.task, record.inputs, record.label, record.outputs)})

    def known_fields(self) -> set[str]:
        """Fields available to the first step: the task's own and, if given, ``unit``."""
        return {"task", "description"} | ({"unit"} if self.unit else set())

    def summary(self) -> dict[str, Any]:
        """A short description for manifests and reports."""
        return {"kind": self.kind, "name": self.name, "unit": self.unit}


def quotas(strata: list[str], n: int, weights: dict[str, float] | None = None) -> dict[str, int]:
    """``n`` split over ``strata`` by ``weights`` (equal when None), largest remainders first.

    Returns ``{stratum: count}`` summing to ``n``; a stratum without weight gets 0.
    """
    weights = {k: 1.0 for k in strata} if weights is None else weights
    total = sum(weights.get(k, 0.0) for k in strata)
    raw = {k: n * weights.get(k, 0.0) / total for k in strata}
    out = {k: int(v) for k, v in raw.items()}
    rest = n - sum(out.values())
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[:rest]:
        out[k] += 1
    return out


def layout_rows(layout: Any, records: list[Record]) -> list[dict[str, Any]]:
    """The rows an export ``layout`` (a kind's ``layouts`` value: a function of one record to
    one row, or to a list of rows) gives for ``records``, in order, lists flattened: a
    relevance record holds one query and its k candidates, so its ``pairs`` layout gives k
    rows.

    Raises:
        ValueError: whatever ``layout`` raises for a record that does not fit it.
    """
    rows: list[dict[str, Any]] = []
    for record in records:
        made = layout(record)
        rows.extend(made if isinstance(made, list) else [made])
    return rows
