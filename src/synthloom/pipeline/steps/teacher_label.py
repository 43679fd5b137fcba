"""Steps of the ``teacher_label`` kind: real texts, labelled by labellers and a label model.

=========================  =========  ===============================================
step                       role       what it does
=========================  =========  ===============================================
``teacher_label.source``   draft      one draft per text of the source file (its text
                                      column only; labels are never read here)
``teacher_label.vote``     generate   every labeller votes: LLM prompts
                                      (:mod:`synthloom.operators.label.teacher`) and
                                      rules (:mod:`synthloom.operators.label.functions`)
``curate.label_model``     curate     majority vote or Dawid-Skene over every record's
                                      votes: label, label probabilities, agreement,
                                      trust weight (its own module,
                                      :mod:`synthloom.pipeline.steps.label_model`)
=========================  =========  ===============================================

A text on which every labeller abstains is rejected by ``teacher_label.vote`` with each
labeller's reason; one the label model gives no label (a tie, fewer votes than
``min_votes``) is rejected by ``curate.label_model``. Both land in ``rejected.jsonl``.

Human labels of the source (``test_labels``, a column the user names) are read only by
:func:`human_labels`: never shown to a labeller nor stored in a record. With ``method:
auto`` and at least three labellers, a ``dev_fraction`` share of them (drawn at the
recipe's seed) chooses the label model (:func:`~synthloom.operators.label.label_model.
choose_label_model`) and the rest are the test labels the teacher is scored on; otherwise
``auto`` is majority vote and every human label is a test label.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from synthloom.datasets import read_text_rows
from synthloom.errors import UserInputError
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.label.functions import (
    KeywordsRule,
    LabellingFunction,
    PythonLabeller,
    RegexRule,
    build_labeller,
)
from synthloom.operators.label.teacher import TOP_LOGPROBS, LLMLabeller, TeacherLabeller
from synthloom.pipeline.steps.base import (
    OneStratumDrafts,
    StepConfig,
    StepContext,
    file_fingerprint,
    register_step,
)
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record, sha256_text

_KINDS = frozenset({"teacher_label"})

AnyLabeller = Annotated[
    LLMLabeller | KeywordsRule | RegexRule | PythonLabeller, Field(discriminator="type")
]
"""One labeller of a ``teacher_label.vote`` step: ``llm``, ``keywords``, ``regex`` or
``python``."""


def labeller_names(specs: Sequence[Any]) -> list[str]:
    """Each labeller's name: given, or ``llm[<backend>]``, ``<type>[<label>]``,
    ``python[<function>]``, with ``#2``, ``#3``... after repeats of an unnamed one.

    Raises:
        ValueError: two labellers end up with the same name.
    """
    names: list[str] = []
    for i, spec in enumerate(specs):
        base = spec.name or (
            f"llm[{spec.backend}]"
            if spec.type == "llm"
            else f"python[{spec.function}]"
            if spec.type == "python"
            else f"{spec.type}[{spec.label}]"
        )
        name, k = base, 1
        while spec.name is None and name in names:
            k += 1
            name = f"{base}#{k}"
        if name in names:
            raise ValueError(f"labellers.{i}: name {name!r} is used twice")
        names.append(name)
    return names


def source_rows(config: SourceStep, with_labels: bool = False) -> list[tuple[int, str, str | None]]:
    """The source's ``(row, text, human label or None)``, the first ``limit`` texts; the
    label column is read only ``with_labels`` (and when ``test_labels`` names one).

    Raises:
        UserInputError: no source file, or as :func:`~synthloom.datasets.read_text_rows`.
    """
    if not config.file:
        raise UserInputError(
            "teacher_label.source: no source file; give one: synthloom "
            "label SOURCE --recipe RECIPE -o DIR"
        )
    column = config.test_labels if with_labels else None
    return read_text_rows(config.file, config.text_column, column)[: config.limit]


def find_step(steps: Sequence[StepConfig], type_: str) -> Any:
    """The first step of type ``type_`` in ``steps``, or None."""
    return next((s for s in steps if s.type == type_), None)


def human_labels(recipe: Any) -> tuple[dict[int, str], dict[int, str]]:
    """The source's human labels as ``(dev, test)``, each ``{row: label}`` (see the module
    docstring): empty without ``test_labels``; ``dev`` is empty unless the label model is
    ``auto`` with at least three labellers.

    Raises:
        UserInputError: as :func:`source_rows`.
    """
    source = find_step(recipe.steps, "teacher_label.source")
    if source is None or not source.test_labels:
        return {}, {}
    gold = {row: label for row, _, label in source_rows(source, True) if label is not None}
    model, vote = (
        find_step(recipe.steps, "curate.label_model"),
        find_step(recipe.steps, "teacher_label.vote"),
    )
    if model is None or model.method != "auto" or vote is None or len(vote.labellers) < 3:
        return {}, gold
    rows = sorted(gold)
    random.Random(derived_seed("teacher_label.dev", recipe.seed)).shuffle(rows)
    k = min(max(1, round(model.dev_fraction * len(rows))), max(len(rows) - 1, 1))
    return ({r: gold[r] for r in sorted(rows[:k])}, {r: gold[r] for r in sorted(rows[k:])})


def row_of(record: Record) -> int | None:
    """The source row a record's text came from (the source step's provenance)."""
    for step in record.provenance.operators:
        if step.operator == "teacher_label.source":
            return step.detail.get("row")
    return None


# ------------------------------------------------------------------ source (draft)


class _Source(OneStratumDrafts):
    def __init__(self, config: SourceStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx

    def start(self, artifacts: dict[str, Any]) -> None:
        self.rows = source_rows(self.config)
        self.recipe_sha256 = self.ctx.recipe.sha256()

    def max_drafts(self, n: int) -> int:
        """Every text once."""
        return len(self.rows)

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        row, text, _ = self.rows[index]
        plan_id = f"row-{row}"
        step = OperatorStep(
            operator=self.config.type, verdict="planned", detail={"index": index, "row": row}
        )
        return Record(
            id=plan_id,
            task=self.ctx.recipe.task.name,
            kind="teacher_label",
            inputs={"text": text},
            origin=Origin.synthetic,
            field_origins={"text": Origin.real, "label": Origin.synthetic},
            provenance=Provenance(
                source=str(self.config.file),
                plan=Plan(id=plan_id),
                recipe_sha256=self.recipe_sha256,
                operators=[step],
            ),
        )


@register_step
class SourceStep(StepConfig):
    """One draft per text of the source file, in file order (blank texts skipped).

    Attributes:
        file: the JSONL, CSV or Parquet file of real texts (``synthloom label SOURCE``
            sets it; a path in a recipe is relative to the recipe file).
        text_column: the column holding the text.
        test_labels: a column of human labels, kept apart as test (and, with ``auto``,
            dev) labels; None: the file's labels, if it has any, are never read.
        limit: label only the first ``limit`` texts.

    The file enters the recipe fingerprint by its content, not its path.
    """

    type: Literal["teacher_label.source"] = "teacher_label.source"
    file: str | None = Field(default=None, min_length=1)
    text_column: str = Field(default="text", min_length=1)
    test_labels: str | None = Field(default=None, min_length=1)
    limit: int | None = Field(default=None, ge=1, strict=True)
    role = "draft"
    writes = frozenset({"text"})
    kinds = _KINDS

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def build(self, ctx: StepContext) -> Any:
        return _Source(self, ctx)


# ------------------------------------------------------------------ vote (generate)


class _Vote:
    name = "teacher_label.vote"

    def __init__(self, config: VoteStep, ctx: StepContext) -> None:
        task = ctx.recipe.task
        self.config, self.labels = config, list(task.labels)
        self.names = labeller_names(config.labellers)
        self.llms: dict[str, TeacherLabeller] = {}
        self.rules: dict[str, LabellingFunction] = {}
        for i, (name, spec) in enumerate(zip(self.names, config.labellers, strict=True)):
            if isinstance(spec, LLMLabeller):
                backend = ctx.judge if spec.backend == "judge" else ctx.backend
                self.llms[name] = TeacherLabeller(
                    backend,
                    task.description,
                    task.labels,
                    spec,
                    seed=ctx.recipe.seed,
                    labeller=name,
                    templates=ctx.templates(TeacherLabeller),
                )
            else:
                lf = build_labeller(spec, self.labels, where=f"labellers[{i}]")
                self.rules[name] = LabellingFunction(name, lf.kind, lf.vote)
        self.ident = identity_provenance(ctx.backend.identity)
        self.llm_detail = {
            name: {"model": op.backend.identity.model, "prompt_sha256": op.prompt_sha256()}
            for name, op in self.llms.items()
        }

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        texts = [r.text for r in records]
        keys = [sha256_text(t)[:16] for t in texts]
        llm_votes = {name: op.label(texts, keys) for name, op in self.llms.items()}
        out = []
        for i, record in enumerate(records):
            votes: dict[str, dict[str, Any]] = {}
            for name in self.names:
                if name in llm_votes:
                    votes[name] = {"kind": "llm", **llm_votes[name][i].as_dict()}
                else:
                    label = self.rules[name](texts[i])
                    votes[name] = {
                        "kind": self.rules[name].kind,
                        "label": label,
                        "reason": None if label else "no match",
                    }
            voted = sum(v["label"] is not None for v in votes.values())
            step = OperatorStep(
                operator=self.name,
                version="1",
                verdict="voted" if voted else "abstained",
                detail={
                    "attempt": attempt,
                    "voted": voted,
                    "of": len(votes),
                    "llm": self.llm_detail,
                },
            )
            done = with_step(
                record,
                step,
                **(self.ident if self.llms else {}),
                sampling={"temperature": 0.0, "top_logprobs": TOP_LOGPROBS} if self.llms else {},
            )
            done = done.model_copy(update={"outputs": {"votes": votes}})
            if not voted:
                why = "; ".join(f"{n}: {v['reason']}" for n, v in votes.items())
                done = done.reject(self.name, f"no labeller voted ({why})")
            out.append(done)
        return out


@register_step
class VoteStep(StepConfig):
    """Every labeller votes on every text (module docstring).

    Attributes:
        labellers: at least one; ``llm`` (:class:`~synthloom.operators.label.teacher.
            LLMLabeller`), ``keywords``, ``regex`` or ``python``
            (:mod:`synthloom.operators.label.functions`).
    """

    type: Literal["teacher_label.vote"] = "teacher_label.vote"
    labellers: list[AnyLabeller] = Field(min_length=1, max_length=50)
    role = "generate"
    reads = frozenset({"text"})
    writes = frozenset({"votes"})
    operators = (TeacherLabeller,)
    kinds = _KINDS

    def check_task(self, task: Any) -> None:
        """Names distinct; rules name known labels, compile and import.

        Raises:
            ValueError: two labellers with one name, or a bad rule (its message).
        """
        labeller_names(self.labellers)
        for i, spec in enumerate(self.labellers):
            if not isinstance(spec, LLMLabeller):
                try:
                    build_labeller(spec, list(task.labels), where=f"labellers[{i}]")
                except UserInputError as e:
                    raise ValueError(str(e)) from None

    def check_steps(self, index: int, steps: Sequence[StepConfig]) -> None:
        """A ``curate.label_model`` step must follow (it gives the labels).

        Raises:
            ValueError: there is none.
        """
        if find_step(steps[index + 1 :], "curate.label_model") is None:
            raise ValueError(
                "needs a curate.label_model step after it (the label model "
                "turns the votes into labels)"
            )

    def build(self, ctx: StepContext) -> Any:
        return _Vote(self, ctx)
