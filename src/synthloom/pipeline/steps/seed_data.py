"""Seed data: the user's few real examples, drawn once per run, and the copy guard that
keeps synthetic texts from copying them (issue 10; "anchor everything in real data")."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from synthloom.datasets import REAL_SOURCES, draw_seed_examples
from synthloom.errors import UserInputError
from synthloom.operators.filter.copy_guard import SeedCopyGuard
from synthloom.operators.plan.error_rounds import ErrorRoundPlanner, student_errors
from synthloom.operators.targen.seed_situations import SeedSituations
from synthloom.pipeline.steps.base import PlanRun, StepConfig, StepContext, register_step
from synthloom.records import Record, sha256_text


def seed_summary(steps: list[StepConfig], artifacts: dict[str, Any]) -> dict[str, Any] | None:
    """For a run's manifest: seed examples drawn and labelled, and per step that shows them
    to the model, its word limit and how many seeds are longer (cut to that many words
    when shown, never refused). None without seed data."""
    seeds = artifacts.get("seed_examples")
    if not seeds:
        return None
    shown = {}
    for step in steps:
        words = getattr(step, "example_words", None)
        if words and getattr(step, "style_examples", 1) > 0:  # a generate step shows none at 0
            shown[step.type] = {"words": int(words), "cut": sum(
                int(s.get("words", 0)) > int(words) for s in seeds)}
    return {"drawn": len(seeds), "labelled": sum(s.get("label") is not None for s in seeds),
            "shown": shown}


@register_step
class SeedDataStep(StepConfig):
    """Draw the real seed examples that later steps are anchored in.

    Attributes:
        path: a named real source (``bbc_news``, ``vader_tweets``...: drawn from the train
            split ``evaluate`` uses, never its test split) or a JSONL/CSV/Parquet file
            (relative to the recipe file when loaded from YAML).
        text_column, label_column: the file's columns; ``label_column: null`` reads
            unlabelled texts.
        n: examples drawn, label proportions kept (all when there are fewer).
        split_seed: seed of the real split and the draw (``evaluate``'s default is 13;
            evaluate with the same seed so that no seed example lands in its test split).

    The artifact ``plan/seed_examples.json`` holds each drawn example's id, text, label
    and length in words. A file enters the fingerprint by the sha256 of its content.
    """

    type: Literal["seed_data.sample"] = "seed_data.sample"
    path: str
    text_column: str = "text"
    label_column: str | None = "label"
    n: int = Field(default=50, ge=1, le=100_000, strict=True)
    split_seed: int = Field(default=13, strict=True)
    role = "plan"
    writes = frozenset({"seed_examples"})
    artifact = "seed_examples"

    _drawn: list[Record] | None = PrivateAttr(default=None)
    _content_sha256: str | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        if self.path not in REAL_SOURCES and Path(self.path).is_file():
            self._content_sha256 = sha256_text(Path(self.path).read_bytes().hex())

    def check_task(self, task: Any) -> None:
        """Draw the seeds now, so bad seed data fails when the recipe loads.

        Raises:
            ValueError: the seed data cannot be read, is empty, has no text column, has a
                single label or labels the task does not have.
        """
        labels = list(getattr(task, "labels", None) or []) or None
        try:
            self._drawn = self._draw(labels)
        except UserInputError as e:
            raise ValueError(str(e)) from None

    def _draw(self, labels: list[str] | None = None) -> list[Record]:
        return draw_seed_examples(self.path, self.n, text_column=self.text_column,
                                  label_column=self.label_column, labels=labels,
                                  seed=self.split_seed)

    def seeds(self) -> list[Record]:
        """The drawn seed records (drawn on first use)."""
        if self._drawn is None:
            self._drawn = self._draw()
        return self._drawn

    def fingerprint_data(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if self._content_sha256:
            data["path"] = {"sha256": self._content_sha256}
        return data

    def build(self, ctx: StepContext) -> Any:
        seeds = self.seeds()
        return PlanRun(lambda artifacts: [
            {"id": r.id, "text": r.text, "label": r.label, "words": len(r.text.split())}
            for r in seeds])


@register_step
class SeedSituationsStep(StepConfig):
    """Instance seeds from the real seed examples (replaces TarGEN's contexts and
    instance seeds; see :mod:`synthloom.operators.targen.seed_situations`).

    Attributes:
        per_example: situations asked per labelled seed example.
        example_words: words of each example shown.
    """

    type: Literal["seed_data.situations"] = "seed_data.situations"
    per_example: int = Field(default=6, ge=1, le=50, strict=True)
    example_words: int = Field(default=120, ge=10, le=1000, strict=True)
    role = "plan"
    reads = frozenset({"seed_examples", "unit"})
    writes = frozenset({"instance_seeds"})
    operators = (SeedSituations,)
    kinds = frozenset({"classification"})
    artifact = "seeds"

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        op = SeedSituations(
            ctx.backend, task.description, task.labels, self.per_example, unit=ctx.unit,
            example_words=self.example_words, templates=ctx.templates(SeedSituations),
            **ctx.sampled)
        return PlanRun(lambda artifacts: op.run(artifacts["seed_examples"]))


class _CopyGuard:
    """Runtime filter: rejects records copying a seed, naming it in ``collided_with``."""

    name = SeedCopyGuard.name

    def __init__(self, config: CopyGuardStep, seeds: list[dict[str, Any]]) -> None:
        self.guard = SeedCopyGuard([(s["id"], s["text"]) for s in seeds],
                                   containment=config.containment)

    def index(self, records: list[Record]) -> None:
        """Nothing to rebuild on resume: only seeds are indexed."""

    def filter(self, records: list[Record]) -> tuple[list[Record], list[Record]]:
        kept, rejected = [], []
        for record, hit in zip(records, self.guard.check([r.text for r in records]),
                               strict=True):
            if hit is None:
                kept.append(record)
            else:
                rejected.append(record.reject(
                    self.name, f"copies seed example {hit.key} ({hit.containment:.0%} of its "
                    "word 3-shingles are in it)", collided_with=hit.key,
                    similarity=round(hit.containment, 4)))
        return kept, rejected


@register_step
class CopyGuardStep(StepConfig):
    """Reject a synthetic text that copies a real seed example.

    Attributes:
        containment: share of the text's word 3-shingles found in one seed text at or
            above which the text copies it (exact, through an inverted index).
    """

    type: Literal["filter.copy_guard"] = "filter.copy_guard"
    containment: float = Field(default=0.5, gt=0.0, le=1.0)
    role = "filter"
    reads = frozenset({"text", "seed_examples"})

    def build(self, ctx: StepContext) -> Any:
        return _CopyGuard(self, ctx.artifacts.get("seed_examples") or [])


class _ErrorRounds:
    """Runtime rounds step: ``errors(accepted)`` and ``drafts(round, errors, start)``."""

    def __init__(self, config: ErrorRoundsStep, ctx: StepContext) -> None:
        task, r = ctx.recipe.task, ctx.recipe
        self.config, self.name = config, config.type
        self.examples = ctx.artifacts.get("seed_examples") or []
        self.seed = r.seed
        self.situations = SeedSituations(
            ctx.backend, task.description, task.labels, config.per_error, unit=ctx.unit,
            example_words=config.example_words, templates=ctx.templates(SeedSituations),
            **ctx.sampled)
        self.planner = ErrorRoundPlanner(task.name, task.labels, config.per_error, seed=r.seed,
                                         recipe_sha256=r.sha256())

    def errors(self, accepted: list[Record]) -> list[dict[str, Any]]:
        return student_errors(accepted, self.examples, self.seed)

    def drafts(self, round_number: int, errors: list[dict[str, Any]], start: int
               ) -> list[Record]:
        found = self.situations.run(errors, "round", round_number)
        by_id = {context.removeprefix("seed example "): items
                 for per_label in found.values() for context, items in per_label.items()}
        return self.planner.drafts(round_number, errors, by_id, start)


@register_step
class ErrorRoundsStep(StepConfig):
    """S3 error-driven rounds (arXiv 2310.13671) after the first ``n`` records: a student
    trained on the records so far labels the seed examples; ``per_error`` new drafts are
    made like each one it gets wrong; repeated ``rounds`` times or until it gets none
    wrong. The records of the rounds come on top of ``n``.

    Attributes:
        rounds: rounds at most.
        per_error: new drafts per misclassified seed example and round.
        example_words: words of each example shown when drawing its situations.
    """

    type: Literal["seed_data.error_rounds"] = "seed_data.error_rounds"
    rounds: int = Field(default=2, ge=1, le=20, strict=True)
    per_error: int = Field(default=2, ge=1, le=20, strict=True)
    example_words: int = Field(default=120, ge=10, le=1000, strict=True)
    role = "rounds"
    reads = frozenset({"seed_examples", "text"})
    operators = (SeedSituations,)
    kinds = frozenset({"classification"})

    def build(self, ctx: StepContext) -> Any:
        return _ErrorRounds(self, ctx)
