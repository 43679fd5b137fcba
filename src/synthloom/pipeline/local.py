"""Run a recipe in this process, checkpointed after every chunk and resumable after a crash.

Output directory::

    run.json         recipe and its sha256 (a resumed run must match it)
    plan/            one JSON file per plan step: unit.json, contexts.json, seeds.json...;
                     round-N.json per error round; curated.json, the curate steps' decisions
    drafts.jsonl     planned drafts: target stratum (label), context, instance seed
    data.jsonl       accepted records, appended after each chunk (fsynced)
    rejected.jsonl   rejected records, each with its reason
    progress.json    token and call counters, updated after each chunk
    cache.sqlite     LLM response cache (a resumed run re-asks nothing answered)
    data.parquet     accepted records, written at the end
    manifest.json    counts, rates, tokens, wall time, versions, written at the end

A run killed at any point (Ctrl-C or ``kill -9``) resumes with ``resume=True``: drafts
already in data.jsonl or rejected.jsonl are skipped, unfinished drafts are run again
(their LLM answers come from the cache), and no record is lost or written twice.
"""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from synthloom.llm.base import ChatBackend
from synthloom.pipeline.curation import curate_run, curated, saved_rounds
from synthloom.pipeline.engine import Engine
from synthloom.pipeline.executor import Executor, LocalExecutor
from synthloom.pipeline.recipe import Recipe
from synthloom.pipeline.run_folder import check_out_dir, run_lock
from synthloom.pipeline.steps.seed_data import seed_summary
from synthloom.records import (
    Record,
    append_jsonl,
    read_json_state,
    read_jsonl,
    repair_jsonl,
    set_aside_corrupt_lines,
    write_parquet,
)
from synthloom.records import (
    write_json_atomic as write_json,
)

ProgressCallback = Callable[[int, int, dict[str, Any]], None]

_VERSIONED = ("synthloom", "llama-cpp-python", "pydantic", "scikit-learn", "pyarrow", "httpx")


def package_versions() -> dict[str, str | None]:
    """Installed versions of synthloom and the libraries that shape its output."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def trail_stats(records: list[Record]) -> dict[str, Any]:
    """Generation and self-correction counts read off the records' operator trails.

    ``flip_rate`` is the share of self-correction checks whose blind label differed from
    the target; ``first_pass_agreement`` the share of drafts accepted at their first try.
    """
    checks = disagreements = generations = first_pass = 0
    for r in records:
        for step in r.provenance.operators:
            if step.operator == "targen.instance_generation":
                generations += 1
            elif step.operator == "targen.self_correction" and step.verdict != "rejected":
                checks += 1
                if step.verdict != "agreed":
                    disagreements += 1
                elif step.detail.get("attempt") == 0:
                    first_pass += 1
    return {
        "generations": generations,
        "self_correction_checks": checks,
        "self_correction_disagreements": disagreements,
        "flip_rate": round(disagreements / checks, 4) if checks else None,
        "first_pass_agreement": round(first_pass / len(records), 4) if records else None,
    }


class LocalRun:
    """One generation run of a recipe into an output directory.

    Args:
        recipe: the validated recipe.
        out_dir: output directory (created).
        backend: the LLM, normally :func:`~synthloom.pipeline.backends.make_backend`'s.
        resume: continue a run in ``out_dir``; without it a non-empty ``out_dir`` is an error.
        on_progress: called after each chunk with ``(accepted, wanted, stats)``.
        judge_backend: the LLM the judge steps ask (None: ``backend``).
        executor: where chunks run (:mod:`synthloom.pipeline.executor`; None: in this
            process). The run opens it after planning and closes it at the end.

    Raises:
        UserInputError: ``out_dir`` holds a run and ``resume`` is False, or holds a run of a
            different recipe.
    """

    def __init__(
        self,
        recipe: Recipe,
        out_dir: Path | str,
        backend: ChatBackend,
        *,
        resume: bool = False,
        on_progress: ProgressCallback | None = None,
        judge_backend: ChatBackend | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.recipe, self.out, self.backend = recipe, Path(out_dir), backend
        self.executor = executor or LocalExecutor()
        self.resume, self.on_progress = resume, on_progress
        self.engine = Engine(recipe, backend, judge_backend)
        check_out_dir(self.out, recipe, resume=True)  # run_recipe checked it strictly

    # ------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        """Generate until ``recipe.n`` records are accepted (or the draft budget is spent).

        Returns the manifest (also written to ``manifest.json``).
        """
        started = time.perf_counter()
        self._usage_at_start = self.backend.usage.as_dict()
        previous = self._previous_progress()
        engine = self.engine
        engine.plan(self.out / "plan")
        engine.start()
        self.executor.open(engine, self.out)
        try:
            return self._run(engine, started, previous)
        finally:
            self.executor.close()

    def _run(self, engine: Engine, started: float, previous: dict[str, Any]) -> dict[str, Any]:
        task = self.recipe.task
        files = {n: self.out / f"{n}.jsonl" for n in ("drafts", "data", "rejected")}
        for f in files.values():
            repair_jsonl(f)  # a torn last line: the crash's, run again
            set_aside_corrupt_lines(f)  # damage: kept aside in <name>.corrupt.jsonl
        every_draft = list(read_jsonl(files["drafts"]))
        drafts = [d for d in every_draft if _round_of(d) is None]  # the first n's drafts
        accepted = list(read_jsonl(files["data"]))
        rejected = list(read_jsonl(files["rejected"]))
        done = {r.provenance.plan.id for r in accepted + rejected}
        seen_ids = {r.id for r in accepted}
        unfinished = [d for d in drafts if d.id not in done]
        quotas = engine.drafts.quotas(self.recipe.n)
        max_drafts = engine.drafts.max_drafts(self.recipe.n)
        # a batched backend is kept busy by chunks at least as large as it asks for
        size = self.recipe.chunk_size or max(10, getattr(self.backend, "preferred_batch", 1))
        engine.index(accepted)
        while not curated(self.out):  # a curated run is finished: never refill it
            counts = Counter(task.stratum_of(r) for r in accepted)
            if sum(min(counts[k], q) for k, q in quotas.items()) >= self.recipe.n:
                break
            if unfinished:
                chunk, unfinished = unfinished[:size], unfinished[size:]
            else:
                if len(drafts) >= max_drafts:
                    break
                k = min(size, max_drafts - len(drafts))
                strata = engine.drafts.next_strata(quotas, counts, k)
                if not strata:
                    break
                per_stratum = Counter(engine.drafts.stratum_of_draft(d) for d in drafts)
                chunk = engine.new_drafts(len(drafts), strata, per_stratum)
                append_jsonl(files["drafts"], chunk)
                drafts += chunk
            self._process(chunk, files, accepted, rejected, seen_ids, previous, started)
        round_drafts = [d for d in every_draft if _round_of(d) is not None]
        if curated(self.out):  # the rounds ran before curation; their log was saved then
            rounds = saved_rounds(self.out)
        else:
            rounds = self._error_rounds(files, round_drafts, accepted, rejected, seen_ids,
                                        size, previous, started)
        accepted, rejected, curation = curate_run(self.out, engine.curators, accepted,
                                                  rejected, rounds)
        return self._finish(accepted, rejected, previous, started, rounds, curation)

    def _process(self, chunk: list[Record], files: dict[str, Path], accepted: list[Record],
                 rejected: list[Record], seen_ids: set[str], previous: dict[str, Any],
                 started: float) -> None:
        """Run one chunk of drafts; append its records to the files and the lists."""
        engine = self.engine
        result = self.executor.run_chunk(chunk)
        fresh = []
        for r in result.accepted:
            if r.id in seen_ids:
                result.rejected.append(r.reject("exact_dedup", f"same content as record {r.id}"))
            else:
                seen_ids.add(r.id)
                fresh.append(r)
        fresh, dropped = engine.filter(fresh)
        for r in dropped:
            seen_ids.discard(r.id)
        result.rejected.extend(dropped)
        # rejected first: a draft counts as done once it is in either file
        append_jsonl(files["rejected"], result.rejected)
        append_jsonl(files["data"], fresh)
        accepted += fresh
        rejected += result.rejected
        getattr(self.executor, "chunk_done", lambda: None)()
        self._write_progress(previous, started)
        if self.on_progress:
            self.on_progress(len(accepted), self.recipe.n, self._rates(accepted, rejected))

    def _error_rounds(self, files: dict[str, Path], drafts: list[Record],
                      accepted: list[Record], rejected: list[Record], seen_ids: set[str],
                      size: int, previous: dict[str, Any], started: float
                      ) -> list[dict[str, Any]]:
        """S3 rounds (a ``rounds`` step), after the first ``n`` records. A round's drafts
        are planned once and saved with the others, so a resumed run finishes them and
        plans the next round from the same records. ``drafts`` are the rounds' drafts so far
        (their count numbers the next ones). Returns one row per round:
        ``{"round", "seed_errors", "drafts", "accepted"}``, then ``{"after": errors}``."""
        log: list[dict[str, Any]] = []
        engine = self.engine
        for name, rounds in engine.rounds:
            for number in range(1, rounds.config.rounds + 1):
                # a round's plan is saved whole before its drafts run, so a killed run
                # resumes the round with every draft and the same error count
                saved = self.out / "plan" / f"round-{number}.json"
                plan = read_json_state(saved, None)
                if plan is not None:
                    mine = [Record.model_validate(d) for d in plan["drafts"]]
                    errors = plan["seed_errors"]
                else:
                    found = rounds.errors(accepted)
                    errors = len(found)
                    mine = engine.round_drafts(name, rounds, number, found, len(drafts))
                    write_json(saved, {"seed_errors": errors, "drafts": [
                        d.model_dump(mode="json") for d in mine]})
                known = {d.id for d in drafts}
                new = [d for d in mine if d.id not in known]
                if new:
                    append_jsonl(files["drafts"], new)
                    drafts += new
                if not mine:
                    log.append({"round": number, "seed_errors": errors, "drafts": 0,
                                "accepted": 0})
                    break
                done = {r.provenance.plan.id for r in accepted + rejected}
                todo = [d for d in mine if d.id not in done]
                for i in range(0, len(todo), size):
                    self._process(todo[i:i + size], files, accepted, rejected, seen_ids,
                                  previous, started)
                ids = {d.id for d in mine}
                log.append({"round": number, "seed_errors": errors, "drafts": len(mine),
                            "accepted": sum(r.provenance.plan.id in ids for r in accepted)})
            log.append({"after": len(rounds.errors(accepted))})
        return log

    # ------------------------------------------------------------- bookkeeping
    def _previous_progress(self) -> dict[str, Any]:
        empty = {"usage": {}, "wall_seconds": 0.0, "sessions": 0}
        if not self.resume:
            return empty
        saved = read_json_state(self.out / "progress.json", empty)
        return {**empty, **saved} if isinstance(saved, dict) else empty

    def _session_usage(self) -> dict[str, float]:
        """LLM usage of this run only (the backend may have served earlier runs)."""
        now = self.backend.usage.as_dict()
        return {k: _combine(v, self._usage_at_start.get(k, 0), -1) for k, v in now.items()}

    def _current_usage(self, previous: dict[str, Any]) -> dict[str, float]:
        before = previous.get("usage", {})
        return {k: _combine(v, before.get(k, 0), 1) for k, v in self._session_usage().items()}

    def _usage_by_step(self, previous: dict[str, Any]) -> dict[str, dict[str, int]]:
        """LLM calls and tokens per step, over every session of this run."""
        total = {k: dict(v) for k, v in previous.get("usage_by_step", {}).items()}
        for step, row in self.engine.usage_by_step.items():
            into = total.setdefault(step, {key: 0 for key in row})
            for key, value in row.items():
                into[key] = into.get(key, 0) + value
        return total

    def _write_progress(self, previous: dict[str, Any], started: float) -> None:
        write_json(
            self.out / "progress.json",
            {
                "usage": self._current_usage(previous),
                "usage_by_step": self._usage_by_step(previous),
                "wall_seconds": previous["wall_seconds"] + time.perf_counter() - started,
                "sessions": previous["sessions"],
            },
        )

    @staticmethod
    def _rates(accepted: list[Record], rejected: list[Record]) -> dict[str, Any]:
        finished = len(accepted) + len(rejected)
        return {
            "accepted": len(accepted),
            "rejected": len(rejected),
            "acceptance_rate": round(len(accepted) / finished, 4) if finished else None,
        }

    def _finish(
        self, accepted: list[Record], rejected: list[Record], previous: dict, started: float,
        rounds: list[dict[str, Any]] | None = None, curation: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        write_parquet(self.out / "data.parquet", accepted)
        usage = self._current_usage(previous)
        caches = [getattr(b, "cache", None) for b in (self.backend, self.engine.judge_backend)
                  if b is not None]
        if caches and all(hasattr(c, "totals") for c in caches):
            # answers are committed to the cache as they arrive, so its totals include
            # the calls a killed session made after its last progress.json; a judge with
            # a cache of its own adds its calls
            totals = [c.totals() for c in {id(c): c for c in caches}.values()]
            usage.update({k: round(sum(t[k] for t in totals), 3) for k in totals[0]})
        session_usage = self._session_usage()
        wall = previous["wall_seconds"] + time.perf_counter() - started
        reasons = Counter(r.rejected.operator for r in rejected if r.rejected)
        manifest = {
            "task": self.recipe.task.name,
            "kind": self.recipe.task.kind,
            "unit": self.engine.ctx.unit,
            "recipe_sha256": self.recipe.sha256(),
            "created_at": datetime.now(UTC).isoformat(),
            "backend": self.backend.identity.model_dump(),
            "effective_concurrency": getattr(
                getattr(self.backend, "backend", self.backend), "effective_concurrency", None),
            "versions": package_versions(),
            "executor": self.executor.describe(),
            "wanted": self.recipe.n,
            **self._rates(accepted, rejected),
            "counts_per_label": dict(sorted(Counter(
                self.recipe.task.stratum_of(r) for r in accepted).items())),
            "rejections_by_operator": dict(reasons),
            **({"seed_examples": seeds} if (seeds := seed_summary(
                self.recipe.steps, self.engine.ctx.artifacts)) else {}),
            **({"error_rounds": rounds} if rounds else {}),
            **getattr(self.engine.drafts, "manifest_entries", dict)(),
            **({"curation": curation} if curation else {}),
            **trail_stats(accepted + rejected),
            "tokens_in": usage.get("tokens_in", 0),
            "tokens_out": usage.get("tokens_out", 0),
            "prompt_tokens_evaluated": usage.get("prompt_tokens_evaluated"),
            "llm_calls": usage.get("calls", 0),
            "llm_errors": usage.get("errors", 0),
            "llm_retries": usage.get("retries", 0),
            "llm_seconds": usage.get("seconds", 0),
            "usage_by_step": self._usage_by_step(previous),
            "this_session": {
                "llm_calls": session_usage["calls"],
                "cache_hits": getattr(self.backend, "hits", None),
                "wall_seconds": round(time.perf_counter() - started, 2),
            },
            "wall_seconds": round(wall, 2),
            "accepted_per_minute": round(len(accepted) / wall * 60, 2) if wall else None,
        }
        write_json(self.out / "manifest.json", manifest)
        progress = {
            "usage": usage,
            "usage_by_step": self._usage_by_step(previous),
            "wall_seconds": wall,
            "sessions": previous["sessions"] + 1,
        }
        write_json(self.out / "progress.json", progress)
        return manifest


def run_recipe(
    recipe: Recipe,
    out_dir: Path | str,
    *,
    resume: bool = False,
    backend: ChatBackend | None = None,
    on_progress: ProgressCallback | None = None,
    judge_backend: ChatBackend | None = None,
    executor: Executor | None = None,
) -> dict[str, Any]:
    """Check the output directory and the backend, lock the directory, run, close.

    Nothing is written before the recipe's backend is known to exist (an unknown model is
    an error with no folder left behind). A recipe's ``judge`` backend, when it differs
    from ``backend``, gets its own response cache, ``out_dir/cache-judge.sqlite``. The run
    holds an exclusive lock on
    ``out_dir/.lock`` (:func:`run_lock`) from before ``run.json`` is written until it
    ends, so a second run into the same folder is refused instead of interleaved. The
    response cache lives in ``out_dir/cache.sqlite``. Returns the manifest.

    ``backend`` and ``judge_backend`` replace the recipe's ``backend`` and ``judge`` (the
    caller closes them). ``executor`` runs the chunks (None: this process; see
    :mod:`synthloom.pipeline.executor`).

    Raises:
        UserInputError: bad output directory or model, or another run holds the folder.
    """
    from synthloom.pipeline.backends import check_backend, make_backend

    out = Path(out_dir)
    check_out_dir(out, recipe, resume, create=False)
    if backend is None:
        check_backend(recipe.backend)
    if recipe.judge is not None and judge_backend is None:
        check_backend(recipe.judge)
    with run_lock(out):
        check_out_dir(out, recipe, resume)
        owned = backend is None
        if backend is None:
            backend = make_backend(recipe.backend, out / "cache.sqlite")
        judge, owned_judge = judge_backend, False
        if judge is None and recipe.judge is not None and recipe.judge != recipe.backend:
            judge, owned_judge = make_backend(recipe.judge, out / "cache-judge.sqlite"), True
        try:
            return LocalRun(recipe, out, backend, resume=True, on_progress=on_progress,
                            judge_backend=judge, executor=executor).run()
        finally:
            if owned:
                backend.close()
            if owned_judge:
                judge.close()


def _combine(a: float | None, b: float | None, sign: int) -> float | None:
    """``a + sign * b`` rounded to 3 decimals; None (unknown) when either is."""
    return None if a is None or b is None else round(a + sign * b, 3)


def _round_of(draft: Record) -> int | None:
    """The S3 round a draft was planned in (None for the first ``n``)."""
    steps = draft.provenance.operators
    return steps[0].detail.get("round") if steps else None
