"""Calibration of a recipe's judges against people, on real records the people rated.

Two readings, whichever the real data allows:

- **categorical** (real records with labels, a classification recipe): the judge labels
  each text blind (the self-correction prompt, answer constrained to the label set), and
  its labels are compared with the people's: accuracy and Cohen's kappa.
- **graded** (real records with a human rating, e.g. VADER's mean of about 20 people's
  ratings from -4 to +4): the recipe's pointwise judge scores each text on its rubric, and
  each criterion's scores (and their mean) are rank-correlated with the ratings: Spearman
  and Kendall. The rubric must ask what the people rated (a ``positivity`` criterion for
  sentiment ratings): the default rubric's relevance or naturalness are not sentiment.

A judge answer that is missing stays missing (counted, never coerced).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from synthloom.evaluate.calibration import categorical_agreement, graded_agreement
from synthloom.evaluate.fitting import stratified_sample
from synthloom.evaluate.generator_check import cut_words
from synthloom.llm.base import ChatBackend
from synthloom.operators.judge.pointwise import Criterion, PointwiseJudge
from synthloom.operators.targen.self_correction import SelfCorrection
from synthloom.records import Record


def categorical_check(backend: ChatBackend, description: str, labels: dict[str, str],
                      records: Sequence[Record], *, sample: int = 200, max_words: int = 120,
                      seed: int = 13) -> dict[str, Any]:
    """The judge's blind labels of a stratified sample of labelled real ``records``
    against their labels.

    Returns:
        :func:`~synthloom.evaluate.calibration.categorical_agreement`'s dict plus
        ``seconds`` and ``max_words`` (each text cut to its first ``max_words`` words).

    Raises:
        ValueError: fewer than 3 records the judge labelled.
    """
    chosen = stratified_sample([r for r in records if r.label in labels], sample, seed)
    texts = [cut_words(r.text, max_words) for r in chosen]
    started = time.monotonic()
    predicted = SelfCorrection(backend, description, labels, seed=seed).classify(
        texts, [r.id for r in chosen])
    out = categorical_agreement(predicted, [str(r.label) for r in chosen])
    return {**out, "seconds": round(time.monotonic() - started, 1), "max_words": max_words}


def graded_check(backend: ChatBackend, description: str, unit: str,
                 criteria: list[Criterion], texts: Sequence[str], ratings: Sequence[float],
                 *, max_words: int = 120, seed: int = 13) -> dict[str, Any]:
    """Pointwise judge scores of ``texts`` on ``criteria`` against human ``ratings``.

    Returns:
        ``{"n", "seconds", "criteria": {name: graded_agreement}, "mean": graded_agreement}``
        (``mean`` = the verdict's score, the mean over criteria).

    Raises:
        ValueError: ``texts`` and ``ratings`` differ in length, or fewer than 3 scored.
    """
    if len(texts) != len(ratings):
        raise ValueError(f"{len(texts)} texts but {len(ratings)} ratings")
    records = [Record(id=f"r{i}", task="calibration", inputs={"text": cut_words(t, max_words)},
                      origin="real") for i, t in enumerate(texts)]
    judge = PointwiseJudge(backend, description, unit, criteria, seed=seed)
    started = time.monotonic()
    judged = judge(records)
    verdicts = [r.verdict("judge") for r in judged]
    per = {c.name: graded_agreement([v.detail["scores"][c.name] for v in verdicts],
                                    list(ratings)) for c in criteria}
    return {"n": len(texts), "seconds": round(time.monotonic() - started, 1),
            "criteria": per, "mean": graded_agreement([v.score for v in verdicts],
                                                      list(ratings))}
