"""Judges on the real packaged model (SmolLM2-135M, in-process llama.cpp): the pointwise
judge and the double critic in a classification run, and a preference run exported for
DPO and loaded with Hugging Face ``datasets``. The tiny model's judgements are poor, so
these tests assert what must hold whatever it says: every draft ends once, scores stay on
the scale or are missing, verdicts name the judge, rejections have reasons."""

from __future__ import annotations

import json

import pytest

from synthloom.records import read_jsonl
from tests.e2e.test_generate_llamacpp import cli

pytestmark = pytest.mark.e2e

CLASSIFICATION = """\
task: tiny_notes
description: Short notes people leave for each other.
unit: note
labels:
  food: meals, cooking and shopping for food
  travel: trips, trains, flights and hotels
n: 4
seed: 5
chunk_size: 4
backend: {kind: llamacpp, model: smollm2-135m}
steps:
  - {type: targen.contexts, n: 2}
  - {type: targen.instance_seeds, per_pair: 2}
  - {type: targen.label_constraints, max_drafts_factor: 2}
  - {type: targen.generate, max_words: 20}
  - {type: judge.double_critic, on_fail: keep}
  - {type: judge.pointwise, drop_quantile: 0.25}
"""

PREFERENCE = """\
task:
  name: tiny_preferences
  kind: preference
  description: Everyday questions people ask an assistant.
  unit: question
n: 2
seed: 5
backend: {kind: llamacpp, model: smollm2-135m}
steps:
  - {type: preference.prompts, file: prompts.txt}
  - {type: preference.drafts}
  - {type: preference.candidates_and_judge, k: 2, max_words: 25}
"""


def test_pointwise_judge_and_double_critic_on_the_real_model(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(CLASSIFICATION)
    out = tmp_path / "run"
    done = cli("generate", str(recipe), "-o", str(out))
    assert done.returncode == 0, done.stderr
    data = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert sorted(r.provenance.plan.id for r in data + rejected) == sorted(d.id for d in drafts)
    for r in data:
        critic = r.verdict("double_critic")
        assert critic.by == "judge.double_critic/smollm2-135m"
        assert set(critic.detail["critics"]) == {"confirm", "refute"}
        assert r.trust_weight == (1.0 if critic.passed else 0.5)
        judge = r.verdict("judge")
        assert judge.by == "judge.pointwise/smollm2-135m"
        assert judge.detail["same_model_as_generator"] is True
        for score in judge.detail["scores"].values():
            assert score is None or 1 <= score <= 5
    for r in rejected:
        assert r.rejected.reason
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["usage_by_step"]["judge.pointwise"]["calls"] >= 1
    assert manifest["usage_by_step"]["judge.double_critic"]["calls"] >= 2


def test_preference_run_exports_dpo_rows_that_datasets_loads(tmp_path, monkeypatch):
    (tmp_path / "prompts.txt").write_text(
        "How do I boil an egg?\nWhat should I pack for a weekend trip?\n")
    recipe = tmp_path / "p.yaml"
    recipe.write_text(PREFERENCE)
    out = tmp_path / "run"
    done = cli("generate", str(recipe), "-o", str(out))
    assert done.returncode in (0, 1), done.stderr  # 1: fewer records than n, said so
    data = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    assert len(data) + len(rejected) == 2  # each prompt once, accepted or rejected
    for r in data:
        assert r.kind == "preference" and r.outputs["chosen"] != r.outputs["rejected"]
        assert r.outputs["margin"] > 0
        assert r.verdict("pairwise").detail["comparisons"]
    for r in rejected:
        assert r.rejected.reason
    path = tmp_path / "dpo.jsonl"
    exported = cli("export", str(out), "--layout", "dpo", "-o", str(path))
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == len(data)
    if rows:
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
        import datasets

        loaded = datasets.load_dataset("json", data_files=str(path), split="train",
                                       cache_dir=str(tmp_path / "hf"))
        assert {"prompt", "chosen", "rejected"} <= set(loaded.column_names)
        assert loaded[0]["chosen"][0]["role"] == "assistant"
