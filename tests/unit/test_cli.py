"""CLI bad-input paths: one line naming the problem, exit code 2, nothing written."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.records import Origin, Record, append_jsonl

runner = CliRunner()


def test_generate_with_missing_labels_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("task: t\ndescription: d\nn: 5\n")
    result = runner.invoke(app, ["generate", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "labels" in result.output
    assert not (tmp_path / "out").exists()


def test_generate_with_wrong_type_names_field_and_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("task: t\ndescription: d\nlabels:\n  a: x\n  b: y\nn: many\n")
    result = runner.invoke(app, ["generate", str(bad), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "line 6" in result.output and "n:" in result.output


def test_evaluate_without_a_run_exits_2(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--real", "bbc_news"])
    assert result.exit_code == 2
    assert "data.parquet" in result.output


def test_evaluate_with_real_file_lacking_label_column_exits_2(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    append_jsonl(
        run / "data.jsonl",
        [
            Record(
                id=str(i),
                task="t",
                inputs={"text": f"text {i}"},
                label=lab,
                origin=Origin.synthetic,
            )
            for i, lab in enumerate(["a", "b"] * 5)
        ],
    )
    real = tmp_path / "real.jsonl"
    real.write_text("\n".join(json.dumps({"text": f"x {i}"}) for i in range(10)) + "\n")
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(real)])
    assert result.exit_code == 2
    assert "label" in result.output and "real.jsonl" in result.output
    assert not (run / "metrics.json").exists()


def _run_with(tmp_path, labels):
    run = tmp_path / "run"
    run.mkdir()
    append_jsonl(
        run / "data.jsonl",
        [
            Record(id=str(i), task="t", inputs={"text": f"some words about {lab} number {i}"},
                   label=lab, origin=Origin.synthetic)
            for i, lab in enumerate(labels)
        ],
    )
    return run


def _real_file(tmp_path, n_per_label, labels=("a", "b")):
    real = tmp_path / "real.jsonl"
    rows = [{"text": f"real text {lab} {i} about {lab}", "label": lab}
            for lab in labels for i in range(n_per_label)]
    real.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return real


def test_evaluate_with_labels_outside_the_real_set_exits_2(tmp_path):
    run = _run_with(tmp_path, ["a", "B"] * 10)
    real = _real_file(tmp_path, 40)
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(real)])
    assert result.exit_code == 2, result.output
    assert "synthetic labels not in the real data: B (real labels: a, b)" in result.output
    assert not (run / "metrics.json").exists()


def test_evaluate_with_a_tiny_real_set_exits_2(tmp_path):
    run = _run_with(tmp_path, ["a", "b"] * 10)
    real = _real_file(tmp_path, 8)  # 16 records: a test split of 5
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(real)])
    assert result.exit_code == 2, result.output
    assert "real test split has 5 records" in " ".join(result.output.split())


def test_evaluate_with_too_few_synthetic_records_exits_2(tmp_path):
    run = _run_with(tmp_path, ["a", "b"] * 3)
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(_real_file(tmp_path, 40))])
    assert result.exit_code == 2, result.output
    assert "only 6 usable synthetic records; need at least 10" in result.output


def test_evaluate_reports_a_real_class_missing_from_synthetic(tmp_path):
    run = _run_with(tmp_path, ["a", "b"] * 10)
    real = _real_file(tmp_path, 40, labels=("a", "b", "c"))
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(real), "--no-report",
                                 "--student", "tfidf-lr"])
    assert result.exit_code == 0, result.output
    assert "labels in real data but not in synthetic: ['c']" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["missing_in_synthetic"] == ["c"]
    assert metrics["students"]["tfidf-lr"]["tstr"]["synthetic"]["per_class_f1"]["c"] == 0.0
    assert not (run / "report.html").exists()
