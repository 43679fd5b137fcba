"""`synthloom generate` and `evaluate` on the real packaged model, in-process llama.cpp."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from synthloom.llm.models import MODELS
from synthloom.records import read_jsonl, read_parquet
from tests.e2e.browser import render
from tests.e2e.conftest import SMALL_MODEL, cli


def lines(path):
    return path.read_text().splitlines() if path.exists() else []


def start_generate(recipe, out, ready, timeout: float = 300) -> subprocess.Popen:
    """Start `synthloom generate` in a subprocess and return once ``ready()`` is true."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "synthloom", "generate", str(recipe), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # a background shell starts children with SIGINT ignored; restore Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted; raise n"
    return proc


def test_generate_writes_dataset_with_provenance_and_evaluates(tmp_path, small_recipe):
    # "keep": the tiny model's blind labels are often wrong; kept records carry the verdict
    recipe = small_recipe(10, on_disagreement="keep")
    out = tmp_path / "run"
    done = cli("generate", str(recipe), "-o", str(out))
    assert done.returncode == 0, done.stderr
    for name in ("data.parquet", "data.jsonl", "rejected.jsonl", "manifest.json"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    data = read_parquet(out / "data.parquet")
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert manifest["accepted"] == len(data) and manifest["rejected"] == len(rejected)
    assert sorted(r.provenance.plan.id for r in data + rejected) == sorted(d.id for d in drafts)
    assert manifest["backend"]["model_sha256"] == MODELS[SMALL_MODEL].sha256
    assert manifest["tokens_out"] > 0 and manifest["llm_calls"] > 0
    assert manifest["versions"]["llama-cpp-python"] == "0.3.36"
    for r in data:
        assert r.origin == "synthetic" and r.label in ("sport", "tech")
        assert r.provenance.model_sha256 == MODELS[SMALL_MODEL].sha256
        verdict = r.verdict("self_consistency")
        assert verdict.by == "targen.self_correction/smollm2-135m"
        assert verdict.detail["target"] == r.label
        assert verdict.detail["predicted"] in ("sport", "tech", None)
        assert r.trust_weight == (1.0 if verdict.passed else 0.5)
        assert len(r.text.split()) >= 5
    for r in rejected:
        assert r.rejected.reason

    assert {r.label for r in data} == {"sport", "tech"}
    scored = cli("evaluate", str(out), "--real", "bbc_news", "--generator-sample", "10")
    assert scored.returncode == 0, scored.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["data"]["missing_in_synthetic"]) == {"business", "entertainment", "politics"}
    assert metrics["data"]["n_synthetic"] == len(data)
    # the generator (SmolLM2) labelled 10 real test records through the same cache
    assert metrics["generator"]["n"] == 10
    assert 0.0 <= metrics["generator"]["scores"]["accuracy"]["value"] <= 1.0
    page = render(out / "report.html", out / "report.png")
    assert page["ready"] == "complete" and page["title"].startswith("synthloom evaluation")
    assert len(page["images"]) == 8
    assert all(complete and width > 0 for complete, width, _ in page["images"]), page["images"]
    errors = [e for e in page["console"] if e["level"] in ("SEVERE", "WARNING")]
    assert errors == [], errors
    assert (out / "report.png").stat().st_size > 50_000

    again = cli("generate", str(recipe), "-o", str(out), "--resume")
    assert again.returncode == 0, again.stderr
    rerun = json.loads((out / "manifest.json").read_text())
    assert rerun["this_session"]["llm_calls"] == 0
    assert [r.id for r in read_parquet(out / "data.parquet")] == [r.id for r in data]


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path, small_recipe):
    recipe = small_recipe(8)
    out = tmp_path / "run"
    proc = start_generate(
        recipe,
        out,
        lambda: len(lines(out / "data.jsonl") + lines(out / "rejected.jsonl")) >= 2,
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    before_data, before_rejected = lines(out / "data.jsonl"), lines(out / "rejected.jsonl")
    assert not (out / "manifest.json").exists()

    resumed = cli("generate", str(recipe), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    after_data, after_rejected = lines(out / "data.jsonl"), lines(out / "rejected.jsonl")
    # what was finished before the kill is kept as it was
    assert after_data[: len(before_data)] == before_data
    assert after_rejected[: len(before_rejected)] == before_rejected
    data = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    plan_ids = [r.provenance.plan.id for r in data + rejected]
    assert len(plan_ids) == len(set(plan_ids)), "a draft was finished twice"
    assert len({r.id for r in data}) == len(data), "a record was written twice"
    drafts = {d.id for d in read_jsonl(out / "drafts.jsonl")}
    assert set(plan_ids) == drafts, "a planned draft was lost"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accepted"] == len(data)


def test_bad_recipe_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: t\ndescription: d\nlabels:\n  a: x\n  b: y\ncolour: red\n")
    out = tmp_path / "out"
    done = cli("generate", str(bad), "-o", str(out))
    assert done.returncode == 2
    assert "line 6" in done.stderr and "colour" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_model_exits_2(tmp_path, small_recipe):
    done = cli("generate", str(small_recipe(2)), "-o", str(tmp_path / "o"), "--model", "nope")
    assert done.returncode == 2 and "nope" in done.stderr


def test_models_lists_embedded_models_with_sha256_and_licence():
    done = cli("models")
    assert done.returncode == 0
    text = "".join(done.stdout.split())  # the table folds long values
    for m in MODELS.values():
        assert m.sha256 in text and m.name in text
    assert "Apache-2.0" in text


def test_ctrl_c_exits_130_and_says_how_to_resume(tmp_path, small_recipe):
    recipe = small_recipe(8)
    out = tmp_path / "run"
    proc = start_generate(recipe, out, lambda: bool(lines(out / "drafts.jsonl")))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    resumed = cli("generate", str(recipe), "-o", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
