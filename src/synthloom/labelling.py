"""``synthloom label``: a ``teacher_label`` recipe run over a file of real texts, and what
the run says about its teacher.

    import synthloom

    manifest = synthloom.label("recipes/teacher_label_bbc.yaml", "bbc_train.jsonl",
                               "out/teacher", test_labels="label")
    manifest["teacher_test"]["accuracy"], manifest["counts_per_label"]

The run is a generate run (:mod:`synthloom.pipeline.local`: resumable, locked, records
appended and fsynced chunk by chunk, LLM answers cached) of the kind's steps
(:mod:`synthloom.pipeline.steps.teacher_label`); its ``n`` is the number of texts read.
Afterwards the manifest gains the counts per label, the abstentions, each labeller's
votes and, with human test labels, the teacher's accuracy and macro-F1 on them
(:func:`~synthloom.evaluate.distillation.teacher_scores`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatBackend
from synthloom.pipeline.executor import Executor, make_executor
from synthloom.pipeline.local import ProgressCallback, run_recipe
from synthloom.pipeline.recipe import Recipe, load_recipe, with_backend
from synthloom.pipeline.steps.label_model import vote_vector
from synthloom.pipeline.steps.teacher_label import human_labels, source_rows
from synthloom.records import Record, read_jsonl, write_json_atomic

#: the draft step of a teacher_label recipe
SOURCE_STEP = "teacher_label.source"


def with_source(
    recipe: Recipe,
    source: str | Path | None = None,
    *,
    text_column: str | None = None,
    test_labels: str | None = None,
    limit: int | None = None,
) -> Recipe:
    """The recipe with its source step's file and columns set, and ``n`` = the texts read.

    Args:
        recipe: a ``teacher_label`` recipe.
        source: the file of real texts (None: the one the recipe names).
        text_column, test_labels, limit: replace the source step's (None: keep them).

    Raises:
        UserInputError: a recipe of another kind; no source; a file that cannot be read,
            or without the text column or the ``test_labels`` column.
    """
    kind = recipe.task.kind
    if kind != "teacher_label":
        raise UserInputError(
            f"the recipe's task kind is {kind!r}, not 'teacher_label' "
            "(label runs a teacher_label recipe; use synthloom generate)"
        )
    data = recipe.model_dump(mode="json")
    found = [i for i, s in enumerate(recipe.steps) if s.type == SOURCE_STEP]
    if len(found) != 1:
        raise UserInputError(
            f"a teacher_label recipe needs one {SOURCE_STEP} step (its "
            f"draft step), found {len(found)}"
        )
    index = found[0]
    step = data["steps"][index]
    for key, value in (
        ("file", None if source is None else str(Path(source).resolve())),
        ("text_column", text_column),
        ("test_labels", test_labels),
        ("limit", limit),
    ):
        if value is not None:
            step[key] = value
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise UserInputError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from e
    config = recipe.steps[index]
    rows = source_rows(config, with_labels=True)  # reads the test-label column if named
    data = recipe.model_dump(mode="json")
    data["n"] = len(rows)
    return Recipe.model_validate(data)


def label(
    recipe: Recipe | str | Path,
    source: str | Path | None,
    out_dir: str | Path,
    *,
    text_column: str | None = None,
    test_labels: str | None = None,
    limit: int | None = None,
    model: str | None = None,
    base_url: str | None = None,
    resume: bool = False,
    backend: ChatBackend | None = None,
    judge_backend: ChatBackend | None = None,
    on_progress: ProgressCallback | None = None,
    executor: str | Executor = "local",
    address: str | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Label the real texts of ``source`` with a ``teacher_label`` recipe into ``out_dir``.

    Args:
        recipe: a recipe or its YAML path (task kind ``teacher_label``).
        source: JSONL, CSV or Parquet file of real texts (None: the recipe's).
        out_dir: the run folder (``data.jsonl``: one record per labelled text;
            ``rejected.jsonl``: texts given no label, each with its reason).
        text_column: the file's text column (default: the recipe's, else ``text``).
        test_labels: a column of human labels: never shown to a labeller nor stored in a
            record; the teacher is scored on them (and ``auto`` chooses its label model on
            a share of them, see :mod:`synthloom.pipeline.steps.teacher_label`). Without
            it a label column in the file is never read.
        limit: label only the first ``limit`` texts.
        model, base_url: replace the recipe's generator model / server.
        resume: continue the run in ``out_dir``.
        backend, judge_backend: LLM backends to use instead of the recipe's (tests).
        on_progress: called after each chunk with ``(done, texts, stats)``.
        executor, address, workers: where the chunks run, as for
            :func:`synthloom.api.generate` (``"local"`` or ``"ray"``).

    Returns:
        The manifest (also ``out_dir/manifest.json``), with :func:`label_summary`'s keys.

    Raises:
        UserInputError: bad recipe, source, columns or output folder (nothing written).
        BackendError, GenerationError: the LLM failed; finished records are kept.
    """
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    recipe = with_source(
        recipe, source, text_column=text_column, test_labels=test_labels, limit=limit
    )
    recipe = with_backend(recipe, model=model, base_url=base_url)
    if isinstance(executor, str):
        executor = make_executor(executor, address=address, workers=workers)
    manifest = run_recipe(
        recipe,
        out_dir,
        resume=resume,
        backend=backend,
        judge_backend=judge_backend,
        on_progress=on_progress,
        executor=executor,
    )
    manifest = {**manifest, **label_summary(recipe, out_dir)}
    write_json_atomic(Path(out_dir) / "manifest.json", manifest)
    return manifest


def _vote_label(vote: dict[str, Any], labels: list[str]) -> str | None:
    """A stored vote's label: the most probable of its soft label, else its label."""
    v = vote_vector(vote, labels)
    return labels[int(v.argmax())] if v.sum() > 0 else None


def label_summary(recipe: Recipe, out_dir: str | Path) -> dict[str, Any]:
    """What a finished label run says about its teacher.

    Returns:
        ``{"texts", "labelled", "counts_per_label", "abstained" ({operator: count} of the
        texts given no label), "label_model" (the method used), "mean_trust_weight",
        "labellers" ({name: {"voted", "abstained", "soft_from_logprobs", "soft_fell_back"
        and, with test labels, "test_accuracy" (over its votes) and "test_votes"}}),
        "human_labels" ({"column", "dev", "test"} counts, or None), "teacher_test"
        (:func:`~synthloom.evaluate.distillation.teacher_scores` on the test labels, or
        None)}``.
    """
    from synthloom.evaluate.distillation import teacher_scores

    out = Path(out_dir)
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    labels = list(recipe.task.labels)
    by_text: dict[str, Record] = {}
    for r in rejected + accepted:  # an accepted record wins over a rejected copy
        by_text[r.text] = r
    methods = Counter(r.outputs.get("label_model") for r in accepted)
    stats: dict[str, dict[str, Any]] = {}
    for r in accepted + [r for r in rejected if r.rejected.operator != "exact_dedup"]:
        for name, vote in (r.outputs.get("votes") or {}).items():
            row = stats.setdefault(
                name,
                {"voted": 0, "abstained": 0}
                | (
                    {"soft_from_logprobs": 0, "soft_fell_back": 0}
                    if vote.get("kind") == "llm"
                    else {}
                ),
            )
            row["voted" if vote.get("label") is not None else "abstained"] += 1
            if vote.get("kind") == "llm" and vote.get("label") is not None:
                row[
                    "soft_from_logprobs" if vote.get("soft") == "logprobs" else "soft_fell_back"
                ] += 1
    source = next(s for s in recipe.steps if s.type == SOURCE_STEP)
    dev, test = human_labels(recipe)
    summary: dict[str, Any] = {
        "texts": recipe.n,
        "labelled": len(accepted),
        "counts_per_label": {k: sum(r.label == k for r in accepted) for k in labels},
        "abstained": dict(Counter(r.rejected.operator for r in rejected if r.rejected)),
        "label_model": methods.most_common(1)[0][0] if methods else None,
        "mean_trust_weight": round(sum(r.trust_weight for r in accepted) / len(accepted), 4)
        if accepted
        else None,
        "human_labels": None,
        "teacher_test": None,
    }
    if test:
        texts = {row: text for row, text, _ in source_rows(source)}
        rows = [row for row in test if row in texts]
        records = [by_text.get(texts[row]) for row in rows]
        predicted = [r.label if r is not None and r.rejected is None else None for r in records]
        summary["human_labels"] = {"column": source.test_labels, "dev": len(dev), "test": len(rows)}
        summary["teacher_test"] = teacher_scores(predicted, [test[r] for r in rows], labels)
        for name, row in stats.items():
            votes = [
                (_vote_label((r.outputs.get("votes") or {}).get(name, {}), labels), test[t])
                for r, t in zip(records, rows, strict=True)
                if r is not None
            ]
            votes = [(v, g) for v, g in votes if v is not None]
            row["test_votes"] = len(votes)
            row["test_accuracy"] = (
                round(sum(v == g for v, g in votes) / len(votes), 4) if votes else None
            )
    summary["labellers"] = stats
    return summary
