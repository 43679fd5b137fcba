"""The relevance kind end to end on a scripted model: a corpus with blank and duplicate
documents, queries (a copying one rejected), hybrid candidates with the source always among
them, an ensemble judging every pair in both orders, averaged probabilities, Thurstone
scores, the export layouts, and bad input as one-line errors."""

from __future__ import annotations

import json
import math

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatResponse
from synthloom.operators.relevance.pairwise_relevance import first_slot_probability
from synthloom.operators.relevance.queries import QueryGeneration, longest_copied_span
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import read_jsonl
from synthloom.tasks import TASK_KINDS
from synthloom.tasks.base import layout_rows
from tests.unit.relevance_fixtures import DOCS, judge_parts, model, recipe_data, write_corpus
from tests.unit.scripted import ScriptedBackend


def run(tmp_path, n=6, name="out", bias=0.0, hard=False, **judge):
    recipe = Recipe.model_validate(recipe_data(write_corpus(tmp_path), n=n, **judge))
    backend = ScriptedBackend(model(bias=bias, hard=hard))
    manifest = run_recipe(recipe, tmp_path / name, backend=backend)
    out = tmp_path / name
    return (
        manifest,
        list(read_jsonl(out / "data.jsonl")),
        list(read_jsonl(out / "rejected.jsonl")),
        backend,
    )


def test_the_recipe_runs_end_to_end_and_the_source_document_scores_first(tmp_path):
    manifest, data, rejected, backend = run(tmp_path, n=7)  # every document is drafted
    assert manifest["kind"] == "relevance" and manifest["accepted"] == 6
    corpus = manifest["corpus"]  # blank and duplicate documents: skipped and counted
    assert corpus["given"] == 10 and corpus["indexed"] == 7 and corpus["skipped"] == 3
    assert corpus["empty"] == ["blank"] and corpus["duplicate_ids"] == ["bread"]
    assert corpus["duplicate_texts"] == {"bees-again": "bees"}
    # the copying query is rejected, with the reason recorded
    (copy,) = rejected
    assert copy.inputs["source_id"] == "copycat" and copy.rejected.operator == "relevance.queries"
    assert "copies 9 consecutive words" in copy.rejected.reason
    judge_calls = 0
    for r in data:
        o = r.outputs
        assert r.kind == "relevance" and r.inputs["query"] == DOCS[r.inputs["source_id"]][1]
        assert r.origin == "synthetic" and r.field_origins == {"document": "real"}
        assert r.provenance.source == f"{tmp_path / 'corpus.jsonl'}:{r.inputs['source_id']}"
        assert r.provenance.plan.persona and r.inputs["query_type"] in (
            "keyword",
            "question",
            "multi_hop",
        )
        cands = o["candidates"]
        assert len(cands) == 4 and sum(c["source"] for c in cands) == 1
        assert set(cands[0]["features"]) == {"bm25", "bm25_rr", "dense", "dense_rr", "fused"}
        # both orders x 2 questions: 4 votes per pair, p_a their mean
        for p in o["pairs"]:
            assert len(p["votes"]) == 4 and sorted(p["firsts"]) == ["a", "a", "b", "b"]
            assert p["p_a"] == pytest.approx(sum(p["votes"]) / 4, abs=1e-5)
        assert o["judge_calls"] == 4 * len(o["pairs"])
        judge_calls += o["judge_calls"]
        # Thurstone scores rank the document the script prefers (the source) first
        source = next(i for i, c in enumerate(cands) if c["source"])
        assert o["scores"][source] == max(o["scores"]) and o["source_rank"] == 1.0
        assert o["method"] == "thurstone" and sum(o["scores"]) == pytest.approx(0, abs=1e-3)
        assert r.verdict("relevance_scores").passed and r.verdict("relevance_judge").passed
        assert 0.0 < r.trust_weight <= 1.0 and o["agreement"] > 0.5
    assert manifest["usage_by_step"]["relevance.judge"]["calls"] == judge_calls
    # every judged pair was asked in both orders
    shown = [
        judge_parts(q.messages[-1]["content"])
        for q in backend.requests
        if q.messages[0]["content"].startswith("You judge which")
    ]
    assert len(shown) == judge_calls
    assert all((q, b, a) in shown for q, a, b in shown)
    assert all(
        q.top_logprobs == 20
        for q in backend.requests
        if q.messages[0]["content"].startswith("You judge which")
    )


def test_soft_votes_cancel_a_slot_preference_that_hard_votes_turn_into_ties(tmp_path):
    # a judge that adds 0.35 to the first slot: soft votes still rank the source first
    _, data, _, _ = run(tmp_path, n=2, name="soft", bias=0.35)
    assert len(data) == 2 and all(r.outputs["source_rank"] == 1.0 for r in data)
    # between two other documents the orders disagree: agreement 0.5 on those pairs
    assert any(p["agreement"] == 0.5 for r in data for p in r.outputs["pairs"])
    # a hard judge that always answers A: both orders cancel to 0.5, no score, rejected
    _, data, rejected, _ = run(tmp_path, n=2, name="hard", bias=0.6, hard=True, soft=False)
    assert data == [] and rejected
    judged = [r for r in rejected if r.rejected.operator == "relevance.scores"]
    assert judged and all("told no candidate apart" in r.rejected.reason for r in judged)
    assert all(p["p_a"] == 0.5 for r in judged for p in r.outputs["pairs"])


def test_layouts_export_pairs_triples_and_listwise(tmp_path):
    _, data, _, _ = run(tmp_path, n=2)
    layouts = TASK_KINDS["relevance"].layouts
    pairs = layout_rows(layouts["pairs"], data)
    assert len(pairs) == 8 and sum(r["source"] for r in pairs) == 2
    assert {"query", "doc_id", "document", "score", "trust", "source", "query_id"} == set(pairs[0])
    triples = layout_rows(layouts["triples"], data)
    assert triples and all(t["probability"] >= 0.75 for t in triples)
    by_query = {r.id: r for r in data}
    for t in triples:  # the positive out-scores the negative, and the source is never negative
        cands = {c["doc_id"]: c for c in by_query[t["query_id"]].outputs["candidates"]}
        assert cands[t["positive_id"]]["score"] > cands[t["negative_id"]]["score"]
        assert not cands[t["negative_id"]]["source"]
    listwise = layout_rows(layouts["listwise"], data)
    assert len(listwise) == 2 and len(listwise[0]["docs"]) == len(listwise[0]["labels"]) == 4
    out = tmp_path / "pairs.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in pairs))
    assert len(out.read_text().splitlines()) == 8
    with pytest.raises(ValueError, match="not a relevance record"):
        layouts["pairs"](data[0].model_copy(update={"outputs": {}}))


def test_query_checks_reject_empty_long_and_copied_queries():
    op = QueryGeneration(ScriptedBackend(lambda q: ""), "Notes.", unit="note", max_words=8)
    doc = "The knight moves in an L shape and can jump over other pieces."
    assert op.check("  ", doc) == "empty query"
    assert op.check("one two three four five six seven eight nine", doc).startswith(
        "too long: 9 words"
    )
    assert op.check("how it moves in an L shape", doc) is None  # 5 words copied: kept
    assert op.check("knight moves in an L shape", doc).startswith("copies 6 consecutive")
    assert longest_copied_span("The knight moves in an L shape!", doc) == 7
    assert op.clean('1. Query: "how does a knight move"\nmore') == "how does a knight move"
    assert op.clean("Here is the search query: knight jumps") == "knight jumps"


def test_first_slot_probability_pools_letters_and_falls_back_to_the_letter():
    lp = [{"A": math.log(0.3), " A": math.log(0.3), "B": math.log(0.2), "x": math.log(0.1)}]
    assert first_slot_probability(ChatResponse(text="A", top_logprobs=lp)) == pytest.approx(0.75)
    only_a = [{"A": math.log(0.8), "x": math.log(0.1)}]  # B bounded by the smallest listed
    assert first_slot_probability(ChatResponse(text="A", top_logprobs=only_a)) == (
        pytest.approx(0.8 / 0.9)
    )
    assert first_slot_probability(ChatResponse(text=" B.")) == 0.0
    assert first_slot_probability(ChatResponse(text="A", top_logprobs=lp), soft=False) == 1.0
    assert first_slot_probability(ChatResponse(text="Neither")) is None


@pytest.mark.parametrize(
    "step, words",
    [
        ({"type": "relevance.corpus"}, "give either source"),
        ({"type": "relevance.corpus", "source": "bbc", "file": "x.jsonl"}, "give either source"),
        ({"type": "relevance.corpus", "file": "missing.jsonl"}, "corpus file not found"),
        ({"type": "relevance.judge", "questions": ["Which {doc} fits?"]}, "may use only"),
        ({"type": "relevance.queries", "query_types": {"k": "a {topic}"}}, "may use only"),
        ({"type": "relevance.candidates", "k": 1}, "greater than or equal to 2"),
    ],
)
def test_a_bad_step_is_a_one_line_error(tmp_path, step, words):
    data = recipe_data(write_corpus(tmp_path))
    index = [s["type"] for s in data["steps"]].index(step["type"])
    data["steps"][index] = step
    path = tmp_path / "r.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(UserInputError, match=words) as e:
        load_recipe(path)
    assert "\n" not in str(e.value)


def test_the_shipped_recipe_loads_and_its_corpus_file_resolves(tmp_path):
    recipe = load_recipe("recipes/relevance_bbc.yaml")
    assert recipe.task.kind == "relevance"
    assert [s.type for s in recipe.steps] == [
        "relevance.corpus",
        "relevance.queries",
        "relevance.candidates",
        "relevance.judge",
        "relevance.scores",
    ]
    write_corpus(tmp_path)
    data = recipe_data(tmp_path / "corpus.jsonl")
    data["steps"][0]["file"] = "corpus.jsonl"  # relative to the recipe file
    (tmp_path / "r.yaml").write_text(json.dumps(data))
    step = load_recipe(tmp_path / "r.yaml").steps[0]
    assert step.file == str((tmp_path / "corpus.jsonl").resolve())


def test_a_judge_with_no_valid_answer_regenerates_the_query_then_rejects_it(tmp_path):
    recipe = Recipe.model_validate(
        recipe_data(
            write_corpus(tmp_path), n=1, soft=False, on_fail="regenerate", max_regenerations=1
        )
    )
    recipe.steps[0].max_drafts_factor = 1.0

    def respond(request):
        if request.messages[0]["content"].startswith("You judge which"):
            return "Neither of them."
        return model()(request)

    backend = ScriptedBackend(respond)
    run_recipe(recipe, tmp_path / "out", backend=backend)
    (r,) = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert r.rejected.operator == "relevance.judge"
    assert (
        "no valid judge answer" in r.rejected.reason and "after 2 generation" in r.rejected.reason
    )
    writes = [s for s in r.provenance.operators if s.operator == "relevance.queries"]
    assert [s.detail["attempt"] for s in writes] == [0, 1]
