"""Draft and generate steps of the ``instruction`` kind.

``instruction.drafts`` makes one draft per instruction of the last pool (see
:mod:`synthloom.pipeline.steps.instruction_pool`), in a seeded random order, or, in a
recipe without a pool (Magpie), empty drafts, each with persona ``i % len`` of the
``personas`` artifact when a ``personas.pool`` step ran. A pool item's own persona
(persona-driven prompts) is kept in the draft's plan. Then one generate step:

- ``instruction.responses``: the response to each drafted instruction (the pool's own
  output when it has one and ``use_pool_output`` is on; else written, best-of-n with the
  judge when ``best_of > 1``).
- ``instruction.magpie``: Magpie (Xu et al., arXiv 2406.08464): the model writes the
  instruction itself from its chat template's pre-query prefix, then answers it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from synthloom.errors import GenerationError
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.instruct.magpie import Magpie
from synthloom.operators.instruct.pool import PoolItem
from synthloom.operators.instruct.responses import RESPONSE_QUALITY, InstructionResponses
from synthloom.operators.judge.pointwise import PointwiseJudge
from synthloom.pipeline.steps.base import OneStratumDrafts, StepConfig, StepContext, register_step
from synthloom.pipeline.steps.instruction_pool import POOL_ARTIFACTS, pool_items
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record
from synthloom.tasks.instruction import user_text

_KINDS = frozenset({"instruction"})

#: pool methods whose items a person wrote (the shipped seed tasks, the user's file)
_HUMAN = frozenset({"seed", "file"})


class _InstructionDrafts(OneStratumDrafts):
    """The draft step's runtime object: draft ``i`` carries pool item ``i`` (or nothing)."""

    def __init__(self, config: InstructionDraftsStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.items: list[PoolItem] | None = None
        self.personas: list[str] = []

    def start(self, artifacts: dict[str, Any]) -> None:
        """Take the last pool and the personas (GenerationError when the pool is empty)."""
        pools = [s.artifact for s in self.ctx.recipe.steps_of("plan")
                 if s.artifact in POOL_ARTIFACTS]
        self.recipe_sha256 = self.ctx.recipe.sha256()
        if pools:
            self.items = pool_items(artifacts.get(pools[-1]))
            if not self.items:
                raise GenerationError(f"the instruction pool plan/{pools[-1]}.json is empty")
            # drafts take the pool in a seeded random order: every generation of an evolved
            # pool, and seeds and evolutions alike, have the same chance to become records
            order = list(range(len(self.items)))
            random.Random(derived_seed("instruction.drafts", self.ctx.recipe.seed,
                                       pools[-1])).shuffle(order)
            self.items = [self.items[i] for i in order]
        else:  # the generate step writes the instruction (Magpie): it uses the personas
            self.personas = [str(p) for p in artifacts.get("personas") or []]

    def max_drafts(self, n: int) -> int:
        """``n * max_drafts_factor``, and at most one draft per pool item."""
        most = int(n * self.config.max_drafts_factor)
        return most if self.items is None else min(most, len(self.items))

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        r = self.ctx.recipe
        plan_id = f"plan-{derived_seed(self.recipe_sha256, r.seed, index):010d}-{index}"
        item = self.items[index] if self.items is not None else None
        persona = item.persona if item is not None and item.persona else (
            self.personas[index % len(self.personas)] if self.personas else None)
        detail: dict[str, Any] = {"index": index}
        inputs: dict[str, Any] = {}
        parents: list[str] = []
        if item is not None:
            detail.update(pool_id=item.id, method=item.method, generation=item.generation,
                          **({"operation": item.operation} if item.operation else {}),
                          **({"classification": item.classification}
                             if item.classification is not None else {}))
            inputs = {"instruction": item.instruction,
                      **({"input": item.input} if item.input else {})}
            parents = list(item.parents)
        step = OperatorStep(operator=self.config.type, verdict="planned", detail=detail)
        return Record(id=plan_id, task=r.task.name, kind="instruction", inputs=inputs,
                      origin=Origin.synthetic,
                      provenance=Provenance(recipe_sha256=self.recipe_sha256,
                                            plan=Plan(id=plan_id, persona=persona),
                                            parents=parents, operators=[step]))


@register_step
class InstructionDraftsStep(StepConfig):
    """One draft per pool instruction, in a seeded random order of the pool (no
    instruction used twice), or empty drafts for a generate step that writes the
    instruction itself (Magpie).

    Attributes:
        max_drafts_factor: stop after ``n * factor`` drafts (or when the pool runs out), so
            rejected drafts are made up by later ones.
    """

    type: Literal["instruction.drafts"] = "instruction.drafts"
    max_drafts_factor: float = Field(default=1.5, ge=1.0)
    role = "draft"
    writes = frozenset({"drafts"})
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _InstructionDrafts(self, ctx)


def _pool_by_id(ctx: StepContext) -> dict[str, PoolItem]:
    items: dict[str, PoolItem] = {}
    for name in POOL_ARTIFACTS:
        for item in pool_items(ctx.artifacts.get(name)):
            items[item.id] = item
    return items


class _Responses:
    """The responses step's runtime object."""

    def __init__(self, config: ResponsesStep, ctx: StepContext) -> None:
        r = ctx.recipe
        self.config = config
        judge = None
        if config.best_of > 1:
            judge = PointwiseJudge(ctx.judge, r.task.description, ctx.unit, [RESPONSE_QUALITY],
                                   same_model_as_generator=ctx.judge_is_generator,
                                   seed=r.seed, templates=ctx.templates(PointwiseJudge))
        self.op = InstructionResponses(
            ctx.backend, n=config.best_of, temperatures=config.temperatures,
            max_words=config.max_words, judge=judge, seed=r.seed, top_p=r.sampling.top_p)
        self.pool = _pool_by_id(ctx)
        self.ident = identity_provenance(ctx.backend.identity)

    def _item(self, record: Record) -> PoolItem | None:
        return self.pool.get(record.provenance.operators[0].detail.get("pool_id", ""))

    def _pool_output(self, record: Record) -> str | None:
        """The response the pool's generator wrote with the instruction; never a seed's own
        output (a person wrote it: the record would be real data passed off as synthetic)."""
        item = self._item(record)
        if not self.config.use_pool_output or item is None or item.method in _HUMAN:
            return None
        return item.output or None

    def _origins(self, record: Record) -> dict[str, Any]:
        """A seed task's instruction (and input) were written by a person: real fields on a
        synthetic record."""
        item = self._item(record)
        if item is None or item.method not in _HUMAN:
            return {}
        return {"field_origins": {f: Origin.real for f in ("instruction", "input")
                                  if f in record.inputs}}

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with ``outputs["response"]``, or rejected with the reason."""
        given = {i: out for i, r in enumerate(records) if (out := self._pool_output(r))}
        todo = [i for i in range(len(records)) if i not in given]
        found = self.op.run([(records[i].provenance.plan.id, user_text(
            str(records[i].inputs.get("instruction", "")), records[i].inputs.get("input")))
            for i in todo], attempt)
        out = list(records)
        for i, text in given.items():  # the pool's generator (this backend) wrote it
            out[i] = with_step(records[i], self.op.step("pool output", attempt=attempt),
                               **self.ident).model_copy(update={"outputs": {"response": text}})
        for i, result in zip(todo, found, strict=True):
            detail: dict[str, Any] = {"attempt": attempt}
            if len(result.candidates) > 1:
                detail["candidates"] = result.candidates
            r = with_step(records[i], self.op.step(
                "generated" if result.text else "rejected", **detail),
                sampling=self.op.sampling(), **self.ident)
            out[i] = r.model_copy(update={"outputs": {"response": result.text},
                                          **self._origins(r)}) \
                if result.text else r.reject(self.op.name, result.reason or "no response")
        return out


@register_step
class ResponsesStep(StepConfig):
    """The response to each drafted instruction.

    Attributes:
        use_pool_output: keep the response the pool step's generator wrote with the
            instruction (Self-Instruct's instance output, Evol-Instruct's response) instead
            of asking. A seed task (shipped or the user's file) is always answered anew,
            and its instruction is marked real in ``field_origins``.
        best_of: candidates per instruction (1..8); above 1, the judge backend scores each
            on response quality and the best is kept (all scores in provenance).
        temperatures: candidate ``i`` is sampled at ``temperatures[i % len]``.
        max_words: the response's cap, in words (``max_tokens`` = 2.2 per word + 40); the
            instruction is sent as it is, and a response cut off at the cap is rejected.
    """

    type: Literal["instruction.responses"] = "instruction.responses"
    use_pool_output: bool = True
    best_of: int = Field(default=1, ge=1, le=8, strict=True)
    temperatures: list[Annotated[float, Field(ge=0.0, le=2.0)]] = Field(
        default_factory=lambda: [0.7], min_length=1)
    max_words: int = Field(default=300, ge=5, le=4000, strict=True)
    role = "generate"
    reads = frozenset({"drafts", "instructions"})
    writes = frozenset({"instruction", "response"})
    operators = (PointwiseJudge,)
    kinds = _KINDS

    def needs(self) -> frozenset[str]:
        return self.reads | ({"unit"} if self.best_of > 1 else set())

    def build(self, ctx: StepContext) -> Any:
        return _Responses(self, ctx)


class _Magpie:
    """The Magpie step's runtime object."""

    def __init__(self, config: MagpieStep, ctx: StepContext) -> None:
        self.op = Magpie(ctx.backend, system=config.system, turns=config.turns,
                         seed=ctx.recipe.seed, query_temperature=config.query_temperature,
                         query_top_p=config.query_top_p,
                         response_temperature=config.response_temperature,
                         max_query_tokens=config.max_query_tokens,
                         max_response_tokens=config.max_response_tokens)
        self.ident = identity_provenance(ctx.backend.identity)

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with the model's own instruction and its response, or rejected."""
        found = self.op.run([r.provenance.plan.id for r in records], attempt,
                            personas=[r.provenance.plan.persona for r in records])
        out = []
        for r, result in zip(records, found, strict=True):
            r = with_step(r, self.op.step("generated" if result.messages else "rejected",
                                          attempt=attempt, query_tokens=result.query_tokens,
                                          response_tokens=result.response_tokens),
                          **self.ident)
            if not result.messages:
                out.append(r.reject(self.op.name, result.reason or "no query"))
                continue
            messages = result.messages
            outputs: dict[str, Any] = {"response": messages[1]["content"]}
            if len(messages) > 2:
                outputs["messages"] = messages
            out.append(r.model_copy(update={
                "inputs": {"instruction": messages[0]["content"]}, "outputs": outputs}))
        return out


@register_step
class MagpieStep(StepConfig):
    """Magpie (Xu et al., arXiv 2406.08464): the generator is sent only its chat template's
    pre-query prefix and writes a user instruction, which it then answers. Needs a backend
    that continues raw text (the embedded model, or an HTTP server with ``/completions``)
    and a chat template with a pre-query prefix (checked when the run starts: exit 2).

    Attributes:
        system: the system message of the prefix (None: the template's default).
        turns: exchanges per conversation (more than 1 needs a ChatML template).
        query_temperature, query_top_p: sampling of the instruction (the paper: 1.0, 1.0).
        response_temperature: sampling of the response.
        max_query_tokens, max_response_tokens: caps, in tokens; a query cut off at its cap
            is rejected.
    """

    type: Literal["instruction.magpie"] = "instruction.magpie"
    system: str | None = None
    turns: int = Field(default=1, ge=1, le=5, strict=True)
    query_temperature: float = Field(default=1.0, ge=0.0, le=2.0)
    query_top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    response_temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_query_tokens: int = Field(default=160, ge=8, le=4096, strict=True)
    max_response_tokens: int = Field(default=512, ge=8, le=8192, strict=True)
    role = "generate"
    reads = frozenset({"drafts"})
    writes = frozenset({"instruction", "response"})
    kinds = _KINDS

    def check_steps(self, index: int, steps: Sequence[StepConfig]) -> None:
        """Magpie writes its own instructions: a pool step before it would be ignored."""
        pools = [s.type for s in steps[:index] if "instructions" in s.writes]
        if pools:
            raise ValueError(f"steps.{index} (instruction.magpie): writes its own "
                             f"instructions, so the pool of {pools[-1]} would be ignored; "
                             "use instruction.responses after a pool step")

    def build(self, ctx: StepContext) -> Any:
        return _Magpie(self, ctx)
