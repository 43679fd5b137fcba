"""Search for verified solutions with an LLM: k samples per problem, each checked by the
domain's verifier, and the measures of that search (pass@1, pass@k, majority vote against
verifier-filtered selection).

Repeated sampling plus a verifier is the simplest search that improves with compute:
the share of problems with at least one verified sample (pass@k; Chen et al., arXiv
2107.03374) grows with k while a verifier-free choice (majority vote, self-consistency;
Wang et al., arXiv 2203.11171) cannot pick an answer the model rarely gives. The gap
between the two is the generation-verification gap of Song et al. (arXiv 2412.02674).

Verified pairs from earlier rounds can be shown as worked examples (``exemplars``): that
is how :mod:`synthloom.operators.verify.llm_bootstrap` lets what was kept guide the next
round's search without training weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from synthloom.llm.base import BackendError, ChatBackend, ChatRequest, SamplingParams
from synthloom.operators.base import derived_seed
from synthloom.operators.verify.base import (
    Domain,
    Problem,
    Verification,
    majority_vote,
    pass_at_k,
)
from synthloom.records import sha256_text, stable_json


@dataclass(frozen=True)
class Attempt:
    """One LLM sample for one problem.

    Attributes:
        answer: the model's text.
        candidate: the candidate parsed from it (None: the answer holds none).
        finish_reason: ``stop`` or ``length`` (cut off at ``max_tokens``).
        tokens_out: generated tokens.
    """

    answer: str
    candidate: str | None
    finish_reason: str | None = None
    tokens_out: int = 0


def with_exemplars(domain: Domain, problem: Problem,
                   exemplars: Sequence[tuple[Problem, str]] = ()) -> list[dict[str, str]]:
    """The domain's chat messages for ``problem``, with each verified ``(problem,
    solution)`` exemplar inserted before the last user turn as a user/assistant exchange
    (the exemplar's own prompt, then its verified solution)."""
    messages = [dict(m) for m in domain.prompt(problem)]
    shots: list[dict[str, str]] = []
    for shown, solution in exemplars:
        shots += [{"role": "user", "content": domain.prompt(shown)[-1]["content"]},
                  {"role": "assistant", "content": solution}]
    return [*messages[:-1], *shots, messages[-1]]


class LLMSearch:
    """k samples per problem from a chat backend, parsed into candidates.

    Args:
        backend: the chat backend (cached or not).
        domain: the verifiable domain (its ``prompt`` and ``candidate``).
        samples: k, samples per problem (>= 1).
        temperature, top_p: sampling values (each sample gets its own derived seed).
        max_tokens: cap per answer (tokens).
        seed: base seed; a sample's seed derives from it, the problem key, the attempt and
            the sample's index, so a resumed run asks the cache the same questions.

    Raises:
        ValueError: ``samples < 1``.
    """

    name = "verify.llm_search"
    version = "1"

    def __init__(self, backend: ChatBackend, domain: Domain, *, samples: int = 4,
                 temperature: float = 0.8, top_p: float = 0.95, max_tokens: int = 512,
                 seed: int = 0) -> None:
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        self.backend, self.domain, self.samples = backend, domain, samples
        self.temperature, self.top_p, self.max_tokens, self.seed = (
            temperature, top_p, max_tokens, seed)

    def sampling(self) -> dict[str, Any]:
        """Sampling values for provenance."""
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "samples": self.samples}

    def requests(self, key: str, problem: Problem, attempt: int = 0,
                 exemplars: Sequence[tuple[Problem, str]] = ()) -> list[ChatRequest]:
        """The k requests for one problem (``key`` names it: a plan id)."""
        messages = tuple(with_exemplars(self.domain, problem, exemplars))
        return [ChatRequest(messages=messages, sampling=SamplingParams(
            temperature=self.temperature,
            top_p=self.top_p, max_tokens=self.max_tokens,
            seed=derived_seed(self.name, self.seed, key, attempt, i)))
            for i in range(self.samples)]

    def prompt_sha256(self, problem: Problem,
                      exemplars: Sequence[tuple[Problem, str]] = ()) -> str:
        """sha256 of the messages sent for ``problem`` (for provenance)."""
        return sha256_text(stable_json(with_exemplars(self.domain, problem, exemplars)))

    def run(self, items: Sequence[tuple[str, Problem]], attempt: int = 0,
            exemplars: Sequence[tuple[Problem, str]] = (),
            on_answers: Callable[[int, int], None] | None = None) -> list[list[Attempt]]:
        """k attempts for each ``(key, problem)``, in order.

        Args:
            on_answers: called with ``(problems answered, problems)`` after each group of
                problems is answered (requests go to the backend a few problems at a time,
                enough to fill its batch).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        group = max(1, 32 // self.samples)
        answers: list[Any] = []
        for start in range(0, len(items), group):
            answers += self.backend.chat(
                [r for key, problem in items[start:start + group]
                 for r in self.requests(key, problem, attempt, exemplars)])
            if on_answers is not None:
                on_answers(min(start + group, len(items)), len(items))
        out: list[list[Attempt]] = []
        for p in range(len(items)):
            attempts = []
            for answer in answers[p * self.samples:(p + 1) * self.samples]:
                if isinstance(answer, BackendError):
                    raise answer
                text = answer.text or ""
                attempts.append(Attempt(answer=text, candidate=self.domain.candidate(text),
                                        finish_reason=answer.finish_reason,
                                        tokens_out=answer.tokens_out))
            out.append(attempts)
        return out


def verify_attempts(domain: Domain, problem: Problem,
                    attempts: Sequence[Attempt]) -> list[Verification]:
    """The verifier's verdict on each attempt (an attempt without a candidate fails with
    the reason "no candidate in the answer")."""
    out = []
    for a in attempts:
        if a.candidate is None:
            cut = " (cut off at max_tokens)" if a.finish_reason == "length" else ""
            out.append(Verification(False, f"no candidate in the answer{cut}"))
        else:
            out.append(domain.verifier.verify(problem.spec, a.candidate))
    return out


def search_measures(domain: Domain, attempts: Sequence[Attempt],
                    verifications: Sequence[Verification], k: int | None = None
                    ) -> dict[str, Any]:
    """What one problem's samples say: ``{"samples": n, "passed": c, "pass@1": float,
    "pass@k": float, "k": k, "majority_correct": bool, "verified_correct": bool,
    "first_correct": bool}``.

    ``majority_correct``: the candidate chosen by majority vote over answer keys passes;
    ``verified_correct``: some candidate passes (selection by the verifier);
    ``first_correct``: the first sample passes (greedy-like pass@1 on one draw).
    """
    n = len(attempts)
    k = n if k is None else k
    passed = [v.passed for v in verifications]
    keys = [domain.answer_key(a.candidate) if a.candidate is not None else None
            for a in attempts]
    chosen = majority_vote(keys)
    return {"samples": n, "passed": sum(passed), "k": k,
            "pass@1": pass_at_k(n, sum(passed), 1) if n else 0.0,
            "pass@k": pass_at_k(n, sum(passed), k) if n else 0.0,
            "majority_correct": bool(chosen is not None and passed[chosen]),
            "verified_correct": any(passed),
            "first_correct": bool(passed and passed[0])}


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over problems of :func:`search_measures` rows: ``{"problems", "pass@1",
    "pass@k", "k", "majority_vote_accuracy", "verifier_selected_accuracy",
    "first_sample_accuracy"}`` (accuracies are shares of problems, 0..1)."""
    n = len(rows)
    if not n:
        return {"problems": 0}

    def mean(key: str) -> float:
        return round(sum(float(r[key]) for r in rows) / n, 4)

    return {"problems": n, "k": rows[0]["k"], "pass@1": mean("pass@1"), "pass@k": mean("pass@k"),
            "majority_vote_accuracy": mean("majority_correct"),
            "verifier_selected_accuracy": mean("verified_correct"),
            "first_sample_accuracy": mean("first_correct")}


__all__ = ["Attempt", "LLMSearch", "search_measures", "summarize", "verify_attempts",
           "with_exemplars"]
