"""Steps of the ``preference`` kind: prompts -> one draft per prompt -> k candidate
responses judged pairwise -> chosen and rejected.

The pairwise part follows zELO (Pipitone et al., arXiv 2509.12541): pairs of candidates
are judged with positions swapped (here by default in both orders), and one latent score
per candidate is fitted from the votes (Bradley-Terry or Thurstone). The best and the
worst candidate make the pair DPO learns from (Rafailov et al., arXiv 2305.18290).
"""

from __future__ import annotations

import warnings
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from synthloom.errors import GenerationError, UserInputError
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.generate.candidates import (
    TEMPERATURES,
    Candidate,
    PromptGeneration,
    ResponseCandidates,
)
from synthloom.operators.judge.pair_scores import Vote, all_pairs, cycle_pairs, fit_scores
from synthloom.operators.judge.pairwise import Comparison, PairTask, PairwiseJudge
from synthloom.pipeline.steps.base import (
    PlanRun,
    StepConfig,
    StepContext,
    file_fingerprint,
    register_step,
)
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record, Verdict
from synthloom.tasks import quotas
from synthloom.tasks.preference import read_prompts

_KINDS = frozenset({"preference"})


@register_step
class PromptsStep(StepConfig):
    """The prompts: read from a file, or written by the generator from the task description.

    Attributes:
        file: a ``.txt`` file (one prompt per line), or ``.jsonl`` / ``.csv`` with a
            ``prompt_column``; relative to the recipe file when loaded from YAML. Read when
            the recipe loads (a missing or empty file is an error then); it enters the
            fingerprint by the sha256 of its content. Exact repeats are dropped.
        prompt_column: the column of a JSONL or CSV file holding the prompt.
        count: prompts the generator writes instead (one request each, distinct sampler
            seeds, temperature 1.0); exact and case-only repeats are dropped, so there may
            be fewer.
        max_words: asked length of a generated prompt, in words.

    The artifact ``plan/prompts.json`` is the list of prompt strings, in order.

    Raises:
        ValueError: neither or both of ``file`` and ``count``; a bad file (at load).
    """

    type: Literal["preference.prompts"] = "preference.prompts"
    file: str | None = None
    prompt_column: str = Field(default="prompt", min_length=1)
    count: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    max_words: int = Field(default=40, ge=3, le=200, strict=True)
    role = "plan"
    reads = frozenset({"description"})
    writes = frozenset({"prompts"})
    operators = (PromptGeneration,)
    kinds = _KINDS
    artifact = "prompts"

    _prompts: list[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _one_source(self) -> PromptsStep:
        if (self.file is None) == (self.count is None):
            raise ValueError("give either file (a prompts file) or count (prompts to write)")
        return self

    def needs(self) -> frozenset[str]:
        return self.reads | ({"unit"} if self.count is not None else set())

    def check_task(self, task: Any) -> None:
        """Read the prompts file now: a bad file is a ValueError when the recipe loads."""
        if self.file is not None:
            try:
                self._prompts = read_prompts(self.file, self.prompt_column)
            except UserInputError as e:
                raise ValueError(str(e)) from None

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def build(self, ctx: StepContext) -> Any:
        if self.file is not None:
            return PlanRun(lambda artifacts: self._prompts or read_prompts(
                self.file, self.prompt_column))
        op = PromptGeneration(ctx.backend, ctx.recipe.task.description, unit=ctx.unit,
                              count=self.count, seed=ctx.recipe.seed,
                              top_p=ctx.recipe.sampling.top_p, max_words=self.max_words,
                              templates=ctx.templates(PromptGeneration))

        def run(artifacts: dict[str, Any]) -> list[str]:
            prompts = op.run()
            if not prompts:
                raise GenerationError("the model wrote no usable prompt; try another model, "
                                      "or give the prompts as a file")
            return prompts

        return PlanRun(run)


class _PromptDrafts:
    """The draft step's runtime object: draft ``i`` carries prompt ``i``."""

    def __init__(self, config: PromptDraftsStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.prompts: list[str] = []

    def start(self, artifacts: dict[str, Any]) -> None:
        """Take the ``prompts`` artifact (GenerationError when it is empty)."""
        self.prompts = [str(p) for p in artifacts.get("prompts") or []]
        if not self.prompts:
            raise GenerationError("no prompts to draft from (plan/prompts.json is empty)")
        self.recipe_sha256 = self.ctx.recipe.sha256()

    def quotas(self, n: int) -> dict[str, int]:
        return self.config.quotas(self.ctx.recipe.task.strata(), n)

    def max_drafts(self, n: int) -> int:
        """At most one draft per prompt: no prompt is used twice."""
        return min(len(self.prompts), int(n * self.config.max_drafts_factor))

    @staticmethod
    def next_strata(quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        missing = sum(max(0, q - counts.get(s, 0)) for s, q in quotas.items())
        return [next(iter(quotas))] * min(k, missing) if quotas else []

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        """Draft number ``index``, carrying prompt ``index`` (IndexError past the last;
        the engine never asks, see :meth:`max_drafts`)."""
        r = self.ctx.recipe
        plan_id = f"plan-{derived_seed(self.recipe_sha256, r.seed, index):010d}-{index}"
        step = OperatorStep(operator=self.config.type, verdict="planned",
                            detail={"index": index})
        return Record(id=plan_id, task=r.task.name, kind="preference",
                      inputs={"prompt": self.prompts[index]}, origin=Origin.synthetic,
                      provenance=Provenance(recipe_sha256=self.recipe_sha256,
                                            plan=Plan(id=plan_id), operators=[step]))

    @staticmethod
    def stratum_of_draft(draft: Record) -> str:
        return "all"


@register_step
class PromptDraftsStep(StepConfig):
    """One draft per prompt, in prompt order; a prompt is never used twice.

    Attributes:
        max_drafts_factor: stop after ``n * factor`` drafts (or when the prompts run out),
            so rejected prompts are made up by later ones.
    """

    type: Literal["preference.drafts"] = "preference.drafts"
    max_drafts_factor: float = Field(default=1.5, ge=1.0)
    role = "draft"
    reads = frozenset({"prompts"})
    writes = frozenset({"drafts", "prompt"})
    kinds = _KINDS

    def quotas(self, strata: list[str], n: int) -> dict[str, int]:
        """Accepted records wanted: ``n`` in the one stratum."""
        return quotas(strata, n)

    def build(self, ctx: StepContext) -> Any:
        return _PromptDrafts(self, ctx)


class _PreferencePairs:
    """The generate step's runtime object: candidates, judged pairs, scores, a pair."""

    def __init__(self, config: CandidatesAndJudgeStep, ctx: StepContext) -> None:
        r, self.config, self.seed = ctx.recipe, config, ctx.recipe.seed
        self.candidates = ResponseCandidates(
            ctx.backend, r.task.description, unit=ctx.unit, k=config.k,
            temperatures=config.temperatures, personas=config.personas,
            max_words=config.max_words, seed=r.seed, top_p=r.sampling.top_p,
            templates=ctx.templates(ResponseCandidates))
        self.judge = PairwiseJudge(ctx.judge, "response", r.task.description,
                                   phrasings=config.phrasings, both_orders=config.both_orders,
                                   seed=r.seed,
                                   templates=ctx.templates(PairwiseJudge))
        self.unit, self.same_model = ctx.unit, ctx.judge_is_generator
        self.ident = identity_provenance(ctx.backend.identity)

    def _tasks(self, record: Record, texts: list[str], attempt: int
               ) -> list[tuple[int, int, PairTask]]:
        """The judge tasks of one record: ``(i, j, task)`` per pair of candidates."""
        plan_id = record.provenance.plan.id
        if self.config.cycles is None:
            pairs = all_pairs(len(texts))
        else:
            pairs = cycle_pairs(len(texts), self.config.cycles,
                                derived_seed("preference.pairs", self.seed, plan_id, attempt))
        title = self.unit[:1].upper() + self.unit[1:]
        context = f"{title}: {record.inputs.get('prompt', '')}"
        return [(i, j, PairTask(texts[i], texts[j], context, f"{plan_id}/{attempt}/{i}-{j}"))
                for i, j in pairs]

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with the kind's outputs and a ``pairwise`` verdict, or rejected
        (fewer than 2 distinct candidates, no valid judge answer, or margin <= min_margin).

        Raises:
            BackendError: a backend failed a request after its own retries.
        """
        found = self.candidates.run(
            [(r.provenance.plan.id, str(r.inputs.get("prompt", ""))) for r in records], attempt)
        jobs = [self._tasks(r, [c.text for c in cs], attempt) if len(cs) >= 2 else []
                for r, cs in zip(records, found, strict=True)]
        flat = [task for job in jobs for _, _, task in job]
        judged = iter(self.judge.compare(flat) if flat else [])
        return [self._finish(r, cs, [(i, j, next(judged)) for i, j, _ in job], attempt)
                for r, cs, job in zip(records, found, jobs, strict=True)]

    def _finish(self, record: Record, cands: list[Candidate],
                judged: list[tuple[int, int, Comparison]], attempt: int) -> Record:
        c = self.config
        calls = sum(comp.calls for _, _, comp in judged)
        step = self.candidates.step(
            "generated" if len(cands) >= 2 else "rejected", attempt=attempt,
            candidates=len(cands), comparisons=len(judged), judge_calls=calls,
            judge={"operator": self.judge.name, "version": self.judge.version,
                   "prompt_sha256": self.judge.prompt_sha256()})
        record = with_step(record, step, sampling=self.candidates.sampling(), **self.ident)
        if len(cands) < 2:
            return record.reject(self.candidates.name, f"{len(cands)} distinct candidate "
                                 f"response(s) of {c.k}; a pair needs 2")
        votes = [Vote(i, j, comp.p_a) for i, j, comp in judged if comp.p_a is not None]
        model = self.judge.backend_models()[0]
        by = f"judge.pairwise/{model}"
        detail: dict[str, Any] = {
            "comparisons": [{"a": i, "b": j, "first": comp.first,
                             "preferred_slot": comp.slots[0] if comp.slots else None,
                             "p_a": comp.p_a} for i, j, comp in judged],
            "judge_model": model, "same_model_as_generator": self.same_model,
            "method": c.method}
        if not votes:
            return record.with_verdict(Verdict(check="pairwise", by=by, passed=False,
                                               detail=detail)).reject(
                self.judge.name, f"no valid judge answer in {len(judged)} comparisons")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a split graph is rejected below
            fit = fit_scores(len(cands), votes, c.method, bootstrap=c.bootstrap,
                             seed=derived_seed("preference.bootstrap", self.seed,
                                               record.provenance.plan.id, attempt))
        scores = [round(float(s), 4) for s in fit.scores]
        best, worst = scores.index(max(scores)), scores.index(min(scores))
        margin = round(scores[best] - scores[worst], 4)
        passed = fit.components == 1 and margin > c.min_margin
        outputs: dict[str, Any] = {
            "candidates": [{"text": x.text, "temperature": x.temperature, "score": s,
                            **({"persona": x.persona} if x.persona else {}),
                            "low": None if fit.low is None else round(float(fit.low[n]), 4),
                            "high": None if fit.high is None else round(float(fit.high[n]), 4)}
                           for n, (x, s) in enumerate(zip(cands, scores, strict=True))],
            "scores": scores, "margin": margin, "judge_calls": calls}
        verdict = Verdict(check="pairwise", by=by, passed=passed, score=margin, detail=detail)
        if passed:
            outputs = {"chosen": cands[best].text, "rejected": cands[worst].text, **outputs}
        record = record.with_verdict(verdict).model_copy(update={"outputs": outputs})
        if passed:
            return record
        return record.reject(self.judge.name, (
            f"the judge's answers left the candidates in {fit.components} unconnected groups"
            if fit.components > 1 else f"margin {margin:.4f} <= min_margin {c.min_margin}: "
            "the judge preferred no response clearly (ties, or a position bias cancelled by "
            "the swaps)"))


@register_step
class CandidatesAndJudgeStep(StepConfig):
    """Per prompt: ``k`` candidate responses (generator), pairs of them judged (judge
    backend), scores fitted, the best chosen and the worst rejected.

    Attributes:
        k: candidates per prompt, 2..8 (exact repeats are dropped before judging).
        temperatures: candidate ``i`` is sampled at ``temperatures[i % len]``.
        personas: candidate ``i`` answers as ``personas[i % len]``; None for none.
        max_words: asked length of a response, in words.
        cycles: None judges every pair of candidates (k(k-1)/2); a number judges the
            union of that many random Hamiltonian cycles over them (zELO's sparse graph).
        phrasings: judge ensemble size on the judge backend (phrasings of the question),
            1..3.
        both_orders: judge every pair twice, once with each candidate first (one vote
            each), so a judge that prefers a position casts opposite votes that cancel: a
            pure position bias gives ties, margin 0, and the record is rejected. False
            judges each pair once in a random order (half the judge calls), which turns a
            position bias into noise instead.
        method: ``bradley_terry`` (logit) or ``thurstone`` (probit) scores.
        bootstrap: bootstrap refits for each candidate's 95% interval (0: none).
        min_margin: a record whose chosen-minus-rejected score is at most this is rejected.
    """

    type: Literal["preference.candidates_and_judge"] = "preference.candidates_and_judge"
    k: int = Field(default=4, ge=2, le=8, strict=True)
    temperatures: list[Annotated[float, Field(ge=0.0, le=2.0)]] = Field(
        default_factory=lambda: list(TEMPERATURES), min_length=1)
    personas: list[Annotated[str, Field(min_length=1)]] | None = Field(default=None, min_length=1)
    max_words: int = Field(default=120, ge=5, le=1000, strict=True)
    cycles: int | None = Field(default=None, ge=1, le=10, strict=True)
    phrasings: int = Field(default=1, ge=1, le=3, strict=True)
    both_orders: bool = True
    method: Literal["bradley_terry", "thurstone"] = "bradley_terry"
    bootstrap: int = Field(default=0, ge=0, le=2000, strict=True)
    min_margin: float = Field(default=0.0, ge=0.0)
    role = "generate"
    reads = frozenset({"drafts", "prompt", "unit"})
    writes = frozenset({"chosen", "rejected"})
    operators = (ResponseCandidates, PairwiseJudge)
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _PreferencePairs(self, ctx)

