"""An index answering "is this text within ROUGE-L F >= t of any text kept so far?".

Self-Instruct (Wang et al., arXiv 2212.10560, section 2.3) keeps a new instruction only if
its ROUGE-L (Lin 2004, "ROUGE: A Package for Automatic Evaluation of Summaries") against
every instruction already in the pool is below 0.7. Its reference code compares each new
instruction with the whole pool, O(N) longest-common-subsequence computations per
candidate; at tens of thousands of instructions that dominates a run. :class:`RougeLIndex`
finds the same pairs through MinHash LSH and computes exact ROUGE-L only on the few
candidates LSH returns.

Why unigram MinHash finds every ROUGE-L pair. Let ``a`` and ``b`` be token sequences of
lengths ``m`` and ``n`` with longest common subsequence ``l``, so ROUGE-L
``F = 2l / (m + n)``. The tokens of the LCS are common to both texts as a multiset, so the
multiset Jaccard similarity ``J = |a & b| / |a | b| >= l / (m + n - l) = F / (2 - F)``:
``F >= 0.7`` implies ``J >= 0.538``. MinHash estimates set Jaccard, so tokens are numbered
by occurrence (``the``, ``the#2``...), which makes set Jaccard equal multiset Jaccard and
the bound exact (without numbering, ``x x x x y`` and ``x x x x z`` have ``F = 0.8`` but set
Jaccard 1/3). The bound holds for texts of any length, so short texts need no bucket of
their own. Candidates are LSH hits whose MinHash-estimated Jaccard is at least
``candidate_jaccard`` (default: the bound minus 0.1, 0.438 for ``t = 0.7``; the estimate's
standard deviation with 128 permutations is about 0.044 at J = 0.54, so a pair at the bound
passes with probability ~0.99). Bands come from
:func:`~synthloom.operators.filter.near_duplicates.lsh_bands` at the bound with recall 0.9:
for ``t = 0.7`` and 128 permutations, 32 bands of 4 rows, which makes a pair at the bound a
candidate with probability 0.94, one at J = 0.6 with 0.99 and one at J = 0.7 with 0.9998,
while an unrelated pair at J = 0.2 becomes one with probability 0.05 (it is then dropped by
the estimated-Jaccard check, no exact comparison). Pairs at the bound do occur (every
shared token on the LCS, equal lengths), so recall is a little below 1; see below.

Measured with the generator of ``tests/unit/test_rouge_index.py`` (8 sets of 300
near-paraphrases of 20 instructions, 6-24 words with function words, so many pairs sit
just above 0.7): of 6,829 pairs at ROUGE-L >= 0.7 found by brute force, the index made
6,776 candidates (pair recall 0.992; every missed pair had ROUGE-L below 0.79); as a
filter, each text looked up among the earlier ones found a match for 1,500 of the 1,505
texts that had one (query recall 0.997, worst set 0.985), always the best match, with
about 5 exact comparisons per query against 150 for a scan. ``bands=64`` (2 rows) found
18,998 of 18,999 pairs in a similar test, but on 20,000 Zipf-distributed instructions LSH
then returned 16% of the index per query (0.25% with 32 bands) and queries were 6x
slower. Streaming 2,000 diverse instructions made 45 exact comparisons in all (a scan:
about 2,000,000).

Tokens are rouge_score's (lower-cased ``[a-z0-9]+`` runs, no stemming), so a text with
no such token (e.g. all non-ASCII) has ROUGE-L 0 with everything: ``find`` returns None
for it and it is counted in ``len`` but not indexed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rouge_score import rouge_scorer, tokenizers

from synthloom.operators.filter.near_duplicates import lsh_bands


def jaccard_bound(threshold: float) -> float:
    """The least multiset Jaccard similarity of two token sequences whose ROUGE-L F-measure
    is at least ``threshold`` (``F / (2 - F)``; 0.538 for 0.7)."""
    return threshold / (2.0 - threshold)


def numbered_tokens(tokens: list[str]) -> list[str]:
    """``tokens`` as a set whose Jaccard equals the multiset Jaccard: the k-th occurrence
    (k >= 2) of a token becomes ``token#k``."""
    seen: Counter[str] = Counter()
    out = []
    for token in tokens:
        seen[token] += 1
        out.append(token if seen[token] == 1 else f"{token}#{seen[token]}")
    return out


class RougeLIndex:
    """Streaming ROUGE-L near-duplicate index: MinHash LSH candidates, exact ROUGE-L check.

    Args:
        threshold: ROUGE-L F-measure at or above which two texts are too similar, in (0, 1].
        num_perm: MinHash permutations (4 bytes each per kept text).
        candidate_jaccard: least MinHash-estimated Jaccard of numbered unigram sets for an
            LSH hit to get an exact comparison, in [0, 1]; None uses
            ``jaccard_bound(threshold) - 0.1`` (0.438 for 0.7).
        bands: LSH bands (``num_perm`` divisible by it); None picks
            ``lsh_bands(jaccard_bound(threshold), num_perm)`` (32 for 0.7 and 128).
        seed: MinHash seed.

    Attributes:
        exact_comparisons: exact ROUGE-L computations done by :meth:`find`.
        queries: calls of :meth:`find`.

    Raises:
        ValueError: ``threshold`` outside (0, 1], ``candidate_jaccard`` outside [0, 1], or
            ``num_perm`` not divisible by ``bands``.
    """

    def __init__(self, threshold: float = 0.7, *, num_perm: int = 128,
                 candidate_jaccard: float | None = None, bands: int | None = None,
                 seed: int = 0) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if candidate_jaccard is None:
            candidate_jaccard = max(0.0, jaccard_bound(threshold) - 0.1)
        if not 0.0 <= candidate_jaccard <= 1.0:
            raise ValueError(f"candidate_jaccard must be in [0, 1], got {candidate_jaccard}")
        if bands is None:
            bands = lsh_bands(jaccard_bound(threshold), num_perm)
        if num_perm % bands:
            raise ValueError(f"num_perm {num_perm} is not divisible by bands {bands}")
        from rensa import RMinHashLSH

        self.threshold, self.candidate_jaccard = threshold, candidate_jaccard
        self.num_perm, self.bands, self.seed = num_perm, bands, seed
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self._tokenizer = tokenizers.DefaultTokenizer(use_stemmer=False)
        self._lsh = RMinHashLSH(threshold=candidate_jaccard, num_perm=num_perm,
                                num_bands=bands)
        self._hashes: list[Any] = []  # RMinHash of indexed texts, by LSH id
        self._keys: list[str] = []  # key of each LSH id
        self._texts: list[str] = []  # text of each LSH id
        self._ids: dict[str, list[int]] = {}  # key -> its LSH ids
        self._live = 0  # indexed texts not removed
        self._unindexed = 0  # texts without tokens
        self._last: tuple[str, Any] | None = None  # (text, minhash) of the last query
        self.exact_comparisons = 0
        self.queries = 0

    def tokens(self, text: str) -> list[str]:
        """rouge_score's tokens of ``text`` (no stemming)."""
        return self._tokenizer.tokenize(text)

    def _minhash(self, text: str) -> Any | None:
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        from rensa import RMinHash

        tokens = self.tokens(text)
        minhash = (RMinHash.from_token_sets([numbered_tokens(tokens)], self.num_perm,
                                            self.seed)[0] if tokens else None)
        self._last = (text, minhash)
        return minhash

    def score(self, a: str, b: str) -> float:
        """ROUGE-L F-measure of two texts (rouge_score, no stemming; symmetric)."""
        return float(self._scorer.score(a, b)["rougeL"].fmeasure)

    def find(self, text: str) -> tuple[str, float] | None:
        """The kept text most similar to ``text`` with ROUGE-L F >= ``threshold``, as
        ``(key, F)``, or None when there is none (up to LSH's misses, see the module
        docstring)."""
        self.queries += 1
        minhash = self._minhash(text)
        if minhash is None or not self._live:
            return None
        best: tuple[str, float] | None = None
        for i in self._lsh.query(minhash):
            if minhash.jaccard(self._hashes[i]) < self.candidate_jaccard:
                continue
            self.exact_comparisons += 1
            f = self.score(self._texts[i], text)
            if f >= self.threshold and (best is None or f > best[1]):
                best = (self._keys[i], f)
        return best

    def add(self, key: str, text: str) -> None:
        """Keep ``text`` under ``key`` (no check: call :meth:`find` first to filter)."""
        minhash = self._minhash(text)
        if minhash is None:
            self._unindexed += 1
            return
        self._ids.setdefault(key, []).append(len(self._hashes))
        self._lsh.insert(len(self._hashes), minhash)
        self._hashes.append(minhash)
        self._keys.append(key)
        self._texts.append(text)
        self._live += 1

    def remove(self, key: str) -> bool:
        """Forget the text(s) kept under ``key`` (e.g. a kept instruction dropped later).

        Returns:
            True when ``key`` had indexed text (texts without tokens are not tracked by key).
        """
        ids = self._ids.pop(key, [])
        for i in ids:
            self._lsh.remove(i)
        self._live -= len(ids)
        return bool(ids)

    def __len__(self) -> int:
        """Texts kept (indexed and not removed, or without tokens)."""
        return self._live + self._unindexed


__all__ = ["RougeLIndex", "jaccard_bound", "numbered_tokens"]
