"""Charts for the evaluation report, as PNG data URIs (matplotlib, Agg backend).

Each function takes parts of the metrics dict from
:func:`~synthloom.evaluate.summary.evaluate_synthetic` and returns ``data:image/png;base64,...``
so the report stays one self-contained file.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SYNTHETIC_COLOUR = "#d95f02"
REAL_COLOUR = "#1b9e77"


def _uri(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _panels(n: int, width: float = 4.6, height: float = 3.4) -> tuple[Any, list[Any]]:
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, list(axes[0])


def learning_curves(students: dict[str, Any]) -> str:
    """Test accuracy against training size, synthetic and real, one panel per student."""
    fig, axes = _panels(len(students))
    for ax, (name, s) in zip(axes, students.items(), strict=True):
        for key, colour in (("synthetic", SYNTHETIC_COLOUR), ("real", REAL_COLOUR)):
            points = s["learning_curves"][key]
            ax.errorbar(
                [p["n"] for p in points], [p["accuracy"] for p in points],
                yerr=[p["accuracy_std"] for p in points], marker="o", color=colour, label=key,
                capsize=3,
            )
        ax.set_xscale("log")
        ax.set_xlabel("training records")
        ax.set_ylabel("accuracy on real test")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _uri(fig)


def mixing(students: dict[str, Any]) -> str:
    """Accuracy of a real seed set plus 0x, 1x, 4x, 16x synthetic, one line per student."""
    fig, axes = _panels(1, width=5.5)
    ax = axes[0]
    for name, s in students.items():
        points = s["mixing"]["points"]
        ax.plot(
            [str(p["ratio"]) + ("*" if p["capped"] else "") for p in points],
            [p["accuracy"] for p in points], marker="o", label=name,
        )
    n_real = next(iter(students.values()))["mixing"]["n_real"]
    ax.set_xlabel(f"synthetic records per real record ({n_real} real; * = all there are)")
    ax.set_ylabel("accuracy on real test")
    ax.grid(alpha=0.3)
    ax.legend()
    return _uri(fig)


def trust_weight(students: dict[str, Any]) -> str:
    """Validation and test macro-F1 against lambda, the chosen lambda marked."""
    fig, axes = _panels(len(students))
    for ax, (name, s) in zip(axes, students.items(), strict=True):
        sweep = s["trust_weight"]
        lambdas = [p["lambda"] for p in sweep["points"]]
        for split, style in (("validation", "-o"), ("test", "--s")):
            ax.plot(lambdas, [p[split]["macro_f1"] for p in sweep["points"]], style, label=split)
        ax.axvline(sweep["chosen_lambda"], color="grey", linestyle=":", label="chosen")
        ax.set_xlabel("lambda (synthetic sample weight)")
        ax.set_ylabel("macro-F1")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend()
    return _uri(fig)


def projection(proj: dict[str, Any]) -> str:
    """2-D PCA scatter of real and synthetic embeddings."""
    fig, axes = _panels(1, width=5.5, height=4.5)
    ax = axes[0]
    for key, colour in (("real", REAL_COLOUR), ("synthetic", SYNTHETIC_COLOUR)):
        xy = proj[key]
        ax.scatter([p[0] for p in xy], [p[1] for p in xy], s=8, alpha=0.5, color=colour,
                   label=f"{key} ({len(xy)})")
    ev = proj["explained_variance"]
    ax.set_xlabel(f"PC1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({ev[1]:.0%})")
    ax.legend()
    return _uri(fig)


def marginals(marg: dict[str, Any]) -> str:
    """Histograms of each marginal, synthetic against real (densities)."""
    names = list(marg["features"])
    fig, axes = _panels(len(names), width=4.0)
    for ax, name in zip(axes, names, strict=True):
        values = {k: np.asarray(marg["values"][k][name], dtype=float) for k in ("real",
                                                                               "synthetic")}
        both = np.concatenate(list(values.values()))
        bins: Any = 30
        if name == "length_tokens" and both.size and both.min() >= 1 and both.max() > 10 * max(
            both.min(), 1
        ):  # lengths spanning orders of magnitude read better on a log axis
            bins = np.logspace(np.log10(both.min()), np.log10(both.max()), 30)
            ax.set_xscale("log")
        for key, colour in (("real", REAL_COLOUR), ("synthetic", SYNTHETIC_COLOUR)):
            ax.hist(values[key], bins=bins, density=True, alpha=0.55, color=colour, label=key)
        d = marg["features"][name]["standardized_difference"]
        flag = " (flagged)" if marg["features"][name]["flagged"] else ""
        ax.set_title(f"{name}\nstd. difference {d:+.2f}{flag}", fontsize=10)
        ax.legend()
    return _uri(fig)


def confusion(matrices: dict[str, list[list[int]]], labels: list[str]) -> str:
    """Confusion matrices side by side (rows true, columns predicted)."""
    fig, axes = _panels(len(matrices), width=3.9, height=3.6)
    for ax, (title, matrix) in zip(axes, matrices.items(), strict=True):
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        top = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                        color="white" if v > top / 2 else "black")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    return _uri(fig)
