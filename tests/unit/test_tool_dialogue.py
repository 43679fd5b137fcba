"""The tool_dialogue kind on the step engine with a scripted backend: sampled tool sets,
a plan, user/assistant/tool-simulator turns, every kept call valid against its schema, one
repair of an invalid call, rejection with the reason, export loadable by Hugging Face
``datasets``, and one-line errors (exit 2) for bad tool folders."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.llm.base import ChatRequest, ChatResponse
from synthloom.operators.tools.agents import (
    ASSISTANT_SYSTEM,
    REPLY_SYSTEM,
    grammar_schema,
    looks_like_call,
    plan_schema,
    spoken_text,
    user_text,
)
from synthloom.operators.tools.registry import ToolRegistry
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import read_jsonl
from tests.unit.scripted import ScriptedBackend

runner = CliRunner()

TOOLS = [
    {"name": "find_item", "description": "Find an item in the shop by a search query.",
     "parameters": {"type": "object", "properties": {
         "query": {"type": "string", "description": "What to look for."}},
         "required": ["query"]},
     "returns": {"type": "object", "properties": {
         "item_id": {"type": "string", "description": "Identifier of the item found."},
         "price": {"type": "number", "description": "Price of one item."}},
         "required": ["item_id", "price"]}},
    {"name": "buy_item", "description": "Buy a quantity of an item by its identifier.",
     "parameters": {"type": "object", "properties": {
         "item_id": {"type": "string", "description": "Identifier of the item to buy."},
         "quantity": {"type": "integer", "minimum": 1, "description": "How many."}},
         "required": ["item_id", "quantity"]},
     "returns": {"type": "object", "properties": {
         "order_id": {"type": "string", "description": "Identifier of the order."}},
         "required": ["order_id"]}},
    {"name": "check_weather", "description": "Weather forecast for a city on a date.",
     "parameters": {"type": "object", "properties": {
         "city": {"type": "string", "description": "City name."},
         "date": {"type": "string", "description": "Day, YYYY-MM-DD."}},
         "required": ["city"]},
     "returns": {"type": "object", "properties": {
         "summary": {"type": "string", "description": "Forecast in words."}},
         "required": ["summary"]}},
]

CALLS = {"find_item": {"query": "blue mug"}, "buy_item": {"item_id": "it-1", "quantity": 2},
         "check_weather": {"city": "Lyon"}}
RESULTS = {"find_item": {"item_id": "it-1", "price": 4.5}, "buy_item": {"order_id": "o-9"},
           "check_weather": {"summary": "sunny"}}


def _call(name: str, arguments: dict) -> ChatResponse:
    return ChatResponse(text="", finish_reason="tool_calls", tool_calls=[
        {"id": f"c-{name}", "type": "function",
         "function": {"name": name, "arguments": json.dumps(arguments)}}])


def _offered(request: ChatRequest) -> list[str]:
    return [t["function"]["name"] for t in request.tools or ()]


def responder(bad_arguments: int = 0):
    """A scripted model: plans one tool turn and one chit-chat turn, calls the planned
    tool (with invalid arguments the first ``bad_arguments`` times), simulates results."""
    state = {"bad": bad_arguments}

    def respond(request: ChatRequest):
        system = request.messages[0]["content"]
        if request.json_schema and "turns" in request.json_schema.get("properties", {}):
            names = re.findall(r"^- (\w+)\(", request.messages[-1]["content"], re.M)
            return json.dumps({"turns": [
                {"kind": "tool", "request": f"use {names[0]} for me", "tools": [names[0]]},
                {"kind": "chit_chat", "request": "say thanks", "tools": []}]})
        if system.startswith("You write the messages that a person types"):
            wanted = request.messages[-1]["content"]
            return "Thanks a lot!" if "say thanks" in wanted else "Could you help me, please?"
        if system.startswith("You simulate the tool `"):
            name = system.split("`")[1]
            return json.dumps(RESULTS[name])
        assert system in (ASSISTANT_SYSTEM, REPLY_SYSTEM)
        last = request.messages[-1]
        if last["role"] == "tool" or not request.tools:
            return "Here is what I found."
        if last["content"].startswith("Thanks"):
            return "You are welcome."
        name = (request.tool_choice or {}).get("function", {}).get("name") or _offered(request)[0]
        if state["bad"] > 0:
            state["bad"] -= 1
            return _call(name, {"wrong": "two"})
        return _call(name, CALLS[name])

    return respond


def _tools_folder(tmp_path, tools=TOOLS):
    folder = tmp_path / "tools"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.json").write_text(json.dumps(tools))
    return folder


def _recipe(tmp_path, folder, sampling="graph", n=3, extra=""):
    path = tmp_path / "tool_dialogue.yaml"
    path.write_text(f"""\
task:
  name: shop_assistant
  kind: tool_dialogue
  description: An assistant that helps people shop and plan.
n: {n}
seed: 7
steps:
  - {{type: tools.sample, tools: {folder}, sampling: {sampling}, size: [1, 2]{extra}}}
  - {{type: tool_dialogue.generate, turns: [2, 2]}}
""")
    return path


def _run(tmp_path, respond, **kw):
    folder = _tools_folder(tmp_path)
    out = tmp_path / "out"
    run_recipe(load_recipe(_recipe(tmp_path, folder, **kw)), out,
               backend=ScriptedBackend(respond))
    return list(read_jsonl(out / "data.jsonl")), list(read_jsonl(out / "rejected.jsonl")), out


def test_dialogues_follow_the_plan_and_every_kept_call_is_schema_valid(tmp_path):
    records, rejected, _ = _run(tmp_path, responder())
    assert len(records) == 3 and not rejected
    registry = ToolRegistry.from_path(tmp_path / "tools")
    for record in records:
        messages = record.outputs["messages"]
        assert messages[0]["role"] == "user"
        calls = [c for m in messages for c in m.get("tool_calls") or []]
        assert calls and all(not registry.validate_call(c) for c in calls)
        # each call is answered by a tool message with its id and a result that fits
        answered = {m["tool_call_id"]: m for m in messages if m["role"] == "tool"}
        for call in calls:
            result = answered[call["id"]]
            assert not registry.validate_result(result["name"], result["content"])
        assert {c["function"]["name"] for c in calls} <= set(record.inputs["tools"])
        assert [t["kind"] for t in record.inputs["plan"]] == ["tool", "chit_chat"]
        assert messages[-1] == {"role": "assistant", "content": "You are welcome."}
        detail = record.provenance.operators[-1].detail
        assert detail["calls_valid_first"] == detail["calls"] >= 1
        assert detail["turns_done"] == 2


def test_an_invalid_call_is_repaired_once_with_the_errors_shown(tmp_path):
    records, _, _ = _run(tmp_path, responder(bad_arguments=1), n=1)
    (record,) = records
    detail = record.provenance.operators[-1].detail
    assert detail["calls_repaired"] == 1 and detail["calls_valid_first"] == 0


def test_a_call_still_invalid_after_the_repair_rejects_the_dialogue_with_the_reason(tmp_path):
    records, rejected, _ = _run(tmp_path, responder(bad_arguments=10**6), n=1)
    assert not records and rejected
    reason = rejected[0].rejected.reason
    assert "invalid tool call after one repair" in reason
    assert "wrong" in reason or "required" in reason


def test_tool_sets_are_seeded_and_graph_sets_hold_linked_tools(tmp_path):
    first, _, _ = _run(tmp_path / "a", responder())
    again, _, _ = _run(tmp_path / "b", responder())
    assert [r.inputs["tools"] for r in first] == [r.inputs["tools"] for r in again]
    for record in first:
        assert record.inputs["sampling"] == "graph"
        assert record.inputs["tool_specs"][0]["type"] == "function"
        assert "returns" not in record.inputs["tool_specs"][0]["function"]


def test_export_loads_in_datasets_as_chat_with_tool_calls(tmp_path):
    datasets = pytest.importorskip("datasets")
    _, _, out = _run(tmp_path, responder())
    target = tmp_path / "chat.jsonl"
    result = runner.invoke(app, ["export", str(out), "--layout", "messages", "-o", str(target)])
    assert result.exit_code == 0, result.output
    data = datasets.load_dataset("json", data_files=str(target), split="train")
    assert len(data) == 3
    row = data[0]
    calls = [m for m in row["messages"] if m["tool_calls"]]
    assert calls and calls[0]["tool_calls"][0]["function"]["name"]
    json.loads(calls[0]["tool_calls"][0]["function"]["arguments"])
    assert json.loads(row["tools"])[0]["type"] == "function"


@pytest.mark.parametrize("tools, message", [
    ([{**TOOLS[0], "parameters": {"type": "object", "properties": {"q": {"type": "strng"}}}}],
     "tool 'find_item'"),
    ([TOOLS[0], TOOLS[0]], "find_item"),
    ([{**TOOLS[1], "description": ""}], "buy_item"),
])
def test_bad_tool_folder_is_one_line_naming_the_tool_and_exit_2(tmp_path, tools, message):
    folder = _tools_folder(tmp_path, tools)
    result = runner.invoke(app, ["generate", str(_recipe(tmp_path, folder)),
                                 "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_the_judge_reads_the_tools_and_the_conversation_on_the_tool_dialogue_rubric(tmp_path):
    judged = []

    def respond(request):
        if request.json_schema and "tool_use" in json.dumps(request.json_schema):
            judged.append(request.messages[-1]["content"])
            return json.dumps({"coherence": 4, "naturalness": 3, "tool_use": 5})
        return responder()(request)

    folder = _tools_folder(tmp_path)
    path = _recipe(tmp_path, folder, n=1)
    path.write_text(path.read_text() + "  - {type: judge.pointwise, action: score}\n")
    run_recipe(load_recipe(path), tmp_path / "out", backend=ScriptedBackend(respond))
    (record,) = read_jsonl(tmp_path / "out" / "data.jsonl")
    assert judged and "Tools offered:" in judged[0] and "assistant calls" in judged[0]
    assert record.verdict("judge").detail["scores"] == {"coherence": 4, "naturalness": 3,
                                                        "tool_use": 5}


def test_a_relative_tool_folder_is_read_from_the_recipe_folder(tmp_path, monkeypatch):
    _tools_folder(tmp_path)
    path = _recipe(tmp_path, "tools")
    monkeypatch.chdir("/")
    recipe = load_recipe(path)
    assert recipe.steps[0].tools == str((tmp_path / "tools").resolve())


def test_decoding_schemas_drop_length_pattern_and_format_and_cap_arrays():
    schema = {"type": "object", "properties": {
        "code": {"type": "string", "maxLength": 400, "pattern": "^[A-Z]+$"},
        "day": {"type": "string", "format": "date"},
        "rows": {"type": "array", "items": {"type": "string", "minLength": 2}},
        "pair": {"type": "array", "minItems": 5, "items": {"type": "integer"}}}}
    simple = grammar_schema(schema)
    text = json.dumps(simple)
    assert "maxLength" not in text and "pattern" not in text and "format" not in text
    assert simple["properties"]["rows"]["maxItems"] == 3
    assert simple["properties"]["pair"]["maxItems"] == 5  # minItems wins
    assert schema["properties"]["code"]["maxLength"] == 400  # the original is untouched
    plan = plan_schema(["a_tool", "b_tool"])
    items = plan["properties"]["turns"]["items"]["properties"]
    assert items["tools"]["items"] == {"enum": ["a_tool", "b_tool"]}


@pytest.mark.parametrize("text, call", [
    ('{"name": "pay_bill", "arguments": {"amount": 5}}', True),
    ('```json\n{"status": "ok"}\n```', True),
    ("<tool_call>{}</tool_call>", True),
    ("Your payment of 5 euros went through.", False),
])
def test_a_reply_in_json_or_a_written_out_call_is_not_words(text, call):
    assert looks_like_call(text) is call


@pytest.mark.parametrize("text, words", [
    ("Person: The item is in your cart.", "The item is in your cart."),
    ("Assistant: Person: Done.\nAssistant: Person: I need the minimum price.", "Done."),
    ("**User:** Can you book it?", "Can you book it?"),
    ("It costs $123.\nResult of find_product: {}", "It costs $123."),
    ("Paid.\nAssistant called pay_bill({})", "Paid."),
    ("Your appointment: Monday 9:00.", "Your appointment: Monday 9:00."),
    ("Person:", ""),
    ('"Thank you, I will update the booking."', "Thank you, I will update the booking."),
])
def test_spoken_text_keeps_one_speakers_words(text, words):
    assert spoken_text(text) == words


def test_the_user_agents_echo_of_its_instruction_is_removed():
    assert user_text("Person: Can you find a mug? The message asks for this.") == \
        "Can you find a mug?"


@pytest.mark.parametrize("repeats, kept", [(1, True), (2, False)])
def test_a_user_message_sent_before_is_asked_again_once(tmp_path, repeats, kept):
    base = responder()
    state = {"asked": 0}

    def respond(request):
        if request.messages[0]["content"].startswith("You write the messages that a person"):
            if "say thanks" in request.messages[-1]["content"]:
                state["asked"] += 1
                if state["asked"] <= repeats:
                    return "Could you help me, please?"  # the first turn's message again
        return base(request)

    records, rejected, _ = _run(tmp_path, respond, n=1)
    users = [m["content"] for r in records for m in r.outputs["messages"]
             if m["role"] == "user"]
    if kept:
        assert users == ["Could you help me, please?", "Thanks a lot!"]
    else:
        assert "Thanks a lot!" not in users
        reasons = [r.rejected.reason for r in rejected] + [
            str(o) for r in records for o in r.provenance.operators]
        assert any("repeated an earlier message" in x for x in reasons)


def test_a_reply_written_as_json_is_asked_again_then_fails_the_turn(tmp_path):
    base = responder()

    def respond(request):
        if request.messages[0]["content"] == REPLY_SYSTEM or (
                request.messages[-1]["role"] == "tool"):
            return '{"name": "find_item", "arguments": {"query": "mug"}}'
        return base(request)

    records, rejected, _ = _run(tmp_path, respond, n=1)
    assert not records and "not words" in rejected[0].rejected.reason


def test_the_reply_prompt_writes_the_calls_and_results_out_as_text():
    from synthloom.operators.tools.agents import reply_messages

    history = [{"role": "user", "content": "Find me a blue mug."},
               {"role": "assistant", "content": "", "tool_calls": [
                   {"id": "c1", "type": "function",
                    "function": {"name": "find_item", "arguments": '{"query": "blue mug"}'}}]},
               {"role": "tool", "tool_call_id": "c1", "name": "find_item",
                "content": '{"item_id": "it-1", "price": 4.5}'}]
    system, user = reply_messages(history)
    assert system["content"] == REPLY_SYSTEM and user["role"] == "user"
    text = user["content"]
    assert "Person: Find me a blue mug." in text
    assert 'Assistant called find_item({"query": "blue mug"})' in text
    assert 'Result of find_item: {"item_id": "it-1", "price": 4.5}' in text
