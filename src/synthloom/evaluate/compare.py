"""The user's question across runs: at my number of real examples, did synthetic data help?

Each evaluated run answers it for its own real seed set (the mixing experiment: the seeds
alone, then with 1, 4 and 16 times as many synthetic records, at most all; the largest
point is read, with a paired bootstrap interval of the gain). Runs anchored in 10, 25, 50
and 100 seeds (``seed_data.n``), each evaluated, side by side make the seed-size table:
where synthetic data stops adding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthloom.errors import UserInputError
from synthloom.evaluate.verdict import headline_metric


def _metrics(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / "metrics.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{run_dir} has no metrics.json; run synthloom evaluate on it "
                             "first") from None
    except (OSError, ValueError) as e:
        raise UserInputError(f"{path}: unreadable ({e})") from None
    if not isinstance(value, dict) or "students" not in value:
        raise UserInputError(f"{path}: not the metrics of synthloom evaluate")
    return value


def compare_runs(run_dirs: Sequence[Path | str]) -> list[dict[str, Any]]:
    """One row per (run, student), runs sorted by real seed count.

    Returns:
        rows ``{"run", "real_seeds", "seed_source", "student", "metric", "real_alone",
        "n_synthetic", "with_synthetic", "gain", "low", "high", "helped", "tstr"}``:
        scores on the real test split in the run's headline metric (macro-F1 when the real
        classes are imbalanced, else accuracy); ``gain`` = with - alone and its paired 95%
        interval (None for metrics written before intervals existed); ``helped`` is
        ``"yes"`` (interval above 0), ``"no"`` (below), or ``"unclear"``, on this test
        split for these fitted students (another draw of seeds or synthetic records can
        differ: compare runs at several seeds); ``tstr`` the synthetic-only score.

    Raises:
        UserInputError: a directory without readable ``metrics.json``.
    """
    rows = []
    for run_dir in run_dirs:
        m = _metrics(Path(run_dir))
        metric = headline_metric(m)
        for name, s in m["students"].items():
            points = s["mixing"]["points"]
            alone = points[0]
            every = max(points[1:], key=lambda p: p["n_synthetic"], default=alone)
            interval = (every.get("gain") or {}).get(metric) or {}
            low, high = interval.get("low"), interval.get("high")
            helped = ("unclear" if low is None or (low <= 0 <= high)
                      else "yes" if low > 0 else "no")
            rows.append({
                "run": str(run_dir), "real_seeds": s["mixing"]["n_real"],
                "seed_source": m["data"].get("real_seed_source", ""), "student": name,
                "metric": metric, "real_alone": alone[metric],
                "n_synthetic": every["n_synthetic"], "with_synthetic": every[metric],
                "gain": every[metric] - alone[metric], "low": low, "high": high,
                "helped": helped, "tstr": s["tstr"]["synthetic"][metric]["value"],
            })
    return sorted(rows, key=lambda r: (r["real_seeds"], r["run"], r["student"]))
