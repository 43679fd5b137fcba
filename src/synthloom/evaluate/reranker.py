"""A small reranker trained on continuous relevance targets per (query, document) pair.

The targets are what zELO's pairwise fit gives (:func:`synthloom.operators.judge.pair_scores.
fit_scores`; Pipitone et al., arXiv 2509.12541): per-query scores, centred within each
query's pair graph, whose *differences* are the measured quantity (Thurstone: ``P(a beats b)
= Phi(s_a - s_b)``; Bradley-Terry: ``sigmoid(s_a - s_b)``). The model is therefore pairwise:
a linear scorer ``f(x) = w . x`` fitted with logistic loss on feature differences, with the
soft label ``p_ab = link((t_a - t_b) / temperature)`` for every pair of documents of one
query whose targets differ (ties are skipped): RankNet's cross-entropy on pairs (Burges et
al., "Learning to rank using gradient descent", ICML 2005) with a linear scorer, as in
RankSVM (Herbrich et al. 1999; Joachims, KDD 2002) but with a probabilistic loss.

Why not a pointwise regressor: the level of a query's targets is arbitrary (each fit is
centred per query and component) and only within-query order matters for nDCG; a pairwise
loss uses exactly the identified part (and ignores whatever the features say about a
query's overall level). The scorer's own link is the logistic one, so its scores are on a
logit scale whatever link made the soft labels (Thurstone differences come out about 1.7
times larger). A linear model also stays readable (:meth:`PairwiseReranker.coefficients`).

Features of a pair: the caller's numeric columns (by default what
:meth:`~synthloom.operators.relevance.retrieval.Candidate.features` gives: BM25 score,
dense cosine, the reciprocal of each rank, the fused score; any extra column, e.g. a judge's
mean vote, may be added), each both raw and z-scored within its query's candidate set
(``(x - mean) / std`` over the query's documents, 0 where the column is constant). Train and
rerank on candidate sets made the same way (e.g. the retriever's top 100), since the
within-query statistics depend on the set.

Soft labels enter scikit-learn's ``LogisticRegression`` as two weighted rows per difference
(label 1 with weight ``p * w``, label 0 with weight ``(1 - p) * w``), plus the mirrored
difference, which is the soft-label cross-entropy exactly; no intercept, so ``f(a) - f(b)``
is antisymmetric. A pair's weight ``w`` is the product of its two documents' trust weights
(0..1), never more than the smaller of the two: a pair says little if either target does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit, ndtr

LINKS = ("thurstone", "bradley_terry")


def _features(item: Any) -> Mapping[str, float]:
    """A features mapping, or an object with ``features()`` (a retriever Candidate)."""
    if isinstance(item, Mapping):
        return item
    if hasattr(item, "features"):
        return item.features()
    raise TypeError(f"expected a features mapping or an object with features(), got {item!r}")


def _doc_and_features(item: Any) -> tuple[str, Mapping[str, float]]:
    """(doc_id, features) from a ``(doc_id, features)`` pair or a Candidate-like object."""
    if isinstance(item, tuple | list) and len(item) == 2:
        return str(item[0]), _features(item[1])
    if hasattr(item, "doc_id"):
        return str(item.doc_id), _features(item)
    raise TypeError(f"expected (doc_id, features) or a candidate with doc_id, got {item!r}")


class PairwiseReranker:
    """Linear pairwise reranker on within-query-normalised features (module docstring).

    Args:
        link: "thurstone" (``Phi``) or "bradley_terry" (``sigmoid``): how a target
            difference becomes the probability that one document beats the other; match
            the fit that produced the targets.
        temperature: target differences are divided by it first (> 0); 1 for zELO scores,
            larger for targets on a wider scale (e.g. graded labels 0..3).
        C: inverse L2 regularisation strength of the logistic regression (on standardised
            differences).
        min_gap: pairs whose targets differ by ``min_gap`` or less are not trained on; the
            default 0 skips exact ties only, which say nothing about order (RankSVM and
            LambdaMART skip pairs of equal labels too; with 0/1 known-item labels most
            pairs are such ties).
        max_pairs_per_query: pairs drawn at random (without replacement) from a query with
            more; None: every pair (n * (n - 1) / 2 of them).
        seed: seed of that draw.

    After :meth:`fit`: ``feature_names_`` (the caller's columns, sorted), ``columns_`` (the
    model's: each name and ``name@z``), ``pairs_`` (pairs trained on), ``model_``.
    """

    def __init__(
        self,
        link: str = "thurstone",
        temperature: float = 1.0,
        C: float = 1.0,
        min_gap: float = 0.0,
        max_pairs_per_query: int | None = 2_000,
        seed: int = 0,
    ) -> None:
        self.link, self.temperature, self.C, self.min_gap = link, temperature, C, min_gap
        self.max_pairs_per_query, self.seed = max_pairs_per_query, seed

    def _matrix(self, qid: str, docs: Sequence[str], rows: Sequence[Mapping[str, float]]):
        raw = np.empty((len(rows), len(self.feature_names_)))
        for r, (doc, feats) in enumerate(zip(docs, rows, strict=True)):
            for c, name in enumerate(self.feature_names_):
                if name not in feats:
                    raise ValueError(f"query {qid!r}, doc {doc!r}: no feature {name!r}")
                raw[r, c] = float(feats[name])
        if not np.isfinite(raw).all():
            raise ValueError(f"query {qid!r}: a feature is NaN or infinite")
        std = raw.std(axis=0)
        z = np.divide(raw - raw.mean(axis=0), std, out=np.zeros_like(raw), where=std > 0)
        return np.hstack([raw, z])

    def fit(self, rows: Iterable[Sequence[Any]]) -> PairwiseReranker:
        """Fit on ``(query_id, doc_id, features, target, weight)`` rows.

        ``features``: a mapping name -> number or a Candidate (its ``features()``); the
        first row's columns are the model's, and every row needs them (others are ignored).
        ``target``: float, comparable within a query only. ``weight``: trust weight in
        [0, 1] (None, or a 4-tuple row: 1). A query with one document gives no pair.

        Raises:
            ValueError: bad ``link``/``temperature``, a row of another length, a missing
                or non-finite feature, a weight outside [0, 1], a negative ``min_gap``, a
                repeated (query, doc), or no pair with positive weight and targets apart.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if self.link not in LINKS:
            raise ValueError(f"unknown link {self.link!r}; use one of {', '.join(LINKS)}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if not self.min_gap >= 0:
            raise ValueError(f"min_gap must be >= 0, got {self.min_gap}")
        groups: dict[str, dict[str, tuple[Mapping[str, float], float, float]]] = {}
        for row in rows:
            if len(row) not in (4, 5):
                raise ValueError(f"rows are (query_id, doc_id, features, target, weight): {row!r}")
            qid, doc, feats, target = str(row[0]), str(row[1]), _features(row[2]), float(row[3])
            weight = 1.0 if len(row) == 4 or row[4] is None else float(row[4])
            if not 0.0 <= weight <= 1.0:
                raise ValueError(f"query {qid!r}, doc {doc!r}: weight {weight} outside [0, 1]")
            if not np.isfinite(target):
                raise ValueError(f"query {qid!r}, doc {doc!r}: target {target} is not finite")
            if doc in groups.setdefault(qid, {}):
                raise ValueError(f"query {qid!r}: doc {doc!r} appears twice")
            groups[qid][doc] = (feats, target, weight)
        if not groups:
            raise ValueError("no rows to fit")
        first = next(iter(next(iter(groups.values())).values()))[0]
        self.feature_names_ = sorted(first)
        self.columns_ = self.feature_names_ + [f"{n}@z" for n in self.feature_names_]
        link = ndtr if self.link == "thurstone" else expit
        rng = np.random.default_rng(self.seed)
        diffs, probs, weights = [], [], []
        for qid, members in groups.items():
            docs = list(members)
            if len(docs) < 2:
                continue
            x = self._matrix(qid, docs, [members[d][0] for d in docs])
            t = np.array([members[d][1] for d in docs])
            w = np.array([members[d][2] for d in docs])
            i, j = np.triu_indices(len(docs), k=1)
            apart = np.abs(t[i] - t[j]) > self.min_gap
            i, j = i[apart], j[apart]
            cap = self.max_pairs_per_query
            if cap is not None and len(i) > cap:
                pick = np.sort(rng.choice(len(i), size=cap, replace=False))
                i, j = i[pick], j[pick]
            diffs.append(x[i] - x[j])
            probs.append(link((t[i] - t[j]) / self.temperature))
            weights.append(w[i] * w[j])
        if not diffs or not np.concatenate(weights).any():
            raise ValueError(
                "no pair to learn from: need a query with 2+ documents of weight > 0 whose"
                " targets differ by more than min_gap"
            )
        d, p, w = np.vstack(diffs), np.concatenate(probs), np.concatenate(weights)
        keep = w > 0
        d, p, w = d[keep], p[keep], w[keep]
        x_all = np.vstack([d, d, -d, -d])
        y_all = np.concatenate(
            [np.ones(len(d)), np.zeros(len(d)), np.ones(len(d)), np.zeros(len(d))]
        )
        sw = np.concatenate([p * w, (1 - p) * w, (1 - p) * w, p * w])
        nonzero = sw > 0
        self.model_ = make_pipeline(
            StandardScaler(with_mean=False),
            LogisticRegression(C=self.C, fit_intercept=False, max_iter=1000),
        )
        self.model_.fit(
            x_all[nonzero], y_all[nonzero], logisticregression__sample_weight=sw[nonzero]
        )
        self.pairs_ = int(len(d))
        return self

    def coefficients(self) -> dict[str, float]:
        """Weight of each model column in units of the raw column (score = sum w * x)."""
        scaler, logistic = self.model_[0], self.model_[-1]
        weights = logistic.coef_[0] / scaler.scale_
        return {name: float(v) for name, v in zip(self.columns_, weights, strict=True)}

    def score(self, query_id: Any, candidates: Sequence[Any]) -> list[tuple[str, float]]:
        """Scores of one query's candidates, in input order: ``[(doc_id, score), ...]``.

        ``candidates``: ``(doc_id, features)`` pairs or Candidate objects. Scores are on a
        logit scale: ``sigmoid(score_a - score_b)`` estimates P(a beats b); comparable within
        a query only.

        Raises:
            RuntimeError: not fitted. ValueError: a candidate lacks a fitted feature.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("PairwiseReranker: call fit() before score() or rerank()")
        if not candidates:
            return []
        items = [_doc_and_features(c) for c in candidates]
        docs = [d for d, _ in items]
        x = self._matrix(str(query_id), docs, [f for _, f in items])
        values = self.model_.decision_function(x)
        return [(d, float(v)) for d, v in zip(docs, values, strict=True)]

    def rerank(
        self, candidates: Mapping[Any, Sequence[Any]], k: int | None = None
    ) -> dict[str, list[tuple[str, float]]]:
        """``{query_id: [(doc_id, score), ...]}`` best first (ties keep input order), the top
        ``k`` (None: all). Input as :meth:`score`, per query id.

        Raises:
            RuntimeError: not fitted. ValueError: a candidate lacks a fitted feature.
        """
        out = {}
        for qid, items in candidates.items():
            scored = self.score(qid, items)
            order = sorted(range(len(scored)), key=lambda r: -scored[r][1])
            out[str(qid)] = [scored[r] for r in order][:k]
        return out
