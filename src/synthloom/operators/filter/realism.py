"""A realism score per synthetic record: how real it looks to a real-vs-synthetic classifier.

Adversarial validation turned into a per-record score (the per-set version, a classifier
two-sample test, is :mod:`synthloom.evaluate.discriminator`; Lopez-Paz & Oquab, arXiv
1610.06545): a discriminator learns to tell the user's real seed examples from the
synthetic records, and each synthetic record's out-of-fold probability of being real is
its score. The records it finds least real are the ones that give the set away (a
template phrase, a length, a register no real text has); a recipe drops the lowest share
or lowers their trust weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from synthloom.operators.filter.label_noise import text_features


def realism_scores(
    synthetic_texts: Sequence[str],
    real_texts: Sequence[str],
    *,
    embeddings: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 13,
) -> np.ndarray:
    """Out-of-fold probability of "real" for each synthetic text.

    Logistic regression (classes weighted to balance the two sets) on TF-IDF word and
    bigram features, or on ``embeddings``; the synthetic texts are split into ``folds``
    and each fold is scored by a model trained on the other folds and every real text.

    Args:
        synthetic_texts: the scored records' texts.
        real_texts: real examples (the seeds); at least 2.
        embeddings: ``(len(synthetic_texts) + len(real_texts), d)`` rows in that order, to
            use instead of TF-IDF features.
        folds: folds over the synthetic texts (at most one per text).
        seed: fold and solver seed.

    Returns:
        ``(len(synthetic_texts),)`` probabilities in [0, 1].

    Raises:
        ValueError: fewer than 2 real or 2 synthetic texts.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold

    n, m = len(synthetic_texts), len(real_texts)
    if n < 2 or m < 2:
        raise ValueError(f"realism needs at least 2 real and 2 synthetic texts, got {m} and {n}")
    features = text_features([*synthetic_texts, *real_texts], embeddings)
    y = np.array([0] * n + [1] * m)
    real = np.arange(n, n + m)
    out = np.zeros(n)
    for train, test in KFold(n_splits=min(folds, n), shuffle=True,
                             random_state=seed).split(np.zeros(n)):
        rows = np.concatenate([train, real])
        model = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        model.fit(features[rows], y[rows])
        out[test] = model.predict_proba(features[test])[:, 1]
    return out
