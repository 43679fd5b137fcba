"""The TarGEN pipeline end to end on a scripted backend: counts, provenance, crash and resume."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatRequest
from synthloom.llm.cache import CachedBackend, ResponseCache, cache_key
from synthloom.operators.targen import LabelConstraintPlanner
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Origin, read_jsonl, read_parquet, record_id
from tests.unit.scripted import ScriptedBackend

LABELS = {"alpha": "things about alpha", "beta": "things about beta", "gamma": "about gamma"}


def respond(request: ChatRequest) -> str:
    """A deterministic fake model that sometimes writes off-label text (to exercise
    self-correction) and sometimes answers with too short a text (to exercise retries)."""
    system, user = request.messages[0]["content"], request.messages[1]["content"]
    seed = request.sampling.seed or 0
    if request.json_schema and "contexts" in json.dumps(request.json_schema):
        return json.dumps({"contexts": ["a school", "a market", "a harbour"]})
    if request.json_schema and "unit" in request.json_schema.get("properties", {}):
        return json.dumps({"unit": "toy text"})
    if "concrete situations" in user:
        subject = re.search(r"Label: (\w+)", user).group(1)
        setting = re.search(r"Setting: (.+)", user).group(1)
        return "\n".join(f"{i}. event {i} about {subject} at {setting} today" for i in range(4))
    if system.startswith("You write realistic examples"):
        label = re.search(r"(?:Label: |the label )(\w+)", user).group(1)
        if seed % 7 == 0:
            return "too short"
        if seed % 3 == 0:  # off-label: self-correction should catch it
            label = next(x for x in LABELS if x != label)
        return f"A report on {label} number {seed} with several words in it for length."
    if request.json_schema:  # blind labelling
        text = re.search(r"Text: (.+)", user).group(1)
        label = next(x for x in LABELS if f" {x} " in f" {text} ")
        return json.dumps({"label": label})
    raise AssertionError(f"unexpected request: {user[:80]}")


def recipe(n: int = 12, dedup: dict | None = None, **targen) -> Recipe:
    return Recipe(
        task="toy",
        description="Toy texts.",
        labels=LABELS,
        n=n,
        chunk_size=4,
        targen={"contexts": 3, "seeds_per_pair": 4, "max_words": 12, **targen},
        dedup=dedup,
    )


def run(tmp_path, name, r, *, fail_after=None, resume=False):
    scripted = ScriptedBackend(respond, fail_after=fail_after)
    backend = CachedBackend(scripted, ResponseCache(tmp_path / f"{name}.sqlite"))
    manifest = run_recipe(r, tmp_path / name, resume=resume, backend=backend)
    return manifest, scripted


def test_run_accepts_n_balanced_records_with_provenance(tmp_path):
    manifest, _ = run(tmp_path, "out", recipe(max_regenerations=0))
    out = tmp_path / "out"
    data = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert len(data) == manifest["accepted"] == 12
    assert Counter(r.label for r in data) == {"alpha": 4, "beta": 4, "gamma": 4}
    assert rejected, "the fake model writes off-label texts; some must be rejected"
    # every draft ends up exactly once, accepted or rejected
    finished = [r.provenance.plan.id for r in data + rejected]
    assert sorted(finished) == sorted(d.id for d in drafts)
    for r in data:
        p = r.provenance
        assert r.origin is Origin.synthetic
        assert r.label == p.target_label
        assert r.id == record_id("toy", r.inputs, r.label)
        assert r.verdict("self_consistency").passed is True
        assert p.backend == "scripted" and p.recipe_sha256 == manifest["recipe_sha256"]
        assert p.plan.context and p.instance_seed and p.label_constraint
        assert p.sampling["temperature"] == 0.9
        names = [s.operator for s in p.operators]
        assert names[0] == "targen.label_constraints"
        assert "targen.instance_generation" in names and names[-1] == "targen.self_correction"
        assert all(s.prompt_sha256 for s in p.operators)
    for r in rejected:
        assert r.rejected.reason
    assert [r.id for r in read_parquet(out / "data.parquet")] == [r.id for r in data]
    assert manifest["flip_rate"] > 0
    assert manifest["counts_per_label"] == {"alpha": 4, "beta": 4, "gamma": 4}
    assert manifest["recipe_sha256"] == recipe(max_regenerations=0).sha256()


def test_self_correction_reason_names_both_labels(tmp_path):
    run(tmp_path, "out", recipe(max_regenerations=0))
    rejected = list(read_jsonl(tmp_path / "out" / "rejected.jsonl"))
    reasons = [r.rejected.reason for r in rejected if r.rejected.operator.endswith("correction")]
    assert reasons and all("target" in x and "labelled it" in x for x in reasons)


def test_without_self_correction_nothing_is_relabelled(tmp_path):
    manifest, scripted = run(tmp_path, "out", recipe(self_correction=False))
    assert manifest["self_correction_checks"] == 0
    assert not any(
        r.json_schema and "label" in json.dumps(r.json_schema)
        for r in scripted.requests
        if "contexts" not in json.dumps(r.json_schema or {})
    )


def test_crash_then_resume_loses_nothing_and_repeats_no_call(tmp_path):
    clean, _ = run(tmp_path, "clean", recipe())
    crash_at = clean["llm_calls"] * 3 // 4  # after planning, mid-generation
    with pytest.raises(RuntimeError, match="scripted crash"):
        run(tmp_path, "crashed", recipe(), fail_after=crash_at)
    before = list(read_jsonl(tmp_path / "crashed" / "data.jsonl"))
    assert 0 < len(before) < 12
    cache = ResponseCache(tmp_path / "crashed.sqlite")
    answered = len(cache)
    cache.close()
    manifest, resumed = run(tmp_path, "crashed", recipe(), resume=True)
    # no request answered before the crash was asked again
    identity = resumed.identity
    keys = {cache_key(identity, r) for r in resumed.requests}
    assert len(keys) == len(resumed.requests)
    assert answered == crash_at and len(resumed.requests) == clean["llm_calls"] - answered
    after = list(read_jsonl(tmp_path / "crashed" / "data.jsonl"))
    assert [r.model_dump() for r in after[: len(before)]] == [r.model_dump() for r in before]
    clean_data = list(read_jsonl(tmp_path / "clean" / "data.jsonl"))
    assert sorted((r.id, r.text) for r in after) == sorted((r.id, r.text) for r in clean_data)
    assert manifest["accepted"] == 12


def test_rerun_of_finished_run_makes_no_llm_call(tmp_path):
    run(tmp_path, "out", recipe())
    manifest, scripted = run(tmp_path, "out", recipe(), resume=True)
    assert scripted.requests == []
    assert manifest["this_session"]["llm_calls"] == 0
    assert manifest["accepted"] == 12


def test_existing_run_needs_resume_and_same_recipe(tmp_path):
    run(tmp_path, "out", recipe())
    with pytest.raises(UserInputError, match="--resume"):
        run(tmp_path, "out", recipe())
    with pytest.raises(UserInputError, match="different recipe"):
        run(tmp_path, "out", recipe(n=13), resume=True)


def test_draft_budget_stops_a_label_the_model_never_gets_right(tmp_path):
    def stubborn(request):
        if request.messages[0]["content"].startswith("You write realistic examples"):
            seed = request.sampling.seed
            return f"A report on alpha number {seed} with enough words to be accepted."
        return respond(request)

    r = recipe(n=6, max_drafts_factor=2.0, max_regenerations=0)
    backend = CachedBackend(ScriptedBackend(stubborn), ResponseCache(tmp_path / "c.sqlite"))
    manifest = run_recipe(r, tmp_path / "out", backend=backend)
    assert manifest["counts_per_label"] == {"alpha": 2}
    assert manifest["accepted"] + manifest["rejected"] == 12  # n * max_drafts_factor


def test_planner_gives_labels_furthest_below_quota():
    quotas = {"a": 3, "b": 3}
    assert LabelConstraintPlanner.next_labels(quotas, {"a": 3, "b": 0}, 5) == ["b", "b", "b"]
    assert LabelConstraintPlanner.next_labels(quotas, {}, 4) == ["a", "b", "a", "b"]
    assert LabelConstraintPlanner.next_labels(quotas, {"a": 3, "b": 3}, 2) == []


def test_given_contexts_skip_step_one(tmp_path):
    manifest, scripted = run(tmp_path, "out", recipe(contexts=["a pier", "a mine"]))
    assert manifest["accepted"] == 12
    assert not any("contexts" in json.dumps(r.json_schema or {}) for r in scripted.requests)
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    assert {r.provenance.plan.context for r in data} <= {"a pier", "a mine"}


def test_keep_on_disagreement_lowers_trust_weight_instead_of_rejecting(tmp_path):
    manifest, _ = run(
        tmp_path, "out", recipe(on_disagreement="keep", disagreement_trust_weight=0.25)
    )
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    rejected = list(read_jsonl(tmp_path / "out" / "rejected.jsonl"))
    assert not any(r.rejected.operator.endswith("self_correction") for r in rejected)
    kept = [r for r in data if not r.verdict("self_consistency").passed]
    assert kept and all(r.trust_weight == 0.25 for r in kept)
    assert all(r.trust_weight == 1.0 for r in data if r.verdict("self_consistency").passed)
    assert all(r.label == r.provenance.target_label for r in data)
    assert manifest["flip_rate"] > 0


def test_usage_counts_only_this_run_when_a_backend_is_reused(tmp_path):
    scripted = ScriptedBackend(respond)
    backend = CachedBackend(scripted, ResponseCache(tmp_path / "c.sqlite"))
    first = run_recipe(recipe(), tmp_path / "out", backend=backend)
    again = run_recipe(recipe(), tmp_path / "out", resume=True, backend=backend)
    assert first["this_session"]["llm_calls"] == len(scripted.requests) > 0
    assert again["this_session"]["llm_calls"] == 0
    assert again["llm_calls"] == first["llm_calls"]


def _near_rejections(out):
    return [r for r in read_jsonl(out / "rejected.jsonl")
            if r.rejected.operator == "filter.near_duplicates"]


def test_near_duplicates_are_rejected_naming_the_accepted_record(tmp_path):
    r = recipe(n=9, dedup={"jaccard": 0.5}, max_regenerations=0, self_correction=False)
    run(tmp_path, "out", r)
    data = {x.id: x for x in read_jsonl(tmp_path / "out" / "data.jsonl")}
    near = _near_rejections(tmp_path / "out")
    assert near, "the fake model's same-label texts overlap in most shingles"
    for x in near:
        assert x.rejected.collided_with in data  # the record it collided with was kept
        assert x.rejected.similarity >= 0.5
        assert f"of record {x.rejected.collided_with}" in x.rejected.reason


def test_resumed_run_still_rejects_near_duplicates_of_earlier_records(tmp_path):
    r = recipe(n=9, dedup={"jaccard": 0.5}, max_regenerations=0, self_correction=False)
    with pytest.raises(RuntimeError, match="scripted crash"):
        run(tmp_path, "out", r, fail_after=40)
    run(tmp_path, "out", r, resume=True)
    uninterrupted = tmp_path / "clean"
    run(tmp_path, "clean", r)
    ids = sorted(x.id for x in read_jsonl(tmp_path / "out" / "data.jsonl"))
    assert ids == sorted(x.id for x in read_jsonl(uninterrupted / "data.jsonl"))


def test_dedup_threshold_outside_unit_interval_is_refused_at_load(tmp_path):
    from synthloom.pipeline.recipe import load_recipe

    path = tmp_path / "r.yaml"
    path.write_text("task: t\ndescription: d\nlabels: {a: x, b: y}\ndedup:\n  jaccard: 1.5\n")
    with pytest.raises(UserInputError, match=r"line 5: dedup\.jaccard: Input should be less"):
        load_recipe(path)


def test_usage_by_step_accounts_for_every_call_across_a_resume(tmp_path):
    clean, _ = run(tmp_path, "clean", recipe(max_regenerations=1))
    by_step = clean["usage_by_step"]
    assert sum(row["calls"] for row in by_step.values()) == clean["llm_calls"]
    assert sum(row["tokens_out"] for row in by_step.values()) == clean["tokens_out"]
    assert {"targen.contexts", "targen.instance_seeds", "targen.generate",
            "targen.self_correction"} <= set(by_step)
    assert by_step["targen.generate"]["calls"] >= 12
    crash_at = clean["llm_calls"] * 3 // 4
    with pytest.raises(RuntimeError, match="scripted crash"):
        run(tmp_path, "crashed", recipe(max_regenerations=1), fail_after=crash_at)
    resumed, _ = run(tmp_path, "crashed", recipe(max_regenerations=1), resume=True)
    # per step, the calls made before the last checkpoint of the crashed session are kept;
    # llm_calls reads the response cache, so it also counts those made after it
    total = sum(row["calls"] for row in resumed["usage_by_step"].values())
    assert total < resumed["llm_calls"] == clean["llm_calls"]
