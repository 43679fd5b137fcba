"""Diversity of a text set, and n-gram leakage between two sets.

- distinct-n (Li et al., arXiv 1510.03055): unique n-grams / all n-grams over the set.
- Self-BLEU (Zhu et al., Texygen, arXiv 1802.01886): mean BLEU of each text against the
  others as references; higher means more alike. Computed on a sample of texts, each
  against all others, with an n-gram index that gives NLTK's scores.
- Label balance: normalised entropy of the label distribution (1 = perfectly balanced).
- Mean nearest-neighbour cosine: for each text, the cosine similarity of its embedding to
  the closest other text in the same set, averaged (1 = every text has a near-copy).

Tokens here are lower-cased word tokens (``\\w+``).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens of ``text``."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The word n-grams of a token list, in order."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique n-grams divided by all n-grams across ``texts`` (0 if there are none)."""
    grams = [g for t in texts for g in ngrams(words(t), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


class _ReferenceIndex:
    """Per n-gram, the largest and second-largest count over a set of texts (with the text
    holding the largest), so that "the most any *other* text has" is one lookup."""

    def __init__(
        self,
        tokens: Sequence[Sequence[str]],
        max_n: int,
        only: set[tuple[str, ...]] | None = None,
    ) -> None:
        """Index ``tokens``; with ``only``, keep counts for those n-grams alone (the
        hypotheses' n-grams are all a BLEU score looks up)."""
        self.top: dict[tuple[str, ...], list[int]] = {}  # gram -> [best, best_doc, second]
        for doc, toks in enumerate(tokens):
            for n in range(1, max_n + 1):
                grams = ngrams(toks, n)
                if only is not None:
                    grams = [g for g in grams if g in only]
                for gram, c in Counter(grams).items():
                    entry = self.top.get(gram)
                    if entry is None:
                        self.top[gram] = [c, doc, 0]
                    elif c > entry[0]:
                        entry[2], entry[0], entry[1] = entry[0], c, doc
                    elif c > entry[2]:
                        entry[2] = c
        lengths = sorted(len(t) for t in tokens)
        self.lengths = lengths
        self.length_counts = Counter(lengths)

    def max_other(self, gram: tuple[str, ...], doc: int) -> int:
        entry = self.top.get(gram)
        if entry is None:
            return 0
        return entry[2] if entry[1] == doc else entry[0]

    def closest_other_length(self, length: int, own: int) -> int:
        """NLTK's closest reference length (ties to the shorter), leaving out one ``own``."""
        import bisect

        i = bisect.bisect_left(self.lengths, length)
        candidates = []
        for j in (i - 2, i - 1, i, i + 1):
            if 0 <= j < len(self.lengths):
                candidates.append(self.lengths[j])
        usable = [
            v for v in set(candidates) if v != own or self.length_counts[own] > 1
        ]
        if not usable:  # only possible when every other text is out of the window
            usable = [v for v in set(self.lengths) if v != own or self.length_counts[own] > 1]
        return min(usable, key=lambda v: (abs(v - length), v))


def _bleu_against_others(
    index: _ReferenceIndex, toks: Sequence[str], doc: int, max_n: int = 4
) -> float:
    """BLEU-4 of one text against all others, exactly as NLTK's ``sentence_bleu`` with
    uniform weights and ``SmoothingFunction().method1`` (epsilon 0.1)."""
    c = len(toks)
    numerators, denominators = [], []
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(toks, n))
        numerators.append(sum(min(k, index.max_other(g, doc)) for g, k in counts.items()))
        denominators.append(max(1, sum(counts.values())))
    if numerators[0] == 0:
        return 0.0
    r = index.closest_other_length(c, c)
    brevity = 1.0 if c > r else (0.0 if c == 0 else math.exp(1 - r / c))
    log_sum = sum(
        math.log((num if num else 0.1) / den) for num, den in zip(numerators, denominators,
                                                                 strict=True)
    )
    return brevity * math.exp(log_sum / max_n)


def self_bleu(texts: Sequence[str], sample: int = 100, seed: int = 0) -> float | None:
    """Mean BLEU-4 of up to ``sample`` texts, each against all the other texts as references.

    Scores equal NLTK's ``sentence_bleu`` (uniform weights, method-1 smoothing) to float
    precision (a unit test checks it), but the references' n-gram counts are indexed once,
    so a 10,000-text set takes about as long as building that index instead of
    ``sample * len(texts)`` reference scans. Returns None for fewer than two texts.
    """
    tokens = [words(t) for t in texts]
    if len(tokens) < 2:
        return None
    chosen = random.Random(seed).sample(range(len(tokens)), min(sample, len(tokens)))
    wanted = {g for i in chosen for n in range(1, 5) for g in ngrams(tokens[i], n)}
    index = _ReferenceIndex(tokens, 4, only=wanted)
    return sum(_bleu_against_others(index, tokens[i], i) for i in chosen) / len(chosen)


def label_balance(labels: Sequence[str]) -> float | None:
    """Entropy of the label distribution divided by log(number of labels); None if < 2."""
    counts = Counter(labels)
    if len(counts) < 2:
        return None
    total = sum(counts.values())
    entropy = -sum(c / total * math.log(c / total) for c in counts.values())
    return entropy / math.log(len(counts))


def mean_nearest_neighbour_cosine(embeddings: np.ndarray, chunk: int = 1024) -> float | None:
    """Mean over rows of the highest cosine to any other row (unit-row matrix ``(n, d)``).

    Computed in row chunks, so memory stays ``chunk * n`` floats. None for fewer than 2 rows.
    """
    n = len(embeddings)
    if n < 2:
        return None
    best = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk):
        sims = embeddings[start : start + chunk] @ embeddings.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf
        best[start : start + chunk] = sims.max(axis=1)
    return float(best.mean())


def mean_highest_rouge_l(texts: Sequence[str]) -> float | None:
    """Mean over texts of the highest ROUGE-L F1 to any other text of the set (DiaSynth's
    diversity measure, Suresh et al., arXiv 2409.19020; lower is more diverse). Exact,
    all ``n (n - 1) / 2`` pairs (``rouge-score``, no stemming), so meant for hundreds of
    texts, not thousands. None for fewer than 2 texts."""
    from rouge_score import rouge_scorer

    n = len(texts)
    if n < 2:
        return None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    best = [0.0] * n
    for i in range(n):
        for j in range(i + 1, n):
            f = scorer.score(texts[i], texts[j])["rougeL"].fmeasure
            best[i], best[j] = max(best[i], f), max(best[j], f)
    return sum(best) / n


def diversity_report(
    texts: Sequence[str], labels: Sequence[str], embeddings: np.ndarray | None = None
) -> dict[str, float | None]:
    """``{"n", "distinct_1", "distinct_2", "self_bleu", "label_balance",
    "nearest_neighbour_cosine"}`` for one set (the last None without ``embeddings``)."""
    nn = None if embeddings is None else mean_nearest_neighbour_cosine(embeddings)
    return {
        "n": len(texts),
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "self_bleu": None if (b := self_bleu(texts)) is None else round(b, 4),
        "label_balance": None if (e := label_balance(labels)) is None else round(e, 4),
        "nearest_neighbour_cosine": None if nn is None else round(nn, 4),
    }
