"""VADER's human-rated sentiment snippets as real labelled data (Hutto & Gilbert, ICWSM 2014).

Four sets (tweets, film-review sentences, Amazon review sentences, New York Times editorial
sentences), each rated by about 20 people; read from the ``vaderSentiment`` 3.3.2 sdist,
sha256-checked, in memory. See :func:`load_vader`.
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from synthloom.errors import UserInputError
from synthloom.records import Origin, Provenance, Record, record_id

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
