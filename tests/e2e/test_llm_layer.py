"""The LLM layer's tools and raw completions on real models, through the response cache.

In-process: the embedded default model (Qwen2.5-Coder-0.5B-Instruct, whose chat
template supports tools). Over HTTP: a real ``python -m llama_cpp.server`` on 127.0.0.1
serving SmolLM2-135M (the ``llama_server`` fixture). Greedy decoding, few tokens: each
test takes a few seconds on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthloom.llm.base import (
    BackendError,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.llamacpp import LlamaCppBackend
from synthloom.llm.models import DEFAULT_MODEL
from synthloom.llm.openai_http import OpenAIHTTPBackend
from synthloom.llm.templates import (
    CHATML_END_OF_TURN,
    known_pre_query_template,
    pre_query_template,
)
from tests.e2e.conftest import SMALL_MODEL

pytestmark = pytest.mark.e2e

TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
FORCE = {"type": "function", "function": {"name": "get_weather"}}
ASK = {"role": "user", "content": "What is the weather in Paris? Use the get_weather tool."}
CONVERSATION = (
    {"role": "user", "content": "What is the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "content": "sunny, 21 degrees"},
)


def greedy(max_tokens: int, stop: tuple[str, ...] = ()) -> SamplingParams:
    return SamplingParams(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=1, stop=stop)


@pytest.fixture(scope="module")
def qwen():
    backend = LlamaCppBackend.embedded(DEFAULT_MODEL)
    yield backend
    backend.close()


@pytest.fixture()
def cached_qwen(qwen, tmp_path: Path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    yield CachedBackend(qwen, cache)
    cache.close()


@pytest.fixture()
def cached_server(llama_server, tmp_path: Path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    backend = OpenAIHTTPBackend(llama_server, SMALL_MODEL, max_concurrency=1, max_retries=1)
    yield CachedBackend(backend, cache)
    cache.close()


def answer_twice(backend: CachedBackend, call: str, request) -> ChatResponse:
    """Ask twice: the first answer comes from the model, the second from the cache."""
    calls = backend.usage.calls
    (first,) = getattr(backend, call)([request])
    assert isinstance(first, ChatResponse), first
    assert not first.cached and first.seconds > 0
    (second,) = getattr(backend, call)([request])
    assert isinstance(second, ChatResponse) and second.cached and second.seconds == 0.0
    assert (second.text, second.tool_calls) == (first.text, first.tool_calls)
    assert backend.usage.calls == calls + 1  # the repeat made no LLM call
    return first


def test_pre_query_template_rendered_from_the_gguf(qwen) -> None:
    """The rendered GGUF template agrees with the known ChatML prefix of Qwen2.5."""
    assert qwen.pre_query_template() == known_pre_query_template("qwen2.5")
    assert qwen.pre_query_template("Be brief.") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n"
    )


def test_raw_completion_from_chatml_prefix_in_process(cached_qwen) -> None:
    prefix = pre_query_template(cached_qwen)
    assert prefix.endswith("<|im_start|>user\n")
    request = CompletionRequest(prompt=prefix, sampling=greedy(16, (CHATML_END_OF_TURN,)))
    answer = answer_twice(cached_qwen, "complete", request)
    assert answer.text.strip() and answer.tokens_out > 0 and answer.tool_calls is None
    assert answer.tokens_in >= 20  # the prefix, system message included
    # the same text as a chat message is another request, with another key
    chat = ChatRequest(messages=({"role": "user", "content": prefix},), sampling=greedy(4))
    (other,) = cached_qwen.chat([chat])
    assert isinstance(other, ChatResponse) and not other.cached


def test_tool_call_in_process(cached_qwen) -> None:
    """``tool_choice`` left to the model ("auto"): Qwen2.5-Coder-0.5B, greedy, answers
    with the call's JSON (without the ``<tool_call>`` tags its template asks for), which
    the backend parses into ``tool_calls``."""
    request = ChatRequest(messages=(ASK,), tools=(TOOL,), sampling=greedy(48))
    answer = answer_twice(cached_qwen, "chat", request)
    assert answer.tool_calls, answer.text
    [call] = answer.tool_calls
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert "paris" in json.loads(call["function"]["arguments"])["city"].lower()
    assert answer.finish_reason == "tool_calls"


def test_forced_tool_choice_in_process(cached_qwen) -> None:
    """A named ``tool_choice``: llama-cpp-python constrains the arguments to the tool's
    parameters schema by grammar and returns the call itself."""
    request = ChatRequest(messages=(ASK,), tools=(TOOL,), tool_choice=FORCE, sampling=greedy(32))
    answer = answer_twice(cached_qwen, "chat", request)
    [call] = answer.tool_calls
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)


def test_tool_conversation_renders_in_process(qwen) -> None:
    """Assistant ``tool_calls`` and ``tool`` messages go through Qwen's template: the tool
    result reaches the prompt (prompt tokens grow) and the model answers without error."""
    asked = ChatRequest(messages=CONVERSATION[:1], tools=(TOOL,), sampling=greedy(8))
    full = ChatRequest(messages=CONVERSATION, tools=(TOOL,), sampling=greedy(8))
    short, answered = qwen.chat([asked, full])
    assert isinstance(short, ChatResponse) and isinstance(answered, ChatResponse)
    assert answered.tokens_in >= short.tokens_in + 25


def test_raw_completion_through_the_server(cached_server) -> None:
    prefix = pre_query_template(cached_server)  # known ChatML prefix of SmolLM2
    assert prefix.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    request = CompletionRequest(prompt=prefix, sampling=greedy(16, (CHATML_END_OF_TURN,)))
    answer = answer_twice(cached_server, "complete", request)
    assert answer.text.strip() and answer.tokens_out > 0
    assert answer.tokens_in >= 20


def test_tools_through_the_server(cached_server) -> None:
    """SmolLM2's template ignores tools; a named ``tool_choice`` still gets a call from
    llama-cpp-python's server (grammar-constrained), and a conversation with tool
    messages round-trips (assistant content "" here: SmolLM2's template concatenates
    ``content`` and cannot render None)."""
    forced = ChatRequest(messages=(ASK,), tools=(TOOL,), tool_choice=FORCE, sampling=greedy(32))
    answer = answer_twice(cached_server, "chat", forced)
    [call] = answer.tool_calls
    assert call["function"]["name"] == "get_weather"
    assert isinstance(json.loads(call["function"]["arguments"])["city"], str)

    messages = (CONVERSATION[0], {**CONVERSATION[1], "content": ""}, CONVERSATION[2])
    (reply,) = cached_server.chat(
        [ChatRequest(messages=messages, tools=(TOOL,), sampling=greedy(8))]
    )
    assert not isinstance(reply, BackendError), reply
