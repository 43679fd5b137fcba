"""Sampling generation targets over mixes of several taxonomies (Simula, arXiv 2603.29791).

A *mix* is one leaf from each taxonomy, e.g. ``{"topic": ("football", "transfers"),
"audience": ("newcomers",)}``. Strategies:

- ``uniform``: every leaf of a factor equally likely, factors independent;
- ``weighted``: leaves in proportion to the product of node weights along their path;
- ``quota``: per factor, leaves are dealt from a shuffled deck, so every leaf is used once
  before any is used twice (reshuffled per round); factors are dealt independently.

Mix number ``i`` depends only on the seed and ``i``, so a run that plans in chunks, or
resumes after a crash, gets the same mixes as one that plans at once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Literal

from synthloom.operators.base import derived_seed
from synthloom.operators.plan.taxonomy import Taxonomy

Strategy = Literal["uniform", "weighted", "quota"]
Mix = dict[str, tuple[str, ...]]


class MixSampler:
    """Mix number ``i`` for any ``i``, with no state: a resumed run plans the same mixes.

    Args:
        taxonomies: at least one taxonomy.
        strategy: ``uniform``, ``weighted`` or ``quota`` (see the module docstring).
        seed: random seed.

    Raises:
        ValueError: no taxonomies or an unknown strategy.
    """

    def __init__(self, taxonomies: Sequence[Taxonomy], strategy: Strategy = "quota",
                 seed: int = 0) -> None:
        if not taxonomies:
            raise ValueError("need at least one taxonomy")
        if strategy not in ("uniform", "weighted", "quota"):
            raise ValueError(f"unknown strategy {strategy!r}; use uniform, weighted or quota")
        self.strategy, self.seed = strategy, seed
        self.leaves = {t.factor: t.leaves() for t in taxonomies}

    def _rng(self, *parts: object) -> random.Random:
        return random.Random(derived_seed("mix", self.seed, self.strategy, *parts))

    def _leaves_for(self, factor: str, label: str | None) -> tuple[list, bool]:
        """The factor's leaves; only those under ``label`` if its top level names it."""
        leaves = self.leaves[factor]
        if label is not None:
            under = [(p, w) for p, w in leaves if p[0] == label]
            if under:
                return under, True
        return leaves, False

    def _one(self, factor: str, i: int, label: str | None, label_index: int | None
             ) -> tuple[str, ...]:
        leaves, keyed = self._leaves_for(factor, label)
        if keyed and label_index is not None:
            i = label_index
        scope = (factor, label) if keyed else (factor,)
        if self.strategy == "uniform":
            return self._rng(*scope, i).choice(leaves)[0]
        if self.strategy == "weighted":
            return self._rng(*scope, i).choices([p for p, _ in leaves],
                                                [w for _, w in leaves])[0]
        round_, position = divmod(i, len(leaves))
        deck = [p for p, _ in leaves]
        self._rng(*scope, "round", round_).shuffle(deck)
        return deck[position]

    def mix(self, i: int, label: str | None = None, label_index: int | None = None) -> Mix:
        """Mix number ``i`` (0-based). For a label-keyed factor (its top-level nodes include
        ``label``), the leaf comes from under ``label``, and quota decks count
        ``label_index`` (the draft's number within its label) instead of ``i``."""
        return {factor: self._one(factor, i, label, label_index) for factor in self.leaves}

    def sample(self, n: int, start: int = 0) -> list[Mix]:
        """Mixes ``start`` to ``start + n - 1`` (no label)."""
        return [self.mix(i) for i in range(start, start + n)]


def describe(mix: Mix) -> str:
    """A mix as prompt text: one ``factor: a > b`` line per factor."""
    return "\n".join(f"{factor}: {' > '.join(path)}" for factor, path in mix.items())
