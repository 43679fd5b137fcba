"""Steps: the typed, registered pieces a recipe's generation is made of.

A recipe's ``steps`` is an ordered list, a pydantic discriminated union on ``type`` over
the registered :class:`StepConfig` subclasses. Each config declares its **role** (where it
runs in the engine), the fields it **reads** and **writes** (checked when the recipe loads:
a step may only read what the task or an earlier step provides), the operators whose
prompt templates a recipe may override, and :meth:`StepConfig.build`, which makes the
runtime object from the config and a :class:`StepContext`.

Roles, in the order the engine runs them (a recipe lists steps in this order):

=========  ==========================================================================
plan       runs once per run; returns a JSON value saved as ``plan/<artifact>.json``
draft      exactly one; turns plan artifacts into draft records, one stratum at a time
annotate   adds to each draft's plan (taxonomy mix, persona, characteristics)
generate   exactly one; writes the kind's fields into each draft
transform  rewrites generated records (complexification)
check      gives each record a verdict; ``on_fail`` decides regenerate / keep / reject
filter     streaming filters over accepted records (near-duplicates)
rounds     after the first ``n`` records: more drafts planned from what the records so
           far get wrong (S3 error-driven rounds), run through generate/check/filter
curate     once, over every finished record: whole-set judgements (label noise, realism)
           that add verdicts, lower trust weights or drop records
=========  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from synthloom.llm.base import ChatBackend
from synthloom.operators.base import Operator
from synthloom.records import sha256_text
from synthloom.registry import registrar

if TYPE_CHECKING:
    from synthloom.pipeline.recipe import Recipe

Role = Literal["plan", "draft", "annotate", "generate", "transform", "check", "filter",
               "rounds", "curate"]
ROLES: tuple[str, ...] = ("plan", "draft", "annotate", "generate", "transform", "check",
                          "filter", "rounds", "curate")

#: step type -> StepConfig subclass; filled by :func:`register_step`.
STEP_TYPES: dict[str, type[StepConfig]] = {}


#: class decorator: register a :class:`StepConfig` subclass under its ``type`` literal
register_step = registrar(STEP_TYPES, "type", "step type")


@dataclass
class StepContext:
    """What a step's :meth:`StepConfig.build` gets: the recipe, the backend, the judge
    backend (None: the same backend) and the plan artifacts made so far (``unit``,
    ``contexts``...)."""

    recipe: Recipe
    backend: ChatBackend
    artifacts: dict[str, Any] = field(default_factory=dict)
    judge_backend: ChatBackend | None = None

    @property
    def judge(self) -> ChatBackend:
        """The backend judge steps ask: the recipe's ``judge``, else the generator's."""
        return self.judge_backend or self.backend

    @property
    def judge_is_generator(self) -> bool:
        """Whether the judge is the generator's own model (same backend kind and model)."""
        a, b = self.judge.identity, self.backend.identity
        return (a.backend, a.model) == (b.backend, b.model)

    @property
    def unit(self) -> str:
        """The task's unit of text: from the recipe, else the ``task.unit`` plan artifact."""
        return self.recipe.task.unit or str(self.artifacts.get("unit") or "text")

    @property
    def sampled(self) -> dict[str, Any]:
        """Seed and sampling values for generating operators."""
        s = self.recipe.sampling
        return {"seed": self.recipe.seed, "temperature": s.temperature, "top_p": s.top_p}

    def templates(self, operator: type[Operator]) -> dict[str, str]:
        """The recipe's template overrides for ``operator`` (``{key: text}``)."""
        prefix = operator.name + "."
        return {k.removeprefix(prefix): v for k, v in self.recipe.templates.items()
                if k.startswith(prefix)}


class OneStratumDrafts:
    """What a draft step's runtime object needs for a kind with one stratum (``"all"``):
    quotas over the task's strata, the next strata to draft, and every draft's stratum.
    Subclasses set ``self.ctx`` (a :class:`StepContext`)."""

    ctx: StepContext

    def quotas(self, n: int) -> dict[str, int]:
        """``n`` records wanted, split over the task's strata."""
        from synthloom.tasks import quotas

        return quotas(self.ctx.recipe.task.strata(), n)

    @staticmethod
    def next_strata(quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        """Up to ``k`` more drafts of the one stratum, as many as are still missing."""
        missing = sum(max(0, q - counts.get(s, 0)) for s, q in quotas.items())
        return [next(iter(quotas))] * min(k, missing) if quotas else []

    @staticmethod
    def stratum_of_draft(draft: Any) -> str:
        """Every draft counts toward ``"all"``."""
        return "all"


class PlanRun:
    """A plan step's runtime object: ``run(artifacts) -> JSON value`` over a function."""

    def __init__(self, fn: Callable[[dict[str, Any]], Any]) -> None:
        self.run = fn


class StepConfig(BaseModel):
    """Base of every step config. Subclasses set ``type`` (a Literal), the class variables
    below and :meth:`build`.

    Class attributes:
        role: see the module docstring.
        reads: fields that must be available before this step.
        writes: fields this step makes available to later steps.
        operators: operators whose templates a recipe may override for this step.
        kinds: task kinds this step works with (None: every kind).
        artifact: for plan steps, the name of the saved value (``plan/<artifact>.json``).
    """

    model_config = ConfigDict(extra="forbid")

    type: str
    role: ClassVar[Role]
    reads: ClassVar[frozenset[str]] = frozenset()
    writes: ClassVar[frozenset[str]] = frozenset()
    operators: ClassVar[tuple[type[Operator], ...]] = ()
    kinds: ClassVar[frozenset[str] | None] = None
    artifact: ClassVar[str | None] = None

    def needs(self) -> frozenset[str]:
        """Fields this configured step reads (``reads``, plus what its options add)."""
        return self.reads

    def check_task(self, task: Any) -> None:
        """Check this step against the recipe's task when the recipe loads (nothing by
        default).

        Raises:
            ValueError: naming what is wrong.
        """

    def check_steps(self, index: int, steps: Sequence[StepConfig]) -> None:
        """Check this step (number ``index``) against the recipe's other steps when it
        loads (nothing by default).

        Raises:
            ValueError: naming what is wrong.
        """

    def build(self, ctx: StepContext) -> Any:  # pragma: no cover - interface
        """The runtime object for this step (see the engine for each role's protocol)."""
        raise NotImplementedError

    def fingerprint_data(self) -> dict[str, Any]:
        """What of this config enters the recipe fingerprint (all of it, by default)."""
        return self.model_dump(mode="json")


def file_fingerprint(config: StepConfig, field: str = "file") -> dict[str, Any]:
    """``config``'s fingerprint data with the file named by ``field`` replaced by the sha256
    of its content (the path is not hashed: copies of a recipe give the same data)."""
    data = config.model_dump(mode="json")
    path = getattr(config, field)
    if path is not None and Path(path).is_file():
        data[field] = {"sha256": sha256_text(Path(path).read_bytes().hex())}
    return data


def check_flow(kind: str, known: set[str], steps: Sequence[StepConfig]) -> None:
    """Check a step list: roles in engine order, one draft and one generate step, kinds
    supported, every read provided by the task or an earlier step.

    Raises:
        ValueError: naming the step (``steps.<i> (<type>)``) and what is wrong.
    """
    last = 0
    counts = {"draft": 0, "generate": 0}
    artifacts: dict[str, int] = {}
    for i, step in enumerate(steps):  # first the shape: kinds, engine order, counts
        where = f"steps.{i} ({step.type})"
        if step.artifact is not None:  # one file per artifact: a second would reuse it
            if step.artifact in artifacts:
                raise ValueError(f"{where}: steps.{artifacts[step.artifact]} already writes "
                                 f"plan/{step.artifact}.json; a plan step type appears once "
                                 "(use its own options, e.g. more generations)")
            artifacts[step.artifact] = i
        if step.kinds is not None and kind not in step.kinds:
            raise ValueError(f"{where}: does not work with task kind {kind!r}")
        order = ROLES.index(step.role)
        if order < last:
            raise ValueError(f"{where}: a {step.role} step cannot come after a "
                             f"{ROLES[last]} step (order: {', '.join(ROLES)})")
        last = order
        if step.role in counts:
            counts[step.role] += 1
    for role, count in counts.items():
        if count != 1:
            raise ValueError(f"steps: need exactly one {role} step, found {count}")
    available = set(known)
    for i, step in enumerate(steps):  # then the flow of fields
        missing = sorted(step.needs() - available)
        if missing:
            hint = " (give task.unit or a task.unit step)" if missing == ["unit"] else ""
            raise ValueError(f"steps.{i} ({step.type}): reads {missing[0]!r}, which neither "
                             f"the task nor an earlier step provides{hint}")
        available |= step.writes
    for i, step in enumerate(steps):
        step.check_steps(i, steps)
