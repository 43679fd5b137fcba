"""The four instruction recipes side by side at equal wall time (issue 13).

    .venv/bin/python bench/instruction.py run --minutes 10 [--model qwen2.5-coder-0.5b]
    .venv/bin/python bench/instruction.py score --judge-model qwen2.5-coder-1.5b
    .venv/bin/python bench/instruction.py table

``run`` generates with each recipe (``recipes/instruction_{self_instruct,evol,magpie,
personas}.yaml``, its judge step removed and ``n`` raised so no recipe finishes early) for
at most the same wall time: ``synthloom generate`` runs as a subprocess and is stopped
(SIGTERM to its process group) when ``--minutes`` have passed, or ends earlier when its pool
is used up (see :data:`POOL_SIZES`); everything accepted until then is in
``data.jsonl`` (records are appended per chunk), the pool's removed counts in ``plan/``.
A recipe whose plan (the instruction pool) is not finished by then has no record: that is
its cost at this budget. Runs go one at a time (2 cores). Output: ``out/bench_instruction/
<recipe>/``. A run already there is kept (delete it to run again).

``score`` tags every accepted record with the judge (instruction quality, difficulty,
response quality; :data:`~synthloom.operators.judge.pointwise.INSTRUCTION_CRITERIA`) on
``--judge-model`` (cached in ``out/bench_instruction/cache-<model>.sqlite``) and measures
each set against Self-Instruct's 175 human-written tasks
(:func:`~synthloom.evaluate.instruction.evaluate_instructions`): ``<recipe>/bench.json``.

``table`` prints the comparison: accepted instructions per minute, distinct-2, mean
nearest-neighbour cosine, judge quality and difficulty, precision/recall/coverage against
the real set, and the share of candidates removed by each filter (pool filters from
``plan/*.json``, generation rejections from ``rejected.jsonl`` by operator).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "out" / "bench_instruction"
RECIPES = ("self_instruct", "evol", "magpie", "personas")
#: pool sizes: a pool is built whole before its first record (a plan step), so a pool too
#: large for the budget gives no record at all; these were chosen so each pool is built in
#: well under 8 minutes on 2 cores with the 0.5B model, and a run that exhausts its pool
#: before the budget stops early (its per-minute rate uses its own wall time)
POOL_SIZES = {"self_instruct": ("instruction.self_instruct", "count", 40),
              "evol": ("instruction.evol", "generations", 2),
              "personas": ("personas.pool", "count", 60)}


def bench_recipe(name: str, model: str, pool: int | None = None) -> dict:
    """The recipe of ``name`` as the bench runs it: no judge step, large ``n``, the pool
    size of :data:`POOL_SIZES` (or ``pool``)."""
    recipe = yaml.safe_load((ROOT / "recipes" / f"instruction_{name}.yaml").read_text())
    recipe["n"] = 2000
    recipe["backend"] = {"model": model}
    recipe["steps"] = [s for s in recipe["steps"] if not s["type"].startswith("judge.")]
    if name in POOL_SIZES:
        step_type, field, value = POOL_SIZES[name]
        value = value if pool is None else pool
        for s in recipe["steps"]:
            if s["type"] == step_type:
                s[field] = value
    for s in recipe["steps"]:
        if s["type"] == "instruction.drafts":
            s["max_drafts_factor"] = 1.0
    return recipe


def run(minutes: float, model: str, only: str | None = None, pool: int | None = None) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in RECIPES if only is None else [only]:
        label = name if pool is None else f"{name}_{pool}"
        out = OUT / label
        if (out / "bench_run.json").exists():
            print(f"{name}: kept (delete {out} to run again)", flush=True)
            continue
        recipe_file = OUT / f"{label}.yaml"
        recipe_file.write_text(yaml.safe_dump(bench_recipe(name, model, pool),
                                              sort_keys=False))
        started = time.time()
        proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "synthloom"), "generate", str(recipe_file), "-o",
             str(out)], start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=open(OUT / f"{label}.log", "w"))
        try:
            proc.wait(timeout=minutes * 60)
            stopped = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=120)
            stopped = True
        wall = time.time() - started
        accepted = _count(out / "data.jsonl")
        (out / "bench_run.json").write_text(json.dumps({
            "recipe": name, "pool": pool, "model": model, "budget_seconds": minutes * 60,
            "wall_seconds": round(wall, 1), "stopped_at_budget": stopped,
            "accepted": accepted, "returncode": proc.returncode}, indent=2))
        print(f"{label}: {accepted} accepted in {wall:.0f} s (stopped: {stopped})", flush=True)


def _runs() -> list[Path]:
    """Bench run folders, in recipe order (variants with another pool size after)."""
    found = [p.parent for p in OUT.glob("*/bench_run.json")]
    return sorted(found, key=lambda p: (RECIPES.index(p.name.split("_")[0]
                                                      if p.name.split("_")[0] in RECIPES
                                                      else "self_instruct"), p.name))


def _count(path: Path) -> int:
    return sum(1 for line in path.open() if line.strip()) if path.exists() else 0


def score(judge_model: str) -> None:
    from synthloom.evaluate.instruction import evaluate_instructions
    from synthloom.instruction_sets import load_instructions
    from synthloom.operators.judge.pointwise import INSTRUCTION_CRITERIA, PointwiseJudge
    from synthloom.pipeline.backends import make_backend
    from synthloom.pipeline.recipe import BackendConfig
    from synthloom.records import read_jsonl

    real = load_instructions("self_instruct_seed")
    backend = make_backend(BackendConfig(model=judge_model), OUT / f"cache-{judge_model}.sqlite")
    try:
        for out in _runs():
            name = json.loads((out / "bench_run.json").read_text())["recipe"]
            if (out / "bench.json").exists():
                continue
            records = list(read_jsonl(out / "data.jsonl"))
            if not records:
                (out / "bench.json").write_text(json.dumps({"accepted": 0}))
                continue
            description = bench_recipe(name, judge_model)["task"]["description"]
            judge = PointwiseJudge(backend, description, "task for an assistant",
                                   list(INSTRUCTION_CRITERIA), same_model_as_generator=False,
                                   seed=13)
            started = time.time()
            judged = judge(records)
            metrics = evaluate_instructions(judged, real, seed=13)
            metrics["judge_seconds"] = round(time.time() - started, 1)
            metrics["judge_model"] = judge_model
            (out / "bench.json").write_text(json.dumps(metrics, indent=2))
            print(f"{name}: scored {len(records)} records", flush=True)
    finally:
        backend.close()


def removed_shares(out: Path) -> dict[str, float]:
    """Share of candidates removed by each filter: the pool's filters (of the pool's
    candidates) and the generation rejections (of the drafts that finished)."""
    shares: dict[str, float] = {}
    for path in sorted((out / "plan").glob("*.json")):
        value = json.loads(path.read_text())
        if isinstance(value, dict) and value.get("removed") and value.get("candidates"):
            for reason, count in value["removed"].items():
                shares[f"{path.stem}:{reason}"] = round(count / value["candidates"], 3)
    rejected = Counter()
    if (out / "rejected.jsonl").exists():
        for line in (out / "rejected.jsonl").open():
            if line.strip():
                r = json.loads(line)
                reason = r["rejected"]["reason"]
                key = r["rejected"]["operator"] + (":template echoed" if "echoed" in reason
                                                   else "")
                rejected[key] += 1
    finished = sum(rejected.values()) + _count(out / "data.jsonl")
    for key, count in rejected.items():
        shares[f"generate:{key}"] = round(count / finished, 3)
    return shares


def table() -> None:
    head = ("recipe", "accepted", "per min", "distinct-2", "NN cos", "quality", "difficulty",
            "resp. q.", "precision", "recall", "coverage")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for out in _runs():
        name = out.name
        b = json.loads((out / "bench_run.json").read_text())
        m = json.loads((out / "bench.json").read_text()) if (out / "bench.json").exists() else {}
        syn = m.get("synthetic") or {}
        judge = syn.get("judge") or {}
        against = m.get("against_real") or {}

        def mean(c: str, judge: dict = judge) -> str:
            return str(judge.get(c, {}).get("mean", "-"))

        print(" | ".join(str(x) for x in (
            name, b["accepted"], round(b["accepted"] / b["wall_seconds"] * 60, 2),
            syn.get("distinct_2", "-"), syn.get("nearest_neighbour_cosine", "-"),
            mean("quality"), mean("difficulty"), mean("response_quality"),
            against.get("precision", "-"), against.get("recall", "-"),
            against.get("coverage", "-"))))
    real = next((json.loads((o / "bench.json").read_text()) for o in _runs()
                 if (o / "bench.json").exists()
                 and json.loads((o / "bench.json").read_text()).get("real")), None)
    if real:
        r, half = real["real"], real.get("real_half_vs_half") or {}
        print(f"\nreal (175 human-written): distinct-2 {r['distinct_2']}, NN cos "
              f"{r['nearest_neighbour_cosine']}; half vs half: precision "
              f"{half.get('precision')}, recall {half.get('recall')}, coverage "
              f"{half.get('coverage')} (n={half.get('n')})")
    print("\nshare removed by each filter:")
    for out in _runs():
        print(f"  {out.name}: {removed_shares(out)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--model", default="qwen2.5-coder-0.5b")
    p.add_argument("--only", choices=RECIPES, help="run one recipe")
    p.add_argument("--pool", type=int, help="its pool size instead of POOL_SIZES "
                   "(output folder <recipe>_<pool>)")
    p = sub.add_parser("score")
    p.add_argument("--judge-model", default="qwen2.5-coder-1.5b")
    sub.add_parser("table")
    args = parser.parse_args()
    if args.command == "run":
        run(args.minutes, args.model, args.only, args.pool)
    elif args.command == "score":
        score(args.judge_model)
    else:
        table()


if __name__ == "__main__":
    sys.exit(main())
