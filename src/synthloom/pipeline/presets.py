"""The TarGEN preset: a recipe's ``targen:``, ``coverage:`` and ``dedup:`` sections, which
expand to an explicit list of steps.

Recipes written before steps existed keep working unchanged, and a recipe that spells the
same steps out gets the same fingerprint (the fingerprint is taken over the expanded steps).
"""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synthloom.pipeline.steps.base import StepConfig
from synthloom.pipeline.steps.coverage import ComplexifyStep, CoverageStep
from synthloom.pipeline.steps.curate import LabelNoiseStep, RealismStep
from synthloom.pipeline.steps.filters import NearDuplicatesStep
from synthloom.pipeline.steps.seed_data import (
    CopyGuardStep,
    ErrorRoundsStep,
    SeedDataStep,
    SeedSituationsStep,
)
from synthloom.pipeline.steps.targen import (
    ContextsStep,
    GenerateStep,
    InstanceSeedsStep,
    LabelConstraintsStep,
    SelfCorrectionStep,
    UnitStep,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargenConfig(_Strict):
    """TarGEN knobs (arXiv 2310.17876); each maps to a step's field (see :func:`expand`).

    Attributes:
        contexts: contexts asked for in step 1, or a list of settings to use.
        contexts_per_label: ask for contexts per label rather than once for the task.
        seeds_per_pair: instance seeds per (context, label) pair in step 2.
        label_distribution: ``balanced`` or label -> weight.
        self_correction: blind relabelling on or off (step 5).
        self_correction_with_descriptions: show label descriptions to the labeller.
        on_disagreement: ``regenerate`` (then reject) or ``keep`` at
            ``disagreement_trust_weight``.
        disagreement_trust_weight: trust weight of a kept disagreeing instance.
        max_regenerations: regenerations after a disagreement before rejecting.
        max_attempts: tries for a valid answer.
        max_words: asked instance length, in words.
        instance_format: ``text`` or ``json``.
        max_drafts_factor: stop after ``n * factor`` drafts.
    """

    contexts: StrictInt | list[str] = 8
    contexts_per_label: bool = True
    seeds_per_pair: int = Field(default=8, ge=1, le=50, strict=True)
    label_distribution: Literal["balanced"] | dict[str, float] = "balanced"
    self_correction: bool = True
    self_correction_with_descriptions: bool = False
    on_disagreement: Literal["regenerate", "keep"] = "regenerate"
    disagreement_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    max_regenerations: int = Field(default=2, ge=0, le=10, strict=True)
    max_attempts: int = Field(default=3, ge=1, le=10, strict=True)
    max_words: int = Field(default=45, ge=5, le=400, strict=True)
    instance_format: Literal["text", "json"] = "text"
    max_drafts_factor: float = Field(default=3.0, ge=1.0)

    @field_validator("contexts")
    @classmethod
    def _contexts(cls, v: int | list[str]) -> int | list[str]:
        return ContextsStep._contexts(v)


class DedupConfig(_Strict):
    """Streaming near-duplicate rejection (off unless a threshold is set); see
    :class:`~synthloom.pipeline.steps.filters.NearDuplicatesStep`."""

    jaccard: float | None = Field(default=None, ge=0.0, le=1.0)
    cosine: float | None = Field(default=None, ge=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024, strict=True)
    bands: int | None = Field(default=None, ge=1, strict=True)


class CoverageConfig(_Strict):
    """Coverage knobs (all off by default); see
    :class:`~synthloom.pipeline.steps.coverage.CoverageStep` and ``ComplexifyStep``.
    ``meta_prompts`` goes to the generate step."""

    taxonomy: str | None = None
    strategy: Literal["uniform", "weighted", "quota"] = "quota"
    personas: bool = False
    characteristics: list[str] = Field(default_factory=list)
    complexify_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    complexify_operations: list[str] = Field(default_factory=list)
    meta_prompts: int = Field(default=1, ge=1, le=3, strict=True)

    @field_validator("characteristics", "complexify_operations")
    @classmethod
    def _known_names(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.field_name == "characteristics":
            return CoverageStep._known(v)
        return ComplexifyStep._known(v, info)


class SeedDataConfig(_Strict):
    """The user's real examples to anchor generation in (issue 10); expands to a
    :class:`~synthloom.pipeline.steps.seed_data.SeedDataStep`, the generate step's
    ``style_examples``, ``example_words`` and ``length``, and a
    :class:`~synthloom.pipeline.steps.seed_data.CopyGuardStep` (``copy_guard`` is its
    containment threshold; None turns it off). With ``situations_per_example > 0``, TarGEN's
    contexts and instance seeds are replaced by a
    :class:`~synthloom.pipeline.steps.seed_data.SeedSituationsStep` (situations like each
    labelled seed example's). With ``error_rounds > 0``, an
    :class:`~synthloom.pipeline.steps.seed_data.ErrorRoundsStep` adds S3 rounds
    (``per_error`` drafts per misclassified seed example) after the first ``n``.
    ``label_noise`` (``drop`` or ``weight``) adds a
    :class:`~synthloom.pipeline.steps.curate.LabelNoiseStep` and ``realism`` (``score``,
    ``drop`` the ``realism_drop`` least real share, or ``weight``) a
    :class:`~synthloom.pipeline.steps.curate.RealismStep`, both run over the finished set."""

    path: str
    text_column: str = "text"
    label_column: str | None = "label"
    n: int = Field(default=50, ge=1, le=100_000, strict=True)
    split_seed: int = Field(default=13, strict=True)
    style_examples: int | None = Field(default=None, ge=0, le=8, strict=True)
    example_words: int = Field(default=80, ge=10, le=400, strict=True)
    length: Literal["fixed", "seeds"] = "fixed"
    copy_guard: float | None = Field(default=0.5, gt=0.0, le=1.0)
    situations_per_example: int | None = Field(default=None, ge=0, le=50, strict=True)
    error_rounds: int = Field(default=0, ge=0, le=20, strict=True)
    per_error: int = Field(default=2, ge=1, le=20, strict=True)
    label_noise: Literal["off", "drop", "weight"] = "off"
    realism: Literal["off", "score", "drop", "weight"] = "off"
    realism_drop: float = Field(default=0.2, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _defaults_by_labels(self) -> SeedDataConfig:
        """Unset levers take the defaults measured best (issue 10's ablation): labelled
        seeds give 4 situations each and no examples of form; unlabelled seeds, which
        situations cannot use, are shown 2 at a time as examples of form."""
        labelled = self.label_column is not None
        if self.situations_per_example is None:
            self.situations_per_example = 4 if labelled else 0
        if self.style_examples is None:
            self.style_examples = 0 if labelled else 2
        return self


def expand(targen: TargenConfig, coverage: CoverageConfig, dedup: DedupConfig,
           unit_given: bool, seed_data: SeedDataConfig | None = None) -> list[StepConfig]:
    """The steps the preset sections stand for, in engine order."""
    t, c, s = targen, coverage, seed_data
    steps: list[StepConfig] = [] if unit_given else [UnitStep()]
    if s is not None:
        steps.insert(0, SeedDataStep(path=s.path, text_column=s.text_column,
                                     label_column=s.label_column, n=s.n,
                                     split_seed=s.split_seed))
    if s is not None and s.situations_per_example:
        steps.append(SeedSituationsStep(per_example=s.situations_per_example))
    else:
        steps += [ContextsStep(n=t.contexts, per_label=t.contexts_per_label),
                  InstanceSeedsStep(per_pair=t.seeds_per_pair)]
    steps += [
        LabelConstraintsStep(distribution=t.label_distribution,
                             max_drafts_factor=t.max_drafts_factor),
    ]
    if c.taxonomy or c.personas or c.characteristics:
        steps.append(CoverageStep(taxonomy=c.taxonomy, strategy=c.strategy,
                                  personas=c.personas, characteristics=c.characteristics))
    anchoring = ({"style_examples": s.style_examples, "example_words": s.example_words,
                  "length": s.length} if s is not None else {})
    steps.append(GenerateStep(max_words=t.max_words, format=t.instance_format,
                              max_attempts=t.max_attempts, meta_prompts=c.meta_prompts,
                              **anchoring))
    if c.complexify_fraction > 0:
        steps.append(ComplexifyStep(fraction=c.complexify_fraction,
                                    operations=c.complexify_operations, max_words=t.max_words))
    if t.self_correction:
        steps.append(SelfCorrectionStep(
            with_descriptions=t.self_correction_with_descriptions,
            on_fail=t.on_disagreement, fail_trust_weight=t.disagreement_trust_weight,
            max_regenerations=t.max_regenerations, max_attempts=t.max_attempts))
    if s is not None and s.copy_guard is not None:
        steps.append(CopyGuardStep(containment=s.copy_guard))
    if dedup.jaccard is not None or dedup.cosine is not None:
        steps.append(NearDuplicatesStep(**dedup.model_dump()))
    if s is not None and s.error_rounds:
        steps.append(ErrorRoundsStep(rounds=s.error_rounds, per_error=s.per_error))
    if s is not None and s.label_noise != "off":
        steps.append(LabelNoiseStep(action=s.label_noise))
    if s is not None and s.realism != "off":
        steps.append(RealismStep(action=s.realism, drop_fraction=s.realism_drop))
    return steps
