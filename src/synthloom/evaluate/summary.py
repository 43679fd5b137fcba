"""One evaluation of a synthetic set against real data: TSTR, diversity and leakage."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from synthloom.datasets import stratified_split
from synthloom.evaluate.diversity import diversity_report, ngram_leakage
from synthloom.evaluate.tstr import evaluate_tstr
from synthloom.records import Record


def evaluate_synthetic(
    synthetic: Sequence[Record],
    real: Sequence[Record],
    *,
    student: str = "tfidf-lr",
    test_fraction: float = 0.3,
    seed: int = 13,
    leakage_n: int = 8,
    leakage_threshold: float = 0.01,
) -> dict[str, Any]:
    """TSTR (see :func:`~synthloom.evaluate.tstr.evaluate_tstr`) plus:

    - ``diversity``: distinct-1/2, Self-BLEU and label balance of the synthetic set and
      of an equal-sized sample of the real train split, side by side;
    - ``leakage``: synthetic texts sharing a word ``leakage_n``-gram with the real test
      split; ``flagged`` when their share exceeds ``leakage_threshold``.

    Raises:
        UserInputError: as :func:`~synthloom.evaluate.tstr.evaluate_tstr`.
    """
    metrics = evaluate_tstr(
        synthetic, real, student=student, test_fraction=test_fraction, seed=seed
    )
    kept = [r for r in synthetic if r.rejected is None and r.label is not None]
    real_train, real_test = stratified_split(list(real), test_fraction=test_fraction, seed=seed)
    sample = random.Random(seed).sample(real_train, min(len(kept), len(real_train)))
    metrics["diversity"] = {
        "synthetic": diversity_report([r.text for r in kept], [str(r.label) for r in kept]),
        "real": diversity_report([r.text for r in sample], [str(r.label) for r in sample]),
    }
    leakage = ngram_leakage([r.text for r in kept], [r.text for r in real_test], n=leakage_n)
    leakage["threshold"] = leakage_threshold
    leakage["flagged"] = leakage["share"] > leakage_threshold
    metrics["leakage"] = leakage
    return metrics
