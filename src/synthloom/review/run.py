"""A run as the review page sees it: its records (accepted and rejected), its task and rubric.

Loading never rewrites the run's files: a line of ``data.jsonl`` or ``rejected.jsonl`` that
is not a record is reported (``ReviewRun.problems``) and skipped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthloom.errors import UserInputError
from synthloom.records import Record, read_jsonl
from synthloom.tasks.base import TaskSpec

DATA_FILE, REJECTED_FILE = "data.jsonl", "rejected.jsonl"


@dataclass
class ReviewRun:
    """One run loaded for review.

    Attributes:
        dir: the run's folder.
        records: record id -> record, accepted ones first, each file in its order.
        status: record id -> ``"accepted"`` (in ``data.jsonl``) or ``"rejected"``.
        task: the recipe's task spec (a :class:`synthloom.tasks.base.TaskSpec`), or None
            when the folder has no ``run.json`` (e.g. a dataset written by ``perturb``).
        kind: the records' kind (the recipe's, else the first record's).
        labels: a labelled kind's labels (label -> description), else ``{}``.
        rubric: the judge's rubric as ``[{"name", "question", "levels": {score: text}}]``
            (the recipe's pointwise judge criteria, else the kind's default rubric).
        judge_cut: the recipe's pointwise judge cut: ``{"min_score"}`` or
            ``{"drop_quantile"}``, or None.
        problems: one line per skipped line of the run's files (damaged records, a torn
            last line, an accepted record's id given twice in ``data.jsonl``).
    """

    dir: Path
    records: dict[str, Record]
    status: dict[str, Literal["accepted", "rejected"]]
    task: TaskSpec | None
    kind: str
    labels: dict[str, str]
    rubric: list[dict[str, Any]]
    judge_cut: dict[str, float] | None
    problems: list[str] = field(default_factory=list)


def _read(path: Path, problems: list[str]) -> list[Record]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = list(read_jsonl(path))
    problems.extend(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning))
    if path.exists() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                problems.append(f"{path}: the last line has no end (a write cut short): "
                                "skipped")
    return records


def load_review_run(run_dir: str | Path) -> ReviewRun:
    """Load a run folder for review (``data.jsonl``, ``rejected.jsonl``, ``run.json``).

    Raises:
        UserInputError: the folder does not exist or holds neither ``data.jsonl`` nor
            ``rejected.jsonl`` (not a run), or its ``run.json`` is not a synthloom run file.
    """
    from synthloom.api import run_recipe_of
    from synthloom.pipeline.steps.judges import PointwiseJudgeStep, rubric_for

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir}: no such directory")
    if not (run_dir / DATA_FILE).is_file() and not (run_dir / REJECTED_FILE).is_file():
        raise UserInputError(f"{run_dir}: not a run (no {DATA_FILE} or {REJECTED_FILE}); "
                             "give the output directory of synthloom generate")
    recipe = run_recipe_of(run_dir)
    problems: list[str] = []
    records: dict[str, Record] = {}
    status: dict[str, Literal["accepted", "rejected"]] = {}
    files: tuple[tuple[str, Literal["accepted", "rejected"]], ...] = (
        (DATA_FILE, "accepted"), (REJECTED_FILE, "rejected"))
    for name, state in files:
        for record in _read(run_dir / name, problems):
            if record.id in records:
                # a draft rejected twice, or rejected and later accepted, is a normal run;
                # the same accepted record twice is damage worth naming
                if name == DATA_FILE:
                    problems.append(f"{run_dir / name}: record {record.id} again; the first "
                                    "is shown")
                continue
            records[record.id] = record
            status[record.id] = state
    task = recipe.task if recipe is not None else None
    kind = task.kind if task is not None else next(
        (r.kind for r in records.values()), "classification")
    labels = dict(getattr(task, "labels", None) or {})
    if not labels and kind == "classification":
        labels = {str(r.label): "" for r in records.values() if r.label is not None}
    judge_step = next((s for s in (recipe.steps or []) if isinstance(s, PointwiseJudgeStep)),
                      None) if recipe is not None else None
    criteria = rubric_for(task, judge_step.criteria if judge_step else None) if task else []
    rubric = [{"name": c.name, "question": c.question.replace(
        "{unit}", getattr(task, "unit", None) or "text"), "levels": c.levels} for c in criteria]
    cut = None
    if judge_step is not None and judge_step.min_score is not None:
        cut = {"min_score": judge_step.min_score}
    elif judge_step is not None and judge_step.drop_quantile is not None:
        cut = {"drop_quantile": judge_step.drop_quantile}
    return ReviewRun(dir=run_dir, records=records, status=status, task=task, kind=kind,
                     labels=labels, rubric=rubric, judge_cut=cut, problems=problems)
