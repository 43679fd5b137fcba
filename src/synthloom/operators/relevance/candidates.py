"""The candidate set of one synthetic query: the hybrid retriever's fused top k, with the
document the query was written from always among them.

zELO (Pipitone et al., arXiv 2509.12541) judges the documents a first-stage hybrid retriever
returns for each query, so the reranker is trained on the hard negatives it will see at run
time. A synthetic query's source document is the one judged relevant by construction (InPars,
arXiv 2202.05144; Promptagator, arXiv 2209.11755); when the retriever misses it, it replaces
the last of the top k, so every set has a known item for the judges to be compared with and
the reranker sees retrieval failures too. Its features are what the retriever said about it
(its BM25 and dense scores and ranks; a fused score of 0 when it is outside the top
``depth`` of both lists).
"""

from __future__ import annotations

import numpy as np

from synthloom.operators.relevance.retrieval import Candidate, HybridRetriever


def _rank_of(scores: np.ndarray, i: int) -> int:
    """1-based rank of item ``i`` by descending score, ties in index order (stable)."""
    return int(np.flatnonzero(np.argsort(-scores, kind="stable") == i)[0]) + 1


def source_candidate(
    retriever: HybridRetriever, query: str, source_id: str, fused_rank: int
) -> Candidate:
    """The :class:`Candidate` of ``source_id`` for ``query`` built from the retriever's full
    score vectors, with fused score 0.0 and the given ``fused_rank`` (it is in neither list's
    top ``depth``, or the caller forces it in).

    Raises:
        KeyError: ``source_id`` is not an indexed document.
    """
    i = retriever.doc_ids_.index(source_id) if source_id in retriever.doc_ids_ else None
    if i is None:
        raise KeyError(f"document {source_id!r} is not in the index")
    lexical = retriever.bm25_scores(query)
    dense = retriever.dense_scores(query)
    return Candidate(
        doc_id=source_id,
        bm25=float(lexical[i]),
        bm25_rank=_rank_of(lexical, i) if lexical[i] > 0 else None,
        dense=float(dense[i]),
        dense_rank=_rank_of(dense, i),
        fused=0.0,
        fused_rank=fused_rank,
    )


def candidate_set(
    retriever: HybridRetriever, query: str, source_id: str, k: int
) -> tuple[list[Candidate], int | None]:
    """The fused top ``k`` of ``query`` with ``source_id`` among them, and the source's rank
    in the whole fused list (None when it is outside the top ``depth`` of both BM25 and
    dense). A source outside the top k replaces the k-th candidate (keeping its own fused
    score and rank). Candidates come in fused order; fewer than k when the corpus is smaller.

    Raises:
        ValueError: ``k < 1``. KeyError: ``source_id`` is not an indexed document.
        RuntimeError: the retriever is not indexed.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if source_id not in retriever.doc_ids_:
        raise KeyError(f"document {source_id!r} is not in the index")
    fused = retriever.candidates(query, k=max(k, 2 * retriever.depth))
    ids = [c.doc_id for c in fused]
    rank = ids.index(source_id) + 1 if source_id in ids else None
    top = fused[:k]
    if rank is not None and rank <= k:
        return top, rank
    source = (
        fused[rank - 1]
        if rank is not None
        else source_candidate(retriever, query, source_id, len(fused) + 1)
    )
    return [*top[: k - 1], source] if len(top) >= k else [*top, source], rank
