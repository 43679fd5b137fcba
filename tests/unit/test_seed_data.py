"""Seed data (issue 10): the user's real examples drawn once, shown to the generator as
examples of form with their ids in provenance, lengths drawn from them, copies of them
rejected, and bad seed data refused when the recipe loads."""

from __future__ import annotations

import json
import re

import pytest

from synthloom.datasets import draw_seed_examples, load_real, real_splits
from synthloom.datasets import load_labelled_file as load_labelled
from synthloom.errors import UserInputError
from synthloom.llm.base import ChatRequest
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.operators.filter.copy_guard import SeedCopyGuard
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import read_jsonl
from tests.unit.scripted import ScriptedBackend

LABELS = {"alpha": "things about alpha", "beta": "things about beta"}
SEEDS = [
    {"text": "A long real alpha text " + "with many words " * 10, "label": "alpha"},
    {"text": "Short real alpha note about a mill.", "label": "alpha"},
    {"text": "A real beta text about a harbour and its " + "boats " * 5, "label": "beta"},
    {"text": "Another beta text about the night market.", "label": "beta"},
]
COPIED = "Short real alpha note about a mill."


def seed_file(tmp_path, rows=SEEDS, name="seeds.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def respond(request: ChatRequest) -> str:
    user = request.messages[-1]["content"]
    if request.json_schema and "contexts" in json.dumps(request.json_schema):
        return json.dumps({"contexts": ["a school", "a market"]})
    if "concrete situations" in user:
        label = re.search(r"(?:Label: |with the label )(\w+)", user).group(1)
        return "\n".join(f"{i}. event {i} about {label} today here" for i in range(3))
    if "Write one" in user:
        label = re.search(r"Label: (\w+)", user).group(1)
        seed = request.sampling.seed or 0
        if "a mill" in user and seed % 2 == 0:
            return COPIED  # copies the seed it was shown
        return f"A new {label} text number {seed} with enough words in it."
    raise AssertionError(user[:80])


def make_recipe(path, **seed_data) -> Recipe:
    return Recipe(task="toy", description="Toy texts.", unit="toy text", labels=LABELS, n=8,
                  chunk_size=4,
                  targen={"contexts": 2, "seeds_per_pair": 3, "max_words": 30,
                          "self_correction": False},
                  seed_data={"path": str(path), "n": 4, "situations_per_example": 0,
                             "length": "seeds", **seed_data})


def test_unset_levers_default_to_what_was_measured_best():
    """Labelled seeds: 4 situations each, no examples of form, max_words asked; unlabelled
    seeds (situations need labels): 2 examples of form."""
    from synthloom.pipeline.presets import SeedDataConfig

    labelled = SeedDataConfig(path="x.csv")
    assert (labelled.situations_per_example, labelled.style_examples, labelled.length) == (
        4, 0, "fixed")
    unlabelled = SeedDataConfig(path="x.csv", label_column=None)
    assert (unlabelled.situations_per_example, unlabelled.style_examples) == (0, 2)
    chosen = SeedDataConfig(path="x.csv", situations_per_example=0, style_examples=3)
    assert (chosen.situations_per_example, chosen.style_examples) == (0, 3)


def test_seeds_are_shown_recorded_and_copies_rejected(tmp_path):
    r = make_recipe(seed_file(tmp_path), style_examples=1)
    scripted = ScriptedBackend(respond)
    manifest = run_recipe(r, tmp_path / "out", backend=CachedBackend(
        scripted, ResponseCache(tmp_path / "c.sqlite")))
    seeds = json.loads((tmp_path / "out/plan/seed_examples.json").read_text())
    # the long seed is shown cut to example_words (80), and counted
    assert manifest["seed_examples"] == {"drawn": 4, "labelled": 4, "shown": {
        "targen.generate": {"words": 80, "cut": 0}}}
    assert [s["words"] for s in seeds] == [len(s["text"].split()) for s in SEEDS]
    by_id = {s["id"]: s for s in seeds}
    records = list(read_jsonl(tmp_path / "out/data.jsonl"))
    assert len(records) == 8
    for rec in records:
        (shown,) = rec.provenance.seed_examples
        assert by_id[shown]["label"] == rec.label  # an example of the target label
    prompts = [q.messages[-1]["content"] for q in scripted.requests if "Write one" in
               q.messages[-1]["content"]]
    assert all("---" in p for p in prompts)
    # asked lengths come from the seeds (capped at max_words 30)
    asked = {int(re.search(r"about (\d+) words", p).group(1)) for p in prompts}
    assert asked <= {min(30, s["words"]) for s in seeds} and len(asked) > 1
    rejected = list(read_jsonl(tmp_path / "out/rejected.jsonl"))
    copies = [x for x in rejected if x.rejected.operator == "filter.copy_guard"]
    assert copies and all(x.rejected.collided_with in by_id for x in copies)


def test_consecutive_drafts_of_a_label_see_different_examples(tmp_path):
    r = make_recipe(seed_file(tmp_path), style_examples=1, copy_guard=None, example_words=10)
    manifest = run_recipe(r, tmp_path / "out", backend=ScriptedBackend(respond))
    assert manifest["seed_examples"]["shown"]["targen.generate"]["cut"] == 2  # 35, 14 words
    records = sorted(list(read_jsonl(tmp_path / "out/data.jsonl")),
                     key=lambda x: x.provenance.operators[0].detail["index"])
    alpha = [x.provenance.seed_examples[0] for x in records if x.label == "alpha"]
    assert all(a != b for a, b in zip(alpha, alpha[1:], strict=False))


def test_named_source_seeds_come_from_the_evaluation_train_split():
    seeds = draw_seed_examples("vader_tweets", 20, labels=["positive", "negative"])
    train, validation, test = real_splits(load_real("vader_tweets"))
    train_ids = {r.id for r in train}
    assert len(seeds) == 20 and all(s.id in train_ids for s in seeds)


@pytest.mark.parametrize(("rows", "options", "message"), [
    ([{"body": "x", "label": "alpha"}], {}, "no text column 'text'"),
    ([{"text": "x", "label": "alpha"}, {"text": "y", "label": "alpha"}], {}, "one label"),
    ([{"text": "x", "label": "alpha"}, {"text": "y", "label": "delta"}], {},
     "labels not in the recipe: delta"),
])
def test_bad_seed_data_is_refused_when_the_recipe_loads(tmp_path, rows, options, message):
    path = seed_file(tmp_path, rows)
    recipe_path = tmp_path / "r.yaml"
    recipe_path.write_text(
        "task: toy\ndescription: Toy texts.\nunit: toy text\nlabels:\n  alpha: a\n  beta: b\n"
        f"seed_data:\n  path: {path.name}\n")
    with pytest.raises(UserInputError, match=message):
        load_recipe(recipe_path)


def test_empty_seed_file_is_refused(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserInputError, match="file is empty"):
        draw_seed_examples(str(tmp_path / "empty.jsonl"), 5)


def test_a_seed_file_enters_the_fingerprint_by_content(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = make_recipe(seed_file(a)).sha256()
    assert make_recipe(seed_file(b)).sha256() == first  # another folder, same content
    edited = SEEDS[:3] + [{"text": "A different beta text at the docks.", "label": "beta"}]
    assert make_recipe(seed_file(b, edited)).sha256() != first


def test_copy_guard_finds_copies_of_any_length_inside_a_long_seed():
    article = " ".join(f"word{i}" for i in range(400))
    guard = SeedCopyGuard([("s1", article), ("s2", "a different seed text entirely")])
    for length in (40, 120, 300):  # a Jaccard test against the article misses these
        copy = " ".join(f"word{i}" for i in range(50, 50 + length))
        (hit,) = guard.check([copy])
        assert hit is not None and hit.key == "s1" and hit.containment == 1.0
    half = " ".join([f"word{i}" for i in range(200, 220)] + [f"new{i}" for i in range(40)])
    assert guard.check([half, "an unrelated text about something else here"]) == [None, None]


def test_evaluation_uses_the_run_seeds_and_refuses_seeds_in_its_test_split():
    from synthloom.evaluate.splits import prepare, with_seed_examples
    from synthloom.records import Origin, Record

    real = load_real("vader_tweets")
    synthetic = [Record(id=f"s{i}", task="t", inputs={"text": f"text {i}"},
                        label=("positive", "negative")[i % 2], origin=Origin.synthetic)
                 for i in range(20)]
    data = prepare(synthetic, real, seed=13)
    seeds = draw_seed_examples("vader_tweets", 10, labels=["positive", "negative"])
    anchored = with_seed_examples(data, [s.id for s in seeds], 13)
    assert sorted(r.id for r in anchored.real_seed) == sorted(s.id for s in seeds)
    assert with_seed_examples(data, ["not-a-real-id"], 13).real_seed is None
    with pytest.raises(UserInputError, match="1 of the run's 1 seed examples are in the real"):
        with_seed_examples(data, [data.real_test[0].id], 13)


def test_situations_from_seed_examples_replace_targen_contexts_and_seeds(tmp_path):
    r = make_recipe(seed_file(tmp_path), style_examples=0, situations_per_example=2,
                    copy_guard=None)
    assert [s.type for s in r.steps][:3] == ["seed_data.sample", "seed_data.situations",
                                             "targen.label_constraints"]
    scripted = ScriptedBackend(respond)
    run_recipe(r, tmp_path / "out", backend=scripted)
    seeds = json.loads((tmp_path / "out/plan/seed_examples.json").read_text())
    by_id = {s["id"]: s for s in seeds}
    asked = [q.messages[-1]["content"] for q in scripted.requests
             if "other toy texts with this label" in q.messages[-1]["content"]]
    assert len(asked) == len(SEEDS)  # one request per labelled seed example
    for rec in read_jsonl(tmp_path / "out/data.jsonl"):
        source = rec.provenance.plan.context.removeprefix("seed example ")
        assert by_id[source]["label"] == rec.label
        assert rec.provenance.seed_examples == [source]


def test_error_rounds_add_drafts_like_the_seeds_the_student_gets_wrong(tmp_path):
    rows = SEEDS[:3] + [{"text": "An alpha alpha note filed under beta at the harbour.",
                         "label": "beta"}]  # a TF-IDF student calls this alpha
    r = make_recipe(seed_file(tmp_path, rows), style_examples=1, copy_guard=None,
                    error_rounds=2, per_error=2)
    assert r.steps[-1].type == "seed_data.error_rounds"
    scripted = ScriptedBackend(respond)
    cache = tmp_path / "c.sqlite"
    manifest = run_recipe(r, tmp_path / "out",
                          backend=CachedBackend(scripted, ResponseCache(cache)))
    rounds = manifest["error_rounds"]
    assert rounds[0]["round"] == 1 and rounds[0]["seed_errors"] == 1
    assert rounds[0]["drafts"] == 2 and "after" in rounds[-1]
    seeds = json.loads((tmp_path / "out/plan/seed_examples.json").read_text())
    wrong = next(s["id"] for s in seeds if s["text"].startswith("An alpha alpha"))
    extra = [x for x in read_jsonl(tmp_path / "out/data.jsonl")
             if x.provenance.operators[0].detail.get("round")]
    by_id = {s["id"]: s for s in seeds}
    assert [x.provenance.seed_examples for x in extra[:2]] == [[wrong], [wrong]]
    for x in extra:  # each like the example the student got wrong, with its label
        error = x.provenance.operators[0].detail["error_example"]
        assert x.label == by_id[error]["label"] and x.provenance.seed_examples == [error]
    assert manifest["accepted"] == 8 + len(extra)
    again = ScriptedBackend(respond)
    resumed = run_recipe(r, tmp_path / "out", resume=True,
                         backend=CachedBackend(again, ResponseCache(cache)))
    assert again.requests == [] and resumed["error_rounds"] == rounds


def test_part_of_a_seed_file_is_drawn_from_its_evaluation_train_split(tmp_path):
    rows = [{"text": f"text number {i} about {('alpha', 'beta')[i % 2]}",
             "label": ("alpha", "beta")[i % 2]} for i in range(40)]
    path = seed_file(tmp_path, rows)
    seeds = draw_seed_examples(str(path), 10, labels=list(LABELS))
    train, _, _ = real_splits(load_labelled(path))
    assert len(seeds) == 10 and {s.id for s in seeds} <= {r.id for r in train}
    unlabelled = draw_seed_examples("vader_tweets", 10, label_column=None)
    train_ids = {r.id for r in real_splits(load_real("vader_tweets"))[0]}
    assert all(s.label is None for s in unlabelled)
    assert {s.text for s in unlabelled} <= {r.text for r in load_real("vader_tweets")
                                            if r.id in train_ids}


def test_a_run_killed_in_an_error_round_resumes_to_the_same_records(tmp_path):
    rows = SEEDS[:3] + [{"text": "An alpha alpha note filed under beta at the harbour.",
                         "label": "beta"}]
    r = make_recipe(seed_file(tmp_path, rows), style_examples=1, copy_guard=None,
                    error_rounds=2, per_error=2)
    whole = ScriptedBackend(respond)
    run_recipe(r, tmp_path / "whole", backend=whole)
    expected = sorted(x.id for x in read_jsonl(tmp_path / "whole/data.jsonl"))
    for crash_at in (len(whole.requests) - 1, len(whole.requests) - 3):
        out, cache = tmp_path / f"killed{crash_at}", tmp_path / f"c{crash_at}.sqlite"
        with pytest.raises(RuntimeError, match="scripted crash"):
            run_recipe(r, out, backend=CachedBackend(
                ScriptedBackend(respond, fail_after=crash_at), ResponseCache(cache)))
        assert (out / "plan/round-1.json").exists()
        run_recipe(r, out, resume=True,
                   backend=CachedBackend(ScriptedBackend(respond), ResponseCache(cache)))
        assert sorted(x.id for x in read_jsonl(out / "data.jsonl")) == expected
