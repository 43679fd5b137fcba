"""TarGEN step 1: contexts, the settings that give the data semantic diversity.

Gupta et al., arXiv 2310.17876, section 3 ("Generating contexts"): a zero-shot prompt
asks for a list of domains or settings in which instances of the task could occur.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed

ShortPhrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=60)]


class ContextList(BaseModel):
    """Answer schema: a list of short setting phrases."""

    contexts: list[ShortPhrase]


class ContextGeneration(Operator):
    """Ask the model for ``n`` distinct contexts for a task description.

    Asks in rounds of at most 10 (small models lose count in long lists), de-duplicates
    case-insensitively and stops at ``n`` or after ``3 * rounds`` calls.

    Args:
        backend: the LLM.
        description: the task description from the recipe.
        n: contexts wanted.
        unit: what one text is called in this task ("tweet", "legal clause").
        templates: overrides of :attr:`templates` (a recipe's ``templates`` section).
        seed: master seed (each round's sampler seed derives from it).
        temperature, top_p: sampling values.
    """

    name = "targen.contexts"
    version = "4"
    templates = {
        "system": "You are a helpful assistant. You answer in JSON.",
        "user": (
            "Texts to create: {description} Each one is a {unit}.\n{about}"
            "List {k} different settings where such texts could take place: places, "
            "communities, organisations or events. Each setting is a short phrase of 2 to 6 "
            "words. Make them varied.{avoid}\n"
            'Answer as JSON: {{"contexts": ["...", "..."]}}'
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        n: int,
        *,
        unit: str = "text",
        seed: int = 0,
        temperature: float = 0.9,
        top_p: float = 0.95,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.backend, self.description, self.n, self.unit = backend, description, n, unit
        self.use_templates(templates)
        self.seed, self.temperature, self.top_p = seed, temperature, top_p

    def run(self, label: str | None = None, label_description: str = "") -> list[str]:
        """Returns up to ``n`` distinct contexts (fewer if the model repeats itself).

        With ``label``, the contexts are settings for texts of that label (used when the
        label is the subject matter, so a context cannot contradict it).
        """
        return self.run_many({label: label_description})[label]

    def run_many(self, labels: Mapping[str | None, str]) -> dict[str | None, list[str]]:
        """:meth:`run` for each label (``None``: task-wide), with the requests of one
        round for every label sent together (so a batched backend decodes them at once).
        Each label's requests, seeds and answers are those :meth:`run` would make.

        A label left with no usable context after every round (the embedded 0.5B model
        sometimes answers only ``"Tech: computers, the internet,"``-style lists) gets the
        usable parts of its refused answers (what follows a colon), or else the parts of
        its own description (``"films, music and television"``), instead of failing the
        run in planning.

        Not settings, and dropped: an answer cut off by the 60-character limit or longer
        than 8 words (a sentence, not a setting); a piece of a sentence split across items
        (``"through the"``, ``"and to foster innovation"``); one whose every word is in the task
        description, unit or instruction (``"BBC News from the UK in 2004-2005"`` for a
        task described that way, or ``"Events"``: it makes every seed of its label
        generic); and, per label, one naming another label (``"Tech news"`` for
        business: its seeds would be about tech). A label left with fewer than
        half of ``n`` is topped up with the parts of its description, up to ``n``; task-wide
        contexts (no label) left with none keep what these checks dropped. On
        BBC News the length and description checks with the top-up took the labels'
        fewest contexts over seeds 13-16 from 1 to 3 and their fewest instance seeds from 5
        to 12 (``bench/plan_quality.py``)."""
        found: dict[str | None, dict[str, str]] = {label: {} for label in labels}
        refused: dict[str | None, list[str]] = {label: [] for label in labels}
        filtered: dict[str | None, dict[str, str]] = {label: {} for label in labels}
        rounds = -(-self.n // 10)
        for call in range(3 * rounds):
            todo = [label for label in labels if len(found[label]) < self.n]
            if not todo:
                break
            requests = [self._request(label, labels[label], found[label], call)
                        for label in todo]
            for label, result in zip(todo, chat_structured(self.backend, requests, ContextList),
                                     strict=True):
                for context in result.value.contexts if result.value else []:
                    if "," in context or ":" in context:
                        refused[label].append(context)
                        continue  # a list crammed into one item
                    unusable = (
                        len(context) >= 58 or len(context.split()) > 8  # a cut-off sentence
                        or _fragment(context)
                        or _copies(context, " ".join((self.description, self.unit,
                                                      self.templates["user"])))
                        or (label and _names_another(context, label, labels)))
                    into = filtered if unusable else found
                    into[label].setdefault(context.lower().rstrip("."), context.rstrip("."))
        for label in labels:
            if not found[label]:  # a label the model gave nothing usable for
                for context in _salvage(refused[label]):
                    found[label].setdefault(context.lower(), context)
            if not found[label] and not label:  # task-wide: no description to top up from
                found[label] = filtered[label]
            if label and len(found[label]) < -(-self.n // 2):
                for context in _pieces(labels[label]):
                    if len(found[label]) >= self.n:
                        break
                    found[label].setdefault(context.lower(), context)
        return {label: list(items.values())[: self.n] for label, items in found.items()}

    def _request(self, label: str | None, label_description: str, found: dict[str, str],
                 call: int):
        about = f"They are about {label} ({label_description}).\n" if label else ""
        k = min(10, self.n - len(found))
        avoid = ""
        if found:
            avoid = " Do not repeat these: " + "; ".join(list(found.values())[-10:]) + "."
        return self.request(
            self.templates["system"],
            self.templates["user"].format(
                description=self.description, unit=self.unit, about=about, k=k, avoid=avoid,
            ),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=40 + 25 * k,
            seed=derived_seed(self.name, self.seed, call, label),
        )


def _salvage(refused: list[str]) -> list[str]:
    """Usable contexts inside refused ones: ``"Tech: computers"`` gives ``"computers"``
    (the part after a colon, when it is not itself a list)."""
    out = []
    for context in refused:
        rest = context.rsplit(":", 1)[-1].strip().rstrip(".")
        if rest and "," not in rest and len(rest) > 2:
            out.append(rest)
    return out


def _pieces(label_description: str) -> list[str]:
    """The parts of a label's description (``"films, music and television"`` gives
    ``["films", "music", "television"]``): the contexts of last resort."""
    parts = re.split(r",|;|\band\b|\bor\b", label_description)
    return [p.strip().rstrip(".") for p in parts if len(p.strip()) > 2]


_JOINING = frozenset("a an the of to and or but for with from by in on at into through "
                     "that which as than".split())
_LEADING = _JOINING - {"a", "an", "the", "in", "on", "at"}


def _fragment(context: str) -> bool:
    """Whether ``context`` is a piece of a sentence split across list items ("through
    the", "and to foster innovation"): it ends with a joining word, or starts with one
    that cannot open a setting ("the internet" and "in London" can)."""
    words = re.findall(r"[a-z0-9]+", context.lower())
    return bool(words) and (words[-1] in _JOINING or words[0] in _LEADING)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2}


def _copies(context: str, prompt: str) -> bool:
    """Whether every word of ``context`` is in ``prompt`` (the task description, unit and
    instruction): a restatement of the task ("BBC News from the UK") or of the
    instruction ("Places", "Events"), not a setting."""
    words = _words(context)
    return bool(words) and words <= _words(prompt)


def _names_another(context: str, label: str, labels: Mapping[str | None, str]) -> bool:
    """Whether ``context`` names a label other than ``label`` (a word starting with that
    label's name: ``"Sports news"`` names ``sport``). Labels under 4 letters are not
    looked for (too many ordinary words start with them)."""
    words = re.findall(r"[a-z0-9]+", context.lower())
    others = [str(o).lower() for o in labels if o and o != label and len(str(o)) >= 4]
    return any(w.startswith(o) for o in others for w in words if not label.lower().startswith(o))
