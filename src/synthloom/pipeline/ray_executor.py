"""The Ray Data executor: each record step of a run is a ``map_batches`` stage.

One Ray Dataset serves the whole run: its source is a queue the driver fills with slices
of drafts (one slice per actor of each chunk, and again for each regeneration attempt),
and one ``map_batches`` stage per record step (generate, the transforms, the checks)
runs over a pool of ``workers`` actors, so the actors (and their models) live as long as
the run. An actor builds its one step from the recipe and the plan artifacts, with its
own backend: one llama.cpp model per actor for an embedded model, or its own HTTP client
(``max_concurrency`` requests at once) for an OpenAI-compatible server such as vLLM.
Planning, drafting (and the annotate steps), the filters, error rounds and curation stay
in the driver, which checkpoints each finished chunk as the local run does.

Same records as the local executor: an actor's step is the local step, records settle
in their drafts' order (:func:`~synthloom.pipeline.engine.draft_positions`), and with a
warm response cache every LLM answer is the one the local run got.

Shared state, under the run's output folder:

- ``cache.sqlite`` (and ``cache-judge.sqlite``): the one response cache every actor and
  the driver read and write (SQLite in WAL mode, safe across processes on one machine).
  On several machines, the output folder must be a path every node sees (NFS or the
  like; SQLite's locking needs a file system that honours it), or each node keeps
  its own cache and a resumed run re-asks what another node answered.
- ``stages/<i>-<step>/<actor>.jsonl``: each actor's outputs, appended and fsynced per
  batch, keyed by draft and attempt. An actor restarted after a crash (Ray restarts it
  and retries its batch) and a resumed job read them back, so a finished stage is not
  run again; the folder is removed once its chunk is in ``data.jsonl`` /
  ``rejected.jsonl``.
"""

from __future__ import annotations

import json
import logging
import os
import queue as stdlib_queue
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatBackend
from synthloom.pipeline.engine import (
    ChunkResult,
    Engine,
    RecordStage,
    combined_usage,
    draft_positions,
    record_step_configs,
)
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Record

#: ``backend_factory(out_dir) -> (backend, judge_backend or None)``, called in each actor
BackendFactory = Callable[[Path], tuple[ChatBackend, ChatBackend | None]]

STAGES_DIR = "stages"


def recipe_backends(recipe: Recipe) -> BackendFactory:
    """The backends a run of ``recipe`` uses (the local run's choice, with the run's
    caches): the recipe's ``backend``, and its ``judge`` when that differs."""

    def factory(out_dir: Path) -> tuple[ChatBackend, ChatBackend | None]:
        from synthloom.pipeline.backends import make_backend

        backend = make_backend(recipe.backend, out_dir / "cache.sqlite")
        judge = None
        if recipe.judge is not None and recipe.judge != recipe.backend:
            judge = make_backend(recipe.judge, out_dir / "cache-judge.sqlite")
        return backend, judge

    return factory


def check_reachable(address: str, timeout_seconds: float = 5.0) -> None:
    """Refuse a Ray address whose ``HOST:PORT`` does not accept a TCP connection within
    ``timeout_seconds`` (``auto`` and addresses without a port are left to Ray).

    Raises:
        UserInputError: the address cannot be reached in time.
    """
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)),
                                      timeout=timeout_seconds):
            return
    except OSError as e:
        raise UserInputError(f"cannot reach the Ray cluster at {address} within "
                             f"{timeout_seconds:g} s ({e.strerror or e})") from None


class _StageWorker:
    """A Ray Data actor running one record stage. A row is one slice of drafts:
    ``{"items": JSON [[route, record JSON], ...], "attempt", "usage": JSON {step: calls
    and tokens}, "error": "" or JSON {"step", "type", "message"}}``; items not routed
    ``ok``, and rows with an error, pass unchanged.

    Args:
        recipe: the run's recipe.
        artifacts: the plan artifacts (``plan/*.json``).
        out_dir: the run's output folder (response cache and stage checkpoints).
        index: the stage's position among :meth:`Engine.record_stages`.
        backend_factory: builds the actor's backends.
        usage_name: the name its LLM calls and tokens are counted under (``usage`` holds
            JSON ``{name: {"calls", "tokens_in", "tokens_out"}}`` per row).
    """

    def __init__(self, recipe: Recipe, artifacts: dict[str, Any], out_dir: str, index: int,
                 backend_factory: BackendFactory, usage_name: str) -> None:
        from synthloom.pipeline.steps import StepContext

        out = Path(out_dir)
        self.backend, self.judge = backend_factory(out)
        ctx = StepContext(recipe, self.backend, artifacts=dict(artifacts),
                          judge_backend=self.judge)
        step = record_step_configs(recipe)[index]
        self.stage = RecordStage(step.role, step.type, step.build(ctx))
        self.folder = out / STAGES_DIR / f"{index}-{step.type}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.saved = read_stage_checkpoints(self.folder)
        self.path = self.folder / f"{uuid.uuid4().hex}.jsonl"
        self.usage_name = usage_name

    def _usage(self) -> dict[str, int]:
        usage = combined_usage(self.backend, self.judge)
        return {key: int(usage.get(key, 0) or 0) for key in ("calls", "tokens_in", "tokens_out")}

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {"items": [], "attempt": [], "usage": [], "error": []}
        for items, attempt, usage, error in zip(batch["items"], batch["attempt"],
                                                batch["usage"], batch["error"], strict=True):
            attempt, error = int(attempt), str(error)
            spent = json.loads(str(usage))
            if not error:  # an earlier stage's error passes on untouched
                before = self._usage()
                try:
                    items = json.dumps(self.run(json.loads(str(items)), attempt))
                except Exception as e:  # raised in the driver, with its type and message
                    error = json.dumps({"step": self.stage.name, "type": type(e).__name__,
                                        "message": str(e)})
                after = self._usage()
                row = spent.setdefault(self.usage_name, {})
                for key, value in after.items():
                    row[key] = row.get(key, 0) + value - before.get(key, 0)
            out["items"].append(str(items))
            out["attempt"].append(attempt)
            out["usage"].append(json.dumps(spent))
            out["error"].append(error)
        return out

    def run(self, items: list[list[str]], attempt: int) -> list[list[str]]:
        """One slice through the stage: ``[[route, record JSON], ...]`` in and out; the
        ``ok`` ones not in the checkpoint run, and are checkpointed."""
        records = [(route, Record.model_validate_json(text)) for route, text in items]
        if not self.folder.exists():  # the driver saved the last chunk and cleared them
            self.saved = {}
            self.folder.mkdir(parents=True, exist_ok=True)
        todo = [r for route, r in records
                if route == "ok" and _key(r, attempt) not in self.saved]
        if todo:
            by_draft: dict[str, list[list[str]]] = {_key(r, attempt): [] for r in todo}
            for route, r in self.stage.run(todo, attempt):
                key = _key(r, attempt)
                by_draft[key if key in by_draft else next(iter(by_draft))].append(
                    [route, r.model_dump_json()])
            with open(self.path, "a", encoding="utf-8") as f:
                for key, outs in by_draft.items():
                    f.write(json.dumps({"key": key, "out": outs}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.saved.update(by_draft)
        routed: list[list[str]] = []
        for (route, r), (_, text) in zip(records, items, strict=True):
            routed += self.saved[_key(r, attempt)] if route == "ok" else [[route, text]]
        return routed


def _key(record: Record, attempt: int) -> str:
    return f"{record.provenance.plan.id}:{attempt}"


def read_stage_checkpoints(folder: Path) -> dict[str, list[list[str]]]:
    """``{draft:attempt -> [[route, record JSON], ...]}`` from a stage's checkpoint files
    (a torn last line, from a killed actor, is skipped)."""
    saved: dict[str, list[list[str]]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
                saved[row["key"]] = row["out"]
            except (ValueError, KeyError, TypeError):
                continue
    return saved


class _DraftQueue:
    """A Ray Data datasource whose one read task yields the slices the driver puts on a
    Ray queue (``{"items", "attempt", "usage"}`` rows), until it gets None: one dataset,
    and one set of actors, for the whole run."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def datasource(self) -> Any:
        from ray.data.block import BlockMetadata
        from ray.data.datasource import Datasource, ReadTask

        queue = self.queue

        class QueueSource(Datasource):
            def estimate_inmemory_data_size(self) -> None:
                return None

            def get_read_tasks(self, parallelism: int, per_task_row_limit: int | None = None,
                               data_context: Any = None) -> list[Any]:
                def read() -> Any:
                    import pyarrow as pa

                    while (row := queue.get(block=True)) is not None:
                        yield pa.table({k: [v] for k, v in row.items()})

                return [ReadTask(read, BlockMetadata(num_rows=None, size_bytes=None,
                                                     exec_stats=None))]

        return QueueSource()


class RayExecutor:
    """Runs each chunk as a Ray Data pipeline of ``map_batches`` stages.

    Args:
        address: the Ray cluster to join (``HOST:PORT``, ``ray://HOST:PORT`` or
            ``auto``); None starts a local Ray instance (with this machine's cores).
        workers: actors per stage.
        cpus_per_worker: logical CPUs each actor asks Ray for (a scheduling hint: an
            embedded model's actor uses ``backend.n_threads`` threads whatever it asks);
            on a Ray instance this executor starts, lowered so that every stage's actors
            fit at once.
        backend_factory: builds each actor's backends (default: the recipe's, with the
            run's response caches; tests pass a scripted one).
        connect_timeout_seconds: how long an address may take to accept a connection.

    Raises (from :meth:`open`):
        UserInputError: Ray is not installed, or the address cannot be reached.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int = 1,
                 cpus_per_worker: float = 0.5, backend_factory: BackendFactory | None = None,
                 connect_timeout_seconds: float = 5.0) -> None:
        self.address, self.workers, self.cpus = address, workers, cpus_per_worker
        self.backend_factory = backend_factory
        self.timeout = connect_timeout_seconds
        self._started_ray = False
        self.engine: Engine | None = None
        self.chunks = 0
        self.seconds = 0.0

    def open(self, engine: Engine, out_dir: Path) -> None:
        """Connect to (or start) Ray, and start the run's one streaming dataset: a queue
        of draft slices, then one ``map_batches`` stage per record step of ``engine``
        (planned and started), writing under ``out_dir``."""
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise UserInputError("--executor ray needs Ray: pip install 'synthloom[ray]'"
                                 ) from None
        if self.address is not None:
            check_reachable(self.address, self.timeout)
        if not ray.is_initialized():
            logging.getLogger("ray").setLevel(logging.WARNING)
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "logging_level": logging.WARNING}
            if self.address is None:
                options["num_cpus"] = os.cpu_count() or 1
            ray.init(address=self.address, **options)
            self._started_ray = True
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        context = ray.data.DataContext.get_current()
        self._context_was = (context.target_max_block_size, context.enable_progress_bars,
                             context.print_on_execution_start)
        # every slice its own block, passed on as soon as it is read: a block that waits
        # to fill up would wait for drafts the driver plans only after this chunk
        context.target_max_block_size = 1
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        self.ray, self.engine, self.out = ray, engine, Path(out_dir)
        factory = self.backend_factory or recipe_backends(engine.recipe)
        self.queue = Queue()
        # the read task only waits on the queue: it must not take a CPU the actors need
        dataset = ray.data.read_datasource(_DraftQueue(self.queue).datasource(),
                                           override_num_blocks=1, num_cpus=0)
        self.stage_names = [stage.name for stage in engine.record_stages()]
        cpus = self._cpus_per_actor(ray, len(self.stage_names) * self.workers)
        for index, name in enumerate(self.stage_names):
            dataset = dataset.map_batches(
                _StageWorker, fn_constructor_args=(
                    engine.recipe, engine.ctx.artifacts, str(self.out), index, factory, name),
                # Ray Data restarts a dead actor and retries its batch (max_restarts and
                # max_task_retries default to -1 for actor pools)
                batch_size=None, compute=ray.data.ActorPoolStrategy(size=self.workers),
                num_cpus=cpus)
        self.results: stdlib_queue.Queue[Any] = stdlib_queue.Queue()

        def pump() -> None:
            try:
                for batch in dataset.iter_batches(batch_size=None, prefetch_batches=0):
                    for row in zip(batch["items"], batch["attempt"], batch["usage"],
                                   batch["error"], strict=True):
                        self.results.put((str(row[0]), int(row[1]), str(row[2]),
                                          str(row[3])))
                self.results.put(None)
            except BaseException as e:  # the run's error, raised in the driver
                self.results.put(e)

        self.pump = threading.Thread(target=pump, name="synthloom-ray-results", daemon=True)
        self.pump.start()

    def _cpus_per_actor(self, ray: Any, actors: int) -> float:
        """Logical CPUs each of the run's ``actors`` asks for. Every stage's actors must be
        placed at once (the stages stream into each other), so on a local instance they
        share its CPUs (at most ``cpus_per_worker`` each); on a cluster that cannot place
        them all now, a warning says so (an autoscaler may add nodes)."""
        total = float(ray.cluster_resources().get("CPU", 0))
        if self._started_ray:
            return min(self.cpus, total / actors) if total else self.cpus
        if actors * self.cpus > total:
            warnings.warn(
                f"{actors} Ray actors ({len(self.stage_names)} stages x {self.workers} "
                f"workers) at {self.cpus:g} CPU each need {actors * self.cpus:g} CPUs; the "
                f"cluster has {total:g}: the run waits until it has them (lower --workers)",
                RuntimeWarning, stacklevel=3)
        return self.cpus

    def run_chunk(self, drafts: list[Record]) -> ChunkResult:
        """``drafts`` through the stages on Ray, in ``workers`` slices, regenerating as
        the checks ask.

        Raises:
            BackendError: an actor's backend failed after its retries.
            GenerationError: any other error in an actor (named with its step and type),
                or the dataset ended early.
        """
        assert self.engine is not None, "open() first"
        started = time.perf_counter()
        engine, result = self.engine, ChunkResult(accepted=[], rejected=[])
        position = draft_positions(drafts)
        pending, attempt = drafts, 0
        while pending:
            size = -(-len(pending) // self.workers)
            slices = [pending[i:i + size] for i in range(0, len(pending), size)]
            for part in slices:
                self.queue.put({"items": json.dumps([["ok", r.model_dump_json()]
                                                     for r in part]),
                                "attempt": attempt, "usage": "{}", "error": ""})
            routed = []
            for _ in slices:
                answer = self.results.get()
                if answer is None or isinstance(answer, BaseException):
                    raise _cause(answer)
                items, _, usage, error = answer
                if error:
                    raise _stage_error(json.loads(error))
                for name, spent in json.loads(usage).items():
                    name += " (regeneration)" if attempt else ""
                    into = engine.usage_by_step.setdefault(
                        name, {"calls": 0, "tokens_in": 0, "tokens_out": 0})
                    for key, value in spent.items():
                        into[key] = into.get(key, 0) + int(value)
                routed += [(route, Record.model_validate_json(text))
                           for route, text in json.loads(items)]
            pending = engine.settle(routed, result, position)
            attempt += 1
        self.chunks += 1
        self.seconds += time.perf_counter() - started
        return result

    def chunk_done(self) -> None:
        """The chunk's records are in the run's files: its stage checkpoints can go."""
        shutil.rmtree(self.out / STAGES_DIR, ignore_errors=True)

    def close(self) -> None:
        """End the dataset, and shut down the Ray instance this executor started (not a
        cluster it joined)."""
        if getattr(self, "queue", None) is not None:
            try:
                self.queue.put(None)
                self.pump.join(timeout=60)
            except Exception:  # Ray already gone: nothing left to end
                pass
            self.queue = None
            context = self.ray.data.DataContext.get_current()
            (context.target_max_block_size, context.enable_progress_bars,
             context.print_on_execution_start) = self._context_was
        if self._started_ray:
            self.ray.shutdown()
            self._started_ray = False

    def describe(self) -> dict[str, Any]:
        """Name, address, actors per stage, chunks run and seconds spent in them."""
        return {"name": self.name, "address": self.address or "local",
                "workers_per_stage": self.workers, "chunks": self.chunks,
                "chunk_seconds": round(self.seconds, 2)}


def _cause(error: BaseException | None) -> BaseException:
    """The error to raise in the driver for what the results stream ended with: the
    stage's own exception when Ray wrapped it, else a GenerationError."""
    from synthloom.errors import GenerationError

    if error is None:
        return GenerationError("the Ray dataset ended before the chunk's records came back")
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else error


def _stage_error(error: dict[str, str]) -> Exception:
    """The driver's exception for an actor's ``{"step", "type", "message"}``: a
    BackendError stays one (the CLI keeps finished records and says how to resume), any
    other error becomes a GenerationError naming the step and the original type."""
    from synthloom.errors import GenerationError
    from synthloom.llm.base import BackendError

    if error["type"] == "BackendError":
        return BackendError(error["message"])
    return GenerationError(f"step {error['step']} failed on Ray: {error['type']}: "
                           f"{error['message']}")
