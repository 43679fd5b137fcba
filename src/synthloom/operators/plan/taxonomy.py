"""Taxonomies of the factors of variation of a task, as readable YAML trees.

Simula (arXiv 2603.29791) makes coverage a plan instead of a hope: name the factors along
which texts of a task vary (topic, style, audience, ...), expand each into a hierarchy, and
sample generation targets over the leaves. This module holds the tree, its file format and
its checks; :mod:`~synthloom.operators.plan.taxonomy_builder` asks an LLM to build one and
:mod:`~synthloom.operators.plan.mix_sampler` samples over several.

File format (edit it freely and feed it back)::

    factors:
      - factor: topic
        description: what the text is about
        tree:
          - name: football
            weight: 2            # optional, for weighted sampling (default 1)
            children:
              - name: transfers
              - name: match reports
          - name: tennis
      - factor: audience
        tree:
          - name: fans
          - name: newcomers

Allowed keys: ``factors``; per factor ``factor``, ``description``, ``tree``; per node
``name``, ``description``, ``weight``, ``children``. Anything else, an empty name, a
repeated sibling name, a non-positive weight or a cycle (YAML aliases can make one) is an
error naming the node's path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from synthloom.errors import UserInputError

_FACTOR_KEYS = {"factor", "description", "tree"}
_NODE_KEYS = {"name", "description", "weight", "children"}


@dataclass
class Node:
    """A taxonomy node; a node without children is a leaf."""

    name: str
    description: str | None = None
    weight: float = 1.0
    children: list[Node] = field(default_factory=list)


@dataclass
class Taxonomy:
    """One factor of variation and its tree (the factor itself is the implicit root)."""

    factor: str
    nodes: list[Node]
    description: str | None = None

    def leaves(self) -> list[tuple[tuple[str, ...], float]]:
        """Every leaf as ``(path from the top, weight)``; a path's weight is the product of
        the weights along it."""
        out: list[tuple[tuple[str, ...], float]] = []

        def walk(node: Node, path: tuple[str, ...], weight: float) -> None:
            here, w = (*path, node.name), weight * node.weight
            if not node.children:
                out.append((here, w))
            for child in node.children:
                walk(child, here, w)

        for node in self.nodes:
            walk(node, (), 1.0)
        return out

    def to_dict(self) -> dict[str, Any]:
        def node_dict(node: Node) -> dict[str, Any]:
            d: dict[str, Any] = {"name": node.name}
            if node.description:
                d["description"] = node.description
            if node.weight != 1.0:
                d["weight"] = node.weight
            if node.children:
                d["children"] = [node_dict(c) for c in node.children]
            return d

        d: dict[str, Any] = {"factor": self.factor}
        if self.description:
            d["description"] = self.description
        d["tree"] = [node_dict(n) for n in self.nodes]
        return d


def _fail(where: str, problem: str) -> UserInputError:
    return UserInputError(f"taxonomy {where}: {problem}")


def _parse_nodes(items: Any, where: str, ancestors: tuple[int, ...]) -> list[Node]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise _fail(where, f"children must be a list of nodes, got {type(items).__name__}")
    nodes: list[Node] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if id(item) in ancestors:
            raise _fail(where, f"node {i + 1} is its own ancestor (a cycle through a YAML alias)")
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            raise _fail(where, f"node {i + 1} must be a mapping or a name")
        name = str(item.get("name") or "").strip()
        path = f"{where} > {name or f'node {i + 1}'}"
        if not name:
            raise _fail(path, "empty node (no name)")
        unknown = sorted(set(item) - _NODE_KEYS)
        if unknown:
            raise _fail(path, f"unknown keys {unknown} (allowed: {sorted(_NODE_KEYS)})")
        if name.casefold() in seen:
            raise _fail(path, "repeated among its siblings")
        seen.add(name.casefold())
        weight = item.get("weight", 1.0)
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
            raise _fail(path, f"weight must be a positive number, got {weight!r}")
        children = _parse_nodes(item.get("children"), path, (*ancestors, id(item)))
        nodes.append(Node(name, item.get("description"), float(weight), children))
    return nodes


def parse_taxonomies(data: Any, source: str = "taxonomy") -> list[Taxonomy]:
    """Taxonomies from the parsed YAML of the file format above.

    Raises:
        UserInputError: the structure is wrong; the message names the node's path.
    """
    if not isinstance(data, dict) or set(data) != {"factors"}:
        raise UserInputError(f"{source}: expected one top-level key 'factors'")
    factors = data["factors"]
    if not isinstance(factors, list) or not factors:
        raise UserInputError(f"{source}: 'factors' must be a non-empty list")
    out: list[Taxonomy] = []
    names: set[str] = set()
    for i, f in enumerate(factors):
        if not isinstance(f, dict):
            raise UserInputError(f"{source}: factor {i + 1} must be a mapping")
        factor = str(f.get("factor") or "").strip()
        where = f"{source}: {factor or f'factor {i + 1}'}"
        if not factor:
            raise _fail(where, "factor has no name")
        unknown = sorted(set(f) - _FACTOR_KEYS)
        if unknown:
            raise _fail(where, f"unknown keys {unknown} (allowed: {sorted(_FACTOR_KEYS)})")
        if factor in names:
            raise _fail(where, "factor named twice")
        names.add(factor)
        nodes = _parse_nodes(f.get("tree"), where, (id(f),))
        if not nodes:
            raise _fail(where, "empty tree")
        out.append(Taxonomy(factor, nodes, f.get("description")))
    return out


def load_taxonomies(path: str | Path) -> list[Taxonomy]:
    """Read and check a taxonomy YAML file.

    Raises:
        UserInputError: the file is missing, not YAML, or not a valid taxonomy file.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such taxonomy file") from None
    except yaml.YAMLError as e:
        raise UserInputError(f"{path}: not valid YAML ({e})") from None
    return parse_taxonomies(data, str(path))


def dump_taxonomies(taxonomies: list[Taxonomy], path: str | Path) -> Path:
    """Write taxonomies in the file format above (readable, editable, loadable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"factors": [t.to_dict() for t in taxonomies]}, sort_keys=False,
                          allow_unicode=True, width=100)
    path.write_text(text, encoding="utf-8")
    return path
