"""The summary at the top of a report: each measurement read as one finding.

A finding is ``{"level": "good" | "warn" | "bad", "topic": str, "text": str}``. The
thresholds are reading aids, stated in each text, not pass marks from a paper:
TSTR ratio >= 0.9 good, >= 0.75 warn, below bad; a student trained on synthetic data at or
below the majority-class baseline in macro-F1 bad, in accuracy alone warn; embedding recall
or coverage below 0.3 warn;
a flagged marginal warn; leakage above its threshold bad; a real-vs-synthetic classifier's
ROC AUC under 0.70 good, under 0.90 warn, else bad.

On imbalanced real data (the majority class holds over 1.5 times the share of a balanced
split) the TSTR, mixing, trust-weight and generator findings read macro-F1 instead of
accuracy, and say so: an accuracy ratio there can look good while the student is worse
than always answering the majority class.
"""

from __future__ import annotations

from typing import Any


def headline_metric(metrics: dict[str, Any]) -> str:
    """``macro_f1`` when the real test split is imbalanced (see the module docstring),
    else ``accuracy``."""
    majority = (metrics.get("baselines") or {}).get("majority")
    labels = metrics.get("data", {}).get("labels") or []
    if majority and labels and majority["accuracy"] > 1.5 / len(labels):
        return "macro_f1"
    return "accuracy"


_SAID = {"accuracy": "accuracy", "macro_f1": "macro-F1 (the real classes are imbalanced)"}


def _tstr_finding(name: str, tstr: dict[str, Any], metric: str = "accuracy"
                  ) -> dict[str, str]:
    ratio = tstr["tstr_ratio"][metric]
    syn = tstr["synthetic"][metric]["value"]
    real = tstr["real"][metric]["value"]
    level = "good" if ratio and ratio >= 0.9 else "warn" if ratio and ratio >= 0.75 else "bad"
    ratio_text = "n/a" if ratio is None else f"{ratio:.2f}"
    return {
        "level": level,
        "topic": f"TSTR ({name})",
        "text": f"trained on {tstr['n_synthetic']} synthetic records the student scores "
        f"{syn:.3f} {_SAID[metric]} on real test data, against {real:.3f} when trained on "
        f"as many real records: ratio {ratio_text} (good >= 0.90, weak < 0.75).",
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


def _mixing_finding(name: str, mix: dict[str, Any], metric: str = "accuracy",
                    seeds: str = "") -> dict[str, str]:
    """Read the point with the most synthetic records added (16x the seeds, at most all),
    not the best of the points on the test split (choosing on test flatters); with its
    paired interval when the metrics have one."""
    base = mix["points"][0]
    every = max(mix["points"][1:], key=lambda p: p["n_synthetic"], default=base)
    gain = every[metric] - base[metric]
    said = _SAID[metric]
    interval = (every.get("gain") or {}).get(metric)
    if interval:
        low, high = interval["low"], interval["high"]
        level = "good" if low > 0 else "bad" if high < 0 else "warn"
        reading = ("adds to" if low > 0 else "takes away from" if high < 0
                   else "makes no clear difference to")
        spread = f" (95% interval {low:+.3f} to {high:+.3f})"
    else:
        level = "good" if gain > 0.01 else "warn" if gain >= -0.01 else "bad"
        reading, spread = ("adds to" if gain > 0.01 else "does not add to"), ""
    return {
        "level": level,
        "topic": f"mixing ({name})",
        "text": f"{mix['n_real']} real records{seeds} alone: {base[metric]:.3f} {said}; "
        f"with {every['n_synthetic']} synthetic records added: {every[metric]:.3f} "
        f"({gain:+.3f}{spread}): synthetic data {reading} these real records.",
    }


def _lambda_finding(name: str, sweep: dict[str, Any], metric: str = "accuracy"
                    ) -> dict[str, str]:
    lam = sweep["chosen_lambda"]
    chosen = next(p for p in sweep["points"] if p["lambda"] == lam)
    return {
        "level": "good" if lam > 0 else "warn",
        "topic": f"trust weight ({name})",
        "text": f"lambda chosen on the real validation split: {lam:g} (test "
        f"{_SAID[metric]} {chosen['test'][metric]:.3f})"
        + ("" if lam > 0 else "; validation prefers the real seed set without synthetic data")
        + ".",
    }


def verdict(metrics: dict[str, Any]) -> list[dict[str, str]]:
    """Findings, most important first: TSTR, leakage, generator, distribution, mixing."""
    findings: list[dict[str, str]] = []
    students = metrics["students"]
    majority = (metrics.get("baselines") or {}).get("majority")
    metric = headline_metric(metrics)
    for name, s in students.items():
        findings.append(_tstr_finding(name, s["tstr"], metric))
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
        teacher = gen["scores"][metric]["value"]
        best_name, best = max(
            ((n, s["tstr"]["synthetic"][metric]["value"]) for n, s in students.items()),
            key=lambda x: x[1],
        )
        findings.append({
            "level": "good" if best > teacher else "warn",
            "topic": "generator",
            "text": f"the generator scores {teacher:.3f} {_SAID[metric]} zero-shot on "
            f"{gen['n']} real test records; the best student ({best_name}) scores "
            f"{best:.3f}: the student {'beats' if best > teacher else 'does not beat'} its "
            "teacher.",
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
    realism = metrics.get("realism")
    if realism:
        worst = max(realism["tfidf"]["auc"], realism["embedding"]["auc"])
        findings.append({
            "level": "good" if worst < 0.7 else "warn" if worst < 0.9 else "bad",
            "topic": "realism",
            "text": f"a classifier tells synthetic from real texts with ROC AUC "
            f"{realism['tfidf']['auc']:.2f} on words and {realism['embedding']['auc']:.2f} on "
            f"embeddings ({realism['n_per_set']} of each, {realism['folds']}-fold; 0.5 = "
            "indistinguishable, good < 0.70, bad >= 0.90).",
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
    own = metrics.get("data", {}).get("real_seed_source") == "the run's seed examples"
    for name, s in students.items():
        findings.append(_mixing_finding(name, s["mixing"], metric,
                                        " (the run's seed examples)" if own else ""))
        findings.append(_lambda_finding(name, s["trust_weight"], metric))
    window = metrics.get("data", {}).get("embedding_window")
    if window and "embedding-lr" in students and window["real"]["share_cut"] > 0:
        real = window["real"]
        findings.append({
            "level": "warn" if real["share_cut"] >= 0.2 else "good",
            "topic": "embedding window",
            "text": f"embedding-lr reads the first {real['max_tokens']} tokens of a text: "
                    f"{real['share_cut']:.0%} of the real test texts are longer, "
                    f"{real['share_tokens_unseen']:.0%} of their tokens unseen"
                    + (" (the embedding-lr-whole student reads them whole)."
                       if real["share_cut"] >= 0.2 else "."),
        })
    return findings


def run_findings(run: dict[str, Any]) -> list[dict[str, str]]:
    """Findings from the run's manifest (``metrics["run"]``): the share of generated texts
    the copy guard rejected as copies of a seed example (warn at 10% or more: the
    generator leans on the examples it is shown), and what curation dropped."""
    out: list[dict[str, str]] = []
    rejected = run.get("rejections_by_operator") or {}
    made = int(run.get("accepted", 0)) + int(run.get("rejected", 0))
    copies = int(rejected.get("filter.copy_guard", 0))
    if made and "seed_examples" in run:
        share = copies / made
        out.append({
            "level": "warn" if share >= 0.1 else "good",
            "topic": "copy guard",
            "text": f"{copies} of {made} finished texts ({share:.0%}) copied a seed example "
                    "and were rejected (each names the seed in collided_with).",
        })
    for row in run.get("curation") or []:
        share = row["dropped"] / row["records"] if row["records"] else 0.0
        out.append({
            "level": "warn" if share > 0.3 else "good",
            "topic": f"curation ({row['step']})",
            "text": f"of {row['records']} records, {row['dropped']} dropped and "
                    f"{row['down_weighted']} down-weighted.",
        })
    return out
