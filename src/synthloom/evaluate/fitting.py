"""Fitting students: stratified samples, single fits, and independent fits run in parallel."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from synthloom.datasets import stratified_sample  # noqa: F401  (re-exported)
from synthloom.errors import UserInputError
from synthloom.evaluate.students import fit_student, make_student
from synthloom.records import Record


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
    so threads would not help. The results equal the serial ones. Inside each fit BLAS is
    held to one thread: these fits are small, and with more threads L-BFGS ran 2-4x slower
    on a busy 2-core machine.

    Returns:
        Per job, one list of predicted labels per text list in ``job.tests``.

    Raises:
        UserInputError: the student cannot be trained on a job's data (e.g. no terms
            remain after TF-IDF pruning).
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
