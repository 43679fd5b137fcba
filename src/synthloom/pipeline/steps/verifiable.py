"""Steps of the ``verifiable`` kind: problems -> search -> verify -> keep.

- ``verifiable.problems`` (draft): one draft per problem of the task's domain, generated
  by its program (each problem from its own derived seed, so a resumed or longer run makes
  the same problems) or read from its real set (HumanEval, the Game-of-24 puzzles).
- ``verifiable.search`` (generate): candidates for each problem: ``samples`` answers from
  the LLM, or the domain's solver within ``budget`` (its search cost in provenance).
- ``verifiable.verify`` (check): the domain's verifier on every candidate; the first that
  passes becomes the solution, its evidence the record's ``verifier`` verdict; a problem
  with no passing candidate is rejected naming why the first one failed.

Arithmetic word problems have their own generate and check steps
(:mod:`synthloom.pipeline.steps.word_problems`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from synthloom.errors import GenerationError
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.verify import DOMAINS, Domain, Problem, Verification
from synthloom.operators.verify.search import Attempt, LLMSearch, verify_attempts
from synthloom.pipeline.steps.base import OneStratumDrafts, StepConfig, StepContext, register_step
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record

_KINDS = frozenset({"verifiable"})


def domain_of(task: Any) -> Domain:
    """The task's verifiable domain, built.

    Raises:
        ValueError: the domain is not registered (naming the known ones).
    """
    name = getattr(task, "domain", None)
    if name not in DOMAINS:
        raise ValueError(f"task.domain {name!r} is not a verifiable domain; known: "
                         f"{', '.join(sorted(DOMAINS))}")
    return DOMAINS[name]()


def problem_of(record: Record) -> Problem:
    """The :class:`Problem` a draft or record holds."""
    return Problem(domain=str(record.inputs.get("domain", "")),
                   text=str(record.inputs.get("problem", "")),
                   spec=dict(record.inputs.get("spec") or {}),
                   source=record.provenance.source or "generated",
                   real=record.origin_of("problem") is Origin.real)


class _Problems(OneStratumDrafts):
    """The problems step's runtime object: draft ``i`` holds problem ``i``."""

    def __init__(self, config: ProblemsStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.domain = domain_of(ctx.recipe.task)
        self.real: list[Problem] | None = None

    def start(self, artifacts: dict[str, Any]) -> None:
        self.recipe_sha256 = self.ctx.recipe.sha256()
        if self.config.source != "generated":
            count = self.domain.available(self.config.source, **self.config.options) or 0
            self.real = self.domain.problems(count, self.ctx.recipe.seed,
                                             source=self.config.source, **self.config.options)
            if not self.real:
                raise GenerationError(f"the {self.config.source} problem set is empty")

    def max_drafts(self, n: int) -> int:
        """``n * max_drafts_factor``, and at most the size of a real problem set."""
        most = int(n * self.config.max_drafts_factor)
        return most if self.real is None else min(most, len(self.real))

    def problem(self, index: int) -> Problem:
        """Problem ``index``: the real set's, or generated from its own derived seed."""
        if self.real is not None:
            return self.real[index]
        seed = derived_seed("verifiable.problems", self.ctx.recipe.seed, index)
        (problem,) = self.domain.problems(1, seed, **self.config.options)
        return problem

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        r = self.ctx.recipe
        p = self.problem(index)
        plan_id = f"plan-{derived_seed(self.recipe_sha256, r.seed, index):010d}-{index}"
        step = OperatorStep(operator=self.config.type, verdict="planned",
                            detail={"index": index, "source": p.source})
        return Record(
            id=plan_id, task=r.task.name, kind="verifiable",
            inputs={"problem": p.text, "domain": p.domain, "spec": p.spec},
            origin=Origin.synthetic,
            field_origins={"problem": Origin.real, "spec": Origin.real} if p.real else {},
            provenance=Provenance(source=p.source, recipe_sha256=self.recipe_sha256,
                                  plan=Plan(id=plan_id), operators=[step]))


@register_step
class ProblemsStep(StepConfig):
    """One draft per problem of the task's domain (see the module docstring).

    Attributes:
        source: ``generated`` (the domain's program) or the domain's real set
            (``humaneval`` for code, ``tot`` for Game of 24).
        options: the domain's problem options (``n_vars``, ``ratio`` for SAT; ``steps``,
            ``settings`` for arithmetic; ``start`` for a real set...).
        max_drafts_factor: stop after ``n * factor`` problems (or when a real set runs out),
            so problems whose search fails are made up by later ones.
    """

    type: Literal["verifiable.problems"] = "verifiable.problems"
    source: str = "generated"
    options: dict[str, Any] = Field(default_factory=dict)
    max_drafts_factor: float = Field(default=2.0, ge=1.0)
    role = "draft"
    writes = frozenset({"problem", "spec"})
    kinds = _KINDS

    def check_task(self, task: Any) -> None:
        """The domain exists and makes a problem with these options.

        Raises:
            ValueError: an unknown domain, source or option (the domain's message).
        """
        domain = domain_of(task)
        if self.source == "generated" and not domain.generates:
            raise ValueError(f"the {domain.name} domain has no problem generator; give "
                             f"source: {domain.real_source}")
        if self.source != "generated":
            if self.source != domain.real_source:
                known = ", ".join(["generated", *([domain.real_source] if domain.real_source
                                                  else [])])
                raise ValueError(f"source {self.source!r}: the {domain.name} domain's sources "
                                 f"are {known}")
            domain.problems(1, 0, source=self.source, **self.options)
        else:
            domain.problems(1, 0, **self.options)

    def build(self, ctx: StepContext) -> Any:
        return _Problems(self, ctx)


class _Search:
    """The search step's runtime object: candidates per record, or a rejection."""

    def __init__(self, config: SearchStep, ctx: StepContext) -> None:
        r = ctx.recipe
        self.config, self.domain = config, domain_of(r.task)
        self.llm = LLMSearch(ctx.backend, self.domain, samples=config.samples,
                             temperature=config.temperature, top_p=r.sampling.top_p,
                             max_tokens=config.max_tokens, seed=r.seed)
        self.ident = identity_provenance(ctx.backend.identity)

    def _step(self, verdict: str, **detail: Any) -> OperatorStep:
        name = "verify.solver" if self.config.method == "solver" else LLMSearch.name
        return OperatorStep(operator=name, version="1", verdict=verdict,
                            detail={"method": self.config.method, **detail})

    def _solved(self, record: Record, attempt: int) -> Record:
        problem = problem_of(record)
        found = self.domain.solve(problem, self.config.budget)
        detail = {"attempt": attempt, "cost": found.cost, "cost_unit": self.domain.cost_unit,
                  "budget": self.config.budget}
        if found.candidate is None:
            return with_step(record, self._step("rejected", **detail)).reject(
                "verify.solver", f"the {self.domain.name} solver found no solution within "
                f"{self.config.budget or 'its'} {self.domain.cost_unit} budget")
        return with_step(record, self._step("generated", **detail)).model_copy(
            update={"outputs": {"candidates": [found.candidate]}})

    def _sampled(self, record: Record, attempts: list[Attempt], attempt: int) -> Record:
        problem = problem_of(record)
        detail = {"attempt": attempt, "samples": len(attempts),
                  "answers": [a.answer for a in attempts],
                  "finish_reasons": [a.finish_reason for a in attempts],
                  "tokens_out": sum(a.tokens_out for a in attempts)}
        step = self._step("generated", **detail).model_copy(
            update={"prompt_sha256": self.llm.prompt_sha256(problem)})
        out = with_step(record, step, sampling=self.llm.sampling(), **self.ident)
        candidates = [a.candidate for a in attempts]
        if all(c is None for c in candidates):
            cut = sum(a.finish_reason == "length" for a in attempts)
            why = f"; {cut} cut off at max_tokens ({self.config.max_tokens})" if cut else ""
            return out.reject(self.llm.name, f"no candidate in {len(attempts)} answer(s){why}")
        return out.model_copy(update={"outputs": {"candidates": candidates}})

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        if self.config.method == "solver":
            return [self._solved(r, attempt) for r in records]
        found = self.llm.run([(r.provenance.plan.id or r.id, problem_of(r)) for r in records],
                             attempt)
        return [self._sampled(r, a, attempt) for r, a in zip(records, found, strict=True)]


@register_step
class SearchStep(StepConfig):
    """Candidates for each problem: ``samples`` LLM answers, or the domain's solver.

    Attributes:
        method: ``llm`` (k samples; the default) or ``solver`` (the domain's non-LLM search,
            e.g. DPLL for SAT, exhaustive search for Game of 24).
        samples: k, LLM answers per problem (1..64).
        temperature: sampling temperature of the answers.
        max_tokens: cap per answer (tokens).
        budget: the solver's budget in its cost unit (decisions, nodes); None: no cap.
    """

    type: Literal["verifiable.search"] = "verifiable.search"
    method: Literal["llm", "solver"] = "llm"
    samples: int = Field(default=4, ge=1, le=64)
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(default=512, ge=16)
    budget: int | None = Field(default=None, ge=1)
    role = "generate"
    reads = frozenset({"problem", "spec"})
    writes = frozenset({"candidates"})
    kinds = _KINDS

    def check_task(self, task: Any) -> None:
        """A solver search needs a domain with a solver.

        Raises:
            ValueError: ``method: solver`` for a domain without one.
        """
        domain = domain_of(task)
        if self.method == "solver" and domain.cost_unit is None:
            raise ValueError(f"method solver: the {domain.name} domain has no solver; use "
                             "method llm")

    def build(self, ctx: StepContext) -> Any:
        return _Search(self, ctx)


class _Verify:
    """The verify step's runtime object (the engine's check protocol)."""

    name = "verify.verifier"

    def __init__(self, config: VerifyStep, ctx: StepContext) -> None:
        self.config, self.domain = config, domain_of(ctx.recipe.task)
        self.by = self.domain.verifier.name

    def _one(self, record: Record) -> Record:
        problem = problem_of(record)
        candidates = list(record.outputs.get("candidates") or [])
        attempts = [Attempt(answer=c or "", candidate=c) for c in candidates]
        checks = verify_attempts(self.domain, problem, attempts)
        passed = [i for i, v in enumerate(checks) if v.passed]
        chosen = passed[0] if passed else 0
        verdict = (checks[chosen] if checks else Verification(False, "no candidates")
                   ).verdict(self.by)
        verdict.detail.update(candidates=len(checks), candidates_passed=len(passed),
                              chosen=chosen if passed else None,
                              reasons=[v.reason for v in checks])
        out = with_step(record, OperatorStep(
            operator=self.name, version="1", verdict="passed" if passed else "failed",
            detail={"verifier": self.by, "candidates": len(checks),
                    "candidates_passed": len(passed)})).with_verdict(verdict)
        if passed:
            answer = str(candidates[chosen])
            out = out.model_copy(update={"outputs": {
                "solution": self.domain.solution_text(problem, answer), "answer": answer}})
        return out

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        return [self._one(r) for r in records]

    def passed(self, record: Record) -> bool:
        verdict = record.verdict("verifier")
        return bool(verdict and verdict.passed)

    def reason(self, record: Record, generations: int) -> str:
        verdict = record.verdict("verifier")
        detail = verdict.detail if verdict else {}
        first = (detail.get("reasons") or ["no candidates"])[0]
        return (f"{self.by}: none of {detail.get('candidates', 0)} candidate(s) passed "
                f"(first: {first}), after {generations} generation(s)")


@register_step
class VerifyStep(StepConfig):
    """The domain's verifier on every candidate; the first passing one is the solution.

    Attributes:
        on_fail: ``reject`` (the default), ``regenerate`` (new samples, up to
            ``max_regenerations`` times) or ``keep`` (kept unverified at
            ``fail_trust_weight``; it then has no solution and the kind refuses it, so
            ``keep`` only makes sense with a later step that writes one).
        fail_trust_weight: trust weight of a kept failing record (0..1).
        max_regenerations: searches after a failed verification before rejecting.
    """

    type: Literal["verifiable.verify"] = "verifiable.verify"
    on_fail: Literal["regenerate", "keep", "reject"] = "reject"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=0, ge=0, le=10, strict=True)
    role = "check"
    reads = frozenset({"candidates"})
    writes = frozenset({"solution"})
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _Verify(self, ctx)
