"""Benchmark: the local executor against the Ray Data executor on one recipe, side by side
in one process, and a scale-up estimate from the measured per-record costs of each step.

Run by hand (one LLM job at a time on this machine)::

    .venv/bin/python bench/ray_executor.py [--recipe recipes/vader_tweets.yaml] [--n 16]
        [--model NAME] [--workers 1,2] [--kill] [-o out/bench/ray]
        [--server-prefill-tps 20000] [--server-decode-tps 2500] [--hours 24]

Arms, each with its own cold response cache, in this order: ``local``, then ``ray`` with
each ``--workers`` count (actors per stage; each actor loads its own embedded model).
Per arm: accepted records, wall seconds, accepted per minute, LLM calls, the ratio of
its wall time to the local arm's. With ``--kill``, one more Ray arm kills one stage
actor (SIGKILL) once a stage has checkpointed its first batch (mid-chunk); it reports
whether the run completed, and its records against the ``ray`` arm with the same
workers (lost and duplicated ids; with a cold cache the two may differ anyway).

``--driver N`` measures what the driver alone can do (no LLM): the TarGEN toy recipe of
the unit tests with ``N`` records on their instant scripted model, local executor,
``chunk_size`` 256 (drafting, checks' bookkeeping, JSONL appends, the final Parquet):
records per second, the ceiling of one driver whatever the cluster behind it.

The scale-up estimate is arithmetic, not a measurement: per accepted record, each step's
measured LLM calls and prompt / output tokens (the local arm's ``usage_by_step``), times
1,000,000 records, divided by what one OpenAI-compatible server (vLLM) is ASSUMED to
process (``--server-prefill-tps`` prompt tokens and ``--server-decode-tps`` output tokens
per second, summed over its concurrent requests; the defaults are placeholders to be
replaced by a measurement on the user's hardware). The bounding step is the one needing
the most server-seconds; servers needed = total server-seconds / (``--hours`` x 3600).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from synthloom.api import generate
from synthloom.pipeline.recipe import load_recipe, with_backend
from synthloom.records import read_jsonl


def run_arm(recipe: Any, out: Path, executor: str, workers: int,
            kill: bool = False) -> dict[str, Any]:
    """One cold run; returns the measured figures (and the killed actor's pid)."""
    killed: list[int] = []
    if kill:
        def killer() -> None:
            deadline = time.monotonic() + 3600
            while time.monotonic() < deadline:
                if (out / "stages").exists():  # a stage saved a batch: the chunk is mid-way
                    pids = subprocess.run(["pgrep", "-f", "ray::MapWorker"], text=True,
                                          capture_output=True).stdout.split()
                    if pids:
                        os.kill(int(pids[0]), signal.SIGKILL)
                        killed.append(int(pids[0]))
                        return
                time.sleep(0.5)

        threading.Thread(target=killer, daemon=True).start()
    started = time.perf_counter()
    manifest = generate(recipe, out, executor=executor, workers=workers)
    wall = time.perf_counter() - started
    ids = [r.id for r in read_jsonl(out / "data.jsonl")]
    return {"executor": executor, "workers": workers, "accepted": manifest["accepted"],
            "rejected": manifest["rejected"], "wall_seconds": round(wall, 1),
            "accepted_per_minute": round(manifest["accepted"] / wall * 60, 2),
            "llm_calls": manifest["llm_calls"], "usage_by_step": manifest["usage_by_step"],
            "ids": ids, "duplicate_ids": len(ids) - len(set(ids)), "killed_pid": killed,
            "executor_detail": manifest.get("executor")}


def driver_ceiling(records: int, out: Path) -> dict[str, Any]:
    """Records per second of the driver on an instant scripted model (no LLM)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from synthloom.llm.cache import CachedBackend, ResponseCache
    from synthloom.pipeline.local import run_recipe
    from synthloom.pipeline.recipe import Recipe
    from tests.unit import test_targen_pipeline as toy
    from tests.unit.scripted import ScriptedBackend

    recipe = Recipe.model_validate({**toy.recipe(n=records).model_dump(), "chunk_size": 256})
    folder = out / f"driver-{records}"
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    backend = CachedBackend(ScriptedBackend(toy.respond), ResponseCache(out / "driver.sqlite"))
    started = time.perf_counter()
    manifest = run_recipe(recipe, folder, backend=backend)
    wall = time.perf_counter() - started
    backend.close()
    return {"records": manifest["accepted"], "llm_calls": manifest["llm_calls"],
            "wall_seconds": round(wall, 1),
            "records_per_second": round(manifest["accepted"] / wall, 1),
            "hours_for_1m": round(1_000_000 / (manifest["accepted"] / wall) / 3600, 1)}


def scale_up(usage_by_step: dict[str, dict[str, int]], accepted: int, prefill: float,
             decode: float, hours: float, plan_steps: set[str],
             records: int = 1_000_000) -> dict[str, Any]:
    """Server-seconds per step for ``records`` records from measured per-record tokens and
    ASSUMED server throughputs; the bounding step and the servers needed in ``hours``.
    Plan steps run once per run whatever its size: listed apart, not scaled."""
    rows, once = [], {}
    for step, u in usage_by_step.items():
        if not u.get("calls"):
            continue
        if step in plan_steps:
            once[step] = u
            continue
        per_in, per_out = u["tokens_in"] / accepted, u["tokens_out"] / accepted
        seconds = records * (per_in / prefill + per_out / decode)
        rows.append({"step": step, "calls_per_record": round(u["calls"] / accepted, 3),
                     "prompt_tokens_per_record": round(per_in, 1),
                     "output_tokens_per_record": round(per_out, 1),
                     "server_hours": round(seconds / 3600, 1)})
    total = sum(r["server_hours"] for r in rows)
    bound = max(rows, key=lambda r: r["server_hours"]) if rows else None
    return {"records": records, "assumed_prefill_tps": prefill,
            "assumed_decode_tps": decode, "plan_steps_once_per_run": once, "steps": rows,
            "bounding_step": bound and bound["step"],
            "server_hours": round(total, 1),
            "servers_for_hours": {"hours": hours, "servers": -(-total // hours) if total else 0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="recipes/vader_tweets.yaml")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--model", default=None)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--kill", action="store_true")
    parser.add_argument("-o", "--out", default="out/bench/ray")
    parser.add_argument("--server-prefill-tps", type=float, default=20000.0)
    parser.add_argument("--server-decode-tps", type=float, default=2500.0)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--driver", type=int, default=0,
                        help="measure only the driver's ceiling on N scripted records")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.driver:
        print(json.dumps(driver_ceiling(args.driver, out)))
        return
    recipe = with_backend(load_recipe(args.recipe, n=args.n), model=args.model)
    arms = [("local", 1, False)] + [("ray", int(w), False) for w in args.workers.split(",")]
    if args.kill:
        arms.append(("ray", int(args.workers.split(",")[0]), True))
    results = []
    for executor, workers, kill in arms:
        name = f"{executor}-w{workers}" + ("-killed" if kill else "")
        folder = out / name
        if (folder / "manifest.json").exists():
            print(f"{name}: {folder} already holds a finished run; remove it to measure again")
            continue
        row = run_arm(recipe, folder, executor, workers, kill)
        row["arm"] = name
        results.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("ids", "usage_by_step")}),
              flush=True)
    if not results:
        return
    local = results[0]
    print("\n| arm | accepted | rejected | wall seconds | accepted/min | LLM calls "
          "| wall / local |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['arm']} | {r['accepted']} | {r['rejected']} | {r['wall_seconds']} | "
              f"{r['accepted_per_minute']} | {r['llm_calls']} | "
              f"{r['wall_seconds'] / local['wall_seconds']:.2f} |")
    for r in results:
        if r["killed_pid"] or r["arm"].endswith("-killed"):
            same = next((x for x in results if x["arm"] == f"ray-w{r['workers']}"), None)
            lost = sorted(set(same["ids"]) - set(r["ids"])) if same else None
            print(f"\n{r['arm']}: killed actor pid {r['killed_pid']}, completed with "
                  f"{r['accepted']} accepted, {r['duplicate_ids']} duplicate ids, "
                  f"ids missing against ray-w{r['workers']}: {lost}")
    estimate = scale_up(local["usage_by_step"], local["accepted"], args.server_prefill_tps,
                        args.server_decode_tps, args.hours,
                        {s.type for s in recipe.steps_of("plan")})
    print("\nscale-up estimate (arithmetic on ASSUMED server throughput):")
    print(json.dumps(estimate, indent=1))
    (out / "results.json").write_text(json.dumps({"arms": results, "scale_up": estimate},
                                                 indent=1))
    print(f"wrote {out / 'results.json'}")


if __name__ == "__main__":
    main()
