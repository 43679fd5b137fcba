"""``report.html``: one self-contained page (charts embedded as PNG data URIs, no scripts,
no external requests) that shows the evaluation's verdict first, then each measurement with a
chart and a short reading of what it shows."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from synthloom.evaluate import plots


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _match_size(curve: list[dict[str, Any]], target: float) -> int | None:
    """Smallest training size on ``curve`` whose accuracy reaches ``target``."""
    return next((p["n"] for p in curve if p["accuracy"] >= target), None)


def readings(m: dict[str, Any]) -> dict[str, str]:
    """One short paragraph per section, read off the metrics."""
    students = m["students"]
    out: dict[str, str] = {}
    parts = []
    for name, s in students.items():
        t = s["tstr"]
        gaps = {
            label: t["real"]["per_class_f1"][label] - f1
            for label, f1 in t["synthetic"]["per_class_f1"].items()
        }
        worst = max(gaps, key=lambda k: gaps[k])
        ratio = t["tstr_ratio"]["accuracy"]
        parts.append(
            f"With {name}, synthetic training data reaches {_fmt(ratio)} of the accuracy of as "
            f"much real data; the class it serves worst is '{worst}' (F1 "
            f"{t['synthetic']['per_class_f1'][worst]:.2f} against "
            f"{t['real']['per_class_f1'][worst]:.2f} from real data)."
        )
    out["tstr"] = " ".join(parts)
    parts = []
    for name, s in students.items():
        syn, real = s["learning_curves"]["synthetic"], s["learning_curves"]["real"]
        best = syn[-1]
        match = _match_size(real, best["accuracy"])
        parts.append(
            f"{name}: all {best['n']} synthetic records give {best['accuracy']:.3f}; "
            + (
                "no real training size measured reaches it."
                if match is None
                else f"real data reaches that with {match} records or fewer (the smallest "
                "size measured)."
                if match == real[0]["n"]
                else f"real data reaches that with {match} records."
            )
            + (
                " The synthetic curve is still rising at its end."
                if len(syn) > 1 and syn[-1]["accuracy"] > syn[-2]["accuracy"] + 0.01
                else " The synthetic curve has flattened."
                if len(syn) > 1
                else ""
            )
        )
    out["curves"] = " ".join(parts)
    parts = []
    for name, s in students.items():
        points = s["mixing"]["points"]
        base = points[0]["accuracy"]
        parts.append(
            f"{name}: " + ", ".join(
                f"+{p['ratio']}x {p['accuracy'] - base:+.3f}" for p in points[1:]
            ) + f" against {s['mixing']['n_real']} real records alone ({base:.3f})."
        )
    out["mixing"] = "Change in accuracy from adding synthetic records: " + " ".join(parts)
    out["trust_weight"] = " ".join(
        f"{name}: lambda {s['trust_weight']['chosen_lambda']:g} has the best validation "
        "macro-F1" + (
            "; the validation split prefers no synthetic data." if
            s["trust_weight"]["chosen_lambda"] == 0 else "."
        )
        for name, s in students.items()
    ) + (" Lambda is chosen on the validation split only; test scores are shown for "
         "reading, never for choosing.")
    d = m["distribution"]
    out["distribution"] = (
        f"{d['precision']:.0%} of synthetic records fall inside the real data's k-NN manifold "
        f"(precision) and {d['recall']:.0%} of real records inside the synthetic one (recall); "
        f"{d['coverage']:.0%} of real records have a synthetic record among their nearest "
        "neighbours (coverage). High precision with low recall is the usual shape of synthetic "
        "data that is realistic but narrow."
    )
    marg = m["marginals"]
    out["marginals"] = (
        "Flagged: " + "; ".join(
            f"{name} (synthetic mean {marg['features'][name]['synthetic']['mean']:.2f}, real "
            f"{marg['features'][name]['real']['mean']:.2f})" for name in marg["flagged"]
        ) + "."
        if marg["flagged"]
        else "No marginal is flagged."
    )
    syn, real = m["diversity"]["synthetic"], m["diversity"]["real"]
    out["diversity"] = (
        f"Self-BLEU {_fmt(syn['self_bleu'])} against {_fmt(real['self_bleu'])} for real and "
        f"nearest-neighbour cosine {_fmt(syn['nearest_neighbour_cosine'])} against "
        f"{_fmt(real['nearest_neighbour_cosine'])}: higher means the texts are more alike."
    )
    leak = m["leakage"]
    out["leakage"] = (
        f"{leak['ngram']['leaked']} of {leak['ngram']['total']} synthetic texts share a "
        f"{leak['ngram']['n']}-gram with the real test split; {leak['near_duplicate']['leaked']}"
        f" are within cosine {leak['near_duplicate']['threshold']:g} of a real test text "
        f"(closest: {_fmt(leak['near_duplicate']['max_cosine'])}). "
        + ("FLAGGED: above" if leak["flagged"] else "Below")
        + f" the {leak['max_share']:.0%} threshold."
        + (
            f" For comparison, {base['leaked']} of {base['total']} real train texts share a "
            f"{base['n']}-gram with the real test split."
            if (base := leak.get("ngram_real_baseline"))
            else ""
        )
    )
    gen = m.get("generator")
    if gen:
        acc = gen["scores"]["accuracy"]
        best = max(s["tstr"]["synthetic"]["accuracy"]["value"] for s in students.values())
        out["generator"] = (
            f"Zero-shot, the generator labels {acc['value']:.3f} [{acc['low']:.3f}, "
            f"{acc['high']:.3f}] of {gen['n']} real test records correctly (texts cut to "
            f"{gen['max_words']} words; {gen['unlabelled']} unanswered). The best student "
            f"trained on its synthetic data scores {best:.3f}: the student "
            + ("beats" if best > acc["value"] else "does not beat") + " its teacher."
        )
    return out


def charts(m: dict[str, Any]) -> dict[str, Any]:
    """Every chart of the report as a data URI."""
    labels = m["data"]["labels"]
    out: dict[str, Any] = {
        "learning_curves": plots.learning_curves(m["students"]),
        "mixing": plots.mixing(m["students"]),
        "trust_weight": plots.trust_weight(m["students"]),
        "projection": plots.projection(m["projection"]),
        "marginals": plots.marginals(m["marginals"]),
        "confusion": {
            name: plots.confusion(
                {
                    "trained on synthetic": s["tstr"]["synthetic"]["confusion"],
                    "trained on real": s["tstr"]["real"]["confusion"],
                },
                labels,
            )
            for name, s in m["students"].items()
        },
    }
    if m.get("generator"):
        out["generator"] = plots.confusion(
            {"generator, zero-shot": m["generator"]["scores"]["confusion"]}, labels
        )
    return out


def render_report(metrics: dict[str, Any], title: str = "") -> str:
    """The report's HTML for metrics from :func:`~synthloom.evaluate.summary.evaluate_synthetic`.

    Raises:
        jinja2.UndefinedError: the metrics lack a field the report shows.
    """
    env = Environment(
        loader=PackageLoader("synthloom.evaluate", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
    )
    template = env.get_template("report.html.j2")
    return template.render(
        m=metrics,
        first=next(iter(metrics["students"].values())),
        title=title,
        readings=readings(metrics),
        charts=charts(metrics),
        fmt=_fmt,
        created=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_report(path: str | Path, metrics: dict[str, Any], title: str = "") -> Path:
    """Render and write ``report.html`` atomically (temporary file, then rename)."""
    path = Path(path)
    html = render_report(metrics, title)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(html)
    os.replace(tmp, path)
    return path
