"""TarGEN step 1 (contexts): a label the model gives only unusable contexts for still gets
some, from its refused answers or else from the label's own description, instead of
ending the run in planning."""

from __future__ import annotations

import json

from synthloom.llm.base import ChatRequest
from synthloom.operators.targen.contexts import ContextGeneration
from tests.unit.scripted import ScriptedBackend

LABELS = {
    "tech": "computers, the internet and mobile phones",
    "sport": "football, tennis or cricket",
}


def answer(by_label: dict[str, list[str]]):
    def respond(request: ChatRequest) -> str:
        user = request.messages[-1]["content"]
        label = next(lab for lab in by_label if f"label is {lab}" in user)
        return json.dumps({"contexts": by_label[label]})
    return respond


def test_usable_contexts_are_kept_and_lists_refused() -> None:
    backend = ScriptedBackend(answer({"tech": ["a repair shop", "Tech: a, b"],
                                      "sport": ["a village green"]}))
    found = ContextGeneration(backend, "Texts.", 2).run_many(LABELS)
    assert found == {"tech": ["a repair shop"], "sport": ["a village green"]}


def test_a_label_with_only_prefixed_contexts_keeps_what_follows_the_colon() -> None:
    backend = ScriptedBackend(answer({"tech": ["Tech: computers", "Tech: the internet"],
                                      "sport": ["a village green"]}))
    found = ContextGeneration(backend, "Texts.", 3).run_many(LABELS)
    assert found["tech"] == ["computers", "the internet"]
    assert found["sport"] == ["a village green"]


def test_a_label_with_nothing_usable_falls_back_to_its_description() -> None:
    backend = ScriptedBackend(answer({"tech": ["Tech: computers, phones,"],
                                      "sport": ["a village green"]}))
    found = ContextGeneration(backend, "Texts.", 5).run_many(LABELS)
    assert found["tech"] == ["computers", "the internet", "mobile phones"]
