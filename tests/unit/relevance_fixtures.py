"""A tiny corpus, a scripted model for the relevance steps, and records at each stage of the
relevance pipeline (for its tests and the step contract test)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from synthloom.llm.base import ChatRequest, ChatResponse
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Origin, Plan, Provenance, Record

#: doc id -> (text, the query the scripted model writes for it)
DOCS: dict[str, tuple[str, str]] = {
    "volcano": (
        "Volcanoes erupt when magma rises through cracks in the crust and pressure "
        "builds until gas and lava escape at the surface.",
        "why does lava come out of mountains",
    ),
    "bees": (
        "Honey bees collect nectar from flowers, store it in wax combs and fan it with "
        "their wings until the water evaporates into honey.",
        "how is honey made",
    ),
    "tides": (
        "Ocean tides follow the pull of the moon and the sun, so most coasts see two "
        "high waters and two low waters every day.",
        "why are there two high tides",
    ),
    "bread": (
        "Bread dough rises because yeast eats sugars and releases carbon dioxide, which "
        "the stretched gluten traps as small bubbles.",
        "what makes dough rise",
    ),
    "chess": (
        "In chess the knight moves in an L shape and is the only piece that can jump "
        "over other pieces on the board.",
        "which chess piece can jump",
    ),
    "glacier": (
        "Glaciers carve valleys as the ice slowly flows downhill, dragging rocks that "
        "scrape the bedrock into a wide U shape.",
        "how does ice shape valleys",
    ),
    "copycat": (
        "Copycat notes say the quick brown fox jumps over the lazy dog near the river "
        "bank every single morning before sunrise.",
        "the quick brown fox jumps over the lazy dog",
    ),
}

#: the corpus file's rows: the documents, a blank one, a repeated text, a repeated id
ROWS = [{"id": k, "text": t} for k, (t, _) in DOCS.items()] + [
    {"id": "blank", "text": "   "},
    {"id": "bees-again", "text": DOCS["bees"][0].replace(" ", "  ")},
    {"id": "bread", "text": "A second document under an id already used, never indexed."},
]

_QUERY = re.compile(r"^(.*?): (.*?)\n\n.*? A:\n(.*?)\n\n.*? B:\n(.*?)\n\n", re.DOTALL)


def write_corpus(folder: Path) -> Path:
    """The corpus as ``folder/corpus.jsonl``; returns its path."""
    path = folder / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return path


def source_of(text: str) -> str | None:
    """The id of the document whose text starts like ``text`` (None for none)."""
    head = " ".join(text.split()[:6])
    return next((k for k, (t, _) in DOCS.items() if t.startswith(head)), None)


def judge_parts(user: str) -> tuple[str, str | None, str | None]:
    """(query, id of document A, id of document B) of a judge prompt."""
    _, query, a, b = _QUERY.match(user).groups()
    return query, source_of(a), source_of(b)


def preferred(query: str, a: str | None, b: str | None) -> float:
    """P(A is more relevant) of a content-only judge: the document the query was written
    for wins clearly; between two others, the one first in ``DOCS`` wins slightly."""
    target = next((k for k, (_, q) in DOCS.items() if q == query), None)
    if a == target:
        return 0.9
    if b == target:
        return 0.1
    order = list(DOCS)
    return 0.6 if order.index(a or "copycat") < order.index(b or "copycat") else 0.4


def soft(p_first: float) -> ChatResponse:
    """A one-token answer with ``top_logprobs`` giving the first slot probability
    ``p_first`` (and some mass on other tokens)."""
    return ChatResponse(
        text="A" if p_first >= 0.5 else "B",
        top_logprobs=[
            {
                "A": math.log(0.9 * p_first),
                " B": math.log(0.9 * (1 - p_first)),
                "The": math.log(0.05),
            }
        ],
    )


def model(bias: float = 0.0, hard: bool = False):
    """A scripted model: queries from :data:`DOCS`, a judge preferring each query's own
    document, plus ``bias`` added to the first slot's probability; ``hard`` answers only the
    letter of the (biased) favourite, ``bias >= 0.5`` always "A"."""

    def respond(request: ChatRequest):
        system, user = request.messages[0]["content"], request.messages[-1]["content"]
        if system.startswith("You judge which"):
            p = min(0.98, max(0.02, preferred(*judge_parts(user)) + bias))
            return ("A" if p >= 0.5 else "B") if hard else soft(p)
        if system.startswith("You write the"):
            doc = source_of(user.split(":\n\n", 1)[1])
            return f"Query: {DOCS[doc][1]}" if doc else ""
        raise AssertionError(f"unexpected request: {system[:60]} / {user[:60]}")

    return respond


def recipe_data(corpus: Path, n: int = 3, **judge) -> dict:
    """A relevance recipe over ``corpus`` (k = 4 candidates, 2 cycles, 2 questions)."""
    return {
        "task": {
            "name": "toy_search",
            "kind": "relevance",
            "unit": "note",
            "query_unit": "search query",
            "description": "Short notes on how things work; people search them.",
        },
        "n": n,
        "seed": 13,
        "steps": [
            {"type": "relevance.corpus", "file": str(corpus), "min_words": 5},
            {"type": "relevance.queries", "personas": True, "max_words": 12},
            {"type": "relevance.candidates", "k": 4},
            {"type": "relevance.judge", "cycles": 2, **judge},
            {"type": "relevance.scores"},
        ],
    }


def contract_recipe(folder: Path) -> Recipe:
    """The recipe the step contract test builds the relevance steps in."""
    return Recipe.model_validate(recipe_data(write_corpus(folder)))


def contract_records(step_type: str) -> list[Record]:
    """Four records as the step ``step_type`` receives them."""
    out = []
    for i, doc in enumerate(["volcano", "bees", "tides", "chess"]):
        text, query = DOCS[doc]
        inputs = {"source_id": doc, "document": text}
        if step_type != "relevance.queries":
            inputs["query"] = query
        outputs: dict = {}
        if step_type in ("relevance.judge", "relevance.scores"):
            others = [d for d in ("bread", "glacier", "tides") if d != doc][:2]
            outputs["candidates"] = [
                {
                    "doc_id": d,
                    "text": DOCS[d][0],
                    "source": d == doc,
                    "fused_rank": r + 1,
                    "features": {"bm25": 1.0 / (r + 1), "dense": 0.5},
                }
                for r, d in enumerate([doc, *others])
            ]
        if step_type == "relevance.scores":
            outputs["pairs"] = [
                {"a": 0, "b": 1, "p_a": 0.8, "votes": [0.9, 0.7], "agreement": 1.0},
                {"a": 1, "b": 2, "p_a": 0.5, "votes": [0.6, 0.4], "agreement": 0.5},
                {"a": 0, "b": 2, "p_a": 0.7, "votes": [0.7, 0.7], "agreement": 1.0},
            ]
        planned = {
            "operator": "relevance.corpus",
            "verdict": "planned",
            "detail": {"index": i, "doc_id": doc},
        }
        out.append(
            Record(
                id=f"plan-{i}",
                task="toy_search",
                kind="relevance",
                origin=Origin.synthetic,
                inputs=inputs,
                outputs=outputs,
                field_origins={"document": Origin.real},
                provenance=Provenance(plan=Plan(id=f"plan-{i}"), operators=[planned]),
            )
        )
    return out
