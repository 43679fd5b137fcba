"""Generality check: one recipe per real domain, written from a task description only,
generated with the embedded model and scored on the real data of that domain.

    .venv/bin/python bench/domains.py [--n 200] [--out out/domains] [--only vader_tweets]

Runs ``synthloom generate`` and ``synthloom evaluate`` for each (recipe, real source) pair,
resumable (a finished run is re-read from its cache), then prints one table: TSTR ratio
(accuracy and macro-F1) for both students, the majority-class baseline on the real test
split, the generator's zero-shot accuracy, embedding precision/recall, and five random
synthetic texts per domain. Writes ``OUT/summary.json`` and ``OUT/summary.md``.
Takes about 10 minutes per domain on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAINS = {
    "vader_tweets": "recipes/vader_tweets.yaml",
    "vader_movie_reviews": "recipes/vader_movie_reviews.yaml",
    "vader_amazon_reviews": "recipes/vader_amazon_reviews.yaml",
    "vader_nyt_editorials": "recipes/vader_nyt_editorials.yaml",
    "bbc_news": "recipes/bbc_news_topics.yaml",
}
CLI = [sys.executable, "-m", "synthloom"]


def run(cmd: list[str]) -> float:
    started = time.perf_counter()
    print("+", " ".join(cmd), flush=True)
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode not in (0, 1):  # 1: leakage flagged, metrics still written
        raise SystemExit(f"{cmd[3]} failed with exit code {done.returncode}")
    return time.perf_counter() - started


def summarise(name: str, out: Path, seconds: dict[str, float]) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    texts = [json.loads(line)["inputs"]["text"] for line in (out / "data.jsonl").open()]
    row = {
        "domain": name, "n_synthetic": metrics["data"]["n_synthetic"],
        "n_real_test": metrics["data"]["n_real_test"], "unit": manifest.get("unit"),
        "acceptance_rate": manifest["acceptance_rate"], "flip_rate": manifest["flip_rate"],
        "generate_wall_seconds": manifest["wall_seconds"], "seconds": seconds,
        "majority_baseline": metrics.get("baselines", {}).get("majority"),
        "generator_accuracy": (metrics.get("generator") or {}).get("scores", {})
        .get("accuracy", {}).get("value"),
        "precision": metrics["distribution"]["precision"],
        "recall": metrics["distribution"]["recall"],
        "examples": random.Random(0).sample(texts, min(5, len(texts))),
    }
    for student, s in metrics["students"].items():
        t = s["tstr"]
        row[student] = {
            "synthetic_accuracy": t["synthetic"]["accuracy"]["value"],
            "synthetic_macro_f1": t["synthetic"]["macro_f1"]["value"],
            "real_accuracy": t["real"]["accuracy"]["value"],
            "real_macro_f1": t["real"]["macro_f1"]["value"],
            "tstr_ratio_accuracy": t["tstr_ratio"]["accuracy"],
            "tstr_ratio_macro_f1": t["tstr_ratio"]["macro_f1"],
        }
    return row


def fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def table(rows: list[dict]) -> str:
    head = ("| domain | unit | TSTR acc (TF-IDF) | TSTR F1 (TF-IDF) | TSTR acc (MiniLM) | "
            "TSTR F1 (MiniLM) | syn F1 MiniLM | majority acc / F1 | generator acc | "
            "precision | recall |\n|" + "---|" * 11)
    lines = [head]
    for r in rows:
        t, e = r.get("tfidf-lr", {}), r.get("embedding-lr", {})
        base = r["majority_baseline"] or {}
        lines.append(
            f"| {r['domain']} | {r['unit']} | {fmt(t.get('tstr_ratio_accuracy'))} | "
            f"{fmt(t.get('tstr_ratio_macro_f1'))} | {fmt(e.get('tstr_ratio_accuracy'))} | "
            f"{fmt(e.get('tstr_ratio_macro_f1'))} | {fmt(e.get('synthetic_macro_f1'))} | "
            f"{fmt(base.get('accuracy'))} / {fmt(base.get('macro_f1'))} | "
            f"{fmt(r['generator_accuracy'])} | {fmt(r['precision'])} | {fmt(r['recall'])} |")
    for r in rows:
        lines.append(f"\n**{r['domain']}**, five random synthetic texts:\n")
        lines += [f"- {t}" for t in r["examples"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=None, help="override each recipe's n")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "domains")
    parser.add_argument("--only", action="append", help="run only these domains")
    args = parser.parse_args()
    rows = []
    for name, recipe in DOMAINS.items():
        if args.only and name not in args.only:
            continue
        out = args.out / name
        seconds = {}
        gen = [*CLI, "generate", recipe, "-o", str(out), "--resume"]
        if args.n:
            gen += ["--n", str(args.n)]
        seconds["generate"] = round(run(gen), 1)
        seconds["evaluate"] = round(run([*CLI, "evaluate", str(out), "--real", name]), 1)
        rows.append(summarise(name, out, seconds))
        (args.out / "summary.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))
        (args.out / "summary.md").write_text(table(rows) + "\n")
    print(table(rows))


if __name__ == "__main__":
    main()
