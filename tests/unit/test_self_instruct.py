"""Self-Instruct (arXiv 2212.10560) with a scripted backend: filters, output-first
instances, 6+2 in-context composition, determinism, seed files."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatRequest, ChatResponse
from synthloom.operators.instruct.pool import PoolItem
from synthloom.operators.instruct.rouge_index import RougeLIndex
from synthloom.operators.instruct.self_instruct import (
    SelfInstruct,
    filter_reason,
    parse_tasks,
    read_seed_tasks,
    shipped_seed_tasks,
)
from tests.unit.scripted import ScriptedBackend

SEEDS = shipped_seed_tasks()
_LETTERS = random.Random(0)
_WORDS = sorted({"".join(_LETTERS.choice("kalomineurtsp") for _ in range(7)) for _ in range(5000)})


def fresh_tasks(rng: random.Random, n: int) -> list[str]:
    """``n`` instructions of random pseudo-words: no two are ROUGE-L neighbours."""
    return ["Explain " + " ".join(rng.sample(_WORDS, 9)) + "." for _ in range(n)]


def user(request: ChatRequest) -> str:
    return request.messages[-1]["content"]


def shown_tasks(request: ChatRequest) -> list[str]:
    return re.findall(r"^Task \d+: (.*)$", user(request), re.MULTILINE)


class Script:
    """Answers every request kind of SelfInstruct; ``tasks(request)`` writes the list."""

    def __init__(self, tasks, *, classify=lambda text: "Label" in text) -> None:
        self.tasks, self.classify = tasks, classify

    def __call__(self, request: ChatRequest) -> str | ChatResponse:
        if request.json_schema is None:
            return self.tasks(request)
        instruction = re.findall(r"^Task: (.*)$", user(request), re.MULTILINE)[-1]
        props = list(request.json_schema["properties"])
        if props == ["answer"]:
            return json.dumps({"answer": "yes" if self.classify(instruction) else "no"})
        if props == ["input", "output"]:
            if "echo" in instruction:
                return json.dumps({"input": "same", "output": "same"})
            return json.dumps({"input": "", "output": f"Done: {instruction}"})
        assert props == ["class_label", "input"]
        return json.dumps({"class_label": "positive", "input": "What a lovely day."})


def numbered(tasks: list[str], first: int = 9) -> str:
    return "\n".join(f"Task {first + k}: {t}" for k, t in enumerate(tasks))


def run_once(answer: str | ChatResponse, count: int = 100, **kwargs) -> tuple:
    backend = ScriptedBackend(Script(lambda r: answer))
    op = SelfInstruct(backend, SEEDS, requests_per_round=1, max_rounds=1, **kwargs)
    return op.run(count), backend, op


def test_each_filter_removes_what_it_should() -> None:
    good = ["Summarize the main argument of a paragraph in two plain sentences.",
            "Suggest a name for a small bakery that sells sourdough bread."]
    answer = "\n".join([
        "Task 3: " + SEEDS[0].instruction,  # a repeat of the shown list: not a candidate
        numbered([good[0],
                  "Sort these numbers",  # 3 words
                  "Explain " + "very " * 150 + "slowly.",  # > 150 words
                  "Describe the image in detail for someone who cannot see it.",
                  "Tell me how to go to the nearest train station from here.",
                  "Write a program that prints the first ten prime numbers.",
                  "(Optional) Explain how vaccines train the immune system.",
                  "¿Cómo se dice buenos días en inglés y por qué?",
                  "Write a short thank-you note to a neighbour who watered my plants while "
                  "I was away on holiday.",  # near a seed
                  good[1],
                  "Suggest a name for a small bakery that sells sourdough bread!"]),  # near good[1]
    ])
    result, _, op = run_once(answer)
    assert [i.instruction for i in result.items] == good
    assert dict(result.removed) == {"length": 2, "keyword": 2, "program": 1, "punctuation": 1,
                                    "non_ascii": 1, "rouge_l": 2}
    assert result.candidates == 11
    assert [i.id for i in result.items] == ["si-0", "si-1"]
    assert all(i.method == "self_instruct" and i.parents == () for i in result.items)
    assert result.items[0].output == f"Done: {good[0]}" and result.items[0].input == ""
    assert op.index.queries == 4 and len(op.index) == 40 + 2


def test_parse_tasks_reads_list_styles() -> None:
    answer = ("Sure! Here are two new tasks:\n**Task 9:** Name a fruit that is high in "
              "fibre.\n\nTask 10: \"Explain why the sky\n   looks blue at noon.\"\nTask 7: old")
    assert parse_tasks(ChatResponse(text=answer), 9) == (
        ["Name a fruit that is high in fibre.", "Explain why the sky looks blue at noon."], None)
    plain = "9. Name two uses of vinegar.\n10) Convert 5 miles to kilometres."
    assert parse_tasks(ChatResponse(text=plain), 9)[0] == [
        "Name two uses of vinegar.", "Convert 5 miles to kilometres."]
    assert parse_tasks(ChatResponse(text="No ideas."), 9) == (None, "no new task in the answer")


def test_filter_reason_uses_whole_words_and_any_case() -> None:
    assert filter_reason("Explain why a profile of mapping rules matters here.") is None
    assert filter_reason("Summarize this FILE for a new colleague today.") == "keyword"
    assert filter_reason("write a program to add two numbers together.") == "program"


def test_unparsable_answers_cut_answers_and_failed_instances() -> None:
    for answer in ("I cannot think of anything new, sorry.", "   ",
                   "Task 2: " + SEEDS[1].instruction):  # only a repeat of the shown list
        result, _, _ = run_once(answer)
        assert dict(result.removed) == {"unparsable": 1} and not result.items
    cut = ChatResponse(text=numbered(["Suggest a name for a small bakery selling bread.",
                                      "Describe how clouds form over warm"]),
                       finish_reason="length")
    result, _, _ = run_once(cut)
    assert [i.instruction for i in result.items] == [
        "Suggest a name for a small bakery selling bread."]  # the cut last one is dropped
    echo = "Repeat the word you are given, echo style, exactly once."
    result, _, op = run_once(numbered([echo]))
    assert dict(result.removed) == {"no_instance": 1} and not result.items
    assert op.index.find(echo) is None  # a removed task leaves the index


def test_classification_tasks_get_output_first_instances() -> None:
    label_task = "Label the mood of the sentence as positive, negative or neutral."
    plain_task = "Suggest three ways to reuse empty glass jars at home."
    result, backend, _ = run_once(numbered([label_task, plain_task]))
    by_kind = {list(r.json_schema["properties"])[0]: r for r in backend.requests
               if r.json_schema is not None}
    output_first = by_kind["class_label"]
    assert list(output_first.json_schema["properties"]) == ["class_label", "input"]
    assert "First choose one class label" in user(output_first)
    assert label_task in user(output_first)
    input_first = by_kind["input"]
    assert list(input_first.json_schema["properties"]) == ["input", "output"]
    assert plain_task in user(input_first) and "class label" not in user(input_first)
    classify = by_kind["answer"]
    assert classify.sampling.temperature == 0.0
    assert "Classification: yes" in user(classify) and "Classification: no" in user(classify)
    label_item, plain_item = result.items
    assert (label_item.classification, label_item.output, label_item.input) == (
        True, "positive", "What a lovely day.")
    assert plain_item.classification is False and plain_item.output == f"Done: {plain_task}"


def _growing_backend(per_answer: int = 3,
                     origin: dict[str, ChatRequest] | None = None) -> ScriptedBackend:
    """Answers each generation request with ``per_answer`` fresh tasks; ``origin`` records
    the request each task came from."""
    rng = random.Random(5)

    def tasks(request: ChatRequest) -> str:
        new = fresh_tasks(rng, per_answer)
        if origin is not None:
            origin.update(dict.fromkeys(new, request))
        return numbered(new)

    return ScriptedBackend(Script(tasks))


def test_in_context_is_six_seeds_and_two_machine_tasks_once_they_exist() -> None:
    origin: dict[str, ChatRequest] = {}
    backend = _growing_backend(origin=origin)
    op = SelfInstruct(backend, SEEDS, requests_per_round=4, max_rounds=3, per_request_new=3)
    result = op.run(30)
    seed_texts = {s.instruction for s in SEEDS}
    kept = {i.instruction: i.id for i in result.items}
    generate = [r for r in backend.requests if r.json_schema is None]
    assert len(generate) == 12 and backend.batches[0] == 4  # one batch per round
    for n, request in enumerate(generate):
        shown = shown_tasks(request)
        assert len(shown) == 8 and len(set(shown)) == 8
        machine = [t for t in shown if t not in seed_texts]
        assert len(machine) == (0 if n < 4 else 2)
        assert all(t in kept for t in machine)
        assert "Task 9 to Task 11" in user(request)
        assert request.sampling.stop == ("Task 12:",)
    assert len(result.items) == 30
    for item in result.items:
        request = origin[item.instruction]
        shown_ids = {kept[t] for t in shown_tasks(request) if t not in seed_texts}
        assert set(item.parents) == shown_ids
        assert len(item.parents) == (0 if generate.index(request) < 4 else 2)
    assert any(item.parents for item in result.items)


def test_machine_tasks_join_the_context_as_soon_as_they_exist_at_most_two() -> None:
    # the reference code shows min(2, generated so far) machine tasks, the rest seeds
    backend = _growing_backend(per_answer=1)
    op = SelfInstruct(backend, SEEDS, requests_per_round=1, max_rounds=4, per_request_new=1)
    result = op.run(4)
    generate = [r for r in backend.requests if r.json_schema is None]
    seed_texts = {s.instruction for s in SEEDS}
    machine = [[t for t in shown_tasks(r) if t not in seed_texts] for r in generate]
    assert [len(m) for m in machine] == [0, 1, 2, 2]
    assert [len(shown_tasks(r)) for r in generate] == [8, 8, 8, 8]
    assert result.items[0].parents == () and result.items[1].parents == ("si-0",)
    assert set(result.items[2].parents) == {"si-0", "si-1"}


def test_same_seed_same_requests_and_distinct_sampler_seeds() -> None:
    def requests(seed: int) -> list[ChatRequest]:
        backend = _growing_backend()
        SelfInstruct(backend, SEEDS, requests_per_round=4, max_rounds=2, seed=seed).run(20)
        return backend.requests

    first, again, other = requests(1), requests(1), requests(2)
    assert first == again
    assert [r.messages for r in first] != [r.messages for r in other]
    seeds = [r.sampling.seed for r in first]
    assert len(set(seeds)) == len(seeds)


def test_stops_at_count_and_reports_progress() -> None:
    progress: list[tuple[int, int]] = []
    backend = _growing_backend(per_answer=5)
    op = SelfInstruct(backend, SEEDS, requests_per_round=2, max_rounds=10)
    result = op.run(3, on_progress=lambda done, total: progress.append((done, total)))
    assert [i.id for i in result.items] == ["si-0", "si-1", "si-2"]
    assert progress == [(3, 3)] and result.candidates == 3
    assert len([r for r in backend.requests if r.json_schema is None]) == 2


def test_description_and_unit_reach_the_prompts_and_nothing_else_does() -> None:
    _, backend, _ = run_once(numbered(["Suggest a name for a small bakery selling bread."]),
                             description="household chores", unit="request")
    system = backend.requests[0].messages[0]["content"]
    assert "household chores" in system and "requests" in system
    assert "Come up with a series of requests." in user(backend.requests[0])
    _, backend, _ = run_once(numbered(["Suggest a name for a small bakery selling bread."]))
    assert "belongs to this area" not in backend.requests[0].messages[0]["content"]


def test_shipped_seed_pool() -> None:
    assert len(SEEDS) == 40 and [s.id for s in SEEDS] == [f"seed-{n}" for n in range(40)]
    assert sum(s.classification is True for s in SEEDS) == 10
    assert all(s.method == "seed" and s.output for s in SEEDS)
    assert all(filter_reason(s.instruction) is None for s in SEEDS)
    index = RougeLIndex()
    assert max(index.score(a.instruction, b.instruction)
               for a, b in itertools.combinations(SEEDS, 2)) < 0.7


def test_seed_file_formats(tmp_path: Path) -> None:
    txt = tmp_path / "seeds.txt"
    txt.write_text("Name three rivers in Asia.\n\nExplain what a leap year is.\n")
    items = read_seed_tasks(txt)
    assert [(i.id, i.instruction, i.method) for i in items] == [
        ("seed-0", "Name three rivers in Asia.", "file"),
        ("seed-1", "Explain what a leap year is.", "file")]
    simple = tmp_path / "seeds.jsonl"
    simple.write_text(json.dumps({"instruction": "Add the numbers.", "input": "2, 3",
                                  "output": "5"}) + "\n")
    assert read_seed_tasks(simple) == [PoolItem(id="seed-0", instruction="Add the numbers.",
                                                input="2, 3", output="5", method="file")]


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    (b"\n  \n", "no instruction"),
    (b'{"instruction": "Fine task here."}\nnot json\n', "line 2: not JSON"),
    (b'{"instruction": "Fine task here."}\n{"input": "x"}\n', 'line 2: no "instruction"'),
    (b'["a list"]\n', "line 1: not a JSON object"),
    (b'{"instruction": "ok one"}\n{"instruction": "caf\xe9"}\n', "line 2: not UTF-8"),
])
def test_bad_seed_files_raise_user_input_errors(tmp_path: Path, content: bytes | None,
                                                message: str) -> None:
    path = tmp_path / "my_seeds.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserInputError, match=re.escape(message)) as caught:
        read_seed_tasks(path)
    assert "my_seeds.jsonl" in str(caught.value) and "\n" not in str(caught.value)


def test_bad_arguments() -> None:
    backend = _growing_backend()
    with pytest.raises(ValueError, match="seed task"):
        SelfInstruct(backend, [])
    with pytest.raises(ValueError, match="seed_in_context"):
        SelfInstruct(backend, SEEDS, seed_in_context=9)
    with pytest.raises(ValueError, match="count"):
        SelfInstruct(backend, SEEDS).run(0)
