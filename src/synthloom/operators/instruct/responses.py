"""Responses to instructions, optionally best-of-n by a pointwise judge.

Each instruction is sent as the user turn of a plain chat (no system message of ours: the
answer is what the model says as an assistant), ``n`` times with distinct sampler seeds
and temperatures; with ``n > 1`` a pointwise judge (LLM-as-a-judge, Zheng et al., arXiv
2306.05685) scores every candidate on how well it follows the instruction and the best is
kept (best-of-n sampling; the rejection-sampling step of instruction-data pipelines such
as Llama 2's, Touvron et al., arXiv 2307.09288). Ties keep the earliest candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from synthloom.llm.base import ChatBackend, ChatRequest, ChatResponse, SamplingParams
from synthloom.llm.structured import chat_validated
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.instruct.magpie import TEMPLATE_MARKUP
from synthloom.operators.judge.pointwise import INSTRUCTION_CRITERIA, PointwiseJudge
from synthloom.records import Origin, Record

#: the criterion best-of-n ranks candidates by
RESPONSE_QUALITY = next(c for c in INSTRUCTION_CRITERIA if c.name == "response_quality")

def echoed_markup(text: str) -> str | None:
    """The first chat-template marker in ``text``, or None."""
    return next((m for m in TEMPLATE_MARKUP if m in text), None)


@dataclass
class ResponseResult:
    """One instruction's response: the kept text (None when every candidate failed), why
    not, and every candidate with its judge score (best-of-n)."""

    text: str | None
    reason: str | None = None
    candidates: list[dict[str, object]] = field(default_factory=list)


class InstructionResponses(Operator):
    """Answer instructions, best-of-n when ``n > 1``.

    Args:
        backend: the LLM that answers.
        n: candidates per instruction, 1..8.
        temperatures: candidate ``i`` is sampled at ``temperatures[i % len]``.
        max_words: the response's cap, in words (``max_tokens`` = 2.2 per word + 40); the
            instruction is sent as it is (nothing asks for a length), and a response cut
            off at the cap is rejected.
        judge: the pointwise judge ranking candidates (required when ``n > 1``; its
            rubric should be :data:`RESPONSE_QUALITY`).
        seed, top_p: sampling.

    Raises:
        ValueError: ``n`` outside 1..8, ``n > 1`` without a judge, or no temperature.
    """

    name = "instruct.responses"
    version = "1"
    templates: dict[str, str] = {}

    def __init__(self, backend: ChatBackend, *, n: int = 1,
                 temperatures: Sequence[float] = (0.7,), max_words: int = 300,
                 judge: PointwiseJudge | None = None, seed: int = 0, top_p: float = 0.95,
                 templates: Mapping[str, str] | None = None) -> None:
        if not 1 <= n <= 8:
            raise ValueError(f"n must be between 1 and 8, got {n}")
        if n > 1 and judge is None:
            raise ValueError("best-of-n (n > 1) needs a judge to rank the candidates")
        if not temperatures:
            raise ValueError("temperatures must not be empty")
        self.use_templates(templates)
        self.backend, self.n, self.judge = backend, n, judge
        self.temperatures = [float(t) for t in temperatures]
        self.max_words, self.seed, self.top_p = max_words, seed, top_p

    def max_tokens(self) -> int:
        """The token cap of one response."""
        return int(self.max_words * 2.2) + 40

    def _request(self, key: str, user: str, i: int, attempt: int) -> ChatRequest:
        return ChatRequest(
            messages=({"role": "user", "content": user},),
            sampling=SamplingParams(
                temperature=self.temperatures[i % len(self.temperatures)], top_p=self.top_p,
                max_tokens=self.max_tokens(),
                seed=derived_seed(self.name, self.seed, key, i, attempt)))

    def _parse(self, response: ChatResponse) -> tuple[str | None, str | None]:
        if response.finish_reason == "length":  # a list or code cut mid-way: not an answer
            return None, f"response cut off at max_tokens ({self.max_tokens()})"
        text = response.text.strip()
        if not text:
            return None, "empty answer"
        marker = echoed_markup(text)
        if marker:
            return None, f"template echoed: the response contains {marker!r}"
        return text, None

    def run(self, items: Sequence[tuple[str, str]], attempt: int = 0) -> list[ResponseResult]:
        """Responses to ``(key, user_turn)`` pairs (``key``, a plan id, seeds the sampler).

        Returns one :class:`ResponseResult` per item, in order.

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        requests = [self._request(key, user, i, attempt)
                    for key, user in items for i in range(self.n)]
        results = chat_validated(self.backend, requests, self._parse, max_attempts=1)
        out: list[ResponseResult] = []
        scored: list[tuple[int, int, Record]] = []
        for p, (key, user) in enumerate(items):
            cands = [results[p * self.n + i] for i in range(self.n)]
            texts = [c.value for c in cands]
            if not any(texts):
                out.append(ResponseResult(None, cands[0].error or "empty answer"))
                continue
            out.append(ResponseResult(texts[0] if self.n == 1 else None, candidates=[
                {"text": t, "temperature": self.temperatures[i % len(self.temperatures)],
                 **({"reason": c.error} if t is None else {})}
                for i, (t, c) in enumerate(zip(texts, cands, strict=True))]))
            if self.n > 1:
                scored += [(p, i, Record(id=f"{key}/{attempt}/{i}", task="best_of_n",
                                         kind="instruction", origin=Origin.synthetic,
                                         inputs={"instruction": user},
                                         outputs={"response": t}))
                           for i, t in enumerate(texts) if t]
        if scored:
            judged = self.judge([r for _, _, r in scored])  # type: ignore[misc]
            for (p, i, _), r in zip(scored, judged, strict=True):
                out[p].candidates[i]["score"] = r.verdict("judge").score
            for result in out:
                if result.candidates and result.text is None:
                    best = max((c for c in result.candidates if c["text"]),
                               key=lambda c: -1.0 if c.get("score") is None else c["score"])
                    result.text = str(best["text"])
        return out

    def sampling(self) -> dict[str, object]:
        """Sampling values for provenance (seeds derive per candidate)."""
        return {"temperatures": self.temperatures, "top_p": self.top_p,
                "max_tokens": self.max_tokens(), "n": self.n}
