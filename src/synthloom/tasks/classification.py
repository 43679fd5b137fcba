"""The ``classification`` kind: a text and one label from a fixed set.

Each label has a one-line description and no examples (TarGEN, arXiv 2310.17876). One
stratum is one label: quotas keep labels balanced or at a chosen distribution.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind


@register_kind
class ClassificationTask(TaskSpec):
    """Texts with one label each.

    Attributes:
        labels: label -> one-line description; at least two labels.

    Record fields: ``inputs["text"]`` and ``label``.
    """

    kind: Literal["classification"] = "classification"
    labels: dict[str, str]

    input_fields = ("text",)
    output_fields = ("label",)
    stratum_name = "label"

    @field_validator("labels")
    @classmethod
    def _two_labels(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) < 2:
            raise ValueError("needs at least two labels, each with a one-line description")
        for name, text in v.items():
            if not str(name).strip() or not str(text).strip():
                raise ValueError(f"label {name!r} needs a name and a description")
        return v

    def strata(self) -> list[str]:
        """The labels, in recipe order."""
        return list(self.labels)

    def finalize(self, record: Record) -> Record:
        """The record with its label set to the draft's target label, and its content id."""
        labelled = record.model_copy(update={"label": record.provenance.target_label})
        return super().finalize(labelled)

    def stratum_of(self, record: Record) -> str:
        """The record's label."""
        return str(record.label)
