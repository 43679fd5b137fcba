"""Does the synthetic set look like the real one? Embedding manifolds and text marginals.

- Precision and recall (Kynkäänniemi et al., "Improved Precision and Recall Metric for
  Assessing Generative Models", arXiv 1904.06991): each set's manifold is the union of balls
  around its points with radius the distance to the point's k-th nearest neighbour (k=3).
  Precision is the share of synthetic points inside the real manifold (is it realistic?);
  recall the share of real points inside the synthetic manifold (does it cover real data?).
- Density and coverage (Naeem et al., "Reliable Fidelity and Diversity Metrics for
  Generative Models", arXiv 2002.09797, k=5): coverage is the share of real points whose own
  k-NN ball holds at least one synthetic point, less fooled by synthetic outliers than recall.
- Marginals: per-text length in word tokens, type-token ratio, and vocabulary novelty (the
  share of a text's word types absent from the real train vocabulary), each with the
  standardized difference of means, ``(mean_s - mean_r) / sqrt((sd_s^2 + sd_r^2) / 2)``,
  flagged when its size exceeds a threshold (2 by default).

Embeddings are unit vectors, so Euclidean distance is ``sqrt(2 - 2 cos)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthloom.evaluate.diversity import words

PARSE_DEPTH_NOTE = (
    "mean dependency-parse depth not measured: no dependency parser is installed offline "
    "(spaCy's English models are not served by this machine's package index)"
)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of unit-vector matrices, shape (len a, len b)."""
    return np.clip(2.0 - 2.0 * (a @ b.T), 0.0, None)


def _kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each row of ``x`` to its k-th nearest other row."""
    d = _sq_dist(x, x)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(x) - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def precision_recall_coverage(
    real: np.ndarray,
    synthetic: np.ndarray,
    k_pr: int = 3,
    k_dc: int = 5,
    max_points: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """k-NN precision, recall, density and coverage of synthetic against real embeddings.

    Args:
        real, synthetic: unit-row embedding matrices, shapes ``(n_r, d)`` and ``(n_s, d)``.
        k_pr: neighbours for precision/recall (3, as arXiv 1904.06991).
        k_dc: neighbours for density/coverage (5, as arXiv 2002.09797).
        max_points: both sets are subsampled to the same size ``min(n_r, n_s, max_points)``
            (the metrics depend on set size, so equal sizes keep them comparable).
        seed: subsampling seed.

    Returns:
        ``{"precision", "recall", "density", "coverage"}`` (fractions; density can exceed 1),
        plus ``n`` (points per set), ``k_pr``, ``k_dc``.

    Raises:
        ValueError: fewer than ``max(k_pr, k_dc) + 1`` points in either set.
    """
    n = min(len(real), len(synthetic), max_points)
    if n < max(k_pr, k_dc) + 1:
        raise ValueError(f"need at least {max(k_pr, k_dc) + 1} points per set, got {n}")
    rng = np.random.default_rng(seed)
    r = real[rng.choice(len(real), n, replace=False)]
    s = synthetic[rng.choice(len(synthetic), n, replace=False)]
    cross = _sq_dist(s, r)  # (synthetic, real)
    r_pr, s_pr = _kth_radius(r, k_pr), _kth_radius(s, k_pr)
    precision = float(np.mean((cross <= r_pr[None, :]).any(axis=1)))
    recall = float(np.mean((cross.T <= s_pr[None, :]).any(axis=1)))
    r_dc = _kth_radius(r, k_dc)
    inside = cross <= r_dc[None, :]
    density = float(inside.sum() / (k_dc * n))
    coverage = float(np.mean(inside.any(axis=0)))
    return {
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
        "n": n,
        "k_pr": k_pr,
        "k_dc": k_dc,
    }


def text_features(texts: Sequence[str], vocabulary: set[str]) -> dict[str, np.ndarray]:
    """Per-text marginals: ``length_tokens``, ``type_token_ratio``, ``vocabulary_novelty``."""
    lengths, ttr, novelty = [], [], []
    for text in texts:
        tokens = words(text)
        types = set(tokens)
        lengths.append(len(tokens))
        ttr.append(len(types) / len(tokens) if tokens else 0.0)
        novelty.append(len(types - vocabulary) / len(types) if types else 0.0)
    return {
        "length_tokens": np.array(lengths, dtype=float),
        "type_token_ratio": np.array(ttr, dtype=float),
        "vocabulary_novelty": np.array(novelty, dtype=float),
    }


def standardized_difference(synthetic: np.ndarray, real: np.ndarray) -> float:
    """``(mean_s - mean_r) / sqrt((var_s + var_r) / 2)``; 0 when both variances are 0."""
    pooled = np.sqrt((synthetic.var() + real.var()) / 2.0)
    diff = synthetic.mean() - real.mean()
    return float(diff / pooled) if pooled > 0 else 0.0


def marginals(
    synthetic_texts: Sequence[str],
    real_texts: Sequence[str],
    real_vocabulary_texts: Sequence[str],
    threshold: float = 2.0,
) -> dict[str, Any]:
    """Marginal distributions of synthetic vs real texts, with standardized differences.

    Args:
        synthetic_texts: the synthetic set.
        real_texts: real texts to compare against (held out from ``real_vocabulary_texts``,
            so their vocabulary novelty is a fair baseline).
        real_vocabulary_texts: the texts whose word types form the real vocabulary.
        threshold: a marginal is flagged when ``|standardized difference| > threshold``.

    Returns:
        ``{"features": {name: {"synthetic": {"mean", "sd"}, "real": {...},
        "standardized_difference", "flagged"}}, "flagged": [names], "threshold",
        "parse_depth": note}`` and ``values`` (per-text arrays as lists, for plots).
    """
    vocabulary = {w for t in real_vocabulary_texts for w in words(t)}
    syn = text_features(synthetic_texts, vocabulary)
    real = text_features(real_texts, vocabulary)
    features: dict[str, Any] = {}
    for name in syn:
        d = standardized_difference(syn[name], real[name])
        features[name] = {
            "synthetic": {"mean": float(syn[name].mean()), "sd": float(syn[name].std())},
            "real": {"mean": float(real[name].mean()), "sd": float(real[name].std())},
            "standardized_difference": d,
            "flagged": abs(d) > threshold,
        }
    return {
        "features": features,
        "flagged": [name for name, f in features.items() if f["flagged"]],
        "threshold": threshold,
        "parse_depth": PARSE_DEPTH_NOTE,
        "values": {
            "synthetic": {k: v.tolist() for k, v in syn.items()},
            "real": {k: v.tolist() for k, v in real.items()},
        },
    }


def projection_2d(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """PCA of both sets together onto 2 axes: ``{"real": [[x, y]], "synthetic": [...],
    "explained_variance": [a, b]}``."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed).fit(np.vstack([real, synthetic]))
    return {
        "real": pca.transform(real).tolist(),
        "synthetic": pca.transform(synthetic).tolist(),
        "explained_variance": [float(v) for v in pca.explained_variance_ratio_],
    }
