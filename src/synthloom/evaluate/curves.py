"""Score against data: learning curves, real-plus-synthetic mixing, and the trust weight lambda.

- Learning curves: a student's score on the real test split against training-set size, for
  synthetic and for real training data (sizes 50, 100, 200, 400, ... up to what exists).
- Mixing: a small real seed set alone, then plus 1x, 4x, 16x as many synthetic records. It
  answers "does synthetic data add to the few real examples I have?".
- Trust weight lambda (Foundation Priors, arXiv 2512.01107: synthetic data as a prior whose
  weight is tuned, not assumed): the real seed set plus all synthetic records, each synthetic
  record weighted ``lambda * its own trust weight``. Lambda is chosen on the real
  **validation** split; the test split only reports the chosen value's score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from synthloom.evaluate.bootstrap import paired_difference_ci
from synthloom.evaluate.fitting import FitJob, fit_predict_many, stratified_sample
from synthloom.evaluate.splits import EvaluationData

DEFAULT_LAMBDAS = (0.0, 0.1, 0.25, 0.5, 1.0)
DEFAULT_MIX_RATIOS = (0, 1, 4, 16)


def curve_sizes(available: int, start: int = 50) -> list[int]:
    """``start, 2*start, 4*start, ...`` below ``available``, then ``available`` itself."""
    sizes, size = [], start
    while size < available:
        sizes.append(size)
        size *= 2
    return sizes + [available] if available > 0 else sizes


def _point(y_true: list[str], y_pred: list[str], labels: list[str]) -> dict[str, float]:
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
    }


def _mean_point(points: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key in ("accuracy", "macro_f1"):
        values = [p[key] for p in points]
        out[key] = float(np.mean(values))
        out[f"{key}_std"] = float(np.std(values))
    return out


def learning_curves(
    data: EvaluationData,
    student: str,
    seed: int = 13,
    start: int = 50,
    repeats: int = 3,
    repeat_below: int = 500,
) -> dict[str, list[dict[str, Any]]]:
    """Test-split score against training size, for synthetic and for real training data.

    Each size below ``repeat_below`` is averaged over ``repeats`` stratified draws (its
    standard deviation is kept); larger sizes are drawn once, and the full set needs no draw.

    Returns:
        ``{"synthetic": [{"n", "accuracy", "accuracy_std", "macro_f1", "macro_f1_std",
        "draws"}], "real": [...]}``, sizes ascending.
    """
    test_texts = [r.text for r in data.real_test]
    y_test = [str(r.label) for r in data.real_test]
    plan: list[tuple[str, int, int]] = []  # (pool name, size, draw)
    jobs: list[FitJob] = []
    pools = {"synthetic": data.synthetic, "real": data.real_train}
    for name, pool in pools.items():
        for n in curve_sizes(len(pool), start):
            draws = 1 if n >= len(pool) or n >= repeat_below else repeats
            for d in range(draws):
                plan.append((name, n, d))
                jobs.append(FitJob(seed, stratified_sample(pool, n, seed + d), [test_texts],
                                   name=name))
    results = fit_predict_many(student, jobs)
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    for (name, n, _), (pred,) in zip(plan, results, strict=True):
        runs.setdefault((name, n), []).append(_point(y_test, pred, data.labels))
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in pools}
    for (name, n), points in runs.items():
        out[name].append({"n": n, **_mean_point(points), "draws": len(points)})
    return out


def mixing(
    data: EvaluationData,
    student: str,
    real_seed_size: int = 50,
    ratios: Sequence[int] = DEFAULT_MIX_RATIOS,
    seed: int = 13,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """A real seed set alone and with ``ratio`` times as many synthetic records.

    Returns:
        ``{"n_real": int, "points": [{"ratio", "n_synthetic", "capped", "accuracy",
        "macro_f1", "gain"}]}``; ``capped`` is true when fewer synthetic records exist than
        the ratio asks for (all of them are used); ``gain`` (points with synthetic records)
        is the score minus the real set's alone, with a paired bootstrap 95% interval over
        the test examples: ``{"accuracy": {"value", "low", "high"}, "macro_f1": {...}}``.
    """
    real_seed = data.real_seed or stratified_sample(data.real_train, real_seed_size, seed)
    test_texts = [r.text for r in data.real_test]
    y_test = [str(r.label) for r in data.real_test]
    added = [
        stratified_sample(data.synthetic, ratio * len(real_seed), seed) if ratio else []
        for ratio in ratios
    ]
    results = fit_predict_many(
        student, [FitJob(seed, real_seed + syn, [test_texts], name="mixed") for syn in added]
    )
    base = results[0][0] if ratios and ratios[0] == 0 else None
    points = [
        {
            "ratio": ratio,
            "n_synthetic": len(syn),
            "capped": len(syn) < ratio * len(real_seed),
            **_point(y_test, pred, data.labels),
            **({"gain": paired_difference_ci(y_test, base, pred, data.labels,
                                             n_resamples=n_bootstrap, seed=seed)}
               if base is not None and ratio else {}),
        }
        for ratio, syn, (pred,) in zip(ratios, added, results, strict=True)
    ]
    return {"n_real": len(real_seed), "points": points}


def trust_weight_sweep(
    data: EvaluationData,
    student: str,
    real_seed_size: int = 50,
    lambdas: Sequence[float] = DEFAULT_LAMBDAS,
    seed: int = 13,
) -> dict[str, Any]:
    """Choose the synthetic sample weight lambda on the real validation split.

    Trains on the real seed set (weight 1) plus every synthetic record (weight ``lambda *
    trust_weight``) for each lambda; the chosen lambda has the best validation macro-F1
    (ties go to the smaller lambda, the more conservative choice). Test scores are reported
    for every lambda so the curve can be read, but play no part in the choice.

    Returns:
        ``{"n_real": int, "n_synthetic": int, "points": [{"lambda", "validation":
        {"accuracy", "macro_f1"}, "test": {...}}], "chosen_lambda": float,
        "chosen_on": "validation"}``.
    """
    real_seed = data.real_seed or stratified_sample(data.real_train, real_seed_size, seed)
    train = real_seed + data.synthetic
    sets = [[r.text for r in data.real_validation], [r.text for r in data.real_test]]
    y_val = [str(r.label) for r in data.real_validation]
    y_test = [str(r.label) for r in data.real_test]
    jobs = [
        FitJob(seed, real_seed, sets, None, "weighted")
        if lam == 0
        else FitJob(seed, train, sets,
                    [1.0] * len(real_seed) + [lam * r.trust_weight for r in data.synthetic],
                    "weighted")
        for lam in lambdas
    ]
    points = [
        {
            "lambda": lam,
            "validation": _point(y_val, pred_val, data.labels),
            "test": _point(y_test, pred_test, data.labels),
        }
        for lam, (pred_val, pred_test) in zip(lambdas, fit_predict_many(student, jobs),
                                                strict=True)
    ]
    best = max(points, key=lambda p: (p["validation"]["macro_f1"], -p["lambda"]))
    return {
        "n_real": len(real_seed),
        "n_synthetic": len(data.synthetic),
        "points": points,
        "chosen_lambda": best["lambda"],
        "chosen_on": "validation",
    }
