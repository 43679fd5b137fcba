"""Adversarial validation: can a classifier tell the synthetic texts from real ones?

A classifier two-sample test (Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample
Tests", arXiv 1610.06545): label real texts 0 and synthetic texts 1, train a classifier
with k-fold cross-validation, and read its out-of-fold ROC AUC. 0.5 means the two sets are
indistinguishable to that classifier; 1.0 means every text gives itself away. Two
classifiers look at different things: logistic regression on TF-IDF word and bigram
features (wording, length, vocabulary) and on MiniLM sentence embeddings (meaning).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classifier_two_sample_test(
    real_texts: Sequence[str],
    synthetic_texts: Sequence[str],
    real_embeddings: np.ndarray,
    synthetic_embeddings: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 13,
) -> dict[str, Any]:
    """Out-of-fold ROC AUC of real-vs-synthetic classifiers on equal-sized samples.

    Args:
        real_texts, synthetic_texts: the two sets (the larger is subsampled to the size
            of the smaller, deterministically for ``seed``).
        real_embeddings, synthetic_embeddings: ``(n, d)`` unit rows, in the same order.
        folds: cross-validation folds (stratified).
        seed: sampling and fold seed.

    Returns:
        ``{"n_per_set": int, "folds": int, "tfidf": {"auc", "fold_aucs"},
        "embedding": {"auc", "fold_aucs"}}``; AUC in [0, 1], 0.5 = indistinguishable.

    Raises:
        ValueError: fewer than ``folds`` texts in either set.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline

    n = min(len(real_texts), len(synthetic_texts))
    if n < folds:
        raise ValueError(f"need at least {folds} texts per set, got {n}")
    rng = np.random.default_rng(seed)
    real_idx = np.sort(rng.permutation(len(real_texts))[:n])
    syn_idx = np.sort(rng.permutation(len(synthetic_texts))[:n])
    texts = [real_texts[i] for i in real_idx] + [synthetic_texts[i] for i in syn_idx]
    vectors = np.vstack([real_embeddings[real_idx], synthetic_embeddings[syn_idx]])
    y = np.array([0] * n + [1] * n)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    out: dict[str, Any] = {"n_per_set": n, "folds": folds}
    for name, model, x in (
        ("tfidf", make_pipeline(TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True),
                                LogisticRegression(max_iter=1000)), texts),
        ("embedding", LogisticRegression(max_iter=1000), vectors),
    ):
        aucs = cross_val_score(model, x, y, cv=cv, scoring="roc_auc")
        out[name] = {"auc": round(float(np.mean(aucs)), 4),
                     "fold_aucs": [round(float(a), 4) for a in aucs]}
    return out
