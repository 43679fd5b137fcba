"""Calibration mode: a person rates a stratified sample blind, then the page shows how far
the run's judges agree with that person.

Blind means the page shows the record's content only: no verdicts, judge scores, trust
weight or rejection, and for a classification record not its label either (the person
gives their own). The agreement statistics are those of
:mod:`synthloom.evaluate.calibration`: Cohen's kappa for categorical verdicts (a label, a
pass/fail), Spearman's rho for graded ones (rubric scores), and the score cut that best
matches the person's keep/drop decisions (:func:`~synthloom.evaluate.calibration.
best_threshold`).
"""

from __future__ import annotations

from typing import Any

from synthloom.datasets import stratified_sample
from synthloom.evaluate.calibration import best_threshold, categorical_agreement, graded_agreement
from synthloom.records import Record
from synthloom.review.log import ReviewAction
from synthloom.review.run import ReviewRun

#: fields that carry a model's judgement (or the answer: a relevance query's source
#: document), removed at any depth from a blind view
HIDDEN_KEYS = frozenset({
    "score", "scores", "votes", "judge", "verdict", "probabilities", "label_probs", "trust",
    "agreement", "low", "high", "margin", "p_a", "firsts", "pairs", "source", "source_id",
    "source_rank", "source_fused_rank", "fused_rank", "features", "method", "judge_calls",
    "score_chosen", "score_rejected", "candidates_scores"})


def blind_sample(run: ReviewRun, n: int, seed: int = 0) -> list[str]:
    """Ids of ``n`` records for a person to rate blind: drawn from accepted and rejected
    records whose kind fields are complete (a rejected record a judge cut counts too: a cut
    is calibrated on both sides), the proportions of each stratum (the kind's: a
    classification record's label) crossed with accepted/rejected kept
    (:func:`synthloom.datasets.stratified_sample`); deterministic for ``seed``.

    Raises:
        ValueError: ``n`` < 1.
    """
    if n < 1:
        raise ValueError(f"the calibration sample needs at least 1 record, got {n}")
    pool = [r for r in run.records.values()
            if run.task is None or not run.task.missing_fields(r)]
    # strata: the kind's stratum (the label of a classification record) x accepted/rejected
    keyed = [r.model_copy(update={"label": f"{_stratum(run, r)}|{run.status[r.id]}"})
             for r in pool]
    return [r.id for r in stratified_sample(keyed, n, seed)]


def _stratum(run: ReviewRun, record: Record) -> str:
    if run.task is None:
        return str(record.label)
    try:
        return str(run.task.stratum_of(record))
    except (ValueError, KeyError, TypeError, AttributeError):
        return "?"


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in HIDDEN_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def blind_view(run: ReviewRun, record: Record) -> dict[str, Any]:
    """What the calibration page shows of ``record``: ``{"id", "kind", "inputs",
    "outputs", "label"}`` without any model judgement (:data:`HIDDEN_KEYS` removed at any
    depth) and, for a labelled kind, ``label`` None (the person gives theirs). A preference
    record's chosen and rejected responses are shown as ``response_1`` and ``response_2``
    in an order drawn from the record id, so their names do not give the judge's pick."""
    outputs = _scrub(record.outputs)
    if record.kind == "preference" and "chosen" in outputs and "rejected" in outputs:
        pair = [outputs.pop("chosen"), outputs.pop("rejected")]
        if int(record.id.encode().hex()[-2:], 16) % 2:
            pair.reverse()
        outputs = {"response_1": pair[0], "response_2": pair[1], **outputs}
    return {"id": record.id, "kind": record.kind, "inputs": _scrub(record.inputs),
            "outputs": outputs, "label": None if run.labels else record.label}


def _judge_mean(record: Record, criteria: list[str]) -> float | None:
    """The judge's mean score over ``criteria`` (the ones the person rated), or None when
    it scored none of them."""
    verdict = record.verdict("judge")
    scores = (verdict.detail.get("scores") or {}) if verdict is not None else {}
    given = [scores[c] for c in criteria if scores.get(c) is not None]
    return sum(given) / len(given) if given else None


def _run_cut(run: ReviewRun) -> dict[str, float] | None:
    """The judge cut the run applied, as ``{"min_score"}`` (a recipe's ``min_score``), or
    ``{"drop_quantile", "min_score"}`` with the lowest judge score an accepted record kept
    (a quantile cut), or None."""
    if not run.judge_cut:
        return None
    if "min_score" in run.judge_cut:
        return {"min_score": run.judge_cut["min_score"]}
    kept = [v.score for rid, r in run.records.items() if run.status[rid] == "accepted"
            and (v := r.verdict("judge")) is not None and v.score is not None]
    return {**run.judge_cut, "min_score": min(kept)} if kept else None


def _stat(compute: Any, *args: Any) -> dict[str, Any]:
    try:
        return compute(*args)
    except ValueError as e:
        return {"error": str(e)}


def latest_blind_ratings(actions: list[ReviewAction],
                         who: str | None = None) -> dict[str, ReviewAction]:
    """Record id -> the latest blind rating of it (a person may change their mind), by
    ``who`` only when given (else by anyone: the latest of any reviewer)."""
    out: dict[str, ReviewAction] = {}
    for action in sorted(actions, key=lambda a: a.seq):
        if action.action == "rate" and action.blind and who in (None, action.who):
            out[action.record] = action
    return out


def calibration_result(run: ReviewRun, actions: list[ReviewAction],
                       who: str | None = None) -> dict[str, Any]:
    """The run's judges against the person's blind ratings (``who``'s only, when given;
    else the latest blind rating of each record by anyone).

    Returns:
        ``{"rated": n, "reviewers": [names], "agreement": [{"judge", "statistic",
        "result"}], "threshold": {"score", "result", "current"} or None}``. ``agreement``
        holds, where the run has them: the self-consistency check's predicted label and the
        generator's label against the person's label (Cohen's kappa); each rubric criterion,
        and the judge's mean over the criteria the person rated, against the person's
        scores (Spearman); each pass/fail check against the person's keep (kappa).
        ``threshold``: the cut on the judge's mean score (else the trust weight) that best
        matches the person's keep, and the agreement of the run's own cut when it had one
        (``min_score``, or the lowest score a ``drop_quantile`` cut kept). A statistic that
        cannot be computed (fewer than 3 rated items, say) is ``{"error": reason}``.
    """
    ratings = latest_blind_ratings(actions, who)
    rated = [(run.records[rid], a) for rid, a in ratings.items() if rid in run.records]
    rows: list[dict[str, Any]] = []
    labelled = [(r, a) for r, a in rated if a.label is not None]
    if labelled and run.labels:
        people = [str(a.label) for _, a in labelled]
        if any(r.verdict("self_consistency") for r, _ in labelled):
            predicted = [(v.detail.get("predicted") if (v := r.verdict("self_consistency"))
                          else None) for r, _ in labelled]
            rows.append({"judge": "self-consistency (predicted label)", "statistic": "kappa",
                         "result": _stat(categorical_agreement, predicted, people)})
        rows.append({"judge": "generator's label", "statistic": "kappa",
                     "result": _stat(categorical_agreement, [r.label for r, _ in labelled],
                                     people)})
    scored = [(r, a) for r, a in rated if a.scores]
    if scored and any(r.verdict("judge") for r, _ in scored):
        for criterion in run.rubric:
            name = criterion["name"]
            pairs = [(r, a) for r, a in scored if name in (a.scores or {})]
            if not pairs:
                continue
            judged = [((v.detail.get("scores") or {}).get(name) if (v := r.verdict("judge"))
                       else None) for r, _ in pairs]
            rows.append({"judge": f"judge: {name}", "statistic": "spearman", "result": _stat(
                graded_agreement, judged, [(a.scores or {})[name] for _, a in pairs])})
        rows.append({"judge": "judge: mean score", "statistic": "spearman", "result": _stat(
            graded_agreement, [_judge_mean(r, list(a.scores or {})) for r, a in scored],
            [sum(a.scores.values()) / len(a.scores) for _, a in scored if a.scores])})
    decided = [(r, a) for r, a in rated if a.keep is not None]
    checks = sorted({v.check for r, _ in decided for v in r.verification
                     if v.passed is not None})
    for check in checks:
        passed = [(v.passed if (v := r.verdict(check)) else None) for r, _ in decided]
        rows.append({"judge": f"{check} pass/fail vs keep", "statistic": "kappa",
                     "result": _stat(categorical_agreement, passed,
                                     [bool(a.keep) for _, a in decided])})
    threshold = None
    if decided:
        use_judge = any(r.verdict("judge") and r.verdict("judge").score is not None
                        for r, _ in decided)
        scores = [(r.verdict("judge").score if r.verdict("judge") else None) if use_judge
                  else r.trust_weight for r, _ in decided]
        keeps = [bool(a.keep) for _, a in decided]
        current = None
        cut = _run_cut(run) if use_judge else None
        if cut is not None:
            current = {**cut, "result": _stat(
                categorical_agreement,
                [None if s is None else s >= cut["min_score"] for s in scores], keeps)}
        threshold = {"score": "judge mean score" if use_judge else "trust weight",
                     "result": _stat(best_threshold, scores, keeps), "current": current}
    return {"rated": len(rated), "reviewers": sorted({a.who for _, a in rated}),
            "agreement": rows, "threshold": threshold}
