"""Copy guard: reject a synthetic text that copies one of the user's real seed examples.

A generator shown real examples may copy them; a copied text teaches a student nothing
the seed did not, and it leaks the seed into the synthetic set. Jaccard similarity is the
wrong measure here: a 40-word copy out of a 400-word article shares under a tenth of the
article's shingles. The guard measures **containment** instead: the share of the synthetic
text's word 3-shingles (:func:`~synthloom.operators.filter.near_duplicates.shingles`) that
occur in one seed text, found exactly through an inverted index from shingle to seeds
(one dictionary lookup per shingle, whatever the number of seeds).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from synthloom.operators.filter.near_duplicates import shingles


@dataclass(frozen=True)
class Copy:
    """The seed a text copies: its id and the share of the text's shingles found in it."""

    key: str
    containment: float


class SeedCopyGuard:
    """Index seed texts; ``check(texts)`` names the seed each text copies, or None.

    Args:
        seeds: ``[(seed id, text)]``.
        containment: share of a text's word 3-shingles found in one seed at or above
            which the text copies that seed, in (0, 1].
        shingle_words: words per shingle.

    Raises:
        ValueError: ``containment`` outside (0, 1].
    """

    name = "filter.copy_guard"
    version = "2"

    def __init__(self, seeds: Sequence[tuple[str, str]], *, containment: float = 0.5,
                 shingle_words: int = 3) -> None:
        if not 0.0 < containment <= 1.0:
            raise ValueError(f"containment must be in (0, 1], got {containment}")
        self.containment, self.shingle_words = containment, shingle_words
        self.index: dict[str, set[str]] = {}
        for seed_id, text in seeds:
            for shingle in set(shingles(text, shingle_words)):
                self.index.setdefault(shingle, set()).add(seed_id)

    def check(self, texts: Sequence[str]) -> list[Copy | None]:
        """Per text, None or the :class:`Copy` with the seed it copies most."""
        out: list[Copy | None] = []
        for text in texts:
            own = set(shingles(text, self.shingle_words))
            hits = Counter(seed for s in own for seed in self.index.get(s, ()))
            if not own or not hits:
                out.append(None)
                continue
            seed_id, shared = min(hits.items(), key=lambda kv: (-kv[1], kv[0]))
            share = shared / len(own)
            out.append(Copy(seed_id, share) if share >= self.containment else None)
        return out
