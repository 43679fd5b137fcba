"""DiaSynth's layers (Suresh et al., arXiv 2409.19020, section 3): subtopics of each topic,
then personas for each subtopic, each from a few-shot list prompt and kept only if its
ROUGE-L F-measure with every item already kept for the same topic (or subtopic) is below a
threshold (0.5 in the paper's code).

A list holds at most 20 items, so the filter is an exact scan (at most 190 comparisons)
with the scorer and tokens of :class:`~synthloom.operators.instruct.rouge_index.RougeLIndex`
(rouge_score, no stemming), the same ROUGE-L the instruction pools use; its LSH index pays
off only at thousands of items. When one answer gives fewer than ``count`` items that
pass, the prompt is sent again (``rounds``) with the kept items listed as ones to avoid.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from synthloom.llm.base import BackendError, ChatBackend
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.dialogue.parsing import drawn_name, parse_list, speaker_name
from synthloom.operators.instruct.rouge_index import RougeLIndex


@dataclass
class ListSubject:
    """One list to write: ``key`` names it in the result (``(topic,)`` or ``(topic,
    subtopic)``), ``text`` is what the prompt shows."""

    key: tuple[str, ...]
    text: str


@dataclass
class ListResult:
    """Lists written for several subjects.

    Attributes:
        items: ``"/".join(key)`` -> kept items, in order.
        dropped: one row per repeat dropped: ``{"list", "text", "duplicate_of",
            "rouge_l"}`` (``rouge_l`` 1.0 for an exact or case-only repeat).
        removed: reason -> lines dropped (``duplicate``, ``near_duplicate``, ``too_long``,
            ``too_short``, ``cut_off``, ``extra`` beyond ``count``, ``empty`` answers).
        requests: requests sent.
    """

    items: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[dict[str, Any]] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    #: ``"/".join(key)`` -> key, for the subjects asked
    keys: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)


class RougeFilter:
    """DiaSynth's repeat filter over one list: an item is kept only if its ROUGE-L F with
    every kept item is below ``threshold``.

    Args:
        threshold: ROUGE-L F at or above which an item repeats a kept one, in (0, 1].

    Raises:
        ValueError: ``threshold`` outside (0, 1].
    """

    def __init__(self, threshold: float = 0.5) -> None:
        self.index = RougeLIndex(threshold)
        self.threshold = threshold

    def repeat_of(self, text: str, kept: Sequence[str]) -> tuple[str, float] | None:
        """The kept item ``text`` repeats (exact ROUGE-L F >= threshold, the highest), as
        ``(item, F)``, or None."""
        best: tuple[str, float] | None = None
        for other in kept:
            f = 1.0 if other.casefold() == text.casefold() else self.index.score(other, text)
            if f >= self.threshold and (best is None or f > best[1]):
                best = (other, f)
        return best

    def copy_of(self, text: str, examples: Sequence[str]) -> tuple[str, float] | None:
        """The few-shot example ``text`` copies, as ``(example, R)``, or None: R is the
        ROUGE-L recall of the example in ``text`` (the share of the example's words that
        ``text`` repeats in order), >= threshold. Recall rather than F, because a small
        model copies an example and then goes on writing."""
        scorer = self.index._scorer
        best: tuple[str, float] | None = None
        for example in examples:
            recall = float(scorer.score(example, text)["rougeL"].recall)
            if recall >= self.threshold and (best is None or recall > best[1]):
                best = (example, recall)
        return best


class _ListGeneration(Operator):
    """A few-shot list prompt per subject, filtered by :class:`RougeFilter`.

    Args:
        backend: the generator LLM.
        count: items wanted per subject, 1..20.
        threshold: ROUGE-L F at or above which an item is a repeat.
        rounds: requests per subject at most (later ones list the kept items to avoid).
        temperature, top_p: sampling (the paper: temperature 0.1).
        retry_temperature: the temperature of the later rounds (at 0.1 the 1.5B model
            answered the second round with the first round's items again).
        seed: master seed.
        templates: overrides of :attr:`templates`.
        scope: how many leading parts of a subject's key share one filter (and one list
            of items to avoid): None, the whole key (each list apart, as in the paper);
            1, every list under the same first part, e.g. the personas of all subtopics
            of one topic, so that one person is not written again for the next subtopic.

    Raises:
        ValueError: ``count`` outside 1..20, ``rounds`` < 1, ``scope`` < 1, or a bad
            threshold.
    """

    name = "diasynth.list"
    version = "3"
    templates: dict[str, str] = {}
    max_words: ClassVar[int] = 20
    min_words: ClassVar[int] = 1
    words_per_item: ClassVar[int] = 20
    #: the items of the prompt's few-shot example: an answer item that copies one is dropped
    example_items: ClassVar[tuple[str, ...]] = ()

    def __init__(self, backend: ChatBackend, *, count: int, threshold: float = 0.5,
                 rounds: int = 2, temperature: float = 0.1, retry_temperature: float = 0.7,
                 top_p: float = 0.95,
                 seed: int = 0, templates: Mapping[str, str] | None = None,
                 scope: int | None = None) -> None:
        if not 1 <= count <= 20:
            raise ValueError(f"count must be between 1 and 20, got {count}")
        if rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {rounds}")
        if scope is not None and scope < 1:
            raise ValueError(f"scope must be at least 1, got {scope}")
        self.scope = scope
        self.use_templates(templates)
        self.backend, self.count, self.rounds = backend, count, rounds
        self.filter = RougeFilter(threshold)
        self.temperature, self.top_p, self.seed = temperature, top_p, seed
        self.retry_temperature = retry_temperature

    def _in_scope(self, subject: ListSubject, out: ListResult) -> list[str]:
        """The items kept so far for every subject sharing ``subject``'s filter scope."""
        if self.scope is None:
            return out.items["/".join(subject.key)]
        prefix = subject.key[:self.scope]
        return [item for name, items in out.items.items()
                if out.keys[name][:self.scope] == prefix for item in items]

    def _user(self, subject: ListSubject, kept: list[str]) -> str:
        listed = "".join(f"\n- {item}" for item in kept)  # one a line: an echo parses apart
        avoid = self.templates["avoid"].format(listed=listed) if kept else ""
        return self.templates["user"].format(subject=subject.text, count=self.count,
                                             avoid=avoid)

    def run(self, subjects: Sequence[ListSubject]) -> ListResult:
        """Lists for ``subjects``, all requests of a round in one batch.

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        out = ListResult(items={"/".join(s.key): [] for s in subjects},
                         keys={"/".join(s.key): s.key for s in subjects})
        pending = list(subjects)
        for round_ in range(self.rounds):
            if not pending:
                break
            requests = [self.request(
                self.templates["system"], self._user(s, self._in_scope(s, out)),
                temperature=self.retry_temperature if round_ else self.temperature,
                top_p=self.top_p, max_tokens=self.count * self.words_per_item * 2 + 40,
                seed=derived_seed(self.name, self.seed, *s.key, round_)) for s in pending]
            answers = self.backend.chat(requests)
            out.requests += len(requests)
            still = []
            for subject, answer in zip(pending, answers, strict=True):
                if isinstance(answer, BackendError):
                    raise answer
                self._keep(subject, answer.text, answer.finish_reason == "length", out)
                if len(out.items["/".join(subject.key)]) < self.count:
                    still.append(subject)
            pending = still
        return out

    def _keep(self, subject: ListSubject, text: str, cut_off: bool, out: ListResult) -> None:
        name = "/".join(subject.key)
        kept = out.items[name]
        items, removed = parse_list(text, max_words=self.max_words, min_words=self.min_words,
                                    cut_off=cut_off)
        out.removed.update(removed)
        if not items:
            out.removed["empty"] += 1
        for item in items:
            if len(kept) >= self.count:
                out.removed["extra"] += 1
                continue
            copied = self.filter.copy_of(item, self.example_items) \
                if self.templates["user"] == type(self).templates["user"] else None
            if copied is not None:
                out.removed["copies_example"] += 1
                out.dropped.append({"list": name, "text": item, "copy_of_example": copied[0],
                                    "rouge_l_recall": round(copied[1], 4)})
                continue
            repeat = self.filter.repeat_of(item, self._in_scope(subject, out))
            if repeat is None:
                kept.append(item)
                continue
            exact = repeat[1] >= 1.0 and repeat[0].casefold() == item.casefold()
            out.removed["duplicate" if exact else "near_duplicate"] += 1
            out.dropped.append({"list": name, "text": item, "duplicate_of": repeat[0],
                                "rouge_l": round(repeat[1], 4)})


class SubtopicGeneration(_ListGeneration):
    """DiaSynth step 2: ``count`` (m <= 20) subtopics per topic from a few-shot list
    prompt (temperature 0.1), each kept only if its ROUGE-L F with every kept subtopic of
    the same topic is below ``threshold``. See :class:`_ListGeneration` for the arguments.
    """

    name = "diasynth.subtopics"
    max_words = 20
    words_per_item = 12
    templates = {
        "system": "You break a topic into specific, different subtopics that two people "
                  "could talk about.",
        "user": ("Topic: cooking at home\nSubtopics:\n"
                 "1. choosing a quick dinner after a long day\n"
                 "2. rescuing a sauce that went lumpy\n"
                 "3. sharing kitchen chores with a flatmate\n"
                 "4. planning a meal for guests with food allergies\n\n"
                 "Topic: {subject}\n{avoid}Write {count} subtopics of this topic, one per "
                 "line, numbered, each a short phrase and each different from the others."
                 "\nSubtopics:"),
        "avoid": "Already listed (write different ones):{listed}\n",
    }
    example_items = ("choosing a quick dinner after a long day",
                     "rescuing a sauce that went lumpy", "sharing kitchen chores with a flatmate",
                     "planning a meal for guests with food allergies")


class DialoguePersonas(_ListGeneration):
    """DiaSynth step 3: ``count`` (p <= 20) personas per subtopic from a few-shot list
    prompt, same filter as the subtopics. Each persona is asked to start with a first
    name (the speaker's name in the dialogue); :func:`distinct_names` then gives a new
    name to a persona whose name its topic already uses (qwen2.5-coder-1.5b named 11 of 16
    personas over 6 subtopics John or Sarah). Asked for personas without names, the same
    model wrote the prompt's three example people back in 31 of 33 answers' items. Pass
    ``scope=1`` to filter each topic's personas together, across its subtopics (the
    pipeline step's default). See :class:`_ListGeneration` for the arguments.
    """

    name = "diasynth.personas"
    version = "4"
    max_words = 60
    min_words = 3
    words_per_item = 40
    templates = {
        "system": "You invent realistic, varied people.",
        "user": ("Subject: choosing plants for a small balcony\nPeople:\n"
                 "1. Maya, a 34-year-old nurse who works night shifts and wants plants that "
                 "need little care.\n"
                 "2. Tom, a 71-year-old retired carpenter who has grown vegetables all his "
                 "life and loves giving advice.\n"
                 "3. Lena, a 22-year-old student on a tight budget, shy but curious.\n\n"
                 "Subject: {subject}\n{avoid}Write {count} different people who could have a "
                 "conversation about this subject, one per line, numbered. Start each with "
                 "a first name and a comma, then give their age, occupation, situation and "
                 "personality in one sentence.\nPeople:"),
        "avoid": "Already listed (write different people):{listed}\n",
    }
    example_items = ("Maya, a 34-year-old nurse who works night shifts and wants plants that "
                     "need little care.",
                     "Tom, a 71-year-old retired carpenter who has grown vegetables all his "
                     "life and loves giving advice.",
                     "Lena, a 22-year-old student on a tight budget, shy but curious.")


def distinct_names(people: Mapping[str, Mapping[str, Sequence[str]]], seed: int
                   ) -> tuple[dict[str, dict[str, list[str]]], list[dict[str, str]]]:
    """Personas renamed so that no first name appears twice within a topic.

    A persona that starts with a name (``"John, 35, ..."``,
    :func:`~synthloom.operators.dialogue.parsing.speaker_name`) already used by an earlier
    persona of its topic gets a name from :data:`~synthloom.operators.dialogue.parsing.
    NAMES` that the topic does not use yet (drawn with a seed from ``seed`` and the
    persona, :func:`~synthloom.operators.dialogue.parsing.drawn_name`; when all are used,
    the least used), written in place of the old one. A
    persona without a leading name is left as it is (the speaker's name is drawn later).

    Args:
        people: ``{topic: {subtopic: [persona, ...]}}``.
        seed: master seed.

    Returns:
        ``(renamed people, [{"from": persona, "to": renamed persona}, ...])``.
    """
    out: dict[str, dict[str, list[str]]] = {}
    renamed: list[dict[str, str]] = []
    for topic, by_subtopic in people.items():
        used: Counter[str] = Counter()
        out[topic] = {}
        for subtopic, personas in by_subtopic.items():
            kept = []
            for persona in personas:
                name = speaker_name(persona)
                if name is not None and used[name.casefold()]:
                    new = drawn_name(used, "dialogue.names", seed, topic, persona)
                    at = persona.index(name)
                    renamed.append({"from": persona,
                                    "to": persona[:at] + new + persona[at + len(name):]})
                    persona, name = renamed[-1]["to"], new
                if name is not None:
                    used[name.casefold()] += 1
                kept.append(persona)
            out[topic][subtopic] = kept
    return out, renamed


def persona_lists(keys: Sequence[tuple[str, str]], source: str, count: int, seed: int, *,
                  generated: Mapping[str, list[str]] | None = None,
                  pool: Sequence[str] = ()) -> tuple[dict[str, dict[str, list[str]]],
                                                     list[str]]:
    """The personas of each ``(topic, subtopic)`` key, from one source.

    Args:
        keys: ``(topic, subtopic)`` pairs (subtopic = topic without subtopics).
        source: ``generated`` (``generated["topic/subtopic"]``, a list short of two filled
            with sampled personas), ``sampled`` (synthloom's persona variables,
            :func:`~synthloom.operators.instruct.persona_hub.sampled_personas`) or ``pool``
            (``count`` drawn from ``pool``).
        count: personas per key.
        seed: master seed (each key's draw derives from it).

    Returns:
        ``({topic: {subtopic: [persona, ...]}}, ["topic/subtopic" filled by sampling])``.
    """
    from synthloom.operators.instruct.persona_hub import sampled_personas

    def sampled(t: str, s: str) -> list[str]:
        return sampled_personas(count, derived_seed("dialogue.personas", seed, t, s))

    people: dict[str, dict[str, list[str]]] = {}
    fallback = []
    for t, s in keys:
        if source == "pool":
            rng = random.Random(derived_seed("dialogue.personas", seed, t, s))
            found = rng.sample(list(pool), min(count, len(pool)))
        elif source == "sampled":
            found = sampled(t, s)
        else:
            found = list((generated or {}).get(f"{t}/{s}", []))
            if len(found) < 2:  # too few for a pair
                fallback.append(f"{t}/{s}")
                found += [p for p in sampled(t, s) if p not in found][:count - len(found)]
        people.setdefault(t, {})[s] = found
    return people, fallback


__all__ = ["DialoguePersonas", "ListResult", "ListSubject", "RougeFilter",
           "SubtopicGeneration", "distinct_names", "persona_lists"]
