"""Plan steps of the ``instruction`` kind: build the pool of instructions the drafts read.

Each pool step runs once per run and saves a :class:`~synthloom.operators.instruct.pool.
PoolResult` as ``plan/<artifact>.json`` (the items, and how many candidates each filter
removed). Steps chain: a step that reads ``instructions`` takes the pool of the last
earlier pool step (or the seed pool), so ``instruction.seed_pool -> instruction.self_instruct
-> instruction.evol`` evolves Self-Instruct's output. The draft step reads the last pool.

=============================  =================================================  ========
step                           what it makes                                      artifact
=============================  =================================================  ========
``instruction.seed_pool``      the seed tasks: the shipped pool or the user's     seed_pool
``instruction.self_instruct``  Self-Instruct bootstrap (arXiv 2212.10560)          self_instruct
``instruction.evol``           Evol-Instruct generations (arXiv 2304.12244)        evol
``personas.pool``              a persona pool: sampled, generated or a file       personas
``instruction.persona_prompts`` one instruction per persona (arXiv 2406.20094)     persona_prompts
=============================  =================================================  ========
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PrivateAttr, model_validator

from synthloom.errors import GenerationError, UserInputError
from synthloom.operators.instruct.evol_instruct import OPERATIONS, EvolInstruct
from synthloom.operators.instruct.persona_hub import (
    PersonaGeneration,
    PersonaInstructions,
    read_personas,
    sampled_personas,
)
from synthloom.operators.instruct.pool import PoolItem, PoolResult
from synthloom.operators.instruct.self_instruct import (
    SelfInstruct,
    read_seed_tasks,
    shipped_seed_tasks,
)
from synthloom.pipeline.steps.base import (
    PlanRun,
    StepConfig,
    StepContext,
    file_fingerprint,
    register_step,
)

_KINDS = frozenset({"instruction"})

#: artifacts that hold a pool, in the order a recipe may chain them
POOL_ARTIFACTS = ("seed_pool", "self_instruct", "evol", "persona_prompts")


def pool_items(artifact: Any) -> list[PoolItem]:
    """The items of a saved pool artifact (a :meth:`PoolResult.to_json` value)."""
    return [PoolItem.from_json(i) for i in (artifact or {}).get("items", [])]


def latest_pool(ctx: StepContext, before: StepConfig | None = None) -> tuple[str, list[PoolItem]]:
    """``(artifact, items)`` of the last pool plan step of the recipe (before ``before``, when
    given) whose artifact exists; for a step built outside its recipe, the last artifact of
    :data:`POOL_ARTIFACTS` that exists.

    Raises:
        GenerationError: no pool artifact exists yet.
    """
    name = None
    for step in ctx.recipe.steps_of("plan"):
        if step is before:
            break
        if step.artifact in POOL_ARTIFACTS and step.artifact in ctx.artifacts:
            name = step.artifact
    if name is None and not any(s is before for s in ctx.recipe.steps_of("plan")):
        name = next((a for a in reversed(POOL_ARTIFACTS) if a in ctx.artifacts
                     and a != getattr(before, "artifact", None)), None)
    if name is None:
        raise GenerationError("no instruction pool to read (no seed_pool, self_instruct, "
                              "evol or persona_prompts plan step ran before)")
    return name, pool_items(ctx.artifacts[name])


@register_step
class SeedPoolStep(StepConfig):
    """The seed tasks: a file of the user's (Self-Instruct's ``seed_tasks.jsonl`` format,
    JSONL with ``instruction``/``input``/``output``, or ``.txt`` with one instruction per
    line), else the pool shipped with synthloom (40 tasks written for the project).

    Attributes:
        file: the seed-task file, relative to the recipe file when loaded from YAML; read
            when the recipe loads (an empty or malformed file is an error then); it enters
            the fingerprint by its content's sha256.
    """

    type: Literal["instruction.seed_pool"] = "instruction.seed_pool"
    file: str | None = None
    role = "plan"
    writes = frozenset({"instructions"})
    kinds = _KINDS
    artifact = "seed_pool"

    _items: list[PoolItem] | None = PrivateAttr(default=None)

    def check_task(self, task: Any) -> None:
        """Read the seed file now: a bad file is a ValueError when the recipe loads."""
        if self.file is not None:
            try:
                self._items = read_seed_tasks(self.file)
            except UserInputError as e:
                raise ValueError(str(e)) from None

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            items = (self._items or read_seed_tasks(self.file)) if self.file else \
                shipped_seed_tasks()
            return PoolResult(items=list(items), candidates=len(items)).to_json()

        return PlanRun(run)


@register_step
class SelfInstructStep(StepConfig):
    """Self-Instruct (Wang et al., arXiv 2212.10560): new instructions bootstrapped from the
    seed pool, 8 in-context instructions per request (6 seed, 2 generated), kept only if
    their ROUGE-L against every kept one is below ``rouge_threshold`` (an index, not a
    scan), with the paper's keyword and length filters; classification tasks get their
    instance output-first.

    Attributes:
        count: new instructions wanted (fewer when ``max_rounds`` runs out).
        rouge_threshold: ROUGE-L F at or above which an instruction is a repeat.
        requests_per_round: requests sent together per round.
        max_rounds: rounds before giving up on ``count``.
        temperature: sampling temperature of the instruction requests.
    """

    type: Literal["instruction.self_instruct"] = "instruction.self_instruct"
    count: int = Field(default=100, ge=1, le=100_000, strict=True)
    rouge_threshold: float = Field(default=0.7, gt=0.0, le=1.0)
    requests_per_round: int = Field(default=8, ge=1, le=256, strict=True)
    max_rounds: int = Field(default=50, ge=1, le=10_000, strict=True)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    role = "plan"
    reads = frozenset({"instructions"})
    writes = frozenset({"instructions"})
    operators = (SelfInstruct,)
    kinds = _KINDS
    artifact = "self_instruct"

    def needs(self) -> frozenset[str]:
        return self.reads | {"unit"}

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            _, seeds = latest_pool(ctx, before=self)
            op = SelfInstruct(
                ctx.backend, seeds, description=ctx.recipe.task.description, unit=ctx.unit,
                rouge_threshold=self.rouge_threshold,
                requests_per_round=self.requests_per_round, max_rounds=self.max_rounds,
                seed=ctx.recipe.seed, temperature=self.temperature,
                top_p=ctx.recipe.sampling.top_p, templates=ctx.templates(SelfInstruct))
            result = op.run(self.count)
            if not result.items:
                raise GenerationError("Self-Instruct kept no instruction; see the removed "
                                      f"counts {dict(result.removed)}")
            out = result.to_json()
            out["rouge_index"] = {"queries": op.index.queries,
                                  "exact_comparisons": op.index.exact_comparisons}
            return out

        return PlanRun(run)


@register_step
class EvolStep(StepConfig):
    """Evol-Instruct (Xu et al., arXiv 2304.12244): the pool evolved for ``generations``
    generations by in-depth operations and in-breadth mutation; failed evolutions are
    eliminated (no information gain as judged, refusal-like or stop-word-only responses,
    rewrites that copy the template) and their parents tried again. The judge backend
    (the recipe's ``judge``, else the generator) judges information gain.

    Attributes:
        generations: evolution rounds.
        operations: operation names (``add_constraints``, ``deepen``, ``concretize``,
            ``increase_reasoning``, ``complicate_input``, ``breadth``); None: all.
        include_pool: also keep the input pool's items (the paper's final set merges the
            seed instructions with every generation).
        max_response_words: asked length of the responses that test each evolution.
    """

    type: Literal["instruction.evol"] = "instruction.evol"
    generations: int = Field(default=3, ge=1, le=10, strict=True)
    operations: list[str] | None = Field(default=None, min_length=1)
    include_pool: bool = False
    max_response_words: int = Field(default=200, ge=10, le=2000, strict=True)
    role = "plan"
    reads = frozenset({"instructions"})
    writes = frozenset({"instructions"})
    operators = (EvolInstruct,)
    kinds = _KINDS
    artifact = "evol"

    @model_validator(mode="after")
    def _known_operations(self) -> EvolStep:
        unknown = sorted(set(self.operations or []) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"unknown Evol-Instruct operation {unknown[0]!r}; known: "
                             f"{', '.join(OPERATIONS)}")
        return self

    def needs(self) -> frozenset[str]:
        return self.reads | {"unit"}

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            _, pool = latest_pool(ctx, before=self)
            op = EvolInstruct(
                ctx.backend, generations=self.generations, operations=self.operations,
                judge=ctx.judge, description=ctx.recipe.task.description, unit=ctx.unit,
                max_response_words=self.max_response_words, seed=ctx.recipe.seed,
                temperature=ctx.recipe.sampling.temperature, top_p=ctx.recipe.sampling.top_p,
                templates=ctx.templates(EvolInstruct))
            result = op.run(pool)
            if self.include_pool:
                result.items = [*pool, *result.items]
            if not result.items:
                raise GenerationError("every evolution failed; see the removed counts "
                                      f"{dict(result.removed)}")
            return result.to_json()

        return PlanRun(run)


@register_step
class PersonasStep(StepConfig):
    """A persona pool (Persona Hub, Ge et al., arXiv 2406.20094): ``sampled`` from
    occupations, expertise, age bands and traits; ``generated`` by the LLM from the task
    description (who would ask for this?); or read from ``file`` (one per line, or JSONL
    with a ``persona`` field). Drafts take persona ``i % len(pool)``; the persona is
    recorded in each record's ``plan.persona``.

    Attributes:
        source: ``sampled``, ``generated`` or ``file``.
        count: personas sampled or asked for.
        file: the persona file (``source: file``), read when the recipe loads.
    """

    type: Literal["personas.pool"] = "personas.pool"
    source: Literal["sampled", "generated", "file"] = "sampled"
    count: int = Field(default=50, ge=1, le=100_000, strict=True)
    file: str | None = None
    role = "plan"
    reads = frozenset({"description"})
    writes = frozenset({"personas"})
    operators = (PersonaGeneration,)
    artifact = "personas"

    _personas: list[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _file_for_file(self) -> PersonasStep:
        if (self.source == "file") != (self.file is not None):
            raise ValueError("give file exactly when source is file")
        return self

    def check_task(self, task: Any) -> None:
        if self.file is not None:
            try:
                self._personas = read_personas(self.file)
            except UserInputError as e:
                raise ValueError(str(e)) from None

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> list[str]:
            if self.source == "file":
                return self._personas or read_personas(self.file)
            if self.source == "sampled":
                return sampled_personas(self.count, ctx.recipe.seed)
            found = PersonaGeneration(
                ctx.backend, ctx.recipe.task.description, count=self.count,
                seed=ctx.recipe.seed, templates=ctx.templates(PersonaGeneration)).run()
            if not found:
                raise GenerationError("the model wrote no usable persona; use source: sampled "
                                      "or a file")
            return found

        return PlanRun(run)


@register_step
class PersonaPromptsStep(StepConfig):
    """Persona-driven instructions (Persona Hub, arXiv 2406.20094): for each persona of the
    pool, the instruction that persona would ask an assistant, in the task's area."""

    type: Literal["instruction.persona_prompts"] = "instruction.persona_prompts"
    role = "plan"
    reads = frozenset({"personas", "description"})
    writes = frozenset({"instructions"})
    operators = (PersonaInstructions,)
    kinds = _KINDS
    artifact = "persona_prompts"

    def needs(self) -> frozenset[str]:
        return self.reads | {"unit"}

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            op = PersonaInstructions(ctx.backend, ctx.recipe.task.description, unit=ctx.unit,
                                     seed=ctx.recipe.seed,
                                     templates=ctx.templates(PersonaInstructions))
            result = op.run([str(p) for p in artifacts.get("personas") or []])
            if not result.items:
                raise GenerationError("no persona gave a usable instruction; see the removed "
                                      f"counts {dict(result.removed)}")
            return result.to_json()

        return PlanRun(run)
