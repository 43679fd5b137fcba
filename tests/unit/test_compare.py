"""`synthloom compare`: the seed-size table, did synthetic data help at each run's number
of real examples (issue 10)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.evaluate.compare import compare_runs


def metrics(n_real: int, alone: float, added: float, low: float, high: float,
            majority: float = 0.3) -> dict:
    gain = {"value": added - alone, "low": low, "high": high}
    point = {"accuracy": alone, "macro_f1": alone - 0.1}
    return {
        "data": {"labels": ["a", "b", "c"], "real_seed_source": "the run's seed examples"},
        "baselines": {"majority": {"label": "a", "accuracy": majority, "macro_f1": 0.2}},
        "students": {"tfidf-lr": {
            "tstr": {"synthetic": {"accuracy": {"value": 0.6}, "macro_f1": {"value": 0.5}}},
            "mixing": {"n_real": n_real, "points": [
                {"ratio": 0, "n_synthetic": 0, **point},
                {"ratio": 1, "n_synthetic": n_real, "accuracy": alone + 0.5,  # not read
                 "macro_f1": 0.0, "gain": {"accuracy": gain, "macro_f1": gain}},
                {"ratio": 4, "n_synthetic": 4 * n_real, "accuracy": added,
                 "macro_f1": added - 0.1, "gain": {"accuracy": gain, "macro_f1": gain}}]}}},
    }


def write(tmp_path, name, value):
    d = tmp_path / name
    d.mkdir()
    (d / "metrics.json").write_text(json.dumps(value))
    return d


def test_rows_read_every_synthetic_record_added_and_say_whether_it_helped(tmp_path):
    big = write(tmp_path, "n100", metrics(100, 0.80, 0.79, -0.03, 0.01))
    small = write(tmp_path, "n10", metrics(10, 0.50, 0.60, 0.05, 0.15))
    worse = write(tmp_path, "n25", metrics(25, 0.70, 0.60, -0.15, -0.05, majority=0.9))
    rows = compare_runs([big, small, worse])
    assert [r["real_seeds"] for r in rows] == [10, 25, 100]
    assert [r["helped"] for r in rows] == ["yes", "no", "unclear"]
    assert rows[0]["with_synthetic"] == 0.60 and rows[0]["n_synthetic"] == 40
    assert rows[1]["metric"] == "macro_f1"  # 0.9 of one class: imbalanced
    result = CliRunner().invoke(app, ["compare", str(big), str(small)])
    assert result.exit_code == 0 and "n10" in result.output and "+0.100" in result.output


def test_a_run_without_metrics_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(app, ["compare", str(tmp_path)])
    assert result.exit_code == 2 and "has no metrics.json" in result.output
    assert "Traceback" not in result.output
