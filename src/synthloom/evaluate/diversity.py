"""Diversity of a text set, and n-gram leakage between two sets.

- distinct-n (Li et al., arXiv 1510.03055): unique n-grams / all n-grams over the set.
- Self-BLEU (Zhu et al., Texygen, arXiv 1802.01886): mean BLEU of each text against the
  others as references; higher means more alike. Computed with NLTK on a sample.
- Label balance: normalised entropy of the label distribution (1 = perfectly balanced).
- Leakage: the share of synthetic texts that share at least one word n-gram (default
  8-gram) with a real test text, a sign that test data reached the generator.

Tokens here are lower-cased word tokens (``\\w+``).
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence

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


def self_bleu(texts: Sequence[str], sample: int = 100, seed: int = 0) -> float | None:
    """Mean BLEU-4 (NLTK, method-1 smoothing) of up to ``sample`` texts against all others.

    Returns None for fewer than two texts. Cost grows with ``sample * len(texts)``.
    """
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    tokens = [words(t) for t in texts]
    if len(tokens) < 2:
        return None
    chosen = random.Random(seed).sample(range(len(tokens)), min(sample, len(tokens)))
    smooth = SmoothingFunction().method1
    scores = []
    for i in chosen:
        refs = tokens[:i] + tokens[i + 1 :]
        scores.append(sentence_bleu(refs, tokens[i], smoothing_function=smooth))
    return sum(scores) / len(scores)


def label_balance(labels: Sequence[str]) -> float | None:
    """Entropy of the label distribution divided by log(number of labels); None if < 2."""
    counts = Counter(labels)
    if len(counts) < 2:
        return None
    total = sum(counts.values())
    entropy = -sum(c / total * math.log(c / total) for c in counts.values())
    return entropy / math.log(len(counts))


def diversity_report(texts: Sequence[str], labels: Sequence[str]) -> dict[str, float | None]:
    """``{"n", "distinct_1", "distinct_2", "self_bleu", "label_balance"}`` for one set."""
    return {
        "n": len(texts),
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "self_bleu": None if (b := self_bleu(texts)) is None else round(b, 4),
        "label_balance": None if (e := label_balance(labels)) is None else round(e, 4),
    }


def ngram_leakage(
    synthetic: Sequence[str], real_test: Sequence[str], n: int = 8
) -> dict[str, float | int]:
    """How many synthetic texts share a word ``n``-gram with any real test text.

    Returns ``{"n", "leaked", "share", "total"}``; ``share`` = leaked / total.
    """
    test_grams = {g for t in real_test for g in ngrams(words(t), n)}
    leaked = sum(1 for t in synthetic if any(g in test_grams for g in ngrams(words(t), n)))
    total = len(synthetic)
    return {"n": n, "leaked": leaked, "total": total, "share": leaked / total if total else 0.0}
