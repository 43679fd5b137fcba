"""Pointwise LLM judge: each record scored on a rubric of criteria with anchored levels.

The LLM-as-a-judge setting of Zheng et al., *Judging LLM-as-a-Judge with MT-Bench and
Chatbot Arena* (arXiv 2306.05685), with the rubric made explicit: every criterion names
what it measures and what each score level means (anchored levels, as in Prometheus,
Kim et al., arXiv 2310.08491), and the answer is structured output constrained to the
levels. An answer outside the scale or unparsable is retried with a new sampler seed and
then recorded as missing (``None``): it is never coerced to a number.

The rubric is domain-neutral: criteria talk about "the {unit}", the task description
and, for classification, the label, so one rubric serves any domain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed, with_step
from synthloom.records import Record, Verdict


class Criterion(BaseModel):
    """One rubric criterion.

    Attributes:
        name: a short identifier (letters, digits, ``_``), used as the JSON key.
        question: what the judge assesses, one sentence.
        levels: score -> what that score means (anchored levels); at least two, integers.
            Every whole number from the lowest to the highest level is a valid score (a
            0-10 scale may anchor only 0, 5 and 10).
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=40)
    question: str = Field(min_length=1, max_length=500)
    levels: dict[int, str]

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: dict[int, str]) -> dict[int, str]:
        if len(v) < 2:
            raise ValueError("needs at least two anchored score levels, e.g. {1: ..., 5: ...}")
        for score, text in v.items():
            if not str(text).strip():
                raise ValueError(f"level {score} needs a description")
        return dict(sorted(v.items()))

    @property
    def scale(self) -> tuple[int, int]:
        """The lowest and highest score."""
        return min(self.levels), max(self.levels)


def _levels(low: str, mid: str, high: str) -> dict[int, str]:
    return {1: low, 3: mid, 5: high}


#: the default rubric: relevance, naturalness, label fit (classification only), difficulty
DEFAULT_CRITERIA: tuple[Criterion, ...] = (
    Criterion(name="relevance", question="Does the {unit} belong to the task described?",
              levels=_levels("unrelated to the task", "partly on task",
                             "exactly the kind of text the task describes")),
    Criterion(name="naturalness",
              question="Does the {unit} read like one written by a person?",
              levels=_levels("garbled, templated or obviously machine-made",
                             "understandable but stilted or generic",
                             "fluent and specific, as a person would write it")),
    Criterion(name="label_fit", question="Does the label fit the {unit}?",
              levels=_levels("the label is wrong", "the label fits partly or is unclear",
                             "the label clearly fits")),
    Criterion(name="difficulty",
              question="How hard is the {unit} for a reader to get right?",
              levels=_levels("trivial", "needs some thought", "subtle or tricky")),
)


#: the default rubric of instruction data: Magpie's input quality and difficulty tags
#: (arXiv 2406.08464) and how well the response follows the instruction
INSTRUCTION_CRITERIA: tuple[Criterion, ...] = (
    Criterion(name="quality", question="How clear, specific and well-formed is the "
              "instruction?", levels=_levels("unclear or incoherent",
                                             "understandable but vague or missing context",
                                             "clear, specific and complete")),
    Criterion(name="difficulty", question="How hard is the instruction for an assistant?",
              levels=_levels("very easy: a lookup or a one-line answer",
                             "medium: needs some knowledge or a few steps",
                             "very hard: expert knowledge or long reasoning")),
    Criterion(name="response_quality",
              question="How well does the response follow the instruction?",
              levels=_levels("ignores or fails the instruction, or refuses without reason",
                             "follows it partly, or with mistakes or padding",
                             "follows it fully and correctly, clear and to the point")),
)


def default_criteria(labelled: bool, kind: str = "classification") -> list[Criterion]:
    """The default rubric: for ``instruction`` records :data:`INSTRUCTION_CRITERIA`, else
    :data:`DEFAULT_CRITERIA` with ``label_fit`` only when records carry labels."""
    if kind == "instruction":
        return list(INSTRUCTION_CRITERIA)
    return [c for c in DEFAULT_CRITERIA if labelled or c.name != "label_fit"]


def check_rubric(criteria: list[Criterion]) -> list[Criterion]:
    """The criteria, checked: at least one, no duplicate names.

    Raises:
        ValueError: no criteria, or a name given twice (the message names it).
    """
    if not criteria:
        raise ValueError("a rubric needs at least one criterion")
    seen: set[str] = set()
    for c in criteria:
        if c.name in seen:
            raise ValueError(f"criterion {c.name!r} is given twice")
        seen.add(c.name)
    return criteria


class PointwiseJudge(Operator):
    """Score each record on a rubric, one structured answer per record (temperature 0).

    Appends a ``judge`` verdict: ``score`` = mean of the criterion scores (None when every
    one is missing), ``passed`` None (a cut decides later), ``detail`` = ``{"scores":
    {criterion: int | None}, "scale": [lo, hi], "missing": [criteria], "judge_model",
    "same_model_as_generator"}``.

    Args:
        backend: the judge LLM.
        description: the task description.
        unit: what one text is called.
        criteria: the rubric (see :func:`check_rubric`).
        labels: label -> description for classification records (None: no labels shown).
        same_model_as_generator: recorded in each verdict (the report says so).
        max_attempts: answers requested per record before recording it as missing.
        seed: master seed.
        templates: overrides of :attr:`templates`.
        content_of: record -> what the judge reads (None: the record's text, or its string
            fields); kinds whose text is not one field give theirs (``judge_text``).

    Raises:
        ValueError: a bad rubric (see :func:`check_rubric`).
    """

    name = "judge.pointwise"
    version = "1"
    templates = {
        "system": "You grade {unit}s written for a dataset. The task: {description}",
        "user": ("{content}\n\nGrade it on each criterion:\n{rubric}\n"
                 "Answer as JSON with one whole-number score per criterion: {keys}"),
    }

    def __init__(self, backend: ChatBackend, description: str, unit: str,
                 criteria: list[Criterion], *, labels: Mapping[str, str] | None = None,
                 same_model_as_generator: bool = True, max_attempts: int = 3, seed: int = 0,
                 templates: Mapping[str, str] | None = None,
                 content_of: Callable[[Record], str] | None = None) -> None:
        self.use_templates(templates)
        self.content_of = content_of
        self.backend, self.description, self.unit = backend, description, unit
        self.criteria = check_rubric(list(criteria))
        self.labels = dict(labels or {})
        self.same_model = same_model_as_generator
        self.max_attempts, self.seed = max_attempts, seed
        fields: dict[str, Any] = {
            c.name: (Literal[tuple(range(c.scale[0], c.scale[1] + 1))], ...)
            for c in self.criteria}
        self.answer_model = create_model("RubricAnswer", **fields)

    def rubric_text(self) -> str:
        """The rubric as the prompt shows it: one block per criterion with its levels."""
        lines = []
        for c in self.criteria:
            lines.append(f"- {c.name}: {c.question.format(unit=self.unit)}")
            lines += [f"    {score} = {text}" for score, text in c.levels.items()]
        return "\n".join(lines)

    def content(self, record: Record) -> str:
        """What the judge reads: the kind's ``content_of`` (a dialogue with its personas),
        else the text; and, for a labelled record, its label."""
        label = record.label or record.provenance.target_label
        if self.content_of is not None:  # the kind says what a judge reads (a dialogue)
            out = self.content_of(record)
        elif record.text:
            out = f"{self.unit[:1].upper()}{self.unit[1:]}: {record.text}"
        else:  # kinds without one text: each string field on its own line
            out = "\n".join(f"{k[:1].upper()}{k[1:]}: {v}" for k, v in {
                **record.inputs, **record.outputs}.items() if isinstance(v, str) and v)
        if label is not None and self.labels:
            out += f"\nLabel: {label} ({self.labels.get(label, '')})"
        return out

    def __call__(self, records: list[Record]) -> list[Record]:
        """The records, each with a ``judge`` verdict and one operator step appended."""
        keys = ", ".join(f'"{c.name}"' for c in self.criteria)
        requests = [self.request(
            self.templates["system"].format(unit=self.unit, description=self.description),
            self.templates["user"].format(content=self.content(r), rubric=self.rubric_text(),
                                          keys="{" + keys + "}"),
            temperature=0.0, top_p=1.0, max_tokens=16 + 8 * len(self.criteria),
            seed=derived_seed(self.name, self.seed, r.id)) for r in records]
        results = chat_structured(self.backend, requests, self.answer_model,
                                  max_attempts=self.max_attempts)
        model = self.backend.identity.model
        low = min(c.scale[0] for c in self.criteria)
        high = max(c.scale[1] for c in self.criteria)
        out = []
        for record, result in zip(records, results, strict=True):
            scores: dict[str, int | None] = {
                c.name: (getattr(result.value, c.name) if result.value else None)
                for c in self.criteria}
            given = [s for s in scores.values() if s is not None]
            missing = [k for k, s in scores.items() if s is None]
            mean = round(sum(given) / len(given), 4) if given else None
            detail = {"scores": scores, "scale": [low, high], "missing": missing,
                      "judge_model": model, "same_model_as_generator": self.same_model,
                      "attempts": result.attempts}
            if result.error:
                detail["error"] = result.error
            updated = with_step(record, self.step("missing" if mean is None else "scored",
                                                  score=mean))
            out.append(updated.with_verdict(Verdict(check="judge", by=f"{self.name}/{model}",
                                                    score=mean, detail=detail)))
        return out
