"""Leakage: did real test data reach the synthetic set?

Two checks against the real **test** split, both of which should find nothing:

- n-gram overlap: synthetic texts that share at least one word n-gram (default 8-gram) with a
  real test text; long shared n-grams are rare between independently written texts.
- near-duplicates: synthetic texts whose sentence embedding has cosine similarity at least
  ``threshold`` (default 0.95) with a real test text's.

Either share above ``max_share`` (default 1%) flags the evaluation; the CLI then exits 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthloom.evaluate.diversity import ngrams, words


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


def near_duplicates(
    synthetic: np.ndarray,
    real_test: np.ndarray,
    threshold: float = 0.95,
    examples: int = 5,
    chunk: int = 2048,
) -> dict[str, Any]:
    """Synthetic embeddings within cosine ``threshold`` of some real test embedding.

    Args:
        synthetic, real_test: unit-row embedding matrices ``(n_s, d)``, ``(n_t, d)``.
        threshold: cosine similarity in [0, 1] at or above which a pair is a near-duplicate.
        examples: how many of the closest pairs to return.

    Returns:
        ``{"threshold", "leaked", "total", "share", "max_cosine", "closest": [{"synthetic":
        index, "real": index, "cosine"}]}`` (closest pairs, most similar first, whether or not
        they pass the threshold).
    """
    best = np.full(len(synthetic), -1.0, dtype=np.float32)
    arg = np.zeros(len(synthetic), dtype=np.int64)
    if len(real_test):
        for start in range(0, len(synthetic), chunk):
            sims = synthetic[start : start + chunk] @ real_test.T
            arg[start : start + chunk] = sims.argmax(axis=1)
            best[start : start + chunk] = sims.max(axis=1)
    leaked = int((best >= threshold).sum())
    order = np.argsort(-best)[:examples]
    total = len(synthetic)
    return {
        "threshold": threshold,
        "leaked": leaked,
        "total": total,
        "share": leaked / total if total else 0.0,
        "max_cosine": float(best.max()) if total else None,
        "closest": [
            {"synthetic": int(i), "real": int(arg[i]), "cosine": float(best[i])} for i in order
        ],
    }


def leakage_report(
    synthetic_texts: Sequence[str],
    real_test_texts: Sequence[str],
    synthetic_embeddings: np.ndarray,
    real_test_embeddings: np.ndarray,
    n: int = 8,
    cosine_threshold: float = 0.95,
    max_share: float = 0.01,
    real_train_texts: Sequence[str] = (),
) -> dict[str, Any]:
    """Both leakage checks; ``flagged`` when either share exceeds ``max_share``.

    ``real_train_texts`` (optional) gives a baseline: the share of real *train* texts that
    share an n-gram with the real test split. Independently written real texts overlap too
    (news agencies repeat phrases and stories), so a synthetic share near this baseline is
    less alarming than one far above it. The baseline is reported, not used to flag.

    Returns ``{"ngram": ..., "near_duplicate": ..., "ngram_real_baseline": ... | None,
    "max_share", "flagged"}``; closest pairs carry both texts (first 200 characters of each).
    """
    gram = ngram_leakage(synthetic_texts, real_test_texts, n=n)
    baseline = ngram_leakage(real_train_texts, real_test_texts, n=n) if real_train_texts else None
    near = near_duplicates(synthetic_embeddings, real_test_embeddings, cosine_threshold)
    for pair in near["closest"]:
        pair["synthetic_text"] = synthetic_texts[pair["synthetic"]][:200]
        pair["real_text"] = real_test_texts[pair["real"]][:200]
    return {
        "ngram": gram,
        "near_duplicate": near,
        "ngram_real_baseline": baseline,
        "max_share": max_share,
        "flagged": gram["share"] > max_share or near["share"] > max_share,
    }
