"""Ranking metrics of a run against relevance judgments: nDCG@k and MRR@k, per query and
with bootstrap intervals over queries.

Scores come from trec_eval through ``pytrec_eval`` (Van Gysel & de Rijke, "Pytrec_eval: An
Extremely Fast Python Interface to trec_eval", SIGIR 2018; the ``pytrec-eval-terrier``
wheel):

* nDCG@k (Järvelin & Kekäläinen, "Cumulated gain-based evaluation of IR techniques", ACM
  TOIS 20(4), 2002), trec_eval's ``ndcg_cut.k``: gain = the graded relevance itself (linear,
  not ``2**rel - 1``), discount ``log2(rank + 1)``, normalised by the ideal ordering of
  the query's judged documents. In [0, 1].
* MRR@k (Voorhees, TREC-8 question answering track, 1999): trec_eval's ``recip_rank`` of the
  run cut at k, i.e. 1 / rank of the first document with relevance >= 1 in the top k, 0 when
  none is there. In [0, 1].

A run's list order is its ranking: trec_eval re-sorts by score and breaks ties by document
id, so the scores given are replaced by ``k - position`` before it sees them. Each metric is
the mean over queries, with a percentile-bootstrap interval that resamples queries
(:func:`synthloom.evaluate.bootstrap.bootstrap_ci`, Efron & Tibshirani 1993): the interval
covers the sampling of queries, for this corpus and these systems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthloom.evaluate.bootstrap import bootstrap_ci

Ranking = Sequence[str] | Sequence[tuple[str, float]] | Mapping[str, float]
"""One query's ranked documents: doc ids best first, (doc_id, score) pairs best first, or a
mapping doc_id -> score (sorted by descending score; ties keep the mapping's order)."""


def _mean(values: Sequence[float], _: Sequence[Any]) -> float:
    return float(np.mean(np.asarray(values, dtype=float)))


def _difference(base: Sequence[float], new: Sequence[float]) -> float:
    return float(np.mean(np.asarray(new, dtype=float) - np.asarray(base, dtype=float)))


def ranked_ids(ranking: Ranking) -> list[str]:
    """Doc ids of one query's ranking, best first, as ``str``, each once (first position)."""
    if isinstance(ranking, Mapping):
        items = sorted(ranking.items(), key=lambda item: -float(item[1]))  # stable for ties
        ids = [doc for doc, _ in items]
    else:
        ids = [r[0] if isinstance(r, tuple | list) else r for r in ranking]
    return list(dict.fromkeys(str(d) for d in ids))


def _qrels(qrels: Mapping[Any, Mapping[Any, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for qid, judged in qrels.items():
        row: dict[str, int] = {}
        for doc, rel in judged.items():
            value = float(rel)
            if not (np.isfinite(value) and value == int(value)):
                raise ValueError(f"query {qid!r}, doc {doc!r}: relevance {rel!r} is not an integer")
            row[str(doc)] = int(value)
        out[str(qid)] = row
    return out


def per_query(
    run: Mapping[Any, Ranking], qrels: Mapping[Any, Mapping[Any, Any]], k: int = 10
) -> dict[str, dict[str, float]]:
    """nDCG@k and MRR@k of every judged query: ``{query_id: {"ndcg@k": x, "mrr@k": y}}``.

    A judged query is one in ``qrels`` with at least one document of relevance >= 1; a judged
    query the run has no (or an empty) list for scores 0 on both. Run queries without
    judgments are ignored. Relevance levels must be integers (0 = judged not relevant).

    Raises:
        ValueError: ``k < 1`` or a relevance level that is not an integer.
    """
    import pytrec_eval

    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    judged = {q: docs for q, docs in _qrels(qrels).items() if any(r >= 1 for r in docs.values())}
    names = (f"ndcg@{k}", f"mrr@{k}")
    scores = {q: dict.fromkeys(names, 0.0) for q in judged}
    cut: dict[str, dict[str, float]] = {}
    for qid, ranking in run.items():
        ids = ranked_ids(ranking)[:k]
        if str(qid) in judged and ids:
            cut[str(qid)] = {doc: float(k - i) for i, doc in enumerate(ids)}
    if cut:
        evaluator = pytrec_eval.RelevanceEvaluator(
            {q: judged[q] for q in cut}, {f"ndcg_cut.{k}", "recip_rank"}
        )
        for qid, values in evaluator.evaluate(cut).items():
            scores[qid] = {names[0]: values[f"ndcg_cut_{k}"], names[1]: values["recip_rank"]}
    return scores


@dataclass
class RankingScores:
    """Metrics of one run: ``metrics`` = ``{"ndcg@k": {"value", "low", "high"}, "mrr@k":
    {...}}`` (means over ``queries`` judged queries, bootstrap interval at ``confidence``),
    ``per_query`` as :func:`per_query` returns it, and the queries left out or scored 0:
    ``missing_from_run`` (judged, no list: scored 0), ``unjudged`` (in the run, not in qrels
    or with no relevant document: ignored)."""

    k: int
    queries: int
    metrics: dict[str, dict[str, float]]
    per_query: dict[str, dict[str, float]]
    missing_from_run: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)
    confidence: float = 0.95

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "k": self.k,
            "queries": self.queries,
            "confidence": self.confidence,
            "metrics": self.metrics,
            "missing_from_run": self.missing_from_run,
            "unjudged": self.unjudged,
        }
        if per_query:
            out["per_query"] = self.per_query
        return out


def evaluate_run(
    run: Mapping[Any, Ranking],
    qrels: Mapping[Any, Mapping[Any, Any]],
    k: int = 10,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> RankingScores:
    """nDCG@k and MRR@k of ``run`` (query id -> :data:`Ranking`) against ``qrels`` (query id
    -> {doc id: integer relevance}), with percentile-bootstrap intervals over queries.

    Raises:
        ValueError: no judged query (see :func:`per_query`), ``k < 1``, a non-integer
            relevance, ``n_resamples < 1`` or ``confidence`` outside (0, 1).
    """
    scores = per_query(run, qrels, k)
    if not scores:
        raise ValueError("qrels have no query with a relevant document (relevance >= 1)")
    ids = list(scores)
    metrics = {}
    for name in (f"ndcg@{k}", f"mrr@{k}"):
        values = [scores[q][name] for q in ids]
        point, low, high = bootstrap_ci(values, values, _mean, n_resamples, seed, confidence)
        metrics[name] = {"value": point, "low": low, "high": high}
    given = {str(q) for q, r in run.items() if ranked_ids(r)}
    return RankingScores(
        k=k,
        queries=len(ids),
        metrics=metrics,
        per_query=scores,
        missing_from_run=[q for q in ids if q not in given],
        unjudged=sorted(given - set(ids)),
        confidence=confidence,
    )


def paired_difference(
    base: RankingScores,
    new: RankingScores,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Paired bootstrap interval of ``mean(new) - mean(base)`` per metric over the queries
    both scored (same resampled queries for both systems, so narrower than comparing two
    intervals): ``{"ndcg@k": {"value", "low", "high", "queries"}, "mrr@k": {...}}``.

    Raises:
        ValueError: the two were scored at different k or share no query.
    """
    if base.k != new.k:
        raise ValueError(f"scores at different k: {base.k} and {new.k}")
    shared = [q for q in base.per_query if q in new.per_query]
    if not shared:
        raise ValueError("the two runs share no judged query")
    out = {}
    for name in base.metrics:
        a = [base.per_query[q][name] for q in shared]
        b = [new.per_query[q][name] for q in shared]
        point, low, high = bootstrap_ci(a, b, _difference, n_resamples, seed, confidence)
        out[name] = {"value": point, "low": low, "high": high, "queries": len(shared)}
    return out
