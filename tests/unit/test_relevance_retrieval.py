"""Hybrid retrieval: reciprocal-rank fusion, BM25, dense (the real ONNX embedder), reports."""

from __future__ import annotations

import numpy as np
import pytest

from synthloom.llm.embeddings import SentenceEmbedder
from synthloom.operators.relevance.retrieval import (
    HybridRetriever,
    reciprocal_rank_fusion,
)

CORPUS = [
    ("cat", "A cat naps on the warm sofa all afternoon."),
    ("plant", "Photosynthesis in leaves uses chlorophyll to capture sunlight."),
    ("rates", "The central bank raised interest rates by a quarter point."),
    ("match", "The striker scored twice as the home team won the cup final."),
    ("blank", "   \n "),
    ("none", None),
    ("cat-copy", "A cat  naps on the warm sofa\nall afternoon."),
    ("plant", "A second document under an id already used."),
    ("stop", "the and of to"),
    ("code", "Compilers translate source code into machine instructions."),
]


# ------------------------------------------------------------------ fusion (no model)


def test_rrf_hand_example():
    # a: 1/61 + 1/62, c: 1/61 + 1/63, b: 1/62, d: 1/63
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert [d for d, _ in fused] == ["a", "c", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3][1] == pytest.approx(1 / 63)


def test_rrf_rewards_agreement_over_one_top_rank():
    # "x" is first in one list only; "y" is second in both: 2/62 > 1/61
    fused = reciprocal_rank_fusion([["x", "y"], ["z", "y"]])
    assert fused[0][0] == "y"


def test_rrf_ties_break_by_best_rank_then_first_appearance():
    assert [d for d, _ in reciprocal_rank_fusion([["x", "y"], ["y", "x"]])] == ["x", "y"]
    assert [d for d, _ in reciprocal_rank_fusion([["y", "x"], ["x", "y"]])] == ["y", "x"]


def test_rrf_counts_a_repeated_id_once_and_limits():
    fused = reciprocal_rank_fusion([["a", "a", "b"]], k=0, limit=1)
    assert fused == [("a", 1.0)]
    assert reciprocal_rank_fusion([["a", "a", "b"]], k=0)[1] == ("b", 0.5)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], k=-1)


# ------------------------------------------------------------------ the retriever


@pytest.fixture(scope="module")
def embedder() -> SentenceEmbedder:
    return SentenceEmbedder(cache_path=None, quantized=False)


@pytest.fixture(scope="module")
def retriever(embedder) -> HybridRetriever:
    r = HybridRetriever(embedder)
    r.index(CORPUS)
    return r


def test_report_lists_skipped_documents_and_keeps_the_rest(retriever):
    report = retriever.report_
    assert report.given == len(CORPUS)
    assert report.empty == ["blank", "none"]
    assert report.duplicate_ids == ["plant"]
    assert report.duplicate_texts == {"cat-copy": "cat"}  # whitespace runs collapsed
    assert report.no_terms == ["stop"]
    assert report.skipped == 4 and report.indexed == 6
    assert retriever.doc_ids_ == ["cat", "plant", "rates", "match", "stop", "code"]
    # the first document under a repeated id is the one kept
    assert retriever.bm25("chlorophyll")[0][0] == "plant"
    assert retriever.bm25("second document already") == []


def test_bm25_ranks_the_exact_term_document_first_and_only_matches(retriever):
    hits = retriever.bm25("chlorophyll photosynthesis", k=10)
    assert [d for d, _ in hits] == ["plant"]  # no other document has either term
    assert hits[0][1] > 0
    two = retriever.bm25("interest cup", k=10)
    assert {d for d, _ in two} == {"rates", "match"}
    assert retriever.bm25("the of and") == []  # stop words only


def test_dense_finds_a_paraphrase_without_shared_words(retriever):
    assert retriever.bm25("kitten sleeping on a couch") == []
    hits = retriever.dense("kitten sleeping on a couch", k=3)
    assert hits[0][0] == "cat"
    assert len(hits) == 3 and hits[0][1] > hits[1][1] >= hits[2][1]
    assert -1.0 <= hits[2][1] <= hits[0][1] <= 1.0
    assert retriever.dense("borrowing costs go up", k=1)[0][0] == "rates"


def test_fused_is_rrf_of_the_two_lists(retriever):
    query = "cat cup final"
    lists = [
        [d for d, _ in retriever.bm25(query, 100)],
        [d for d, _ in retriever.dense(query, 100)],
    ]
    assert retriever.fused(query, k=6) == reciprocal_rank_fusion(lists, k=60, limit=6)
    assert [d for d, _ in retriever.fused(query, k=2)] == [
        d for d, _ in reciprocal_rank_fusion(lists)[:2]
    ]


def test_candidates_carry_every_score_and_rank(retriever):
    cands = retriever.candidates("interest rates rise", k=4)
    assert [c.doc_id for c in cands] == [d for d, _ in retriever.fused("interest rates rise", 4)]
    top = cands[0]
    assert top.doc_id == "rates" and top.bm25_rank == 1 and top.dense_rank == 1
    assert top.fused == pytest.approx(2 / 61)
    unmatched = [c for c in cands if c.bm25 == 0]
    assert unmatched and all(c.bm25_rank is None for c in unmatched)
    feats = top.features()
    assert set(feats) == {"bm25", "bm25_rr", "dense", "dense_rr", "fused"}
    assert feats["bm25_rr"] == 1.0 and unmatched[0].features()["bm25_rr"] == 0.0


def test_run_scores_queries_by_id_and_blank_queries_find_nothing(retriever):
    run = retriever.run({"q1": "chlorophyll", 7: "central bank", "q3": "  "}, "fused", k=2)
    assert list(run) == ["q1", "7", "q3"]
    assert run["q1"][0][0] == "plant" and run["7"][0][0] == "rates" and run["q3"] == []
    # the batch path gives what one query at a time gives
    dense = retriever.run({"a": "kitten sleeping", "b": "football"}, "dense", k=3)
    single = retriever.dense("kitten sleeping", 3)
    assert [d for d, _ in dense["a"]] == [d for d, _ in single] and single[0][0] == "cat"
    assert [s for _, s in dense["a"]] == pytest.approx([s for _, s in single], abs=1e-5)
    with pytest.raises(ValueError):
        retriever.run({"a": "x"}, "sparse")
    with pytest.raises(ValueError):
        retriever.bm25("x", k=0)


def test_corpora_without_terms_or_documents_do_not_crash(embedder):
    r = HybridRetriever(embedder)
    with pytest.raises(RuntimeError):
        r.bm25("anything")
    report = r.index({"a": "the of", "b": "and to"})  # nothing for BM25 to index
    assert report.no_terms == ["a", "b"]
    assert r.bm25("the") == [] and r.bm25("anything") == []
    assert [d for d, _ in r.fused("anything", 5)] == [d for d, _ in r.dense("anything", 5)]
    empty = HybridRetriever(embedder)
    report = empty.index([("x", ""), ("y", None)])
    assert report.indexed == 0 and report.empty == ["x", "y"]
    assert empty.fused("query") == [] and empty.candidates("query") == []
    assert empty.run({"q": "query"}, "dense") == {"q": []}


class _Unnormalised:
    def embed(self, texts):
        return np.array([[3.0, 4.0] if "a" in t else [0.0, 2.0] for t in texts])


def test_any_embedder_works_and_rows_are_normalised():
    r = HybridRetriever(_Unnormalised())
    r.index({"d1": "aaa words", "d2": "zzz words"})
    hits = r.dense("a query with a", k=2)
    assert hits[0] == ("d1", pytest.approx(1.0))
    assert hits[1] == ("d2", pytest.approx(0.8))
