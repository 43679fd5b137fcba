"""Train on synthetic, test on real (TSTR).

TSTR (Esteban, Hyland & Rätsch 2017, "Real-valued (Medical) Time Series Generation with
Recurrent Conditional GANs", arXiv:1706.02633) scores synthetic data by training a classifier
on it and testing that classifier on held-out *real* data. Here it is compared with the same
student trained on an equal number of real examples (train on real, test on real), and the
ratio of the two scores is reported: 1.0 means the synthetic data is as useful as the same
amount of real data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synthloom.evaluate.bootstrap import scores
from synthloom.evaluate.fitting import FitJob, fit_predict_many, stratified_sample
from synthloom.evaluate.splits import EvaluationData, prepare
from synthloom.evaluate.students import make_student
from synthloom.records import Record, write_json_atomic


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
