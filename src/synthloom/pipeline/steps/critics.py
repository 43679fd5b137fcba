"""Label critics as check steps for classification: the double critic (Simula, Davidson
et al., arXiv 2603.29791) and debate (Irving et al., arXiv 1805.00899; Du et al., arXiv
2305.14325).

Both ask the recipe's judge backend (``judge:``; the generator's model when absent, which
the double critic's verdict records). A failing record is, by ``on_fail``, regenerated,
kept at ``fail_trust_weight`` or rejected with a one-line reason.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from synthloom.operators.judge.debate import Debate
from synthloom.operators.judge.double_critic import DoubleCritic
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import Record

_SAID = {True: "said it fits", False: "said it is wrong", None: "gave no valid answer"}


class _CriticCheck:
    """Runtime check over a critic operator: ``__call__``, ``passed``, ``reason``."""

    def __init__(self, config: StepConfig, op: DoubleCritic | Debate, check: str) -> None:
        self.config, self.op, self.name, self.check = config, op, op.name, check

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        return self.op(records, attempt=attempt)

    def passed(self, record: Record) -> bool:
        verdict = record.verdict(self.check)
        return bool(verdict and verdict.passed)

    def reason(self, record: Record, generations: int) -> str:
        verdict = record.verdict(self.check)
        detail = verdict.detail if verdict else {}
        label = detail.get("label")
        if self.check == "double_critic":
            critics = detail.get("critics") or {}
            confirm, refute = critics.get("confirm"), critics.get("refute")
            head = (f"double critic: confirm said the label {label!r} is wrong"
                    if confirm is False else
                    f"double critic on the label {label!r}: confirm {_SAID[confirm]}")
            text = f"{head}, refute {_SAID[refute]}"
        else:
            decision = detail.get("decision")
            found = ("gave no valid decision" if decision is None
                     else f"found it {decision}")
            text = (f"debate ({detail.get('rounds')} round(s)) on the label {label!r}: the "
                    f"judge {found}")
        return f"{text}, after {generations} generation(s)"


class _CriticStep(StepConfig):
    """Fields and class variables the two critic steps share."""

    on_fail: Literal["regenerate", "keep", "reject"] = "reject"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=2, ge=0, le=10, strict=True)
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    role = "check"
    reads = frozenset({"text"})
    kinds = frozenset({"classification"})


@register_step
class DoubleCriticStep(_CriticStep):
    """Simula's double critic: two critics, differently worded, must both find the label
    correct (see :mod:`synthloom.operators.judge.double_critic`).

    Attributes:
        on_fail: ``regenerate`` (up to ``max_regenerations`` times, then reject), ``keep``
            (at ``fail_trust_weight``) or ``reject`` (the default).
        fail_trust_weight: trust weight of a kept failing record (0..1).
        max_regenerations: regenerations after a failed check before rejecting.
        max_attempts: tries per critic for a valid JSON answer.
    """

    type: Literal["judge.double_critic"] = "judge.double_critic"
    operators = (DoubleCritic,)

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        op = DoubleCritic(ctx.judge, task.description, task.labels, unit=ctx.unit,
                          max_attempts=self.max_attempts, seed=ctx.recipe.seed,
                          same_model_as_generator=ctx.judge_is_generator,
                          templates=ctx.templates(DoubleCritic))
        return _CriticCheck(self, op, "double_critic")


@register_step
class DebateStep(_CriticStep):
    """Debate as a verifier: a ``for`` and an ``against`` debater argue about the label for
    ``rounds`` rounds, then a judge decides (see :mod:`synthloom.operators.judge.debate`).
    Costs ``2 * rounds + 1`` requests per record (more on retries).

    Attributes:
        rounds: debate rounds, 1 (the default) or 2.
        on_fail: ``keep`` (the default, at ``fail_trust_weight``), ``regenerate`` (up to
            ``max_regenerations`` times, then reject) or ``reject``.
        fail_trust_weight: trust weight of a kept failing record (0..1).
        max_regenerations: regenerations after a failed check before rejecting.
        max_attempts: tries per turn and per decision for a valid answer.
    """

    type: Literal["judge.debate"] = "judge.debate"
    rounds: int = Field(default=1, ge=1, le=2, strict=True)
    on_fail: Literal["regenerate", "keep", "reject"] = "keep"
    operators = (Debate,)

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        op = Debate(ctx.judge, task.description, task.labels, unit=ctx.unit,
                    rounds=self.rounds, max_attempts=self.max_attempts, seed=ctx.recipe.seed,
                    templates=ctx.templates(Debate))
        return _CriticCheck(self, op, "debate")
