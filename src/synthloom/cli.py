"""The ``synthloom`` command line: generate, label, evaluate, taxonomy, perturb, export,
review, real, models.

Bad input (a recipe field, a data file, an output directory, a model name) prints one
line naming what is wrong and exits with code 2; Ctrl-C exits with 130 and the run
resumes with ``--resume``.
"""

from __future__ import annotations

import errno
import json
import random
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthloom.cli_review import review
from synthloom.errors import GenerationError, UserInputError
from synthloom.llm.base import BackendError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Synthetic labelled training data with provenance, scored on real data.",
)
console = Console(stderr=True)
out = Console()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. other processes competing for the cores) as one yellow line."""
    console.print(f"[bold yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


warnings.showwarning = _show_warning


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


#: options shared by the commands that run a recipe (generate, label)
ModelOption = Annotated[
    str | None, typer.Option(help="Embedded model name, or the server's model id.")]
BaseUrlOption = Annotated[
    str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.")]
ResumeOption = Annotated[bool, typer.Option(help="Continue the run in OUTPUT.")]
ExecutorOption = Annotated[str, typer.Option(
    help="Where chunks run: local (this process) or ray (Ray Data; "
         "pip install 'synthloom[ray]'; docs/ray.md).")]
AddressOption = Annotated[str | None, typer.Option(
    help="With --executor ray: the cluster to join (HOST:PORT, ray://HOST:PORT or auto); "
         "default: start Ray on this machine.")]
WorkersOption = Annotated[int, typer.Option(
    help="With --executor ray: actors per stage (each loads its own embedded model).")]


@app.command()
def generate(
    recipe_path: Annotated[Path, typer.Argument(help="Recipe YAML file.", metavar="RECIPE")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")],
    n: Annotated[int | None, typer.Option(help="Accepted records wanted (recipe's n).")] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    resume: ResumeOption = False,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = 1,
) -> None:
    """Generate a synthetic dataset from a recipe (the TarGEN preset, or its own steps)."""
    from synthloom.api import generate as generate_data
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

            manifest = generate_data(recipe, output, resume=resume, on_progress=on_progress,
                                     executor=executor, address=address, workers=workers)
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
    table.add_row("rejections_by_operator", json.dumps(manifest["rejections_by_operator"]))
    seeds = manifest.get("seed_examples")
    if seeds:
        table.add_row("seed_examples", f"{seeds['drawn']} drawn, {seeds['labelled']} labelled")
        for step, shown in seeds["shown"].items():
            table.add_row(f"  shown by {step}", f"{shown['cut']} cut to {shown['words']} words")
    for row in manifest.get("curation") or []:
        table.add_row(row["step"], f"{row['dropped']} of {row['records']} dropped, "
                                   f"{row['down_weighted']} down-weighted")
    out.print(table)
    if manifest["accepted"] < manifest["wanted"]:
        console.print(
            f"[yellow]only {manifest['accepted']} of {manifest['wanted']} records "
            "were accepted within the draft budget (the draft step's max_drafts_factor; for "
            "preference runs, also the number of prompts)[/]"
        )


@app.command()
def label(
    source: Annotated[Path, typer.Argument(
        help="File of real texts: JSONL, CSV or Parquet.", metavar="SOURCE")],
    recipe_path: Annotated[Path, typer.Option(
        "--recipe", "-r", help="A teacher_label recipe (YAML).", metavar="RECIPE")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")],
    text_column: Annotated[str | None, typer.Option(
        help="The file's text column (default: the recipe's, else text).")] = None,
    test_labels: Annotated[str | None, typer.Option(
        help="A column of human labels, kept apart: the teacher is scored on them. Without "
             "it the file's labels are never read.", metavar="COLUMN")] = None,
    limit: Annotated[int | None, typer.Option(
        min=1, help="Label only the first N texts.")] = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    resume: ResumeOption = False,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = 1,
) -> None:
    """Label real, unlabelled texts with a teacher (LLM prompts and rules, combined by a
    label model): one record per text, its label, label probabilities and trust weight."""
    from synthloom.labelling import label as label_texts
    from synthloom.labelling import with_source
    from synthloom.pipeline.recipe import load_recipe

    try:  # the recipe, the source and its columns are checked before anything is shown
        recipe = with_source(load_recipe(recipe_path), source, text_column=text_column,
                             test_labels=test_labels, limit=limit)
        with Progress(
            TextColumn("[bold]labelling[/]"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console,
        ) as progress:
            bar = progress.add_task("texts", total=None)

            def on_progress(done: int, wanted: int, stats: dict) -> None:
                progress.update(bar, total=wanted,
                                completed=stats.get("accepted", 0) + stats.get("rejected", 0))

            manifest = label_texts(recipe, None, output, model=model, base_url=base_url,
                                   resume=resume, on_progress=on_progress,
                                   executor=executor, address=address, workers=workers)
    except UserInputError as e:
        _fail(str(e))
    except (BackendError, GenerationError) as e:
        _fail(f"{e}; finished records are kept in {output}, continue with --resume", code=1)
    except KeyboardInterrupt:
        _fail(f"interrupted; continue with: synthloom label {source} --recipe {recipe_path} "
              f"-o {output} --resume", code=130)
    table = Table(title=f"{manifest['task']} -> {output}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("texts", "labelled", "label_model", "mean_trust_weight", "llm_calls",
                "wall_seconds"):
        table.add_row(key, str(manifest.get(key)))
    table.add_row("counts_per_label", json.dumps(manifest["counts_per_label"]))
    table.add_row("no label (by step)", json.dumps(manifest["abstained"]))
    for name, row in manifest["labellers"].items():
        table.add_row(f"  {name}", json.dumps(row))
    out.print(table)
    scores = manifest.get("teacher_test")
    if scores:
        human = manifest["human_labels"]
        dev = (f"; {human['dev']} other human labels chose the label model"
               if human["dev"] else "")
        out.print(f"teacher on {scores['n']} human test labels ('{human['column']}'): "
                  f"accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f} "
                  f"(labelled {scores['coverage']:.0%}{dev})")


@app.command()
def real(
    name: Annotated[str, typer.Argument(help="A named real source: bbc_news, vader_tweets, "
                                              "vader_movie_reviews, ...", metavar="NAME")],
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL file to write.")],
    split: Annotated[str, typer.Option(
        help="train, validation or test (the splits evaluate makes), or all.")] = "train",
    seed: Annotated[int, typer.Option(help="Seed of the splits (evaluate's default).")] = 13,
) -> None:
    """Write a named real source's texts and labels ({"text", "label"} per line, in a
    seeded random order, so the first N lines are a random sample), e.g. to label its
    texts with `synthloom label` (which reads the labels only with --test-labels)."""
    from synthloom.datasets import REAL_SOURCES, load_real, real_splits

    try:
        if name not in REAL_SOURCES:
            raise UserInputError(f"unknown real source {name!r}; known: "
                                 f"{', '.join(REAL_SOURCES)}")
        splits = ("train", "validation", "test", "all")
        if split not in splits:
            raise UserInputError(f"--split must be one of {', '.join(splits)}, not {split!r}")
        records = load_real(name)
        if split != "all":
            records = dict(zip(splits, real_splits(records, seed=seed), strict=False))[split]
        records = random.Random(seed).sample(records, len(records))  # a prefix is a sample
        if output.exists():
            raise UserInputError(f"{output}: exists; choose another file")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("".join(json.dumps({"text": r.text, "label": r.label},
                                             ensure_ascii=False) + "\n" for r in records),
                          encoding="utf-8")
    except UserInputError as e:
        _fail(str(e))
    out.print(f"wrote {len(records)} {name} texts ({split} split) to {output}")


def _share(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _print_judges(judges: dict) -> None:
    """One line per judge reading in the evaluation (the report has the details)."""
    judge = judges.get("judge")
    if judge:
        same = " (the generator's own model)" if judges.get("same_model_as_generator") else ""
        mean = "n/a" if judge["mean"] is None else f"{judge['mean']:.2f}"
        out.print(f"judge {', '.join(judge['models'])}{same}: mean score {mean} on "
                  f"{judge['scale']}, {judge['missing']} missing of {judge['n']}; dropped "
                  f"{judges['dropped_by_judge']['total']}")
    critic = judges.get("double_critic")
    if critic:
        out.print(f"double critic: {critic['n']} judged, both found the label right for "
                  f"{_share(critic['both_correct_rate'])}, the critics disagreed on "
                  f"{_share(critic['disagreement_rate'])}")
    position = judges.get("position_bias")
    if position:
        out.print(f"pairwise judge chose the first slot {_share(position['first_rate'])} of "
                  f"{position['n']} times")
    audit = judges.get("label_audit") or {}
    if audit.get("n_flagged"):
        out.print(f"label audit: {audit['n_flagged']} records flagged by confident learning "
                  "(listed in the report)")


def _print_instruction_evaluation(metrics: dict) -> None:
    """The instruction-set measures: synthetic against real, and real half against half."""
    table = Table(title="instructions: synthetic and real (lengths in words)")
    table.add_column("set")
    for name in ("n", "distinct-2", "Self-BLEU", "NN cosine", "words (median)"):
        table.add_column(name, justify="right")
    for name in ("synthetic", "real"):
        m = metrics.get(name)
        if m:
            words = (m.get("instruction_words") or {}).get("median")
            table.add_row(name, str(m["n"]), _fmt(m["distinct_2"]), _fmt(m["self_bleu"]),
                          _fmt(m["nearest_neighbour_cosine"]), _fmt(words))
    out.print(table)
    for name, title in (("against_real", "synthetic vs real"),
                        ("real_half_vs_half", "real half vs half (reference)")):
        m = metrics.get(name)
        if m:
            out.print(f"{title}: precision {m['precision']:.3f}, recall {m['recall']:.3f}, "
                      f"coverage {m['coverage']:.3f} (n={m['n']} each)")
    for criterion, row in ((metrics.get("synthetic") or {}).get("judge") or {}).items():
        out.print(f"judge {criterion}: mean {row['mean']} over {row['n']}, {row['histogram']}")


def _print_yield(metrics: dict) -> None:
    table = Table(title=f"verifiable run ({metrics.get('domain')}): yield")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key in ("generated", "searched", "with_candidate", "verified", "kept", "k", "pass@1",
                "pass@k"):
        table.add_row(key, _fmt(metrics.get(key)))
    for group in ("text_checked", "search_cost", "llm"):
        for key, value in (metrics.get(group) or {}).items():
            table.add_row(f"{group}.{key}", _fmt(value))
    table.add_row("rejections", json.dumps(metrics.get("rejections") or {}))
    out.print(table)


def _fmt(value: object) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def _print_evaluation(metrics: dict) -> None:
    def cell(m: dict) -> str:
        return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    data = metrics["data"]
    table = Table(title=f"TSTR, tested on {data['n_real_test']} real records")
    for col in ("student", "trained on", "n", "accuracy [95% CI]", "macro-F1 [95% CI]"):
        table.add_column(col, justify="left" if col in ("student", "trained on") else "right")
    for name, s in metrics["students"].items():
        t = s["tstr"]
        table.add_row(name, "synthetic", str(t["n_synthetic"]),
                      cell(t["synthetic"]["accuracy"]), cell(t["synthetic"]["macro_f1"]))
        table.add_row(name, "real", str(t["n_real_train_used"]),
                      cell(t["real"]["accuracy"]), cell(t["real"]["macro_f1"]))
        table.add_row(name, "TSTR ratio", "", fmt(t["tstr_ratio"]["accuracy"]),
                      fmt(t["tstr_ratio"]["macro_f1"]), end_section=True)
    out.print(table)
    majority = (metrics.get("baselines") or {}).get("majority")
    if majority:
        out.print(f"majority-class baseline (always {majority['label']!r}): accuracy "
                  f"{majority['accuracy']:.3f}, macro-F1 {majority['macro_f1']:.3f}")
    if data["missing_in_synthetic"]:
        console.print(
            f"[yellow]labels in real data but not in synthetic: {data['missing_in_synthetic']}[/]"
        )
    div = Table(title="diversity (synthetic vs an equal-sized real sample)")
    for col in ("set", "n", "distinct-1", "distinct-2", "Self-BLEU", "NN cosine", "balance"):
        div.add_column(col, justify="right")
    for name in ("synthetic", "real"):
        d = metrics["diversity"][name]
        div.add_row(name, str(d["n"]), *(fmt(d[k]) for k in (
            "distinct_1", "distinct_2", "self_bleu", "nearest_neighbour_cosine", "label_balance"
        )))
    out.print(div)
    _print_judges(metrics.get("judges") or {})
    colour = {"good": "green", "warn": "yellow", "bad": "red"}
    for f in metrics["verdict"]:
        out.print(f"[{colour[f['level']]}]{f['level']:>4}[/] [bold]{f['topic']}[/]: {f['text']}",
                  highlight=False)


@app.command()
def evaluate(
    run_dir: Annotated[
        Path, typer.Argument(help="Output directory of a generate run.", metavar="DIR")
    ],
    real: Annotated[str | None, typer.Option(
        help="bbc_news, vader_tweets, vader_movie_reviews, vader_amazon_reviews, "
             "vader_nyt_editorials, or a JSONL/CSV/Parquet file; for an instruction run "
             "self_instruct_seed or a JSONL file with instruction/input/output; not needed "
             "for a verifiable run (its yield is read from the run).")] = None,
    student: Annotated[
        list[str] | None,
        typer.Option(help="Student (repeatable): tfidf-lr, embedding-lr, embedding-lr-whole "
                    "(long texts read whole) or module:factory."),
    ] = None,
    text_column: Annotated[str, typer.Option(help="Text column of a real file.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of a real file.")] = "label",
    seed: Annotated[int, typer.Option(help="Seed of the real splits and students.")] = 13,
    real_seed_size: Annotated[
        int, typer.Option(help="Real records in the mixing and trust-weight experiments.")
    ] = 50,
    generator_sample: Annotated[
        int, typer.Option(help="Real test records the generator labels zero-shot (0: skip).")
    ] = 100,
    generator_max_words: Annotated[
        int, typer.Option(help="Words of each real text shown to the generator.")
    ] = 80,
    leakage_threshold: Annotated[
        float, typer.Option(help="Share of leaked synthetic texts that fails the run.")
    ] = 0.01,
    marginal_threshold: Annotated[
        float, typer.Option(help="Flag marginals whose standardized difference exceeds this.")
    ] = 2.0,
    report: Annotated[bool, typer.Option(help="Write report.html.")] = True,
) -> None:
    """Score a synthetic set against real data: TSTR, curves, lambda, distribution, diversity,
    leakage and the generator's own accuracy; writes DIR/metrics.json and DIR/report.html.

    Exits 1 when leakage into the real test split is above the threshold.
    """
    from synthloom.api import evaluate as evaluate_run

    try:
        with console.status("evaluating") as status:
            metrics = evaluate_run(
                run_dir, real, students=student, text_column=text_column,
                label_column=label_column, seed=seed, real_seed_size=real_seed_size,
                generator_sample=generator_sample, generator_max_words=generator_max_words,
                leakage_threshold=leakage_threshold, marginal_threshold=marginal_threshold,
                report=report, on_step=lambda step: status.update(f"evaluating: {step}"),
            )
    except UserInputError as e:
        _fail(str(e))
    except BackendError as e:
        _fail(f"generator check: {e} (use --generator-sample 0 to skip it)", code=1)
    if metrics.get("kind") == "verifiable":
        _print_yield(metrics)
        out.print(f"wrote {run_dir / 'metrics.json'}")
        return
    if metrics.get("kind") == "instruction":
        _print_instruction_evaluation(metrics)
        out.print(f"wrote {run_dir / 'metrics.json'}")
        return
    _print_evaluation(metrics)
    out.print(f"wrote {run_dir / 'metrics.json'}" + (
        f" and {run_dir / 'report.html'}" if report else ""))
    leak = metrics["leakage"]
    if leak["flagged"]:
        _fail(
            f"leakage above the threshold {leak['max_share']:.1%}: "
            f"{leak['ngram']['share']:.1%} share an n-gram and "
            f"{leak['near_duplicate']['share']:.1%} are near-duplicates of the real test split",
            code=1,
        )


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(
        help="Evaluated run directories (e.g. runs anchored in 10, 25, 50, 100 seeds).",
        metavar="DIR...")],
) -> None:
    """Did synthetic data help at each run's number of real examples? One row per run and
    student: the real seeds alone, with the most synthetic records the mixing experiment
    adds (16 times the seeds, at most all), the gain and its
    paired 95% interval, on the real test split (macro-F1 when the classes are imbalanced).
    """
    from synthloom.evaluate.compare import compare_runs

    try:
        rows = compare_runs(run_dirs)
    except UserInputError as e:
        _fail(str(e))
    table = Table(title="real seeds alone, and with the most synthetic records mixing adds "
                        "(16x the seeds, at most all); real test split; F1 = macro-F1, "
                        "used when classes are imbalanced")
    for col in ("run", "seeds", "student", "alone", "+ synthetic", "gain [95% interval]",
                "helped"):
        table.add_column(col, justify="left" if col in ("run", "student", "helped")
                         else "right")
    for r in rows:
        unit = "F1" if r["metric"] == "macro_f1" else "acc"
        interval = "" if r["low"] is None else f" [{r['low']:+.3f}, {r['high']:+.3f}]"
        table.add_row(Path(r["run"]).name, str(r["real_seeds"]), r["student"],
                      f"{r['real_alone']:.3f} {unit}",
                      f"{r['with_synthetic']:.3f} (+{r['n_synthetic']})",
                      f"{r['gain']:+.3f}{interval}", r["helped"])
    out.print(table)


@app.command()
def calibrate(
    recipe: Annotated[Path, typer.Argument(help="Recipe whose judge to calibrate.",
                                           metavar="RECIPE")],
    real: Annotated[str, typer.Option(
        help="Real data people labelled or rated: bbc_news, a vader_* set (labels and "
             "mean ratings), or a JSONL/CSV/Parquet file.")],
    sample: Annotated[int, typer.Option(help="Real records the judge reads.")] = 200,
    rating_column: Annotated[str | None, typer.Option(
        help="Numeric human rating column of a real file (graded calibration).")] = None,
    text_column: Annotated[str, typer.Option(help="Text column of a real file.")] = "text",
    label_column: Annotated[str, typer.Option(help="Label column of a real file.")] = "label",
    max_words: Annotated[int, typer.Option(help="Words of each real text shown.")] = 120,
    output: Annotated[Path, typer.Option("-o", "--out", help="Folder for calibration.json "
                                         "and the response cache.")] = Path("out/calibration"),
) -> None:
    """How far the recipe's judge agrees with people: accuracy and Cohen's kappa against
    human labels; Spearman and Kendall of its judge.pointwise scores against human ratings.
    """
    from synthloom.api import calibrate as calibrate_judge

    try:
        if output.exists() and not output.is_dir():
            raise UserInputError(f"{output}: is a file, not a folder")
        output.mkdir(parents=True, exist_ok=True)
        with console.status("calibrating the judge"):
            result = calibrate_judge(recipe, real, sample=sample, rating_column=rating_column,
                                     text_column=text_column, label_column=label_column,
                                     max_words=max_words, cache=output / "cache.sqlite")
    except UserInputError as e:
        _fail(str(e))
    except BackendError as e:
        _fail(f"judge: {e}", code=1)
    (output / "calibration.json").write_text(json.dumps(result, indent=2))
    same = " (the generator's own model)" if result["same_model_as_generator"] else ""
    table = Table(title=f"judge {result['judge_model']}{same} against people")
    for col in ("reading", "n", "missing", "agreement"):
        table.add_column(col, justify="left" if col in ("reading", "agreement") else "right")
    cat = result["categorical"]
    if cat:
        table.add_row("labels", str(cat["n"]), str(cat["missing"]),
                      f"accuracy {cat['accuracy']:.3f}, Cohen's kappa {cat['cohen_kappa']:.3f}")
    graded = result["graded"]
    if graded:
        for name, g in [*graded["criteria"].items(), ("mean of criteria", graded["mean"])]:
            table.add_row(f"ratings: {name}", str(g["n"]), str(g["missing"]),
                          f"Spearman {g['spearman']:.3f}, Kendall {g['kendall']:.3f}")
    out.print(table)
    out.print(f"wrote {output / 'calibration.json'}")


def _read_run(run_dir: Path) -> list:
    from synthloom.api import read_run

    return read_run(run_dir)


@app.command()
def perturb(
    run_dir: Annotated[Path, typer.Argument(help="Output directory of a generate run.",
                                            metavar="DIR")],
    output: Annotated[Path, typer.Option("--output", "-o", help="New dataset directory.")],
    fraction: Annotated[float, typer.Option(help="Share of records perturbed, 0..1.")] = 0.1,
    mode: Annotated[list[str] | None, typer.Option(
        help="Failure mode (repeatable): typos, casing, spacing, truncation, ambiguity.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Inject failure modes into a fraction of a run's records (labels kept, provenance
    marked) and write them as a new dataset: DIR2/data.jsonl and DIR2/data.parquet."""
    from synthloom.operators.filter.failure_modes import MODES, FailureModeInjector
    from synthloom.records import append_jsonl, write_parquet

    try:
        if output.exists() and any(output.iterdir()):
            raise UserInputError(f"{output}: exists and is not empty")
        records = _read_run(run_dir)
        labels = {str(r.label): str(r.label) for r in records if r.label is not None}
        try:
            injector = FailureModeInjector(fraction, mode or MODES, labels, seed)
        except ValueError as e:
            raise UserInputError(str(e)) from e
        perturbed = injector(records)
        output.mkdir(parents=True, exist_ok=True)
        append_jsonl(output / "data.jsonl", perturbed)
        write_parquet(output / "data.parquet", perturbed)
    except UserInputError as e:
        _fail(str(e))
    changed = sum(1 for r in perturbed if r.provenance.perturbation)
    out.print(f"perturbed {changed} of {len(perturbed)} records; wrote {output}")


def _recipe_kind(run_dir: Path) -> str:
    """The task kind named in a run's ``run.json`` ('unknown' when it names none)."""
    try:
        return str(json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
                   ["recipe"]["task"]["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="Output directory of a generate run.",
                                            metavar="RUN_DIR")],
    output: Annotated[Path, typer.Option("--output", "-o", help=(
        "File to write: JSON lines, or Parquet when it ends with .parquet."))],
    layout: Annotated[str, typer.Option(help=(
        "records (the records as they are, any kind) or a layout of the run's kind, e.g. dpo "
        "(preference: TRL's conversational prompt/chosen/rejected), messages (dialogue, "
        "tool_dialogue), labelled (teacher_label), pairs, triples or listwise (relevance)."
        ))] = "records",
    with_reviews: Annotated[bool, typer.Option(
        "--with-reviews", help="Apply RUN_DIR/reviews.jsonl (synthloom review): rejected "
        "records out, rescued ones in, edits applied and marked as human in provenance."
        )] = False,
) -> None:
    """Write a run's accepted records (RUN_DIR/data.jsonl) in a trainer's layout."""
    from synthloom.records import read_jsonl, write_parquet
    from synthloom.tasks import TASK_KINDS
    from synthloom.tasks.base import layout_rows

    rows: list = []
    try:
        data = run_dir / "data.jsonl"
        if not data.is_file():
            raise UserInputError(f"{run_dir}: not a run (no data.jsonl); run generate first")
        if output.resolve().parent == run_dir.resolve() and output.name in (
                "data.jsonl", "rejected.jsonl", "reviews.jsonl", "drafts.jsonl"):
            raise UserInputError(f"{output}: the run's own file; write the export elsewhere")
        if with_reviews:
            from synthloom.review import ReviewLog, apply_reviews, load_review_run

            run = load_review_run(run_dir)
            for problem in run.problems:
                warnings.warn(problem, RuntimeWarning, stacklevel=1)
            actions = ReviewLog(run_dir).read()
            if not actions:
                warnings.warn(f"{run_dir}: no reviews.jsonl actions; exporting the records "
                              "as generated", RuntimeWarning, stacklevel=1)
            records = apply_reviews(run, actions)
        else:
            records = list(read_jsonl(data))
        kinds = sorted({r.kind for r in records}) or [_recipe_kind(run_dir)]
        layouts = dict(getattr(TASK_KINDS.get(kinds[0]), "layouts", {}), records=None)
        if layout not in layouts or len(kinds) > 1:
            raise UserInputError(f"layout {layout!r} does not fit this run of kind(s) "
                                 f"{', '.join(kinds)}; its layouts: {', '.join(layouts)}")
        if layout == "records" and output.suffix == ".parquet":
            write_parquet(output, records)
        else:
            rows = ([r.model_dump(mode="json") for r in records] if layout == "records"
                    else layout_rows(layouts[layout], records))
            if output.suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                pq.write_table(pa.Table.from_pylist(rows), output)
            else:
                output.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n"
                                          for row in rows), encoding="utf-8")
    except (UserInputError, ValueError) as e:
        _fail(str(e))
    out.print(f"wrote {len(rows) if rows else len(records)} rows ({layout}) to {output}")


@app.command("verify-loop")
def verify_loop(
    domain: Annotated[str, typer.Argument(help="sat, game24, arithmetic or code.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")],
    rounds: Annotated[int, typer.Option(min=1, help="Bootstrap rounds.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of problems, samples and draws.")] = 13,
    held_out: Annotated[int, typer.Option(min=1, help="Fixed held-out problems.")] = 20,
    per_round: Annotated[int, typer.Option(
        min=1, help="New problems searched per round (SAT: training formulas).")] = 20,
    n_vars: Annotated[int, typer.Option(min=3, help="SAT: variables per formula.")] = 50,
    budget: Annotated[int, typer.Option(min=1, help="SAT: decisions per solve.")] = 5000,
    sizes: Annotated[str, typer.Option(
        help="SAT: comma-separated sizes for the reachable-size measure, e.g. 40,60,80.")] = "",
    source: Annotated[str, typer.Option(
        help="LLM domains: generated, or the real set (code: humaneval; game24: tot).")
    ] = "generated",
    start: Annotated[int, typer.Option(
        min=0, help="LLM domains, real set: index where the held-out problems begin.")] = 0,
    samples: Annotated[int, typer.Option(min=1, help="LLM domains: k, samples per problem.")
    ] = 4,
    exemplars: Annotated[int, typer.Option(
        min=0, help="LLM domains: verified pairs shown per prompt from round 1.")] = 3,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.8,
    max_tokens: Annotated[int, typer.Option(min=16, help="LLM domains: tokens per answer.")
    ] = 512,
    model: Annotated[str | None, typer.Option(help="Embedded model or server model id.")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")
    ] = None,
) -> None:
    """Bootstrap a solver: generate problems, search, verify, keep, improve the search.

    SAT retrains a DPLL branching policy on its verified solutions and reports decisions per
    solve on a fixed held-out set; game24, arithmetic and code sample the LLM k times and
    show it the verified pairs kept so far, reporting pass@1, pass@k and majority vote
    against verifier-selected accuracy. Writes OUTPUT/rounds.json and OUTPUT/data.jsonl.
    """
    from synthloom.pipeline.verify_loop import llm_loop, sat_loop

    def say(line: str) -> None:
        console.print(f"[dim]{line}[/]", highlight=False)

    try:
        if domain == "sat":
            try:
                size_list = tuple(int(x) for x in sizes.split(",") if x.strip())
            except ValueError:
                raise UserInputError(f"--sizes: not comma-separated integers: {sizes!r}") \
                    from None
            result = sat_loop(output, rounds=rounds, n_vars=n_vars, train_per_round=per_round,
                              held_out=held_out, budget=budget, sizes=size_list, seed=seed,
                              progress=say)
        else:
            with Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(),
                          MofNCompleteColumn(), TextColumn("problems"), TimeElapsedColumn(),
                          console=console, transient=True) as bars:
                phases: dict[str, Any] = {}

                def on_answers(phase: str, done: int, total: int) -> None:
                    if phase not in phases:
                        phases[phase] = bars.add_task(phase, total=total)
                    bars.update(phases[phase], completed=done)

                result = llm_loop(domain, output, rounds=rounds, source=source,
                                  held_out=held_out, problems_per_round=per_round, start=start,
                                  samples=samples, exemplars=exemplars,
                                  temperature=temperature, max_tokens=max_tokens, seed=seed,
                                  model=model, base_url=base_url, progress=say,
                                  on_answers=on_answers)
    except (UserInputError, ValueError) as e:
        _fail(str(e))
    except BackendError as e:
        _fail(f"{e}; answers so far are cached in {output}/cache.sqlite, rerun to continue",
              code=1)
    rows = result["rounds"]
    # one row per measure, one column per round (a column per measure overflows a terminal)
    table = Table(title=f"verify-loop {domain} -> {output}")
    table.add_column("measure")
    for row in rows:
        table.add_column(f"round {row.get('round')}", justify="right")
    keys = [k for k in rows[0] if k != "round" and not isinstance(rows[0][k], dict | list)
            ] if rows else []
    for key in keys:
        table.add_row(key.replace("held_out_", "held-out "), *[_fmt(row.get(key)) for row in rows])
    out.print(table)
    out.print(f"wrote {output / 'rounds.json'} and {output / 'data.jsonl'}")


@app.command()
def taxonomy(
    task: Annotated[str, typer.Argument(
        help="A recipe YAML file (its description and labels) or a task description.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Taxonomy YAML to write.")],
    factors: Annotated[int, typer.Option(help="Factors of variation besides the topic.")] = 2,
    depth: Annotated[int, typer.Option(help="Levels below each factor.")] = 2,
    breadth: Annotated[int, typer.Option(help="Children kept per node, at most.")] = 4,
    best_of: Annotated[int, typer.Option(help="Proposals per node before the critic.")] = 3,
    model: Annotated[str | None, typer.Option(help="Embedded model or server model id.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Build taxonomies of a task's factors of variation with the LLM (Simula) and write them
    as editable YAML, for a recipe's ``coverage.taxonomy``."""
    from synthloom.llm.models import cache_dir
    from synthloom.operators.plan.taxonomy import dump_taxonomies
    from synthloom.operators.plan.taxonomy_builder import TaxonomyBuilder
    from synthloom.pipeline.backends import make_backend
    from synthloom.pipeline.recipe import BackendConfig, load_recipe, with_backend

    try:
        if task.endswith((".yaml", ".yml")):
            recipe = with_backend(load_recipe(task), model=model, base_url=base_url)
            description, labels, config = recipe.description, recipe.labels, recipe.backend
        else:
            if not task.strip():
                raise UserInputError("the task description is empty")
            description, labels = task, None
            config = BackendConfig(**({"model": model} if model else {}))
            if base_url:
                config = BackendConfig(kind="openai_http", base_url=base_url,
                                       model=model or "default")
        backend = make_backend(config, cache_dir() / "taxonomy-cache.sqlite")
        builder = TaxonomyBuilder(backend, description, labels, factors=factors, depth=depth,
                                  breadth=breadth, best_of=best_of, seed=seed)
        with console.status("building taxonomies (Simula: best-of-N proposals + critic)"):
            taxonomies = builder.build()
        if not taxonomies:
            raise GenerationError("the model proposed no usable taxonomy")
        dump_taxonomies(taxonomies, output)
    except UserInputError as e:
        _fail(str(e))
    except (BackendError, GenerationError) as e:
        _fail(str(e), code=1)
    for t in taxonomies:
        out.print(f"[bold]{t.factor}[/]: {len(t.leaves())} leaves")
    out.print(f"wrote {output} ({builder.calls} LLM calls)")


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


app.command()(review)


def main() -> None:
    """Entry point (``synthloom`` and ``python -m synthloom``).

    An operating-system error no command turned into a message of its own (a read-only
    or full disk, a folder where a file was expected) prints one line naming the path and
    the cause instead of a traceback: exit code 1 for a full disk (nothing the input can
    fix; finished records are kept, continue with ``--resume``), 2 otherwise.
    """
    try:
        app(prog_name="synthloom")
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        cause = e.strerror or str(e)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            console.print(f"[bold red]error:[/] {where}{cause}; records finished before it "
                          "are kept: free some space and run again with --resume",
                          highlight=False, soft_wrap=True)
            sys.exit(1)
        console.print(f"[bold red]error:[/] {where}{cause}", highlight=False, soft_wrap=True)
        sys.exit(2)
