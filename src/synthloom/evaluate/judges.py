"""The ``judges`` section of ``metrics.json``: what the run's judges, critics and label audit
said, and bias checks of the set against real data.

Verdicts read (see :class:`~synthloom.records.Verdict`): ``judge`` (pointwise rubric scores),
``double_critic``, ``debate``, ``pairwise``, ``self_consistency`` and ``label_noise``
(confident learning). The generator's label is ``provenance.target_label`` (the record's
label when unset). Bias checks are in :mod:`synthloom.evaluate.bias`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthloom.evaluate.bias import (
    compare_term_rates,
    length_correlation,
    position_bias,
    vocabulary_skew,
)
from synthloom.records import Record

JUDGE_CHECKS = frozenset({"judge", "double_critic", "debate", "pairwise", "label_noise"})
"""Verdict checks whose presence makes the section worth writing without real data."""
AUDIT_CAP = 50
"""Most label-audit entries listed (``label_audit.n_flagged`` counts them all)."""
TEXT_CHARS = 200
"""Characters of text shown per label-audit entry."""


def judges_section(
    accepted: Sequence[Record],
    rejected: Sequence[Record],
    real_texts: Sequence[str] | None,
    real_labels: Sequence[str] | None,
) -> dict[str, Any] | None:
    """Judges, critics, label audit and bias checks of a run, for ``metrics["judges"]``.

    Args:
        accepted: the run's accepted records (``data.jsonl``): the set the bias checks read.
        rejected: its rejected records (``rejected.jsonl``); judge statistics read both, so
            that records a judge dropped count in its score distribution.
        real_texts, real_labels: real data, aligned (labels optional: without them there is
            no vocabulary skew).

    Returns:
        None when no record carries a ``judge``, ``double_critic``, ``debate``,
        ``pairwise`` or ``label_noise`` verdict and no real texts are given; else::

            {"n_records": int (accepted + rejected),
             "judge": {"n", "missing", "mean", "quantiles": {"0.1", "0.5", "0.9"},
                       "scale": [lo, hi] | None, "passed", "failed", "models"} | None,
             "same_model_as_generator": bool, "same_model_by": [verdict "by"],
             "dropped_by_judge": {"total": int, "by_operator": {operator: int}},
             "double_critic": {"n", "both_correct_rate", "disagreement_rate",
                               "undecided"} | None,
             "debate": {"n", "passed", "decisions": {decision | "undecided": int},
                        "mean_rounds"} | None,
             "position_bias": see bias.position_bias | None,
             "length_correlation": see bias.length_correlation | None,
             "label_audit": {"n_flagged": int, "records": [{"id", "text", "label",
                 "rejected", "self_correction", "cleanlab_predicted",
                 "cleanlab_probability", "given_probability", "judge_score",
                 "double_critic": {"passed", "confirm", "refute"} | None}]},
             "vocabulary_skew": {label: [...]} | None, "term_rates": [...] | None}

        Scores are on the rubric's scale (``judge.scale``), rates are shares in 0..1 (None
        with nothing to count): ``both_correct_rate`` of the records judged,
        ``disagreement_rate`` of those both critics answered (``undecided``: the others);
        ``n`` counts records with that verdict; ``judge.missing`` counts judge verdicts
        without a score (no criterion answered), left out of mean and quantiles.

    Raises:
        ValueError: ``real_texts`` and ``real_labels`` differ in length.
    """
    records = [*accepted, *rejected]
    judged = any(v.check in JUDGE_CHECKS for r in records for v in r.verification)
    if not judged and not real_texts:
        return None
    same_by = sorted({v.by for r in records for v in r.verification
                      if v.detail.get("same_model_as_generator") is True})
    dropped = Counter(r.rejected.operator for r in rejected if r.rejected
                      and (r.rejected.operator.startswith("judge.")
                           or r.rejected.operator == "curate.judge"))
    out: dict[str, Any] = {
        "n_records": len(records),
        "judge": _judge_scores(records),
        "same_model_as_generator": bool(same_by),
        "same_model_by": same_by,
        "dropped_by_judge": {"total": sum(dropped.values()), "by_operator": dict(sorted(
            dropped.items()))},
        "double_critic": _double_critic(records),
        "debate": _debate(records),
        "position_bias": position_bias(records),
        "length_correlation": length_correlation(records),
        "label_audit": _label_audit(accepted, rejected),
        "vocabulary_skew": None,
        "term_rates": None,
    }
    if real_texts:
        syn = [r for r in accepted if r.text]
        out["term_rates"] = compare_term_rates([r.text for r in syn], real_texts)
        labelled = [r for r in syn if r.label is not None]
        if real_labels is not None and labelled:
            out["vocabulary_skew"] = vocabulary_skew(
                [r.text for r in labelled], [str(r.label) for r in labelled],
                real_texts, [str(x) for x in real_labels])
    return out


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _verdicts(records: Sequence[Record], check: str) -> list[tuple[Record, Any]]:
    """(record, its latest ``check`` verdict) for the records that have one."""
    return [(r, v) for r in records if (v := r.verdict(check)) is not None]


def _judge_scores(records: Sequence[Record]) -> dict[str, Any] | None:
    verdicts = [v for _, v in _verdicts(records, "judge")]
    if not verdicts:
        return None
    scores = np.array([v.score for v in verdicts if v.score is not None], dtype=float)
    models = {str(v.detail.get("judge_model") or v.by.partition("/")[2] or v.by)
              for v in verdicts}
    scale = next((list(v.detail["scale"]) for v in verdicts if v.detail.get("scale")), None)
    return {
        "n": len(verdicts),
        "missing": len(verdicts) - len(scores),
        "mean": round(float(scores.mean()), 4) if len(scores) else None,
        "quantiles": {str(q): (round(float(np.quantile(scores, q)), 4) if len(scores)
                               else None) for q in (0.1, 0.5, 0.9)},
        "scale": scale,
        "passed": sum(v.passed is True for v in verdicts),
        "failed": sum(v.passed is False for v in verdicts),
        "models": sorted(models),
    }


def _double_critic(records: Sequence[Record]) -> dict[str, Any] | None:
    verdicts = [v for _, v in _verdicts(records, "double_critic")]
    if not verdicts:
        return None
    views = [v.detail.get("critics") or {} for v in verdicts]
    decided = [c for c in views if c.get("confirm") is not None and c.get("refute") is not None]
    n = len(verdicts)
    return {
        "n": n,
        "both_correct_rate": _rate(sum(v.passed is True for v in verdicts), n),
        "disagreement_rate": _rate(sum(c["confirm"] != c["refute"] for c in decided),
                                   len(decided)),
        "undecided": n - len(decided),
    }


def _debate(records: Sequence[Record]) -> dict[str, Any] | None:
    verdicts = [v for _, v in _verdicts(records, "debate")]
    if not verdicts:
        return None
    rounds = [v.detail["rounds"] for v in verdicts
              if isinstance(v.detail.get("rounds"), int | float)]
    return {
        "n": len(verdicts),
        "passed": sum(v.passed is True for v in verdicts),
        "decisions": dict(sorted(Counter(
            "undecided" if (d := v.detail.get("decision")) is None else str(d)
            for v in verdicts).items())),
        "mean_rounds": round(sum(rounds) / len(rounds), 2) if rounds else None,
    }


def _label_audit(accepted: Sequence[Record], rejected: Sequence[Record]) -> dict[str, Any]:
    """Records flagged by ``label_noise`` (accepted first, then rejected), each beside the
    other checks' views of its label; the first :data:`AUDIT_CAP` are listed."""
    flagged = [(r, v, dropped) for group, dropped in ((accepted, False), (rejected, True))
               for r in group if (v := r.verdict("label_noise")) is not None
               and v.passed is False]
    rows = []
    for r, noise, dropped in flagged[:AUDIT_CAP]:
        sc, judge, critic = (r.verdict(c) for c in ("self_consistency", "judge",
                                                    "double_critic"))
        rows.append({
            "id": r.id,
            "text": r.text[:TEXT_CHARS],
            "label": r.provenance.target_label or r.label,
            "rejected": dropped,
            "self_correction": sc.detail.get("predicted") if sc else None,
            "cleanlab_predicted": noise.detail.get("predicted"),
            "cleanlab_probability": noise.detail.get("predicted_probability"),
            "given_probability": noise.score,
            "judge_score": judge.score if judge else None,
            "double_critic": {"passed": critic.passed,
                              **{k: (critic.detail.get("critics") or {}).get(k)
                                 for k in ("confirm", "refute")}} if critic else None,
        })
    return {"n_flagged": len(flagged), "records": rows}
