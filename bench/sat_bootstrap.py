"""Benchmark: expert iteration for SAT -- does a branching policy learned from verified
solutions make DPLL cheaper on held-out formulas?

Run by hand::

    .venv/bin/python bench/sat_bootstrap.py [--rounds 4] [--n-vars 80]
        [--train-per-round 20] [--held-out 20] [--budget 5000] [--seed 0]
        [--sizes 60,80,100,120,140,160,200,240] [-o out/bench/sat_bootstrap.json]

Runs :func:`synthloom.operators.verify.sat_bootstrap.bootstrap` (row r = the policy that
searched in round r; row 0 = the untrained random policy), then the two-sided
Jeroslow-Wang heuristic on the same held-out and per-size sets for comparison. Prints a
markdown table and writes the rows, the heuristic's row and the settings as JSON (the kept
pairs are left out; they are what the ``verify-loop`` command writes). The defaults take
about two minutes on one core: with 80 variables the random policy needs thousands of
decisions and fails a third of the held-out formulas within 5000.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from synthloom.operators.verify.dpll import JeroslowWangPolicy
from synthloom.operators.verify.sat_bootstrap import (
    bootstrap,
    evaluate_policy,
    held_out_formulas,
    reachable_size,
    size_formulas,
)

COLUMNS = ("round", "policy", "trained on (formulas)", "kept this round",
           "held-out solve rate", "median decisions", "median decisions (unsolved = budget)",
           "cost ratio to round 0", "reachable size", "seconds")


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def table(rows: list[dict], heuristic: dict) -> str:
    """The markdown table: one line per round, then the heuristic's line."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in [*rows, heuristic]:
        cells = [row.get("round", "-"), row["policy"], row.get("trained_on_formulas"),
                 row.get("kept"), row["solve_rate"], row["median_decisions"],
                 row["median_decisions_censored"], row["cost_ratio"], row["reachable_size"],
                 row["seconds"]]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--n-vars", type=int, default=80)
    parser.add_argument("--train-per-round", type=int, default=20)
    parser.add_argument("--held-out", type=int, default=20)
    parser.add_argument("--budget", type=int, default=5000, help="decisions per formula")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ratio", type=float, default=4.26)
    parser.add_argument("--sizes", default="60,80,100,120,140,160,200,240",
                        help="comma-separated variable counts ('' to skip)")
    parser.add_argument("--per-size", type=int, default=6)
    parser.add_argument("-o", "--out", type=Path, default=Path("out/bench/sat_bootstrap.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    started = time.perf_counter()
    result = bootstrap(n_vars=args.n_vars, rounds=args.rounds,
                       train_per_round=args.train_per_round, held_out=args.held_out,
                       budget=args.budget, seed=args.seed, ratio=args.ratio, sizes=sizes,
                       per_size=args.per_size, progress=lambda line: print(line, flush=True))

    heuristic_started = time.perf_counter()
    jeroslow_wang = JeroslowWangPolicy()
    heuristic = {"policy": jeroslow_wang.name, **evaluate_policy(
        lambda index: jeroslow_wang,
        held_out_formulas(args.n_vars, args.held_out, args.seed, args.ratio), args.budget)}
    base = result.rows[0]["median_decisions"]
    heuristic["cost_ratio"] = (round(heuristic["median_decisions"] / base, 4)
                               if base and heuristic["median_decisions"] is not None else None)
    heuristic["reachable_size"], heuristic["size_solve_rates"] = (
        reachable_size(lambda index: jeroslow_wang,
                       size_formulas(sizes, args.per_size, args.seed, args.ratio), args.budget)
        if sizes else (None, {}))
    heuristic["seconds"] = round(time.perf_counter() - heuristic_started, 2)

    print()
    print(table(result.rows, heuristic))
    print(f"\nheld-out: {args.held_out} formulas with {args.n_vars} variables; budget "
          f"{args.budget} decisions; reachable size: largest of {sizes} with >= half of "
          f"{args.per_size} formulas solved; total {time.perf_counter() - started:.0f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    settings = {key: value for key, value in vars(args).items() if key != "out"}
    args.out.write_text(json.dumps({"settings": {**settings, "sizes": sizes},
                                    "rows": result.rows, "heuristic": heuristic,
                                    "kept_pairs": len(result.kept)}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
