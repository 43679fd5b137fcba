"""Benchmark: first-stage retrieval on BBC News headline -> article known-item retrieval.

Run by hand (no LLM; embedding about 2,000 articles is the bulk of the time)::

    nice -n 19 .venv/bin/python bench/retrieval_bbc.py [--split test] [--seed 13]
        [--test-fraction 0.5] [--max-chunks 1] [--resamples 1000] [--threads 0]
        [--reranker-dev [--candidates 50]]

Queries are the headlines of the chosen split of :func:`synthloom.relevance_data.
load_bbc_known_item` (one relevant article each: its own, with the headline removed from
its text); the corpus is every kept article. Systems: BM25 (``bm25s``), dense (MiniLM, float
ONNX, first ``128 * max_chunks`` tokens of each article) and their reciprocal-rank fusion
(k = 60 over the top 100 of each). Prints nDCG@10 and MRR@10 with bootstrap 95% intervals
over queries, recall@100 (the share of queries whose article is in the top 100: all a
reranker of those candidates can reach), and paired differences of fused against each
single retriever; writes ``out/bench/retrieval/bbc_known_item-<split>.json``.

``--reranker-dev`` adds a reference row, not the synthetic pipeline: the pairwise reranker
(:class:`synthloom.evaluate.reranker.PairwiseReranker`) trained on the fused top
``--candidates`` of the *dev* headlines with their real known-item labels (1 for the
article, 0 for the rest; ties skipped), then reranking the test queries' candidates. It
shows what the retrieval features alone can reach with real labels; a reranker trained on
synthetic queries and judge scores should be compared with it and with ``fused``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path

from synthloom.evaluate.ranking import evaluate_run, paired_difference
from synthloom.evaluate.reranker import PairwiseReranker
from synthloom.llm.embeddings import MODEL_ID, SentenceEmbedder
from synthloom.operators.relevance.retrieval import METHODS, HybridRetriever
from synthloom.relevance_data import load_bbc_known_item

OUT = Path("out/bench/retrieval")


def _interval(m: dict[str, float]) -> str:
    return f"{m['value']:.3f} ({m['low']:.3f}–{m['high']:.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("test", "dev"), default="test")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--test-fraction", type=float, default=0.5)
    parser.add_argument("--max-chunks", type=int, default=1)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all)")
    parser.add_argument("--reranker-dev", action="store_true")
    parser.add_argument("--candidates", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()

    data = load_bbc_known_item(test_fraction=args.test_fraction, seed=args.seed)
    queries = data.test_queries if args.split == "test" else data.dev_queries
    qrels = data.test_qrels if args.split == "test" else data.dev_qrels
    print(
        f"BBC known-item: {len(data.corpus)} articles, {len(queries)} {args.split} queries "
        f"({data.summary()['dropped_articles']} duplicate articles dropped)"
    )

    embedder = SentenceEmbedder(
        cache_path=None, quantized=False, max_chunks=args.max_chunks, threads=args.threads
    )
    retriever = HybridRetriever(embedder)
    t0 = time.perf_counter()
    report = retriever.index(data.corpus)
    index_seconds = time.perf_counter() - t0
    print(f"indexed {report.indexed} documents in {index_seconds:.1f} s (skipped {report.skipped})")

    systems, seconds, recall = {}, {}, {}
    for method in METHODS:
        t0 = time.perf_counter()
        run = retriever.run(queries, method, k=100)
        seconds[method] = time.perf_counter() - t0
        found = [next(iter(qrels[q])) in {d for d, _ in run.get(q, [])} for q in qrels]
        recall[method] = sum(found) / len(found)
        systems[method] = evaluate_run(run, qrels, k=10, n_resamples=args.resamples, seed=0)
    reranker = None
    if args.reranker_dev:
        if args.split != "test":
            parser.error("--reranker-dev trains on dev: use it with --split test")
        t0 = time.perf_counter()
        retriever.run(data.dev_queries, "dense", k=1)  # embeds the dev headlines in one batch
        rows = []
        for q, text in data.dev_queries.items():
            item = next(iter(data.dev_qrels[q]))
            for c in retriever.candidates(text, k=args.candidates):
                rows.append((q, c.doc_id, c, float(c.doc_id == item), 1.0))
        reranker = PairwiseReranker().fit(rows)
        pool = {q: retriever.candidates(text, k=args.candidates) for q, text in queries.items()}
        run = reranker.rerank(pool)
        seconds["reranker"] = time.perf_counter() - t0
        found = [next(iter(qrels[q])) in {d for d, _ in run.get(q, [])} for q in qrels]
        recall["reranker"] = sum(found) / len(found)
        systems["reranker"] = evaluate_run(run, qrels, k=10, n_resamples=args.resamples, seed=0)
    diffs = {
        f"fused-{base}": paired_difference(systems[base], systems["fused"], args.resamples)
        for base in ("bm25", "dense")
    }
    if reranker is not None:
        diffs["reranker-fused"] = paired_difference(
            systems["fused"], systems["reranker"], args.resamples
        )

    print()
    print("| system | nDCG@10 (95% interval) | MRR@10 (95% interval) | recall@n | query s |")
    print("|---|---|---|---|---|")
    for method, scores in systems.items():
        m = scores.metrics
        print(
            f"| {method} | {_interval(m['ndcg@10'])} | {_interval(m['mrr@10'])} | "
            f"{recall[method]:.3f} | {seconds[method]:.1f} |"
        )
    note = f"; reranker: its {args.candidates} candidates, trained on dev" if reranker else ""
    print(f"\nrecall@n: the article within the top n (n = 100{note}); query s: all queries")
    print()
    for name, diff in diffs.items():
        print(
            f"{name}: nDCG@10 {diff['ndcg@10']['value']:+.3f} "
            f"({diff['ndcg@10']['low']:+.3f} to {diff['ndcg@10']['high']:+.3f}), "
            f"MRR@10 {diff['mrr@10']['value']:+.3f} "
            f"({diff['mrr@10']['low']:+.3f} to {diff['mrr@10']['high']:+.3f})"
        )
    wall = time.perf_counter() - started
    print(f"\nwall time {wall:.0f} s (indexing {index_seconds:.0f} s)")

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bbc_known_item-{args.split}.json"
    result = {
        "data": data.summary(),
        "split": args.split,
        "queries": len(queries),
        "corpus_report": report.to_dict(),
        "embedder": {
            "model": MODEL_ID,
            "quantized": False,
            "max_tokens": embedder.max_tokens,
            "max_chunks": args.max_chunks,
        },
        "retriever": {
            "bm25": "bm25s lucene k1=1.5 b=0.75, English stop words, no stemming",
            "rrf_k": retriever.rrf_k,
            "depth": retriever.depth,
        },
        "systems": {
            m: {**s.to_dict(), "recall@n": recall[m], "query_seconds": seconds[m]}
            for m, s in systems.items()
        },
        "paired_differences": diffs,
        "reranker": None
        if reranker is None
        else {
            "trained_on": f"dev known-item labels, fused top {args.candidates}",
            "pairs": reranker.pairs_,
            "coefficients": reranker.coefficients(),
        },
        "seconds": {"index": index_seconds, "wall": wall},
        "versions": {
            p: importlib.metadata.version(p)
            for p in ("bm25s", "pytrec-eval-terrier", "onnxruntime", "numpy")
        },
        "python": platform.python_version(),
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
