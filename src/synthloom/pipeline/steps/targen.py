"""TarGEN's steps (Gupta et al., arXiv 2310.17876) as recipe steps, plus ``task.unit``.

contexts -> instance seeds -> label constraints -> instance generation -> self-correction.
The ``targen:`` section of a recipe is a preset that expands to these (see
:mod:`synthloom.pipeline.presets`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictInt, field_validator

from synthloom.errors import GenerationError
from synthloom.operators.plan.unit import UnitDerivation
from synthloom.operators.targen import (
    ContextGeneration,
    InstanceGeneration,
    InstanceSeedGeneration,
    LabelConstraintPlanner,
    SelfCorrection,
)
from synthloom.pipeline.steps.base import PlanRun, StepConfig, StepContext, register_step
from synthloom.records import Record
from synthloom.tasks import quotas


@register_step
class UnitStep(StepConfig):
    """Derive the task's unit of text from its description (when the recipe gives none)."""

    type: Literal["task.unit"] = "task.unit"
    role = "plan"
    reads = frozenset({"description"})
    writes = frozenset({"unit"})
    operators = (UnitDerivation,)
    artifact = "unit"

    def build(self, ctx: StepContext) -> Any:
        op = UnitDerivation(ctx.backend, ctx.recipe.task.description, seed=ctx.recipe.seed,
                            templates=ctx.templates(UnitDerivation))
        return PlanRun(lambda artifacts: op.run())


@register_step
class ContextsStep(StepConfig):
    """TarGEN step 1: settings where the task's texts happen.

    Attributes:
        n: contexts asked for, or a list of settings used as they are.
        per_label: ask per label ("settings where <label> texts happen"); task-wide
            contexts on BBC News came back as football clubs and leaked into every label.
    """

    type: Literal["targen.contexts"] = "targen.contexts"
    n: StrictInt | list[str] = 8
    per_label: bool = True
    role = "plan"
    reads = frozenset({"description", "unit"})
    writes = frozenset({"contexts"})
    operators = (ContextGeneration,)
    kinds = frozenset({"classification"})
    artifact = "contexts"

    @field_validator("n")
    @classmethod
    def _contexts(cls, v: int | list[str]) -> int | list[str]:
        if isinstance(v, int) and not 1 <= v <= 200:
            raise ValueError("must be between 1 and 200, or a list of settings")
        if isinstance(v, list) and (not v or not all(str(c).strip() for c in v)):
            raise ValueError("a list of contexts needs at least one non-empty setting")
        return v

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        labels = task.labels
        if isinstance(self.n, list):
            given = list(dict.fromkeys(c.strip() for c in self.n))
            return PlanRun(lambda artifacts: {label: given for label in labels})
        op = ContextGeneration(ctx.backend, task.description, self.n, unit=ctx.unit,
                               templates=ctx.templates(ContextGeneration), **ctx.sampled)

        def run(artifacts: dict[str, Any]) -> dict[str, list[str]]:
            if self.per_label:
                found = op.run_many(labels)
            else:
                shared = op.run()
                found = {label: shared for label in labels}
            empty = [label for label, items in found.items() if not items]
            if empty:
                raise GenerationError(
                    f"the model produced no usable context for {empty} (TarGEN step 1); "
                    "try another model, or give the contexts as a list")
            return found

        return PlanRun(run)


@register_step
class InstanceSeedsStep(StepConfig):
    """TarGEN step 2: instance seeds per (label, context), one short situation each.

    Attributes:
        per_pair: seeds asked for per (label, context) pair.
    """

    type: Literal["targen.instance_seeds"] = "targen.instance_seeds"
    per_pair: int = Field(default=8, ge=1, le=50, strict=True)
    role = "plan"
    reads = frozenset({"contexts", "unit"})
    writes = frozenset({"instance_seeds"})
    operators = (InstanceSeedGeneration,)
    kinds = frozenset({"classification"})
    artifact = "seeds"

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        op = InstanceSeedGeneration(ctx.backend, task.description, task.labels, self.per_pair,
                                    unit=ctx.unit, templates=ctx.templates(InstanceSeedGeneration),
                                    **ctx.sampled)
        return PlanRun(lambda artifacts: op.run(artifacts["contexts"]))


class _Drafts:
    """The draft step's runtime object over a :class:`LabelConstraintPlanner`."""

    def __init__(self, config: LabelConstraintsStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.planner: LabelConstraintPlanner | None = None

    def start(self, artifacts: dict[str, Any]) -> None:
        """Build the planner over the ``seeds`` artifact.

        Raises:
            GenerationError: a label got no instance seed at all.
        """
        r = self.ctx.recipe
        try:
            self.planner = LabelConstraintPlanner(r.task.name, r.task.labels, artifacts["seeds"],
                                                  seed=r.seed, recipe_sha256=r.sha256())
        except ValueError as e:
            raise GenerationError(f"{e}; try another model or more contexts") from e

    def quotas(self, n: int) -> dict[str, int]:
        return self.config.quotas(self.ctx.recipe.task.strata(), n)

    def max_drafts(self, n: int) -> int:
        return int(n * self.config.max_drafts_factor)

    def next_strata(self, quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        return LabelConstraintPlanner.next_labels(quotas, counts, k)

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        assert self.planner is not None, "start() first"
        return self.planner.draft(index, stratum, stratum_index)

    @staticmethod
    def stratum_of_draft(draft: Record) -> str:
        return str(draft.provenance.target_label)


@register_step
class LabelConstraintsStep(StepConfig):
    """TarGEN step 3: a target label per draft, by quota, with a (context, seed) pair.

    Attributes:
        distribution: ``balanced`` or ``{label: weight}``.
        max_drafts_factor: stop after ``n * factor`` drafts.
    """

    type: Literal["targen.label_constraints"] = "targen.label_constraints"
    distribution: Literal["balanced"] | dict[str, float] = "balanced"
    max_drafts_factor: float = Field(default=3.0, ge=1.0)
    role = "draft"
    reads = frozenset({"instance_seeds"})
    writes = frozenset({"drafts", "target_label", "instance_seed"})
    operators = (LabelConstraintPlanner,)
    kinds = frozenset({"classification"})

    @field_validator("distribution")
    @classmethod
    def _weights(cls, v: Any) -> Any:
        if isinstance(v, dict) and (any(w < 0 for w in v.values()) or sum(v.values()) <= 0):
            raise ValueError("weights must be >= 0, sum > 0")
        return v

    def quotas(self, strata: list[str], n: int) -> dict[str, int]:
        """Accepted records wanted per label, summing to ``n``."""
        return quotas(strata, n, None if self.distribution == "balanced" else self.distribution)

    def build(self, ctx: StepContext) -> Any:
        return _Drafts(self, ctx)


@register_step
class GenerateStep(StepConfig):
    """TarGEN step 4: one instance per draft under its label constraint.

    Attributes:
        max_words: asked length, in words.
        format: ``text`` or ``json`` (grammar-constrained, about 2.4x slower decode).
        max_attempts: answers requested per draft before rejecting it.
        meta_prompts: phrasings of the instruction rotated over drafts (1-3).
        style_examples: real seed examples shown per draft as examples of form (needs a
            ``seed_data.sample`` step); 0 shows none.
        example_words: words of each shown example.
        length: ``fixed`` asks every draft for ``max_words``; ``seeds`` asks each for the
            length of a seed example drawn for it, capped at ``max_words``.
    """

    type: Literal["targen.generate"] = "targen.generate"
    max_words: int = Field(default=45, ge=5, le=400, strict=True)
    format: Literal["text", "json"] = "text"
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    meta_prompts: int = Field(default=1, ge=1, le=3, strict=True)
    style_examples: int = Field(default=0, ge=0, le=8, strict=True)
    example_words: int = Field(default=80, ge=10, le=400, strict=True)
    length: Literal["fixed", "seeds"] = "fixed"
    role = "generate"
    reads = frozenset({"drafts", "target_label", "instance_seed", "unit"})
    writes = frozenset({"text"})
    operators = (InstanceGeneration,)
    kinds = frozenset({"classification"})

    def _anchored(self) -> bool:
        return self.style_examples > 0 or self.length == "seeds"

    def needs(self) -> frozenset[str]:
        return self.reads | ({"seed_examples"} if self._anchored() else set())

    def fingerprint_data(self) -> dict[str, Any]:
        """The config; without the seed-anchoring fields when they are off, so recipes
        written before them keep their fingerprint."""
        data = self.model_dump(mode="json")
        if not self._anchored():
            for key in ("style_examples", "example_words", "length"):
                data.pop(key)
        return data

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        return InstanceGeneration(
            ctx.backend, task.description, task.labels, max_words=self.max_words,
            output_format=self.format, max_attempts=self.max_attempts,
            meta_prompts=self.meta_prompts, unit=ctx.unit,
            templates=ctx.templates(InstanceGeneration),
            seed_examples=ctx.artifacts.get("seed_examples") or [],
            style_examples=self.style_examples, example_words=self.example_words,
            length_from_seeds=self.length == "seeds", **ctx.sampled)


class _SelfCorrectionCheck:
    """Runtime check: the operator plus the pass rule and the failure reason."""

    def __init__(self, config: SelfCorrectionStep, op: SelfCorrection) -> None:
        self.config, self.op, self.name = config, op, op.name

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        return self.op(records, attempt=attempt)

    @staticmethod
    def passed(record: Record) -> bool:
        verdict = record.verdict("self_consistency")
        return bool(verdict and verdict.passed)

    @staticmethod
    def reason(record: Record, generations: int) -> str:
        verdict = record.verdict("self_consistency")
        detail = verdict.detail if verdict else {}
        return (f"self-correction labelled it {detail.get('predicted')!r}, "
                f"target {detail.get('target')!r}, after {generations} generation(s)")


@register_step
class SelfCorrectionStep(StepConfig):
    """TarGEN step 5: blind relabelling; a disagreement fails the check.

    Attributes:
        with_descriptions: show the label descriptions to the labeller (slower).
        on_fail: ``regenerate`` (up to ``max_regenerations`` times, then reject),
            ``keep`` (at ``fail_trust_weight``) or ``reject``.
        fail_trust_weight: trust weight of a kept failing record (0..1).
        max_regenerations: regenerations after a failed check before rejecting.
        max_attempts: tries for a valid JSON answer.
    """

    type: Literal["targen.self_correction"] = "targen.self_correction"
    with_descriptions: bool = False
    on_fail: Literal["regenerate", "keep", "reject"] = "regenerate"
    fail_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=2, ge=0, le=10, strict=True)
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    role = "check"
    reads = frozenset({"text"})
    writes = frozenset({"label"})
    operators = (SelfCorrection,)
    kinds = frozenset({"classification"})

    def build(self, ctx: StepContext) -> Any:
        task = ctx.recipe.task
        op = SelfCorrection(ctx.backend, task.description, task.labels,
                            max_attempts=self.max_attempts, seed=ctx.recipe.seed,
                            with_descriptions=self.with_descriptions,
                            templates=ctx.templates(SelfCorrection))
        return _SelfCorrectionCheck(self, op)
