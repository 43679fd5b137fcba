"""Benchmark: a reranker trained on synthetic relevance data, tested on real BBC queries.

Run by hand (the generation step runs the LLM; reading a finished run does not)::

    nice -n 19 .venv/bin/python bench/reranker_bbc.py --run out/relevance_bbc
    nice -n 19 .venv/bin/python bench/reranker_bbc.py --recipe recipes/relevance_bbc.yaml \\
        --out out/relevance_bbc [--n 6] [--model qwen2.5-coder-0.5b]
        [--rerank-k K] [--train-on all|dev-docs] [--resamples 1000]

Training data: the run's records (``kind: relevance``): per synthetic query, the retriever's
candidates with their features and the Thurstone (or Bradley-Terry) scores fitted from the
judges' pairwise votes (zELO, arXiv 2509.12541). :class:`synthloom.evaluate.reranker.
PairwiseReranker` is fitted three ways on the same queries and candidates:

* ``judges``: targets = the fitted scores, weights = each candidate's trust (2 x the judges'
  mean majority share on its pairs - 1: 0 when the votes split evenly);
* ``judges-unweighted``: the same targets, every weight 1;
* ``source-only`` (ablation, no judge): target 1 for the document the query was written
  from, 0 for the other candidates (InPars / Promptagator's signal alone).

Test: the headlines of :func:`synthloom.relevance_data.load_bbc_known_item`'s *test* split
(written by BBC editors; one relevant article each, its own) against the same corpus the
run indexed (article bodies, headlines removed). Systems: BM25, dense, fused (top 100
each), and each reranker reordering the fused top ``rerank_k`` (the run's candidate ``k``:
its features are z-scored within a set of that size), the fused ranks after them. Printed:
nDCG@10 and MRR@10 with bootstrap 95% intervals over queries, paired differences, the LLM
calls the judges spent, and how often the judges agree with the one real judgement there
is in training (the source article is the known item of its query): the share of queries
whose source gets the top fitted score, against the share the fused retriever ranks first
among the same candidates.

Leakage: the synthetic queries were written from corpus articles, some of whose headlines
are test queries. That is allowed (and InPars / Promptagator do the same, writing queries
for the target corpus): the test queries are human headlines the generator never saw (the
corpus step removes headlines), and the reranker is linear over 5 retrieval features x 2, so
it cannot memorise an article. ``--train-on dev-docs`` trains only on queries written from
articles whose headline is a dev query, to show the difference. Writes
``out/bench/reranker/<run folder name>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from statistics import mean

import synthloom
from synthloom.evaluate.ranking import evaluate_run, paired_difference
from synthloom.evaluate.reranker import PairwiseReranker
from synthloom.llm.embeddings import SentenceEmbedder
from synthloom.operators.relevance.retrieval import METHODS, HybridRetriever
from synthloom.records import read_jsonl
from synthloom.relevance_data import load_bbc_known_item

OUT = Path("out/bench/reranker")


def _interval(m: dict[str, float]) -> str:
    return f"{m['value']:.3f} ({m['low']:.3f}–{m['high']:.3f})"


def _candidates_k(run: Path) -> int:
    """The run recipe's ``relevance.candidates`` k (8 when absent)."""
    recipe = json.loads((run / "run.json").read_text())["recipe"]
    return next(
        (
            int(s.get("k", 8))
            for s in recipe.get("steps", [])
            if s.get("type") == "relevance.candidates"
        ),
        8,
    )


def training_rows(records, target: str) -> list[tuple]:
    """``(query_id, doc_id, features, target, weight)`` rows of the run's records, by
    ``target``: ``judges``, ``judges-unweighted`` or ``source-only``."""
    rows = []
    for r in records:
        for c in r.outputs["candidates"]:
            if target == "source-only":
                rows.append((r.id, c["doc_id"], c["features"], float(c["source"]), 1.0))
            else:
                weight = float(c.get("trust", 1.0)) if target == "judges" else 1.0
                rows.append((r.id, c["doc_id"], c["features"], float(c["score"]), weight))
    return rows


def judge_agreement(records) -> dict[str, float | int]:
    """How the judges' fit agrees with the known item (the source) of each query, against
    the fused retriever over the same candidates."""
    top = [r.outputs["source_rank"] == 1.0 for r in records]
    fused_top = [
        min(r.outputs["candidates"], key=lambda c: c["fused_rank"])["source"] for r in records
    ]
    wins = ties = judged = 0
    for r in records:
        cands = r.outputs["candidates"]
        for p in r.outputs.get("pairs") or []:
            a, b, p_a = cands[p["a"]], cands[p["b"]], p["p_a"]
            if p_a is None or not (a["source"] or b["source"]):
                continue
            p_source = p_a if a["source"] else 1.0 - p_a
            judged += 1
            wins += p_source > 0.5
            ties += p_source == 0.5
    return {
        "queries": len(records),
        "source_top_by_judges": round(mean(top), 4) if top else None,
        "source_top_by_fused": round(mean(fused_top), 4) if fused_top else None,
        "mean_source_rank": round(mean(r.outputs["source_rank"] for r in records), 3)
        if records
        else None,
        "source_pairs": judged,
        "source_pairs_won": round(wins / judged, 4) if judged else None,
        "source_pairs_tied": round(ties / judged, 4) if judged else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished relevance run folder")
    parser.add_argument("--recipe", type=Path, help="generate this recipe first (into --out)")
    parser.add_argument("--out", type=Path, default=Path("out/relevance_bbc"))
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--rerank-k", type=int, default=None)
    parser.add_argument("--train-on", choices=("all", "dev-docs"), default="all")
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    if args.recipe is not None:
        manifest = synthloom.generate(
            args.recipe,
            args.out,
            n=args.n,
            model=args.model,
            resume=(args.out / "run.json").exists(),
        )
        run = args.out
        print(f"generated {manifest['accepted']} records in {manifest['wall_seconds']:.0f} s")
    elif args.run is not None:
        run = args.run
    else:
        parser.error("give --run DIR or --recipe FILE")
    manifest = json.loads((run / "manifest.json").read_text())
    records = [r for r in synthloom.read_run(run) if r.kind == "relevance"]
    rejected = list(read_jsonl(run / "rejected.jsonl"))
    data = load_bbc_known_item()
    test_docs = {next(iter(q)) for q in data.test_qrels.values()}
    from_test = sum(r.inputs["source_id"] in test_docs for r in records)
    if args.train_on == "dev-docs":
        records = [r for r in records if r.inputs["source_id"] not in test_docs]
    if not records:
        parser.error(f"{run}: no relevance records to train on")
    k = args.rerank_k or _candidates_k(run)
    method = records[0].outputs.get("method", "thurstone")
    usage = manifest.get("usage_by_step", {})
    calls = {
        "judge": usage.get("relevance.judge", {}).get("calls"),
        "queries": usage.get("relevance.queries", {}).get("calls"),
        "total": manifest.get("llm_calls"),
        "judge_on_kept_queries": sum(r.outputs.get("judge_calls", 0) for r in records),
        "judge_on_rejected_queries": sum(r.outputs.get("judge_calls", 0) or 0 for r in rejected),
    }
    print(
        f"run {run}: {len(records)} queries ({from_test} written from test articles; "
        f"training on {args.train_on}), {len(rejected)} rejected; LLM calls {calls}"
    )

    rerankers, fit_errors = {}, {}
    for target in ("judges", "judges-unweighted", "source-only"):
        link = "thurstone" if target == "source-only" else method
        try:
            rerankers[target] = PairwiseReranker(link=link).fit(training_rows(records, target))
        except ValueError as e:  # e.g. every trust weight 0: nothing to learn from
            fit_errors[target] = str(e)
            print(f"reranker {target}: not fitted ({e})")

    retriever = HybridRetriever(SentenceEmbedder(cache_path=None, quantized=False))
    report = retriever.index(data.corpus)
    queries, qrels = data.test_queries, data.test_qrels
    systems, runs = {}, {}
    for m in METHODS:
        runs[m] = retriever.run(queries, m, k=100)
        systems[m] = evaluate_run(runs[m], qrels, k=10, n_resamples=args.resamples, seed=0)
    pool = {q: retriever.candidates(text, k=k) for q, text in queries.items()}
    for target, reranker in rerankers.items():
        head = reranker.rerank(pool)
        ranked = {}
        for q in queries:
            top = [d for d, _ in head[q]]
            ranked[q] = top + [d for d, _ in runs["fused"][q] if d not in set(top)]
        name = f"reranker:{target}"
        systems[name] = evaluate_run(ranked, qrels, k=10, n_resamples=args.resamples, seed=0)
    diffs = {}
    for name in systems:
        if name.startswith("reranker:"):
            diffs[f"{name} - fused"] = paired_difference(
                systems["fused"], systems[name], args.resamples
            )
    if "reranker:judges" in systems and "reranker:source-only" in systems:
        diffs["judges - source-only"] = paired_difference(
            systems["reranker:source-only"], systems["reranker:judges"], args.resamples
        )
    agreement = judge_agreement(records)

    print(
        f"\nBBC test headlines: {len(queries)} queries, {report.indexed} articles; "
        f"rerankers reorder the fused top {k}"
    )
    print("| system | nDCG@10 (95% interval) | MRR@10 (95% interval) |")
    print("|---|---|---|")
    for name, scores in systems.items():
        m = scores.metrics
        print(f"| {name} | {_interval(m['ndcg@10'])} | {_interval(m['mrr@10'])} |")
    print()
    for name, d in diffs.items():
        print(
            f"{name}: nDCG@10 {d['ndcg@10']['value']:+.3f} ({d['ndcg@10']['low']:+.3f} to "
            f"{d['ndcg@10']['high']:+.3f}), MRR@10 {d['mrr@10']['value']:+.3f} "
            f"({d['mrr@10']['low']:+.3f} to {d['mrr@10']['high']:+.3f})"
        )
    print(f"\njudges vs the known item of each training query: {agreement}")
    print(f"wall time {time.perf_counter() - started:.0f} s")

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{run.resolve().name}-{args.train_on}.json"
    path.write_text(
        json.dumps(
            {
                "run": str(run),
                "train_on": args.train_on,
                "queries_trained": len(records),
                "written_from_test_articles": from_test,
                "rerank_k": k,
                "method": method,
                "llm_calls": calls,
                "judge_agreement": agreement,
                "systems": {n: s.to_dict() for n, s in systems.items()},
                "paired_differences": diffs,
                "fit_errors": fit_errors,
                "coefficients": {t: r.coefficients() for t, r in rerankers.items()},
                "pairs_trained": {t: r.pairs_ for t, r in rerankers.items()},
                "corpus_report": report.to_dict(),
                "data": data.summary(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
