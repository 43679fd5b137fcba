"""DiaSynth's dialogue plan (Suresh et al., arXiv 2409.19020, step 4): one dialogue per
persona pair (C(p, 2)) per subtopic, per topic, as draft records.

A topic's slots are taken round-robin over its subtopics, so when the recipe's ``n`` caps
the pairs, the dialogues still spread over every subtopic. Topics are strata: each draft
goes to the topic furthest below its quota that still has a slot, so rejections are made
up in their own topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.dialogue.parsing import speaker_names
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record


def dialogue_slots(topics: Sequence[str], subtopics: Mapping[str, list[str]] | None,
                   personas: Mapping[str, Mapping[str, list[str]]] | None,
                   per_subtopic: int) -> dict[str, list[dict[str, Any]]]:
    """DiaSynth's dialogue plan: per topic, one slot per persona pair (C(p, 2)) of each
    subtopic, taken round-robin over the subtopics (so the first slots of a topic spread
    over its subtopics).

    Args:
        topics: the topics.
        subtopics: ``{topic: [subtopic, ...]}``; None: no subtopics (slot subtopic None).
        personas: ``{topic: {subtopic or topic: [persona, ...]}}``; None, or a list of fewer
            than two: ``per_subtopic`` slots without personas.
        per_subtopic: slots per subtopic without personas.

    Returns:
        ``{topic: [{"subtopic": str | None, "subtopic_index": int, "pair": [i, j] | None,
        "personas": [a, b] | None}, ...]}``.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for topic in topics:
        lists = []
        subs: list[str | None] = list((subtopics or {}).get(topic) or [topic]) \
            if subtopics is not None else [None]
        for si, sub in enumerate(subs):
            found = ((personas or {}).get(topic) or {}).get(sub or topic) or []
            pairs = list(combinations(range(len(found)), 2))
            lists.append([{"subtopic": sub, "subtopic_index": si, "pair": [i, j],
                           "personas": [found[i], found[j]]} for i, j in pairs] if pairs else
                         [{"subtopic": sub, "subtopic_index": si, "pair": None,
                           "personas": None} for _ in range(per_subtopic)])
        longest = max(len(slots) for slots in lists)
        out[topic] = [slots[k] for k in range(longest) for slots in lists if k < len(slots)]
    return out


class DialoguePlanner(Operator):
    """Turns topics, subtopics and personas into dialogue drafts, slot by slot.

    Draft ``j`` of a topic is always slot ``j`` (for the same plan artifacts), so a resumed
    run re-plans identically.

    Args:
        task: task name.
        topics: the topics (strata).
        subtopics: ``{topic: [subtopic, ...]}`` or None (see :func:`dialogue_slots`).
        personas: ``{topic: {subtopic: [persona, ...]}}`` or None.
        per_subtopic: slots per subtopic without personas.
        seed: master seed.
        recipe_sha256: recorded in each draft's provenance (and seeds its plan id).
        operator: the name recorded in each draft's first provenance step.

    Attributes:
        slots: ``{topic: [slot, ...]}`` (see :func:`dialogue_slots`).
        used: drafts made per topic, as far as this object saw (:meth:`draft`).
    """

    name = "diasynth.plan"
    version = "1"
    templates: dict[str, str] = {}

    def __init__(self, task: str, topics: Sequence[str],
                 subtopics: Mapping[str, list[str]] | None,
                 personas: Mapping[str, Mapping[str, list[str]]] | None, *,
                 per_subtopic: int = 6, seed: int = 0, recipe_sha256: str = "",
                 operator: str = "dialogue.drafts") -> None:
        self.task, self.topics, self.seed = task, list(topics), seed
        self.recipe_sha256, self.operator = recipe_sha256, operator
        self.slots = dialogue_slots(self.topics, subtopics, personas, per_subtopic)
        self.used: dict[str, int] = {}

    def size(self) -> int:
        """Slots over every topic."""
        return sum(len(s) for s in self.slots.values())

    def next_topics(self, quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        """Up to ``k`` topics, each to the topic furthest below its quota (``counts``:
        accepted so far) that still has a slot; ties go to the topic listed first."""
        counts, used, out = dict(counts), dict(self.used), []
        order = list(quotas)
        for _ in range(k):
            open_ = [t for t in order if quotas[t] > counts.get(t, 0)
                     and used.get(t, 0) < len(self.slots.get(t, []))]
            if not open_:
                break
            topic = max(open_, key=lambda t: (quotas[t] - counts.get(t, 0), -order.index(t)))
            counts[topic] = counts.get(topic, 0) + 1
            used[topic] = used.get(topic, 0) + 1
            out.append(topic)
        return out

    def draft(self, index: int, topic: str, slot_index: int) -> Record:
        """Draft number ``index``: slot ``slot_index`` of ``topic``, with ``inputs``
        ``{"topic", "subtopic", "personas"}`` (the last two when the slot has them), the
        topic and subtopic as ``plan.taxonomy_path`` and the speaker names in its step's
        ``detail["speakers"]``. Past the topic's last slot (a resumed process that has not
        seen the earlier drafts of the topic) the draft is marked ``detail["exhausted"]``.
        """
        self.used[topic] = max(self.used.get(topic, 0), slot_index + 1)
        plan_id = f"plan-{derived_seed(self.recipe_sha256, self.seed, index):010d}-{index}"
        slots = self.slots.get(topic, [])
        detail: dict[str, Any] = {"index": index, "slot": slot_index}
        inputs: dict[str, Any] = {"topic": topic}
        path = [topic]
        if slot_index >= len(slots):
            detail["exhausted"] = True
        else:
            slot = slots[slot_index]
            personas = (slot["personas"][0], slot["personas"][1]) if slot["personas"] else None
            key = (self.seed,) if personas else (topic, slot["subtopic"], slot_index, self.seed)
            detail.update(subtopic_index=slot["subtopic_index"], pair=slot["pair"],
                          speakers=list(speaker_names(personas, *key)))
            if slot["subtopic"]:
                inputs["subtopic"] = slot["subtopic"]
                path.append(slot["subtopic"])
            if personas:
                inputs["personas"] = list(personas)
        step = OperatorStep(operator=self.operator, verdict="planned", detail=detail)
        return Record(id=plan_id, task=self.task, kind="dialogue", inputs=inputs,
                      origin=Origin.synthetic,
                      provenance=Provenance(recipe_sha256=self.recipe_sha256,
                                            plan=Plan(id=plan_id, taxonomy_path=path),
                                            operators=[step]))


__all__ = ["DialoguePlanner", "dialogue_slots"]
