"""Taxonomy files, mix sampling, personas, and the coverage knobs in a scripted run."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import yaml

from synthloom.errors import UserInputError
from synthloom.operators.generate.evol_complexify import OPERATIONS, EvolComplexify
from synthloom.operators.plan.mix_sampler import MixSampler
from synthloom.operators.plan.personas import characteristics, persona
from synthloom.operators.plan.taxonomy import dump_taxonomies, load_taxonomies, parse_taxonomies
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import read_jsonl
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_targen_pipeline import LABELS, recipe, respond, run

TREE = {
    "factors": [
        {"factor": "topic", "tree": [
            {"name": "football", "weight": 3, "children": [{"name": "transfers"},
                                                           {"name": "match reports"}]},
            {"name": "tennis"},
        ]},
        {"factor": "audience", "tree": ["fans", "newcomers", "experts"]},
    ]
}


def test_taxonomy_round_trips_through_yaml(tmp_path) -> None:
    taxonomies = parse_taxonomies(TREE)
    assert [p for p, _ in taxonomies[0].leaves()] == [
        ("football", "transfers"), ("football", "match reports"), ("tennis",)
    ]
    assert [w for _, w in taxonomies[0].leaves()] == [3.0, 3.0, 1.0]
    path = dump_taxonomies(taxonomies, tmp_path / "tree.yaml")
    assert [t.to_dict() for t in load_taxonomies(path)] == [t.to_dict() for t in taxonomies]


@pytest.mark.parametrize(
    ("tree", "message"),
    [
        ([{"name": ""}], r"topic > node 1: empty node"),
        ([{"name": "a", "colour": "red"}], r"topic > a: unknown keys \['colour'\]"),
        ([{"name": "a"}, {"name": "A"}], r"topic > A: repeated among its siblings"),
        ([{"name": "a", "weight": 0}], r"topic > a: weight must be a positive number"),
        ([], r"topic: empty tree"),
    ],
)
def test_bad_trees_name_the_node(tree, message) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_taxonomies({"factors": [{"factor": "topic", "tree": tree}]})


def test_a_cycle_through_a_yaml_alias_is_an_error(tmp_path) -> None:
    path = tmp_path / "cycle.yaml"
    path.write_text(
        "factors:\n- factor: topic\n  tree:\n  - &a\n    name: loop\n    children:\n    - *a\n"
    )
    with pytest.raises(UserInputError, match=r"topic > loop: node 1 is its own ancestor"):
        load_taxonomies(path)


def test_quota_uses_every_leaf_before_reusing_any_and_is_stateless() -> None:
    sampler = MixSampler(parse_taxonomies(TREE), "quota", seed=3)
    first = [tuple(m["topic"]) for m in sampler.sample(3)]
    assert sorted(first) == sorted([("football", "transfers"), ("football", "match reports"),
                                    ("tennis",)])
    audiences = Counter(m["audience"] for m in sampler.sample(9))
    assert set(audiences.values()) == {3}
    assert MixSampler(parse_taxonomies(TREE), "quota", seed=3).sample(4, start=5) == \
        sampler.sample(9)[5:9]


def test_weighted_follows_weights_and_uniform_does_not() -> None:
    weighted = Counter(m["topic"][0] for m in
                       MixSampler(parse_taxonomies(TREE), "weighted", 1).sample(3000))
    uniform = Counter(m["topic"][0] for m in
                      MixSampler(parse_taxonomies(TREE), "uniform", 1).sample(3000))
    assert weighted["football"] / 3000 == pytest.approx(6 / 7, abs=0.03)
    assert uniform["football"] / 3000 == pytest.approx(2 / 3, abs=0.03)


def test_personas_and_characteristics_are_deterministic_and_varied() -> None:
    assert persona(5, seed=1) == persona(5, seed=1)
    assert len({persona(i)["occupation"] for i in range(50)}) > 10
    c = characteristics(2, ["formality", "medium"])
    assert set(c) == {"formality", "medium"}
    with pytest.raises(ValueError, match="unknown context characteristics"):
        characteristics(0, ["mood"])


def _coverage_recipe(tmp_path, n=6, **coverage):
    tree = tmp_path / "tree.yaml"
    tree.write_text(yaml.safe_dump(TREE))
    base = {"task": "toy", "description": "Toy texts.", "labels": LABELS, "n": n,
            "chunk_size": 4, "targen": {"contexts": 3, "seeds_per_pair": 4, "max_words": 12,
                                        "self_correction": False},
            "coverage": {"taxonomy": "tree.yaml", **coverage}}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_mix_persona_and_characteristics_reach_prompt_and_provenance(tmp_path) -> None:
    r = load_recipe(_coverage_recipe(tmp_path, personas=True,
                                     characteristics=["formality", "medium"]))
    _, scripted = run(tmp_path, "out", r)
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    assert data
    for record in data:
        plan = record.provenance.plan
        assert set(plan.mix) == {"topic", "audience"} and plan.taxonomy_path == plan.mix["topic"]
        assert plan.persona.startswith("a ") and set(plan.characteristics) == {"formality",
                                                                               "medium"}
    prompts = [q.messages[1]["content"] for q in scripted.requests
               if q.messages[0]["content"].startswith("You write realistic examples")]
    assert any("Angle (topic): football > transfers" in p for p in prompts)
    assert all("Written by: a " in p and "Formality: " in p for p in prompts)


def test_bad_taxonomy_in_recipe_fails_at_load_naming_the_node(tmp_path) -> None:
    path = _coverage_recipe(tmp_path)
    (tmp_path / "tree.yaml").write_text("factors:\n- factor: topic\n  tree:\n  - name: ''\n")
    with pytest.raises(UserInputError, match=r"topic > node 1: empty node"):
        load_recipe(path)


def test_complexify_rewrites_the_chosen_fraction_and_records_the_operation(tmp_path) -> None:
    def answer(req):
        if req.messages[0]["content"].startswith("You rewrite texts"):
            return "A richer and harder rewritten report about alpha with many more words."
        return respond(req)

    backend = ScriptedBackend(answer)
    op = EvolComplexify(backend, {"alpha": "a", "beta": "b", "gamma": "g"}, fraction=0.5,
                        seed=1)
    records = [r for r in read_jsonl(_generated(tmp_path))]
    out = op(records)
    evolved = [r for r in out if r.provenance.operators[-1].verdict == "evolved"]
    assert 0 < len(evolved) < len(records)
    for r in evolved:
        assert r.text.startswith("A richer") and r.provenance.operators[-1].detail[
            "operation"] in OPERATIONS
    assert [op.chosen(r) for r in records] == [op.chosen(r) for r in records]


def _generated(tmp_path):
    run(tmp_path, "gen", recipe(n=12, self_correction=False))
    return tmp_path / "gen" / "data.jsonl"


def test_unknown_coverage_options_are_refused(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    base = {"task": "t", "description": "d", "labels": {"a": "x", "b": "y"}}
    path.write_text(json.dumps(base | {"coverage": {"characteristics": ["mood"]}}))
    with pytest.raises(UserInputError, match=r"coverage.characteristics: unknown"):
        load_recipe(path)
    path.write_text(json.dumps(base | {"coverage": {"complexify_fraction": 2}}))
    with pytest.raises(UserInputError, match=r"coverage.complexify_fraction"):
        load_recipe(path)


def test_meta_prompts_rotate_phrasings_and_record_which(tmp_path) -> None:
    # plan ids (hence phrasings) depend on the recipe hash, which holds this tmp path
    r = load_recipe(_coverage_recipe(tmp_path, n=18, meta_prompts=3))
    _, scripted = run(tmp_path, "out", r)
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    used = {
        step.detail["template"] for rec in data for step in rec.provenance.operators
        if step.operator == "targen.instance_generation"
    }
    assert len(used) >= 2 and used <= {"user", "user_2", "user_3"}
    prompts = [q.messages[1]["content"] for q in scripted.requests
               if q.messages[0]["content"].startswith("You write realistic examples")]
    starts = {"user": "Write one", "user_2": "Label:", "user_3": "You are writing"}
    assert {t for t, start in starts.items() if any(p.startswith(start) for p in prompts)} \
        >= used
