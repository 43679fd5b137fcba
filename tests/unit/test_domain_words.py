"""No generic operator names a domain: every prompt template, persona and characteristic list
is scanned for words of one domain (the news demo's, and a few others')."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import synthloom.operators
from synthloom.operators.base import Operator
from synthloom.operators.generate.evol_complexify import OPERATIONS
from synthloom.operators.plan import personas

DOMAIN_WORDS = (
    "news", "journalist", "journalism", "editor", "editorial", "bbc", "uk", "british",
    "britain", "reporter", "newspaper", "newsroom", "headline", "article", "press",
    "broadcast", "bulletin", "london", "manchester", "story", "stories", "snippet", "reader",
    "section", "sections", "covering", "tweet", "review", "patient", "clinical", "legal",
)


def _all_operators() -> list[type[Operator]]:
    for module in pkgutil.walk_packages(synthloom.operators.__path__, "synthloom.operators."):
        importlib.import_module(module.name)
    seen, todo = [], list(Operator.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo += cls.__subclasses__()
    return seen


def _domain_words_in(text: str) -> list[str]:
    words = set(re.findall(r"[a-z]+", text.lower()))
    return sorted(words & set(DOMAIN_WORDS))


OPERATORS = _all_operators()


def test_every_operator_module_is_scanned() -> None:
    names = {op.name for op in OPERATORS}
    assert {"targen.contexts", "targen.instance_seeds", "targen.instance_generation",
            "targen.self_correction", "evol.complexify", "simula.taxonomy",
            "task.unit"} <= names


@pytest.mark.parametrize("operator", OPERATORS, ids=lambda op: op.name)
def test_templates_name_no_domain(operator: type[Operator]) -> None:
    for key, template in operator.templates.items():
        found = _domain_words_in(template)
        assert not found, f"{operator.name}.{key} names a domain: {found}"


def test_personas_characteristics_and_evol_operations_name_no_domain() -> None:
    lists = {
        "occupations": personas.OCCUPATIONS, "expertise": personas.EXPERTISE,
        **{f"characteristic {k}": v for k, v in personas.CHARACTERISTICS.items()},
        "evol operations": tuple(OPERATIONS.values()),
    }
    for name, values in lists.items():
        found = _domain_words_in(" ".join(values))
        assert not found, f"{name} names a domain: {found}"


def test_the_scan_catches_a_domain_word() -> None:
    assert _domain_words_in("Write one news snippet.") == ["news", "snippet"]
