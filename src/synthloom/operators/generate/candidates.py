"""Candidate responses to prompts, and prompts written from a task description.

Preference data (DPO, Rafailov et al., arXiv 2305.18290) needs several responses to one
prompt that differ in quality; zELO (Pipitone et al., arXiv 2509.12541) then ranks them
by pairwise judgements. :class:`ResponseCandidates` writes k responses per prompt at
different temperatures (and, optionally, in different personas), so the candidates spread
from careful to loose. :class:`PromptGeneration` writes the prompts when the user has
none. Both prompts name the task's unit and description only, no domain of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_validated
from synthloom.operators.base import Operator, derived_seed

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")
_PREAMBLE = re.compile(r"^(sure|here is|here's|certainly)[^:\n]*:\s*", re.IGNORECASE)

#: default candidate temperatures: candidate i is sampled at ``TEMPERATURES[i % 4]``
TEMPERATURES: tuple[float, ...] = (0.2, 0.7, 1.0, 1.3)


@dataclass(frozen=True)
class Candidate:
    """One candidate response: its text, the temperature it was sampled at, and the persona
    it answered as (None for none)."""

    text: str
    temperature: float
    persona: str | None = None


def _answer(response: ChatResponse) -> tuple[str | None, str | None]:
    """A response's text with outer whitespace removed (inner line breaks kept: an answer
    may hold a list or code); one cut off at ``max_tokens`` is trimmed back to its last full
    sentence. ``(None, reason)`` for an empty answer or a cut one with no full sentence."""
    text = response.text.strip()
    if response.finish_reason == "length":
        ends = list(_SENTENCE_END.finditer(text))
        text = text[: ends[-1].end()] if ends else ""
    return (text, None) if text else (None, "empty answer")


class ResponseCandidates(Operator):
    """Write ``k`` responses to each prompt.

    Candidate ``i`` of a prompt is sampled at ``temperatures[i % len(temperatures)]`` with
    its own sampler seed (``derived_seed(name, seed, key, i, attempt)``), and answers as
    ``personas[i % len(personas)]`` when personas are given. Every candidate of every
    prompt goes to the backend in one batch.

    Args:
        backend: the generator LLM.
        description: the task description (what the prompts are).
        unit: what one prompt is called ("question from a customer").
        k: candidates per prompt, >= 2.
        temperatures: sampling temperatures, each in [0, 2].
        personas: who answers ("a patient support agent"...); None or empty for none.
        max_words: asked length of an answer, in words (``max_tokens`` is about 2.2 tokens
            a word, plus 40).
        seed: master seed.
        top_p: nucleus mass.
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``k`` < 2, no temperature or one outside [0, 2], or ``max_words`` < 1.
    """

    name = "generate.candidates"
    version = "1"
    templates = {
        "system": "You answer {unit}s. {description}",
        "user": "{persona}{prompt}\n\n(Answer in at most {max_words} words.)",
        "persona": "Answer as {persona}.\n\n",
    }

    def __init__(self, backend: ChatBackend, description: str, *, unit: str = "text",
                 k: int = 4, temperatures: Sequence[float] = TEMPERATURES,
                 personas: Sequence[str] | None = None, max_words: int = 120, seed: int = 0,
                 top_p: float = 0.95, templates: Mapping[str, str] | None = None) -> None:
        if k < 2:
            raise ValueError(f"k must be at least 2 (a pair needs two responses), got {k}")
        if not temperatures or any(not 0.0 <= t <= 2.0 for t in temperatures):
            raise ValueError(f"temperatures must be a non-empty list of values in [0, 2], "
                             f"got {list(temperatures)}")
        if max_words < 1:
            raise ValueError(f"max_words must be at least 1, got {max_words}")
        self.use_templates(templates)
        self.backend, self.description, self.unit = backend, description, unit
        self.k, self.temperatures = k, [float(t) for t in temperatures]
        self.personas = [p for p in (personas or []) if p.strip()]
        self.max_words, self.seed, self.top_p = max_words, seed, top_p

    def slot(self, i: int) -> tuple[float, str | None]:
        """Temperature and persona (None) of candidate ``i``."""
        persona = self.personas[i % len(self.personas)] if self.personas else None
        return self.temperatures[i % len(self.temperatures)], persona

    def _request(self, key: str, prompt: str, i: int, attempt: int):
        temperature, persona = self.slot(i)
        lead = self.templates["persona"].format(persona=persona) if persona else ""
        return self.request(
            self.templates["system"].format(unit=self.unit, description=self.description),
            self.templates["user"].format(persona=lead, prompt=prompt, max_words=self.max_words),
            temperature=temperature, top_p=self.top_p, max_tokens=int(self.max_words * 2.2) + 40,
            seed=derived_seed(self.name, self.seed, key, i, attempt))

    def run(self, prompts: Sequence[tuple[str, str]], attempt: int = 0) -> list[list[Candidate]]:
        """Candidates for each ``(key, prompt)``: ``key`` (a plan id) seeds the sampler.

        Returns, per prompt in order, its candidates in slot order, with empty answers and
        exact repeats of an earlier candidate's text dropped (so possibly fewer than k).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        requests = [self._request(key, prompt, i, attempt)
                    for key, prompt in prompts for i in range(self.k)]
        results = chat_validated(self.backend, requests, _answer, max_attempts=1)
        out: list[list[Candidate]] = []
        for p in range(len(prompts)):
            seen: set[str] = set()
            mine: list[Candidate] = []
            for i in range(self.k):
                text = results[p * self.k + i].value
                if text is None or text in seen:
                    continue
                seen.add(text)
                mine.append(Candidate(text, *self.slot(i)))
            out.append(mine)
        return out

    def sampling(self) -> dict[str, object]:
        """Sampling values for provenance (seeds derive per candidate)."""
        return {"temperatures": self.temperatures, "top_p": self.top_p,
                "max_tokens": int(self.max_words * 2.2) + 40, "k": self.k}


class PromptGeneration(Operator):
    """Write ``count`` prompts of a task from its description, one request each.

    Requests differ by sampler seed only (``derived_seed(name, seed, i)``) at
    ``temperature``; answers are cleaned (a "Here is ...:" preamble, quotes and line breaks
    removed, one cut off at ``max_tokens`` trimmed to its last sentence) and exact or
    case-only repeats dropped, in order.

    Args:
        backend: the generator LLM.
        description: what the prompts are.
        unit: what one prompt is called.
        count: prompts asked for, >= 1.
        seed: master seed.
        temperature, top_p: sampling values (temperature 1.0 by default: variety).
        max_words: asked length of one prompt, in words.
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``count`` < 1.
    """

    name = "generate.prompts"
    version = "1"
    templates = {
        "system": "You write realistic {unit}s for a dataset. The {unit}s: {description}",
        "user": ("Write one new {unit}, of at most {max_words} words, as a real person would "
                 "write it. Write only the {unit} itself."),
    }

    def __init__(self, backend: ChatBackend, description: str, *, unit: str = "text",
                 count: int = 20, seed: int = 0, temperature: float = 1.0, top_p: float = 0.95,
                 max_words: int = 40, templates: Mapping[str, str] | None = None) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        self.use_templates(templates)
        self.backend, self.description, self.unit, self.count = backend, description, unit, count
        self.seed, self.temperature, self.top_p, self.max_words = (seed, temperature, top_p,
                                                                   max_words)

    @staticmethod
    def _clean(response: ChatResponse) -> tuple[str | None, str | None]:
        text, reason = _answer(response)
        if text is None:
            return None, reason
        text = " ".join(_PREAMBLE.sub("", text).split()).strip().strip('"').strip()
        return (text, None) if text else (None, "empty answer")

    def run(self) -> list[str]:
        """The prompts written, in request order, without repeats (possibly fewer than
        ``count``; none when every answer was empty).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        system = self.templates["system"].format(unit=self.unit, description=self.description)
        user = self.templates["user"].format(unit=self.unit, max_words=self.max_words)
        requests = [self.request(system, user, temperature=self.temperature, top_p=self.top_p,
                                 max_tokens=int(self.max_words * 2.2) + 20,
                                 seed=derived_seed(self.name, self.seed, i))
                    for i in range(self.count)]
        seen: set[str] = set()
        out: list[str] = []
        for result in chat_validated(self.backend, requests, self._clean, max_attempts=1):
            key = " ".join(str(result.value).lower().split())
            if result.value is not None and key not in seen:
                seen.add(key)
                out.append(result.value)
        return out
