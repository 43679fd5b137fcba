"""Label noise in a synthetic set, found by confident learning with the real seeds as anchor.

A generator asked for a ``sport`` snippet sometimes writes a business one; self-correction
catches some of these, one record at a time. Confident learning (Northcutt, Jiang, Chuang,
"Confident Learning: Estimating Uncertainty in Dataset Labels", arXiv 1911.00068) looks
at the whole set instead: out-of-fold predicted probabilities of a simple classifier give
each class's confidence threshold and the joint of given and likely-true labels, and the
records in its off-diagonal cells, as many as the estimated noise rates say, are label
issues (``cleanlab.filter.find_label_issues``, ``prune_by_noise_rate``).

The anchor: the user's labelled real seed examples are in the training folds of every
fold (they are never judged), so the evidence comes from the real labels as well as from
the synthetic set itself. The classifier is logistic regression on TF-IDF word and bigram
features, or on MiniLM sentence embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LabelEvidence:
    """One synthetic record's evidence: whether its label is an issue, the out-of-fold
    probability of its given label, and the label the classifier prefers."""

    issue: bool
    given_probability: float
    predicted: str
    predicted_probability: float


def text_features(texts: Sequence[str], embeddings: np.ndarray | None = None) -> Any:
    """Rows for the out-of-fold classifiers: ``embeddings`` as an array when given, else
    TF-IDF word and bigram features of ``texts`` (sublinear tf; a scipy sparse matrix)."""
    if embeddings is not None:
        return np.asarray(embeddings)
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(list(texts))


def out_of_fold_probabilities(
    features: np.ndarray | object,
    labels: Sequence[str],
    n_judged: int,
    label_names: Sequence[str],
    *,
    folds: int = 5,
    anchor_weight: float = 1.0,
    seed: int = 13,
) -> np.ndarray:
    """Out-of-fold class probabilities for the first ``n_judged`` rows of ``features``.

    Args:
        features: ``(n, d)`` matrix (dense or scipy sparse); rows ``[:n_judged]`` are the
            judged records, rows ``[n_judged:]`` the anchor (in every training fold).
        labels: ``n`` labels, each in ``label_names``.
        n_judged: how many leading rows are judged.
        label_names: the classes, in the column order of the result.
        folds: stratified folds over the judged rows (fewer when a class is rarer).
        anchor_weight: sample weight of each anchor row (judged rows weigh 1).
        seed: fold and solver seed.

    Returns:
        ``(n_judged, len(label_names))`` probabilities; a class missing from a fold's
        training rows gets probability 0 there.

    Raises:
        ValueError: the judged rows hold fewer than 2 labels, or a label with 1 row.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    y = np.array([label_names.index(str(label)) for label in labels])
    judged = y[:n_judged]
    counts = np.bincount(judged, minlength=len(label_names))
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        raise ValueError("label noise needs at least 2 judged records of each of 2 labels")
    k = int(min(folds, present.min()))  # every training fold then holds every judged label
    weights = np.ones(len(y))
    weights[n_judged:] = anchor_weight
    anchor = np.arange(n_judged, len(y))
    out = np.zeros((n_judged, len(label_names)))
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(n_judged), judged):
        rows = np.concatenate([train, anchor])
        model = LogisticRegression(max_iter=2000, random_state=seed)
        model.fit(features[rows], y[rows], sample_weight=weights[rows])
        out[np.ix_(test, model.classes_)] = model.predict_proba(features[test])
    return out


def find_label_issues(
    texts: Sequence[str],
    labels: Sequence[str],
    label_names: Sequence[str],
    *,
    anchor_texts: Sequence[str] = (),
    anchor_labels: Sequence[str] = (),
    embeddings: np.ndarray | None = None,
    folds: int = 5,
    anchor_weight: float = 1.0,
    seed: int = 13,
) -> list[LabelEvidence]:
    """Confident learning over ``texts`` (synthetic) with the labelled ``anchor_texts``
    (real seeds) in every training fold.

    Args:
        texts, labels: the judged records.
        label_names: the task's labels.
        anchor_texts, anchor_labels: the labelled real seed examples (may be empty).
        embeddings: ``(len(texts) + len(anchor_texts), d)`` rows in that order to use
            instead of TF-IDF features.
        folds, anchor_weight, seed: see :func:`out_of_fold_probabilities`.

    Returns:
        One :class:`LabelEvidence` per judged text, in order.

    Raises:
        ValueError: fewer than 2 labels among ``labels``, a label with a single judged
            record, or an unknown label.
    """
    from cleanlab.filter import find_label_issues as cleanlab_issues

    names = list(label_names)
    unknown = sorted({str(x) for x in [*labels, *anchor_labels]} - set(names))
    if unknown:
        raise ValueError(f"labels not in the task: {unknown}")
    features = text_features([*texts, *anchor_texts], embeddings)
    probabilities = out_of_fold_probabilities(
        features, [*labels, *anchor_labels], len(texts), names, folds=folds,
        anchor_weight=anchor_weight, seed=seed)
    given = np.array([names.index(str(label)) for label in labels])
    # cleanlab needs every class present among the given labels; judge within those
    present = sorted(set(given.tolist()))
    local = np.array([present.index(g) for g in given])
    sub = probabilities[:, present]
    sub = sub / np.clip(sub.sum(axis=1, keepdims=True), 1e-12, None)
    issues = cleanlab_issues(local, sub, filter_by="prune_by_noise_rate", n_jobs=1)
    best = probabilities.argmax(axis=1)
    return [LabelEvidence(issue=bool(issues[i]),
                          given_probability=round(float(probabilities[i, given[i]]), 4),
                          predicted=names[best[i]],
                          predicted_probability=round(float(probabilities[i, best[i]]), 4))
            for i in range(len(texts))]
