"""Records, their provenance, and dataset I/O (JSONL, Parquet).

This is the bottom layer: it knows nothing about LLMs or tasks. A :class:`Record`
is one labelled example, real or synthetic, carrying where it came from.

Synthetic never passes for real: ``origin`` is required and never inferred.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Origin(StrEnum):
    """Where a record came from. ``real`` data was observed; ``synthetic`` was generated."""

    real = "real"
    synthetic = "synthetic"


class OperatorStep(BaseModel):
    """One operator's pass over a record: which operator, which version and prompt, what verdict."""

    model_config = ConfigDict(extra="forbid")

    operator: str
    version: str = "1"
    prompt_sha256: str | None = None
    verdict: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class Plan(BaseModel):
    """The coverage plan a synthetic record was generated under.

    ``id`` names the plan slot (stable across resumed runs); ``context`` is TarGEN's
    context; ``mix`` (factor -> taxonomy path), ``taxonomy_path`` (the first factor's path),
    ``persona`` and ``characteristics`` are set by the coverage planner.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    context: str | None = None
    taxonomy_path: list[str] = Field(default_factory=list)
    persona: str | None = None
    mix: dict[str, list[str]] = Field(default_factory=dict)
    characteristics: dict[str, str] = Field(default_factory=dict)


class Provenance(BaseModel):
    """Where a record came from.

    For real records only ``source`` is usually set (e.g. ``"bbc_news"`` or a file path).
    For synthetic records: the backend, model and model file sha256, the sampling
    parameters, the recipe hash, the trail of operators, the plan, the instance seed,
    the target label, parent record ids, the failure mode injected into it if any
    (``perturbation``: ``{"mode", "parent"}``) and the UTC creation time.
    """

    model_config = ConfigDict(extra="forbid")

    source: str | None = None
    backend: str | None = None
    model: str | None = None
    model_sha256: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)
    recipe_sha256: str | None = None
    operators: list[OperatorStep] = Field(default_factory=list)
    plan: Plan = Field(default_factory=Plan)
    instance_seed: str | None = None
    target_label: str | None = None
    label_constraint: str | None = None
    parents: list[str] = Field(default_factory=list)
    perturbation: dict[str, Any] | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Verification(BaseModel):
    """Verdicts attached to a record: self-consistency, judges, programmatic verifiers."""

    model_config = ConfigDict(extra="forbid")

    self_consistency: dict[str, Any] | None = None
    judges: list[dict[str, Any]] = Field(default_factory=list)
    verifiers: list[dict[str, Any]] = Field(default_factory=list)


class Rejection(BaseModel):
    """Why an operator dropped a record. Rejected records go to the audit file, not the dataset."""

    model_config = ConfigDict(extra="forbid")

    operator: str
    reason: str
    collided_with: str | None = None
    similarity: float | None = None


class Record(BaseModel):
    """One labelled example.

    Attributes:
        id: stable content hash of task, inputs and label (see :func:`record_id`), or a
            plan id for a synthetic record whose inputs are not generated yet.
        task: task name, e.g. ``"bbc_news_topics"``.
        inputs: the example's inputs, e.g. ``{"text": "..."}``.
        label: the label, or ``None`` before a label is assigned.
        origin: ``real`` or ``synthetic``; required.
        provenance: where it came from (see :class:`Provenance`).
        verification: verdicts of verifiers and judges.
        trust_weight: 0..1, what a trainer multiplies this record's loss by.
        rejected: set when an operator dropped the record.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    task: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    origin: Origin
    provenance: Provenance = Field(default_factory=Provenance)
    verification: Verification = Field(default_factory=Verification)
    trust_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    rejected: Rejection | None = None

    @property
    def text(self) -> str:
        """The record's ``inputs["text"]`` ('' if absent)."""
        return str(self.inputs.get("text", ""))

    def reject(
        self,
        operator: str,
        reason: str,
        collided_with: str | None = None,
        similarity: float | None = None,
    ) -> Record:
        """Return a copy marked rejected by ``operator`` with ``reason`` (and, for a
        duplicate, the id of the record it collided with and their similarity)."""
        rejection = Rejection(
            operator=operator, reason=reason, collided_with=collided_with, similarity=similarity
        )
        return self.model_copy(update={"rejected": rejection})


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, for hashing."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_id(task: str, inputs: dict[str, Any], label: str | None) -> str:
    """Content hash (first 16 hex chars of sha256) of task, inputs and label."""
    return sha256_text(stable_json({"task": task, "inputs": inputs, "label": label}))[:16]


def write_json_atomic(path: Path | str, value: Any) -> None:
    """Write ``value`` as indented JSON atomically: temp file, fsync, ``os.replace``.

    Creates the parent directory. A reader never sees a half-written file.

    Raises:
        TypeError: ``value`` is not JSON-serialisable (nothing is written).
        ValueError: ``value`` contains NaN or infinity (nothing is written).
    """
    path = Path(path)
    text = json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------- JSONL I/O


def append_jsonl(path: Path, records: Iterable[Record]) -> int:
    """Append records to a JSONL file, flushed and fsynced so a crash loses no finished line.

    Returns the number of records written.
    """
    n = 0
    with open(path, "a", encoding="utf-8") as f:
        for record in records:
            f.write(record.model_dump_json() + "\n")
            n += 1
        f.flush()
        os.fsync(f.fileno())
    return n


def read_jsonl(path: Path) -> Iterator[Record]:
    """Yield records from a JSONL file. A torn last line (a crash mid-write) is skipped."""
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if i == len(lines) - 1 and not line.endswith("\n"):
            break  # torn write; the operator that produced it will run again
        yield Record.model_validate_json(line)


def repair_jsonl(path: Path) -> None:
    """Cut a torn last line (no trailing newline) off a JSONL file, in place."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)


# -------------------------------------------------------------- Parquet I/O

_PARQUET_JSON_COLUMNS = ("inputs", "provenance", "verification", "rejected")


def write_parquet(path: Path, records: Iterable[Record]) -> int:
    """Write records to Parquet, atomically (temp file, then rename).

    Scalar fields become columns, plus ``text`` (``inputs["text"]``) for convenience;
    nested fields (inputs, provenance, verification, rejected) are JSON strings.
    Returns the number of rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for r in records:
        d = r.model_dump(mode="json")
        row = {
            "id": d["id"],
            "task": d["task"],
            "origin": d["origin"],
            "label": d["label"],
            "text": r.text,
            "trust_weight": d["trust_weight"],
        }
        for col in _PARQUET_JSON_COLUMNS:
            row[col] = None if d[col] is None else json.dumps(d[col], ensure_ascii=False)
        rows.append(row)
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("task", pa.string()),
            ("origin", pa.string()),
            ("label", pa.string()),
            ("text", pa.string()),
            ("trust_weight", pa.float64()),
        ]
        + [(c, pa.string()) for c in _PARQUET_JSON_COLUMNS]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(rows)


def read_parquet(path: Path) -> list[Record]:
    """Read records written by :func:`write_parquet`."""
    import pyarrow.parquet as pq

    out = []
    for row in pq.read_table(path).to_pylist():
        d = {k: row[k] for k in ("id", "task", "origin", "label", "trust_weight")}
        for col in _PARQUET_JSON_COLUMNS:
            d[col] = None if row[col] is None else json.loads(row[col])
        out.append(Record.model_validate(d))
    return out
