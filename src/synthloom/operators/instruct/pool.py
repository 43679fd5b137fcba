"""The instruction pool the ``instruction`` kind's plan steps build and its drafts read.

Self-Instruct (arXiv 2212.10560), Evol-Instruct (arXiv 2304.12244) and persona-driven
prompting (Persona Hub, arXiv 2406.20094) each turn a pool of instructions into a larger
or harder one. They share one item type, :class:`PoolItem`, saved as JSON in the run's
``plan/`` folder, and one result type, :class:`PoolResult`, which also counts what each
filter removed (the "share removed by each filter" of a recipe comparison).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PoolItem:
    """One instruction of a pool.

    Attributes:
        id: stable id within the run (``seed-3``, ``si-17``, ``evol-2-5``, ``persona-4``).
        instruction: the task, as a user would state it.
        input: the data the instruction works on ("" when it needs none).
        output: a response written with the instruction (Self-Instruct's instance output,
            Evol-Instruct's response to the evolved instruction), or None.
        method: how it was made: ``seed``, ``file``, ``self_instruct``, ``evol_instruct``,
            ``persona``.
        parents: ids of the items it came from (the evolved parent; the in-context
            instructions it was generated with).
        operation: the Evol-Instruct operation that made it (``add_constraints``,
            ``breadth``...), or None.
        generation: evolution depth (0 for an item that was not evolved).
        persona: the persona it was written for or by, or None.
        classification: whether the task has a small set of output labels (Self-Instruct's
            classification-task identification), or None when not asked.
    """

    id: str
    instruction: str
    input: str = ""
    output: str | None = None
    method: str = "seed"
    parents: tuple[str, ...] = ()
    operation: str | None = None
    generation: int = 0
    persona: str | None = None
    classification: bool | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (``parents`` as a list)."""
        out = asdict(self)
        out["parents"] = list(self.parents)
        return out

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> PoolItem:
        """The item :meth:`to_json` wrote (unknown keys ignored)."""
        known = {k: v for k, v in value.items() if k in cls.__dataclass_fields__}
        known["parents"] = tuple(known.get("parents") or ())
        return cls(**known)


@dataclass
class PoolResult:
    """What a pool builder made: the items kept, in order, and what it removed.

    Attributes:
        items: kept items, in the order they were made.
        removed: filter or reason name -> how many candidates it removed (``rouge_l``,
            ``keyword``, ``length``, ``no_information_gain``, ``refusal``...).
        candidates: candidates considered (kept + removed).
    """

    items: list[PoolItem] = field(default_factory=list)
    removed: Counter[str] = field(default_factory=Counter)
    candidates: int = 0

    def remove(self, reason: str) -> None:
        """Count one candidate removed for ``reason``."""
        self.removed[reason] += 1
        self.candidates += 1

    def keep(self, item: PoolItem) -> None:
        """Keep one candidate."""
        self.items.append(item)
        self.candidates += 1

    def to_json(self) -> dict[str, Any]:
        """``{"items": [...], "removed": {reason: count}, "candidates": int}``."""
        return {"items": [i.to_json() for i in self.items],
                "removed": dict(sorted(self.removed.items())), "candidates": self.candidates}
