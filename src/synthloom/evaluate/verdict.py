"""The summary at the top of a report: each measurement read as one finding.

A finding is ``{"level": "good" | "warn" | "bad", "topic": str, "text": str}``. The
thresholds are reading aids, stated in each text, not pass marks from a paper:
TSTR ratio >= 0.9 good, >= 0.75 warn, below bad; a student trained on synthetic data at or
below the majority-class baseline in macro-F1 bad, in accuracy alone warn; embedding recall
or coverage below 0.3 warn;
a flagged marginal warn; leakage above its threshold bad.
"""

from __future__ import annotations

from typing import Any


def _tstr_finding(name: str, tstr: dict[str, Any]) -> dict[str, str]:
    ratio = tstr["tstr_ratio"]["accuracy"]
    syn = tstr["synthetic"]["accuracy"]["value"]
    real = tstr["real"]["accuracy"]["value"]
    level = "good" if ratio and ratio >= 0.9 else "warn" if ratio and ratio >= 0.75 else "bad"
    ratio_text = "n/a" if ratio is None else f"{ratio:.2f}"
    return {
        "level": level,
        "topic": f"TSTR ({name})",
        "text": f"trained on {tstr['n_synthetic']} synthetic records the student scores "
        f"{syn:.3f} accuracy on real test data, against {real:.3f} when trained on as many "
        f"real records: ratio {ratio_text} (good >= 0.90, weak < 0.75).",
    }


def _baseline_finding(name: str, tstr: dict[str, Any], majority: dict[str, Any]
                      ) -> dict[str, str]:
    acc = tstr["synthetic"]["accuracy"]["value"]
    f1 = tstr["synthetic"]["macro_f1"]["value"]
    beats_acc, beats_f1 = acc > majority["accuracy"], f1 > majority["macro_f1"]
    level = "good" if beats_acc and beats_f1 else "bad" if not beats_f1 else "warn"
    return {
        "level": level,
        "topic": f"baseline ({name})",
        "text": f"always answering {majority['label']!r} scores {majority['accuracy']:.3f} "
        f"accuracy and {majority['macro_f1']:.3f} macro-F1 on the real test split; the "
        f"student trained on synthetic data scores {acc:.3f} and {f1:.3f}"
        + ("" if beats_acc else ": no better than the majority class in accuracy") + ".",
    }


def _mixing_finding(name: str, mix: dict[str, Any]) -> dict[str, str]:
    base = mix["points"][0]
    best = max(mix["points"][1:], key=lambda p: p["accuracy"], default=base)
    gain = best["accuracy"] - base["accuracy"]
    level = "good" if gain > 0.01 else "warn" if gain >= -0.01 else "bad"
    return {
        "level": level,
        "topic": f"mixing ({name})",
        "text": f"{mix['n_real']} real records alone: {base['accuracy']:.3f}; best with "
        f"synthetic added (+{best['n_synthetic']}): {best['accuracy']:.3f} ({gain:+.3f}).",
    }


def _lambda_finding(name: str, sweep: dict[str, Any]) -> dict[str, str]:
    lam = sweep["chosen_lambda"]
    chosen = next(p for p in sweep["points"] if p["lambda"] == lam)
    return {
        "level": "good" if lam > 0 else "warn",
        "topic": f"trust weight ({name})",
        "text": f"lambda chosen on the real validation split: {lam:g} (test accuracy "
        f"{chosen['test']['accuracy']:.3f})"
        + ("" if lam > 0 else "; validation prefers the real seed set without synthetic data")
        + ".",
    }


def verdict(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """Findings, most important first: TSTR, leakage, generator, distribution, mixing."""
    findings: list[dict[str, str]] = []
    students = metrics["students"]
    majority = (metrics.get("baselines") or {}).get("majority")
    for name, s in students.items():
        findings.append(_tstr_finding(name, s["tstr"]))
        if majority:
            findings.append(_baseline_finding(name, s["tstr"], majority))
    leak = metrics["leakage"]
    findings.append({
        "level": "bad" if leak["flagged"] else "good",
        "topic": "leakage",
        "text": f"{leak['ngram']['leaked']} of {leak['ngram']['total']} synthetic texts share "
        f"a {leak['ngram']['n']}-gram with the real test split and "
        f"{leak['near_duplicate']['leaked']} are near-duplicates (cosine >= "
        f"{leak['near_duplicate']['threshold']:g}); threshold {leak['max_share']:.0%}.",
    })
    gen = metrics.get("generator")
    if gen:
        teacher = gen["scores"]["accuracy"]["value"]
        best_name, best = max(
            ((n, s["tstr"]["synthetic"]["accuracy"]["value"]) for n, s in students.items()),
            key=lambda x: x[1],
        )
        findings.append({
            "level": "good" if best > teacher else "warn",
            "topic": "generator",
            "text": f"the generator labels {teacher:.3f} of {gen['n']} real test records "
            f"correctly zero-shot; the best student ({best_name}) scores {best:.3f}: the "
            f"student {'beats' if best > teacher else 'does not beat'} its teacher.",
        })
    dist = metrics["distribution"]
    low = min(dist["recall"], dist["coverage"]) < 0.3
    findings.append({
        "level": "warn" if low else "good",
        "topic": "distribution",
        "text": f"embedding precision {dist['precision']:.2f}, recall {dist['recall']:.2f}, "
        f"coverage {dist['coverage']:.2f} (n={dist['n']} per set; recall or coverage under "
        "0.30 means much of the real data has no synthetic look-alike).",
    })
    flagged = metrics["marginals"]["flagged"]
    findings.append({
        "level": "warn" if flagged else "good",
        "topic": "marginals",
        "text": (
            f"flagged (|standardized difference| > {metrics['marginals']['threshold']:g}): "
            + ", ".join(
                f"{f} ({metrics['marginals']['features'][f]['standardized_difference']:+.1f})"
                for f in flagged
            )
            if flagged
            else "no marginal differs by more than "
            f"{metrics['marginals']['threshold']:g} standard deviations."
        ),
    })
    for name, s in students.items():
        findings.append(_mixing_finding(name, s["mixing"]))
        findings.append(_lambda_finding(name, s["trust_weight"]))
    return findings
