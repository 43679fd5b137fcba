"""Steps of the ``relevance`` kind, part 2: pairwise relevance judgements over each query's
candidates, then one continuous relevance score per candidate.

zELO (Pipitone et al., arXiv 2509.12541): the pairs are the union of ``cycles`` random
Hamiltonian cycles over a query's candidates (every candidate in at least two pairs, the
graph connected, about ``cycles * k`` pairs instead of ``k (k - 1) / 2``), an ensemble of
judges votes on each pair in both orders (:mod:`synthloom.operators.relevance.
pairwise_relevance`), the averaged probability that A is more relevant is the supervision,
and a Thurstone (or Bradley-Terry) fit over the pair graph gives each candidate a score
(:mod:`synthloom.operators.judge.pair_scores`). Both steps are checks: a query whose
candidates no judge could compare, or whose fit cannot order them, is (by ``on_fail``)
rejected, kept at ``fail_trust_weight`` or written again.
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from synthloom.operators.base import derived_seed, with_step
from synthloom.operators.judge.pair_scores import Vote, all_pairs, cycle_pairs, fit_scores
from synthloom.operators.relevance.pairwise_relevance import (
    QUESTIONS,
    PairVotes,
    PairwiseRelevance,
    RelevancePair,
)
from synthloom.operators.relevance.queries import first_words
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import OperatorStep, Record, Verdict

_KINDS = frozenset({"relevance"})


class _Check:
    """What the engine asks of a check: ``passed``, ``reason``, ``name``, ``config``."""

    check: str
    name: str
    config: Any

    def passed(self, record: Record) -> bool:
        verdict = record.verdict(self.check)
        return bool(verdict and verdict.passed)

    def reason(self, record: Record, generations: int) -> str:
        verdict = record.verdict(self.check)
        why = (verdict.detail.get("why") if verdict else None) or "no verdict"
        return f"{why}, after {generations} generation(s)"


class _Judge(_Check):
    """The judge step's runtime object (module docstring)."""

    check, name = "relevance_judge", "relevance.judge"

    def __init__(self, config: JudgeStep, ctx: StepContext) -> None:
        r, self.config, self.seed = ctx.recipe, config, ctx.recipe.seed
        chosen = [ctx.judge if m == "judge" else ctx.backend for m in config.models]
        backends = [b for i, b in enumerate(chosen) if all(b is not c for c in chosen[:i])]
        self.op = PairwiseRelevance(
            backends,
            r.task.description,
            unit=ctx.unit,
            query_unit=getattr(r.task, "query_unit", "search query"),
            questions=config.questions,
            both_orders=config.both_orders,
            soft=config.soft,
            seed=r.seed,
            templates=ctx.templates(PairwiseRelevance),
        )
        generator = ctx.backend.identity
        self.same_model = [
            (b.identity.backend, b.identity.model) == (generator.backend, generator.model)
            for b in backends
        ]

    def _pairs(self, record: Record, attempt: int) -> list[tuple[int, int]]:
        n = len(record.outputs.get("candidates") or [])
        if n < 2:
            return []
        if self.config.cycles is None:
            return all_pairs(n)
        return cycle_pairs(
            n,
            self.config.cycles,
            derived_seed(
                "relevance.pairs", self.seed, record.provenance.plan.id or record.id, attempt
            ),
        )

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with ``outputs["pairs"]``, ``["judge_calls"]`` and a
        ``relevance_judge`` verdict (passed when at least one pair got a valid vote).

        Raises:
            BackendError: a backend failed a request after its own retries.
        """
        jobs = [self._pairs(r, attempt) for r in records]
        tasks = []
        for r, pairs in zip(records, jobs, strict=True):
            texts = [
                first_words(str(c["text"]), self.config.doc_words) for c in r.outputs["candidates"]
            ]
            key = f"{r.provenance.plan.id or r.id}/{attempt}"
            tasks += [
                RelevancePair(str(r.inputs["query"]), texts[i], texts[j], f"{key}/{i}-{j}")
                for i, j in pairs
            ]
        judged = iter(self.op.compare(tasks) if tasks else [])
        return [
            self._finish(r, [(i, j, next(judged)) for i, j in pairs], attempt)
            for r, pairs in zip(records, jobs, strict=True)
        ]

    def _finish(
        self, record: Record, judged: list[tuple[int, int, PairVotes]], attempt: int
    ) -> Record:
        calls = sum(v.calls for _, _, v in judged)
        rows = [
            {
                "a": i,
                "b": j,
                "p_a": v.p_a,
                "votes": v.votes,
                "firsts": v.firsts,
                "agreement": v.agreement,
            }
            for i, j, v in judged
        ]
        valid = [row for row in rows if row["p_a"] is not None]
        agreement = round(sum(row["agreement"] for row in valid) / len(valid), 4) if valid else None
        why = (
            None
            if valid
            else "fewer than 2 candidates"
            if not judged
            else f"no valid judge answer in {len(judged)} pair(s)"
        )
        models = self.op.backend_models()
        detail = {
            "pairs": len(rows),
            "valid_pairs": len(valid),
            "calls": calls,
            "models": models,
            "same_model_as_generator": self.same_model,
            "questions": self.op.questions,
            "both_orders": self.op.both_orders,
            "soft": self.op.soft,
            "cycles": self.config.cycles,
            **({"why": why} if why else {}),
        }
        step = self.op.step(
            "judged" if valid else "failed", attempt=attempt, pairs=len(rows), judge_calls=calls
        )
        record = with_step(record, step).with_verdict(
            Verdict(
                check=self.check,
                by=f"{self.op.name}/{'+'.join(models)}",
                passed=bool(valid),
                score=agreement,
                detail=detail,
            )
        )
        return record.model_copy(
            update={"outputs": {**record.outputs, "pairs": rows, "judge_calls": calls}}
        )


@register_step
class JudgeStep(StepConfig):
    """An ensemble of pairwise judges votes on pairs of each query's candidates (module
    docstring). Calls per query: pairs x ``len(models)`` x ``len(questions)`` x 2 (both
    orders); pairs are at most ``cycles * k`` (all ``k (k - 1) / 2`` without cycles).

    Attributes:
        cycles: random Hamiltonian cycles whose union is the pair graph (zbench: 4); None
            judges every pair.
        questions: the ensemble's phrasings (``{unit}``, ``{query_unit}``), one judge each
            per model; default: the first two of ``PairwiseRelevance``'s.
        models: which backends judge: ``judge`` (the recipe's ``judge:``, else the
            generator) and/or ``generator``; the same backend twice counts once.
        both_orders: ask every pair in both orders (a slot preference cancels).
        soft: votes from the answer token's probabilities when the backend gives them
            (PRP's scoring mode), else the letter.
        doc_words: words of each document shown (its first ones).
        on_fail: ``reject`` (the default), ``keep`` (at ``fail_trust_weight``) or
            ``regenerate`` (a new query, up to ``max_regenerations`` times).
    """

    type: Literal["relevance.judge"] = "relevance.judge"
    cycles: int | None = Field(default=2, ge=1, le=10, strict=True)
    questions: list[Annotated[str, Field(min_length=5)]] = Field(
        default_factory=lambda: list(QUESTIONS[:2]), min_length=1, max_length=6
    )
    models: list[Literal["judge", "generator"]] = Field(
        default_factory=lambda: ["judge"], min_length=1, max_length=2
    )
    both_orders: bool = True
    soft: bool = True
    doc_words: int = Field(default=120, ge=10, le=1000, strict=True)
    on_fail: Literal["regenerate", "keep", "reject"] = "reject"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=1, ge=0, le=10, strict=True)
    role = "check"
    reads = frozenset({"candidates", "query"})
    writes = frozenset({"pairs"})
    operators = (PairwiseRelevance,)
    kinds = _KINDS

    @field_validator("questions")
    @classmethod
    def _fields(cls, v: list[str]) -> list[str]:
        """Each question may use only ``{unit}`` and ``{query_unit}``."""
        for question in v:
            try:
                question.format(unit="x", query_unit="y")
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(
                    f"questions: {question!r} may use only {{unit}} and {{query_unit}} ({e})"
                ) from None
        return v

    def build(self, ctx: StepContext) -> Any:
        return _Judge(self, ctx)


class _Scores(_Check):
    """The scores step's runtime object: a fit per query over its judged pairs."""

    check, name = "relevance_scores", "relevance.scores"

    def __init__(self, config: ScoresStep, ctx: StepContext) -> None:
        self.config, self.seed = config, ctx.recipe.seed

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with scores (``outputs["scores"]`` and per candidate), the source's
        rank, agreement and trust, and a ``relevance_scores`` verdict (passed when the
        judged pairs connect every candidate and the scores are not all tied)."""
        return [self._one(r, attempt) for r in records]

    def _one(self, record: Record, attempt: int) -> Record:
        c = self.config
        cands = list(record.outputs.get("candidates") or [])
        pairs = [p for p in record.outputs.get("pairs") or [] if p.get("p_a") is not None]
        step = OperatorStep(
            operator=self.name, version="1", detail={"attempt": attempt, "method": c.method}
        )
        if not pairs or len(cands) < 2:
            return with_step(record, step.model_copy(update={"verdict": "failed"})).with_verdict(
                Verdict(
                    check=self.check,
                    by=f"{self.name}/{c.method}",
                    passed=False,
                    detail={"why": "no judged pair to fit"},
                )
            )
        votes = [Vote(int(p["a"]), int(p["b"]), float(p["p_a"])) for p in pairs]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a split graph fails below
            fit = fit_scores(
                len(cands),
                votes,
                c.method,
                bootstrap=c.bootstrap,
                seed=derived_seed(
                    "relevance.bootstrap",
                    self.seed,
                    record.provenance.plan.id or record.id,
                    attempt,
                ),
            )
        scores = [round(float(s), 4) for s in fit.scores]
        margin = round(max(scores) - min(scores), 4)
        source = next((i for i, x in enumerate(cands) if x.get("source")), None)
        source_rank = (
            None
            if source is None
            else (
                1
                + sum(s > scores[source] for s in scores)
                + 0.5 * (sum(s == scores[source] for s in scores) - 1)
            )
        )
        touching: dict[int, list[float]] = {}
        for p in pairs:
            for i in (int(p["a"]), int(p["b"])):
                touching.setdefault(i, []).append(float(p["agreement"]))
        agreement = round(sum(float(p["agreement"]) for p in pairs) / len(pairs), 4)
        rows = []
        for n, (cand, score) in enumerate(zip(cands, scores, strict=True)):
            mine = touching.get(n)
            agree = round(sum(mine) / len(mine), 4) if mine else None
            rows.append(
                {
                    **cand,
                    "score": score,
                    "low": None if fit.low is None else round(float(fit.low[n]), 4),
                    "high": None if fit.high is None else round(float(fit.high[n]), 4),
                    "agreement": agree,
                    "trust": 0.0 if agree is None else round(max(0.0, 2 * agree - 1), 4),
                }
            )
        passed = fit.components == 1 and margin > c.min_margin
        why = (
            None
            if passed
            else f"the judged pairs left the candidates in {fit.components} unconnected groups"
            if fit.components > 1
            else f"margin {margin} <= min_margin {c.min_margin}: "
            "the judges told no candidate apart (ties, or a slot preference cancelled by "
            "the two orders)"
        )
        verdict = Verdict(
            check=self.check,
            by=f"{self.name}/{c.method}",
            passed=passed,
            score=margin,
            detail={
                "components": fit.components,
                "source_rank": source_rank,
                "agreement": agreement,
                **({"why": why} if why else {}),
            },
        )
        step = step.model_copy(
            update={
                "verdict": "scored" if passed else "failed",
                "detail": {**step.detail, "margin": margin, "source_rank": source_rank},
            }
        )
        trust = record.trust_weight
        if c.trust == "agreement":
            trust = min(trust, round(max(0.0, 2 * agreement - 1), 4))
        return (
            with_step(record, step)
            .with_verdict(verdict)
            .model_copy(
                update={
                    "trust_weight": trust,
                    "outputs": {
                        **record.outputs,
                        "candidates": rows,
                        "scores": scores,
                        "method": c.method,
                        "source_rank": source_rank,
                        "agreement": agreement,
                    },
                }
            )
        )


@register_step
class ScoresStep(StepConfig):
    """One continuous relevance score per candidate from each query's judged pairs (module
    docstring; :func:`synthloom.operators.judge.pair_scores.fit_scores`).

    Attributes:
        method: ``thurstone`` (probit, zELO's choice; scores in probit units) or
            ``bradley_terry`` (logit).
        bootstrap: bootstrap refits for each score's 95% interval (0: none).
        min_margin: a query whose best-minus-worst score is at most this fails the check.
        trust: ``agreement``: the record's trust weight becomes ``2 * agreement - 1``,
            agreement being the judges' mean majority share over its pairs (0 when the
            votes split evenly, 1 when all agree); ``none`` leaves it.
        on_fail: ``reject`` (the default), ``keep`` (at ``fail_trust_weight``) or
            ``regenerate`` (a new query, up to ``max_regenerations`` times).
    """

    type: Literal["relevance.scores"] = "relevance.scores"
    method: Literal["thurstone", "bradley_terry"] = "thurstone"
    bootstrap: int = Field(default=0, ge=0, le=2000, strict=True)
    min_margin: float = Field(default=0.0, ge=0.0)
    trust: Literal["agreement", "none"] = "agreement"
    on_fail: Literal["regenerate", "keep", "reject"] = "reject"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=1, ge=0, le=10, strict=True)
    role = "check"
    reads = frozenset({"pairs"})
    writes = frozenset({"scores"})
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _Scores(self, ctx)
