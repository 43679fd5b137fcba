"""Records, their provenance, and dataset I/O (JSONL, Parquet).

This is the bottom layer: it knows nothing about LLMs or tasks. A :class:`Record`
is one labelled example, real or synthetic, carrying where it came from.

Synthetic never passes for real: ``origin`` is required and never inferred.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    the target label, parent record ids, the ids of the user's real seed examples shown
    to the generator for it (``seed_examples``), the failure mode injected into it if any
    (``perturbation``: ``{"mode", "parent"}``), the fields a person set in review
    (``human_fields``: field -> ``"human:<reviewer>"``, see :mod:`synthloom.review`) and
    the UTC creation time.
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
    seed_examples: list[str] = Field(default_factory=list)
    perturbation: dict[str, Any] | None = None
    human_fields: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


class Verdict(BaseModel):
    """One check's verdict on a record, naming who gave it.

    Attributes:
        check: what was checked: ``self_consistency``, ``judge``, ``verifier``, ...
        by: who gave it: the operator name, and the model where one answered
            (``targen.self_correction/qwen2.5-coder-0.5b``).
        passed: whether the record passed (None for a score without a threshold).
        score: a numeric score, when the check gives one.
        detail: anything else (predicted vs target label, failing test, rubric...).
    """

    model_config = ConfigDict(extra="forbid")

    check: str
    by: str
    passed: bool | None = None
    score: float | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


def _verdicts_from_legacy(value: Any) -> Any:
    """Records written before verdicts were a list held ``{"self_consistency": {...},
    "judges": [...], "verifiers": [...]}``; read them as a list of verdicts."""
    if not isinstance(value, dict):
        return value
    out: list[dict[str, Any]] = []
    sc = value.get("self_consistency")
    if sc:
        out.append({"check": "self_consistency", "by": "targen.self_correction",
                    "passed": sc.get("agreed"), "detail": dict(sc)})
    for check, items in (("judge", value.get("judges")), ("verifier", value.get("verifiers"))):
        for item in items or []:
            out.append({"check": check, "by": str(item.get("by", "unknown")),
                        "detail": dict(item)})
    return out


class Rejection(BaseModel):
    """Why an operator dropped a record. Rejected records go to the audit file, not the dataset."""

    model_config = ConfigDict(extra="forbid")

    operator: str
    reason: str
    collided_with: str | None = None
    similarity: float | None = None


class Record(BaseModel):
    """One example of any task kind, real or synthetic, with where it came from.

    Attributes:
        id: stable content hash of task, inputs, label and outputs (see :func:`record_id`),
            or a plan id for a synthetic record whose fields are not generated yet.
        task: task name, e.g. ``"bbc_news_topics"``.
        kind: the task kind (``classification``, ``instruction``, ``preference``...).
        inputs: the kind's input fields: ``{"text"}``; ``{"messages"}``; ``{"prompt"}``;
            ``{"problem"}``; ``{"query", "document"}``...
        label: the label of a classification record, or ``None``.
        outputs: the kind's other output fields: ``{"response"}``; ``{"chosen",
            "rejected", "scores"}``; ``{"solution", "tests"}``; ``{"relevance"}``...
        origin: ``real`` or ``synthetic``; required, never inferred. A record with any
            synthetic field is synthetic.
        field_origins: the origin of single fields where they differ from ``origin``:
            a teacher's label on a real text is ``{"text": "real", "label": "synthetic"}``
            on a synthetic record.
        provenance: where it came from (see :class:`Provenance`).
        verification: verdicts of checks, judges and verifiers, in the order given.
        trust_weight: 0..1, what a trainer multiplies this record's loss by.
        rejected: set when an operator dropped the record.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    task: str
    kind: str = "classification"
    inputs: dict[str, Any] = Field(default_factory=dict)
    label: str | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    origin: Origin
    field_origins: dict[str, Origin] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)
    verification: list[Verdict] = Field(default_factory=list)
    trust_weight: float = Field(default=1.0, ge=0.0, le=1.0)
    rejected: Rejection | None = None

    @field_validator("verification", mode="before")
    @classmethod
    def _legacy_verification(cls, value: Any) -> Any:
        return _verdicts_from_legacy(value)

    @model_validator(mode="after")
    def _synthetic_never_passes_for_real(self) -> Record:
        if self.origin is Origin.real and Origin.synthetic in self.field_origins.values():
            raise ValueError("a record with a synthetic field has origin synthetic")
        return self

    def origin_of(self, field: str) -> Origin:
        """The origin of one field (``field_origins`` entry, else the record's origin)."""
        return self.field_origins.get(field, self.origin)

    def verdict(self, check: str) -> Verdict | None:
        """The latest verdict of ``check`` (e.g. ``"self_consistency"``), or None."""
        for v in reversed(self.verification):
            if v.check == check:
                return v
        return None

    def with_verdict(self, verdict: Verdict) -> Record:
        """A copy with ``verdict`` appended."""
        return self.model_copy(update={"verification": [*self.verification, verdict]})

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


def record_id(
    task: str, inputs: dict[str, Any], label: str | None, outputs: dict[str, Any] | None = None
) -> str:
    """Content hash (first 16 hex chars of sha256) of task, inputs, label and outputs.

    ``outputs`` enters only when non-empty, so classification ids are what they were.
    """
    value: dict[str, Any] = {"task": task, "inputs": inputs, "label": label}
    if outputs:
        value["outputs"] = outputs
    return sha256_text(stable_json(value))[:16]


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


def _parse_line(line: str) -> Record:
    """One JSONL line as a record; ValueError (pydantic's ValidationError is one) if not."""
    return Record.model_validate_json(line)


def read_jsonl(path: Path) -> Iterator[Record]:
    """Yield records from a JSONL file.

    A torn last line (a crash mid-write) is skipped silently. Any other line that is not a
    valid record is skipped with a ``RuntimeWarning`` naming the file and line number
    (:func:`set_aside_corrupt_lines` moves such lines out of a run's files for good).
    """
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        if i == len(lines) - 1 and not line.endswith("\n"):
            break  # torn write; the operator that produced it will run again
        try:
            yield _parse_line(line)
        except ValueError as e:
            warnings.warn(f"{path}:{i + 1}: not a valid record, skipped ({error_line(e)})",
                          RuntimeWarning, stacklevel=2)


def repair_jsonl(path: Path) -> None:
    """Cut a torn last line (no trailing newline) off a JSONL file, in place."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(cut)


def set_aside_corrupt_lines(path: Path) -> list[int]:
    """Move the lines of a JSONL file that are not valid records into a side file.

    Each bad line is appended to ``<name>.corrupt.jsonl`` beside ``path`` (never deleted)
    as ``{"file", "line", "error", "text"}``, then ``path`` is rewritten atomically
    without it, so a run resumes, and is evaluated, from every other record. Call after
    :func:`repair_jsonl` (a torn last line is a crash, not damage). Emits one
    ``RuntimeWarning`` naming the file, the line numbers (1-based) and the side file.

    Returns the 1-based numbers of the lines set aside (empty when the file is sound).
    """
    if not path.exists():
        return []
    raw = path.read_bytes().split(b"\n")
    keep: list[bytes] = []
    bad: list[dict[str, Any]] = []
    for i, chunk in enumerate(raw):
        if not chunk.strip():
            continue
        try:
            _parse_line(chunk.decode("utf-8"))
            keep.append(chunk)
        except ValueError as e:  # UnicodeDecodeError and ValidationError are ValueErrors
            bad.append({"file": path.name, "line": i + 1, "error": error_line(e),
                        "text": chunk.decode("utf-8", errors="replace")})
    if not bad:
        return []
    side = path.with_name(path.stem + ".corrupt.jsonl")
    with open(side, "a", encoding="utf-8") as f:
        for row in bad:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(b"".join(line + b"\n" for line in keep))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    lines = [row["line"] for row in bad]
    shown = ", ".join(map(str, lines[:10])) + (" ..." if len(lines) > 10 else "")
    warnings.warn(f"{path}: {len(lines)} damaged line(s) ({shown}) set aside in {side.name}; "
                  "the run goes on from the other records", RuntimeWarning, stacklevel=2)
    return lines


def read_json_state(path: Path, default: Any) -> Any:
    """Read a JSON state file the run can rebuild (``progress.json``, a plan step's file).

    A missing file gives ``default``; an unreadable one (empty, truncated, not UTF-8) is
    renamed to ``<name>.corrupt`` (kept, never deleted), a ``RuntimeWarning`` names it,
    and ``default`` is returned, so the run rebuilds it.
    """
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warnings.warn(f"{path}: unreadable ({error_line(e)}); moved to {aside.name} and "
                      "rebuilt", RuntimeWarning, stacklevel=2)
        return default


def error_line(error: Exception) -> str:
    """``"<ExceptionType>: <first line of its message>"``, at most 200 characters: an
    exception fit for a one-line message."""
    text = f"{type(error).__name__}: {str(error).strip()}"
    return text.splitlines()[0][:200]


# -------------------------------------------------------------- Parquet I/O

_PARQUET_JSON_COLUMNS = (
    "inputs", "outputs", "field_origins", "provenance", "verification", "rejected",
)
_PARQUET_SCALARS = ("id", "task", "kind", "origin", "label", "trust_weight")


def write_parquet(path: Path, records: Iterable[Record]) -> int:
    """Write records to Parquet, atomically (temp file, then rename).

    Scalar fields become columns, plus ``text`` (``inputs["text"]``) for convenience;
    nested fields (inputs, outputs, field_origins, provenance, verification, rejected) are
    JSON strings.
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
            "kind": d["kind"],
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
            ("kind", pa.string()),
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
    """Read records written by :func:`write_parquet` (files from before ``kind``,
    ``outputs`` and ``field_origins`` existed read with their defaults)."""
    import pyarrow.parquet as pq

    out = []
    for row in pq.read_table(path).to_pylist():
        d = {k: row[k] for k in _PARQUET_SCALARS if row.get(k) is not None or k == "label"}
        for col in _PARQUET_JSON_COLUMNS:
            if row.get(col) is not None:
                d[col] = json.loads(row[col])
            elif col == "rejected":
                d[col] = None
        out.append(Record.model_validate(d))
    return out
