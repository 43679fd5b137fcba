"""Curate steps (issue 10): label noise by confident learning anchored in the real seeds,
a realism score per record, applied once to a finished run and never twice on resume."""

from __future__ import annotations

import json
import re

import numpy as np

from synthloom.llm.base import ChatRequest
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.operators.filter.label_noise import find_label_issues
from synthloom.operators.filter.realism import realism_scores
from synthloom.pipeline.curation import curate_run
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe
from synthloom.records import read_jsonl
from tests.unit.scripted import ScriptedBackend

WORDS = {"alpha": "apple orchard harvest cider", "beta": "boat harbour sail anchor"}


def text(label: str, i: int) -> str:
    words = WORDS[label].split()
    return f"note {i} on the {words[i % 4]} and the {words[(i + 1) % 4]} today"


def test_confident_learning_flags_the_records_whose_words_belong_to_another_label():
    texts, labels = [], []
    for i in range(40):
        label = ("alpha", "beta")[i % 2]
        texts.append(text(label, i))
        labels.append(label)
    wrong = [3, 10, 17]
    for i in wrong:  # labelled against their words
        labels[i] = "alpha" if labels[i] == "beta" else "beta"
    anchor = [text("alpha", 100 + i) for i in range(4)] + [text("beta", 200 + i)
                                                           for i in range(4)]
    evidence = find_label_issues(texts, labels, ["alpha", "beta"], anchor_texts=anchor,
                                 anchor_labels=["alpha"] * 4 + ["beta"] * 4)
    flagged = [i for i, e in enumerate(evidence) if e.issue]
    assert set(wrong) <= set(flagged) and len(flagged) <= len(wrong) + 2
    assert all(evidence[i].predicted != labels[i] for i in wrong)
    assert all(0 <= e.given_probability <= 1 for e in evidence)


def test_records_unlike_the_real_examples_score_as_less_real():
    real = [f"I bought the {w} last week and it broke after {i} days" for i, w in
            enumerate(["camera", "kettle", "phone", "lamp", "drill", "radio"])]
    like_real = [f"I bought a {w} in May and it stopped after {i} weeks" for i, w in
                 enumerate(["toaster", "mixer", "speaker", "clock"])]
    template = [f"The customer is dissatisfied with the product number {i}." for i in range(4)]
    scores = realism_scores(like_real + template, real, folds=4)
    assert scores.shape == (8,) and np.all((scores >= 0) & (scores <= 1))
    assert scores[:4].min() > scores[4:].max()


def respond(request: ChatRequest) -> str:
    user = request.messages[-1]["content"]
    if request.json_schema and "contexts" in json.dumps(request.json_schema):
        return json.dumps({"contexts": ["a school", "a market"]})
    if "Write one" in user:
        label = re.search(r"Label: (\w+)", user).group(1)
        seed = request.sampling.seed or 0
        if seed % 9 == 0:  # every ninth text is about the other label
            label = "beta" if label == "alpha" else "alpha"
        return text(label, seed % 997)
    if "concrete situations" in user:
        return "\n".join(f"{i}. case {i} somewhere in town" for i in range(4))
    raise AssertionError(user[:80])


def recipe(tmp_path, **seed_data) -> Recipe:
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"text": text(label, 500 + i), "label": label}) + "\n"
                             for i in range(6) for label in ("alpha", "beta")))
    return Recipe(task="toy", description="Toy texts.", unit="toy text",
                  labels={"alpha": "about apples", "beta": "about boats"}, n=40,
                  chunk_size=10,
                  targen={"contexts": 2, "seeds_per_pair": 3, "max_words": 30,
                          "self_correction": False},
                  seed_data={"path": str(seeds), "n": 12, "style_examples": 0,
                             "copy_guard": None, "label_noise": "drop", "realism": "drop",
                             "realism_drop": 0.1, **seed_data})


def test_a_run_curates_its_finished_records_once(tmp_path):
    r = recipe(tmp_path)
    assert [s.type for s in r.steps[-2:]] == ["curate.label_noise", "curate.realism"]
    cache = tmp_path / "c.sqlite"
    manifest = run_recipe(r, tmp_path / "out", backend=CachedBackend(
        ScriptedBackend(respond), ResponseCache(cache)))
    noise, realism = manifest["curation"]
    assert noise["records"] == 40 and noise["dropped"] >= 1
    assert realism["records"] == 40 - noise["dropped"]
    assert realism["dropped"] == round(0.1 * realism["records"])
    kept = list(read_jsonl(tmp_path / "out/data.jsonl"))
    assert len(kept) == manifest["accepted"] == 40 - noise["dropped"] - realism["dropped"]
    for rec in kept:
        assert rec.verdict("label_noise").passed and rec.verdict("realism") is not None
    curated = [x for x in read_jsonl(tmp_path / "out/rejected.jsonl")
               if x.rejected.operator.startswith("curate.")]
    assert len(curated) == noise["dropped"] + realism["dropped"]
    # the dropped records of label noise are the ones written about the other label
    flipped = [x for x in curated if x.rejected.operator == "curate.label_noise"]
    assert all(WORDS[x.label].split()[0] not in x.text and
               not any(w in x.text for w in WORDS[x.label].split()) for x in flipped)
    again = ScriptedBackend(respond)
    resumed = run_recipe(r, tmp_path / "out", resume=True,
                         backend=CachedBackend(again, ResponseCache(cache)))
    assert again.requests == [] and resumed["accepted"] == manifest["accepted"]
    assert resumed["curation"] == manifest["curation"]
    assert len(list(read_jsonl(tmp_path / "out/rejected.jsonl"))) == manifest["rejected"]


def test_curation_applied_again_after_a_crash_changes_nothing(tmp_path):
    r = recipe(tmp_path)
    run_recipe(r, tmp_path / "out", backend=ScriptedBackend(respond))
    out = tmp_path / "out"
    data = (out / "data.jsonl").read_text()
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    dropped = [x.model_copy(update={"rejected": None}) for x in rejected
               if x.rejected.operator.startswith("curate.")]
    # killed after the decisions were saved, before data.jsonl was rewritten
    accepted = list(read_jsonl(out / "data.jsonl")) + dropped
    kept, again, _ = curate_run(out, [("curate.x", None)], accepted, rejected)
    assert (out / "data.jsonl").read_text() == data and len(again) == len(rejected)
    assert {x.id for x in kept}.isdisjoint(x.id for x in dropped)


def test_the_report_reads_copies_and_curation_from_the_manifest(tmp_path):
    from synthloom.api import _run_summary
    from synthloom.evaluate.verdict import run_findings

    r = recipe(tmp_path)
    run_recipe(r, tmp_path / "out", backend=ScriptedBackend(respond))
    run = _run_summary(tmp_path / "out")
    assert run["seed_examples"]["drawn"] == 12 and len(run["curation"]) == 2
    findings = {f["topic"]: f for f in run_findings(run)}
    assert findings["copy guard"]["text"].startswith("0 of ")
    assert "dropped" in findings["curation (curate.realism)"]["text"]
    copied = run_findings({"accepted": 80, "rejected": 20, "seed_examples": {},
                           "rejections_by_operator": {"filter.copy_guard": 15}})
    assert copied[0]["level"] == "warn" and "15 of 100 finished texts (15%)" in copied[0]["text"]
    assert _run_summary(tmp_path / "nothing") is None


def test_a_label_with_one_record_is_not_judged_and_nothing_crashes(tmp_path):
    from synthloom.pipeline.steps import StepContext
    from synthloom.pipeline.steps.curate import LabelNoiseStep
    from synthloom.records import Origin, Record

    r = Recipe(task="toy", description="Toy texts.", unit="toy text", n=4,
               labels={"alpha": "apples", "beta": "boats", "gamma": "other"})
    records = [Record(id=f"r{i}", task="toy", origin=Origin.synthetic, label=label,
                      inputs={"text": text(label if label != "gamma" else "alpha", i)})
               for i, label in enumerate(["alpha"] * 5 + ["beta"] * 5 + ["gamma"])]
    curator = LabelNoiseStep().build(StepContext(r, None, {}))
    out = curator.curate(records)
    assert out[-1].verdict("label_noise") is None  # gamma: a single record
    assert all(x.verdict("label_noise") is not None for x in out[:-1])
    assert curator.curate(records[4:6]) == records[4:6]  # one record per label: unchanged


def test_a_curated_run_with_error_rounds_resumes_with_the_same_manifest(tmp_path):
    r = recipe(tmp_path, error_rounds=1, per_error=1)
    cache = tmp_path / "c.sqlite"
    first = run_recipe(r, tmp_path / "out", backend=CachedBackend(
        ScriptedBackend(respond), ResponseCache(cache)))
    again = run_recipe(r, tmp_path / "out", resume=True, backend=CachedBackend(
        ScriptedBackend(respond), ResponseCache(cache)))
    assert first["error_rounds"] and again["error_rounds"] == first["error_rounds"]
    assert again["curation"] == first["curation"] and again["accepted"] == first["accepted"]


def test_generate_prints_the_seed_cuts_and_what_curation_dropped(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import synthloom.api
    from synthloom.cli import app

    r = recipe(tmp_path)
    manifest = run_recipe(r, tmp_path / "out", backend=ScriptedBackend(respond))
    monkeypatch.setattr(synthloom.api, "generate", lambda *a, **k: manifest)
    (tmp_path / "r.yaml").write_text(
        "task: toy\ndescription: Toy texts.\nunit: toy text\n"
        "labels: {alpha: about apples, beta: about boats}\nn: 40\n")
    result = CliRunner().invoke(app, ["generate", str(tmp_path / "r.yaml"), "-o",
                                      str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "12 drawn, 12 labelled" in result.output
    assert "curate.label_noise" in result.output and "dropped" in result.output
