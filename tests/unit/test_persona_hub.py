"""Persona Hub (arXiv 2406.20094): persona pools, generated personas, persona instructions."""

from __future__ import annotations

import json

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import BackendError, ChatResponse
from synthloom.operators.instruct.persona_hub import (
    PersonaGeneration,
    PersonaInstructions,
    jaccard,
    read_personas,
    sampled_personas,
)
from synthloom.operators.plan.personas import describe_persona, persona
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_domain_words import _domain_words_in

TASK = "setting up a home network"


def in_order(*answers) -> ScriptedBackend:
    """A backend answering its requests with ``answers`` in arrival order."""
    queue = iter(answers)
    return ScriptedBackend(lambda request: next(queue))


# --- reading and sampling personas ----------------------------------------------------------

def test_a_txt_pool_reads_one_persona_a_line_without_repeats(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("a retired teacher\n\n  a night-shift   nurse \nA Retired Teacher\nan artist\n",
                    encoding="utf-8")
    assert read_personas(path) == ["a retired teacher", "a night-shift nurse", "an artist"]


def test_a_jsonl_pool_reads_the_persona_field(tmp_path):
    path = tmp_path / "p.jsonl"
    rows = [{"persona": "a farmer", "id": 1}, {"persona": "a chef"}, {"persona": "a farmer"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    assert read_personas(str(path)) == ["a farmer", "a chef"]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("p.txt", "", "p.txt: no personas"),
    ("p.txt", "\n  \n", "p.txt: no personas"),
    ("p.jsonl", '{"persona": "a chef"}\n{"persona": "a farmer"\n', "p.jsonl:2: not valid JSON"),
    ("p.jsonl", '{"name": "a chef"}\n', "p.jsonl:1: needs a non-empty string \"persona\""),
    ("p.jsonl", '{"persona": "a"}\n["a chef"]\n', "p.jsonl:2: needs a non-empty"),
    ("p.jsonl", '{"persona": "  "}\n', "p.jsonl:1: needs a non-empty"),
    ("p.csv", "a chef\n", "p.csv: a persona file must be .txt or .jsonl"),
])
def test_a_bad_pool_file_names_the_file_and_line(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserInputError) as error:
        read_personas(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_pool_file_is_named(tmp_path):
    with pytest.raises(UserInputError, match="missing.txt: persona file not found"):
        read_personas(tmp_path / "missing.txt")


def test_sampled_personas_are_distinct_descriptions_of_sampled_variables():
    five = sampled_personas(5, seed=3)
    assert len(five) == len(set(five)) == 5
    assert five[0] == describe_persona(persona(0, 3))
    assert five == sampled_personas(5, seed=3) and five != sampled_personas(5, seed=4)
    assert len(set(sampled_personas(200, seed=0))) == 200
    assert sampled_personas(0) == []
    with pytest.raises(ValueError, match="count"):
        sampled_personas(-1)


# --- PersonaGeneration -----------------------------------------------------------------------

def test_generated_personas_are_cleaned_and_repeats_dropped():
    backend = in_order(
        "A nurse who works night shifts and wants to plan meals.",
        "a nurse who works  night shifts and wants to plan meals.",     # case repeat
        "A nurse who works night shifts and wants to plan her meals.",  # near repeat (11/12)
        'Persona: "A retired teacher learning to use a new phone."',
        "   ",
        ChatResponse(text="A shop owner who", finish_reason="length"),
        "Sure, here is one: A student sharing a flat with four friends.",
    )
    op = PersonaGeneration(backend, TASK, count=7, seed=1)
    assert op.run() == ["A nurse who works night shifts and wants to plan meals.",
                        "A retired teacher learning to use a new phone.",
                        "A student sharing a flat with four friends."]
    assert op.removed == {"duplicate": 1, "near_duplicate": 1, "empty": 1, "cut_off": 1}
    assert backend.batches == [7]
    seeds = [r.sampling.seed for r in backend.requests]
    assert len(set(seeds)) == 7
    assert {r.sampling.temperature for r in backend.requests} == {1.0}
    user = backend.requests[0].messages[1]["content"]
    assert user.startswith(f"Describe one specific person who might need help with this: {TASK}")
    assert "Do not mention assistants" in user  # the 0.5B model described assistants


def test_the_near_repeat_threshold_is_a_parameter():
    answers = ["A nurse who works night shifts and wants to plan meals.",
               "A nurse who works night shifts and wants to plan her meals."]
    assert len(PersonaGeneration(in_order(*answers), TASK, count=2).run()) == 1
    assert len(PersonaGeneration(in_order(*answers), TASK, count=2, jaccard=0.95).run()) == 2
    assert jaccard("a b c", "A b d") == 0.5
    with pytest.raises(ValueError, match="jaccard"):
        PersonaGeneration(in_order(), TASK, jaccard=0.0)


# --- PersonaInstructions ---------------------------------------------------------------------

PERSONAS = [
    "a student on a tight budget",
    "a parent at home with two small children",
    "a farmer",
    "a retired teacher who volunteers at the library twice a week",
    "a lawyer",
    "a chef",
    "a nurse",
    "an electrician",
    "an accountant",
]
ANSWERS = [
    'Prompt: "How do I pick a router that fits my budget?"',
    "Sure, here is a prompt:\n**Instruction:** Explain how to hide our network name.",
    "how do I pick a router that fits my budget?",                               # duplicate
    "As a retired teacher who volunteers at the library twice a week, how do I connect?",
    "A lawyer. Prompt: Which cable is faster?",                                  # label
    "   ",
    "That the following persona may ask an AI assistant to do something.",      # prompt echo
    ChatResponse(text="Write me a long", finish_reason="length"),
    "Improve this prompt: set up a guest network for visitors.",                # kept
]


def test_persona_instructions_are_cleaned_and_counted():
    backend = in_order(*ANSWERS)
    result = PersonaInstructions(backend, TASK).run(PERSONAS, start_index=10)
    assert [(i.id, i.instruction) for i in result.items] == [
        ("persona-10", "How do I pick a router that fits my budget?"),
        ("persona-11", "Explain how to hide our network name."),
        ("persona-18", "Improve this prompt: set up a guest network for visitors.")]
    assert all(i.method == "persona" for i in result.items)
    assert [i.persona for i in result.items] == [PERSONAS[0], PERSONAS[1], PERSONAS[8]]
    assert result.removed == {"duplicate": 1, "template_echo": 3, "empty": 1, "cut_off": 1}
    assert result.candidates == len(PERSONAS)
    assert backend.batches == [len(PERSONAS)]


def test_each_persona_gets_its_own_request_and_seed():
    backend = in_order(*ANSWERS)
    PersonaInstructions(backend, TASK, unit="question").run(PERSONAS)
    users = [r.messages[1]["content"] for r in backend.requests]
    for text, p in zip(users, PERSONAS, strict=True):
        assert text.startswith("Guess a prompt (i.e., an instruction) that the following "
                               f"persona may ask an AI assistant to do: {p}\n")
        assert TASK in text and "question" in text
    assert len({r.sampling.seed for r in backend.requests}) == len(PERSONAS)
    other = in_order(*ANSWERS)
    PersonaInstructions(other, TASK).run(PERSONAS, start_index=1)
    assert other.requests[0].sampling.seed != backend.requests[0].sampling.seed


def test_no_personas_make_no_request_and_errors_are_raised():
    backend = in_order()
    assert PersonaInstructions(backend, TASK).run([]).candidates == 0
    assert backend.batches == []
    with pytest.raises(BackendError, match="down"):
        PersonaInstructions(in_order(BackendError("down")), TASK).run(["a chef"])
    with pytest.raises(BackendError, match="down"):
        PersonaGeneration(in_order(BackendError("down")), TASK, count=1).run()


def test_the_templates_name_no_domain():
    for op in (PersonaGeneration, PersonaInstructions):
        for key, template in op.templates.items():
            assert not _domain_words_in(template), f"{op.name}.{key}"
