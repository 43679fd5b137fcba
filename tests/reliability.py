"""The reliability suite (issue 11), run by ``make reliability``; prints one summary table.

    .venv/bin/python tests/reliability.py [--trials 20] [--seed 11] [--out DIR]

Three parts, each bounded in time:

1. **kill -9 at random points**: a tiny real run (the embedded SmolLM2-135M, one
   sequence at a time, so its answers repeat exactly) is made once uninterrupted; then
   ``--trials`` runs of the same recipe are each killed with SIGKILL after a seeded
   random delay and resumed with ``--resume`` until they finish. Each finished trial must
   equal the uninterrupted run as a set of records (id, label, text), hold no record
   twice, finish every draft exactly once, and have no partial JSONL line and a readable
   Parquet file equal to its ``data.jsonl``.
2. **the pytest reliability tests**: server faults behind a fault-injecting proxy in
   front of a real llama.cpp server, damaged run folders, locks and concurrent runs, disk
   full, and hypothesis fuzzing of recipes, real-data files and model outputs; their
   pass/fail counts (and the proxy's fault counts, which the server-fault tests write to
   ``$SYNTHLOOM_RELIABILITY_LOG``) go in the table.
3. the table: faults injected, runs completed, records lost, records duplicated (the last
   two must be 0). Exit code 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RECIPE = """\
task: tiny_reviews
description: One-sentence customer reviews of kitchen appliances.
labels:
  positive: the customer is pleased with the appliance
  negative: the customer is unhappy with the appliance
n: 8
seed: 3
chunk_size: 2
backend:
  kind: llamacpp
  model: smollm2-135m
  parallel: 1
  n_threads: 1
targen:
  contexts: 2
  seeds_per_pair: 2
  max_regenerations: 1
  on_disagreement: keep
  max_words: 16
  max_drafts_factor: 2
"""

PYTEST_FILES = (
    "tests/e2e/test_server_faults.py",
    "tests/unit/test_openai_http.py",
    "tests/unit/test_run_folder.py",
    "tests/unit/test_bad_input.py",
    "tests/unit/test_model_output_fuzz.py",
)


def generate(recipe: Path, out: Path, *, resume: bool) -> subprocess.Popen:
    args = [sys.executable, "-m", "synthloom", "generate", str(recipe), "-o", str(out)]
    return subprocess.Popen(args + (["--resume"] if resume else []),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def records(out: Path) -> list[tuple[str, str | None, str]]:
    """(id, label, text) per line of data.jsonl; raises on a partial or invalid line."""
    from synthloom.records import Record

    rows = []
    for number, line in enumerate((out / "data.jsonl").read_text().splitlines(), 1):
        try:
            r = Record.model_validate_json(line)
        except ValueError as e:
            raise AssertionError(f"data.jsonl:{number}: {e}") from e
        rows.append((r.id, r.label, r.text))
    return rows


def check(out: Path, reference: set) -> dict:
    """Lost, duplicated and unexpected records of a finished trial, and other damage."""
    from synthloom.records import read_jsonl, read_parquet

    rows = records(out)
    counts = Counter(rows)
    got = set(rows)
    drafts = [d.id for d in read_jsonl(out / "drafts.jsonl")]
    finished = [r.provenance.plan.id for r in
                list(read_jsonl(out / "data.jsonl")) + list(read_jsonl(out / "rejected.jsonl"))]
    parquet = {(r.id, r.label, r.text) for r in read_parquet(out / "data.parquet")}
    problems = []
    if parquet != got:
        problems.append("data.parquet differs from data.jsonl")
    if Counter(finished) != Counter(drafts):
        problems.append("a draft finished zero or several times")
    if (out / "data.corrupt.jsonl").exists():
        problems.append("lines were set aside as damaged")
    return {"lost": len(reference - got), "duplicated": sum(c - 1 for c in counts.values()),
            "unexpected": len(got - reference), "problems": problems}


def kill_trials(work: Path, trials: int, seed: int) -> dict:
    recipe = work / "recipe.yaml"
    recipe.write_text(RECIPE)
    started = time.perf_counter()
    ref = generate(recipe, work / "reference", resume=False)
    _, err = ref.communicate(timeout=1800)
    if ref.returncode:
        raise SystemExit(f"the uninterrupted reference run failed: {err.strip()[-500:]}")
    reference_seconds = time.perf_counter() - started
    reference = set(records(work / "reference"))
    rng = random.Random(seed)
    totals = Counter()
    for trial in range(trials):
        out = work / f"trial-{trial:02d}"
        delay = rng.uniform(0.5, reference_seconds * 0.95)
        kills = 0
        for attempt in range(3):  # the run, then up to two resumes, each killed mid-way
            if attempt and rng.random() >= 0.3:
                break
            proc = generate(recipe, out, resume=attempt > 0)
            time.sleep(delay if attempt == 0 else rng.uniform(0.5, reference_seconds * 0.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        proc = generate(recipe, out, resume=True)  # finish what is left, never killed
        _, err = proc.communicate(timeout=1800)
        if proc.returncode:
            totals["failed"] += 1
            print(f"trial {trial}: the final resume failed: {err.strip()[-300:]}", flush=True)
        result = check(out, reference) if proc.returncode == 0 else {"problems": ["no finish"]}
        totals["kills"] += kills
        totals["completed"] += proc.returncode == 0
        for key in ("lost", "duplicated", "unexpected"):
            totals[key] += result.get(key, 0)
        totals["problems"] += len(result["problems"])
        print(f"trial {trial:2d}: killed {kills}x (first after {delay:5.1f} s); "
              f"lost {result.get('lost')} duplicated {result.get('duplicated')} "
              f"unexpected {result.get('unexpected')} {'; '.join(result['problems'])}",
              flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return {"trials": trials, "reference_seconds": round(reference_seconds, 1),
            "reference_records": len(reference), **totals}


def pytest_part(log: Path) -> dict:
    env = {**os.environ, "SYNTHLOOM_RELIABILITY_LOG": str(log)}
    junit = log.with_suffix(".xml")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={junit}", *PYTEST_FILES], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    print(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:])
    import xml.etree.ElementTree as ET

    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    cases = suite.findall("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None
              or c.find("error") is not None]
    faults = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return {"tests": len(cases), "failed": failed, "server_faults": faults,
            "returncode": proc.returncode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=None, help="keep work files here")
    args = parser.parse_args()
    work = args.out or Path(tempfile.mkdtemp(prefix="synthloom-reliability-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kills = kill_trials(work, args.trials, args.seed)
    tests = pytest_part(work / "faults.jsonl")
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"reliability ({time.perf_counter() - started:.0f} s)")
    for col in ("part", "faults injected", "runs completed", "records lost",
                "records duplicated", "other problems"):
        table.add_column(col, justify="left" if col == "part" else "right")
    table.add_row(
        f"kill -9 at random points, then --resume ({kills['trials']} trials, "
        f"{kills['reference_records']} records each)", f"{kills.get('kills', 0)} kills",
        f"{kills.get('completed', 0)}/{kills['trials']}", str(kills.get("lost", 0)),
        str(kills.get("duplicated", 0)),
        str(kills.get("unexpected", 0) + kills.get("problems", 0) + kills.get("failed", 0)))
    for row in tests["server_faults"]:
        table.add_row(f"server faults: {row['test']}", str(sum(row['faults'].values()))
                      + f" ({', '.join(f'{k} {v}' for k, v in sorted(row['faults'].items()))})",
                      row["completed"], str(row.get("lost", 0)), str(row.get("duplicated", 0)),
                      "")
    table.add_row("tests: HTTP faults, damaged and locked folders, disk full, fuzzed recipes, "
                  "data files, run folders and model outputs", "",
                  f"{tests['tests'] - len(tests['failed'])}/{tests['tests']} tests passed",
                  "", "", ", ".join(tests["failed"]))
    Console(width=200).print(table)
    bad = (kills.get("lost", 0) + kills.get("duplicated", 0) + kills.get("unexpected", 0)
           + kills.get("problems", 0) + kills.get("failed", 0)
           + (kills.get("completed", 0) != kills["trials"]) + len(tests["failed"])
           + tests["returncode"])
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
