"""Evaluate the generator, not just the student: its own zero-shot accuracy on real test data.

The generator model labels a stratified sample of the real test split with the same blind,
schema-constrained prompt that TarGEN's self-correction step uses (arXiv 2310.17876,
section 3; :class:`~synthloom.operators.targen.self_correction.SelfCorrection`). A student
trained on the generator's synthetic data that scores above this has learnt more than its
teacher's zero-shot judgement; one below it would have been better replaced by the teacher.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from synthloom.evaluate.bootstrap import scores
from synthloom.evaluate.fitting import stratified_sample
from synthloom.evaluate.splits import EvaluationData
from synthloom.llm.base import ChatBackend
from synthloom.operators.targen.self_correction import SelfCorrection


def generator_zero_shot(
    backend: ChatBackend,
    description: str,
    labels: dict[str, str],
    data: EvaluationData,
    sample: int = 100,
    max_words: int = 80,
    seed: int = 13,
    n_bootstrap: int = 1000,
    templates: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Zero-shot accuracy of the generator model on a stratified real-test sample.

    Args:
        backend: the generator's LLM (responses are cached by the caller's backend, so a
            repeated evaluation sends no request twice).
        description: the task description from the recipe.
        labels: label -> description, from the recipe (the answer is constrained to these).
        data: prepared evaluation data; only its real test split is used.
        sample: real test records to label (all of them if the split is smaller).
        max_words: each text is cut to its first ``max_words`` words, bounding
            prompt tokens on long real documents.
        seed: sampling and bootstrap seed.
        templates: the recipe's overrides of the self-correction templates, so the
            generator is asked exactly as its self-correction step asked.

    Returns:
        ``{"n", "max_words", "unlabelled", "seconds", "labels_offered", "scores"}``;
        ``scores`` as :func:`~synthloom.evaluate.tstr.scores` over the real label set (an
        unlabelled answer counts as wrong).

    Raises:
        BackendError: the backend failed (an unreachable server, for instance).
    """
    chosen = stratified_sample(data.real_test, sample, seed)
    texts = [cut_words(r.text, max_words) for r in chosen]
    labeller = SelfCorrection(backend, description, labels, seed=seed, templates=templates)
    started = time.monotonic()
    predicted = labeller.classify(texts, [r.id for r in chosen])
    seconds = time.monotonic() - started
    y_true = [str(r.label) for r in chosen]
    y_pred = [p if p is not None else "(none)" for p in predicted]
    return {
        "n": len(chosen),
        "max_words": max_words,
        "unlabelled": sum(p is None for p in predicted),
        "seconds": round(seconds, 2),
        "labels_offered": list(labels),
        "scores": scores(y_true, y_pred, data.labels, n_bootstrap, seed),
    }


def cut_words(text: str, max_words: int) -> str:
    """The first ``max_words`` whitespace-separated words of ``text``."""
    parts = text.split()
    return text if len(parts) <= max_words else " ".join(parts[:max_words])
