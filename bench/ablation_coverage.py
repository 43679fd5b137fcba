"""Ablation of the coverage knobs on BBC News (issue 4's proof), from one command.

    .venv/bin/python bench/ablation_coverage.py [--n 100] [--out out/ablation]

Arms, each generating ``n`` accepted records with the same embedded model, seed and
sampling, self-correction off in all of them (so that every arm costs about the same):

1. ``naive``: one fixed setting and one instance seed per label, so every prompt of a label
   is the same apart from the sampler seed (plain "write a news snippet about <label>");
2. ``+taxonomy``: naive, plus a mix from ``recipes/bbc_news_taxonomy.yaml`` (label-keyed
   topic subtrees, quota sampling) in each prompt;
3. ``+personas``: plus a writer persona and context characteristics (formality, medium,
   emotional state, location);
4. ``+complexify``: plus Evol-Instruct in-depth rewriting of 30% of instances;
5. ``+dedup``: plus the streaming near-duplicate filter (MinHash Jaccard >= 0.6).

For each arm: leaf coverage (share of the taxonomy's topic leaves used), distinct-2,
Self-BLEU, MiniLM precision/recall/coverage against real BBC News, and TSTR accuracy of both
students on the real test split. Runs resume: a finished arm is not generated again.
Writes ``<out>/ablation.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from synthloom.datasets import load_bbc_news
from synthloom.evaluate.summary import evaluate_synthetic
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.llamacpp import LlamaCppBackend
from synthloom.operators.plan.taxonomy import load_taxonomies
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import read_jsonl

TAXONOMY = Path("recipes/bbc_news_taxonomy.yaml").resolve()


def arms(base: Recipe, n: int) -> dict[str, Recipe]:
    """The five recipes, each adding one knob to the one before."""
    naive = base.model_dump(mode="json") | {"n": n}
    naive["targen"] |= {"contexts": ["a national newspaper"], "seeds_per_pair": 1,
                        "self_correction": False}
    steps = {
        "naive": {},
        "+taxonomy": {"coverage": {"taxonomy": str(TAXONOMY), "strategy": "quota"}},
        "+personas": {"coverage": {"taxonomy": str(TAXONOMY), "strategy": "quota",
                                   "personas": True,
                                   "characteristics": ["formality", "medium",
                                                       "emotional_state", "location"]}},
        "+complexify": {"coverage": {"taxonomy": str(TAXONOMY), "strategy": "quota",
                                     "personas": True,
                                     "characteristics": ["formality", "medium",
                                                         "emotional_state", "location"],
                                     "complexify_fraction": 0.3}},
    }
    steps["+dedup"] = steps["+complexify"] | {"dedup": {"jaccard": 0.6}}
    return {name: Recipe.model_validate(naive | extra) for name, extra in steps.items()}


def leaf_coverage(records: list) -> float | None:
    leaves = {p for p, _ in load_taxonomies(TAXONOMY)[0].leaves()}
    used = {tuple(r.provenance.plan.mix.get("topic", [])) for r in records}
    return len(used & leaves) / len(leaves) if any(used) else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("out/ablation"))
    parser.add_argument("--recipe", type=Path, default=Path("recipes/bbc_news_topics.yaml"))
    args = parser.parse_args()
    base = load_recipe(args.recipe)
    real = load_bbc_news()
    llm = LlamaCppBackend.embedded(base.backend.model, n_ctx=base.backend.n_ctx)
    rows = {}
    for name, recipe in arms(base, args.n).items():
        out = args.out / name.strip("+")
        backend = CachedBackend(llm, ResponseCache(out.parent / f"{out.name}.cache.sqlite"))
        started = time.perf_counter()
        out.parent.mkdir(parents=True, exist_ok=True)
        manifest = run_recipe(recipe, out, resume=out.exists(), backend=backend)
        seconds = time.perf_counter() - started
        data = list(read_jsonl(out / "data.jsonl"))
        rejected = list(read_jsonl(out / "rejected.jsonl"))
        m = evaluate_synthetic(data, real, n_bootstrap=200)
        rows[name] = {
            "accepted": len(data),
            "rejected": len(rejected),
            "near_duplicates_rejected": sum(
                r.rejected.operator == "filter.near_duplicates" for r in rejected),
            "generation_seconds": round(seconds, 1),
            "llm_calls": manifest["llm_calls"],
            "leaf_coverage": leaf_coverage(data),
            "distinct_2": m["diversity"]["synthetic"]["distinct_2"],
            "self_bleu": m["diversity"]["synthetic"]["self_bleu"],
            "nn_cosine": m["diversity"]["synthetic"]["nearest_neighbour_cosine"],
            "precision": m["distribution"]["precision"],
            "recall": m["distribution"]["recall"],
            "coverage": m["distribution"]["coverage"],
            "tstr_tfidf": m["students"]["tfidf-lr"]["tstr"]["synthetic"]["accuracy"]["value"],
            "tstr_embedding": m["students"]["embedding-lr"]["tstr"]["synthetic"]["accuracy"][
                "value"],
        }
        print(name, json.dumps(rows[name]), flush=True)
    (args.out / "ablation.json").write_text(json.dumps(rows, indent=2))
    cols = ["accepted", "leaf_coverage", "distinct_2", "self_bleu", "nn_cosine", "precision",
            "recall", "coverage", "tstr_tfidf", "tstr_embedding", "generation_seconds"]
    print("| arm | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, row in rows.items():
        cells = [f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
