"""Benchmark the demo recipe: accepted records per minute, pipeline efficiency, resume cost.

Run by hand (never a timed test):

    .venv/bin/python bench/pipeline_efficiency.py [--n 300] [--model qwen2.5-coder-0.5b]

Measures, in one process and one run:

- accepted records per minute (wall clock, planning included);
- raw llama.cpp decode rate of the same model (plain completion, no grammar, no
  pipeline), before and after the run;
- pipeline token throughput = generated tokens / wall seconds, and its ratio to the
  raw decode rate ("pipeline efficiency"); prompt evaluation, grammar-constrained
  labelling and Python overhead all count against it;
- the share of wall time spent inside LLM calls (the rest is pipeline overhead);
- LLM calls made by a resumed re-run of the finished run (target 0).

Writes the figures as JSON to ``--report`` (default ``out/bench/pipeline_efficiency.json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.llamacpp import LlamaCppBackend
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe, with_backend

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "bbc_news_topics.yaml"))
    parser.add_argument("--n", type=int, default=None, help="accepted records (recipe's n)")
    parser.add_argument("--model", default=None, help="embedded model (recipe's model)")
    parser.add_argument("--out", default=str(ROOT / "out" / "bench" / "run"))
    parser.add_argument(
        "--report", default=str(ROOT / "out" / "bench" / "pipeline_efficiency.json")
    )
    args = parser.parse_args()

    recipe = with_backend(load_recipe(args.recipe, n=args.n), model=args.model)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    cache_path = out.with_name(out.name + "-cache.sqlite")
    cache_path.unlink(missing_ok=True)

    llm = LlamaCppBackend.embedded(recipe.backend.model, n_ctx=recipe.backend.n_ctx)
    raw_before = llm.raw_decode_rate()
    backend = CachedBackend(llm, ResponseCache(cache_path))

    start = time.perf_counter()
    manifest = run_recipe(recipe, out, backend=backend)
    wall = time.perf_counter() - start
    raw_after = llm.raw_decode_rate()
    raw = (raw_before + raw_after) / 2

    rerun = run_recipe(recipe, out, resume=True, backend=backend)

    throughput = manifest["tokens_out"] / wall
    report = {
        "model": recipe.backend.model,
        "n_wanted": recipe.n,
        "accepted": manifest["accepted"],
        "rejected": manifest["rejected"],
        "acceptance_rate": manifest["acceptance_rate"],
        "flip_rate": manifest["flip_rate"],
        "wall_seconds": round(wall, 1),
        "accepted_per_minute": round(manifest["accepted"] / wall * 60, 2),
        "tokens_in": manifest["tokens_in"],
        "tokens_out": manifest["tokens_out"],
        "llm_calls": manifest["llm_calls"],
        "raw_decode_tokens_per_second": {
            "before": round(raw_before, 2),
            "after": round(raw_after, 2),
        },
        "pipeline_tokens_per_second": round(throughput, 2),
        "pipeline_efficiency": round(throughput / raw, 3),
        "share_of_wall_in_llm_calls": round(manifest["llm_seconds"] / wall, 3),
        "resumed_rerun_llm_calls": rerun["this_session"]["llm_calls"],
    }
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
