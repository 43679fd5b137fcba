"""The recipe fingerprint covers what changes the data and nothing else."""

from __future__ import annotations

import shutil

import yaml

from synthloom.pipeline.fingerprint import EXCLUDED, FINGERPRINT_VERSION, fingerprint_data
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import read_jsonl
from tests.unit.test_coverage import TREE
from tests.unit.test_targen_pipeline import LABELS, run

RECIPE = {
    "task": "toy", "description": "Toy texts.", "labels": LABELS, "n": 6, "chunk_size": 4,
    "targen": {"contexts": 3, "seeds_per_pair": 4, "max_words": 12, "self_correction": False},
    "coverage": {"taxonomy": "tree.yaml", "personas": True},
}


def _write(folder, recipe=RECIPE, tree=TREE):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tree.yaml").write_text(yaml.safe_dump(tree))
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return folder / "recipe.yaml"


def _drafts(out):
    return [(d.id, d.provenance.instance_seed, d.provenance.plan.persona)
            for d in read_jsonl(out / "drafts.jsonl")]


def test_the_same_recipe_in_two_folders_gives_the_same_records(tmp_path):
    a = load_recipe(_write(tmp_path / "a"))
    b = load_recipe(_write(tmp_path / "elsewhere" / "b"))
    assert a.sha256() == b.sha256()
    run(tmp_path, "out_a", a)
    run(tmp_path, "out_b", b)
    ids = [sorted(r.id for r in read_jsonl(tmp_path / o / "data.jsonl")) for o in ("out_a",
                                                                                  "out_b")]
    assert ids[0] == ids[1] and ids[0]
    assert _drafts(tmp_path / "out_a") == _drafts(tmp_path / "out_b")


def test_a_new_chunk_size_keeps_every_plan_id_and_seed(tmp_path):
    path = _write(tmp_path / "r")
    small = load_recipe(path)
    other = load_recipe(_write(tmp_path / "r2", {**RECIPE, "chunk_size": 5}))
    assert small.sha256() == other.sha256()
    run(tmp_path, "c4", small)
    run(tmp_path, "c5", other)
    assert _drafts(tmp_path / "c4")[:6] == _drafts(tmp_path / "c5")[:6]
    assert sorted(r.id for r in read_jsonl(tmp_path / "c4" / "data.jsonl")) == sorted(
        r.id for r in read_jsonl(tmp_path / "c5" / "data.jsonl"))


def test_an_edited_taxonomy_changes_the_fingerprint_and_the_plans(tmp_path):
    before = load_recipe(_write(tmp_path / "r"))
    run(tmp_path, "before", before)
    edited = {"factors": [{**TREE["factors"][0], "tree": ["cricket", "golf"]},
                          TREE["factors"][1]]}
    after = load_recipe(_write(tmp_path / "r", tree=edited))
    assert after.sha256() != before.sha256()
    run(tmp_path, "after", after)
    ids_before = {d[0] for d in _drafts(tmp_path / "before")}
    ids_after = {d[0] for d in _drafts(tmp_path / "after")}
    assert not ids_before & ids_after


def test_where_and_how_fast_do_not_enter_the_fingerprint():
    base = Recipe.model_validate({k: v for k, v in RECIPE.items() if k != "coverage"})
    for change in ({"chunk_size": 99}, {"backend": {"n_ctx": 4096}},
                   {"backend": {"max_concurrency": 16}},
                   {"backend": {"kind": "openai_http", "base_url": "http://h/v1"}}):
        other = Recipe.model_validate({**base.model_dump(), **change})
        same_kind = other.backend.kind == base.backend.kind
        assert (other.sha256() == base.sha256()) == same_kind, change
    # a server at another address, same model id: same fingerprint
    http = [Recipe.model_validate({**base.model_dump(), "backend": {
        "kind": "openai_http", "base_url": url, "model": "m"}}) for url in ("http://a/v1",
                                                                            "http://b/v1")]
    assert http[0].sha256() == http[1].sha256()


def test_preset_and_the_steps_it_expands_to_have_one_fingerprint(tmp_path):
    preset = load_recipe(_write(tmp_path / "p"))
    spelled = {k: v for k, v in RECIPE.items() if k not in ("targen", "coverage")}
    spelled["steps"] = [s.model_dump(mode="json", exclude_none=True) for s in preset.steps]
    coverage = next(s for s in spelled["steps"] if s["type"] == "coverage.plan")
    coverage["taxonomy"] = "tree.yaml"  # relative again: resolved at load
    explicit = load_recipe(_write(tmp_path / "s", spelled))
    assert [s.type for s in explicit.steps] == [s.type for s in preset.steps]
    assert explicit.sha256() == preset.sha256()


def test_fingerprint_is_versioned_and_its_exclusions_documented():
    data = fingerprint_data(Recipe.model_validate({k: v for k, v in RECIPE.items()
                                                   if k != "coverage"}))
    assert data["fingerprint"] == FINGERPRINT_VERSION
    assert "chunk_size" not in data and "n_ctx" not in data["backend"]
    import synthloom.pipeline.fingerprint as module

    for field in EXCLUDED:
        assert f"``{field}``" in module.__doc__


def test_copying_a_recipe_folder_keeps_its_runs_resumable(tmp_path):
    path = _write(tmp_path / "a")
    run(tmp_path, "out", load_recipe(path))
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    manifest, scripted = run(tmp_path, "out", load_recipe(tmp_path / "copy" / "recipe.yaml"),
                             resume=True)
    assert manifest["this_session"]["llm_calls"] == 0
