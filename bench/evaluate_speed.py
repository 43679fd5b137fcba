"""Benchmark: evaluate 10,000 synthetic records against 2,000 real ones (target < 60 s).

Run by hand (``make bench`` runs it after the pipeline benchmark)::

    .venv/bin/python bench/evaluate_speed.py [--synthetic out/demo/data.jsonl] [--n 10000]

The synthetic set is built from a finished run's records (``make demo`` writes
``out/demo/data.jsonl``): each new text joins 2-3 sentences drawn from records of one label,
so the 10,000 texts are distinct, labelled, and as long as generated ones. The real set is a
stratified 2,000 of BBC News. Embeddings are computed cold (the on-disk embedding cache is
off); the generator's zero-shot check is an LLM step and is not part of this benchmark.
Prints the wall time of every step, the total (evaluation + report), and peak memory.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ["SYNTHLOOM_EMBEDDING_CACHE"] = "0"

from synthloom.datasets import load_bbc_news  # noqa: E402
from synthloom.evaluate.fitting import stratified_sample  # noqa: E402
from synthloom.evaluate.report import write_report  # noqa: E402
from synthloom.evaluate.summary import evaluate_synthetic  # noqa: E402
from synthloom.records import Record, read_jsonl  # noqa: E402

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def recombined(records: list[Record], n: int, seed: int = 0) -> list[Record]:
    """``n`` distinct synthetic records, each 2-3 sentences from records of one label."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for r in records:
        by_label.setdefault(str(r.label), []).extend(
            s for s in _SENTENCE.split(r.text) if len(s.split()) >= 3
        )
    labels = sorted(by_label)
    seen: set[str] = set()
    out: list[Record] = []
    template = records[0]
    while len(out) < n:
        label = labels[len(out) % len(labels)]
        text = " ".join(rng.sample(by_label[label], rng.choice((2, 3))))
        if text in seen:
            continue
        seen.add(text)
        out.append(template.model_copy(update={
            "id": f"bench-{len(out)}", "label": label, "inputs": {"text": text},
        }))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=Path, default=Path("out/demo/data.jsonl"))
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=2_000)
    args = parser.parse_args()
    if not args.synthetic.exists():
        print(f"{args.synthetic} not found: run `make demo` first", file=sys.stderr)
        return 2
    source = list(read_jsonl(args.synthetic))
    synthetic = recombined(source, args.n)
    real = stratified_sample(load_bbc_news(), args.real, seed=0)
    words = sum(len(r.text.split()) for r in synthetic) / len(synthetic)
    print(f"{len(synthetic)} synthetic records (mean {words:.1f} words), {len(real)} real")

    started = time.perf_counter()
    metrics = evaluate_synthetic(synthetic, real)
    evaluated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        report_started = time.perf_counter()
        path = write_report(Path(tmp) / "report.html", metrics, title="bench")
        report_seconds = time.perf_counter() - report_started
        size = path.stat().st_size
    total = evaluated + report_seconds
    steps = dict(metrics["seconds"], report=round(report_seconds, 3))
    for step, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        print(f"  {step:32s} {seconds:8.2f} s  {seconds / total:6.1%}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"total {total:.1f} s (evaluation {evaluated:.1f} s + report {report_seconds:.1f} s; "
          f"target < 60 s); report {size / 1e6:.2f} MB; peak RSS {peak:.0f} MiB")
    for name, s in metrics["students"].items():
        print(f"  {name}: TSTR ratio {s['tstr']['tstr_ratio']['accuracy']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
