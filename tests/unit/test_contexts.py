"""TarGEN step 1 (contexts): a label the model gives only unusable contexts for still gets
some, from its refused answers or else from the label's own description, instead of
ending the run in planning; sentences cut off by the length limit and restatements of the
task description are not settings; a label left with fewer than half the contexts asked
for is topped up from its description."""

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
        label = next(lab for lab in by_label if f"about {lab} (" in user)
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
    assert found["sport"] == ["a village green", "football", "tennis"]  # topped up: 1 < 3/2


def test_a_label_with_nothing_usable_falls_back_to_its_description() -> None:
    backend = ScriptedBackend(answer({"tech": ["Tech: computers, phones,"],
                                      "sport": ["a village green"]}))
    found = ContextGeneration(backend, "Texts.", 5).run_many(LABELS)
    assert found["tech"] == ["computers", "the internet", "mobile phones"]


def test_cut_off_sentences_and_restated_descriptions_are_not_settings() -> None:
    cut = "The government has been passing a series of new laws in the re"  # 60 characters
    backend = ScriptedBackend(answer({
        "tech": [cut[:60], "Short reviews of gadgets", "a phone repair shop"],
        "sport": ["a village green", "a swimming club"],
    }))
    found = ContextGeneration(backend, "Short reviews of gadgets and games.", 2).run_many(LABELS)
    assert found == {"tech": ["a phone repair shop"],
                     "sport": ["a village green", "a swimming club"]}


def test_a_context_naming_another_label_or_restating_the_instruction_is_dropped() -> None:
    backend = ScriptedBackend(answer({
        "tech": ["Sports news desk", "Events", "a phone repair shop", "a coding club"],
        "sport": ["a village green", "Tech startups", "a swimming club"],
    }))
    found = ContextGeneration(backend, "Texts.", 2).run_many(LABELS)
    assert found == {"tech": ["a phone repair shop", "a coding club"],
                     "sport": ["a village green", "a swimming club"]}


def test_task_wide_contexts_keep_what_the_checks_dropped_rather_than_none() -> None:
    def respond(request: ChatRequest) -> str:
        return json.dumps({"contexts": ["Texts", "Each one"]})  # restate the instruction

    found = ContextGeneration(ScriptedBackend(respond), "Texts.", 2).run()
    assert found == ["Texts", "Each one"]


def test_pieces_of_a_split_sentence_are_not_settings() -> None:
    backend = ScriptedBackend(answer({
        "tech": ["through the", "and to foster innovation", "implementation of a",
                 "the internet", "in a repair shop"],
        "sport": ["a village green", "for a fairer society", "a swimming club"],
    }))
    found = ContextGeneration(backend, "Texts.", 2).run_many(LABELS)
    assert found == {"tech": ["the internet", "in a repair shop"],
                     "sport": ["a village green", "a swimming club"]}
