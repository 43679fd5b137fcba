"""Copy guard: reject a synthetic text that copies one of the user's real seed examples.

A generator shown real examples may copy them; a copied text teaches a student nothing
the seed did not, and it leaks the seed into the synthetic set. The seed texts are cut
into overlapping windows of about the synthetic texts' length (so a 40-word copy out of
a 400-word article still has a high Jaccard similarity with its window), indexed once
with MinHash LSH (and optionally embedding cosine) through
:class:`~synthloom.operators.filter.near_duplicates.NearDuplicateFilter`; each synthetic
text is queried and never joins the index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synthloom.operators.filter.near_duplicates import Collision, NearDuplicateFilter


def windows(text: str, size: int) -> list[str]:
    """``text`` cut into windows of ``size`` words, each starting ``size // 2`` words after
    the previous one; a text of at most ``size`` words is one window."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)]
    step = max(1, size // 2)
    return [" ".join(words[i:i + size]) for i in range(0, len(words) - size // 2, step)]


class SeedCopyGuard:
    """Index seed texts; ``check(texts)`` names the seed each text copies, or None.

    Args:
        seeds: ``[(seed id, text)]``.
        jaccard: estimated Jaccard similarity of word 3-shingles (text against a seed
            window) at or above which a text copies the seed; None turns MinHash off.
        cosine: MiniLM cosine at or above which it does; None turns embeddings off.
        window_words: words per seed window.
        seed: MinHash seed.
        embedder: as :class:`NearDuplicateFilter`.
    """

    name = "filter.copy_guard"
    version = "1"

    def __init__(self, seeds: Sequence[tuple[str, str]], *, jaccard: float | None = 0.5,
                 cosine: float | None = None, window_words: int = 50, seed: int = 0,
                 embedder: Any = None) -> None:
        self.index = NearDuplicateFilter(jaccard=jaccard, cosine=cosine, seed=seed,
                                         embedder=embedder)
        texts, keys = [], []
        for seed_id, text in seeds:
            for window in windows(text, window_words):
                texts.append(window)
                keys.append(seed_id)
        if texts:
            self.index.check(texts, keys, index="always")

    def check(self, texts: Sequence[str]) -> list[Collision | None]:
        """Per text, None or the :class:`Collision` with the seed (``key`` = seed id)."""
        return self.index.check(texts, [""] * len(texts), index="never")
