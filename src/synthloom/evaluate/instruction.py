"""Evaluation of an ``instruction`` run: diversity, lengths, judge scores, and closeness to a
real, human-written instruction set.

There is no student to train for instruction data on this machine, so the run is measured
as a set: distinct-n and Self-BLEU of the instructions (Zhu et al., Texygen, arXiv
1802.01886), mean nearest-neighbour cosine of their sentence embeddings, length and
difficulty distributions, the judge's scores, and k-NN precision, recall, density and
coverage of the synthetic instructions against the real ones (Kynkaanniemi et al., arXiv
1904.06991; Naeem et al., arXiv 2002.09797). The same measures on a random half of the
real set against the other half are the reference: what "as close as real data gets"
looks like at that size.
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthloom.evaluate.distribution import precision_recall_coverage
from synthloom.evaluate.diversity import distinct_n, mean_nearest_neighbour_cosine, self_bleu
from synthloom.records import Record
from synthloom.tasks.instruction import user_text


def instruction_text(record: Record) -> str:
    """The first user turn of an instruction record (instruction and input)."""
    return user_text(str(record.inputs.get("instruction") or ""), record.inputs.get("input"))


def _lengths(texts: Sequence[str]) -> dict[str, float] | None:
    words = sorted(len(t.split()) for t in texts)
    if not words:
        return None
    cut = statistics.quantiles(words, n=10) if len(words) > 1 else [words[0]] * 9
    return {"mean": round(statistics.fmean(words), 2), "median": statistics.median(words),
            "p10": round(cut[0], 1), "p90": round(cut[-1], 1), "max": words[-1]}


def _judge_scores(records: Sequence[Record]) -> dict[str, Any] | None:
    """Histograms of the judge's criterion scores (``{"criterion": {score: count}}``) and
    the mean of each; None when no record has a judge verdict."""
    per: dict[str, Counter[int]] = {}
    for r in records:
        v = r.verdict("judge")
        if v is None:
            continue
        for name, score in (v.detail.get("scores") or {}).items():
            if score is not None:
                per.setdefault(name, Counter())[int(score)] += 1
    if not per:
        return None
    return {name: {"histogram": {str(k): c[k] for k in sorted(c)},
                   "mean": round(sum(k * n for k, n in c.items()) / sum(c.values()), 3),
                   "n": sum(c.values())} for name, c in sorted(per.items())}


def _methods(records: Sequence[Record]) -> dict[str, Any]:
    methods: Counter[str] = Counter()
    operations: Counter[str] = Counter()
    generations: Counter[int] = Counter()
    for r in records:
        detail = r.provenance.operators[0].detail if r.provenance.operators else {}
        methods[str(detail.get("method") or "magpie")] += 1
        if detail.get("operation"):
            operations[str(detail["operation"])] += 1
        generations[int(detail.get("generation") or 0)] += 1
    return {"methods": dict(methods), "operations": dict(operations),
            "generations": {str(k): generations[k] for k in sorted(generations)}}


def set_measures(texts: Sequence[str], embeddings: np.ndarray | None) -> dict[str, Any]:
    """``{"n", "distinct_1", "distinct_2", "self_bleu", "nearest_neighbour_cosine"}`` of a
    set of texts (the last None without embeddings)."""
    nn = None if embeddings is None else mean_nearest_neighbour_cosine(embeddings)
    bleu = self_bleu(texts)
    return {"n": len(texts), "distinct_1": round(distinct_n(texts, 1), 4),
            "distinct_2": round(distinct_n(texts, 2), 4),
            "self_bleu": None if bleu is None else round(bleu, 4),
            "nearest_neighbour_cosine": None if nn is None else round(nn, 4)}


def evaluate_instructions(synthetic: Sequence[Record], real: Sequence[Record] | None = None,
                          *, embed: Any = None, seed: int = 13) -> dict[str, Any]:
    """Measures of an instruction set, against a real one when given.

    Args:
        synthetic: the run's accepted instruction records.
        real: real instruction records (e.g. :func:`~synthloom.instruction_sets.
            load_instructions`), or None.
        embed: ``texts -> (n, d)`` unit-row embeddings (default: the shared MiniLM
            embedder); None embeddings are skipped when it is ``False``.
        seed: seed of the real half-split and of subsampling.

    Returns:
        ``{"kind": "instruction", "synthetic": {set measures, "instruction_words",
        "response_words", "judge", "methods"...}, "real": {...} | None, "against_real":
        {"precision", "recall", "density", "coverage", "n"} | None, "real_half_vs_half":
        {...} | None}``. Lengths are in whitespace words.

    Raises:
        ValueError: no synthetic record.
    """
    if not synthetic:
        raise ValueError("no accepted records to evaluate")
    if embed is None:
        from synthloom.llm.embeddings import default_embedder

        embed = default_embedder().embed
    texts = [instruction_text(r) for r in synthetic]
    vectors = embed(texts) if embed else None
    out: dict[str, Any] = {"kind": "instruction", "synthetic": {
        **set_measures(texts, vectors),
        "instruction_words": _lengths(texts),
        "response_words": _lengths([str(r.outputs.get("response") or "") for r in synthetic]),
        "turns": dict(Counter(str(max(1, len(r.outputs.get("messages") or []) // 2))
                              for r in synthetic)),
        "judge": _judge_scores(synthetic), **_methods(synthetic)},
        "real": None, "against_real": None, "real_half_vs_half": None}
    if not real:
        return out
    real_texts = [instruction_text(r) for r in real]
    real_vectors = embed(real_texts) if embed else None
    out["real"] = {**set_measures(real_texts, real_vectors),
                   "instruction_words": _lengths(real_texts),
                   "response_words": _lengths([str(r.outputs.get("response") or "")
                                               for r in real])}
    if vectors is None or real_vectors is None:
        return out
    # both comparisons against the same real half, at the same size (these measures depend
    # on set size): synthetic vs half A, and real half B vs half A
    order = list(range(len(real_texts)))
    random.Random(seed).shuffle(order)
    half = len(order) // 2
    first, second = real_vectors[order[:half]], real_vectors[order[half:]]
    for key, other in (("against_real", vectors), ("real_half_vs_half", second)):
        try:
            out[key] = _rounded(precision_recall_coverage(first, other, max_points=half,
                                                          seed=seed))
        except ValueError as e:  # too few points for k-NN
            out[f"{key}_error"] = str(e)
    return out


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}
