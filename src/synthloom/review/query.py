"""Browsing a run on the review page: one summary row per record, filters, and facets (the
values each filter can take, with counts)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from synthloom.records import Record
from synthloom.review.apply import ReviewState
from synthloom.review.run import ReviewRun

#: query parameters :func:`filter_rows` understands
FILTERS = ("status", "decision", "kind", "label", "check", "verdict", "min_score", "max_score",
           "min_trust", "max_trust", "reason", "perturbation", "q")


def text_of(run: ReviewRun, record: Record) -> str:
    """The record's main text as its kind shows it (a dialogue's transcript, a query...),
    else its inputs as JSON."""
    if run.task is not None:
        try:
            text = run.task.text_of(record)
            if text:
                return str(text)
        except Exception:  # noqa: BLE001 - a damaged or edited record is shown as JSON
            pass
    return record.text or json.dumps(record.inputs, ensure_ascii=False)


def judge_score(record: Record) -> float | None:
    """The latest pointwise judge's mean score of the record, or None."""
    verdict = record.verdict("judge")
    return verdict.score if verdict is not None else None


def summary(run: ReviewRun, record: Record, state: ReviewState | None) -> dict[str, Any]:
    """One list row: ``{"id", "status", "decision", "edited", "rated", "kind", "label",
    "text" (at most 300 characters), "trust_weight", "judge_score", "checks": [{"check",
    "passed", "score"}], "rejection": {"operator", "reason"} or None, "perturbation"}``."""
    shown = state.record if state is not None else record
    text = text_of(run, shown)
    return {
        "id": record.id, "status": run.status[record.id],
        "decision": state.decision if state is not None else None,
        "edited": bool(state and state.edited_fields),
        "rated": bool(state and any(a.action == "rate" for a in state.actions)),
        "kind": record.kind, "label": shown.label,
        "text": text[:300] + ("…" if len(text) > 300 else ""),
        "trust_weight": shown.trust_weight, "judge_score": judge_score(record),
        "checks": [{"check": v.check, "passed": v.passed, "score": v.score}
                   for v in record.verification],
        "rejection": record.rejected.model_dump() if record.rejected else None,
        "perturbation": (record.provenance.perturbation or {}).get("mode"),
    }


def _number(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _matches(run: ReviewRun, record: Record, state: ReviewState | None,
             f: dict[str, Any]) -> bool:
    shown = state.record if state is not None else record
    status = f.get("status") or "all"
    if status != "all" and run.status[record.id] != status:
        return False
    decision = f.get("decision")
    if decision:
        actions = state.actions if state is not None else []
        if decision == "unreviewed" and actions:
            return False
        if decision == "edited" and not (state and state.edited_fields):
            return False
        if decision == "rated" and not any(a.action == "rate" for a in actions):
            return False
        if decision in ("accepted", "rejected", "rescued") and (
                state is None or state.decision != decision):
            return False
    if f.get("kind") and record.kind != f["kind"]:
        return False
    if f.get("label") and str(shown.label) != f["label"]:
        return False
    if f.get("check"):
        verdict = record.verdict(f["check"])
        if verdict is None:
            return False
        want = f.get("verdict")
        if want == "passed" and verdict.passed is not True:
            return False
        if want == "failed" and verdict.passed is not False:
            return False
    score = judge_score(record)
    lo, hi = _number(f.get("min_score"), "min_score"), _number(f.get("max_score"), "max_score")
    if (lo is not None or hi is not None) and score is None:
        return False
    if (lo is not None and score < lo) or (hi is not None and score > hi):
        return False
    lo, hi = _number(f.get("min_trust"), "min_trust"), _number(f.get("max_trust"), "max_trust")
    if (lo is not None and shown.trust_weight < lo) or (hi is not None
                                                        and shown.trust_weight > hi):
        return False
    if f.get("reason") and (record.rejected is None or f["reason"] not in (
            record.rejected.operator, record.rejected.reason)):
        return False
    mode = (record.provenance.perturbation or {}).get("mode")
    want_mode = f.get("perturbation")
    if want_mode == "none" and mode is not None:
        return False
    if want_mode == "any" and mode is None:
        return False
    if want_mode not in (None, "", "any", "none") and mode != want_mode:
        return False
    q = (f.get("q") or "").strip().lower()
    if q:
        haystack = " ".join((text_of(run, shown), shown.model_dump_json(
            include={"id", "label", "inputs", "outputs", "rejected"}))).lower()
        if not all(word in haystack for word in q.split()):
            return False
    return True


def filter_rows(run: ReviewRun, states: dict[str, ReviewState], filters: dict[str, Any],
                offset: int = 0, limit: int = 50) -> dict[str, Any]:
    """The records that pass every filter, as summary rows.

    Args:
        filters: any of :data:`FILTERS`: ``status`` (accepted, rejected, all), ``decision``
            (unreviewed, accepted, rejected, rescued, edited, rated), ``kind``, ``label``,
            ``check`` (a verdict's check, e.g. ``self_consistency``) with ``verdict``
            (passed, failed), ``min_score``/``max_score`` (judge score), ``min_trust``/
            ``max_trust``, ``reason`` (a rejection's operator or reason), ``perturbation``
            (a failure mode, ``any`` or ``none``), ``q`` (words that must all appear, case
            ignored, in the text, label, fields or rejection).
        offset, limit: the page of rows (records).

    Returns:
        ``{"total": matching records, "offset", "rows": [summary rows]}``.

    Raises:
        ValueError: a number filter is not a number.
    """
    hits = [rid for rid, record in run.records.items()
            if _matches(run, record, states.get(rid), filters)]
    rows = [summary(run, run.records[rid], states.get(rid))
            for rid in hits[offset:offset + limit]]
    return {"total": len(hits), "offset": offset, "rows": rows}


def facets(run: ReviewRun) -> dict[str, dict[str, int]]:
    """The values the filters can take in this run, each with its number of records:
    ``{"status", "kind", "label", "check", "reason", "perturbation"}``."""
    out: dict[str, Counter] = {k: Counter() for k in (
        "status", "kind", "label", "check", "reason", "perturbation")}
    for rid, record in run.records.items():
        out["status"][run.status[rid]] += 1
        out["kind"][record.kind] += 1
        if record.label is not None:
            out["label"][record.label] += 1
        for check in {v.check for v in record.verification}:
            out["check"][check] += 1
        if record.rejected is not None:
            out["reason"][record.rejected.operator] += 1
        if mode := (record.provenance.perturbation or {}).get("mode"):
            out["perturbation"][mode] += 1
    return {k: dict(sorted(c.items())) for k, c in out.items()}
