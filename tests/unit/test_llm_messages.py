"""Tests of chat messages with tools, raw-completion requests and the template helpers
(synthloom.llm.base and synthloom.llm.templates), with the scripted backend (no LLM)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthloom.llm.base import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.openai_http import OpenAIHTTPBackend
from synthloom.llm.templates import (
    CHATML_USER_PREFIX,
    chat_choice_fields,
    chatml_pre_query_template,
    known_pre_query_template,
    messages_for_template,
    parse_bare_tool_calls,
    parse_tool_call_tags,
    pre_query_template,
)
from tests.unit.scripted import TOOL, ScriptedBackend, words_in

USER = {"role": "user", "content": "What is the weather in Paris?"}
CALL = {
    "id": "call_0",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}
CONVERSATION = (
    USER,
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_0", "content": "sunny, 21 C"},
)


# ------------------------------------------------------------------ requests


def test_chat_request_carries_tools_and_tool_messages() -> None:
    r = ChatRequest(messages=CONVERSATION, tools=(TOOL,), tool_choice="auto")
    assert r.messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert r.messages[2]["role"] == "tool"
    assert r.tools == (TOOL,) and r.tool_choice == "auto"
    plain = ChatRequest(messages=(USER,))
    assert plain.tools is None and plain.tool_choice is None
    forced = ChatRequest(
        messages=(USER,),
        tools=(TOOL,),
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert forced.tool_choice["function"]["name"] == "get_weather"


def test_tool_choice_must_match_the_tools() -> None:
    with pytest.raises(ValidationError, match="no tools"):
        ChatRequest(messages=(USER,), tool_choice="auto")
    with pytest.raises(ValidationError, match="not one of the tools"):
        ChatRequest(
            messages=(USER,),
            tools=(TOOL,),
            tool_choice={"type": "function", "function": {"name": "send_mail"}},
        )
    with pytest.raises(ValidationError):
        ChatRequest(messages=(USER,), functions=[TOOL])  # extra fields stay forbidden


def test_completion_request() -> None:
    r = CompletionRequest(prompt="<|im_start|>user\n")
    assert r.sampling == SamplingParams() and r.json_schema is None
    with pytest.raises(ValidationError):
        CompletionRequest(prompt="p", messages=(USER,))
    with pytest.raises(ValidationError):
        CompletionRequest()  # type: ignore[call-arg]


def test_chat_response_tool_calls_default_and_round_trip() -> None:
    assert ChatResponse(text="x").tool_calls is None
    r = ChatResponse(text="", tool_calls=[CALL], finish_reason="tool_calls")
    assert ChatResponse.model_validate_json(r.model_dump_json()) == r


# --------------------------------------------------------- scripted backend


def test_scripted_backend_completes_with_the_same_respond() -> None:
    seen = []

    def respond(request):
        seen.append(type(request).__name__)
        if isinstance(request, CompletionRequest):
            return "How do magnets work?"
        return ChatResponse(text="", tool_calls=[CALL], finish_reason="tool_calls")

    b = ScriptedBackend(respond, seconds=0.5)
    [done] = b.complete([CompletionRequest(prompt="<|im_start|>user\n")])
    [chat] = b.chat([ChatRequest(messages=CONVERSATION, tools=(TOOL,))])
    assert seen == ["CompletionRequest", "ChatRequest"]
    assert done.text == "How do magnets work?" and done.tokens_out == 4 and done.seconds == 0.5
    assert chat.tool_calls == [CALL] and chat.finish_reason == "tool_calls"
    assert b.batches == [1, 1] and len(b.requests) == 2
    assert b.usage.calls == 2


def test_words_in_counts_prompts_and_skips_missing_content() -> None:
    assert words_in(CompletionRequest(prompt="one two three")) == 3
    # "What is the weather in Paris?" + None content + "sunny, 21 C"
    assert words_in(ChatRequest(messages=CONVERSATION)) == 6 + 0 + 3


# --------------------------------------------------------- tool-call parsing


def test_parse_tool_call_tags_qwen_format() -> None:
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    rest, calls = parse_tool_call_tags(text)
    assert rest == ""
    assert calls == [CALL]


def test_parse_tool_call_tags_several_and_surrounding_text() -> None:
    text = (
        "Let me check.\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
        '<tool_call>{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}</tool_call>'
        "\nDone."
    )
    rest, calls = parse_tool_call_tags(text)
    assert rest == "Let me check.\n\n\nDone."
    assert [c["id"] for c in calls] == ["call_0", "call_1"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"city": "Rome"},
    ]


def test_parse_tool_call_tags_unclosed_and_invalid() -> None:
    # cut off by max_tokens before the closing tag, but the JSON is complete
    rest, calls = parse_tool_call_tags('<tool_call>\n{"name": "f", "arguments": {}}')
    assert rest == "" and calls[0]["function"] == {"name": "f", "arguments": "{}"}
    # unfinished JSON, no name, or no block at all: nothing parsed, text untouched
    for text in (
        '<tool_call>\n{"name": "f", "argu',
        '<tool_call>{"arguments": {}}</tool_call>',
        "<tool_call>[1, 2]</tool_call>",
        "just words",
        "",
    ):
        assert parse_tool_call_tags(text) == (text, None)
    # non-ASCII arguments stay readable
    _, calls = parse_tool_call_tags('<tool_call>{"name": "f", "arguments": {"c": "Zürich"}}')
    assert calls[0]["function"]["arguments"] == '{"c": "Zürich"}'


def test_chat_choice_fields() -> None:
    with_tools = ChatRequest(messages=(USER,), tools=(TOOL,))
    tagged = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    got = chat_choice_fields(
        {"message": {"role": "assistant", "content": tagged}, "finish_reason": "stop"}, with_tools
    )
    assert got == {"text": "", "finish_reason": "tool_calls", "tool_calls": [CALL]}
    # a reply cut at max_tokens keeps "length"
    cut = chat_choice_fields(
        {"message": {"content": tagged}, "finish_reason": "length"}, with_tools
    )
    assert cut["finish_reason"] == "length" and cut["tool_calls"] == [CALL]
    # parsed tool_calls from the server are kept as they are
    server = chat_choice_fields(
        {"message": {"content": None, "tool_calls": [CALL]}, "finish_reason": "tool_calls"},
        with_tools,
    )
    assert server == {"text": "", "finish_reason": "tool_calls", "tool_calls": [CALL]}
    plain = chat_choice_fields({"message": {"content": "hi"}}, ChatRequest(messages=(USER,)))
    assert plain == {"text": "hi", "finish_reason": "stop", "tool_calls": None}
    with pytest.raises(KeyError):
        chat_choice_fields({"text": "raw"}, with_tools)


def test_messages_for_template() -> None:
    out = messages_for_template(CONVERSATION)
    assert out[0] == USER
    assert out[1]["content"] == ""
    assert out[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert out[2] == CONVERSATION[2]
    # the input is not modified
    assert CONVERSATION[1]["content"] is None
    assert CONVERSATION[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    # arguments that are not JSON are passed on as text
    bad = {**CALL, "function": {"name": "f", "arguments": "{not json"}}
    out = messages_for_template([{"role": "assistant", "tool_calls": [bad]}])
    assert out[0]["content"] == "" and out[0]["tool_calls"][0]["function"]["arguments"] == (
        "{not json"
    )


# ------------------------------------------------------- pre-query template


def test_chatml_pre_query_template() -> None:
    assert chatml_pre_query_template(None) == CHATML_USER_PREFIX == "<|im_start|>user\n"
    assert chatml_pre_query_template("Be brief.") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    )


def test_known_pre_query_template_by_model_name() -> None:
    qwen = known_pre_query_template("Qwen2.5-Coder-0.5B-Instruct")
    assert qwen == (
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
        "assistant.<|im_end|>\n<|im_start|>user\n"
    )
    assert known_pre_query_template("smollm2-135m", system="S") == (
        "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\n"
    )
    assert known_pre_query_template("smollm2-135m").startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM"
    )
    assert known_pre_query_template("llama-3-8b") is None


def test_pre_query_template_for_backends(tmp_path: Path) -> None:
    http = OpenAIHTTPBackend("http://127.0.0.1:1/v1", "qwen2.5-coder-0.5b")
    assert pre_query_template(http, system="S") == chatml_pre_query_template("S")

    class Rendering(ScriptedBackend):
        def pre_query_template(self, system: str | None = None) -> str:
            return f"[rendered {system}]"

    cache = ResponseCache(tmp_path / "c.sqlite")
    wrapped = CachedBackend(Rendering(lambda r: "x"), cache)
    assert pre_query_template(wrapped, "S") == "[rendered S]"
    unknown = CachedBackend(ScriptedBackend(lambda r: "x", model="mystery"), cache)
    with pytest.raises(ValueError, match="mystery"):
        pre_query_template(unknown)
    smol = ScriptedBackend(lambda r: "x", model="SmolLM2-135M-Instruct")
    assert pre_query_template(smol) == known_pre_query_template("smollm2")
    cache.close()


def test_parse_bare_tool_calls() -> None:
    names = ["get_weather"]
    bare = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    assert parse_bare_tool_calls(bare, names) == [CALL]
    two = parse_bare_tool_calls(f" {bare}\n{bare}\n", names)
    assert [c["id"] for c in two] == ["call_0", "call_1"]
    for text in (
        '{"name": "send_mail", "arguments": {}}',  # not an offered tool
        '{"label": "sport"}',  # an ordinary JSON answer
        f"Sure: {bare}",  # prose around it
        f"{bare}\n{{\"name\": \"get_weather\", \"",  # cut off
        "",
    ):
        assert parse_bare_tool_calls(text, names) is None, text


def test_chat_choice_fields_bare_json_only_for_offered_tools() -> None:
    bare = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
    with_tools = ChatRequest(messages=(USER,), tools=(TOOL,))
    got = chat_choice_fields({"message": {"content": bare}, "finish_reason": "stop"}, with_tools)
    assert got == {"text": "", "finish_reason": "tool_calls", "tool_calls": [CALL]}
    no_tools = ChatRequest(messages=(USER,))
    got = chat_choice_fields({"message": {"content": bare}}, no_tools)
    assert got == {"text": bare, "finish_reason": "stop", "tool_calls": None}
