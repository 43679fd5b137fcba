"""Queries written by an LLM for corpus documents: "what would someone type to find this?".

InPars (Bonifacio, Abonizio, Fadaee & Nogueira, arXiv 2202.05144) prompts an LLM with a
document and asks for a question it answers, then keeps the queries the model was most
confident in; Promptagator (Dai, Zhao, Ma, Luan, Ni, Lu, Bakalov, Guu, Hall & Chang, arXiv
2209.11755) writes the prompt per task from a short description (and at most 8 examples)
and filters by round-trip consistency (the query must retrieve its own document). Here the
prompt is derived from the task alone: the recipe's description, what a document and a query
are called (``unit``, ``query_unit``), a query type (keyword, natural question, multi-hop:
:data:`QUERY_TYPES`) and optionally a persona, both sampled per record by the step. No
domain is written into the templates.

An answer is cleaned (first non-empty line, a "Here is ..." or "Query:" lead, quotes and
list markers removed) and rejected, with the reason, when it is empty, longer than
``max_words`` words, or copies ``max_copy_words`` or more consecutive words of the document
(a query that quotes its document is a lexical-match shortcut, not a query a person types).
Rejected answers are asked again with a new sampler seed, up to ``max_attempts`` answers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from synthloom.llm.base import BackendError, ChatBackend
from synthloom.operators.base import Operator, derived_seed

#: default query types: name -> how the prompt asks for it ({unit} is filled in)
QUERY_TYPES: dict[str, str] = {
    "keyword": "a few keywords, as typed into a search box",
    "question": "a natural question of one sentence",
    "multi_hop": "a question whose answer needs two facts from different parts of the {unit}",
}

_WORD = re.compile(r"\w+")
_LEAD = re.compile(
    r"^(sure|certainly|here is|here's|query|search query|question|keywords?)"
    r"\b[^:\n]{0,40}:\s*",
    re.IGNORECASE,
)
_MARKER = re.compile(r"^(?:[-*•]|\d+[.)])\s+")


def words_of(text: str) -> list[str]:
    """Lower-cased ``\\w+`` runs of ``text``."""
    return _WORD.findall(text.lower())


def longest_copied_span(query: str, document: str) -> int:
    """Length in words of the longest run of consecutive words shared by ``query`` and
    ``document`` (lower-cased ``\\w+`` words; dynamic programming, O(len(q) * len(doc)))."""
    q, d = words_of(query), words_of(document)
    if not q or not d:
        return 0
    best, previous = 0, [0] * (len(d) + 1)
    for word in q:
        current = [0] * (len(d) + 1)
        for j, other in enumerate(d, 1):
            if word == other:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def first_words(text: str, n: int) -> str:
    """The first ``n`` whitespace-separated words of ``text``, with " ..." when cut."""
    words = text.split()
    return " ".join(words[:n]) + (" ..." if len(words) > n else "")


@dataclass(frozen=True)
class QueryJob:
    """One query to write: ``key`` (a plan id; seeds the sampler), the ``document`` text,
    the query type's instruction and the persona line (None for none)."""

    key: str
    document: str
    query_type: str
    persona: str | None = None


class QueryGeneration(Operator):
    """Write one query per document (see the module docstring).

    Args:
        backend: the generator LLM.
        description: the task description (what the documents are, who searches them).
        unit: what one document is called.
        query_unit: what one query is called ("search query").
        max_words: longest query kept, in words (also asked for in the prompt).
        max_copy_words: a query sharing this many consecutive words with its document is
            rejected (>= 2).
        doc_words: words of the document shown to the model (the copy check reads all).
        seed: master seed; temperature, top_p: sampling values.
        max_attempts: answers asked per document before it is rejected (>= 1).
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``max_words`` < 1, ``max_copy_words`` < 2, ``doc_words`` < 10 or
            ``max_attempts`` < 1.
    """

    name = "relevance.queries"
    version = "1"
    templates = {
        "system": "You write the {query_unit}s people type to find {unit}s. "
        "The {unit}s: {description}",
        "user": (
            "{persona}Here is a {unit}:\n\n{document}\n\nWrite one {query_unit} that "
            "this {unit} answers, as {query_type}. Use at most {max_words} words and your "
            "own words, not sentences copied from the {unit}. Write only the "
            "{query_unit}."
        ),
        "persona": "Write it as {persona} would.\n\n",
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        *,
        unit: str = "document",
        query_unit: str = "search query",
        max_words: int = 20,
        max_copy_words: int = 6,
        doc_words: int = 200,
        seed: int = 0,
        temperature: float = 0.8,
        top_p: float = 0.95,
        max_attempts: int = 2,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        if max_words < 1 or max_copy_words < 2 or doc_words < 10 or max_attempts < 1:
            raise ValueError(
                "need max_words >= 1, max_copy_words >= 2, doc_words >= 10 and "
                f"max_attempts >= 1, got {max_words}, {max_copy_words}, "
                f"{doc_words}, {max_attempts}"
            )
        self.use_templates(templates)
        self.backend, self.description = backend, description
        self.unit, self.query_unit = unit, query_unit
        self.max_words, self.max_copy_words, self.doc_words = max_words, max_copy_words, doc_words
        self.seed, self.temperature, self.top_p = seed, temperature, top_p
        self.max_attempts = max_attempts

    @property
    def max_tokens(self) -> int:
        """Token cap of an answer: about 2 tokens a word, plus 24."""
        return 2 * self.max_words + 24

    def _request(self, job: QueryJob, attempt: int, tried: int):
        lead = self.templates["persona"].format(persona=job.persona) if job.persona else ""
        return self.request(
            self.templates["system"].format(
                unit=self.unit, query_unit=self.query_unit, description=self.description
            ),
            self.templates["user"].format(
                persona=lead,
                unit=self.unit,
                query_unit=self.query_unit,
                document=first_words(job.document, self.doc_words),
                max_words=self.max_words,
                query_type=job.query_type.format(unit=self.unit),
            ),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=self.max_tokens,
            seed=derived_seed(self.name, self.seed, job.key, attempt, tried),
        )

    @staticmethod
    def clean(text: str) -> str:
        """The query in an answer: its first non-empty line without a lead ("Here is ...:",
        "Query:"), a list marker or surrounding quotes, whitespace collapsed."""
        line = next((x for x in text.splitlines() if x.strip()), "")
        line = _LEAD.sub("", _MARKER.sub("", line.strip()))
        return " ".join(line.strip().strip("\"'`*").split())

    def check(self, query: str, document: str) -> str | None:
        """Why ``query`` is rejected for ``document`` (None when it is kept)."""
        if not words_of(query):
            return "empty query"
        words = len(query.split())
        if words > self.max_words:
            return f"too long: {words} words (at most {self.max_words})"
        copied = longest_copied_span(query, document)
        if copied >= self.max_copy_words:
            return (
                f"copies {copied} consecutive words of its {self.unit} (at most "
                f"{self.max_copy_words - 1})"
            )
        return None

    def run(
        self, jobs: Sequence[QueryJob], attempt: int = 0
    ) -> list[tuple[str | None, str | None, int]]:
        """One ``(query, rejection reason, answers asked)`` per job, in order: the query is
        None and the reason says why when no answer passed. Every pending job of a round
        goes to the backend in one batch; answer ``t`` of a job has sampler seed
        ``derived_seed(name, seed, key, attempt, t)``.

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        results: list[tuple[str | None, str | None, int]] = [(None, "no answer", 0)] * len(jobs)
        pending = list(range(len(jobs)))
        for tried in range(self.max_attempts):
            if not pending:
                break
            answers = self.backend.chat([self._request(jobs[i], attempt, tried) for i in pending])
            still = []
            for i, answer in zip(pending, answers, strict=True):
                if isinstance(answer, BackendError):
                    raise answer  # the backend already retried; stop, keep what is done
                query = self.clean(answer.text)
                reason = self.check(query, jobs[i].document)
                results[i] = (None, reason, tried + 1) if reason else (query, None, tried + 1)
                if reason:
                    still.append(i)
            pending = still
        return results

    def sampling(self) -> dict[str, object]:
        """Sampling values for provenance (seeds derive per record and attempt)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "max_attempts": self.max_attempts,
        }
