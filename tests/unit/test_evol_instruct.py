"""Evol-Instruct (arXiv 2304.12244) on the shared pool type: the elimination rules, the
evolution tree over generations, failed parents returning to the frontier, one batch per
phase and round, determinism, and evol_complexify using the same operation definitions."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatRequest, ChatResponse
from synthloom.operators.generate import evol_complexify
from synthloom.operators.generate.evol_complexify import EvolComplexify
from synthloom.operators.instruct.evol_instruct import (
    BREADTH,
    IN_DEPTH,
    OPERATIONS,
    EvolInstruct,
    clean_rewrite,
    elimination_reason,
    method_sentence,
)
from synthloom.operators.instruct.pool import PoolItem
from synthloom.records import Origin, Plan, Provenance, Record
from tests.unit.scripted import ScriptedBackend

GOOD = "A full answer that explains the steps, gives two examples and names the result."
_GIVEN = re.compile(r"Given Prompt#:\n(.*)\n\n#(?:Rewritten|Created) Prompt#:", re.DOTALL)


def given(request: ChatRequest) -> str:
    """The prompt an evolve request rewrites."""
    return _GIVEN.search(request.messages[-1]["content"]).group(1)


def phase(request: ChatRequest) -> str:
    """``evolve``, ``respond`` or ``judge``."""
    if request.json_schema is not None:
        return "judge"
    # a response request is the instruction alone, as a user turn (what a trainer sees)
    return "respond" if request.messages[0]["role"] == "user" else "evolve"


def model(rewrite=lambda p: f"{p} Explain each step.", answer=lambda i: GOOD,
          equal=lambda first, second: False):
    """A scripted model: ``rewrite(given prompt)``, ``answer(instruction)``,
    ``equal(parent prompt, rewrite)``."""
    def respond(request: ChatRequest) -> str:
        kind, user = phase(request), request.messages[-1]["content"]
        if kind == "evolve":
            return rewrite(given(request))
        if kind == "respond":
            return answer(user)
        first, second = re.search(r"First: (.*)\n\nSecond: (.*)\n\nAnswer", user,
                                  re.DOTALL).groups()
        return json.dumps({"equal": equal(first, second)})
    return respond


def pool(*instructions: str) -> list[PoolItem]:
    return [PoolItem(id=f"seed-{i}", instruction=t) for i, t in enumerate(instructions)]


# --- the elimination rules, as a pure function -------------------------------------------

@pytest.mark.parametrize(("rewrite", "response", "equal", "reason"), [
    (None, GOOD, False, "unparsable"),
    ("   ", GOOD, False, "unparsable"),
    ("Sort the list. #The Given Prompt# asks it", GOOD, False, "copied_template"),
    ("Sort the list as the REWRITTEN PROMPT says", GOOD, False, "copied_template"),
    ("Sort it like the #Created Prompt# wants", GOOD, False, "copied_template"),
    ("Sort the list.", None, False, "empty_response"),
    ("Sort the list.", "  \n", False, "empty_response"),
    ("Sort the list.", "I'm SORRY, I cannot help with that.", False, "refusal"),
    ("Sort the list.", "... the, of and it!", False, "stopwords_only"),
    ("Sort the list.", "?!", False, "stopwords_only"),
    ("Sort the list.", GOOD, True, "no_information_gain"),
    ("Sort the list.", GOOD, False, None),
    # a long answer that apologises once is not a refusal; a number is not a stop word
    ("Sort the list.", "Sorry for the wait. " + "word " * 80, False, None),
    ("Sort the list.", "42", False, None),
    # the first rule that applies names the reason
    ("given prompt", "sorry", True, "copied_template"),
    ("Sort the list.", "sorry", True, "refusal"),
])
def test_elimination_reason(rewrite, response, equal, reason) -> None:
    assert elimination_reason(rewrite, response, equal) == reason


def test_clean_rewrite_strips_headers_preambles_and_quotes_and_refuses_a_cut_answer() -> None:
    for raw in ('#Rewritten Prompt#:\n"Sort the list by date."',
                "Here is the rewritten prompt:\n#Rewritten Prompt#: Sort the list by date.",
                "Created Prompt: Sort the list by date.  "):
        assert clean_rewrite(ChatResponse(text=raw)) == ("Sort the list by date.", None)
    table = "Sum the column.\n| a | b |\n| 1 | 2 |"
    assert clean_rewrite(ChatResponse(text=table))[0] == table  # line breaks kept
    assert clean_rewrite(ChatResponse(text="Sort the", finish_reason="length"))[0] is None
    assert clean_rewrite(ChatResponse(text='#Rewritten Prompt#: ""'))[0] is None


# --- the operator --------------------------------------------------------------------------

def test_each_rule_eliminates_with_its_reason_end_to_end() -> None:
    rewrites = {"unparsable": "", "copied": "Name a #Rewritten Prompt# colour.",
                "same": "  NAME a   same colour. "}
    answers = {"refusal": "Sorry, I can't.", "stop": "It is what it is.", "empty": " "}

    def rewrite(prompt: str) -> str:
        key = prompt.split()[-2]
        return rewrites.get(key, f"Name a {key} colour and explain why.")

    def answer(instruction: str) -> str:
        return answers.get(instruction.split()[2], GOOD)

    backend = ScriptedBackend(model(rewrite, answer, equal=lambda a, b: "judged" in a))
    judge = ScriptedBackend(model(equal=lambda a, b: "judged" in a))
    keys = ["unparsable", "copied", "same", "refusal", "stop", "empty", "judged", "kept"]
    items = pool(*(f"Name a {k} colour." for k in keys))
    result = EvolInstruct(backend, generations=1, judge=judge).run(items)
    assert result.removed == Counter({"unparsable": 1, "copied_template": 1,
                                      "no_information_gain": 2, "refusal": 1,
                                      "stopwords_only": 1, "empty_response": 1})
    assert [i.instruction for i in result.items] == ["Name a kept colour and explain why."]
    assert result.items[0].output == GOOD and result.candidates == len(keys)
    # rewrites 8, responses to the 6 that passed; the identical rewrite was not judged
    assert judge.batches == [2]
    assert backend.batches == [8, 6]


def test_evolution_tree_over_three_generations() -> None:
    backend = ScriptedBackend(model())
    op = EvolInstruct(backend, generations=3, seed=4)
    seeds = [PoolItem(id="a", instruction="List three prime numbers.", persona="a teacher"),
             PoolItem(id="b", instruction="Describe a sunrise.")]
    result = op.run(seeds)
    items = {i.id: i for i in result.items}
    assert list(items) == ["evol-1-0", "evol-1-1", "evol-2-0", "evol-2-1", "evol-3-0",
                           "evol-3-1"]
    parents = {"evol-1-0": "a", "evol-1-1": "b", "evol-2-0": "evol-1-0",
               "evol-2-1": "evol-1-1", "evol-3-0": "evol-2-0", "evol-3-1": "evol-2-1"}
    lookup = {**items, "a": seeds[0], "b": seeds[1]}
    for child_id, parent_id in parents.items():
        child, parent = items[child_id], lookup[parent_id]
        assert child.parents == (parent_id,)
        assert child.generation == parent.generation + 1 == int(child_id.split("-")[1])
        assert child.operation == op.chosen(parent, child.generation)
        assert child.instruction == f"{parent.instruction} Explain each step."
        assert child.method == "evol_instruct" and child.persona == parent.persona
        assert child.output == GOOD and child.input == ""
    # each rewrite request carried the method sentence of the operation chosen for it
    evolve = [r for r in backend.requests if phase(r) == "evolve"]
    for request, child in zip(evolve, result.items, strict=True):
        method = method_sentence(child.operation, "the #Given Prompt#"
                                 if child.operation in BREADTH else "#The Given Prompt#")
        assert method in request.messages[-1]["content"]


def test_a_failed_parent_returns_to_the_frontier_and_evolves_next_generation() -> None:
    seen: Counter[str] = Counter()

    def rewrite(prompt: str) -> str:
        seen[prompt] += 1
        if prompt.startswith("Add") and seen[prompt] == 1:
            return "I am sorry, #Rewritten Prompt# is not allowed here."
        return f"{prompt} Show the steps."

    result = EvolInstruct(ScriptedBackend(model(rewrite)), generations=2).run(
        pool("Add two numbers.", "Spell a word."))
    assert result.removed == Counter({"copied_template": 1})
    by_id = {i.id: i for i in result.items}
    assert list(by_id) == ["evol-1-0", "evol-2-0", "evol-2-1"]
    assert by_id["evol-1-0"].parents == ("seed-1",)
    # seed-0 failed in round 1, stayed in the frontier and evolved in round 2 (depth 1)
    assert by_id["evol-2-0"].parents == ("seed-0",) and by_id["evol-2-0"].generation == 1
    assert by_id["evol-2-1"].parents == ("evol-1-0",) and by_id["evol-2-1"].generation == 2
    assert seen["Add two numbers."] == 2


def test_one_batch_per_phase_per_generation_and_the_judge_backend_judges() -> None:
    backend, judge = ScriptedBackend(model()), ScriptedBackend(model())
    progress = []
    EvolInstruct(backend, generations=2, judge=judge).run(
        pool("Name a river.", "Name a tree.", "Name a star."),
        on_progress=lambda *a: progress.append(a))
    assert backend.batches == [3, 3, 3, 3]  # rewrite, respond; rewrite, respond
    assert [phase(r) for r in backend.requests] == ["evolve"] * 3 + ["respond"] * 3 + \
        ["evolve"] * 3 + ["respond"] * 3
    assert judge.batches == [3, 3] and {phase(r) for r in judge.requests} == {"judge"}
    assert progress == [(1, 2, 3), (2, 2, 6)]


def test_deterministic_with_a_seed_per_request() -> None:
    items = pool(*(f"Name thing number {i}." for i in range(12)))

    def go(seed: int):
        backend = ScriptedBackend(model())
        result = EvolInstruct(backend, generations=2, seed=seed).run(items)
        return result.to_json(), [r.sampling.seed for r in backend.requests]

    (first, seeds), (again, seeds_again) = go(3), go(3)
    assert first == again and seeds == seeds_again
    assert len(set(seeds)) == len(seeds)  # every request has its own sampler seed
    other, _ = go(4)
    assert [i["operation"] for i in other["items"]] != [i["operation"] for i in first["items"]]
    assert {i["operation"] for i in first["items"]} <= set(OPERATIONS)


def test_breadth_uses_the_prompt_creator_and_the_input_joins_the_prompt() -> None:
    backend = ScriptedBackend(model())
    item = PoolItem(id="s", instruction="Summarise the text.", input="Cats sleep a lot.")
    result = EvolInstruct(backend, generations=1, operations=["breadth"]).run([item])
    prompt = backend.requests[0].messages[-1]["content"]
    assert prompt.startswith("I want you to act as a Prompt Creator.")
    assert method_sentence("breadth", "the #Given Prompt#") in prompt
    assert given(backend.requests[0]) == "Summarise the text.\n\nCats sleep a lot."
    child = result.items[0]
    assert child.operation == "breadth" and child.input == ""
    assert child.instruction == "Summarise the text.\n\nCats sleep a lot. Explain each step."


def test_an_unanswerable_judgement_keeps_the_evolution() -> None:
    def respond(request: ChatRequest) -> str:
        return "not json" if phase(request) == "judge" else model()(request)

    result = EvolInstruct(ScriptedBackend(respond), generations=1).run(pool("Name a bird."))
    assert len(result.items) == 1 and not result.removed


def test_templates_are_overridable_and_checked() -> None:
    backend = ScriptedBackend(model(answer=lambda i: GOOD))
    op = EvolInstruct(backend, generations=1,
                      templates={"system": "You write {unit}s. Keep them short."})
    op.run(pool("Name a fish."))
    assert [r for r in backend.requests if phase(r) == "evolve"][0].messages[0][
        "content"].endswith("Keep them short.")
    # the response is asked with the evolved instruction alone: no length note appended
    response_request = [r for r in backend.requests if phase(r) == "respond"][0]
    assert len(response_request.messages) == 1
    assert "Answer in at most" not in response_request.messages[0]["content"]
    with pytest.raises(UserInputError, match="unknown template"):
        EvolInstruct(backend, templates={"nope": "x"})


@pytest.mark.parametrize("kwargs", [{"generations": 0}, {"operations": ["widen"]},
                                    {"operations": []}, {"max_response_words": 0}])
def test_bad_arguments_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        EvolInstruct(ScriptedBackend(model()), **kwargs)


def test_repeated_pool_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="repeated"):
        EvolInstruct(ScriptedBackend(model())).run([PoolItem(id="x", instruction="a"),
                                                    PoolItem(id="x", instruction="b")])


# --- evol_complexify: one user of the same operations -------------------------------------

def _record(i: int) -> Record:
    return Record(id=f"p{i}", task="toy", origin=Origin.synthetic,
                  inputs={"text": f"A note about alpha, number {i}, with some words in it."},
                  provenance=Provenance(plan=Plan(id=f"p{i}", context="c"),
                                        target_label="alpha"))


def test_evol_complexify_uses_the_shared_in_depth_operations() -> None:
    # the same operations, each phrased for a labelled text (a tweet has no requirements
    # or input to complicate)
    assert list(evol_complexify.OPERATIONS) == list(IN_DEPTH)
    assert "breadth" not in evol_complexify.OPERATIONS  # a new prompt would lose its label
    backend = ScriptedBackend(lambda r: "A richer and harder note about alpha, with many more "
                              "concrete words in it than before.")
    op = EvolComplexify(backend, {"alpha": "about alpha"}, fraction=1.0, unit="note", seed=2)
    records = [_record(i) for i in range(10)]
    out = op(records)
    chosen = [op.chosen(r) for r in records]
    assert len(set(chosen)) > 1
    for request, record, operation in zip(backend.requests, out, chosen, strict=True):
        assert evol_complexify.OPERATIONS[operation] in request.messages[-1]["content"]
        assert record.provenance.operators[-1].detail["operation"] == operation
    with pytest.raises(ValueError, match="unknown Evol operations"):
        EvolComplexify(backend, {"alpha": "a"}, operations=["breadth"])


def test_complexify_recipe_values_are_the_shared_operation_names() -> None:
    from synthloom.pipeline.steps.coverage import ComplexifyStep

    step = ComplexifyStep.model_validate({"type": "evol.complexify",
                                          "operations": list(IN_DEPTH)})
    assert step.operations == ["add_constraints", "deepen", "concretize",
                               "increase_reasoning", "complicate_input"]
    with pytest.raises(ValueError, match="unknown operations"):
        ComplexifyStep.model_validate({"type": "evol.complexify", "operations": ["breadth"]})


@pytest.mark.parametrize(("answer", "kept"), [
    ("Sure, here's a brand new prompt that fits your criteria:\n\nDecide whether X.",
     "Decide whether X."),
    ("Here is the rewritten prompt: Do X.", "Do X."),
    ("Here is my code: def f(): pass", "Here is my code: def f(): pass"),  # the user's words
])
def test_a_preamble_is_stripped_only_when_it_announces_the_rewrite(answer, kept) -> None:
    from synthloom.llm.base import ChatResponse
    from synthloom.operators.instruct.evol_instruct import clean_rewrite

    assert clean_rewrite(ChatResponse(text=answer))[0] == kept
