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
