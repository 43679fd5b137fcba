"""Pairwise relevance judgements with soft votes: which of two documents answers a query?

Pairwise ranking prompting (PRP; Qin, Jagerman, Hui, Zhuang, Wu, Shen, Liu, Liu, Metzler,
Wang & Bendersky, arXiv 2306.17563): the LLM sees the query and two documents and answers
with one letter; it is asked with both orders, and in PRP's scoring mode the vote is the
probability of each letter, not the letter. zELO (Pipitone et al., arXiv 2509.12541) averages
such votes over an ensemble of judges into the probability that A is more relevant than B,
the supervision its Thurstone fit reads.

Why not :class:`~synthloom.operators.judge.pairwise.PairwiseJudge`: it asks for a JSON
answer and counts hard votes; the embedded 0.5B model picked the first slot in 2,165 of
2,165 such votes (README, "How far the embedded models judge like people"), so both orders
of every pair cancel to exactly 0.5 and no score can be fitted. Here the answer is one
token, and with ``soft=True`` the vote of one order is ``P(A) / (P(A) + P(B))`` read off the
first token's ``top_logprobs`` (the raw distribution, tokens "A" and " A" pooled), mapped
back to the pair's own order: a judge biased to a slot still ranks documents by how much
less it prefers the slot when the better document is in the other. A letter missing from the
top 20 is given the smallest probability listed (a bound). A backend that gives no
logprobs, or ``soft=False``, casts the letter as a hard vote (1 or 0); an answer that is no
letter is no vote. The prompt names only the task's description and units.

Votes per pair: ``len(backends) * len(questions) * (2 if both_orders else 1)``; each is one
LLM call of one output token.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from synthloom.llm.base import BackendError, ChatBackend, ChatResponse
from synthloom.operators.base import Operator, derived_seed

#: default phrasings of the question, one ensemble member each ({unit}, {query_unit})
QUESTIONS: tuple[str, ...] = (
    "Which {unit} is more relevant to the {query_unit}?",
    "Which {unit} would a person who typed this {query_unit} rather open?",
    "Which {unit} answers the {query_unit} better?",
)

_LETTER = re.compile(r"^\W*([AB])\b")


@dataclass
class RelevancePair:
    """One pair to judge: the ``query``, documents ``a`` and ``b`` (texts as shown), and a
    stable ``key`` (it seeds the sampler and the first order)."""

    query: str
    a: str
    b: str
    key: str


@dataclass
class PairVotes:
    """The ensemble's view of one pair: ``votes`` (per judge and order, the probability that
    ``a`` is more relevant; None: no valid answer), ``firsts`` (which item each vote saw in
    the first slot), ``p_a`` (mean of the valid votes; None without one), ``calls``."""

    votes: list[float | None] = field(default_factory=list)
    firsts: list[str] = field(default_factory=list)
    p_a: float | None = None
    calls: int = 0

    @property
    def agreement(self) -> float | None:
        """Share of the valid votes on the majority side (a vote above 0.5 is for ``a``,
        below for ``b``, exactly 0.5 counts half to each), in [0.5, 1]; None without votes.
        A judge that only prefers a slot votes once each way per order pair: 0.5."""
        valid = [v for v in self.votes if v is not None]
        if not valid:
            return None
        for_a = sum(1.0 if v > 0.5 else 0.5 if v == 0.5 else 0.0 for v in valid) / len(valid)
        return round(max(for_a, 1.0 - for_a), 4)


def first_slot_probability(response: ChatResponse, soft: bool = True) -> float | None:
    """P(the first slot is more relevant) from one answer: soft from the first token's
    ``top_logprobs`` when there are some and ``soft``, else 1.0 / 0.0 from the answer's
    letter; None when neither letter can be read."""
    first = (response.top_logprobs or [None])[0] if soft else None
    if first:
        pooled: dict[str, float] = {}
        for token, logprob in first.items():
            letter = token.strip()
            if letter in ("A", "B"):
                pooled[letter] = math.log(
                    math.exp(pooled.get(letter, -math.inf)) + math.exp(logprob)
                )
        if pooled:
            floor = min(first.values())
            a, b = pooled.get("A", floor), pooled.get("B", floor)
            return round(1.0 / (1.0 + math.exp(b - a)), 6)
    found = _LETTER.match(response.text or "")
    return None if found is None else (1.0 if found.group(1) == "A" else 0.0)


class PairwiseRelevance(Operator):
    """An ensemble of pairwise relevance judges (module docstring).

    Args:
        backends: the judge LLMs (one or more); each asks every question.
        description: the task description (what the documents are, who searches them).
        unit: what one document is called; query_unit: what one query is called.
        questions: the ensemble's phrasings, each with ``{unit}``/``{query_unit}`` fields;
            None: the first ``len(QUESTIONS)`` of :data:`QUESTIONS`.
        both_orders: ask every pair in both orders (position bias cancels); False asks it
            once, its first order drawn per pair.
        soft: read votes from the answer token's probabilities when the backend gives them.
        seed: master seed (first orders and sampler seeds derive from it and the key).
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: no backend, or no question.
    """

    name = "relevance.pairwise"
    version = "1"
    templates = {
        "system": "You judge which {unit} better answers a {query_unit}. The {unit}s: "
        "{description}",
        "user": (
            "{query_title}: {query}\n\n{unit_title} A:\n{first}\n\n{unit_title} B:\n"
            "{second}\n\n{question} Answer with one letter, A or B."
        ),
    }

    def __init__(
        self,
        backends: ChatBackend | Sequence[ChatBackend],
        description: str,
        *,
        unit: str = "document",
        query_unit: str = "search query",
        questions: Sequence[str] | None = None,
        both_orders: bool = True,
        soft: bool = True,
        seed: int = 0,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.use_templates(templates)
        self.backends = [backends] if hasattr(backends, "chat") else list(backends)
        if not self.backends:
            raise ValueError("a pairwise judge needs at least one backend")
        questions = list(QUESTIONS if questions is None else questions)
        if not questions:
            raise ValueError("a pairwise judge needs at least one question")
        self.questions = [q.format(unit=unit, query_unit=query_unit) for q in questions]
        self.description, self.unit, self.query_unit = description, unit, query_unit
        self.both_orders, self.soft, self.seed = both_orders, soft, seed

    @property
    def votes_per_pair(self) -> int:
        """LLM calls per pair: backends x questions (x 2 with ``both_orders``)."""
        return len(self.backends) * len(self.questions) * (2 if self.both_orders else 1)

    def _b_first(self, pair: RelevancePair) -> bool:
        return derived_seed(self.name, self.seed, pair.key, "order") % 2 == 1

    def _request(self, pair: RelevancePair, question: str, member: int, b_first: bool):
        first, second = (pair.b, pair.a) if b_first else (pair.a, pair.b)
        title = self.unit[:1].upper() + self.unit[1:]
        request = self.request(
            self.templates["system"].format(
                unit=self.unit, query_unit=self.query_unit, description=self.description
            ),
            self.templates["user"].format(
                query_title=self.query_unit[:1].upper() + self.query_unit[1:],
                query=pair.query,
                unit_title=title,
                first=first,
                second=second,
                question=question,
            ),
            temperature=0.0,
            top_p=1.0,
            max_tokens=1,
            seed=derived_seed(self.name, self.seed, pair.key, member),
        )
        return request.model_copy(update={"top_logprobs": 20}) if self.soft else request

    def compare(self, pairs: Sequence[RelevancePair]) -> list[PairVotes]:
        """Judge every pair: one batch per backend, question and order. Returns one
        :class:`PairVotes` per pair, in order.

        Raises:
            BackendError: a backend failed a request after its own retries.
        """
        out = [PairVotes() for _ in pairs]
        orders = (False, True) if self.both_orders else (False,)
        member = 0
        for backend in self.backends:
            for question in self.questions:
                for flip in orders:
                    b_first = [self._b_first(p) != flip for p in pairs]
                    answers = backend.chat(
                        [
                            self._request(p, question, member, swap)
                            for p, swap in zip(pairs, b_first, strict=True)
                        ]
                    )
                    for votes, swap, answer in zip(out, b_first, answers, strict=True):
                        if isinstance(answer, BackendError):
                            raise answer
                        votes.calls += 1
                        first = first_slot_probability(answer, self.soft)
                        votes.firsts.append("b" if swap else "a")
                        votes.votes.append(
                            None if first is None else round(1.0 - first if swap else first, 6)
                        )
                    member += 1
        for votes in out:
            valid = [v for v in votes.votes if v is not None]
            votes.p_a = round(sum(valid) / len(valid), 6) if valid else None
        return out

    def backend_models(self) -> list[str]:
        """The judges' model names, in ensemble order."""
        return [b.identity.model for b in self.backends]
