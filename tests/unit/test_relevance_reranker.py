"""The pairwise reranker on synthetic toy sets: it learns the order, honours trust weights."""

from __future__ import annotations

import numpy as np
import pytest

from synthloom.evaluate.reranker import PairwiseReranker
from synthloom.operators.relevance.retrieval import Candidate


def toy(queries: int, docs: int, seed: int, sign: float = 1.0, weight: float = 1.0):
    """Rows whose target is ``sign * signal`` plus a little noise; ``noise`` is unrelated;
    each query's signal sits at its own level, so only within-query order is learnable."""
    rng = np.random.default_rng(seed)
    rows, groups = [], {}
    for q in range(queries):
        level = rng.normal(0, 5)
        signal = level + rng.normal(0, 1, docs)
        target = sign * (signal - level) + rng.normal(0, 0.1, docs)
        qid = f"s{seed}q{q}"
        groups[qid] = []
        for d in range(docs):
            feats = {"signal": float(signal[d]), "noise": float(rng.normal(0, 1))}
            rows.append((qid, f"d{d}", feats, float(target[d]), weight))
            groups[qid].append((f"d{d}", feats, float(target[d])))
    return rows, groups


def test_learns_to_put_the_high_target_document_first():
    rows, _ = toy(queries=40, docs=6, seed=0)
    model = PairwiseReranker().fit(rows)
    _, held_out = toy(queries=50, docs=6, seed=1)
    ranked = model.rerank({q: [(d, f) for d, f, _ in items] for q, items in held_out.items()})
    hits = 0
    for q, items in held_out.items():
        best = max(items, key=lambda item: item[2])[0]
        hits += ranked[q][0][0] == best
        assert [s for _, s in ranked[q]] == sorted((s for _, s in ranked[q]), reverse=True)
    assert hits >= 45  # 90% of held-out queries; chance is 1 in 6
    coef = model.coefficients()
    assert coef["signal"] + coef["signal@z"] > 0
    assert model.columns_ == ["noise", "signal", "noise@z", "signal@z"]
    assert model.pairs_ == 40 * 15


def test_trust_weights_decide_between_conflicting_sources():
    trusted, _ = toy(queries=10, docs=5, seed=2, sign=+1.0, weight=1.0)
    doubtful, _ = toy(queries=40, docs=5, seed=3, sign=-1.0, weight=0.05)
    weighted = PairwiseReranker().fit(trusted + doubtful)
    unweighted = PairwiseReranker().fit([r[:4] for r in trusted + doubtful])  # weight 1
    signal = {
        m: c["signal"] + c["signal@z"]
        for m, c in (
            ("weighted", weighted.coefficients()),
            ("unweighted", unweighted.coefficients()),
        )
    }
    assert signal["weighted"] > 0 > signal["unweighted"]


def test_candidates_from_the_retriever_and_extra_columns():
    def cand(doc, bm25, dense, rank):
        return Candidate(doc, bm25, rank, dense, rank, 1 / (60 + rank), rank)

    train = []
    for q in range(12):
        cands = [cand(f"d{i}", 5.0 - i, 0.5 - 0.1 * i, i + 1) for i in range(5)]
        judge = [0.0, 0.2, 0.9, 0.1, 0.3]  # the judge's favourite is third by retrieval
        for c, j in zip(cands, judge, strict=True):
            train.append((f"q{q}", c.doc_id, {**c.features(), "judge": j}, j * 3, 1.0))
    model = PairwiseReranker(temperature=1.0).fit(train)
    test = [cand(f"d{i}", 5.0 - i, 0.5 - 0.1 * i, i + 1) for i in range(5)]
    judge = [0.1, 0.0, 0.2, 0.8, 0.3]
    ranked = model.rerank(
        {"t": [(c.doc_id, {**c.features(), "judge": j}) for c, j in zip(test, judge, strict=True)]}
    )
    assert ranked["t"][0][0] == "d3"
    # Candidate objects go in as they are when the model uses only their features
    plain = PairwiseReranker().fit([(r[0], r[1], cand(r[1], 1.0, 0.1, 1), r[3]) for r in train])
    assert plain.feature_names_ == ["bm25", "bm25_rr", "dense", "dense_rr", "fused"]
    assert len(plain.rerank({"t": test}, k=2)["t"]) == 2


def test_bradley_terry_link_and_ties_keep_input_order():
    rows, groups = toy(queries=20, docs=4, seed=4)
    model = PairwiseReranker(link="bradley_terry").fit(rows)
    scores = model.score(
        "x", [("a", {"signal": 1.0, "noise": 0.0}), ("b", {"signal": 1.0, "noise": 0.0})]
    )
    assert scores[0][1] == pytest.approx(scores[1][1])
    ranked = model.rerank(
        {"x": [("a", {"signal": 1.0, "noise": 0.0}), ("b", {"signal": 1.0, "noise": 0.0})]}
    )
    assert [d for d, _ in ranked["x"]] == ["a", "b"]
    assert model.rerank({"empty": []}) == {"empty": []}


def test_errors_name_what_is_wrong():
    rows, _ = toy(queries=3, docs=3, seed=5)
    with pytest.raises(RuntimeError):
        PairwiseReranker().rerank({"q": [("d", {"signal": 1.0, "noise": 0.0})]})
    with pytest.raises(ValueError, match="no pair"):
        PairwiseReranker().fit([("q1", "d", {"a": 1.0}, 1.0), ("q2", "d", {"a": 2.0}, 0.0)])
    with pytest.raises(ValueError, match="no pair"):
        PairwiseReranker().fit([(q, d, f, t, 0.0) for q, d, f, t, _ in rows])
    tied = [("q", "a", {"x": 1.0}, 2.0), ("q", "b", {"x": 0.0}, 2.0), ("q", "c", {"x": 0.5}, 2.5)]
    with pytest.raises(ValueError, match="no pair"):
        PairwiseReranker().fit(tied[:2])  # equal targets say nothing about order
    assert PairwiseReranker().fit(tied).pairs_ == 2
    with pytest.raises(ValueError, match="no pair"):
        PairwiseReranker(min_gap=0.5).fit(tied)
    with pytest.raises(ValueError, match="appears twice"):
        PairwiseReranker().fit(rows + [rows[0]])
    with pytest.raises(ValueError, match="outside"):
        PairwiseReranker().fit([(*rows[0][:4], 1.5)])
    with pytest.raises(ValueError, match="unknown link"):
        PairwiseReranker(link="probit").fit(rows)
    model = PairwiseReranker().fit(rows)
    with pytest.raises(ValueError, match="no feature 'signal'"):
        model.rerank({"q": [("d", {"noise": 0.0})]})
    with pytest.raises(ValueError, match="NaN"):
        model.rerank({"q": [("d", {"signal": float("nan"), "noise": 0.0})]})
