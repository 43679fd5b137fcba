"""Judges against people: pointwise scores and pairwise Bradley-Terry scores on VADER's
human-rated snippets (issue 12's proof), on the embedded model.

    .venv/bin/python bench/judges.py vader [--model M] [--set vader_tweets] [--items 200]
                                           [--subset 60]

``vader``: ``--items`` snippets drawn at random (seed 13) from one VADER set, each with the
mean rating of about 20 people (-4..+4). (a) the pointwise judge scores each 0-10 on one
anchored criterion; (b) the pairwise judge compares pairs drawn as k = 1, 2, 4 random
cycles; Bradley-Terry and Thurstone fits turn the votes into scores. Spearman of each
against the human means, judge calls spent by each. On a ``--subset`` of the items every
pair is judged too (the reference), and Kendall tau compares the k-cycle scores with the
all-pairs scores. Also the judge's first-slot rate and the correlation of its pointwise
scores with length. Writes ``out/bench_judges/vader-<set>-<model>.json`` and prints a table.

Run it alone: two LLM jobs on 2 cores slow each other down about 4 times.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

from synthloom.operators.judge.pair_scores import Vote, all_pairs, cycle_pairs, fit_scores
from synthloom.operators.judge.pairwise import PairTask, PairwiseJudge
from synthloom.operators.judge.pointwise import Criterion, PointwiseJudge
from synthloom.pipeline.backends import make_backend
from synthloom.pipeline.recipe import BackendConfig
from synthloom.records import Origin, Record
from synthloom.vader import VADER_SETS, read_vader_ratings

OUT = Path("out/bench_judges")
POSITIVITY = Criterion(
    name="positivity", question="How positive is the feeling the {unit} expresses?",
    levels={0: "extremely negative", 5: "neutral, or mixed", 10: "extremely positive"})
QUESTION = "Which of the two {unit}s expresses the more positive feeling?"


def _pairwise(judge: PairwiseJudge, texts: list[str], ids: list[str],
              pairs: list[tuple[int, int]]) -> tuple[list[Vote], int, list[str | None]]:
    tasks = [PairTask(a=texts[i], b=texts[j], key=f"{ids[i]}|{ids[j]}") for i, j in pairs]
    comparisons = judge.compare(tasks)
    votes = [Vote(i, j, c.p_a) for (i, j), c in zip(pairs, comparisons, strict=True)
             if c.p_a is not None]
    slots = [s for c in comparisons for s in c.slots]
    return votes, sum(c.calls for c in comparisons), slots


def _fit(n: int, votes: list[Vote], method: str) -> np.ndarray:
    return fit_scores(n, votes, method, bootstrap=0).scores


def vader(args: argparse.Namespace) -> dict:
    rows = read_vader_ratings(args.set)
    rng = random.Random(13)
    chosen = rng.sample(range(len(rows)), args.items)
    ids = [rows[k][0] for k in chosen]
    human = np.array([rows[k][1] for k in chosen])
    texts = [rows[k][2] for k in chosen]
    description = args.description
    unit = args.unit
    OUT.mkdir(parents=True, exist_ok=True)
    backend = make_backend(BackendConfig(model=args.model), OUT / "cache.sqlite")
    result: dict = {"set": args.set, "items": args.items, "subset": args.subset,
                    "model": backend.identity.model, "phases": {}}

    def timed(name: str, fn):
        start, calls = time.perf_counter(), backend.usage.calls
        value = fn()
        result["phases"][name] = {"seconds": round(time.perf_counter() - start, 1),
                                  "llm_calls_made": backend.usage.calls - calls}
        print(f"{name}: {result['phases'][name]}", file=sys.stderr, flush=True)
        return value

    records = [Record(id=i, task=args.set, inputs={"text": t}, origin=Origin.real)
               for i, t in zip(ids, texts, strict=True)]
    point = PointwiseJudge(backend, description, unit, [POSITIVITY], seed=13)
    judged = timed("pointwise", lambda: point(records))
    scores = [r.verdict("judge").score for r in judged]
    ok = [k for k, s in enumerate(scores) if s is not None]
    lengths = [len(t.split()) for t in texts]
    result["pointwise"] = {
        "calls": sum(r.verdict("judge").detail["attempts"] for r in judged),
        "missing": len(scores) - len(ok),
        "spearman_vs_human": float(spearmanr([scores[k] for k in ok], human[ok])[0]),
        "kendall_vs_human": float(kendalltau([scores[k] for k in ok], human[ok])[0]),
        "spearman_score_vs_length": float(spearmanr([scores[k] for k in ok],
                                                    [lengths[k] for k in ok])[0]),
        "spearman_human_vs_length": float(spearmanr(human, lengths)[0]),
    }
    pair_judge = PairwiseJudge(backend, unit, description,
                               question=QUESTION.format(unit=unit), seed=13)
    result["pairwise"] = {}
    first_slots: list[str] = []
    for k in (1, 2, 4):
        pairs = cycle_pairs(args.items, k, seed=13)
        votes, calls, slots = timed(f"pairwise k={k}",
                                    lambda p=pairs: _pairwise(pair_judge, texts, ids, p))
        first_slots += [s for s in slots if s]
        row = {"pairs": len(pairs), "calls": calls, "votes": len(votes)}
        for method in ("bradley_terry", "thurstone"):
            fitted = _fit(args.items, votes, method)
            row[f"spearman_vs_human_{method}"] = float(spearmanr(fitted, human)[0])
        result["pairwise"][f"k={k}"] = row
    # the reference: every pair of a subset
    m = args.subset
    sub_texts, sub_ids, sub_human = texts[:m], ids[:m], human[:m]
    votes_all, calls_all, slots = timed(
        "pairwise all pairs (subset)",
        lambda: _pairwise(pair_judge, sub_texts, sub_ids, all_pairs(m)))
    first_slots += [s for s in slots if s]
    reference = {meth: _fit(m, votes_all, meth) for meth in ("bradley_terry", "thurstone")}
    subset = {"items": m, "all_pairs": {"pairs": len(all_pairs(m)), "calls": calls_all,
                                        **{f"spearman_vs_human_{meth}":
                                           float(spearmanr(reference[meth], sub_human)[0])
                                           for meth in reference}}}
    sub_point = [scores[k] for k in range(m)]
    ok_sub = [k for k in range(m) if sub_point[k] is not None]
    subset["pointwise_spearman_vs_human"] = float(spearmanr(
        [sub_point[k] for k in ok_sub], sub_human[ok_sub])[0])
    for k in (1, 2, 4):
        pairs = cycle_pairs(m, k, seed=13)
        votes, calls, _ = _pairwise(pair_judge, sub_texts, sub_ids, pairs)
        row = {"pairs": len(pairs), "calls": calls}
        for meth in reference:
            fitted = _fit(m, votes, meth)
            row[f"kendall_vs_all_pairs_{meth}"] = float(kendalltau(fitted, reference[meth])[0])
            row[f"spearman_vs_human_{meth}"] = float(spearmanr(fitted, sub_human)[0])
        subset[f"k={k}"] = row
    result["subset"] = subset
    result["position_bias"] = {"comparisons": len(first_slots),
                               "first_slot_rate": round(first_slots.count("first")
                                                        / max(1, len(first_slots)), 4)}
    backend.close()
    path = OUT / f"vader-{args.set}-{args.model}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("vader", help="pointwise vs pairwise judges against human ratings")
    v.add_argument("--set", default="vader_tweets", choices=sorted(VADER_SETS))
    v.add_argument("--model", default="qwen2.5-coder-0.5b",
                   help="the judge: an embedded model (qwen2.5-coder-1.5b needs make model-large)")
    v.add_argument("--unit", default="tweet")
    v.add_argument("--description", default=(
        "Short public tweets in which people talk about their day, their plans, friends, "
        "work, events and things they like or dislike."))
    v.add_argument("--items", type=int, default=200)
    v.add_argument("--subset", type=int, default=60)
    args = parser.parse_args()
    {"vader": vader}[args.command](args)


if __name__ == "__main__":
    main()
