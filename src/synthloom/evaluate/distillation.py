"""Distillation on teacher labels: train a student on real texts a teacher labelled, and
score the teacher against human labels.

Shang et al. (Walmart), "Student Beats Teacher", arXiv 2505.07105: a small student trained
on an LLM teacher's labels of real inputs can match or beat the teacher. The teacher's
labels here come from a ``teacher_label`` run (:mod:`synthloom.pipeline.steps.
teacher_label`): each record carries its label, the label model's probabilities
(``outputs["label_probs"]``) and a trust weight (the labellers' agreement). A student is
trained on them with sample weights = trust weights (the way ``evaluate`` weights synthetic
records by ``lambda * trust_weight``), and optionally on the soft labels: each text once per
label, weighted by that label's probability (times the trust weight), which makes the
weighted log-loss the cross-entropy with the teacher's soft targets (Hinton, Vinyals & Dean,
arXiv 1503.02531, at temperature 1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthloom.errors import UserInputError
from synthloom.evaluate.students import fit_student, make_student
from synthloom.records import Record

MIN_SOFT_PROBABILITY = 1e-3
"""Labels below this probability get no training row of their own with ``soft=True``."""


def teacher_training_rows(
    records: Sequence[Record], *, weighted: bool = True, soft: bool = False
) -> tuple[list[str], list[str], list[float] | None]:
    """``(texts, labels, sample weights or None)`` a student trains on.

    Args:
        records: records of a ``teacher_label`` run (rejected ones and ones without a label
            or text are skipped).
        weighted: weight each row by its record's trust weight.
        soft: one row per label with probability >= :data:`MIN_SOFT_PROBABILITY` in
            ``outputs["label_probs"]``, weighted by it (times the trust weight when
            ``weighted``); a record without label probabilities gives one row.

    Returns:
        The rows; weights are None when neither ``weighted`` nor ``soft``.
    """
    texts, labels, weights = [], [], []
    for r in records:
        if r.rejected is not None or r.label is None or not r.text:
            continue
        trust = r.trust_weight if weighted else 1.0
        probs = r.outputs.get("label_probs") if soft else None
        if probs:
            for label, p in probs.items():
                if p >= MIN_SOFT_PROBABILITY:
                    texts.append(r.text)
                    labels.append(label)
                    weights.append(trust * float(p))
        else:
            texts.append(r.text)
            labels.append(r.label)
            weights.append(trust)
    return texts, labels, (weights if weighted or soft else None)


def train_on_teacher_labels(
    records: Sequence[Record],
    student: str = "tfidf-lr",
    weighted: bool = True,
    *,
    soft: bool = False,
    seed: int = 0,
) -> Any:
    """Fit a student on teacher-labelled records (see the module docstring).

    Args:
        records: records of a ``teacher_label`` run (``synthloom.read_run(DIR)``).
        student: ``tfidf-lr``, ``embedding-lr``, ``embedding-lr-whole`` or
            ``module:factory`` (:func:`~synthloom.evaluate.students.make_student`).
        weighted: sample weights = trust weights.
        soft: train on the soft labels (see :func:`teacher_training_rows`).
        seed: the student's random seed.

    Returns:
        The fitted student (``predict(texts) -> labels``).

    Raises:
        UserInputError: an unknown student; no usable record; fewer than two labels; every
            weight zero.
    """
    model = make_student(student, seed)
    texts, labels, weights = teacher_training_rows(records, weighted=weighted, soft=soft)
    if not texts:
        raise UserInputError(
            "no labelled record to train on (every record rejected or without a label)"
        )
    if len(set(labels)) < 2:
        raise UserInputError(
            f"the teacher's labels have one class only ({labels[0]!r}); a student needs two"
        )
    if weights is not None and not any(w > 0 for w in weights):
        raise UserInputError("every trust weight is 0: nothing to train on")
    return fit_student(model, texts, labels, weights)


def teacher_scores(
    predicted: Sequence[str | None], gold: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """The teacher's labels against human labels.

    Args:
        predicted: the teacher's label per test text, None where it gave none (abstained
            or tied).
        gold: the human label per test text.
        labels: the task's label set.

    Returns:
        ``{"n", "labelled" (texts given a label), "coverage", "accuracy" (a text with no
        label counts as wrong), "accuracy_labelled" (over the labelled texts only; None
        without any), "macro_f1" (over the task's labels; a text with no label is a miss),
        "per_label_f1", "gold_outside_labels" (human labels not in the label set: always
        wrong), "gold_counts"}``.

    Raises:
        ValueError: the two sequences differ in length, or are empty.
    """
    from sklearn.metrics import f1_score

    if len(predicted) != len(gold) or not gold:
        raise ValueError(f"{len(predicted)} predictions for {len(gold)} human labels")
    labelled = [(p, g) for p, g in zip(predicted, gold, strict=True) if p is not None]
    right = sum(p == g for p, g in labelled)
    filled = [p if p is not None else "\0abstained" for p in predicted]
    per_label = f1_score(list(gold), filled, labels=list(labels), average=None, zero_division=0)
    return {
        "n": len(gold),
        "labelled": len(labelled),
        "coverage": round(len(labelled) / len(gold), 4),
        "accuracy": round(right / len(gold), 4),
        "accuracy_labelled": round(right / len(labelled), 4) if labelled else None,
        "macro_f1": round(float(per_label.mean()), 4),
        "per_label_f1": {k: round(float(v), 4) for k, v in zip(labels, per_label, strict=True)},
        "gold_outside_labels": sum(g not in labels for g in gold),
        "gold_counts": dict(sorted(Counter(gold).items())),
    }
