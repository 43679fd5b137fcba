"""The ``teacher_label`` kind: synthetic labels on REAL, unlabelled texts.

Labellers (LLM prompts and rules) vote on each text of the user's file, and a label model
combines their votes into one label, its probabilities (the soft label) and a trust weight
(the teacher half of distillation; Shang et al., arXiv 2505.07105). The steps live in
:mod:`synthloom.pipeline.steps.teacher_label`.

A record's text is real and its label synthetic: ``origin`` is ``synthetic`` (a record
with any synthetic field is) and ``field_origins`` says ``{"text": "real", "label":
"synthetic"}``, so evaluation never counts these records as real data. Its id is the
content hash of the task and the text alone: the same text keeps its id whatever label
the label model gives it (and a repeated text is one record).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import field_validator

from synthloom.records import Record, record_id
from synthloom.tasks.base import TaskSpec, register_kind


def _normalised(name: str) -> str:
    """A label name as answers are compared with it (see
    :func:`synthloom.operators.label.teacher.normalise`; repeated here: tasks sit below
    operators)."""
    import unicodedata

    t = unicodedata.normalize("NFKC", name).casefold().replace("_", " ").replace("-", " ")
    return " ".join("".join(c for c in t if c.isalnum() or c.isspace()).split())


def labelled_row(record: Record) -> dict[str, Any]:
    """The ``labelled`` export layout: ``{"text", "label", "label_probs" ({label: float},
    the soft label), "trust_weight", "id"}``, what a student trains on.

    Raises:
        ValueError: the record has no label (not a finished teacher_label record).
    """
    if record.label is None:
        raise ValueError(f"record {record.id} has no label (not a finished teacher_label record)")
    return {
        "text": record.text,
        "label": record.label,
        "label_probs": dict(record.outputs.get("label_probs") or {record.label: 1.0}),
        "trust_weight": record.trust_weight,
        "id": record.id,
    }


@register_kind
class TeacherLabelTask(TaskSpec):
    """Real texts labelled by a teacher (LLM prompts and rules, combined).

    Attributes:
        labels: label -> one-line description (may be ''), or a list of label names; at
            least two. Names must stay distinct once case, ``_``/``-`` and punctuation
            are ignored (that is how an answer is matched to a label), and each must keep
            a letter or digit.

    Record fields: ``inputs["text"]`` (real), ``label`` (synthetic), and ``outputs``::

        {"votes": {labeller name: {"label": str | None, ...}},  # each labeller's vote
         "label_probs": {label: float},  # the label model's probabilities (soft label)
         "agreement": float,             # share of the voting labellers that agree
         "label_model": "majority_vote" | "dawid_skene"}

    (``label_probs``, ``agreement`` and ``label_model`` are set by the ``curate.label_model``
    step; the trust weight is the record's ``trust_weight``.)

    One stratum (``"all"``): a run labels every text of its source once. Export layout
    ``labelled``: :func:`labelled_row`.
    """

    kind: Literal["teacher_label"] = "teacher_label"
    labels: dict[str, str]

    input_fields = ("text",)
    output_fields = ("votes",)
    stratum_name = "text"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {"labelled": labelled_row}

    @field_validator("labels", mode="before")
    @classmethod
    def _names_or_mapping(cls, v: Any) -> Any:
        """A list of names reads as names with no description."""
        if isinstance(v, list | tuple):
            return {str(name): "" for name in v}
        if isinstance(v, dict):
            return {k: "" if d is None else d for k, d in v.items()}
        return v

    @field_validator("labels")
    @classmethod
    def _two_distinct(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) < 2:
            raise ValueError(f"needs at least two labels, got {len(v)}")
        seen: dict[str, str] = {}
        for name in v:
            key = _normalised(str(name))
            if not key:
                raise ValueError(f"label {name!r} needs a letter or digit")
            if key in seen:
                raise ValueError(
                    f"labels {seen[key]!r} and {name!r} are the same once case "
                    "and punctuation are ignored"
                )
            seen[key] = name
        return v

    def finalize(self, record: Record) -> Record:
        """The record with its content id: a hash of the task and the text only."""
        return record.model_copy(
            update={"kind": self.kind, "id": record_id(record.task, {"text": record.text}, None)}
        )

    def known_fields(self) -> set[str]:
        """The task's fields and ``labels``."""
        return super().known_fields() | {"labels"}

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "labels": list(self.labels)}
