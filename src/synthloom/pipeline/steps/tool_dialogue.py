"""Steps of the ``tool_dialogue`` kind (ToolFlow, Wang et al., arXiv 2410.18447).

- ``tools.sample`` (draft): one draft per sampled tool set. The registry is a folder of
  JSON Schema function specs, an OpenAPI file, or the shipped set (``builtin``); sets are
  sampled by random walks on the tool graph (``sampling: graph``, the paper's method) or
  uniformly (``sampling: uniform``, the ablation arm). Draft ``i`` depends only on the
  recipe's seed and ``i``, so a resumed or longer run makes the same sets.
- ``tool_dialogue.generate`` (generate): the LLM writes a turn-by-turn plan, then the user,
  assistant and tool-simulator agents follow it
  (:mod:`synthloom.operators.tools.agents`); every call is validated against its schema,
  repaired once, or the dialogue ends before that turn; a dialogue with no finished tool
  turn is rejected with the reason.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from synthloom.errors import UserInputError
from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.tools.agents import AgentSettings, ToolFlowDialogue, run_dialogues
from synthloom.operators.tools.graph import DEFAULT_THRESHOLD, ToolGraph
from synthloom.operators.tools.registry import ToolRegistry
from synthloom.pipeline.steps.base import OneStratumDrafts, StepConfig, StepContext, register_step
from synthloom.records import OperatorStep, Origin, Plan, Provenance, Record, sha256_text

_KINDS = frozenset({"tool_dialogue"})


def load_registry(tools: str) -> ToolRegistry:
    """``builtin`` (the shipped set) or a folder / OpenAPI file.

    Raises:
        ToolSchemaError: a tool that is not valid (one line naming it).
        UserInputError: the path does not exist.
    """
    if tools == "builtin":
        return ToolRegistry.builtin()
    if not Path(tools).exists():
        raise UserInputError(f"tools: {tools} does not exist (a folder of JSON tool specs, "
                             "an OpenAPI file, or builtin)")
    return ToolRegistry.from_path(tools)


def graph_embedder() -> Any:
    """The embedder the tool graph is built with: all-MiniLM-L6-v2 unquantized, no disk
    cache (the dynamically quantized copy's vectors depend a little on batching, which
    flips edges near the threshold; these are the same on every run)."""
    from synthloom.llm.embeddings import SentenceEmbedder

    return SentenceEmbedder(cache_path=None, quantized=False)


class _Sample(OneStratumDrafts):
    """The sampling step's runtime object: draft ``i`` holds tool set ``i``."""

    def __init__(self, config: ToolSampleStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx

    def start(self, artifacts: dict[str, Any]) -> None:
        self.recipe_sha256 = self.ctx.recipe.sha256()
        self.registry = load_registry(self.config.tools)
        self.graph = ToolGraph.build(self.registry, graph_embedder(), self.config.threshold)
        low, high = self.config.size
        if high > len(self.registry):
            raise UserInputError(f"tools.sample size {high} is more than the "
                                 f"{len(self.registry)} tools")

    def max_drafts(self, n: int) -> int:
        return int(n * self.config.max_drafts_factor)

    def tool_set(self, index: int) -> list[str]:
        """Tool set ``index`` (its size and members from its own derived seed)."""
        rng = random.Random(derived_seed("tools.sample", self.ctx.recipe.seed, index))
        size = rng.randint(*self.config.size)
        if self.config.sampling == "graph":
            return self.graph.random_walk_sample(rng, size)
        return self.graph.uniform_sample(rng, size)

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        r = self.ctx.recipe
        names = self.tool_set(index)
        plan_id = f"plan-{derived_seed(self.recipe_sha256, r.seed, index):010d}-{index}"
        step = OperatorStep(operator=self.config.type, verdict="planned", detail={
            "index": index, "sampling": self.config.sampling,
            "threshold": self.config.threshold,
            "chains": [[e.source, e.target] for e in self.graph.chains(names)]})
        return Record(
            id=plan_id, task=r.task.name, kind="tool_dialogue",
            inputs={"tools": names,
                    "tool_specs": [self.registry[n].openai_spec() for n in names],
                    "sampling": self.config.sampling, "chain": self.graph.has_chain(names)},
            origin=Origin.synthetic,
            provenance=Provenance(recipe_sha256=self.recipe_sha256, plan=Plan(id=plan_id),
                                  operators=[step]))


@register_step
class ToolSampleStep(StepConfig):
    """One draft per sampled tool set (see the module docstring).

    Attributes:
        tools: ``builtin`` (45 tools in 6 domains, shipped), a folder of JSON function
            specs (OpenAI style or bare, with an optional ``returns`` schema), or an
            OpenAPI 3 file.
        sampling: ``graph`` (random walks on the tool graph) or ``uniform``.
        size: tools per set, an inclusive ``[low, high]`` range.
        threshold: cosine at which two tool fields count as similar (graph edges).
        max_drafts_factor: stop after ``n * factor`` drafts, so rejected dialogues are made
            up by later ones.
    """

    type: Literal["tools.sample"] = "tools.sample"
    tools: str = "builtin"
    sampling: Literal["graph", "uniform"] = "graph"
    size: tuple[int, int] = (2, 4)
    threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0.0, lt=1.0)
    max_drafts_factor: float = Field(default=2.0, ge=1.0)
    role = "draft"
    writes = frozenset({"tools"})
    kinds = _KINDS

    @field_validator("size")
    @classmethod
    def _size_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= value[0] <= value[1]:
            raise ValueError(f"size must be [low, high] with 1 <= low <= high, got {value}")
        return value

    def check_task(self, task: Any) -> None:
        """The tool set loads (every schema valid, names unique, descriptions present).

        Raises:
            ToolSchemaError: one line naming the bad tool.
        """
        load_registry(self.tools)

    def fingerprint_data(self) -> dict[str, Any]:
        """The tools by content (not by path), so copies of a tool folder give the same
        data."""
        data = self.model_dump(mode="json")
        if self.tools != "builtin":
            specs = sorted((t.name, str(t.openai_spec()), str(t.returns))
                           for t in load_registry(self.tools))
            data["tools"] = {"sha256": sha256_text(repr(specs))}
        return data

    def build(self, ctx: StepContext) -> Any:
        return _Sample(self, ctx)


class _Generate:
    """The generate step's runtime object: a planned, simulated dialogue per draft."""

    name = "toolflow.dialogue"

    def __init__(self, config: ToolDialogueStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.ident = identity_provenance(ctx.backend.identity)
        self.registry: ToolRegistry | None = None

    def _registry(self, records: list[Record]) -> ToolRegistry:
        if self.registry is None:
            sample = next(s for s in self.ctx.recipe.steps if s.type == "tools.sample")
            self.registry = load_registry(sample.tools)
        return self.registry

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        registry = self._registry(records)
        settings = AgentSettings(temperature=self.config.temperature,
                                 tool_temperature=self.config.tool_temperature,
                                 max_tokens=self.config.max_tokens,
                                 max_call_rounds=self.config.max_call_rounds)
        r = self.ctx.recipe
        dialogues = [ToolFlowDialogue(
            registry, rec.inputs["tools"], r.task.description,
            key=f"{rec.provenance.plan.id or rec.id}:{attempt}", seed=r.seed,
            turns=random.Random(derived_seed(self.name, r.seed, rec.provenance.plan.id)
                                ).randint(*self.config.turns),
            settings=settings) for rec in records]
        out = []
        for rec, result in zip(records, run_dialogues(self.ctx.backend, dialogues),
                               strict=True):
            step = OperatorStep(operator=self.name, version="1",
                                verdict="rejected" if result.rejected else "generated",
                                detail={"attempt": attempt, **result.stats})
            done = with_step(rec, step, **self.ident)
            if result.rejected:
                out.append(done.reject(self.name, result.rejected))
                continue
            out.append(done.model_copy(update={
                "inputs": {**rec.inputs, "plan": result.plan},
                "outputs": {"messages": result.messages}}))
        return out


@register_step
class ToolDialogueStep(StepConfig):
    """Plan, then simulate a tool-calling dialogue per tool set (module docstring).

    Attributes:
        turns: planned turns per dialogue, an inclusive ``[low, high]`` range (2..6).
        temperature: sampling temperature of the planner, user and assistant.
        tool_temperature: of the tool simulator.
        max_tokens: cap per answer (tokens).
        max_call_rounds: assistant calls per turn before it must reply (a chain A -> B
            needs 2).
    """

    type: Literal["tool_dialogue.generate"] = "tool_dialogue.generate"
    turns: tuple[int, int] = (2, 3)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    tool_temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(default=320, ge=32)
    max_call_rounds: int = Field(default=2, ge=1, le=4)
    role = "generate"
    reads = frozenset({"tools"})
    writes = frozenset({"messages"})
    kinds = _KINDS

    @field_validator("turns")
    @classmethod
    def _turn_range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 2 <= value[0] <= value[1] <= 6:
            raise ValueError(f"turns must be [low, high] within 2..6, got {value}")
        return value

    def build(self, ctx: StepContext) -> Any:
        return _Generate(self, ctx)
