"""ToolFlow's tool graph and graph sampling (Wang et al., arXiv 2410.18447, steps 1-2).

Nodes are tools. Two kinds of edge join them:

- ``"parameter"`` (undirected, ToolFlow's P-P): a parameter of A is similar to a parameter
  of B (both take a ``date``, an ``address``...);
- ``"output_to_input"`` (directed A -> B, ToolFlow's P-R): a field of A's result is similar
  to a parameter of B, so B can be called with what A returned (``search_flights`` returns
  ``flight_id``, ``book_flight`` takes it).

Similarity is the cosine of sentence embeddings (the paper uses Sentence-BERT; here
all-MiniLM-L6-v2, :func:`synthloom.llm.embeddings.default_embedder`) of one text per field,
``"<name in words>: <description>"``. An edge exists when the best field pair reaches a
threshold; the paper does not give its value. :data:`DEFAULT_THRESHOLD` was picked on the
shipped tool set (see its docstring).

Sampling a tool set for one dialogue walks the graph from a random tool
(:meth:`ToolGraph.random_walk_sample`, the paper's graph-based sampling; the walk length is
not given either); :meth:`ToolGraph.uniform_sample` is the ablation arm.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import numpy as np

from synthloom.operators.tools.registry import Tool, ToolRegistry

DEFAULT_THRESHOLD = 0.7
"""Cosine at or above which two fields count as similar (all-MiniLM-L6-v2). ToolFlow does
not give its value. Measured on the shipped 45 tools (381 fields): the intended id chains
(``flight_id``, ``product_id``, ``account_id``, ``recipe_id``...) all score >= 0.75; the
cross-domain links 0.71-0.80 (an appointment's ``date`` -> a calendar event's ``date``, a
clinic's or hotel's address -> ``get_directions``); ids of different things (``booking_id``
-> ``appointment_id``) 0.70-0.74, so no threshold separates them all. At 0.7 about 46
parameter and 140 output-to-input edges join 13% of tool pairs and no tool is isolated;
0.6 joins 26%, 0.5 44%; 0.8 drops the date and address links and isolates a tool."""

MAX_DEPTH = 1
"""How far below top-level properties fields are read: one level, so that the fields of a
list result (``{"flights": [{"flight_id", ...}]}``) and of a nested object count."""

EdgeKind = Literal["parameter", "output_to_input"]
FieldRole = Literal["parameter", "return"]


class TextEmbedder(Protocol):
    """Anything that embeds texts: ``embed(texts)`` -> ``float`` array of shape
    ``(len(texts), dimension)`` with L2-normalised rows (as
    :class:`synthloom.llm.embeddings.SentenceEmbedder`)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class ToolField:
    """One parameter or result field of a tool.

    Attributes:
        tool: the tool's name.
        role: ``"parameter"`` or ``"return"``.
        path: where it sits: ``"flight_id"``, ``"passenger.email"``, ``"flights[].price"``
            (``[]`` = the items of an array), ``"[].id"`` for a result that is an array.
        text: what is embedded: ``"<field name in words>: <description>"``.
    """

    tool: str
    role: FieldRole
    path: str
    text: str


@dataclass(frozen=True)
class ToolEdge:
    """One edge and why it exists.

    Attributes:
        kind: ``"parameter"`` (undirected; ``source`` is the tool loaded first) or
            ``"output_to_input"`` (``source``'s result feeds ``target``'s arguments).
        source, target: tool names, never equal.
        source_field, target_field: paths of the most similar field pair (a parameter of
            ``source`` or a return field of it, and a parameter of ``target``).
        cosine: their cosine similarity, in [-1, 1], >= the graph's threshold.
    """

    kind: EdgeKind
    source: str
    target: str
    source_field: str
    target_field: str
    cosine: float


def field_words(name: str) -> str:
    """A field name as lower-case words: ``"departureDate"`` -> ``"departure date"``,
    ``"flight_id"`` -> ``"flight id"``, ``"HTTPStatus"`` -> ``"http status"``."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return " ".join(part for part in re.split(r"[\s_\-.]+", spaced) if part).lower()


def _fields_of(schema: Any, prefix: str, depth: int) -> Iterator[tuple[str, str, str]]:
    """``(path, name, description)`` of an object schema's properties, looking through
    arrays into their items and down to :data:`MAX_DEPTH` levels of nesting."""
    if not isinstance(schema, dict):
        return
    items = schema.get("items")
    if isinstance(items, dict) and "properties" not in schema:
        yield from _fields_of(items, prefix + "[]", depth)
        return
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    for name, sub in properties.items():
        path = f"{prefix}.{name}" if prefix else name
        described = sub if isinstance(sub, dict) else {}
        yield path, name, str(described.get("description") or described.get("title") or "")
        if depth < MAX_DEPTH:
            yield from _fields_of(sub, path, depth + 1)


def tool_fields(tool: Tool) -> list[ToolField]:
    """The tool's parameter fields, then its return fields (empty without ``returns``)."""
    fields = []
    roles: tuple[tuple[FieldRole, Any], ...] = (("parameter", tool.parameters),
                                                ("return", tool.returns))
    for role, schema in roles:
        for path, name, description in _fields_of(schema, "", 0):
            words = field_words(name)
            text = f"{words}: {' '.join(description.split())}" if description.strip() else words
            fields.append(ToolField(tool.name, role, path, text))
    return fields


class ToolGraph:
    """Tools joined by ``"parameter"`` and ``"output_to_input"`` edges (see the module).

    Args:
        nodes: tool names, in registry order.
        edges: the edges between them.
        threshold: the cosine the edges were built with (kept for reports).
        domains: tool name -> domain, for statistics (optional).

    Build one with :meth:`build`. Deterministic: the same registry, embedder and threshold
    give the same edges in the same order.
    """

    def __init__(self, nodes: Sequence[str], edges: Iterable[ToolEdge], threshold: float,
                 domains: dict[str, str] | None = None) -> None:
        self.nodes = list(nodes)
        self.threshold = threshold
        self.domains = dict(domains or {})
        self._edges = list(edges)
        adjacent: dict[str, set[str]] = {name: set() for name in self.nodes}
        for edge in self._edges:
            adjacent[edge.source].add(edge.target)
            adjacent[edge.target].add(edge.source)
        self._neighbours = {name: sorted(found) for name, found in adjacent.items()}

    @classmethod
    def build(cls, registry: ToolRegistry, embedder: TextEmbedder,
              threshold: float = DEFAULT_THRESHOLD) -> ToolGraph:
        """Embed every field of every tool once and join tools whose best field pair has
        cosine >= ``threshold`` (no self-edges).

        The edges are as deterministic as the embedder's vectors. The default embedder's
        dynamic int8 quantization makes a text's vector depend a little on the texts it is
        batched with (and so on its disk cache's history): pairwise cosines move by 0.01 on
        average, up to 0.06, so edges near the threshold can differ between runs.
        ``SentenceEmbedder(quantized=False)`` gives batch-independent vectors.

        Args:
            registry: the tools (nodes, in registry order).
            embedder: see :class:`TextEmbedder`; rows are re-normalised to unit length.
            threshold: cosine in (-1, 1]; ToolFlow gives no value.

        Raises:
            ValueError: ``threshold`` out of range, or the embedder returns the wrong number
                of rows.
        """
        if not -1 < threshold <= 1:
            raise ValueError(f"threshold must be a cosine in (-1, 1], got {threshold}")
        tools = list(registry)
        fields = [f for tool in tools for f in tool_fields(tool)]
        vectors = np.asarray(embedder.embed([f.text for f in fields]), dtype=np.float64)
        if vectors.ndim != 2 or vectors.shape[0] != len(fields):
            raise ValueError(f"the embedder returned shape {vectors.shape} for "
                             f"{len(fields)} texts")
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.where(norms > 0, norms, 1.0)
        cosines = vectors @ vectors.T
        rows: dict[tuple[str, str], list[int]] = {}
        for index, f in enumerate(fields):
            rows.setdefault((f.tool, f.role), []).append(index)

        def best(a: str, a_role: str, b: str) -> tuple[float, int, int] | None:
            left, right = rows.get((a, a_role), []), rows.get((b, "parameter"), [])
            if not left or not right:
                return None
            block = cosines[np.ix_(left, right)]
            flat = int(np.argmax(block))  # the first maximum, row-major: deterministic
            i, j = divmod(flat, len(right))
            return float(block[i, j]), left[i], right[j]

        edges = []
        for position, a in enumerate(tools):
            for other, b in enumerate(tools):
                if other == position:
                    continue
                pairs: list[tuple[EdgeKind, tuple[float, int, int] | None]] = [
                    ("output_to_input", best(a.name, "return", b.name))]
                if other > position:  # undirected: once per pair, from the earlier tool
                    pairs.insert(0, ("parameter", best(a.name, "parameter", b.name)))
                for kind, found in pairs:
                    if found is not None and found[0] >= threshold:
                        cosine, i, j = found
                        edges.append(ToolEdge(kind, a.name, b.name, fields[i].path,
                                              fields[j].path, round(cosine, 6)))
        return cls([t.name for t in tools], edges, threshold, {t.name: t.domain for t in tools})

    @property
    def edges(self) -> list[ToolEdge]:
        """All edges: for each tool A in order, for each other tool B, A-B ``"parameter"``
        (when B comes after A) then A -> B ``"output_to_input"``."""
        return list(self._edges)

    def _check(self, name: str) -> None:
        if name not in self._neighbours:
            raise KeyError(f"no tool {name!r} in the graph")

    def neighbours(self, name: str) -> list[str]:
        """Tools joined to ``name`` by any edge, either direction, sorted by name.

        Raises:
            KeyError: ``name`` is not a node.
        """
        self._check(name)
        return list(self._neighbours[name])

    def chains(self, tool_names: Iterable[str]) -> list[ToolEdge]:
        """The ``"output_to_input"`` edges between two tools of ``tool_names``.

        Raises:
            KeyError: a name is not a node.
        """
        chosen = set(tool_names)
        for name in chosen:
            self._check(name)
        return [e for e in self._edges if e.kind == "output_to_input"
                and e.source in chosen and e.target in chosen]

    def has_chain(self, tool_names: Iterable[str]) -> bool:
        """True when one tool of the set can feed another (an ``"output_to_input"`` edge)."""
        return bool(self.chains(tool_names))

    def stats(self) -> dict[str, Any]:
        """Summary: ``nodes``, ``edges``, ``edges_by_kind`` (``{"parameter": n,
        "output_to_input": n}``), ``cross_domain_edges``, ``joined_pairs`` (unordered tool
        pairs with any edge) and ``density`` (their share of all pairs), ``isolated``
        (names), ``mean_degree`` (distinct neighbours per tool), ``components`` and
        ``largest_component`` (tools), ``threshold``."""
        n = len(self.nodes)
        by_kind = {"parameter": 0, "output_to_input": 0}
        for edge in self._edges:
            by_kind[edge.kind] += 1
        degrees = [len(self._neighbours[name]) for name in self.nodes]
        pairs = sum(degrees) // 2
        components = self._components()
        return {
            "nodes": n, "edges": len(self._edges), "edges_by_kind": by_kind,
            "cross_domain_edges": sum(
                self.domains.get(e.source) != self.domains.get(e.target) for e in self._edges),
            "joined_pairs": pairs,
            "density": round(pairs / (n * (n - 1) / 2), 4) if n > 1 else 0.0,
            "isolated": [name for name in self.nodes if not self._neighbours[name]],
            "mean_degree": round(sum(degrees) / n, 3) if n else 0.0,
            "components": len(components),
            "largest_component": max((len(c) for c in components), default=0),
            "threshold": self.threshold,
        }

    def _components(self) -> list[list[str]]:
        seen: set[str] = set()
        components = []
        for start in self.nodes:
            if start in seen:
                continue
            component, stack = [], [start]
            seen.add(start)
            while stack:
                name = stack.pop()
                component.append(name)
                for other in self._neighbours[name]:
                    if other not in seen:
                        seen.add(other)
                        stack.append(other)
            components.append(component)
        return components

    def _check_size(self, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= len(
                self.nodes):
            raise ValueError(f"size must be an int from 1 to {len(self.nodes)} (the number "
                             f"of tools), got {size!r}")

    def random_walk_sample(self, rng: random.Random, size: int,
                           max_steps: int | None = None) -> list[str]:
        """ToolFlow's graph sampling: start at a uniformly random tool that has neighbours,
        step to a uniformly random neighbour (any edge kind, either direction), and collect
        distinct tools until there are ``size`` or ``max_steps`` steps were taken.

        Args:
            rng: the random source (seed it: the same seed gives the same sample).
            size: tools wanted, 1 <= size <= number of tools.
            max_steps: step cap, ``10 * size`` by default. A small component can end the
                walk with fewer than ``size`` tools.

        Returns:
            Distinct tool names in the order first visited.

        Raises:
            ValueError: bad ``size``, or the graph has no edges.
        """
        self._check_size(size)
        starts = [name for name in self.nodes if self._neighbours[name]]
        if not starts:
            raise ValueError("the tool graph has no edges; lower the threshold or sample "
                             "uniformly")
        current = rng.choice(starts)
        collected = [current]
        steps, cap = 0, 10 * size if max_steps is None else max_steps
        while len(collected) < size and steps < cap:
            current = rng.choice(self._neighbours[current])
            steps += 1
            if current not in collected:
                collected.append(current)
        return collected

    def uniform_sample(self, rng: random.Random, size: int) -> list[str]:
        """``size`` distinct tools uniformly at random (the ablation of graph sampling).

        Raises:
            ValueError: ``size`` is not an int from 1 to the number of tools.
        """
        self._check_size(size)
        return rng.sample(self.nodes, size)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"threshold", "nodes", "edges": [ToolEdge as dict]}``."""
        return {"threshold": self.threshold, "nodes": list(self.nodes),
                "edges": [asdict(edge) for edge in self._edges]}
