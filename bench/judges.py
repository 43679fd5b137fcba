"""Judges against people: pointwise scores and pairwise Bradley-Terry scores on VADER's
human-rated snippets (issue 12's proof), on the embedded model.

    .venv/bin/python bench/judges.py vader [--model M] [--set vader_tweets] [--items 200]
                                           [--subset 60] [--both-orders]

``vader``: ``--items`` snippets drawn at random (seed 13) from one VADER set, each with the
mean rating of about 20 people (-4..+4). (a) the pointwise judge scores each 0-10 on one
anchored criterion; (b) the pairwise judge compares pairs drawn as k = 1, 2, 4 random
cycles; Bradley-Terry and Thurstone fits turn the votes into scores. Spearman of each
against the human means, judge calls spent by each. On a ``--subset`` of the items every
pair is judged too (the reference), and Kendall tau compares the k-cycle scores with the
all-pairs scores. Also the judge's first-slot rate and the correlation of its pointwise
scores with length. Writes ``out/bench_judges/vader-<set>-<model>.json`` and prints a table.

    .venv/bin/python bench/judges.py gap [--items 150] [--verifiers M ...] [--debate]

``gap``: see :func:`gap`. Writes ``out/bench_judges/gap-<real>.json``.

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
    both = [c.votes for c in comparisons if len(c.votes) == 2 and None not in c.votes]
    _pairwise.consistent = (sum(v[0] == v[1] for v in both), len(both))
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
                               question=QUESTION.format(unit=unit), seed=13,
                               both_orders=args.both_orders)
    result["pairwise"] = {}
    first_slots: list[str] = []
    for k in (1, 2, 4):
        pairs = cycle_pairs(args.items, k, seed=13)
        votes, calls, slots = timed(f"pairwise k={k}",
                                    lambda p=pairs: _pairwise(pair_judge, texts, ids, p))
        first_slots += [s for s in slots if s]
        row = {"pairs": len(pairs), "calls": calls, "votes": len(votes)}
        agree, judged = _pairwise.consistent
        if judged:
            row["same_winner_in_both_orders"] = round(agree / judged, 4)
            row["ties"] = sum(v.p == 0.5 for v in votes)
        for method in ("bradley_terry", "thurstone"):
            fitted = _fit(args.items, votes, method)
            row[f"spearman_vs_human_{method}"] = float(spearmanr(fitted, human)[0])
        result["pairwise"][f"k={k}"] = row
    result["both_orders"] = args.both_orders
    if args.subset:
        result["subset"] = _subset(args, pair_judge, texts, ids, human, scores, first_slots,
                                   timed)
    result["position_bias"] = {"comparisons": len(first_slots),
                               "first_slot_rate": round(first_slots.count("first")
                                                        / max(1, len(first_slots)), 4)}
    backend.close()
    both = "-both-orders" if args.both_orders else ""
    path = OUT / f"vader-{args.set}-{args.model}{both}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return result


def _subset(args, pair_judge, texts, ids, human, scores, first_slots, timed) -> dict:
    """Every pair of the first ``--subset`` items (the reference), and k-cycle fits of the
    same items against it (Kendall tau)."""
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
    return subset


def _truncate(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def gap(args: argparse.Namespace) -> dict:
    """The generation-verification gap (arXiv 2412.02674) on real BBC test articles whose
    human labels the pipeline never sees: the generator labels each article (J(f) =
    accuracy), verifiers keep the labels they accept, J of what each keeps, its coverage,
    the gap J(f[w]) - J(f) and the relative gap / (1 - J(f)); each verifier's agreement
    with the truth of "this label is right" (accuracy, Cohen's kappa) and its calls."""
    from synthloom.datasets import load_real, real_splits, stratified_sample
    from synthloom.evaluate.calibration import categorical_agreement
    from synthloom.operators.judge.debate import Debate
    from synthloom.operators.judge.double_critic import DoubleCritic
    from synthloom.operators.targen.self_correction import SelfCorrection
    from synthloom.pipeline.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    task = recipe.task
    _, _, test = real_splits(load_real(args.real))
    sample = stratified_sample(test, args.items, seed=13)
    human = [str(r.label) for r in sample]
    OUT.mkdir(parents=True, exist_ok=True)
    generator = make_backend(BackendConfig(model=args.generator), OUT / "cache.sqlite")
    texts = [_truncate(r.text, args.words) for r in sample]
    labeller = SelfCorrection(generator, task.description, task.labels, seed=13)
    start = time.perf_counter()
    own = labeller.classify(texts, texts)
    result: dict = {"real": args.real, "items": len(sample), "words": args.words,
                    "generator": args.generator,
                    "labelling": {"calls": len(sample), "seconds": round(
                        time.perf_counter() - start, 1)}}
    result["calibration"] = categorical_agreement(own, human)
    right = [o == h for o, h in zip(own, human, strict=True)]
    j = sum(right) / len(right)
    result["J"] = round(j, 4)
    records = [Record(id=f"a{k}", task=task.name, inputs={"text": t}, label=o,
                      origin=Origin.synthetic,
                      field_origins={"text": Origin.real, "label": Origin.synthetic})
               for k, (t, o) in enumerate(zip(texts, own, strict=True)) if o is not None]
    rows = {}

    def add(name: str, passed: list[bool | None], calls: int, seconds: float) -> None:
        kept = [right[int(r.id[1:])] for r, p in zip(records, passed, strict=True) if p]
        truth = ["right" if right[int(r.id[1:])] else "wrong" for r in records]
        said = [None if p is None else ("right" if p else "wrong") for p in passed]
        jf = sum(kept) / len(kept) if kept else None
        rows[name] = {"kept": len(kept), "coverage": round(len(kept) / len(sample), 4),
                      "J_filtered": None if jf is None else round(jf, 4),
                      "gap": None if jf is None else round(jf - j, 4),
                      "relative_gap": None if jf is None or j == 1 else round(
                          (jf - j) / (1 - j), 4),
                      "verifier_vs_truth": categorical_agreement(said, truth),
                      "calls": calls, "seconds": round(seconds, 1)}
        print(name, rows[name], file=sys.stderr, flush=True)

    for model in args.verifiers:
        backend = generator if model == args.generator else make_backend(
            BackendConfig(model=model), OUT / f"cache-{model}.sqlite")
        critic = DoubleCritic(backend, task.description, task.labels, unit=task.unit or "text",
                              seed=13, same_model_as_generator=model == args.generator)
        start, calls = time.perf_counter(), backend.usage.calls
        judged = critic(records)
        seconds = time.perf_counter() - start
        views = [r.verdict("double_critic").detail["critics"] for r in judged]
        add(f"{model} confirm critic", [v["confirm"] for v in views], len(records), seconds / 2)
        add(f"{model} double critic", [v["confirm"] and v["refute"] if None not in (
            v["confirm"], v["refute"]) else None for v in views], 2 * len(records), seconds)
        if args.debate and model == args.generator:
            debate = Debate(backend, task.description, task.labels, unit=task.unit or "text",
                            rounds=1, seed=13)
            start = time.perf_counter()
            judged = debate(records)
            add(f"{model} debate (1 round)", [r.verdict("debate").passed for r in judged],
                sum(r.verdict("debate").detail["calls"] for r in judged),
                time.perf_counter() - start)
        del calls
    result["verifiers"] = rows
    path = OUT / f"gap-{args.real}.json"
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
    v.add_argument("--subset", type=int, default=60, help="0: no all-pairs reference")
    v.add_argument("--both-orders", action="store_true",
                   help="judge every pair in both orders (one vote each)")
    g = sub.add_parser("gap", help="the generation-verification gap on real labelled data")
    g.add_argument("--recipe", default="recipes/bbc_news_seeded.yaml")
    g.add_argument("--real", default="bbc_news")
    g.add_argument("--items", type=int, default=150)
    g.add_argument("--words", type=int, default=120, help="words of each article shown")
    g.add_argument("--generator", default="qwen2.5-coder-0.5b")
    g.add_argument("--verifiers", nargs="+",
                   default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    g.add_argument("--debate", action="store_true",
                   help="also debate (1 round, 3 calls a record) on the generator's model")
    args = parser.parse_args()
    {"vader": vader, "gap": gap}[args.command](args)


if __name__ == "__main__":
    main()
