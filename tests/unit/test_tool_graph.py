"""ToolFlow's tool graph and graph sampling (arXiv 2410.18447, steps 1-2): exact edges on a
hand-built registry with a bag-of-words embedder, statistics, seeded sampling, and the
shipped tool set with the real MiniLM embedder."""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Sequence

import numpy as np
import pytest

from synthloom.operators.tools import (
    DEFAULT_THRESHOLD,
    Tool,
    ToolEdge,
    ToolGraph,
    ToolRegistry,
    field_words,
    tool_fields,
)

VOCABULARY = ["flight", "id", "booking", "city", "date", "origin", "destination", "passenger",
              "name", "price", "refund", "hotel", "temperature"]


class BagOfWords:
    """Deterministic stand-in for the sentence embedder: word counts over VOCABULARY,
    L2-normalised (a text with none of the words gets a zero row)."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = np.zeros((len(texts), len(VOCABULARY)))
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word in VOCABULARY:
                    rows[i, VOCABULARY.index(word)] += 1
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        return rows / np.where(norms > 0, norms, 1)


def _object(*names: str) -> dict[str, object]:
    return {"type": "object", "properties": {n: {"type": "string"} for n in names}}


def _list_of(key: str, *names: str) -> dict[str, object]:
    return {"type": "object", "properties": {key: {"type": "array", "items": _object(*names)}}}


def _tool(name: str, parameters: dict[str, object], returns: dict[str, object] | None,
          domain: str = "travel") -> Tool:
    return Tool(name=name, description=f"The {name} tool.", parameters=parameters,
                returns=returns, domain=domain)


TINY = ToolRegistry([
    _tool("search_flights", _object("origin", "destination"),
          _list_of("flights", "flight_id", "price")),
    _tool("book_flight", _object("flight_id", "passengerName"), _object("booking_id", "flight_id")),
    _tool("cancel_booking", _object("booking_id"), _object("refund")),
    _tool("get_weather", _object("city", "date"), _object("temperature"), domain="weather"),
    _tool("find_hotel", _object("city"), _list_of("hotels", "hotel_id", "price")),
    _tool("ping", _object(), None, domain="admin"),
])

EXPECTED = [
    ToolEdge("output_to_input", "search_flights", "book_flight", "flights[].flight_id",
             "flight_id", 1.0),
    ToolEdge("output_to_input", "book_flight", "cancel_booking", "booking_id", "booking_id", 1.0),
    ToolEdge("parameter", "get_weather", "find_hotel", "city", "city", 1.0),
]


@pytest.fixture(scope="module")
def tiny() -> ToolGraph:
    return ToolGraph.build(TINY, BagOfWords(), threshold=0.6)


@pytest.mark.parametrize(("name", "words"), [
    ("flight_id", "flight id"), ("departureDate", "departure date"),
    ("HTTPStatus", "http status"), ("petId", "pet id"), ("check-in.date", "check in date"),
    ("city", "city")])
def test_field_words(name: str, words: str) -> None:
    assert field_words(name) == words


def test_tool_fields_read_list_results_and_descriptions() -> None:
    tool = Tool(name="search_flights", description="Search flights.",
                parameters={"type": "object", "properties": {
                    "departureDate": {"type": "string", "description": "Day  of\nthe flight."},
                    "passenger": {"type": "object", "properties": {
                        "email": {"type": "string"}, "address": {"type": "object", "properties": {
                            "street": {"type": "string"}}}}}}},
                returns={"type": "array", "items": _object("flight_id")})
    assert [(f.role, f.path, f.text) for f in tool_fields(tool)] == [
        ("parameter", "departureDate", "departure date: Day of the flight."),
        ("parameter", "passenger", "passenger"),
        ("parameter", "passenger.email", "email"),
        ("parameter", "passenger.address", "address"),  # one level down, not two
        ("return", "[].flight_id", "flight id"),
    ]


def test_tiny_graph_has_exactly_the_expected_edges(tiny: ToolGraph) -> None:
    assert tiny.edges == EXPECTED
    assert tiny.nodes == TINY.names
    again = ToolGraph.build(TINY, BagOfWords(), threshold=0.6)
    assert again.edges == tiny.edges
    json.dumps(tiny.to_dict())


def test_lower_threshold_adds_the_half_matching_ids() -> None:
    loose = ToolGraph.build(TINY, BagOfWords(), threshold=0.45)
    assert set(EXPECTED) < set(loose.edges)
    assert ToolEdge("parameter", "book_flight", "cancel_booking", "flight_id", "booking_id",
                    0.5) in loose.edges
    assert ToolEdge("output_to_input", "find_hotel", "book_flight", "hotels[].hotel_id",
                    "flight_id", 0.5) in loose.edges
    assert all(edge.source != edge.target for edge in loose.edges)
    assert not any(e.kind == "output_to_input" and e.target == "search_flights"
                   for e in loose.edges)  # nothing returns an origin or a destination


def test_neighbours_chains_and_stats(tiny: ToolGraph) -> None:
    assert tiny.neighbours("book_flight") == ["cancel_booking", "search_flights"]
    assert tiny.neighbours("ping") == []
    assert tiny.has_chain(["book_flight", "search_flights"])
    assert tiny.has_chain({"search_flights", "ping", "cancel_booking", "book_flight"})
    assert not tiny.has_chain(["get_weather", "find_hotel"])  # a parameter edge only
    assert not tiny.has_chain(["search_flights", "cancel_booking"])
    assert tiny.chains(["search_flights", "book_flight", "cancel_booking"]) == EXPECTED[:2]
    with pytest.raises(KeyError, match="nope"):
        tiny.has_chain(["nope"])
    with pytest.raises(KeyError):
        tiny.neighbours("nope")
    assert tiny.stats() == {
        "nodes": 6, "edges": 3, "edges_by_kind": {"parameter": 1, "output_to_input": 2},
        "cross_domain_edges": 1, "joined_pairs": 3, "density": 0.2, "isolated": ["ping"],
        "mean_degree": 1.0, "components": 3, "largest_component": 3, "threshold": 0.6}


def test_bad_build_arguments() -> None:
    class Short:
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            return np.ones((1, 4))

    with pytest.raises(ValueError, match="shape"):
        ToolGraph.build(TINY, Short())
    with pytest.raises(ValueError, match="threshold"):
        ToolGraph.build(TINY, BagOfWords(), threshold=1.5)


def test_random_walk_is_seeded_and_follows_edges(tiny: ToolGraph) -> None:
    for seed in range(40):
        sample = tiny.random_walk_sample(random.Random(seed), 3)
        assert sample == tiny.random_walk_sample(random.Random(seed), 3)
        assert len(set(sample)) == len(sample) and "ping" not in sample
        for position, name in enumerate(sample[1:], 1):
            assert set(tiny.neighbours(name)) & set(sample[:position])
        # the flight component has 3 tools; the weather one only 2, so the walk stops short
        assert len(sample) == (2 if sample[0] in ("get_weather", "find_hotel") else 3)
    assert tiny.random_walk_sample(random.Random(0), 1) in [[n] for n in tiny.nodes]


def test_random_walk_on_a_ring_returns_the_requested_size() -> None:
    names = [f"tool_{i}" for i in range(12)]
    ring = ToolGraph(names, [ToolEdge("parameter", a, b, "x", "x", 1.0)
                             for a, b in zip(names, names[1:] + names[:1], strict=True)], 0.5)
    samples = [ring.random_walk_sample(random.Random(seed), 5) for seed in range(20)]
    assert all(len(s) == 5 == len(set(s)) for s in samples)
    assert len({tuple(s) for s in samples}) > 1
    assert ring.random_walk_sample(random.Random(3), 12, max_steps=10_000) != []


def test_uniform_sample(tiny: ToolGraph) -> None:
    samples = [tiny.uniform_sample(random.Random(seed), 4) for seed in range(30)]
    assert all(len(s) == 4 == len(set(s)) and set(s) <= set(tiny.nodes) for s in samples)
    assert samples[7] == tiny.uniform_sample(random.Random(7), 4)
    assert any("ping" in s for s in samples)


@pytest.mark.parametrize("size", [0, 7, -1, True, 2.0])
def test_bad_sizes(tiny: ToolGraph, size: object) -> None:
    with pytest.raises(ValueError, match="size must be an int from 1 to 6"):
        tiny.random_walk_sample(random.Random(0), size)
    with pytest.raises(ValueError, match="size must be an int from 1 to 6"):
        tiny.uniform_sample(random.Random(0), size)


def test_walk_needs_an_edge() -> None:
    with pytest.raises(ValueError, match="no edges"):
        ToolGraph(["a", "b"], [], 0.7).random_walk_sample(random.Random(0), 2)


def test_shipped_tools_with_the_real_embedder() -> None:
    """The shipped set with all-MiniLM-L6-v2: intended chains present, graph not complete,
    and random-walk tool sets hold an output->input chain more often than uniform ones."""
    from synthloom.llm.embeddings import default_embedder

    registry = ToolRegistry.builtin()
    start = time.perf_counter()
    graph = ToolGraph.build(registry, default_embedder())
    seconds = time.perf_counter() - start
    stats = graph.stats()
    walk_rng, uniform_rng, draws = random.Random(13), random.Random(13), 200
    walk = sum(graph.has_chain(graph.random_walk_sample(walk_rng, 3)) for _ in range(draws))
    uniform = sum(graph.has_chain(graph.uniform_sample(uniform_rng, 3)) for _ in range(draws))
    print(f"\nbuilt in {seconds:.1f} s at threshold {DEFAULT_THRESHOLD}: {stats}")
    print(f"share of size-3 tool sets with an output->input chain over {draws} draws: "
          f"random walk {walk / draws:.3f}, uniform {uniform / draws:.3f}")
    assert walk > uniform
    assert stats["nodes"] == len(registry) and stats["isolated"] == []
    assert 0.05 < stats["density"] < 0.5  # joined, but far from complete
    assert stats["cross_domain_edges"] > 0
    chains = {(e.source, e.target) for e in graph.edges if e.kind == "output_to_input"}
    for chain in [("search_flights", "book_flight"), ("find_product", "add_to_cart"),
                  ("list_accounts", "get_transactions"), ("add_to_cart", "checkout"),
                  ("search_doctors", "get_available_slots"), ("search_recipes", "get_recipe"),
                  ("book_appointment", "create_event"), ("book_hotel", "get_directions")]:
        assert chain in chains, chain
