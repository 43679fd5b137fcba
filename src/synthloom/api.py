"""The Python API: what ``import synthloom`` gives, and what the CLI calls.

    import synthloom

    recipe = synthloom.load_recipe("recipes/vader_tweets.yaml")      # or synthloom.Recipe(...)
    manifest = synthloom.generate(recipe, "out/tweets", n=20)
    metrics = synthloom.evaluate("out/tweets", real="vader_tweets", generator_sample=0)

Both functions raise :class:`~synthloom.errors.UserInputError` on bad input (the CLI prints
its message on one line and exits 2) and write nothing then.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthloom.errors import UserInputError
from synthloom.labelling import label  # noqa: F401  (``synthloom label``: teacher_label runs)
from synthloom.llm.base import ChatBackend
from synthloom.pipeline.executor import Executor, make_executor
from synthloom.pipeline.local import ProgressCallback, run_recipe
from synthloom.pipeline.recipe import Recipe, load_recipe, with_backend
from synthloom.records import Record, read_jsonl, read_parquet


def generate(
    recipe: Recipe | str | Path,
    out_dir: str | Path,
    *,
    n: int | None = None,
    model: str | None = None,
    base_url: str | None = None,
    resume: bool = False,
    backend: ChatBackend | None = None,
    on_progress: ProgressCallback | None = None,
    executor: str | Executor = "local",
    address: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Generate a synthetic dataset from a recipe into ``out_dir``.

    Args:
        recipe: a :class:`Recipe`, or the path of a recipe YAML file.
        out_dir: output directory (see :mod:`synthloom.pipeline.local` for its files).
        n: accepted records wanted, replacing the recipe's ``n``.
        model: embedded model name or the server's model id, replacing the recipe's.
        base_url: an OpenAI-compatible server (switches the backend to HTTP).
        resume: continue the run in ``out_dir`` (nothing finished is redone or repeated).
        backend: an LLM backend to use instead of the recipe's (e.g. a scripted one in tests).
        on_progress: called after each chunk with ``(accepted, wanted, stats)``.
        executor: where the chunks run: ``"local"`` (this process), ``"ray"`` (Ray Data,
            ``pip install 'synthloom[ray]'``) or an :class:`Executor`. Both give the same
            records for the same recipe, seed and response cache.
        address: with ``"ray"``, the cluster to join (None: start Ray on this machine).
        workers: with ``"ray"``, actors per stage.

    Returns:
        The manifest (also in ``out_dir/manifest.json``): counts per stratum, acceptance
        rate, tokens, LLM calls, wall seconds, the recipe fingerprint.

    Raises:
        UserInputError: a bad recipe or output directory (nothing is written).
        BackendError, GenerationError: the LLM failed; finished records are kept.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, n=n)
    elif n is not None:
        recipe = Recipe.model_validate({**recipe.model_dump(), "n": n})
    recipe = with_backend(recipe, model=model, base_url=base_url)
    if isinstance(executor, str):
        executor = make_executor(executor, address=address, workers=workers)
    return run_recipe(recipe, out_dir, resume=resume, backend=backend, on_progress=on_progress,
                      executor=executor)


def read_run(run_dir: str | Path) -> list[Record]:
    """The accepted records of a run (``data.parquet``, else ``data.jsonl``).

    Raises:
        UserInputError: the folder holds neither, or ``data.parquet`` cannot be read
            (damaged or truncated; the message says how to rewrite it).
    """
    import pyarrow as pa

    run_dir = Path(run_dir)
    parquet, jsonl = run_dir / "data.parquet", run_dir / "data.jsonl"
    if parquet.exists():
        try:
            return read_parquet(parquet)
        except (pa.ArrowException, OSError, ValueError, KeyError, TypeError) as e:
            problem = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise UserInputError(
                f"{parquet}: cannot read it, damaged or truncated ({problem}); "
                f"rewrite it with: synthloom generate RECIPE -o {run_dir} --resume") from e
    if jsonl.exists():
        return list(read_jsonl(jsonl))
    raise UserInputError(f"{run_dir}: no data.parquet or data.jsonl (run generate first)")


def run_recipe_of(run_dir: str | Path) -> Recipe | None:
    """The recipe a run was made with (from ``run.json``), or None without one.

    Raises:
        UserInputError: ``run.json`` is not a synthloom run file.
    """
    run_file = Path(run_dir) / "run.json"
    if not run_file.exists():
        return None
    try:
        return Recipe.model_validate(json.loads(run_file.read_text(encoding="utf-8"))["recipe"])
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UserInputError(f"{run_file}: not a synthloom run file (recipe.{where}: "
                             f"{err['msg']})") from e
    except (ValueError, KeyError, TypeError) as e:
        raise UserInputError(f"{run_file}: not a synthloom run file ({e})") from e


def evaluate(
    run_dir: str | Path,
    real: str | Path | Sequence[Record] | None,
    *,
    students: Sequence[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    seed: int = 13,
    real_seed_size: int = 50,
    generator_sample: int = 100,
    generator_max_words: int = 80,
    leakage_threshold: float = 0.01,
    marginal_threshold: float = 2.0,
    report: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score a run's synthetic records against real data and write ``metrics.json`` (and
    ``report.html``) into ``run_dir``.

    Args:
        run_dir: a generate run's output directory.
        real: a named real source (``bbc_news``, ``vader_tweets``...), a JSONL/CSV/Parquet
            file with text and label columns, or real records; not needed (None) for a
            ``verifiable`` run, whose verifier already judged every record.
        students: ``tfidf-lr``, ``embedding-lr`` or ``module:factory`` (default: both named).
        text_column, label_column: columns of a real file.
        seed: seed of the real splits, students and bootstrap.
        real_seed_size: real records in the mixing and trust-weight experiments, at most
            the real train split's size: a larger number is refused, except the default,
            which becomes the split's size with a warning (``metrics.json`` records the
            size used).
        generator_sample: real test records the generator labels zero-shot (0: skip; the
            only step that calls the LLM).
        generator_max_words: words of each real text shown to the generator.
        leakage_threshold: share of leaked synthetic texts that flags the run.
        marginal_threshold: standardized difference above which a marginal is flagged.
        report: also write the self-contained ``report.html``.
        on_step: called with the name of each evaluation step as it starts.

    Returns:
        The metrics (see ``metrics.json``); ``metrics["leakage"]["flagged"]`` says whether
        leakage is above the threshold; ``metrics["judges"]`` holds the run's judge, critic
        and label-audit verdicts and bias checks against the real data (see
        :func:`~synthloom.evaluate.judges.judges_section`).

    Raises:
        UserInputError: a bad argument, real file or run directory, or a ``teacher_label``
            run (real texts: its teacher is scored by ``synthloom label --test-labels``
            and ``bench/teacher_student.py``); nothing is written.
        BackendError: the generator check could not reach the LLM.
    """
    from synthloom.datasets import load_real
    from synthloom.evaluate.report import write_report
    from synthloom.evaluate.summary import DEFAULT_STUDENTS, evaluate_synthetic
    from synthloom.evaluate.tstr import write_metrics

    run_dir = Path(run_dir)
    if not 0.0 <= leakage_threshold <= 1.0:
        raise UserInputError(f"--leakage-threshold must be in [0, 1], got {leakage_threshold}")
    if real_seed_size < 2:
        raise UserInputError(f"--real-seed-size must be at least 2, got {real_seed_size}")
    synthetic = read_run(run_dir)
    kind = synthetic[0].kind if synthetic else getattr(
        getattr(run_recipe_of(run_dir), "task", None), "kind", None)
    if kind == "verifiable":
        return _evaluate_verifiable(run_dir, synthetic)
    if kind == "teacher_label":  # real texts: TSTR and leakage checks would score real data
        raise UserInputError(
            f"{run_dir} is a teacher_label run (real texts, teacher labels), not synthetic "
            "data: score the teacher with `synthloom label SOURCE --test-labels COLUMN`, and "
            "teacher against students on held-out human labels with bench/teacher_student.py"
        )
    if real is None:
        raise UserInputError("--real is required: a real labelled set to score against")
    if synthetic and synthetic[0].kind == "instruction":
        return _evaluate_instructions(run_dir, synthetic, real, seed)
    if isinstance(real, str | Path):
        real_records = load_real(str(real), text_column=text_column, label_column=label_column)
        real_name = str(real)
    else:
        real_records, real_name = list(real), "real records"
    recipe = run_recipe_of(run_dir) if generator_sample > 0 else None
    check = None
    if recipe is not None:
        def check(data):
            from synthloom.evaluate.generator_check import generator_zero_shot
            from synthloom.operators.targen.self_correction import SelfCorrection
            from synthloom.pipeline.backends import make_backend
            from synthloom.pipeline.steps import StepContext

            backend = make_backend(recipe.backend, run_dir / "cache.sqlite")
            try:
                return generator_zero_shot(
                    backend, recipe.description, recipe.labels, data, sample=generator_sample,
                    max_words=generator_max_words, seed=seed,
                    templates=StepContext(recipe, backend).templates(SelfCorrection))
            finally:
                backend.close()

    metrics = evaluate_synthetic(
        synthetic, real_records, students=list(students or DEFAULT_STUDENTS), seed=seed,
        real_seed_size=real_seed_size, leakage_threshold=leakage_threshold,
        marginal_threshold=marginal_threshold, generator_check=check, on_step=on_step,
        seed_examples=_seed_example_ids(run_dir))
    if on_step:
        on_step("judges and bias")
    metrics["judges"] = _judges(run_dir, synthetic, real_records)
    run = _run_summary(run_dir)
    if run:
        from synthloom.evaluate.verdict import run_findings

        metrics["run"] = run
        metrics["verdict"] += run_findings(run)
    write_metrics(run_dir / "metrics.json", metrics)
    if report:
        write_report(run_dir / "report.html", metrics, title=f"{run_dir} vs {real_name}")
    return metrics


def _evaluate_instructions(run_dir: Path, synthetic: list[Record],
                           real: str | Path | Sequence[Record], seed: int) -> dict[str, Any]:
    """``evaluate`` for an ``instruction`` run: set measures against a real instruction set
    (:func:`~synthloom.evaluate.instruction.evaluate_instructions`), into ``metrics.json``."""
    from synthloom.evaluate.instruction import evaluate_instructions
    from synthloom.evaluate.tstr import write_metrics
    from synthloom.instruction_sets import load_instructions

    real_records = load_instructions(real) if isinstance(real, str | Path) else list(real)
    metrics = evaluate_instructions(synthetic, real_records, seed=seed)
    metrics["real_source"] = str(real) if isinstance(real, str | Path) else "real records"
    run = _run_summary(run_dir)
    if run:
        metrics["run"] = run
    write_metrics(run_dir / "metrics.json", metrics)
    return metrics


def _evaluate_verifiable(run_dir: Path, accepted: list[Record]) -> dict[str, Any]:
    """``evaluate`` for a ``verifiable`` run: its yield (generated, searched, verified, kept;
    pass@1 and pass@k; cost per kept pair; see
    :func:`~synthloom.evaluate.verifiable.yield_summary`), into ``metrics.json``. The
    verifier already judged every record, so no real data is needed."""
    from synthloom.evaluate.tstr import write_metrics
    from synthloom.evaluate.verifiable import yield_summary

    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    metrics = yield_summary(accepted, list(read_jsonl(run_dir / "rejected.jsonl")),
                            manifest if isinstance(manifest, dict) else None)
    write_metrics(run_dir / "metrics.json", metrics)
    return metrics


def _judges(run_dir: Path, accepted: list[Record], real: Sequence[Record]) -> dict[str, Any] | None:
    """``metrics["judges"]``: the run's judge verdicts (accepted records and
    ``rejected.jsonl``) and bias checks against the real records (see
    :func:`~synthloom.evaluate.judges.judges_section`)."""
    from synthloom.evaluate.judges import judges_section

    rejected = list(read_jsonl(run_dir / "rejected.jsonl"))
    labelled = [r for r in real if r.label is not None]
    return judges_section(accepted, rejected, [r.text for r in labelled],
                          [str(r.label) for r in labelled])


def _run_summary(run_dir: Path) -> dict[str, Any] | None:
    """What the run's manifest says about rejections, seeds and curation, or None."""
    path = run_dir / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    keys = ("accepted", "rejected", "rejections_by_operator", "seed_examples", "curation",
            "error_rounds")
    return {k: manifest[k] for k in keys if k in manifest}


def _seed_example_ids(run_dir: Path) -> list[str] | None:
    """Ids of the real seed examples a run was anchored in, or None."""
    path = run_dir / "plan" / "seed_examples.json"
    if not path.is_file():
        return None
    try:
        return [str(e["id"]) for e in json.loads(path.read_text(encoding="utf-8"))]
    except (ValueError, KeyError, TypeError) as e:
        raise UserInputError(f"{path}: not a list of seed examples ({e})") from e


__all__ = ["evaluate", "generate", "label", "read_run", "run_recipe_of"]


def calibrate(
    recipe: Recipe | str | Path,
    real: str,
    *,
    sample: int = 200,
    rating_column: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    max_words: int = 120,
    seed: int = 13,
    cache: str | Path | None = None,
    backend: ChatBackend | None = None,
) -> dict[str, Any]:
    """Calibrate a recipe's judge against people (see :mod:`synthloom.evaluate.judge_check`).

    The judge is the recipe's ``judge`` backend, else its generator (``backend`` replaces
    it). ``categorical``: for a classification recipe and real records with labels, the
    judge's blind labels of a stratified ``sample`` against the people's labels (accuracy,
    Cohen's kappa). ``graded``: when the real data has human ratings (a VADER set: the
    mean of about 20 people's ratings; a file: ``rating_column``), the recipe's
    ``judge.pointwise`` criteria scores of ``sample`` rated texts against the ratings
    (Spearman, Kendall per criterion and for the mean).

    Returns:
        ``{"judge_model", "same_model_as_generator", "categorical": dict | None,
        "graded": dict | None}``.

    Raises:
        UserInputError: a bad recipe or real source, a rating column on data without it,
            ratings but no ``judge.pointwise`` step with criteria, or neither reading
            possible.
    """
    import random

    from synthloom.datasets import _read_rows, load_real
    from synthloom.evaluate.judge_check import categorical_check, graded_check
    from synthloom.pipeline.backends import check_backend, make_backend
    from synthloom.vader import VADER_SETS, read_vader_ratings

    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    config = recipe.judge or recipe.backend
    rated: list[tuple[str, float]] = []
    if rating_column is not None:
        rows = _read_rows(Path(real), text_column, None)
        try:
            rated = [(str(r[text_column]), float(r[rating_column])) for r in rows
                     if r.get(rating_column) not in (None, "")]
        except (TypeError, ValueError) as e:
            raise UserInputError(f"{real}: column '{rating_column}' is not numeric ({e})") from e
        if not rated:
            raise UserInputError(f"{real}: no rows with a '{rating_column}' rating")
    elif real in VADER_SETS:
        rated = [(text, rating) for _, rating, text in read_vader_ratings(real)]
    labels = getattr(recipe.task, "labels", None)
    labelled: list[Record] = []
    if labels is not None and rating_column is None:
        labelled = [r for r in load_real(real, text_column=text_column,
                                         label_column=label_column) if r.label in labels]
    pointwise = [s for s in recipe.steps if s.type == "judge.pointwise"]
    if rated and not (pointwise and pointwise[0].criteria):
        raise UserInputError("graded calibration needs a judge.pointwise step whose criteria "
                             "ask what the people rated (e.g. a positivity criterion)")
    if not rated and not labelled:
        raise UserInputError(f"{real}: no human labels in the recipe's label set and no "
                             "ratings (give --rating-column)")
    owned = backend is None
    if backend is None:
        check_backend(config)
        backend = make_backend(config, cache or Path(".synthloom-calibrate.sqlite"))
    try:
        out: dict[str, Any] = {
            "judge_model": backend.identity.model,
            "same_model_as_generator": recipe.judge is None or recipe.judge == recipe.backend,
            "categorical": None, "graded": None}
        if labelled:
            out["categorical"] = categorical_check(
                backend, recipe.task.description, labels, labelled, sample=sample,
                max_words=max_words, seed=seed)
        if rated:
            chosen = random.Random(seed).sample(rated, min(sample, len(rated)))
            out["graded"] = graded_check(
                backend, recipe.task.description, recipe.task.unit or "text",
                pointwise[0].criteria, [t for t, _ in chosen], [s for _, s in chosen],
                max_words=max_words, seed=seed)
        return out
    except ValueError as e:
        raise UserInputError(str(e)) from e
    finally:
        if owned:
            backend.close()
