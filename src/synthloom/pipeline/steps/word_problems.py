"""Arithmetic word problems: a program builds the structure and the answer, the LLM writes
the text, and a second, independent solve checks the text still yields the answer.

- ``verifiable.word_problem`` (generate): the LLM rewrites the program's dry statement
  as a natural word problem in the problem's setting; the solution is the program's own
  worked solution (its answer is known, never the LLM's).
- ``verifiable.text_check`` (check): the judge backend (the generator's model when the
  recipe names no judge) reads only the text and writes one arithmetic expression for its
  answer; the expression is evaluated exactly and must equal the program's answer, and
  every given number must appear in the text
  (:meth:`~synthloom.operators.verify.arithmetic.ArithmeticDomain.check_text`).

The program-then-text design follows the use of programs as ground truth for math word
problems (GSM-style templates, e.g. Mirzadeh et al., GSM-Symbolic, arXiv 2410.05229):
the LLM can make the wording richer but cannot change the answer unnoticed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from synthloom.llm.base import BackendError, ChatRequest, SamplingParams
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.verify import Problem
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.pipeline.steps.verifiable import domain_of, problem_of
from synthloom.records import OperatorStep, Record, Verdict, sha256_text, stable_json

_KINDS = frozenset({"verifiable"})


def _check_arithmetic(task: Any) -> None:
    if getattr(task, "domain", None) != "arithmetic":
        raise ValueError(f"works with task.domain arithmetic only, not {task.domain!r}")


def _request(messages: list[dict[str, str]], temperature: float, max_tokens: int,
             seed: int) -> ChatRequest:
    return ChatRequest(messages=tuple(messages), sampling=SamplingParams(
        temperature=temperature, max_tokens=max_tokens, seed=seed))


class _WordProblem:
    """The word-problem step's runtime object."""

    name = "verify.word_problem"

    def __init__(self, config: WordProblemStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.domain = domain_of(ctx.recipe.task)
        self.ident = identity_provenance(ctx.backend.identity)

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        problems = [problem_of(r) for r in records]
        prompts = [self.domain.text_prompt(p) for p in problems]
        answers = self.ctx.backend.chat([
            _request(m, self.config.temperature, self.config.max_tokens,
                     derived_seed(self.name, self.ctx.recipe.seed, r.provenance.plan.id,
                                  attempt))
            for m, r in zip(prompts, records, strict=True)])
        out = []
        for r, p, m, answer in zip(records, problems, prompts, answers, strict=True):
            if isinstance(answer, BackendError):
                raise answer
            text = (answer.text or "").strip()
            step = OperatorStep(operator=self.name, version="1",
                                prompt_sha256=sha256_text(stable_json(m)),
                                verdict="generated" if text else "rejected",
                                detail={"attempt": attempt, "program_text": p.text,
                                        "finish_reason": answer.finish_reason})
            done = with_step(r, step, sampling={"temperature": self.config.temperature,
                                                "max_tokens": self.config.max_tokens},
                             **self.ident)
            if not text:
                out.append(done.reject(self.name, "empty word problem"))
                continue
            if answer.finish_reason == "length":
                out.append(done.reject(self.name, f"word problem cut off at max_tokens "
                                                  f"({self.config.max_tokens})"))
                continue
            written = Problem(domain=p.domain, text=text, spec=p.spec, source=p.source)
            answer_text = str(p.spec.get("answer"))
            out.append(done.model_copy(update={
                "inputs": {**r.inputs, "problem": text},
                "outputs": {"solution": self.domain.solution_text(written, answer_text),
                            "answer": answer_text}}))
        return out


@register_step
class WordProblemStep(StepConfig):
    """The LLM writes each program's problem as a natural word problem (arithmetic only).

    Attributes:
        temperature: sampling temperature of the text.
        max_tokens: cap per text (tokens); a text cut off there is rejected.
    """

    type: Literal["verifiable.word_problem"] = "verifiable.word_problem"
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    max_tokens: int = Field(default=300, ge=32)
    role = "generate"
    reads = frozenset({"problem", "spec"})
    writes = frozenset({"solution"})
    kinds = _KINDS

    def check_task(self, task: Any) -> None:
        """Raises ValueError for a domain other than arithmetic."""
        _check_arithmetic(task)

    def build(self, ctx: StepContext) -> Any:
        return _WordProblem(self, ctx)


class _TextCheck:
    """The text check's runtime object (the engine's check protocol)."""

    name = "verify.text_check"

    def __init__(self, config: TextCheckStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.domain = domain_of(ctx.recipe.task)
        self.by = f"{self.name}/{ctx.judge.identity.model}"

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        texts = [str(r.inputs.get("problem", "")) for r in records]
        answers = self.ctx.judge.chat([
            _request(self.domain.expression_prompt(t), 0.0, self.config.max_tokens,
                     derived_seed(self.name, self.ctx.recipe.seed, r.provenance.plan.id,
                                  attempt))
            for t, r in zip(texts, records, strict=True)])
        out = []
        for r, text, answer in zip(records, texts, answers, strict=True):
            if isinstance(answer, BackendError):
                raise answer
            check = self.domain.check_text(dict(r.inputs.get("spec") or {}), text,
                                           answer.text)
            step = OperatorStep(operator=self.name, version="1",
                                verdict="passed" if check.passed else "failed",
                                detail={"attempt": attempt, "by": self.by})
            out.append(with_step(r, step).with_verdict(Verdict(
                check="text_check", by=self.by, passed=check.passed,
                score=1.0 if check.passed else 0.0,
                detail={"reason": check.reason, **check.evidence,
                        "solver_answer": (answer.text or "")[:400]})))
        return out

    def passed(self, record: Record) -> bool:
        verdict = record.verdict("text_check")
        return bool(verdict and verdict.passed)

    def reason(self, record: Record, generations: int) -> str:
        verdict = record.verdict("text_check")
        why = verdict.detail.get("reason") if verdict else "not checked"
        return f"text check: {why}, after {generations} generation(s)"


@register_step
class TextCheckStep(StepConfig):
    """A second, independent solve of each word problem's text (arithmetic only).

    Attributes:
        max_tokens: cap of the solver's answer (tokens).
        on_fail: ``regenerate`` (the default: write the text again, up to
            ``max_regenerations`` times, then reject), ``keep`` (at ``fail_trust_weight``)
            or ``reject``.
        fail_trust_weight: trust weight of a kept failing record (0..1).
        max_regenerations: texts written again after a failed check before rejecting.
    """

    type: Literal["verifiable.text_check"] = "verifiable.text_check"
    max_tokens: int = Field(default=200, ge=16)
    on_fail: Literal["regenerate", "keep", "reject"] = "regenerate"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=1, ge=0, le=10, strict=True)
    role = "check"
    reads = frozenset({"problem", "spec"})
    kinds = _KINDS

    def check_task(self, task: Any) -> None:
        """Raises ValueError for a domain other than arithmetic."""
        _check_arithmetic(task)

    def build(self, ctx: StepContext) -> Any:
        return _TextCheck(self, ctx)
