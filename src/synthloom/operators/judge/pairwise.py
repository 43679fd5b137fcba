"""Pairwise LLM judge: which of two items is better, with positions swapped at random.

zELO (Pipitone et al., arXiv 2509.12541), step 3: each pair is judged with its two items
placed in a random order and the choice mapped back, so a judge that favours one slot
does not favour one item; an ensemble of judges (several backends, and/or several
phrasings of the question on one backend) votes, and the probability that item ``a``
beats item ``b`` is the mean of their votes. The answer is structured output
``{"better": "A" | "B"}`` at temperature 0 (zELO asks for pros and cons and a score in
[-1, 1]; a direct choice is what small models answer reliably). A judge with no valid
answer after its attempts does not vote; a pair no judge answered has ``p_a`` None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import create_model

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed

#: phrasings of the judge's question, one per ensemble member on one backend
PHRASINGS: tuple[str, ...] = (
    "Which of the two is better?",
    "Which of the two would a careful expert prefer?",
    "If you had to keep only one of the two, which would you keep?",
)


@dataclass
class PairTask:
    """One pair to judge.

    Attributes:
        a, b: the two items' texts.
        context: what both answer or belong to (a prompt, a query); '' for none.
        key: a stable key (it seeds the position swap and the sampler).
    """

    a: str
    b: str
    context: str = ""
    key: str = ""


@dataclass
class Comparison:
    """The judges' view of one pair.

    Attributes:
        first: which item was shown in the first slot (``"a"`` or ``"b"``).
        votes: per judge, ``"a"``, ``"b"`` or None (no valid answer).
        slots: per judge, the slot it preferred (``"first"``/``"second"``/None).
        p_a: share of valid votes for ``a`` (None when no judge answered).
        calls: LLM requests spent, retries included.
    """

    first: Literal["a", "b"]
    votes: list[str | None] = field(default_factory=list)
    slots: list[str | None] = field(default_factory=list)
    p_a: float | None = None
    calls: int = 0


class PairwiseJudge(Operator):
    """Judge pairs of items with an ensemble of judges and random position swaps.

    Args:
        backends: the judge LLMs (one or more); each asks every phrasing.
        unit: what one item is called ("response", "tweet").
        description: the task, shown to the judge.
        question: what "better" means here, e.g. "Which text is more positive?"; None asks
            the first ``phrasings`` of :data:`PHRASINGS`.
        phrasings: how many phrasings of :data:`PHRASINGS` each backend asks (1-3), when
            ``question`` is None.
        both_orders: judge every pair twice, once in each order, each order one vote
            (twice the calls): a judge that always picks one slot then votes 0.5, where a
            random swap turns its bias into noise.
        seed: master seed (swaps and sampler seeds derive from it and each task's key).
        max_attempts: answers requested per judge and pair before it abstains.
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: no backend, or ``phrasings`` outside 1-3.
    """

    name = "judge.pairwise"
    version = "1"
    templates = {
        "system": "You compare two {unit}s. The task: {description}",
        "user": ("{context}{unit_title} A:\n{first}\n\n{unit_title} B:\n{second}\n\n"
                 '{question} Answer as JSON: {{"better": "A"}} or {{"better": "B"}}'),
    }

    def __init__(self, backends: ChatBackend | Sequence[ChatBackend], unit: str,
                 description: str, *, question: str | None = None, phrasings: int = 1,
                 both_orders: bool = False, seed: int = 0, max_attempts: int = 2,
                 templates: Mapping[str, str] | None = None) -> None:
        self.use_templates(templates)
        self.backends = [backends] if hasattr(backends, "chat") else list(backends)
        if not self.backends:
            raise ValueError("a pairwise judge needs at least one backend")
        if not 1 <= phrasings <= len(PHRASINGS):
            raise ValueError(f"phrasings must be 1-{len(PHRASINGS)}, got {phrasings}")
        self.questions = [question] if question else list(PHRASINGS[:phrasings])
        self.unit, self.description, self.seed = unit, description, seed
        self.both_orders = both_orders
        self.max_attempts = max_attempts
        self.answer_model = create_model("PairAnswer", better=(Literal["A", "B"], ...))

    @property
    def judges(self) -> int:
        """Votes per pair: backends x questions (x 2 with ``both_orders``)."""
        return len(self.backends) * len(self.questions) * (2 if self.both_orders else 1)

    def swapped(self, task: PairTask) -> bool:
        """Whether ``task.b`` goes in the first slot (a fixed coin per key and seed)."""
        return derived_seed(self.name, self.seed, task.key, "swap") % 2 == 1

    def _request(self, task: PairTask, question: str, judge: int, swap: bool):
        first, second = (task.b, task.a) if swap else (task.a, task.b)
        context = f"{task.context}\n\n" if task.context else ""
        title = self.unit[:1].upper() + self.unit[1:]
        return self.request(
            self.templates["system"].format(unit=self.unit, description=self.description),
            self.templates["user"].format(context=context, unit_title=title, first=first,
                                          second=second, question=question),
            temperature=0.0, top_p=1.0, max_tokens=12,
            seed=derived_seed(self.name, self.seed, task.key, judge))

    def compare(self, tasks: Sequence[PairTask]) -> list[Comparison]:
        """Judge every task: one batch per backend and phrasing. Returns one
        :class:`Comparison` per task, in order."""
        out = [Comparison(first="b" if self.swapped(t) else "a") for t in tasks]
        judge = 0
        orders = (False, True) if self.both_orders else (False,)
        for backend in self.backends:
            for question in self.questions:
                for flip in orders:
                    swaps = [self.swapped(t) != flip for t in tasks]
                    requests = [self._request(t, question, judge, swap)
                                for t, swap in zip(tasks, swaps, strict=True)]
                    results = chat_structured(backend, requests, self.answer_model,
                                              max_attempts=self.max_attempts)
                    for c, swap, result in zip(out, swaps, results, strict=True):
                        c.calls += result.attempts
                        if result.value is None:
                            c.votes.append(None)
                            c.slots.append(None)
                            continue
                        slot = "first" if result.value.better == "A" else "second"
                        shown_first = "b" if swap else "a"
                        c.slots.append(slot)
                        c.votes.append(shown_first if slot == "first" else
                                       ("b" if shown_first == "a" else "a"))
                    judge += 1
        for c in out:
            valid = [v for v in c.votes if v is not None]
            c.p_a = round(sum(v == "a" for v in valid) / len(valid), 4) if valid else None
        return out

    def backend_models(self) -> list[str]:
        """The judges' model names, in ensemble order of backends."""
        return [b.identity.model for b in self.backends]
