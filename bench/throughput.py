"""Throughput of the embedded model, raw and through the pipeline, measured in one run.

    .venv/bin/python bench/throughput.py [--n 100] [--parallel 8] [--out out/throughput]
                                         [--evaluate]

In one process, one after the other on the same machine:

1. raw rates: prompt tokens evaluated per second (16 distinct ~80-word prompts, 8
   sequences together), and greedy continuations of 96 tokens, decoded by llama.cpp's
   ``llama_decode`` in the batched decoder with 1, 2, 4, 8 and 16 sequences together
   (2 requests per sequence), no pipeline, no grammar: aggregate generated tokens/s.
   The 1-sequence figure is the single-sequence limit, the best figure the physical
   limit for this model on this machine;
2. the demo recipe (``recipes/bbc_news_topics.yaml``, ``n`` records) generated from an
   empty cache with ``parallel: 1`` (one request at a time: the pipeline before batched
   decoding) and with ``parallel: P``: wall seconds, accepted records per minute, LLM
   calls, prompt tokens sent and evaluated, generated tokens/s; efficiency as the
   ratio of the pipeline's generated tokens/s to each raw rate;
3. each run resumed once more (``--resume`` on the finished folder): LLM calls (0
   expected) and wall seconds;
4. with ``--evaluate``, TSTR of both runs on the real BBC articles (``synthloom
   evaluate``), so a speed-up is not bought with worse data.

Writes ``OUT/summary.json`` and prints a table. Run it on an otherwise idle machine:
llama.cpp's threads slow down sharply when another process takes a core.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "bbc_news_topics.yaml"
TOPICS = ["a football final", "a new phone", "a bank merger", "a film festival",
          "an election", "a rail strike", "a chess match", "a bakery", "a flood",
          "a space launch", "a court case", "a music award", "a school", "a hospital",
          "a car factory", "a tennis star"]


def raw_rates(model: str, slot_counts: list[int], tokens: int) -> dict[int, float]:
    """Aggregate generated tokens/s of the bare batched decoder for each slot count."""
    from synthloom.llm.batched import BatchedDecoder, DecodeJob
    from synthloom.llm.llamacpp import LlamaCppBackend, decode_threads

    backend = LlamaCppBackend.embedded(model, parallel=1)
    llm = backend._llm  # the loaded model; the decoders make their own contexts
    rates = {}
    for slots in slot_counts:
        decoder = BatchedDecoder(llm, slots, 512, decode_threads())
        jobs = []
        for i in range(2 * slots):
            prompt = llm.tokenize(
                f"<|im_start|>user\nWrite a long news story about {TOPICS[i % len(TOPICS)]}."
                f"<|im_end|>\n<|im_start|>assistant\n".encode(), special=True)
            jobs.append(DecodeJob(prompt=prompt, max_tokens=tokens, temperature=0.0,
                                  top_p=1.0, seed=i, repeat_penalty=1.0))
        started = time.perf_counter()
        results = decoder.run(jobs)
        seconds = time.perf_counter() - started
        generated = sum(r.tokens_out for r in results)
        rates[slots] = round(generated / seconds, 1)
        print(f"raw decode, {slots:2d} sequences: {rates[slots]:6.1f} generated tokens/s "
              f"({generated} tokens in {seconds:.1f} s)", flush=True)
        decoder.close()
    backend.close()
    return rates


def prompt_rate(model: str, prompts: int = 16, words: int = 80) -> float:
    """Prompt tokens evaluated per second: ``prompts`` distinct prompts of about ``words``
    words each, one token generated per prompt, 8 sequences together, nothing shared."""
    from synthloom.llm.batched import BatchedDecoder, DecodeJob
    from synthloom.llm.llamacpp import LlamaCppBackend, decode_threads

    backend = LlamaCppBackend.embedded(model, parallel=1)
    llm = backend._llm
    decoder = BatchedDecoder(llm, 8, 512, decode_threads())
    jobs = []
    for i in range(prompts):
        text = " ".join(f"{TOPICS[(i + j) % len(TOPICS)]} {i * 31 + j}" for j in range(words // 3))
        jobs.append(DecodeJob(prompt=llm.tokenize(text.encode()), max_tokens=1,
                              temperature=0.0, top_p=1.0, seed=i, repeat_penalty=1.0))
    started = time.perf_counter()
    decoder.run(jobs)
    seconds = time.perf_counter() - started
    rate = round(decoder.prompt_tokens_evaluated / seconds, 1)
    print(f"raw prompt evaluation: {rate:6.1f} prompt tokens/s "
          f"({decoder.prompt_tokens_evaluated} tokens in {seconds:.1f} s)", flush=True)
    decoder.close()
    backend.close()
    return rate


def pipeline(out: Path, n: int, parallel: int) -> dict:
    """Generate the demo recipe from an empty cache, then resume it once."""
    from synthloom.api import generate
    from synthloom.pipeline.recipe import Recipe, load_recipe

    recipe = load_recipe(RECIPE, n=n)
    data = recipe.model_dump()
    data["backend"] = {**data["backend"], "parallel": parallel}
    recipe = Recipe.model_validate(data)
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    started = time.perf_counter()
    manifest = generate(recipe, out)
    wall = time.perf_counter() - started
    usage = json.loads((out / "progress.json").read_text())["usage"]
    started = time.perf_counter()
    resumed = generate(recipe, out, resume=True)
    resumed_wall = time.perf_counter() - started
    accepted = sum(manifest["counts_per_label"].values())
    row = {
        "parallel": parallel, "n": n, "accepted": accepted,
        "wall_seconds": round(wall, 1),
        "accepted_per_minute": round(60 * accepted / wall, 2),
        "llm_calls": usage.get("calls"), "prompt_tokens_sent": usage.get("tokens_in"),
        "prompt_tokens_evaluated": usage.get("prompt_tokens_evaluated"),
        "generated_tokens": usage.get("tokens_out"),
        "generated_tokens_per_second": round(usage.get("tokens_out", 0) / wall, 1),
        "resumed_llm_calls": resumed["this_session"]["llm_calls"],
        "resumed_wall_seconds": round(resumed_wall, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def evaluate(out: Path) -> dict:
    subprocess.run([sys.executable, "-m", "synthloom", "evaluate", str(out), "--real",
                    "bbc_news"], cwd=ROOT, check=False)
    metrics = json.loads((out / "metrics.json").read_text())
    return {name: {"accuracy": s["tstr"]["synthetic"]["accuracy"],
                   "macro_f1": s["tstr"]["synthetic"]["macro_f1"]}
            for name, s in metrics["students"].items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100,
                        help="accepted records per run (0: raw rates only)")
    parser.add_argument("--parallel", type=int, default=8, help="sequences decoded together")
    parser.add_argument("--tokens", type=int, default=96, help="tokens per raw continuation")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "throughput")
    parser.add_argument("--evaluate", action="store_true", help="also TSTR of both runs")
    parser.add_argument("--skip-raw", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"n": args.n, "parallel": args.parallel}
    if not args.skip_raw:
        summary["raw"] = raw_rates(args.model, [1, 2, 4, 8, 16], args.tokens)
        summary["raw_prompt_tokens_per_second"] = prompt_rate(args.model)
    if args.n == 0:
        print(json.dumps(summary, indent=2))
        return
    runs = {}
    for parallel in (1, args.parallel):
        runs[parallel] = pipeline(args.out / f"parallel_{parallel}", args.n, parallel)
        if args.evaluate:
            runs[parallel]["tstr"] = evaluate(args.out / f"parallel_{parallel}")
        (args.out / "summary.json").write_text(json.dumps({**summary, "runs": runs}, indent=2))
    summary["runs"] = runs
    base, fast = runs[1], runs[args.parallel]
    summary["speedup_accepted_per_minute"] = round(
        fast["accepted_per_minute"] / base["accepted_per_minute"], 2)
    if "raw" in summary:
        single, best = summary["raw"][1], max(summary["raw"].values())
        for row in runs.values():
            row["efficiency_vs_single_sequence"] = round(
                row["generated_tokens_per_second"] / single, 2)
            row["efficiency_vs_best_batched"] = round(
                row["generated_tokens_per_second"] / best, 2)
            # the hardware bound for this run's tokens: its evaluated prompt tokens at the
            # raw prompt rate plus its generated tokens at the best batched rate
            evaluated = row["prompt_tokens_evaluated"] or row["prompt_tokens_sent"]
            bound = (evaluated / summary["raw_prompt_tokens_per_second"]
                     + row["generated_tokens"] / best)
            row["seconds_bound_by_tokens"] = round(bound, 1)
            row["efficiency_vs_token_bound"] = round(bound / row["wall_seconds"], 2)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
