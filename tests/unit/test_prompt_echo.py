"""A generated text that repeats its prompt's instructions is not accepted."""

from __future__ import annotations

from synthloom.llm.base import ChatRequest
from synthloom.operators.targen.instance_generation import InstanceGeneration, prompt_echo
from synthloom.records import Origin, Plan, Provenance, Record
from tests.unit.scripted import ScriptedBackend

TEMPLATES = InstanceGeneration.templates.values()


def test_prompt_echo_finds_copied_instructions_only():
    assert prompt_echo("The film felt amazing. It is about this.", TEMPLATES) == "it is about this"
    assert prompt_echo("Great plot, its label must clearly be positive.", TEMPLATES) == (
        "its label must clearly be")
    assert prompt_echo("The film felt amazing and the cast was superb.", TEMPLATES) is None
    custom = ["Compose a short message now: {text}"]
    assert prompt_echo("Compose a short message now hello", custom) == "compose a short message now"


def test_an_echoing_answer_is_retried_then_kept_clean():
    answers = iter(["It is about this: a quiet street with a bakery on the corner.",
                    "A quiet street with a bakery on the corner smells of bread."])

    def respond(request: ChatRequest) -> str:
        return next(answers)

    op = InstanceGeneration(ScriptedBackend(respond), "Notes.", {"a": "about a", "b": "b"},
                            max_words=12, unit="note")
    draft = Record(id="plan-1", task="t", origin=Origin.synthetic, provenance=Provenance(
        plan=Plan(id="plan-1"), instance_seed="a street", target_label="a"))
    (out,) = op([draft])
    assert out.rejected is None and out.text.startswith("A quiet street")
    assert out.provenance.operators[-1].detail["answers"] == 2
