"""Apply a run's curate steps to its finished records, once, safely across a crash.

The steps' decisions (each record's verdicts, trust weight and rejection, and its label and
outputs when a step changed them, as a label model does) are computed over every accepted
record and saved to ``plan/curated.json`` before any file changes;
then the dropped records are appended to ``rejected.jsonl`` (each once) and
``data.jsonl`` is rewritten atomically without them. A run killed anywhere in between
resumes by applying the saved decisions again, which changes nothing already applied; a
run with saved decisions does not generate more records to refill what curation dropped.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from synthloom.records import Record, append_jsonl, write_json_atomic

DECISIONS = "curated.json"


def curated(out: Path) -> bool:
    """Whether the run in ``out`` has applied (or started applying) its curate steps."""
    return (out / "plan" / DECISIONS).exists()


def _decide(curators: list[tuple[str, Any]], accepted: list[Record]) -> dict[str, Any]:
    records, log = accepted, []
    for name, curator in curators:
        before = sum(r.rejected is None for r in records)
        kept = [r for r in records if r.rejected is None]
        done = {r.id: r for r in curator.curate(kept)}
        records = [done.get(r.id, r) for r in records]
        after = sum(r.rejected is None for r in records)
        log.append({"step": name, "records": before, "dropped": before - after,
                    "down_weighted": sum(done[r.id].trust_weight < r.trust_weight
                                         for r in kept if r.id in done)})
    given = {r.id: r for r in accepted}
    return {"log": log, "records": {
        r.id: {"trust_weight": r.trust_weight,
               "verification": [v.model_dump(mode="json") for v in r.verification],
               "rejected": r.rejected.model_dump(mode="json") if r.rejected else None,
               **_relabelled(given.get(r.id), r)}
        for r in records}}


def _relabelled(before: Record | None, after: Record) -> dict[str, Any]:
    """``{"label", "outputs"}`` of ``after`` when a curator changed either (a label model
    does), else ``{}`` (decisions of other curate steps stay as they were)."""
    if before is not None and (before.label, before.outputs) == (after.label, after.outputs):
        return {}
    return {"label": after.label, "outputs": after.model_dump(mode="json")["outputs"]}


def saved_rounds(out: Path) -> list[dict[str, Any]]:
    """The error-round log saved with a curated run's decisions (counted before curation)."""
    return json.loads((out / "plan" / DECISIONS).read_text(encoding="utf-8")).get("rounds", [])


def curate_run(out: Path, curators: list[tuple[str, Any]], accepted: list[Record],
               rejected: list[Record], rounds: list[dict[str, Any]] | None = None,
               ) -> tuple[list[Record], list[Record], list[dict]]:
    """Curate ``accepted`` with ``curators`` (``[(step type, runtime object)]``) and update
    the run's files; ``rounds`` (the error-round log) is saved with the decisions, so a
    resumed run reports it as it was (see :func:`saved_rounds`). Returns ``(kept,
    rejected, log)``; ``log`` has one row per step: ``{"step", "records", "dropped",
    "down_weighted"}``. Without curators, nothing changes.
    """
    if not curators:
        return accepted, rejected, []
    path = out / "plan" / DECISIONS
    if path.exists():
        decisions = json.loads(path.read_text(encoding="utf-8"))
    else:
        decisions = {**_decide(curators, accepted), "rounds": rounds or []}
        write_json_atomic(path, decisions)
    kept, dropped = [], []
    for r in accepted:
        d = decisions["records"].get(r.id)
        if d is not None:
            r = Record.model_validate({**r.model_dump(mode="json"), **d})
        (dropped if r.rejected is not None else kept).append(r)
    already = {r.id for r in rejected if r.rejected and r.rejected.operator.startswith("curate.")}
    fresh = [r for r in dropped if r.id not in already]
    append_jsonl(out / "rejected.jsonl", fresh)
    _rewrite_jsonl(out / "data.jsonl", kept)
    return kept, rejected + fresh, decisions["log"]


def _rewrite_jsonl(path: Path, records: list[Record]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(r.model_dump_json() + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
