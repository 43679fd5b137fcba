"""The pointwise judge step: every finished record scored on a rubric, then a cut.

A curate step (it runs once over every finished record) because a quantile cut needs
every score: the bottom ``drop_quantile`` of the scored records, or every record under
``min_score``, is dropped (or down-weighted). Ties are never broken arbitrarily: the cut
drops the records scored below the score at rank ``int(drop_quantile * n)``, so records
tied at the boundary stay, and a judge that gives every record the same score cuts none.
Records whose score is missing (the judge gave no valid answer) are never cut: there is
no evidence against them, and the report counts them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from synthloom.operators.judge.pointwise import (
    Criterion,
    PointwiseJudge,
    check_rubric,
    default_criteria,
)
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import Record


class _PointwiseCut:
    def __init__(self, config: PointwiseJudgeStep, judge: PointwiseJudge) -> None:
        self.config, self.judge, self.name = config, judge, config.type

    def _cut(self, scored: list[Record]) -> set[str]:
        """Ids of the records below the cut."""
        c = self.config
        with_score = [r for r in scored if r.verdict("judge").score is not None]
        if c.min_score is not None:
            return {r.id for r in with_score if r.verdict("judge").score < c.min_score}
        ranked = sorted(r.verdict("judge").score for r in with_score)
        k = int(c.drop_quantile * len(ranked))
        if k == 0:
            return set()
        # below the score at rank k: records tied with the first one kept are kept too,
        # so a judge that gives everyone the same score cuts nothing (never by id)
        threshold = ranked[k]
        return {r.id for r in with_score if r.verdict("judge").score < threshold}

    def curate(self, records: list[Record]) -> list[Record]:
        c = self.config
        scored = self.judge(records)
        cut = set() if c.action == "score" else self._cut(scored)
        out = []
        for r in scored:
            verdict = r.verdict("judge")
            below = r.id in cut
            passed = None if verdict.score is None else not below
            r = r.model_copy(update={"verification": [
                *r.verification[:-1], verdict.model_copy(update={"passed": passed})]})
            if below and c.action == "drop":
                rule = (f"under min_score {c.min_score}" if c.min_score is not None
                        else f"in the bottom {c.drop_quantile:.0%} of judge scores")
                r = r.reject(self.name, f"judge score {verdict.score} {rule}")
            elif below and c.action == "weight":
                r = r.model_copy(update={"trust_weight": min(r.trust_weight,
                                                             c.cut_trust_weight)})
            out.append(r)
        return out


def _kind_criteria() -> dict[str, tuple[Criterion, ...]]:
    """Default rubrics of the chat kinds (their own operators define them)."""
    from synthloom.operators.dialogue.diasynth import DIALOGUE_CRITERIA
    from synthloom.operators.tools.plan import TOOL_DIALOGUE_CRITERIA

    return {"dialogue": DIALOGUE_CRITERIA, "tool_dialogue": TOOL_DIALOGUE_CRITERIA}


def rubric_for(task: Any, criteria: list[Criterion] | None = None) -> list[Criterion]:
    """The rubric a pointwise judge scores ``task``'s records on: ``criteria`` when given,
    else the kind's default (the chat kinds' own; relevance, naturalness, label fit for
    labelled kinds...)."""
    labels = getattr(task, "labels", None)
    return criteria or list(_kind_criteria().get(task.kind) or default_criteria(
        labelled=labels is not None, kind=task.kind))


@register_step
class PointwiseJudgeStep(StepConfig):
    """Score every finished record on a rubric with the judge backend (the recipe's
    ``judge``, else the generator), then cut the lowest (LLM-as-a-judge, arXiv 2306.05685;
    see :mod:`synthloom.operators.judge.pointwise`).

    Attributes:
        criteria: the rubric; None uses relevance, naturalness, label fit (labelled kinds)
            and difficulty, each on anchored levels 1, 3 and 5 (for ``instruction`` records:
            instruction quality, difficulty and response quality).
        drop_quantile: cut the lowest-scored share of records, in (0, 1); default 0.15.
        min_score: cut every record scored under this instead (replaces drop_quantile).
        action: ``drop`` (reject what is cut), ``weight`` (keep it at
            ``cut_trust_weight``) or ``score`` (record the scores only).
        cut_trust_weight: trust weight of a kept record under the cut.
        max_attempts: answers requested per record before its score is recorded missing.

    Raises:
        ValueError: a rubric with a criterion without levels or a duplicate criterion, a
            quantile outside (0, 1), or both ``drop_quantile`` and ``min_score`` given.
    """

    type: Literal["judge.pointwise"] = "judge.pointwise"
    criteria: list[Criterion] | None = None
    drop_quantile: float | None = Field(default=0.15, gt=0.0, lt=1.0)
    min_score: float | None = None
    action: Literal["drop", "weight", "score"] = "drop"
    cut_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    role = "curate"
    operators = (PointwiseJudge,)

    @field_validator("criteria")
    @classmethod
    def _rubric(cls, v: list[Criterion] | None) -> list[Criterion] | None:
        return None if v is None else check_rubric(v)

    @model_validator(mode="after")
    def _one_cut(self) -> PointwiseJudgeStep:
        if self.min_score is not None:
            if "drop_quantile" in self.model_fields_set and self.drop_quantile is not None:
                raise ValueError("give drop_quantile or min_score, not both")
            self.drop_quantile = None
        elif self.drop_quantile is None and self.action != "score":
            raise ValueError("give drop_quantile or min_score (or action: score)")
        return self

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        labels = getattr(task, "labels", None)
        criteria = rubric_for(task, self.criteria)
        judge = PointwiseJudge(
            ctx.judge, task.description, ctx.unit, criteria, labels=labels,
            same_model_as_generator=ctx.judge_is_generator, max_attempts=self.max_attempts,
            seed=ctx.recipe.seed, templates=ctx.templates(PointwiseJudge),
            content_of=getattr(task, "judge_text", None))
        return _PointwiseCut(self, judge)
