"""Yield accounting of a ``verifiable`` run: how many problems were generated, searched,
verified and kept, what one kept pair cost, and pass@1 / pass@k of the search.

Read from the run folder only (``data.jsonl``, ``rejected.jsonl``, ``manifest.json``):
no LLM call and no real data are needed, because the verifier already decided. pass@k is
the unbiased estimate of Chen et al. (arXiv 2107.03374) from each problem's n samples and
c passing ones; a problem whose search gave no candidate counts as n samples, 0 passing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from synthloom.operators.verify.base import pass_at_k
from synthloom.records import Record


def _search_step(record: Record) -> dict[str, Any] | None:
    for step in reversed(record.provenance.operators):
        if step.operator in ("verify.llm_search", "verify.solver"):
            return step.detail
    return None


def yield_summary(accepted: Sequence[Record], rejected: Sequence[Record],
                  manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """The yield of a verifiable run.

    Returns:
        ``{"kind": "verifiable", "domain": str, "generated": problems drafted,
        "searched": problems the search step ran on, "with_candidate": problems with at
        least one parsed candidate, "verified": problems with a passing candidate, "kept":
        accepted records (after filters), "text_checked": {"checked", "passed"} (word
        problems' second solve, when the run had one), "rejections": {reason head: count},
        "pass@1", "pass@k", "k" (over searched problems; None without LLM samples),
        "search_cost": {"unit", "total", "per_kept", "median_per_solved"} (solver runs),
        "llm": {"calls", "tokens_out", "calls_per_kept", "tokens_out_per_kept"} (from the
        manifest)}``.
    """
    everything = [*accepted, *rejected]
    searched = [r for r in everything if _search_step(r) is not None]
    verdicts = [r.verdict("verifier") for r in everything]
    verified = sum(1 for v in verdicts if v is not None and v.passed)
    with_candidate = sum(1 for r in everything if r.verdict("verifier") is not None)
    rows: list[tuple[int, int]] = []
    costs: list[int] = []
    unit = None
    for r in searched:
        detail = _search_step(r) or {}
        v = r.verdict("verifier")
        if detail.get("method") == "llm":
            n = int(detail.get("samples") or 0)
            c = int((v.detail.get("candidates_passed") if v else 0) or 0)
            if n:
                rows.append((n, c))
        elif detail.get("cost_unit"):
            unit = str(detail["cost_unit"])
            costs.append(int((detail.get("cost") or {}).get(unit, 0)))
    k = min(n for n, _ in rows) if rows else None
    text_checks = [r.verdict("text_check") for r in everything]
    text_checks = [v for v in text_checks if v is not None]
    reasons = Counter(r.rejected.reason.split(":")[0].split("(")[0].strip()
                      for r in rejected if r.rejected is not None)
    kept = len(accepted)
    out: dict[str, Any] = {
        "kind": "verifiable",
        "domain": str(next((r.inputs.get("domain") for r in everything), "") or ""),
        "generated": len(everything), "searched": len(searched),
        "with_candidate": with_candidate, "verified": verified, "kept": kept,
        "rejections": dict(reasons.most_common()),
        "k": k,
        "pass@1": round(sum(pass_at_k(n, c, 1) for n, c in rows) / len(rows), 4)
        if rows else None,
        "pass@k": round(sum(pass_at_k(n, c, k) for n, c in rows) / len(rows), 4)
        if rows and k else None,
    }
    if text_checks:
        out["text_checked"] = {"checked": len(text_checks),
                               "passed": sum(1 for v in text_checks if v.passed)}
    if unit:
        solved = sorted(costs)
        out["search_cost"] = {"unit": unit, "total": sum(costs),
                              "per_kept": round(sum(costs) / kept, 1) if kept else None,
                              "median_per_problem": solved[len(solved) // 2] if solved else None}
    if manifest:
        calls, tokens = int(manifest.get("llm_calls") or 0), int(manifest.get("tokens_out") or 0)
        out["llm"] = {"calls": calls, "tokens_out": tokens,
                      "calls_per_kept": round(calls / kept, 2) if kept else None,
                      "tokens_out_per_kept": round(tokens / kept, 1) if kept else None,
                      "wall_seconds": manifest.get("wall_seconds")}
    return out


__all__ = ["yield_summary"]
