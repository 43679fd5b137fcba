"""Train on synthetic, test on real (TSTR).

TSTR (Esteban, Hyland & Rätsch 2017, "Real-valued (Medical) Time Series Generation with
Recurrent Conditional GANs", arXiv:1706.02633) scores synthetic data by training a classifier
on it and testing that classifier on held-out *real* data. Here it is compared with the same
student trained on an equal number of real examples (train on real, test on real), and the
ratio of the two scores is reported: 1.0 means the synthetic data is as useful as the same
amount of real data.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthloom.errors import UserInputError
from synthloom.evaluate.splits import EvaluationData, prepare
from synthloom.evaluate.students import fit_student, make_student
from synthloom.records import Record, write_json_atomic

Metric = str | Callable[[Sequence[Any], Sequence[Any]], float]

_CHUNK_ELEMENTS = 4_000_000  # resamples x test items drawn per chunk, bounds memory


# --------------------------------------------------------------- bootstrap


def _accuracy_resamples(correct: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return correct[idx].mean(axis=1)


def _macro_f1_resamples(
    true_codes: np.ndarray, pred_codes: np.ndarray, n_labels: int, idx: np.ndarray
) -> np.ndarray:
    """Macro-F1 of each resample (row of ``idx``), as sklearn with ``zero_division=0``.

    Codes in ``[0, n_labels)`` are labels of the label set; ``n_labels`` marks a label outside
    it (counted as an error, never as a true positive of a listed label).
    """
    b = idx.shape[0]
    k = n_labels + 1
    offsets = (np.arange(b) * k)[:, None]
    t = true_codes[idx]
    p = pred_codes[idx]
    true_counts = np.bincount((t + offsets).ravel(), minlength=b * k).reshape(b, k)
    pred_counts = np.bincount((p + offsets).ravel(), minlength=b * k).reshape(b, k)
    tp_codes = np.where(t == p, t, n_labels)  # non-hits go to the "outside" bin
    tp_counts = np.bincount((tp_codes + offsets).ravel(), minlength=b * k).reshape(b, k)
    tp = tp_counts[:, :n_labels].astype(float)
    denom = (true_counts[:, :n_labels] + pred_counts[:, :n_labels]).astype(float)
    f1 = np.divide(2.0 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return f1.mean(axis=1)


def bootstrap_ci(
    y_true: Sequence[Any],
    y_pred: Sequence[Any],
    metric: Metric,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    labels: Sequence[Any] | None = None,
) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap confidence interval of a classification metric.

    Test examples are resampled with replacement ``n_resamples`` times; the interval is the
    ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the metric over the
    resamples (Efron & Tibshirani 1993). The named metrics are vectorised with numpy
    (1000 resamples of 600 examples take a few milliseconds).

    Args:
        y_true: true labels, length n >= 1.
        y_pred: predicted labels, length n.
        metric: ``"accuracy"``, ``"macro_f1"`` (sklearn ``f1_score(average="macro",
            zero_division=0)`` over ``labels``), or a callable ``metric(y_true, y_pred) ->
            float`` (evaluated in a Python loop, so slower).
        n_resamples: number of bootstrap resamples, >= 1.
        seed: seed of the resampling generator; same inputs and seed give the same interval.
        confidence: coverage of the interval, in (0, 1).
        labels: label set for ``"macro_f1"``; defaults to the sorted union of ``y_true`` and
            ``y_pred`` (sklearn's default). Fixed across resamples.

    Returns:
        ``(point, low, high)`` as floats in the metric's units (fractions in [0, 1] for the
        named metrics); ``point`` is the metric on the full data.

    Raises:
        ValueError: empty or mismatched inputs, bad ``n_resamples``/``confidence``, or an
            unknown metric name.
    """
    from sklearn.metrics import accuracy_score, f1_score

    yt = np.asarray(y_true, dtype=object)
    yp = np.asarray(y_pred, dtype=object)
    n = len(yt)
    if n == 0 or len(yp) != n:
        raise ValueError(f"need equal, non-zero numbers of labels; got {n} true, {len(yp)} pred")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")

    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    scores = np.empty(n_resamples, dtype=float)

    if metric == "accuracy":
        point = float(accuracy_score(yt, yp))
        correct = (yt == yp).astype(float)

        def resample(idx: np.ndarray) -> np.ndarray:
            return _accuracy_resamples(correct, idx)

    elif metric == "macro_f1":
        label_list = list(labels) if labels is not None else sorted(set(yt) | set(yp), key=str)
        point = float(f1_score(yt, yp, labels=label_list, average="macro", zero_division=0))
        code = {label: i for i, label in enumerate(label_list)}
        outside = len(label_list)
        true_codes = np.array([code.get(v, outside) for v in yt], dtype=np.int64)
        pred_codes = np.array([code.get(v, outside) for v in yp], dtype=np.int64)

        def resample(idx: np.ndarray) -> np.ndarray:
            return _macro_f1_resamples(true_codes, pred_codes, outside, idx)

    elif callable(metric):
        fn = metric
        point = float(fn(list(yt), list(yp)))

        def resample(idx: np.ndarray) -> np.ndarray:
            return np.array([float(fn(list(yt[row]), list(yp[row]))) for row in idx])

    else:
        raise ValueError(f"unknown metric {metric!r}; use 'accuracy', 'macro_f1' or a callable")

    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        scores[start:stop] = resample(idx)

    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(scores, [alpha, 1.0 - alpha])
    return point, float(low), float(high)


# -------------------------------------------------------------------- TSTR


def stratified_sample(records: Sequence[Record], n: int, seed: int) -> list[Record]:
    """``n`` records drawn without replacement, label proportions kept (largest remainder).

    Deterministic for a seed; keeps the input order. ``n >= len(records)`` returns them all.
    """
    if n >= len(records):
        return list(records)
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_label.setdefault(str(r.label), []).append(i)
    labels = sorted(by_label)
    exact = {lab: n * len(by_label[lab]) / len(records) for lab in labels}
    quota = {lab: int(exact[lab]) for lab in labels}
    remainder = n - sum(quota.values())
    for lab in sorted(labels, key=lambda lab: (-(exact[lab] - quota[lab]), lab))[:remainder]:
        quota[lab] += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for lab in labels:
        members = by_label[lab]
        picks = rng.permutation(len(members))[: quota[lab]]
        chosen.extend(members[j] for j in picks)
    return [records[i] for i in sorted(chosen)]


_stratified_sample = stratified_sample  # the name used before the evaluate split-up


def scores(
    y_true: list[str], y_pred: list[str], labels: list[str], n_bootstrap: int, seed: int
) -> dict[str, Any]:
    """Accuracy and macro-F1 with bootstrap 95% intervals, per-class F1, confusion matrix.

    Returns ``{"accuracy": {"value", "low", "high"}, "macro_f1": {...}, "per_class_f1":
    {label: f1}, "confusion": [[count]]}``; confusion rows are true labels and columns
    predicted labels, both in ``labels`` order (predictions outside ``labels`` are dropped).
    """
    from sklearn.metrics import confusion_matrix, f1_score

    out: dict[str, Any] = {}
    for name in ("accuracy", "macro_f1"):
        point, low, high = bootstrap_ci(
            y_true, y_pred, name, n_resamples=n_bootstrap, seed=seed, labels=labels
        )
        out[name] = {"value": point, "low": low, "high": high}
    per_class = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    out["per_class_f1"] = {label: float(f) for label, f in zip(labels, per_class, strict=True)}
    out["confusion"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    return out


def _fit_predict_texts(
    student: str,
    seed: int,
    texts: list[str],
    labels: list[str],
    sample_weight: list[float] | None,
    tests: Sequence[Sequence[str]],
    name: str,
) -> list[list[str]]:
    from threadpoolctl import threadpool_limits

    model = make_student(student, seed)
    with threadpool_limits(limits=1, user_api="blas"):
        try:
            fit_student(model, texts, labels, sample_weight)
        except ValueError as e:  # e.g. "After pruning, no terms remain" on tiny data
            raise UserInputError(
                f"cannot train student '{student}' on {len(texts)} {name} records: {e}"
            ) from e
        return [[str(y) for y in model.predict(list(t))] for t in tests]


def fit_predict(
    student: str,
    seed: int,
    train: Sequence[Record],
    tests: Sequence[Sequence[str]],
    sample_weight: Sequence[float] | None = None,
    name: str = "training",
) -> list[list[str]]:
    """Fit a fresh student on ``train`` (optionally weighted) and predict each text list.

    BLAS is held to one thread: these fits are small, and with more threads L-BFGS ran 2-4x
    slower on a busy 2-core machine.

    Returns:
        One list of predicted labels per entry of ``tests``.

    Raises:
        UserInputError: the student cannot be trained on this data (e.g. no terms remain).
    """
    return fit_predict_many(student, [FitJob(seed, list(train), tests, sample_weight, name)])[0]


@dataclass(frozen=True)
class FitJob:
    """One fit of a student: seed, training records, text lists to predict, weights."""

    seed: int
    train: list[Record]
    tests: Sequence[Sequence[str]]
    sample_weight: Sequence[float] | None = None
    name: str = "training"


def _parallel_safe(student: str) -> bool:
    """True unless the student embeds texts: the embedder's cache lives in this process, so
    worker processes would embed everything again."""
    from synthloom.evaluate.students import EmbeddingVectorizer

    steps = getattr(make_student(student, 0), "steps", [])
    return not any(isinstance(step, EmbeddingVectorizer) for _, step in steps)


def fit_predict_many(student: str, jobs: Sequence[FitJob]) -> list[list[list[str]]]:
    """Run several independent fits; results in job order.

    With more than one job, at least 2 cores and a student that does not embed texts, the
    fits run in 2 worker processes (joblib's loky backend): TF-IDF fitting is pure Python,
    so threads would not help. The results equal the serial ones.
    """
    args = [
        (
            student, j.seed, [r.text for r in j.train], [str(r.label) for r in j.train],
            None if j.sample_weight is None else [float(w) for w in j.sample_weight],
            j.tests, j.name,
        )
        for j in jobs
    ]
    if len(jobs) > 1 and (os.cpu_count() or 1) >= 2 and _parallel_safe(student):
        from joblib import Parallel, delayed

        return Parallel(n_jobs=2, backend="loky")(delayed(_fit_predict_texts)(*a) for a in args)
    return [_fit_predict_texts(*a) for a in args]


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


def tstr_scores(
    data: EvaluationData, student: str = "tfidf-lr", seed: int = 13, n_bootstrap: int = 1000
) -> dict[str, Any]:
    """TSTR on prepared data: synthetic vs an equal number of real-train records.

    Returns the dict described in :func:`evaluate_tstr`.
    """
    kept = data.synthetic
    n = len(kept)
    real_sample = stratified_sample(data.real_train, n, seed)
    test_texts = [r.text for r in data.real_test]
    y_test = [str(r.label) for r in data.real_test]
    sides = {"synthetic": kept, "real": real_sample}
    predictions = fit_predict_many(
        student, [FitJob(seed, list(train), [test_texts], name=name) for name, train in
                  sides.items()]
    )
    results = {
        name: scores(y_test, y_pred, data.labels, n_bootstrap, seed)
        for name, (y_pred,) in zip(sides, predictions, strict=True)
    }
    return {
        "student": student,
        "n_synthetic": n,
        "n_synthetic_skipped": data.n_synthetic_skipped,
        "n_real_train_available": len(data.real_train),
        "n_real_train_used": len(real_sample),
        "real_train_smaller_than_synthetic": len(data.real_train) < n,
        "n_real_validation": len(data.real_validation),
        "n_real_test": len(data.real_test),
        "labels": data.labels,
        "missing_in_synthetic": data.missing_in_synthetic,
        "synthetic": results["synthetic"],
        "real": results["real"],
        "tstr_ratio": {
            metric: _ratio(results["synthetic"][metric]["value"], results["real"][metric]["value"])
            for metric in ("accuracy", "macro_f1")
        },
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "confidence": 0.95,
    }


def evaluate_tstr(
    synthetic: Sequence[Record],
    real: Sequence[Record],
    student: str = "tfidf-lr",
    test_fraction: float = 0.3,
    seed: int = 13,
    n_bootstrap: int = 1000,
    validation_fraction: float = 0.2,
) -> dict[str, Any]:
    """Score synthetic data by train-on-synthetic, test-on-real (TSTR, arXiv:1706.02633).

    Steps: split ``real`` with :func:`~synthloom.evaluate.splits.prepare` into real-train,
    real-validation and real-test (real-test is never trained on); (a) train a student on the
    synthetic records; (b) train a fresh student on ``n = n_synthetic`` real-train records (a
    stratified sample, or all of real-train if it has fewer); test both on real-test.

    Args:
        synthetic: records with ``origin=synthetic``; rejected and unlabelled ones are skipped.
        real: labelled records with ``origin=real``.
        student: a name from :data:`synthloom.evaluate.students.STUDENTS` or
            ``module:factory``.
        test_fraction: fraction of ``real`` held out as the test split.
        seed: seeds the split, the real-train sample, the students and the bootstrap.
        n_bootstrap: bootstrap resamples for the 95% confidence intervals.
        validation_fraction: fraction of the non-test real records held out for validation.

    Returns:
        A JSON-serialisable dict: ``student``, ``n_synthetic`` (used), ``n_synthetic_skipped``
        (rejected or unlabelled), ``n_real_train_available``, ``n_real_train_used``,
        ``real_train_smaller_than_synthetic``, ``n_real_validation``, ``n_real_test``,
        ``labels`` (the real label set, sorted), ``missing_in_synthetic`` (real labels with
        no synthetic record),
        ``synthetic`` and ``real`` (each as :func:`scores` returns: accuracy and macro-F1 as
        ``{"value", "low", "high"}`` fractions in [0, 1], ``per_class_f1``, ``confusion``),
        ``tstr_ratio`` (``{"accuracy", "macro_f1"}``: synthetic / real, ``None`` if the real
        score is 0), ``seed``, ``n_bootstrap``, ``confidence``.

    Raises:
        UserInputError: as :func:`~synthloom.evaluate.splits.prepare`, or an unknown student.
    """
    make_student(student, seed)  # fail early on an unknown name
    data = prepare(
        synthetic, real, test_fraction=test_fraction, validation_fraction=validation_fraction,
        seed=seed,
    )
    return tstr_scores(data, student, seed, n_bootstrap) | {"test_fraction": test_fraction}


def write_metrics(path: str | Path, metrics: dict[str, Any]) -> None:
    """Write metrics as indented JSON, atomically (see
    :func:`~synthloom.records.write_json_atomic`).

    Raises:
        TypeError: ``metrics`` is not JSON-serialisable (nothing is written).
        ValueError: ``metrics`` contains NaN or infinity (nothing is written).
    """
    write_json_atomic(path, metrics)
