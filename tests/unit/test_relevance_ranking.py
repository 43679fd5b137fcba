"""nDCG@10 and MRR@10 through trec_eval, bootstrap intervals, and the BBC known-item data."""

from __future__ import annotations

import math

import pytest

from synthloom.evaluate.ranking import evaluate_run, paired_difference, per_query, ranked_ids

QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}}
OTHERS = [f"x{i}" for i in range(20)]


def test_perfect_run_scores_one():
    scores = evaluate_run({"q1": ["d1", "x1"], "q2": [("d2", 0.9), ("x2", 0.1)]}, QRELS)
    assert scores.metrics["ndcg@10"]["value"] == pytest.approx(1.0)
    assert scores.metrics["mrr@10"]["value"] == pytest.approx(1.0)
    assert scores.queries == 2 and scores.missing_from_run == []


def test_item_at_rank_two():
    values = per_query({"q1": ["x1", "d1", "x2"]}, {"q1": {"d1": 1}})["q1"]
    assert values["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert values["mrr@10"] == pytest.approx(0.5)


@pytest.mark.parametrize("rank", [1, 3, 10, 11, 15])
def test_known_item_metrics_are_functions_of_its_rank(rank):
    run = {"q": OTHERS[: rank - 1] + ["d"] + OTHERS[rank - 1 :]}
    values = per_query(run, {"q": {"d": 1}}, k=10)["q"]
    assert values["ndcg@10"] == pytest.approx(1 / math.log2(rank + 1) if rank <= 10 else 0.0)
    assert values["mrr@10"] == pytest.approx(1 / rank if rank <= 10 else 0.0)


def test_mrr_takes_the_first_relevant_document():
    values = per_query({"q": ["x1", "x2", "b", "a"]}, {"q": {"a": 1, "b": 1}})["q"]
    assert values["mrr@10"] == pytest.approx(1 / 3)


def test_graded_ndcg_uses_linear_gain_and_the_ideal_order():
    values = per_query({"q": ["d2", "d1"]}, {"q": {"d1": 2, "d2": 1}})["q"]
    dcg = 1 + 2 / math.log2(3)
    ideal = 2 + 1 / math.log2(3)
    assert values["ndcg@10"] == pytest.approx(dcg / ideal)


def test_list_order_wins_over_tied_scores():
    # trec_eval alone would put "z" first (ties go to the larger doc id)
    values = per_query({"q": [("a", 1.0), ("z", 1.0)]}, {"q": {"a": 1}})["q"]
    assert values["ndcg@10"] == pytest.approx(1.0)
    mapping = per_query({"q": {"z": 1.0, "a": 2.0}}, {"q": {"a": 1}})["q"]  # sorted by score
    assert mapping["mrr@10"] == pytest.approx(1.0)
    assert ranked_ids(["a", "b", "a"]) == ["a", "b"]


def test_missing_queries_score_zero_and_unjudged_ones_are_ignored():
    qrels = {**QRELS, "q3": {"d3": 0}}  # q3 has no relevant document: not a judged query
    scores = evaluate_run({"q1": ["d1"], "q9": ["d9"], "q3": ["d3"]}, qrels)
    assert scores.queries == 2
    assert scores.per_query["q2"] == {"ndcg@10": 0.0, "mrr@10": 0.0}
    assert scores.missing_from_run == ["q2"]
    assert scores.unjudged == ["q3", "q9"]
    assert scores.metrics["mrr@10"]["value"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        evaluate_run({"q": ["d"]}, {"q": {"d": 0}})
    with pytest.raises(ValueError):
        per_query({"q": ["d"]}, {"q": {"d": 0.5}})


def test_bootstrap_interval_over_queries():
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(40)}
    run = {f"q{i}": ([f"d{i}"] if i % 2 else ["x", f"d{i}"]) for i in range(40)}
    scores = evaluate_run(run, qrels, n_resamples=500, seed=1)
    mrr = scores.metrics["mrr@10"]
    assert mrr["value"] == pytest.approx(0.75)
    assert mrr["low"] < 0.75 < mrr["high"] and 0.5 <= mrr["low"] and mrr["high"] <= 1.0
    again = evaluate_run(run, qrels, n_resamples=500, seed=1)
    assert again.metrics == scores.metrics  # same seed, same interval
    perfect = evaluate_run({q: [d] for q, r in qrels.items() for d in r}, qrels)
    assert perfect.metrics["ndcg@10"] == {"value": 1.0, "low": 1.0, "high": 1.0}


def test_paired_difference():
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(30)}
    base = evaluate_run({f"q{i}": ["x", f"d{i}"] for i in range(30)}, qrels)
    new = evaluate_run({f"q{i}": [f"d{i}"] for i in range(30)}, qrels)
    diff = paired_difference(base, new)
    assert diff["mrr@10"]["value"] == pytest.approx(0.5)
    assert diff["mrr@10"]["low"] == pytest.approx(0.5)  # every query gained the same
    assert paired_difference(base, base)["ndcg@10"]["value"] == 0.0


# ------------------------------------------------------------------ BBC known-item data


@pytest.fixture(scope="module")
def bbc():
    from synthloom.relevance_data import load_bbc_known_item

    return load_bbc_known_item(test_fraction=0.5, seed=13)


def test_known_item_bodies_do_not_contain_their_headline(bbc):
    for split in (bbc.dev_queries, bbc.test_queries):
        for qid, headline in split.items():
            doc = qid.removeprefix("q:")
            body = bbc.corpus[doc]
            assert headline.lower() not in body.lower()
            assert not body.startswith(headline)


def test_known_item_has_one_relevant_document_per_query(bbc):
    for queries, qrels in ((bbc.dev_queries, bbc.dev_qrels), (bbc.test_queries, bbc.test_qrels)):
        assert set(queries) == set(qrels)
        for judged in qrels.values():
            assert list(judged.values()) == [1]
            assert next(iter(judged)) in bbc.corpus
    assert not set(bbc.dev_queries) & set(bbc.test_queries)
    assert len(bbc.dev_queries) + len(bbc.test_queries) == len(bbc.corpus)
    assert abs(len(bbc.test_queries) - len(bbc.corpus) / 2) <= 1
    # no two queries share a headline, no two documents share a body
    headlines = [*bbc.dev_queries.values(), *bbc.test_queries.values()]
    assert len(set(headlines)) == len(headlines)
    assert len(set(bbc.corpus.values())) == len(bbc.corpus)
    assert bbc.summary()["dropped_articles"] > 0


def test_known_item_split_is_seed_stable(bbc):
    from synthloom.relevance_data import split_query_ids

    ids = [*bbc.dev_queries, *bbc.test_queries]
    dev, test = split_query_ids(ids, 0.5, 13)
    assert set(test) == set(bbc.test_queries) and set(dev) == set(bbc.dev_queries)
    assert split_query_ids(ids[::-1], 0.5, 13)[1] == test[::-1]  # order does not matter
    assert set(split_query_ids(ids, 0.5, 14)[1]) != set(test)
    dev30, test30 = split_query_ids(ids, 0.3, 13)
    assert len(test30) == round(0.3 * len(ids)) and set(test30) <= set(test)
    with pytest.raises(ValueError):
        split_query_ids(ids, 1.0, 13)


def test_shingle_containment_finds_a_longer_copy():
    from synthloom.relevance_data import shingle_containment_pairs

    base = "one two three four five six seven eight nine ten"
    texts = [base, base + " eleven twelve", "completely different words in this text here"]
    assert shingle_containment_pairs(texts, size=5, threshold=0.8) == [(0, 1)]
