"""The engine: a recipe's steps built for one backend, run as plan -> draft -> chunks of
generate -> transform -> check, for every task kind.

Each role's runtime protocol (what :meth:`StepConfig.build` returns):

- plan: ``run(artifacts) -> JSON value`` (saved as ``plan/<artifact>.json``; a resumed run
  reads it back instead of asking again).
- draft: ``start(artifacts)``, ``quotas(n)``, ``max_drafts(n)``,
  ``next_strata(quotas, counts, k)``, ``draft(index, stratum, stratum_index) -> Record``,
  ``stratum_of_draft(record)``; optionally ``manifest_entries() -> dict`` (added to the
  manifest, e.g. what a corpus held and skipped).
- annotate, generate, transform: ``__call__(records, attempt=0) -> records``, each record
  with one more operator step (generate may mark records rejected).
- check: ``__call__(records, attempt=0) -> records`` with a verdict each, ``passed(record)``,
  ``reason(record, generations)``, ``name``, and ``config.on_fail`` /
  ``fail_trust_weight`` / ``max_regenerations``.
- filter: ``index(records)`` (what was accepted before a resume), ``filter(records) ->
  (kept, rejected)``.
- curate: ``curate(records) -> records`` over every finished record (applied to the run's
  files by :mod:`synthloom.pipeline.curation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthloom.llm.base import ChatBackend
from synthloom.pipeline.recipe import Recipe
from synthloom.pipeline.steps import StepContext
from synthloom.records import Record, read_json_state, write_json_atomic


@dataclass
class ChunkResult:
    """Records that came out of one chunk: accepted ones and rejected ones (with reasons)."""

    accepted: list[Record]
    rejected: list[Record]


#: a record on its way through a chunk's stages: ``("ok" | "retry" | "rejected", record)``
Routed = tuple[str, Record]


@dataclass
class RecordStage:
    """One step a draft goes through in a chunk: ``role`` is generate, transform or check,
    ``name`` the step type, ``runtime`` the step's built object (see the module docstring
    for its protocol)."""

    role: str
    name: str
    runtime: Any

    def run(self, records: list[Record], attempt: int) -> list[Routed]:
        """The stage over ``records`` (every one routed ``ok``) at regeneration ``attempt``:
        each output routed ``ok``, ``rejected`` (a generator's rejection, or a failed check
        whose ``on_fail`` is reject or whose regenerations are spent) or ``retry`` (a
        failed check with ``on_fail: regenerate`` and regenerations left). A failed check
        with ``on_fail: keep`` stays ``ok`` at ``fail_trust_weight``."""
        out = self.runtime(records, attempt=attempt)
        if self.role == "generate":
            return [("rejected" if r.rejected is not None else "ok", r) for r in out]
        if self.role == "transform":
            return [("ok", r) for r in out]
        check, routed = self.runtime, []
        for r in out:
            policy = check.config.on_fail
            if check.passed(r):
                routed.append(("ok", r))
            elif policy == "keep":
                weight = min(r.trust_weight, check.config.fail_trust_weight)
                routed.append(("ok", r.model_copy(update={"trust_weight": weight})))
            elif policy == "regenerate" and attempt < check.config.max_regenerations:
                routed.append(("retry", r))
            else:
                routed.append(("rejected", r.reject(check.name, check.reason(r, attempt + 1))))
        return routed


def combined_usage(backend: ChatBackend, judge: ChatBackend | None) -> dict[str, Any]:
    """The generator's usage counters, plus the judge's when it is another backend."""
    usage = dict(backend.usage.as_dict())
    if judge is not None and judge is not backend:
        for key, value in judge.usage.as_dict().items():
            if isinstance(value, int | float) and isinstance(usage.get(key, 0), int | float):
                usage[key] = usage.get(key, 0) + value
    return usage


def record_step_configs(recipe: Recipe) -> list[Any]:
    """The recipe's record steps in the order a draft goes through them: generate, the
    transforms, the checks (the configs behind :meth:`Engine.record_stages`)."""
    return [s for role in ("generate", "transform", "check") for s in recipe.steps_of(role)]


def draft_positions(drafts: list[Record]) -> dict[str | None, int]:
    """Each draft's plan id -> its position in ``drafts`` (the order records settle in)."""
    return {d.provenance.plan.id: i for i, d in reversed(list(enumerate(drafts)))}


def run_stage(stage: RecordStage, routed: list[Routed], attempt: int,
              call: Any = None) -> list[Routed]:
    """``routed`` after ``stage``: the ``ok`` records go through it (``call(fn, records,
    attempt)`` wraps the call, e.g. to meter it); the others pass unchanged, first."""
    ok = [r for route, r in routed if route == "ok"]
    done = [(route, r) for route, r in routed if route != "ok"]
    if not ok:
        return done
    out = call(stage.run, ok, attempt) if call else stage.run(ok, attempt)
    return done + out


class _Metered:
    """A curate step's runtime object whose LLM calls count toward its step's usage."""

    def __init__(self, engine: Engine, name: str, curator: Any) -> None:
        self.engine, self.name, self.curator = engine, name, curator

    def curate(self, records: list[Record]) -> list[Record]:
        return self.engine._metered(self.name, self.curator.curate, records)


class Engine:
    """The steps of one recipe, built for one backend.

    Args:
        recipe: the validated recipe (its ``steps`` are in engine order).
        backend: the LLM (normally a cached backend).
        judge_backend: the LLM judge steps ask (the recipe's ``judge``); None asks
            ``backend``.
    """

    def __init__(self, recipe: Recipe, backend: ChatBackend,
                 judge_backend: ChatBackend | None = None) -> None:
        self.recipe, self.backend = recipe, backend
        self.judge_backend = judge_backend
        self.ctx = StepContext(recipe, backend, judge_backend=judge_backend)
        self.drafts: Any = None
        #: LLM calls and tokens per step (``"<type>"``, or ``"<type> (regeneration)"`` for a
        #: generate step's later attempts) in this process: where the tokens go.
        self.usage_by_step: dict[str, dict[str, int]] = {}

    def _metered(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, its LLM calls and tokens (generator's and judge's) added
        to ``usage_by_step[name]``."""
        before = self._usage()
        try:
            return fn(*args, **kwargs)
        finally:
            after = self._usage()
            row = self.usage_by_step.setdefault(
                name, {"calls": 0, "tokens_in": 0, "tokens_out": 0})
            for key in row:
                row[key] += int(after.get(key, 0) - before.get(key, 0))

    def _usage(self) -> dict[str, float]:
        return combined_usage(self.backend, self.judge_backend)

    # ------------------------------------------------------------------ plan
    def plan(self, plan_dir: Path) -> dict[str, Any]:
        """Run the plan steps in order, each saved to ``plan_dir/<artifact>.json`` and read
        back on a resumed run. Returns the artifacts.

        Raises:
            GenerationError: a plan step produced nothing usable.
        """
        plan_dir.mkdir(parents=True, exist_ok=True)
        artifacts = self.ctx.artifacts
        for step in self.recipe.steps_of("plan"):
            path = plan_dir / f"{step.artifact}.json"
            saved = read_json_state(path, None)  # a damaged file is set aside and rebuilt
            if saved is not None:
                artifacts[step.artifact] = saved
                continue
            value = self._metered(step.type, step.build(self.ctx).run, dict(artifacts))
            write_json_atomic(path, value)
            artifacts[step.artifact] = value
        return artifacts

    def start(self) -> None:
        """Build the draft, record and filter steps over the plan artifacts (after
        :meth:`plan`)."""
        r, ctx = self.recipe, self.ctx
        (draft,) = r.steps_of("draft")
        self.drafts = draft.build(ctx)
        self.drafts.start(ctx.artifacts)
        self.annotators = [(s.type, s.build(ctx)) for s in r.steps_of("annotate")]
        (generate,) = r.steps_of("generate")
        self.generator = generate.build(ctx)
        self._generate_type = generate.type
        self.transforms = [(s.type, s.build(ctx)) for s in r.steps_of("transform")]
        self.checks = [(s.type, s.build(ctx)) for s in r.steps_of("check")]
        self.filters = [s.build(ctx) for s in r.steps_of("filter")]
        self.rounds = [(s.type, s.build(ctx)) for s in r.steps_of("rounds")]
        self.curators = [(s.type, _Metered(self, s.type, s.build(ctx)))
                         for s in r.steps_of("curate")]

    # ---------------------------------------------------------------- drafts
    def new_drafts(self, start: int, strata: list[str], per_stratum: dict[str, int]
                   ) -> list[Record]:
        """Drafts number ``start``, ``start + 1``, ... for ``strata`` (one each), annotated.

        ``per_stratum`` counts drafts planned so far per stratum; it is updated.
        """
        chunk = []
        for i, stratum in enumerate(strata):
            chunk.append(self.drafts.draft(start + i, stratum, per_stratum.get(stratum, 0)))
            per_stratum[stratum] = per_stratum.get(stratum, 0) + 1
        return self._annotated(chunk)

    def _annotated(self, drafts: list[Record]) -> list[Record]:
        for name, annotate in self.annotators:
            drafts = self._metered(name, annotate, drafts)
        return drafts

    def round_drafts(self, name: str, rounds: Any, number: int, errors: list[dict[str, Any]],
                     start: int) -> list[Record]:
        """The drafts of error round ``number`` (a ``rounds`` step's runtime object
        ``rounds``), numbered from ``start`` and annotated; none without errors."""
        if not errors:
            return []
        return self._annotated(self._metered(name, rounds.drafts, number, errors, start))

    # ----------------------------------------------------------------- chunk
    def record_stages(self) -> list[RecordStage]:
        """The steps every draft goes through, in order: generate, the transforms, the
        checks (after :meth:`start`). An executor runs them; :meth:`run_chunk` in turn."""
        return ([RecordStage("generate", self._generate_type, self.generator)]
                + [RecordStage("transform", name, t) for name, t in self.transforms]
                + [RecordStage("check", name, c) for name, c in self.checks])

    def run_chunk(self, drafts: list[Record]) -> ChunkResult:
        """Generate, transform and check one chunk of drafts in this process.

        A record failing a check is, by that check's ``on_fail``: regenerated (a new
        attempt with new sampler seeds, up to ``max_regenerations`` times, then rejected
        with the reason), kept at ``fail_trust_weight``, or rejected.
        """
        stages = self.record_stages()
        result = ChunkResult(accepted=[], rejected=[])
        position = draft_positions(drafts)
        pending, attempt = drafts, 0
        while pending:
            again = " (regeneration)" if attempt else ""
            routed: list[Routed] = [("ok", r) for r in pending]
            for stage in stages:
                if not any(route == "ok" for route, _ in routed):
                    break
                routed = run_stage(stage, routed, attempt,
                                   lambda fn, *a, _n=stage.name + again: self._metered(_n, fn, *a))
            pending = self.settle(routed, result, position)
            attempt += 1
        return result

    def settle(self, routed: list[Routed], result: ChunkResult,
               position: dict[str | None, int]) -> list[Record]:
        """Sort one attempt's routed records into ``result`` (an ``ok`` record is finalized
        by the task kind, or rejected when it lacks the kind's fields) and return those to
        regenerate. Records are taken in their drafts' order (``position``, from
        :func:`draft_positions`), so every executor hands the filters the same sequence."""
        retry = []
        end = len(position)
        ordered = sorted(routed, key=lambda x: position.get(x[1].provenance.plan.id, end))
        for route, r in ordered:
            if route == "retry":
                retry.append(r)
            elif route == "rejected":
                result.rejected.append(r)
            else:
                done = self.recipe.task.finalize(r)
                missing = self.recipe.task.missing_fields(done)
                if missing:  # a step wrote less than the kind needs: never store half a record
                    result.rejected.append(
                        r.reject("engine", f"missing the kind's fields {missing}"))
                else:
                    result.accepted.append(done)
        return retry

    def filter(self, records: list[Record]) -> tuple[list[Record], list[Record]]:
        """Run the filter steps over freshly accepted records: ``(kept, rejected)``."""
        rejected: list[Record] = []
        for f in self.filters:
            records, dropped = f.filter(records)
            rejected += dropped
        return records, rejected

    def index(self, accepted: list[Record]) -> None:
        """Give the filter steps the records accepted before a resume."""
        for f in self.filters:
            f.index(accepted)
