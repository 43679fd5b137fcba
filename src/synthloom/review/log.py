"""The review log: every action a person takes on a run, one JSON line each, in order.

``DIR/reviews.jsonl`` is append-only. An action is written under an OS file lock
(``reviews.jsonl.lock``, :mod:`filelock`) with the next sequence number and fsynced before
the page hears it landed, so two browser tabs (or two reviewers) acting on the same record
at once are both recorded, in the order the server received them, and a crash loses no
finished action.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthloom.records import error_line, repair_jsonl

REVIEWS_FILE = "reviews.jsonl"

#: what a person can do to a record
Action = Literal["accept", "reject", "rescue", "edit", "rate"]


class ReviewAction(BaseModel):
    """One action of a person on one record, as stored in ``reviews.jsonl``.

    Attributes:
        seq: 1-based position in the log (the order actions were received).
        at: UTC time the server recorded it.
        who: the reviewer's name (``--reviewer``, or the name typed on the page).
        record: the id of the record acted on (as in ``data.jsonl``/``rejected.jsonl``).
        action: ``accept``; ``reject`` (with ``reason``); ``rescue`` (a rejected record
            taken back into the dataset); ``edit`` (``field`` from ``before`` to ``after``);
            ``rate`` (``scores`` on the judge's rubric, ``label`` the person's own label
            for a classification record, ``keep`` whether the person would keep it).
        reason: why a record was rejected or rescued.
        field: the edited field: ``label``, ``trust_weight``, ``inputs.<name>`` or
            ``outputs.<name>``.
        before: the field's value when the server applied the edit (earlier edits in).
        after: its new value.
        seen: the value the page showed when the person edited it (differs from ``before``
            when another tab or reviewer changed the field in between: both edits are kept,
            in order, and the later one wins).
        scores: rubric criterion -> score (the judge's scale).
        label: the person's label (a blind rating of a classification record).
        keep: whether the person would keep the record (a rating's verdict).
        blind: True when the rating was made in calibration mode (no model scores shown).
        tab: an id of the browser tab that sent it (to tell two tabs apart).
    """

    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=1)
    at: datetime
    who: str = Field(min_length=1, max_length=100)
    record: str = Field(min_length=1)
    action: Action
    reason: str | None = None
    field: str | None = None
    before: Any = None
    after: Any = None
    seen: Any = None
    scores: dict[str, int] | None = None
    label: str | None = None
    keep: bool | None = None
    blind: bool = False
    tab: str | None = None


class ReviewLog:
    """``DIR/reviews.jsonl``: read it, and append to it under a lock.

    Args:
        run_dir: the run's folder (the log is created on the first action).
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / REVIEWS_FILE
        self._cache: tuple[tuple[int, int], list[ReviewAction]] | None = None

    def read(self) -> list[ReviewAction]:
        """The actions so far, in ``seq`` order (read again only when the file's size or
        modification time changed). A line that is not an action (damaged by hand) is
        skipped with a ``RuntimeWarning`` naming its line; a torn last line (a crash
        mid-write) silently."""
        if not self.path.exists():
            return []
        stat = self.path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        if self._cache is not None and self._cache[0] == key:
            return list(self._cache[1])
        actions = self._parse()
        self._cache = (key, actions)
        return list(actions)

    def _parse(self) -> list[ReviewAction]:
        lines = self.path.read_text(encoding="utf-8", errors="replace").split("\n")
        out: list[ReviewAction] = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                out.append(ReviewAction.model_validate_json(line))
            except ValueError as e:
                if i == len(lines) - 1:
                    break  # torn last line: no newline after it
                warnings.warn(f"{self.path}:{i + 1}: not a review action, skipped "
                              f"({error_line(e)})", RuntimeWarning, stacklevel=2)
        return sorted(out, key=lambda a: a.seq)

    def append(self, make: Callable[[int, list[ReviewAction]], ReviewAction]) -> ReviewAction:
        """Append one action, built under the lock.

        Args:
            make: ``make(seq, earlier) -> ReviewAction``, called while the lock is held with
                the next sequence number and the actions already logged, so ``before`` can
                be read from the state those actions give (the caller's own check, e.g.
                :func:`synthloom.review.apply.check_edit`, may raise and nothing is written).

        Returns:
            The action written (fsynced).

        Raises:
            filelock.Timeout: another process held the lock for 30 seconds.
            Exception: whatever ``make`` raises (nothing is written then).
        """
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock", timeout=30):
            earlier = self.read()
            action = make(max((a.seq for a in earlier), default=0) + 1, earlier)
            self._end_last_line(earlier)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(action.model_dump(mode="json"), ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
        return action


    def _end_last_line(self, earlier: list[ReviewAction]) -> None:
        """Before appending: a last line without its newline is ended when it is an action
        (a file saved by an editor that drops the final newline), cut off when it is not
        (a crash mid-write)."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        last = data[data.rfind(b"\n") + 1:].decode("utf-8", errors="replace")
        try:
            ReviewAction.model_validate_json(last)
        except ValueError:
            repair_jsonl(self.path)
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write("\n")


def now() -> datetime:
    """The current UTC time (the ``at`` of a new action)."""
    return datetime.now(UTC)
