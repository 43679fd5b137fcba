"""The ``synthloom`` command line: generate, evaluate, models.

Bad input (a recipe field, a data file, an output directory, a model name) prints one
line naming what is wrong and exits with code 2; Ctrl-C exits with 130 and the run
resumes with ``--resume``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthloom.errors import GenerationError, UserInputError
from synthloom.llm.base import BackendError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Synthetic labelled training data with provenance, scored on real data.",
)
console = Console(stderr=True)
out = Console()


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def generate(
    recipe_path: Annotated[Path, typer.Argument(help="Recipe YAML file.", metavar="RECIPE")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")],
    n: Annotated[int | None, typer.Option(help="Accepted records wanted (recipe's n).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Embedded model name, or the server's model id.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in OUTPUT.")] = False,
) -> None:
    """Generate a labelled synthetic dataset from a task description (TarGEN)."""
    from synthloom.pipeline.local import run_recipe
    from synthloom.pipeline.recipe import load_recipe, with_backend

    try:
        recipe = with_backend(load_recipe(recipe_path, n=n), model=model, base_url=base_url)
        with Progress(
            TextColumn("[bold]generating[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            bar = progress.add_task("records", total=recipe.n, status="planning")

            def on_progress(accepted: int, wanted: int, stats: dict) -> None:
                rate = stats.get("acceptance_rate")
                status = f"accepted {rate:.0%}" if rate is not None else ""
                progress.update(bar, completed=min(accepted, wanted), status=status)

            manifest = run_recipe(recipe, output, resume=resume, on_progress=on_progress)
    except UserInputError as e:
        _fail(str(e))
    except (BackendError, GenerationError) as e:
        _fail(f"{e}; finished records are kept in {output}, continue with --resume", code=1)
    except KeyboardInterrupt:
        _fail(
            f"interrupted; continue with: synthloom generate {recipe_path} -o {output} --resume",
            code=130,
        )
    table = Table(title=f"{manifest['task']} -> {output}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in (
        "accepted",
        "rejected",
        "acceptance_rate",
        "flip_rate",
        "tokens_in",
        "tokens_out",
        "llm_calls",
        "wall_seconds",
        "accepted_per_minute",
    ):
        table.add_row(key, str(manifest.get(key)))
    table.add_row("counts_per_label", json.dumps(manifest["counts_per_label"]))
    out.print(table)
    if manifest["accepted"] < manifest["wanted"]:
        console.print(
            f"[yellow]only {manifest['accepted']} of {manifest['wanted']} records "
            "were accepted within the draft budget (targen.max_drafts_factor)[/]"
        )


@app.command()
def evaluate(
    run_dir: Annotated[
        Path, typer.Argument(help="Output directory of a generate run.", metavar="DIR")
    ],
    real: Annotated[str, typer.Option(help="'bbc_news' or a JSONL/CSV/Parquet file.")],
    student: Annotated[str, typer.Option(help="Student model.")] = "tfidf-lr",
    text_column: Annotated[str, typer.Option(help="Text column of a real file.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of a real file.")] = "label",
    seed: Annotated[int, typer.Option(help="Seed of the real train/test split.")] = 13,
) -> None:
    """Train on synthetic, test on real (TSTR) against an equal-sized real baseline."""
    from synthloom.datasets import load_real
    from synthloom.evaluate.summary import evaluate_synthetic
    from synthloom.evaluate.tstr import write_metrics
    from synthloom.records import read_jsonl, read_parquet

    try:
        parquet, jsonl = run_dir / "data.parquet", run_dir / "data.jsonl"
        if parquet.exists():
            synthetic = read_parquet(parquet)
        elif jsonl.exists():
            synthetic = list(read_jsonl(jsonl))
        else:
            raise UserInputError(f"{run_dir}: no data.parquet or data.jsonl (run generate first)")
        kwargs = (
            {} if real == "bbc_news" else {"text_column": text_column, "label_column": label_column}
        )
        real_records = load_real(real, **kwargs)
        metrics = evaluate_synthetic(synthetic, real_records, student=student, seed=seed)
        write_metrics(run_dir / "metrics.json", metrics)
    except UserInputError as e:
        _fail(str(e))
    table = Table(title=f"TSTR: {student}, tested on {metrics['n_real_test']} real records")
    table.add_column("trained on")
    table.add_column("n", justify="right")
    table.add_column("accuracy [95% CI]", justify="right")
    table.add_column("macro-F1 [95% CI]", justify="right")

    def cell(m: dict) -> str:
        return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"

    table.add_row(
        "synthetic",
        str(metrics["n_synthetic"]),
        cell(metrics["synthetic"]["accuracy"]),
        cell(metrics["synthetic"]["macro_f1"]),
    )
    table.add_row(
        "real",
        str(metrics["n_real_train_used"]),
        cell(metrics["real"]["accuracy"]),
        cell(metrics["real"]["macro_f1"]),
    )
    ratio = metrics["tstr_ratio"]

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    table.add_row("TSTR ratio", "", fmt(ratio["accuracy"]), fmt(ratio["macro_f1"]))
    out.print(table)
    if metrics.get("missing_in_synthetic"):
        console.print(
            f"[yellow]labels in real data but not in synthetic: "
            f"{metrics['missing_in_synthetic']}[/]"
        )
    div = Table(title="diversity (synthetic vs an equal-sized real sample)")
    for col in ("set", "n", "distinct-1", "distinct-2", "Self-BLEU", "label balance"):
        div.add_column(col, justify="right")
    for name in ("synthetic", "real"):
        d = metrics["diversity"][name]
        div.add_row(
            name,
            str(d["n"]),
            str(d["distinct_1"]),
            str(d["distinct_2"]),
            str(d["self_bleu"]),
            str(d["label_balance"]),
        )
    out.print(div)
    leak = metrics["leakage"]
    out.print(
        f"leakage: {leak['leaked']} of {leak['total']} synthetic texts share a "
        f"{leak['n']}-gram with the real test split ({leak['share']:.1%})"
    )
    out.print(f"wrote {run_dir / 'metrics.json'}")
    if leak["flagged"]:
        _fail(
            f"leakage {leak['share']:.1%} is above the threshold {leak['threshold']:.1%}: "
            "synthetic texts overlap the real test split",
            code=1,
        )


@app.command()
def models() -> None:
    """The embedded models: weights, licence, sha256, measured speed."""
    from synthloom.llm.models import DEFAULT_MODEL, MODELS, installed, weights_location

    for m in MODELS.values():
        title = m.name + (" (default)" if m.name == DEFAULT_MODEL else "")
        table = Table(show_header=False, title=title, title_justify="left")
        table.add_column("field", style="bold")
        table.add_column("value", overflow="fold")
        table.add_row("description", m.description)
        table.add_row("installed", "yes" if installed(m) else "no")
        table.add_row("licence", m.license)
        table.add_row("tokens/s", f"~{m.tokens_per_second:g} (2 cores, measured)")
        table.add_row("label followed", f"{m.label_following} (n=20)")
        table.add_row("sha256", m.sha256)
        table.add_row("packages", " ".join(m.packages))
        table.add_row("weights", weights_location(m))
        out.print(table)
    out.print("Weights are sha256-checked before loading; a mismatch is refused.")


def main() -> None:  # pragma: no cover
    """Entry point."""
    sys.exit(app())
