"""Executors: where a run's chunks of drafts go through the record stages.

A run (:class:`~synthloom.pipeline.local.LocalRun`) plans, drafts, filters, curates and
checkpoints in its own process; for each chunk of drafts it asks an executor for the
chunk's accepted and rejected records. Two executors give the same records:

- :class:`LocalExecutor` runs the stages in this process (:meth:`Engine.run_chunk`).
- :class:`~synthloom.pipeline.ray_executor.RayExecutor` runs each stage as a Ray Data
  ``map_batches`` stage over a pool of actors, each with its own backend
  (``pip install 'synthloom[ray]'``).

Interface (what a run calls): ``open(engine, out_dir)`` once after the engine is planned
and started, ``run_chunk(drafts) -> ChunkResult`` per chunk, ``close()`` at the end (also
after an error), and ``describe() -> dict`` for the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from synthloom.errors import UserInputError
from synthloom.pipeline.engine import ChunkResult, Engine
from synthloom.records import Record


class Executor(Protocol):
    """Runs chunks of drafts through a started engine's record stages."""

    name: str

    def open(self, engine: Engine, out_dir: Path) -> None: ...

    def run_chunk(self, drafts: list[Record]) -> ChunkResult: ...

    def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


class LocalExecutor:
    """Every stage in this process, one chunk at a time (the default)."""

    name = "local"

    def __init__(self) -> None:
        self.engine: Engine | None = None

    def open(self, engine: Engine, out_dir: Path) -> None:
        """Use ``engine`` (planned and started) for the chunks."""
        self.engine = engine

    def run_chunk(self, drafts: list[Record]) -> ChunkResult:
        """:meth:`Engine.run_chunk` over ``drafts``."""
        assert self.engine is not None, "open() first"
        return self.engine.run_chunk(drafts)

    def close(self) -> None:
        """Nothing to release."""

    def describe(self) -> dict[str, Any]:
        """``{"name": "local"}``."""
        return {"name": self.name}


EXECUTORS = ("local", "ray")


def make_executor(name: str = "local", *, address: str | None = None,
                  workers: int = 1) -> Executor:
    """The executor called ``name``.

    Args:
        name: ``local`` or ``ray``.
        address: for ``ray``, the cluster to join (``HOST:PORT`` of its head node,
            ``ray://HOST:PORT`` for Ray Client, or ``auto``); None starts a local Ray
            instance. Refused with ``local``.
        workers: for ``ray``, actors per stage (each loads its own embedded model or
            opens its own connections to an HTTP server).

    Raises:
        UserInputError: unknown name, an address without ``ray``, workers below 1,
            ``ray`` without Ray installed, or an address that does not accept a
            connection within 5 seconds.
    """
    if name not in EXECUTORS:
        raise UserInputError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if workers < 1:
        raise UserInputError(f"workers must be at least 1, got {workers}")
    if name == "local":
        if address is not None:
            raise UserInputError("--address is for --executor ray")
        return LocalExecutor()
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise UserInputError("--executor ray needs Ray: pip install 'synthloom[ray]'")
    from synthloom.pipeline.ray_executor import RayExecutor, check_reachable

    if address is not None:
        check_reachable(address)  # before the run writes anything
    return RayExecutor(address=address, workers=workers)
