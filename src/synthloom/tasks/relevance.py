"""The ``relevance`` kind: a synthetic query on a real document, the documents a retriever
finds for it, and a continuous relevance score per document fitted from pairwise judgements.

The pipeline is zELO's (Pipitone et al., arXiv 2509.12541) on queries an LLM writes for
corpus documents (InPars, Bonifacio et al., arXiv 2202.05144; Promptagator, Dai et al.,
arXiv 2209.11755): a query per sampled document, a hybrid retriever's candidates for it (the
source document always among them), an ensemble of judges voting on pairs of candidates, and
one Thurstone (or Bradley-Terry) score per candidate. One record holds one query.

Export layouts (``synthloom export RUN --layout NAME``), in :data:`RelevanceTask.layouts`;
a layout maps one record to one row or to a list of rows (:func:`synthloom.tasks.base.
layout_rows` flattens them):

* ``pairs``: one row per (query, candidate): ``{"query", "doc_id", "document", "score",
  "trust", "source", "query_id"}``, a pointwise reranker's regression targets.
* ``triples``: one row per ordered pair of candidates the fit separates (``P(positive beats
  negative) >= 0.75`` under the fit's link): ``{"query", "positive", "negative",
  "positive_id", "negative_id", "probability", "query_id"}``, the (anchor, positive,
  negative) rows of a triplet or contrastive reranker loss, with the retriever's hard
  negatives.
* ``listwise``: one row per query: ``{"query", "docs", "labels", "doc_ids", "id"}``, the
  columns Sentence Transformers' listwise cross-encoder losses read (labels are the scores).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field
from scipy.special import expit, ndtr

from synthloom.datasets import numbered_jsonl_rows
from synthloom.errors import UserInputError
from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind

TRIPLE_MIN_PROBABILITY = 0.75
"""A ``triples`` row needs the fit to say the positive beats the negative this often."""


def _scored(record: Record) -> list[dict[str, Any]]:
    """The record's candidates, each with a float ``score``.

    Raises:
        ValueError: not a finished relevance record (no query, candidates or scores).
    """
    candidates = record.outputs.get("candidates") or []
    scores = record.outputs.get("scores")
    if not (
        record.inputs.get("query") and candidates and scores and len(scores) == len(candidates)
    ):
        raise ValueError(
            f"record {record.id} is not a relevance record (it needs a query, "
            "candidates and one score per candidate)"
        )
    return [{**c, "score": float(s)} for c, s in zip(candidates, scores, strict=True)]


def pairs_rows(record: Record) -> list[dict[str, Any]]:
    """One row per candidate: ``{"query": str, "doc_id": str, "document": str, "score":
    float (fitted, comparable within the query only), "trust": float 0..1 (the judges'
    agreement on the pairs it was in), "source": bool (the document the query was written
    from), "query_id": str}``.

    Raises:
        ValueError: not a finished relevance record.
    """
    query = str(record.inputs["query"]) if record.inputs.get("query") else ""
    return [
        {
            "query": query,
            "doc_id": str(c["doc_id"]),
            "document": str(c.get("text", "")),
            "score": c["score"],
            "trust": float(c.get("trust", record.trust_weight)),
            "source": bool(c.get("source")),
            "query_id": record.id,
        }
        for c in _scored(record)
    ]


def triples_rows(
    record: Record, min_probability: float = TRIPLE_MIN_PROBABILITY
) -> list[dict[str, Any]]:
    """One row per ordered pair (i, j) of candidates with ``P(i beats j) >= min_probability``
    under the fit's link (``Phi`` of the score difference for Thurstone, the logistic
    function for Bradley-Terry): ``{"query", "positive", "negative", "positive_id",
    "negative_id", "probability", "query_id"}``, most probable first.

    Raises:
        ValueError: not a finished relevance record.
    """
    cands = _scored(record)
    link = expit if record.outputs.get("method") == "bradley_terry" else ndtr
    rows = []
    for a in cands:
        for b in cands:
            p = float(link(a["score"] - b["score"]))
            if a is not b and p >= min_probability:
                rows.append(
                    {
                        "query": str(record.inputs["query"]),
                        "positive": str(a["text"]),
                        "negative": str(b["text"]),
                        "positive_id": str(a["doc_id"]),
                        "negative_id": str(b["doc_id"]),
                        "probability": round(p, 4),
                        "query_id": record.id,
                    }
                )
    return sorted(rows, key=lambda r: -r["probability"])


def listwise_row(record: Record) -> dict[str, Any]:
    """``{"query": str, "docs": [str], "labels": [float] (fitted scores), "doc_ids": [str],
    "id": str}``, candidates in retrieval order.

    Raises:
        ValueError: not a finished relevance record.
    """
    cands = _scored(record)
    return {
        "query": str(record.inputs["query"]),
        "docs": [str(c["text"]) for c in cands],
        "labels": [c["score"] for c in cands],
        "doc_ids": [str(c["doc_id"]) for c in cands],
        "id": record.id,
    }


@register_kind
class RelevanceTask(TaskSpec):
    """Queries for the documents of a corpus, with graded relevance of retrieved documents.

    ``description`` says what the documents are and who searches them; ``unit`` what one
    document is called ("product manual page"); ``query_unit`` what one query is called.

    Record fields: ``inputs``::

        {"source_id": str,       # the corpus document the query was written from
         "document": str,        # its text (real: field_origins["document"] = "real")
         "query": str,           # synthetic
         "query_type": str}      # the query type it was asked as (a queries step option)

    and ``outputs``::

        {"candidates": [{"doc_id": str, "text": str, "source": bool, "fused_rank": int,
                         "features": {name: float},   # Candidate.features() of the retriever
                         "score": float, "low": float | None, "high": float | None,
                         "agreement": float, "trust": float}],  # after relevance.scores
         "source_fused_rank": int | None,   # the source's rank in the fused list
         "pairs": [{"a": int, "b": int, "p_a": float | None, "votes": [float | None],
                    "agreement": float | None}],   # judged pairs, by candidate index
         "judge_calls": int,
         "scores": [float], "method": "thurstone" | "bradley_terry",
         "source_rank": int, "agreement": float}

    Candidate texts and retrieval features are real (the corpus and the retriever); the
    query, the judges' probabilities and the scores are synthetic. One stratum (``"all"``):
    quotas count queries.
    """

    kind: Literal["relevance"] = "relevance"
    query_unit: str = Field(default="search query", min_length=1, max_length=60)

    input_fields = ("query", "source_id")
    output_fields = ("candidates", "scores")
    stratum_name = "query"

    #: export layouts: name -> function of one accepted record to a row or a list of rows
    layouts: ClassVar[dict[str, Callable[[Record], Any]]] = {
        "pairs": pairs_rows,
        "triples": triples_rows,
        "listwise": listwise_row,
    }

    def text_of(self, record: Record) -> str:
        """The text filters and diversity measures look at: the query."""
        return str(record.inputs.get("query") or "")

    def judge_text(self, record: Record) -> str:
        """What a pointwise judge reads: the query and the document it was written from."""
        return (
            f"{self.query_unit[:1].upper() + self.query_unit[1:]}: "
            f"{record.inputs.get('query', '')}\n\nSource {self.unit or 'document'}:\n"
            f"{record.inputs.get('document', '')}"
        )

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "query_unit": self.query_unit}


def read_corpus(
    path: str | Path, text_column: str = "text", id_column: str | None = "id"
) -> list[tuple[str, str | None]]:
    """The documents of a corpus file as ``(doc_id, text)`` pairs, in file order, blank and
    repeated documents kept (the retriever's index skips and reports them).

    ``.txt``: one document per line, ids ``"line-<n>"`` (1-based); ``.jsonl``: one JSON object
    per line with a string ``text_column`` (``None`` or missing: a blank document) and, when
    ``id_column`` is given and present, its id (else ``"line-<n>"``); ``.csv``: a header row,
    the same columns.

    Raises:
        UserInputError: a missing file or a folder, another suffix, a file that is not
            UTF-8, a JSONL line that is not an object, a CSV without ``text_column``, or no
            line at all (the message names the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(
            f"{path}: corpus file not found" + (" (it is a folder)" if path.is_dir() else "")
        )
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv"):
        raise UserInputError(
            f"{path}: a corpus file is .txt (one document per line), .jsonl "
            f"or .csv (with a {text_column!r} column), not "
            f"{suffix or 'no suffix'}"
        )
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    docs: list[tuple[str, str | None]] = []
    if suffix == ".txt":
        docs = [(f"line-{i}", line) for i, line in enumerate(text.splitlines(), 1)]
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if text_column not in (reader.fieldnames or []):
            raise UserInputError(
                f"{path}: no column {text_column!r} (columns: "
                f"{reader.fieldnames or []}); set text_column"
            )
        for i, row in enumerate(reader, 2):
            doc_id = row.get(id_column) if id_column else None
            docs.append((doc_id or f"line-{i}", row.get(text_column)))
    else:
        for i, row in numbered_jsonl_rows(path, text):
            value = row.get(text_column)
            doc_id = row.get(id_column) if id_column else None
            docs.append(
                (
                    str(doc_id) if doc_id not in (None, "") else f"line-{i}",
                    value if isinstance(value, str) else None,
                )
            )
    if not docs:
        raise UserInputError(f"{path}: no documents in the file (it is empty)")
    return docs
