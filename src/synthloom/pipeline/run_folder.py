"""The output folder of a run: who may write it, and whether it holds this recipe's run.

A run holds an OS lock on ``.lock`` while it writes (a second run is refused, the lock of
a killed run dies with it), and ``run.json`` names the recipe a folder belongs to.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from synthloom.errors import UserInputError
from synthloom.pipeline.recipe import Recipe
from synthloom.records import write_json_atomic as write_json

LOCK_FILE = ".lock"


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``out/.lock`` (created with ``out``).

    The lock is an OS file lock (``filelock``, ``flock`` on Linux): the kernel releases it
    when its process dies, so the lock of a killed run is stale at once and the next run
    takes it over; the ``.lock`` file itself stays and means nothing. The holder's pid and
    start time are written to ``out/.lock.owner`` for the error message.

    Raises:
        UserInputError: another live process holds the lock.
    """
    from filelock import FileLock, Timeout

    out.mkdir(parents=True, exist_ok=True)
    owner = out / (LOCK_FILE + ".owner")
    lock = FileLock(out / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else "unknown"
        raise UserInputError(
            f"{out} is in use by another synthloom run ({holder}); wait for it to end or "
            "choose another output directory") from None
    try:
        owner.write_text(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n",
                         encoding="utf-8")
        yield
    finally:
        lock.release()


_STARTED = ("drafts.jsonl", "data.jsonl", "rejected.jsonl")


def check_out_dir(out: Path, recipe: Recipe, resume: bool, *, create: bool = True) -> None:
    """Create ``out`` for a new run, or check that it holds a run of the same recipe.

    A folder whose ``run.json`` names another recipe but where no step has finished
    anything (no drafts, records or plan files: a run that failed at its start) is taken
    over by the new recipe. With ``create=False`` only checks, writing nothing.

    Raises:
        UserInputError: see :class:`LocalRun`; also an unreadable ``run.json``, or ``out``
            is a file.
    """
    run_file = out / "run.json"
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserInputError(f"{existing}: is a file, not a folder; choose an output directory")
    if run_file.exists():
        if not resume:
            raise UserInputError(f"{out} already holds a run; pass --resume to continue it")
        try:
            stored = json.loads(run_file.read_text(encoding="utf-8"))
        except ValueError as e:
            raise UserInputError(f"{run_file}: unreadable ({type(e).__name__}); the folder's "
                                 "run cannot be identified, use a new output directory") from e
        if stored.get("recipe_sha256") == recipe.sha256():
            return
        if _started(out):
            raise UserInputError(
                f"{out} holds a run of a different recipe (sha256 "
                f"{stored.get('recipe_sha256', '?')[:12]}); use a new output directory"
            )
    elif out.exists() and not resume and any(
            p.name not in (LOCK_FILE, LOCK_FILE + ".owner") for p in out.iterdir()):
        raise UserInputError(f"{out} is not empty; choose a new output directory")
    if not create:
        return
    out.mkdir(parents=True, exist_ok=True)
    write_json(
        run_file,
        {
            "recipe_sha256": recipe.sha256(),
            "recipe": recipe.model_dump(mode="json", exclude_none=True),
            "started_at": datetime.now(UTC).isoformat(),
        },
    )


def _started(out: Path) -> bool:
    """Whether any step of the run in ``out`` has finished something."""
    if any((out / name).exists() and (out / name).stat().st_size for name in _STARTED):
        return True
    return (out / "plan").is_dir() and any((out / "plan").glob("*.json"))
