"""Steps of the ``relevance`` kind, part 1: a corpus -> one draft per sampled document, and
(after the query, :mod:`synthloom.pipeline.steps.relevance_queries`) the hybrid retriever's
candidates for each query.

Candidates are zELO's first stage (Pipitone et al., arXiv 2509.12541): the reciprocal-rank
fusion of BM25 and dense retrieval, the source document always among them. Judging and
scoring are in :mod:`synthloom.pipeline.steps.relevance_judge`. The corpus is indexed once
per process and shared by the steps that read it (:func:`corpus_index`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from synthloom.errors import GenerationError, UserInputError
from synthloom.operators.base import derived_seed, with_step
from synthloom.operators.relevance.candidates import candidate_set
from synthloom.operators.relevance.retrieval import CorpusReport, HybridRetriever
from synthloom.pipeline.steps.base import (
    OneStratumDrafts,
    StepConfig,
    StepContext,
    file_fingerprint,
    register_step,
)
from synthloom.records import (
    OperatorStep,
    Origin,
    Plan,
    Provenance,
    Record,
    sha256_text,
    stable_json,
)
from synthloom.tasks import quotas
from synthloom.tasks.relevance import read_corpus

_KINDS = frozenset({"relevance"})


@dataclass
class CorpusIndex:
    """A corpus indexed for retrieval: ``name`` (``bbc`` or the file), ``sha256`` of its
    ``(id, text)`` pairs as given, ``texts`` of the indexed documents by id, the
    ``retriever`` and its :class:`CorpusReport`, and ``extra`` facts for the manifest."""

    name: str
    sha256: str
    texts: dict[str, str]
    retriever: HybridRetriever
    report: CorpusReport
    extra: dict[str, Any] = field(default_factory=dict)


_INDEXES: dict[str, CorpusIndex] = {}


def corpus_index(config: CorpusStep) -> CorpusIndex:
    """The corpus a ``relevance.corpus`` step names, indexed by a :class:`HybridRetriever`
    (BM25 + all-MiniLM-L6-v2 float, no disk cache: the same vectors on every run), built once
    per process for each corpus (path and content) and shared (at most two are kept).

    Raises:
        UserInputError: a bad corpus file (see :func:`~synthloom.tasks.relevance.
            read_corpus`), or the BBC package is missing.
    """
    columns = ("source", "file", "text_column", "id_column")
    content = {k: v for k, v in config.fingerprint_data().items() if k in columns}
    key = stable_json([content, config.file])  # the path too: it names the records' source
    if key in _INDEXES:
        return _INDEXES[key]
    extra: dict[str, Any] = {}
    if config.source == "bbc":
        from synthloom.relevance_data import load_bbc_known_item

        data = load_bbc_known_item()
        docs: list[tuple[str, str | None]] = list(data.corpus.items())
        extra = {
            "bbc": {
                k: v
                for k, v in data.summary().items()
                if k in ("documents", "dropped_articles", "links")
            }
        }
        name = "bbc"
    else:
        docs = read_corpus(config.file, config.text_column, config.id_column)
        name = str(config.file)
    from synthloom.llm.embeddings import SentenceEmbedder

    retriever = HybridRetriever(SentenceEmbedder(cache_path=None, quantized=False))
    report = retriever.index(docs)
    texts = dict.fromkeys(retriever.doc_ids_, "")
    for doc_id, text in docs:
        if str(doc_id) in texts and not texts[str(doc_id)]:
            texts[str(doc_id)] = str(text)
    index = CorpusIndex(name, sha256_text(stable_json(docs)), texts, retriever, report, extra)
    while len(_INDEXES) >= 2:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[key] = index
    return index


def _corpus_step(ctx: StepContext) -> CorpusStep:
    """The recipe's ``relevance.corpus`` step (the flow check made sure there is one)."""
    return next(s for s in ctx.recipe.steps if isinstance(s, CorpusStep))


class _CorpusDrafts(OneStratumDrafts):
    """The draft step's runtime object: draft ``i`` carries sampled document ``i``."""

    def __init__(self, config: CorpusStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx

    def start(self, artifacts: dict[str, Any]) -> None:
        """Index the corpus and draw the order in which documents get queries: the indexed
        documents of at least ``min_words`` words, shuffled by a seed derived from the
        recipe's seed and the corpus content.

        Raises:
            GenerationError: no document long enough.
        """
        self.recipe_sha256 = self.ctx.recipe.sha256()
        self.index = corpus_index(self.config)
        texts = self.index.texts
        eligible = [
            d
            for d in self.index.retriever.doc_ids_
            if len(texts[d].split()) >= self.config.min_words
        ]
        if not eligible:
            raise GenerationError(
                f"no document of the corpus has {self.config.min_words} "
                "words or more (relevance.corpus min_words)"
            )
        random.Random(
            derived_seed(self.config.type, self.ctx.recipe.seed, self.index.sha256)
        ).shuffle(eligible)
        self.order, self.short = eligible, len(texts) - len(eligible)

    def max_drafts(self, n: int) -> int:
        """At most one draft per eligible document, and ``n * max_drafts_factor``."""
        return min(len(self.order), int(n * self.config.max_drafts_factor))

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        """Draft number ``index``: sampled document ``index`` (IndexError past the last)."""
        r = self.ctx.recipe
        doc_id = self.order[index]
        plan_id = f"plan-{derived_seed(self.recipe_sha256, r.seed, index):010d}-{index}"
        step = OperatorStep(
            operator=self.config.type,
            verdict="planned",
            detail={"index": index, "doc_id": doc_id, "corpus_sha256": self.index.sha256},
        )
        return Record(
            id=plan_id,
            task=r.task.name,
            kind="relevance",
            inputs={"source_id": doc_id, "document": self.index.texts[doc_id]},
            origin=Origin.synthetic,
            field_origins={"document": Origin.real},
            provenance=Provenance(
                recipe_sha256=self.recipe_sha256,
                plan=Plan(id=plan_id),
                source=f"{self.index.name}:{doc_id}",
                operators=[step],
            ),
        )

    def manifest_entries(self) -> dict[str, Any]:
        """``{"corpus": ...}`` for the manifest: name, sha256, the index's report (blank
        and duplicate documents skipped, by id) and how many documents could get a query."""
        return {
            "corpus": {
                "name": self.index.name,
                "sha256": self.index.sha256,
                **self.index.report.to_dict(),
                "eligible": len(self.order),
                "shorter_than_min_words": self.short,
                **self.index.extra,
            }
        }


@register_step
class CorpusStep(StepConfig):
    """Read and index a corpus; one draft per sampled document (module docstring).

    Attributes:
        source: ``bbc``: the BBC News article bodies of :func:`synthloom.relevance_data.
            load_bbc_known_item` (headlines removed, duplicate articles dropped). Or give
            ``file`` instead.
        file: a ``.txt`` (one document per line), ``.jsonl`` or ``.csv`` corpus, relative to
            the recipe file; it enters the fingerprint by its content.
        text_column, id_column: the columns of a JSONL or CSV file (``id_column`` None or
            absent in a row: ids ``line-<n>``).
        min_words: documents shorter than this are retrieved as candidates but get no query.
        max_drafts_factor: stop after ``n * factor`` drafts, so rejected queries are made
            up by other documents.

    Blank and duplicate documents (by id, or by text with whitespace collapsed) are skipped
    and listed in the manifest's ``corpus`` section, never an error.

    Raises:
        ValueError: neither or both of ``source`` and ``file``; a bad file (at load).
    """

    type: Literal["relevance.corpus"] = "relevance.corpus"
    source: Literal["bbc"] | None = None
    file: str | None = None
    text_column: str = Field(default="text", min_length=1)
    id_column: str | None = "id"
    min_words: int = Field(default=30, ge=1, strict=True)
    max_drafts_factor: float = Field(default=2.0, ge=1.0)
    role = "draft"
    writes = frozenset({"document", "source_id"})
    kinds = _KINDS

    @model_validator(mode="after")
    def _one_source(self) -> CorpusStep:
        if (self.source is None) == (self.file is None):
            raise ValueError("give either source (bbc) or file (a corpus file)")
        return self

    def check_task(self, task: Any) -> None:
        """Read a corpus file now: a bad file is a ValueError when the recipe loads."""
        if self.file is not None:
            try:
                read_corpus(self.file, self.text_column, self.id_column)
            except UserInputError as e:
                raise ValueError(str(e)) from None

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def quotas(self, strata: list[str], n: int) -> dict[str, int]:
        """Accepted records wanted: ``n`` queries in the one stratum."""
        return quotas(strata, n)

    def build(self, ctx: StepContext) -> Any:
        return _CorpusDrafts(self, ctx)


class _Candidates:
    """The transform step's runtime object: the fused top k, the source always in it."""

    name = "relevance.candidates"

    def __init__(self, config: CandidatesStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.index: CorpusIndex | None = None

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with ``outputs["candidates"]`` and ``["source_fused_rank"]``."""
        if self.index is None:
            self.index = corpus_index(_corpus_step(self.ctx))
        out = []
        for r in records:
            source = str(r.inputs["source_id"])
            cands, rank = candidate_set(
                self.index.retriever, str(r.inputs["query"]), source, self.config.k
            )
            rows = [
                {
                    "doc_id": c.doc_id,
                    "text": self.index.texts[c.doc_id],
                    "source": c.doc_id == source,
                    "fused_rank": c.fused_rank,
                    "features": {k: round(v, 6) for k, v in c.features().items()},
                }
                for c in cands
            ]
            step = OperatorStep(
                operator=self.name,
                version="1",
                verdict="retrieved",
                detail={
                    "attempt": attempt,
                    "k": self.config.k,
                    "found": len(rows),
                    "source_fused_rank": rank,
                    "source_added": rank is None or rank > self.config.k,
                },
            )
            out.append(
                with_step(r, step).model_copy(
                    update={"outputs": {**r.outputs, "candidates": rows, "source_fused_rank": rank}}
                )
            )
        return out


@register_step
class CandidatesStep(StepConfig):
    """The hybrid retriever's fused top ``k`` for each query, with the document it was
    written from always among them (it replaces the k-th when missed; see
    :mod:`synthloom.operators.relevance.candidates`). No LLM.

    Attributes:
        k: candidates per query, 2..50 (the judged pairs grow with it).
    """

    type: Literal["relevance.candidates"] = "relevance.candidates"
    k: int = Field(default=8, ge=2, le=50, strict=True)
    role = "transform"
    reads = frozenset({"query", "source_id"})
    writes = frozenset({"candidates"})
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _Candidates(self, ctx)
