"""Calibration of a judge against people: how far its verdicts agree with human ones.

Two shapes of judgement:

- categorical (a label, a pass/fail, a preferred item): raw agreement and Cohen's kappa,
  agreement corrected for the agreement expected by chance from each rater's marginals
  (Cohen, J. 1960, "A coefficient of agreement for nominal scales", *Educational and
  Psychological Measurement* 20(1): 37-46; computed by
  :func:`sklearn.metrics.cohen_kappa_score`).
- graded (a score on a scale): rank correlations, Spearman's rho and Kendall's tau-b, each
  with its two-sided p-value (:func:`scipy.stats.spearmanr`, :func:`scipy.stats.kendalltau`).

A judge that gave no answer for an item (``None``) is not coerced to any label or score: the
item is left out of every statistic and counted in ``missing``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

MIN_PAIRS = 3
"""Fewest judged items (judge answer not None) an agreement statistic is computed on."""


def _pairs(judge: Sequence[Any], human: Sequence[Any]) -> tuple[list[Any], list[Any], int]:
    """The items the judge answered, as two aligned lists, and how many it did not.

    Raises:
        ValueError: the lists differ in length, or fewer than :data:`MIN_PAIRS` items are
            left.
    """
    if len(judge) != len(human):
        raise ValueError(f"judge and human lists differ in length: {len(judge)} and "
                         f"{len(human)}")
    kept = [(j, h) for j, h in zip(judge, human, strict=True) if j is not None]
    missing = len(judge) - len(kept)
    if len(kept) < MIN_PAIRS:
        raise ValueError(f"{len(kept)} judged items (of {len(judge)}; {missing} missing): "
                         f"agreement needs at least {MIN_PAIRS}")
    return [j for j, _ in kept], [h for _, h in kept], missing


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is NaN (an undefined statistic)."""
    value = float(value)
    return None if math.isnan(value) else value


def categorical_agreement(judge: Sequence[str | None], human: Sequence[str]) -> dict[str, Any]:
    """Agreement of a judge's categorical answers with people's, item by item.

    Args:
        judge: the judge's answer per item (a label, ``"pass"``/``"fail"``, ``"a"``/``"b"``),
            or None where it gave none.
        human: the people's answer for the same items, in the same order.

    Returns:
        ``{"n", "missing", "accuracy", "cohen_kappa"}``: ``n`` items the judge answered (the
        only ones scored), ``missing`` items it did not, ``accuracy`` the share of the ``n``
        where it matches the human answer (0..1), ``cohen_kappa`` Cohen's kappa (Cohen 1960;
        1 = perfect, 0 = chance, below 0 = worse than chance), None when undefined (both
        sides gave one and the same answer to every item).

    Raises:
        ValueError: the lists differ in length, or the judge answered fewer than 3 items.
    """
    from sklearn.metrics import cohen_kappa_score

    j, h, missing = _pairs(judge, human)
    j, h = [str(x) for x in j], [str(x) for x in h]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one label on both sides: kappa is 0/0, NaN
        kappa = cohen_kappa_score(j, h)
    return {
        "n": len(j),
        "missing": missing,
        "accuracy": sum(a == b for a, b in zip(j, h, strict=True)) / len(j),
        "cohen_kappa": _finite(kappa),
    }


def graded_agreement(judge: Sequence[float | None], human: Sequence[float]) -> dict[str, Any]:
    """Rank agreement of a judge's scores with people's scores, item by item.

    Args:
        judge: the judge's score per item (any numeric scale), or None where it gave none.
        human: the people's score for the same items (any numeric scale: only ranks count).

    Returns:
        ``{"n", "missing", "spearman", "spearman_p", "kendall", "kendall_p"}``: ``n`` items
        scored, ``missing`` items without a judge score, Spearman's rho and Kendall's tau-b
        (-1..1) with their two-sided p-values; a statistic is None when undefined (one side
        gives every item the same score).

    Raises:
        ValueError: the lists differ in length, or the judge scored fewer than 3 items.
    """
    from scipy.stats import kendalltau, spearmanr

    j, h, missing = _pairs(judge, human)
    j, h = [float(x) for x in j], [float(x) for x in h]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConstantInputWarning: the statistic is NaN then
        rho = spearmanr(j, h)
        tau = kendalltau(j, h)
    return {
        "n": len(j),
        "missing": missing,
        "spearman": _finite(rho.statistic),
        "spearman_p": _finite(rho.pvalue),
        "kendall": _finite(tau.statistic),
        "kendall_p": _finite(tau.pvalue),
    }


def best_threshold(scores: Sequence[float | None], keep: Sequence[bool]) -> dict[str, Any]:
    """The score cut that best matches a person's keep/drop decisions.

    A cut ``t`` keeps an item when its score is ``>= t``. Every distinct score is tried; the
    cut with the highest Cohen's kappa between "kept by the cut" and "kept by the person"
    wins (ties: higher raw agreement, then the lower cut). Items without a score are left
    out and counted in ``missing``.

    Args:
        scores: the judge's score per item (any scale; or a trust weight), None where none.
        keep: the person's decision per item, True to keep.

    Returns:
        ``{"threshold", "cohen_kappa", "accuracy", "n", "missing", "kept_by_cut",
        "kept_by_person"}``: the cut, its kappa (None when undefined) and agreement (0..1),
        the items scored, and how many of them the cut and the person keep.

    Raises:
        ValueError: the lists differ in length, or fewer than 3 items have a score.
    """
    s, k, missing = _pairs(scores, keep)
    s, k = [float(x) for x in s], [bool(x) for x in k]
    best: dict[str, Any] | None = None
    for t in sorted(set(s)):
        cut = [x >= t for x in s]
        stats = categorical_agreement(cut, k)
        rank = (stats["cohen_kappa"] if stats["cohen_kappa"] is not None else -2.0,
                stats["accuracy"])
        if best is None or rank > best["_rank"]:
            best = {"_rank": rank, "threshold": t, "cohen_kappa": stats["cohen_kappa"],
                    "accuracy": stats["accuracy"], "kept_by_cut": sum(cut)}
    assert best is not None
    best.pop("_rank")
    return {**best, "n": len(s), "missing": missing, "kept_by_person": sum(k)}
