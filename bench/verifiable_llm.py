"""Benchmark: the verifiable domains on an LLM -- Game of 24, HumanEval and arithmetic word
problems -- pass@1, pass@k, and majority vote against the verifier's choice.

Run by hand (one LLM job at a time; on 2 cores the defaults take about an hour with the
embedded 0.5B model, and a rerun reads every answer from the caches)::

    .venv/bin/python bench/verifiable_llm.py [--model qwen2.5-coder-0.5b] [--samples 8]
        [--game24 50] [--code 30] [--arithmetic 30] [--rounds 2] [-o out/bench/verifiable]

- ``game24``: ``verify-loop game24`` on the Tree-of-Thoughts puzzles (held-out set = ranks
  901.. of its file, the paper's test range; each round searches the next ``--game24``
  puzzles and shows the model verified pairs kept so far).
- ``code``: ``verify-loop code`` on HumanEval (held-out = problems 0.. , one round of search
  on the ones after them).
- ``arithmetic``: ``synthloom generate recipes/verifiable_arithmetic.yaml`` (the model
  rewrites the program's statement; a second solve must reach the program's answer), then
  the model solves the texts that passed, k samples each; as a control, the same second
  solve (temperature 0) runs on the program's own dry statements.

Accuracy measures, over a fixed set of problems: ``pass@1`` (unbiased, from k samples),
``first sample`` (one draw), ``majority vote`` (the most common answer among k, no
verifier), ``verifier-selected`` (some sample passes the verifier, i.e. best-of-k with a
verifier; equal to pass@k at k = samples). Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from synthloom.api import evaluate, generate, read_run
from synthloom.llm.base import ChatRequest, SamplingParams
from synthloom.operators.verify import DOMAINS, Problem
from synthloom.operators.verify.search import (
    LLMSearch,
    search_measures,
    summarize,
    verify_attempts,
)
from synthloom.pipeline.backends import make_backend
from synthloom.pipeline.recipe import BackendConfig
from synthloom.pipeline.verify_loop import llm_loop
from synthloom.records import read_jsonl

COLUMNS = ("set", "problems", "k", "pass@1", "first sample", "majority vote",
           "verifier-selected", "seconds")


def _row(name: str, measured: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {"set": name, "problems": measured.get("problems"), "k": measured.get("k"),
            "pass@1": measured.get("pass@1"),
            "first sample": measured.get("first_sample_accuracy"),
            "majority vote": measured.get("majority_vote_accuracy"),
            "verifier-selected": measured.get("verifier_selected_accuracy"),
            "seconds": round(seconds)}


def loop(domain: str, folder: Path, say: Any, **options: Any) -> list[dict[str, Any]]:
    """One verify-loop run; a table row per round (held-out measures)."""
    started = time.perf_counter()
    result = llm_loop(domain, folder, progress=say, **options)
    seconds = time.perf_counter() - started
    rows = []
    for row in result["rounds"]:
        held = {k.removeprefix("held_out_"): v for k, v in row.items()
                if k.startswith("held_out_")}
        rows.append(_row(f"{domain} round {row['round']} ({row['exemplars']} exemplars; "
                         f"kept {row['kept']}/{row['generated']})", held,
                         seconds / len(result["rounds"])))
    return rows


def arithmetic(folder: Path, n: int, samples: int, model: str | None, seed: int,
               say: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Generate word problems from the recipe, then solve the ones whose text passed."""
    started = time.perf_counter()
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "verifiable_arithmetic.yaml"
    say(f"arithmetic: generating {n} word problems from {recipe.name}")
    generate(recipe, folder / "texts", n=n, model=model, resume=True)
    summary = evaluate(folder / "texts", None)
    written = read_run(folder / "texts")
    say(f"arithmetic: solving {len(written)} written problems x {samples} samples")
    domain = DOMAINS["arithmetic"]()
    problems = [Problem(domain="arithmetic", text=str(r.inputs["problem"]),
                        spec=dict(r.inputs["spec"])) for r in written]
    backend = make_backend(BackendConfig(**({"model": model} if model else {})),
                           folder / "cache.sqlite")
    try:
        search = LLMSearch(backend, domain, samples=samples, temperature=0.8, max_tokens=384,
                           seed=seed)
        found = search.run([(f"written-{i}", p) for i, p in enumerate(problems)])
        # control: the same second solve on the program's own (dry) statements, so a low
        # pass rate of the written texts can be told apart from a weak second solver
        dry = [(str(d.inputs["problem"]), dict(d.inputs["spec"]))
               for d in read_jsonl(folder / "texts" / "drafts.jsonl")]
        answers = backend.chat([ChatRequest(
            messages=tuple(domain.expression_prompt(text)),
            sampling=SamplingParams(temperature=0.0, max_tokens=80, seed=seed))
            for text, _ in dry])
        dry_passed = sum(domain.check_text(spec, text, getattr(a, "text", None)).passed
                         for (text, spec), a in zip(dry, answers, strict=True))
    finally:
        backend.close()
    measured = summarize([search_measures(domain, a, verify_attempts(domain, p, a))
                          for p, a in zip(problems, found, strict=True)])
    texts = {"drafted": summary.get("generated"), "kept": summary.get("kept"),
             "text_checked": summary.get("text_checked"),
             "rejections": summary.get("rejections"),
             "program_statements_checked": len(dry),
             "program_statements_passed": dry_passed}
    return [_row("arithmetic, LLM-written texts that passed the second solve", measured,
                 time.perf_counter() - started)], texts


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join("-" if row[c] is None else str(row[c]) for c in COLUMNS)
                     + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="embedded model (default: the default)")
    parser.add_argument("--samples", type=int, default=8, help="k, samples per problem")
    parser.add_argument("--game24", type=int, default=50, help="held-out and per-round puzzles")
    parser.add_argument("--code", type=int, default=30, help="held-out HumanEval problems")
    parser.add_argument("--code-samples", type=int, default=4, help="k for HumanEval")
    parser.add_argument("--arithmetic", type=int, default=30, help="word problems to write")
    parser.add_argument("--rounds", type=int, default=2, help="game24 bootstrap rounds")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", default="game24,code,arithmetic",
                        help="comma-separated subset to run")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/bench/verifiable"))
    args = parser.parse_args()

    def say(line: str) -> None:
        print(line, flush=True)

    only = set(args.only.split(","))
    rows: list[dict[str, Any]] = []
    texts: dict[str, Any] = {}
    if "game24" in only:
        rows += loop("game24", args.output / "game24", say, rounds=args.rounds,
                     source="tot-24", start=900, held_out=args.game24,
                     problems_per_round=args.game24, samples=args.samples, max_tokens=48,
                     seed=args.seed, model=args.model)
    if "code" in only:
        rows += loop("code", args.output / "code", say, rounds=1, source="humaneval",
                     start=0, held_out=args.code, problems_per_round=args.code,
                     samples=args.code_samples, max_tokens=384, seed=args.seed,
                     model=args.model)
    if "arithmetic" in only:
        found, texts = arithmetic(args.output / "arithmetic", args.arithmetic, args.samples,
                                  args.model, args.seed, say)
        rows += found
    print(table(rows))
    if texts:
        print(f"\narithmetic texts: {json.dumps(texts)}")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "verifiable_llm.json").write_text(json.dumps(
        {"settings": vars(args) | {"output": str(args.output)}, "rows": rows,
         "arithmetic_texts": texts}, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
