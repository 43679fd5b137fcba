"""Build taxonomies with an LLM: factors of variation, then best-of-N expansion with a critic.

Simula (arXiv 2603.29791), taxonomy construction:

1. From the task description, the model chooses the factors along which texts of the task
   vary from :data:`COMMON_FACTORS` (tone, audience, format, ...). With a label set, a
   ``topic`` factor is keyed by the labels: its top-level nodes are the labels, so a
   draft's mix can stay inside its label.
2. Each node is expanded ``best_of`` times independently (different sampler seeds); the
   proposals are pooled, exact and case duplicates merged.
3. A critic pass sees the pooled candidates and keeps those that are distinct, do not
   overlap and stay on the task and under the parent, at most ``breadth`` of them (answer
   constrained by a JSON schema to the candidates). If the critic keeps nothing, the
   candidates proposed most often are kept. Under a label of the label-keyed topic, a
   child naming another label is dropped.
4. Repeat to ``depth`` levels.

The result is plain data (:class:`~synthloom.operators.plan.taxonomy.Taxonomy`), saved as
YAML for a person to read, edit and feed back.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints, create_model

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.plan.taxonomy import Node, Taxonomy

Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]


COMMON_FACTORS = (
    "tone", "audience", "format", "length", "point of view", "region", "time frame",
    "sentiment", "complexity", "source type",
)
"""Factors a model chooses from in step 1. Asked to invent factors freely, the embedded 0.5B
model named "BBC News" and "UK" (words of the task description); choosing is within reach
of small models, and a person can add any factor to the YAML afterwards."""

FactorAnswer = create_model(
    "FactorAnswer", factors=(list[Literal[COMMON_FACTORS]], ...)  # type: ignore[valid-type]
)


class ChildrenAnswer(BaseModel):
    """Answer schema of step 2."""

    children: list[Phrase]


class TaxonomyBuilder(Operator):
    """Build taxonomies for a task (Simula, arXiv 2603.29791).

    Args:
        backend: the LLM.
        description: what the texts of the task are.
        labels: optional label -> description; adds a label-keyed ``topic`` factor.
        factors: factors of variation to ask for (besides the label-keyed topic).
        depth: levels below each factor (1 = a flat list of leaves).
        breadth: children kept per node, at most.
        best_of: independent proposals per node before the critic.
        seed, temperature: sampling.

    LLM calls: ``1 + sum over expanded nodes of (best_of + 1)``.
    """

    name = "simula.taxonomy"
    version = "1"
    templates = {
        "system": "You are a careful data designer. You answer in JSON.",
        "factors": (
            "Texts to create: {description}\n"
            "Choose the {k} factors, other than the topic, along which such texts vary most: "
            "{choices}.\n"
            'Answer as JSON: {{"factors": ["...", "..."]}}'
        ),
        "children": (
            "Texts to create: {description}\n"
            "Factor: {factor}\nCategory: {path}\n"
            "List {k} distinct, non-overlapping sub-categories of \"{leaf}\" for this factor. "
            "Each is a short phrase of 1 to 5 words.\n"
            'Answer as JSON: {{"children": ["...", "..."]}}'
        ),
        "critic": (
            "Texts to create: {description}\n"
            "Factor: {factor}\nCategory: {path}\n"
            "Candidate sub-categories: {candidates}\n"
            "Keep at most {k} of them: drop duplicates, ones that overlap another, and ones "
            "that are not a kind of \"{leaf}\" or do not fit the texts.\n"
            'Answer as JSON: {{"children": ["...", "..."]}}'
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str] | None = None,
        *,
        factors: int = 2,
        depth: int = 2,
        breadth: int = 4,
        best_of: int = 3,
        seed: int = 0,
        temperature: float = 0.9,
    ) -> None:
        if depth < 1 or breadth < 1 or best_of < 1 or factors < 0:
            raise ValueError("depth, breadth and best_of must be >= 1 and factors >= 0")
        self.backend, self.description, self.labels = backend, description, labels or {}
        self.n_factors, self.depth, self.breadth, self.best_of = factors, depth, breadth, best_of
        self.seed, self.temperature = seed, temperature
        self.calls = 0

    def _ask(self, users: list[str], model: type[BaseModel], keys: list[str],
             temperature: float) -> list[BaseModel | None]:
        requests = [
            self.request(self.templates["system"], user, temperature=temperature, top_p=0.95,
                         max_tokens=160, seed=derived_seed(self.name, self.seed, key))
            for user, key in zip(users, keys, strict=True)
        ]
        self.calls += len(requests)
        return [r.value for r in chat_structured(self.backend, requests, model)]

    def factor_names(self) -> list[str]:
        """Step 1: the factors of variation (label-keyed ``topic`` first, if labels)."""
        names = ["topic"] if self.labels else []
        if self.n_factors:
            (answer,) = self._ask(
                [self.templates["factors"].format(description=self.description,
                                                  k=self.n_factors,
                                                  choices=", ".join(COMMON_FACTORS))],
                FactorAnswer, ["factors"], self.temperature,
            )
            for name in getattr(answer, "factors", []):
                if name.casefold() not in {n.casefold() for n in names} and "topic" not in \
                        name.casefold():
                    names.append(name)
                if len(names) >= self.n_factors + bool(self.labels):
                    break
        return names

    def expand(self, factor: str, path: list[str]) -> list[str]:
        """Steps 2-3 for one node: pooled best-of-N proposals, then the critic's choice."""
        leaf = path[-1] if path else factor
        shown = " > ".join([factor, *path])
        fields = {"description": self.description, "factor": factor, "path": shown,
                  "leaf": leaf, "k": self.breadth}
        answers = self._ask(
            [self.templates["children"].format(**fields)] * self.best_of, ChildrenAnswer,
            [f"{shown}|proposal|{i}" for i in range(self.best_of)], self.temperature,
        )
        votes: Counter[str] = Counter()
        spelled: dict[str, str] = {}
        for answer in answers:
            for child in dict.fromkeys(getattr(answer, "children", [])):
                key = child.casefold()
                if key != leaf.casefold():
                    votes[key] += 1
                    spelled.setdefault(key, child)
        if not votes:
            return []
        candidates = [spelled[k] for k, _ in votes.most_common()]
        critic_model = create_model(
            "CriticAnswer", children=(list[Literal[tuple(candidates)]], ...)  # type: ignore[valid-type]
        )
        (kept,) = self._ask(
            [self.templates["critic"].format(candidates=", ".join(candidates), **fields)],
            critic_model, [f"{shown}|critic"], 0.0,
        )
        chosen = list(dict.fromkeys(getattr(kept, "children", []) or []))[: self.breadth]
        return self._on_label(factor, path, chosen or candidates[: self.breadth])

    def _on_label(self, factor: str, path: list[str], children: list[str]) -> list[str]:
        """Under a label of the label-keyed topic, drop children that name another label
        (a word starting with that label's name, e.g. "Technology" under business when
        "tech" is a label): they would pull generations across labels."""
        if factor != "topic" or not self.labels or not path or path[0] not in self.labels:
            return children
        others = [lab.casefold() for lab in self.labels if lab != path[0]]
        return [
            c for c in children
            if not any(w.startswith(o) for o in others for w in c.casefold().split())
        ]

    def _grow(self, factor: str, path: list[str], level: int) -> list[Node]:
        if level > self.depth:
            return []
        return [Node(name, children=self._grow(factor, [*path, name], level + 1))
                for name in self.expand(factor, path)]

    def build(self) -> list[Taxonomy]:
        """All taxonomies: the label-keyed topic (labels, then ``depth - 1`` levels below
        each) and ``factors`` more, each ``depth`` levels deep."""
        out = []
        for factor in self.factor_names():
            if factor == "topic" and self.labels:
                nodes = [Node(label, description,
                              children=self._grow(factor, [label], 2))
                         for label, description in self.labels.items()]
                out.append(Taxonomy(factor, nodes, "label-keyed: top level = labels"))
            else:
                nodes = self._grow(factor, [], 1)
                if nodes:
                    out.append(Taxonomy(factor, nodes))
        return out
