"""Benchmark: the streaming near-duplicate filter on 1,000,000 short texts (target < 60 s,
memory < 4 GiB).

Run by hand::

    .venv/bin/python bench/dedup_speed.py [--n 1000000] [--batch 10000] [--cosine-n 5000]

Texts: two random sentences of the BBC News corpus each (about 40 words); every tenth
text is instead an earlier text with one word replaced, a planted near-duplicate. The
MinHash stage (rensa, 128 permutations, 16 bands of 8 rows as chosen for Jaccard >= 0.8,
over word 3-shingles) runs
on all of them; its recall on the planted duplicates and its rejections of non-planted texts
are printed. The embedding stage (MiniLM, about 500 short texts/s on 2 cores) cannot see a
million texts in a minute, so it is timed on the first ``--cosine-n`` texts only.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import sys
import time

os.environ["SYNTHLOOM_EMBEDDING_CACHE"] = "0"  # time the embedding stage cold

from synthloom.datasets import load_bbc_news  # noqa: E402
from synthloom.operators.filter.near_duplicates import NearDuplicateFilter  # noqa: E402

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def corpus(n: int, seed: int = 0) -> tuple[list[str], set[int]]:
    """``n`` texts and the indices of the planted near-duplicates."""
    rng = random.Random(seed)
    sentences = [
        s for r in load_bbc_news() for s in _SENTENCE.split(r.text) if 8 <= len(s.split()) <= 40
    ]
    texts: list[str] = []
    planted: set[int] = set()
    for i in range(n):
        if i % 10 == 9 and i > 100:
            words = texts[rng.randrange(i - 100, i)].split()
            words[rng.randrange(len(words))] = rng.choice(("new", "old", "big", "small"))
            texts.append(" ".join(words))
            planted.add(i)
        else:
            texts.append(" ".join(rng.sample(sentences, 2)))
    return texts, planted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--cosine-n", type=int, default=5_000)
    args = parser.parse_args()
    texts, planted = corpus(args.n)
    words = sum(len(t.split()) for t in texts[:10_000]) / min(10_000, len(texts))
    print(f"{len(texts)} texts (mean {words:.1f} words), {len(planted)} planted near-duplicates")

    dedup = NearDuplicateFilter(jaccard=0.8)
    started = time.perf_counter()
    rejected: set[int] = set()
    for start in range(0, len(texts), args.batch):
        batch = texts[start : start + args.batch]
        keys = [str(i) for i in range(start, start + len(batch))]
        for i, hit in zip(range(start, start + len(batch)), dedup.check(batch, keys),
                          strict=True):
            if hit is not None:
                rejected.add(i)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = len(rejected & planted)
    print(f"minhash stage: {seconds:.1f} s for {len(texts)} texts "
          f"({len(texts) / seconds:,.0f} texts/s; target < 60 s); peak RSS {peak:.0f} MiB "
          "(corpus included; target < 4096)")
    print(f"  planted duplicates rejected: {found} of {len(planted)} "
          f"({found / max(1, len(planted)):.1%}); other texts rejected: {len(rejected - planted)}")

    if args.cosine_n:
        cosine = NearDuplicateFilter(jaccard=None, cosine=0.95)
        sample = texts[: args.cosine_n]
        started = time.perf_counter()
        hits = cosine.check(sample, [str(i) for i in range(len(sample))])
        seconds = time.perf_counter() - started
        caught = sum(1 for i, h in enumerate(hits) if h is not None and i in planted)
        print(f"embedding stage (cosine >= 0.95): {seconds:.1f} s for {len(sample)} texts "
              f"({len(sample) / seconds:,.0f} texts/s); planted caught {caught} of "
              f"{sum(1 for i in planted if i < len(sample))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
