"""Unit tests of the OpenAI-compatible HTTP backend against a scripted local server,
and (tools, raw completions) against an httpx MockTransport."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from synthloom.llm.base import (
    BackendError,
    ChatBackend,
    ChatRequest,
    ChatResponse,
    CompletionBackend,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.openai_http import OpenAIHTTPBackend, parse_retry_after
from tests.unit.scripted import TOOL

# A script maps (0-based arrival index, request body) to (status, headers, body, delay_s).
Reply = tuple[int, dict[str, str], Any, float]
Script = Callable[[int, dict[str, Any]], Reply]


def ok(text: str = "hello", tokens_in: int = 7, tokens_out: int = 3, delay: float = 0.0) -> Reply:
    """A successful chat-completion reply."""
    return (
        200,
        {},
        {
            "id": "x",
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out},
        },
        delay,
    )


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 answering POSTs from a script."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.times: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.props: dict[str, Any] | None = None  # GET /props answer (llama.cpp's server)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                found = self.path == "/props" and outer.props is not None
                data = json.dumps(outer.props if found else {"error": "not found"}).encode()
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    index = len(outer.bodies)
                    outer.bodies.append(body)
                    outer.headers.append(dict(self.headers))
                    outer.paths.append(self.path)
                    outer.times.append(time.monotonic())
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                counted = True
                try:
                    status, headers, payload, delay = outer.script(index, body)
                    if delay:
                        time.sleep(delay)
                    # no longer in flight once the answer starts: the client may send its
                    # next request as soon as it has read this one, before this thread runs
                    # again (under load that made max_in_flight exceed the client's bound)
                    with outer._lock:
                        outer.in_flight -= 1
                        counted = False
                    data = (
                        payload.encode()
                        if isinstance(payload, str)
                        else json.dumps(payload).encode()
                    )
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    if counted:
                        with outer._lock:
                            outer.in_flight -= 1

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def backend(server_url: str, **kwargs: Any) -> OpenAIHTTPBackend:
    defaults: dict[str, Any] = {
        "model": "test-model",
        "api_key": "sk-test",
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 2.0,
        "timeout_seconds": 5.0,
    }
    defaults.update(kwargs)
    return OpenAIHTTPBackend(server_url, **defaults)


def req(text: str = "hi", **kwargs: Any) -> ChatRequest:
    return ChatRequest(messages=({"role": "user", "content": text},), **kwargs)


SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


def test_happy_path_counts_usage(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: ok(text=f"answer {i}", tokens_in=10, tokens_out=4))
    b = backend(server.base_url)
    assert isinstance(b, ChatBackend) and isinstance(b, CompletionBackend)
    assert b.identity.backend == "openai_http"
    assert b.identity.model == "test-model"
    assert b.identity.endpoint == server.base_url

    results = b.chat([req("a"), req("b")])

    assert all(isinstance(r, ChatResponse) for r in results)
    assert {r.text for r in results} == {"answer 0", "answer 1"}
    first = results[0]
    assert isinstance(first, ChatResponse)
    assert (first.tokens_in, first.tokens_out, first.finish_reason) == (10, 4, "stop")
    assert first.seconds > 0
    assert b.usage.as_dict()["calls"] == 2
    assert b.usage.tokens_in == 20
    assert b.usage.tokens_out == 8
    assert b.usage.errors == 0
    assert server.paths == ["/v1/chat/completions"] * 2
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    assert b.chat([]) == []
    b.close()


def test_sampling_values_sent_explicitly(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: ok())
    b = backend(server.base_url)
    sampling = SamplingParams(temperature=0.0, top_p=0.5, max_tokens=33, seed=42, stop=("\n\n",))

    b.chat([req("x", sampling=sampling), req("y")])

    # the two requests run concurrently: tell them apart by content, not arrival order
    by_content = {body["messages"][0]["content"]: body for body in server.bodies}
    explicit, defaults = by_content["x"], by_content["y"]
    assert explicit["model"] == "test-model"
    assert explicit["messages"] == [{"role": "user", "content": "x"}]
    assert explicit["temperature"] == 0.0
    assert explicit["top_p"] == 0.5
    assert explicit["max_tokens"] == 33
    assert explicit["seed"] == 42
    assert explicit["stop"] == ["\n\n"]
    assert "response_format" not in explicit
    # Defaults are still sent explicitly; seed/stop omitted when unset.
    assert (defaults["temperature"], defaults["top_p"], defaults["max_tokens"]) == (
        0.7,
        0.95,
        256,
    )
    assert "seed" not in defaults
    assert "stop" not in defaults


def test_api_key_falls_back_to_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    assert OpenAIHTTPBackend("http://x/v1", "m").api_key == "from-env"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert OpenAIHTTPBackend("http://x/v1", "m").api_key == "none"


def test_429_retry_after_honoured(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        if i == 0:
            return 429, {"Retry-After": "1"}, {"error": "slow down"}, 0.0
        return ok(text="finally")

    server = serve(script)
    b = backend(server.base_url, backoff_base_seconds=0.001)

    [result] = b.chat([req()])

    assert isinstance(result, ChatResponse)
    assert result.text == "finally"
    assert len(server.times) == 2
    gap = server.times[1] - server.times[0]
    assert 0.9 <= gap < 2.0  # Retry-After: 1 used instead of the ~1 ms backoff
    assert result.seconds < 0.9  # only the successful attempt is timed
    assert b.usage.calls == 1
    assert b.usage.errors == 0
    assert b.usage.retries == 1
    assert b.usage.as_dict()["retries"] == 1


def test_500_exhausts_retries(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: (500, {}, {"error": "boom"}, 0.0))
    b = backend(server.base_url, max_retries=2)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    message = str(result)
    assert f"{server.base_url}/chat/completions" in message
    assert "HTTP 500" in message
    assert "after 3 attempts" in message
    assert len(server.bodies) == 3
    assert b.usage.errors == 1
    assert b.usage.calls == 0
    assert b.usage.retries == 2  # the last failed attempt is not retried


def test_4xx_is_not_retried(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: (401, {}, {"error": "bad key"}, 0.0))
    b = backend(server.base_url, max_retries=3)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    assert server.base_url in str(result)
    assert "HTTP 401" in str(result)
    assert len(server.bodies) == 1
    assert b.usage.errors == 1
    assert b.usage.retries == 0


def test_unreachable_server_names_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    b = backend(url, max_retries=1)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    assert f"{url}/chat/completions" in str(result)
    assert "after 2 attempts" in str(result)
    assert b.usage.errors == 1
    assert b.usage.retries == 1


def test_auto_dialect_falls_back_and_remembers(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        fmt = body.get("response_format")
        if fmt and fmt["type"] == "json_schema":
            return 500, {}, {"error": "json_schema not supported"}, 0.0
        return ok(text='{"label": "x"}')

    server = serve(script)
    b = backend(server.base_url, max_retries=0)  # the switch must not count as a retry
    assert b.dialect == "json_schema"

    [first] = b.chat([req(json_schema=SCHEMA)])

    assert isinstance(first, ChatResponse)
    assert first.text == '{"label": "x"}'
    assert [body["response_format"]["type"] for body in server.bodies] == [
        "json_schema",
        "json_object",
    ]
    assert server.bodies[0]["response_format"]["json_schema"] == {
        "name": "response",
        "schema": SCHEMA,
        "strict": True,
    }
    assert server.bodies[1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert b.dialect == "json_object"

    [second] = b.chat([req(json_schema=SCHEMA)])

    assert isinstance(second, ChatResponse)
    assert len(server.bodies) == 3
    assert server.bodies[2]["response_format"]["type"] == "json_object"
    assert b.usage.calls == 2
    assert b.usage.errors == 0
    assert b.usage.retries == 0  # a dialect switch is not a retry


def test_a_passing_500_does_not_switch_the_auto_dialect(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        if i == 0:
            return 500, {}, {"error": "out of memory, try again"}, 0.0
        return ok(text='{"label": "x"}')

    server = serve(script)
    b = backend(server.base_url, max_retries=2)
    [answer] = b.chat([req(json_schema=SCHEMA)])
    assert isinstance(answer, ChatResponse)
    assert [body["response_format"]["type"] for body in server.bodies] == ["json_schema"] * 2
    assert b.dialect == "json_schema" and b.usage.retries == 1


def test_explicit_json_schema_dialect_does_not_fall_back(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(lambda i, body: (500, {}, {"error": "nope"}, 0.0))
    b = backend(server.base_url, schema_dialect="json_schema", max_retries=1)

    [result] = b.chat([req(json_schema=SCHEMA)])

    assert isinstance(result, BackendError)
    assert [body["response_format"]["type"] for body in server.bodies] == ["json_schema"] * 2
    assert b.dialect == "json_schema"


def test_concurrency_bound_and_order(serve: Callable[[Script], ScriptedServer]) -> None:
    def script(i: int, body: dict[str, Any]) -> Reply:
        content = body["messages"][0]["content"]
        # Earlier requests sleep longer so answers arrive out of order.
        delay = 0.05 + 0.02 * (12 - int(content))
        return ok(text=f"echo {content}", delay=delay)

    server = serve(script)
    b = backend(server.base_url, max_concurrency=3)

    results = b.chat([req(str(n)) for n in range(12)])

    assert [r.text for r in results if isinstance(r, ChatResponse)] == [
        f"echo {n}" for n in range(12)
    ]
    assert server.max_in_flight <= 3
    assert server.max_in_flight >= 2  # requests did run concurrently
    assert b.usage.calls == 12


def test_chat_inside_running_event_loop(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: ok(text="from loop"))
    b = backend(server.base_url)

    async def caller() -> list[ChatResponse | BackendError]:
        return b.chat([req()])

    [result] = asyncio.run(caller())

    assert isinstance(result, ChatResponse)
    assert result.text == "from loop"


def test_chat_from_worker_thread(serve: Callable[[Script], ScriptedServer]) -> None:
    server = serve(lambda i, body: ok(text="from thread"))
    b = backend(server.base_url)
    out: list[Any] = []

    thread = threading.Thread(target=lambda: out.extend(b.chat([req()])))
    thread.start()
    thread.join(timeout=10)

    assert isinstance(out[0], ChatResponse)
    assert out[0].text == "from thread"


def test_body_that_is_not_json_is_retried_then_fails(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(lambda i, body: (200, {}, "not json", 0.0))
    b = backend(server.base_url, max_retries=1)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    message = str(result)
    assert message.startswith(f"{server.base_url}/chat/completions: malformed response")
    assert "JSONDecodeError" in message and "not json" in message
    assert message.endswith("after 2 attempts")
    assert len(server.bodies) == 2
    assert (b.usage.retries, b.usage.errors, b.usage.calls) == (1, 1, 0)


def test_json_of_the_wrong_shape_is_not_retried(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    server = serve(lambda i, body: (200, {}, {"choices": []}, 0.0))
    b = backend(server.base_url, max_retries=3)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    assert f"{server.base_url}/chat/completions: malformed response (IndexError" in str(result)
    assert len(server.bodies) == 1
    assert (b.usage.retries, b.usage.errors) == (0, 1)


def test_error_messages_are_one_line(serve: Callable[[Script], ScriptedServer]) -> None:
    page = "<html>\n<body>\n  <h1>502 Bad Gateway</h1>\n</body>\n</html>\n"
    server = serve(lambda i, body: (502, {"Content-Type": "text/html"}, page, 0.0))
    b = backend(server.base_url, max_retries=1)

    [result] = b.chat([req()])

    assert isinstance(result, BackendError)
    assert "\n" not in str(result)
    assert "HTTP 502: <html> <body> <h1>502 Bad Gateway</h1>" in str(result)


def test_parse_retry_after() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-1") == 0.0
    later = format_datetime(datetime(2024, 1, 1, 12, 0, 5, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(5.0)
    earlier = format_datetime(datetime(2024, 1, 1, 11, 0, 0, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(earlier, now=now) == 0.0


def test_retry_after_capped_at_backoff_max() -> None:
    b = OpenAIHTTPBackend("http://x/v1", "m", backoff_base_seconds=1.0, backoff_max_seconds=4.0)
    assert b._backoff(0, 100.0) == 4.0
    assert b._backoff(0, 0.5) == 0.5
    for attempt in range(8):
        assert 0.0 <= b._backoff(attempt, None) <= min(4.0, 2.0**attempt)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        OpenAIHTTPBackend("http://x/v1", "m", max_concurrency=0)
    with pytest.raises(ValueError):
        OpenAIHTTPBackend("http://x/v1", "m", max_retries=-1)
    with pytest.raises(ValueError):
        OpenAIHTTPBackend("http://x/v1", "m", schema_dialect="xml")  # type: ignore[arg-type]


# ------------------------------------------- tools and raw completions (MockTransport)

CALL = {
    "id": "call_abc",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
}


class Recorder:
    """An httpx MockTransport handler: records (path, body) and answers from a script."""

    def __init__(self, answer: Callable[[int, str, dict[str, Any]], httpx.Response]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append((request.url.path, body))
        return self.answer(len(self.calls) - 1, request.url.path, body)


def mocked(answer, **kwargs: Any) -> tuple[OpenAIHTTPBackend, Recorder]:
    recorder = Recorder(answer)
    b = backend("http://mock.test/v1", transport=httpx.MockTransport(recorder), **kwargs)
    return b, recorder


def chat_reply(message: dict[str, Any], finish_reason: str = "stop") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 50, "completion_tokens": 9},
        },
    )


def completion_reply(text: str, finish_reason: str = "length") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "object": "text_completion",
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5},
        },
    )


def test_tools_and_tool_messages_are_sent_as_given() -> None:
    b, rec = mocked(lambda i, path, body: chat_reply({"role": "assistant", "content": "sunny"}))
    messages = (
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "sunny, 21 C"},
    )
    choice = {"type": "function", "function": {"name": "get_weather"}}
    request = ChatRequest(messages=messages, tools=(TOOL,), tool_choice=choice)

    [result] = b.chat([request])

    assert isinstance(result, ChatResponse) and result.text == "sunny"
    assert result.tool_calls is None and (result.tokens_in, result.tokens_out) == (50, 9)
    [(path, body)] = rec.calls
    assert path == "/v1/chat/completions"
    assert body["messages"] == [dict(m) for m in messages]
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == choice
    assert "response_format" not in body


def test_no_tools_no_tool_fields_in_body() -> None:
    b, rec = mocked(lambda i, path, body: chat_reply({"role": "assistant", "content": "x"}))
    b.chat([req("plain")])
    body = rec.calls[0][1]
    assert "tools" not in body and "tool_choice" not in body
    assert set(body) == {"model", "messages", "temperature", "top_p", "max_tokens"}


def test_tool_calls_parsed_from_message() -> None:
    b, _ = mocked(
        lambda i, path, body: chat_reply(
            {"role": "assistant", "content": None, "tool_calls": [CALL]}, "tool_calls"
        )
    )

    [result] = b.chat([req("weather in Paris?", tools=(TOOL,))])

    assert isinstance(result, ChatResponse)
    assert result.tool_calls == [CALL]
    assert result.text == "" and result.finish_reason == "tool_calls"


def test_tool_call_text_parsed_when_server_returns_plain_content() -> None:
    """llama-cpp-python's server returns Qwen's <tool_call> text as content."""
    content = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    b, _ = mocked(lambda i, path, body: chat_reply({"role": "assistant", "content": content}))

    [with_tools] = b.chat([req("weather?", tools=(TOOL,))])
    [no_tools] = b.chat([req("weather?")])
    [choice_none] = b.chat([req("weather?", tools=(TOOL,), tool_choice="none")])

    assert isinstance(with_tools, ChatResponse)
    assert with_tools.tool_calls == [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    assert with_tools.text == "" and with_tools.finish_reason == "tool_calls"
    # without tools offered, or with tool_choice "none", the text is left as it is
    for plain in (no_tools, choice_none):
        assert isinstance(plain, ChatResponse)
        assert plain.tool_calls is None and plain.text == content
        assert plain.finish_reason == "stop"


def test_malformed_tool_calls_is_backend_error() -> None:
    b, _ = mocked(
        lambda i, path, body: chat_reply({"role": "assistant", "content": "", "tool_calls": 7})
    )
    [result] = b.chat([req("x", tools=(TOOL,))])
    assert isinstance(result, BackendError) and "malformed" in str(result)


def test_completion_endpoint_body_and_response() -> None:
    b, rec = mocked(lambda i, path, body: completion_reply(" What is the capital of Peru?"))
    sampling = SamplingParams(
        temperature=1.0, top_p=0.9, max_tokens=24, seed=3, stop=("<|im_end|>",)
    )
    prompt = "<|im_start|>user\n"

    [result] = b.complete([CompletionRequest(prompt=prompt, sampling=sampling)])

    assert isinstance(result, ChatResponse)
    assert result.text == " What is the capital of Peru?"
    assert (result.tokens_in, result.tokens_out, result.finish_reason) == (12, 5, "length")
    assert result.tool_calls is None and result.seconds > 0
    [(path, body)] = rec.calls
    assert path == "/v1/completions"
    assert body == {
        "model": "test-model",
        "prompt": prompt,
        "temperature": 1.0,
        "top_p": 0.9,
        "max_tokens": 24,
        "seed": 3,
        "stop": ["<|im_end|>"],
    }
    assert b.usage.calls == 1 and b.usage.tokens_out == 5
    assert b.completions_url == "http://mock.test/v1/completions"
    assert b.complete([]) == []


def test_completion_retries_like_chat() -> None:
    def answer(i: int, path: str, body: dict[str, Any]) -> httpx.Response:
        if i < 2:
            return httpx.Response(503, json={"error": "busy"})
        return completion_reply("done", "stop")

    b, rec = mocked(answer, max_retries=2)
    [result] = b.complete([CompletionRequest(prompt="p")])
    assert isinstance(result, ChatResponse) and result.text == "done"
    assert [path for path, _ in rec.calls] == ["/v1/completions"] * 3

    failing, rec2 = mocked(lambda i, p, body: httpx.Response(500, json={}), max_retries=1)
    [error] = failing.complete([CompletionRequest(prompt="p")])
    assert isinstance(error, BackendError)
    assert "http://mock.test/v1/completions: HTTP 500" in str(error)
    assert "after 2 attempts" in str(error)
    assert failing.usage.errors == 1 and len(rec2.calls) == 2


def test_completion_schema_uses_the_dialect_fallback() -> None:
    def answer(i: int, path: str, body: dict[str, Any]) -> httpx.Response:
        if body["response_format"]["type"] == "json_schema":
            return httpx.Response(400, json={"error": "unsupported"})
        return completion_reply('{"label": "x"}', "stop")

    b, rec = mocked(answer, max_retries=0)
    [result] = b.complete([CompletionRequest(prompt="p", json_schema=SCHEMA)])
    assert isinstance(result, ChatResponse) and result.text == '{"label": "x"}'
    assert [body["response_format"]["type"] for _, body in rec.calls] == [
        "json_schema",
        "json_object",
    ]
    assert rec.calls[1][1]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert b.dialect == "json_object"


def test_malformed_completion_is_backend_error() -> None:
    b, _ = mocked(lambda i, path, body: httpx.Response(200, json={"choices": []}))
    [result] = b.complete([CompletionRequest(prompt="p")])
    assert isinstance(result, BackendError)
    assert "/v1/completions: malformed response" in str(result)


def test_chat_and_completion_in_one_loop_from_a_running_event_loop() -> None:
    def answer(i: int, path: str, body: dict[str, Any]) -> httpx.Response:
        if path.endswith("/chat/completions"):
            return chat_reply({"role": "assistant", "content": "chat"})
        return completion_reply("raw")

    b, _ = mocked(answer)

    async def caller() -> tuple[list[Any], list[Any]]:
        return b.chat([req()]), b.complete([CompletionRequest(prompt="p")])

    chats, completions = asyncio.run(caller())
    assert chats[0].text == "chat" and completions[0].text == "raw"


def test_fewer_server_slots_than_concurrency_is_reported(
    serve: Callable[[Script], ScriptedServer], tmp_path
) -> None:
    """llama.cpp's server says how many parallel slots it has: with fewer than
    max_concurrency, make_backend warns and records the effective concurrency; the
    requests still all get answers."""
    import warnings

    from synthloom.pipeline.backends import make_backend
    from synthloom.pipeline.recipe import BackendConfig

    server = serve(lambda i, body: ok(f"answer {i}", delay=0.05))
    assert backend(server.base_url).server_slots() is None  # a server that does not say
    server.props = {"total_slots": 2}
    assert backend(server.base_url).server_slots() == 2
    config = BackendConfig(kind="openai_http", base_url=server.base_url, model="m",
                           max_concurrency=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cached = make_backend(config, tmp_path / "cache.sqlite")
    assert any("2 parallel slots" in str(w.message) and "effective concurrency 2"
               in str(w.message) for w in caught)
    assert cached.backend.effective_concurrency == 2
    answers = cached.chat([req(f"q{i}") for i in range(6)])
    assert sorted(a.text for a in answers) == sorted(f"answer {i}" for i in range(6))
    cached.close()


# ------------------------------------------- answers cut off in transit (raw sockets)

OK_BODY = json.dumps(ok(text="whole answer", tokens_in=5, tokens_out=2)[2]).encode()
HALF = OK_BODY[: len(OK_BODY) // 2]

# Each raw reply is what the server writes before it closes the connection (one request
# per connection): b"" drops the connection without an answer.
RAW_FAULTS = {
    # a 200 without Content-Length, closed half-way: the body ends at the close, legally
    "no_length_cut": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\n\r\n" + HALF,
    # Content-Length promises the whole body, the connection closes half-way
    "short_content_length": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(OK_BODY)}\r\n\r\n".encode() + HALF,
    # a chunked body that stops before its last chunk
    "chunked_cut": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(HALF):x}\r\n".encode() + HALF + b"\r\n",
    # headers only, then the close
    "headers_only": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(OK_BODY)}\r\n\r\n".encode(),
    # no answer at all
    "dropped": b"",
}
WHOLE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(OK_BODY)}\r\n".encode()
    + b"Connection: close\r\n\r\n"
    + OK_BODY
)


class RawServer:
    """A socket server on 127.0.0.1: reads one HTTP request per connection, writes the
    bytes ``script(index)`` gives (optionally after ``delay`` seconds) and closes."""

    def __init__(self, script: Callable[[int], tuple[bytes, float]]) -> None:
        self.script = script
        self.requests = 0
        self._lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self._lock:
                index = self.requests
                self.requests += 1
            reply, delay = self.script(index)
            if delay:
                time.sleep(delay)
            try:
                conn.sendall(reply)
            except OSError:
                pass  # the client gave up first

    def stop(self) -> None:
        self.sock.close()


@pytest.fixture
def raw_serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(script: Callable[[int], tuple[bytes, float]]) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.mark.parametrize("fault", sorted(RAW_FAULTS))
def test_answer_cut_off_in_transit_is_retried_and_counted(
    raw_serve: Callable[..., RawServer], fault: str
) -> None:
    server = raw_serve(lambda i: (RAW_FAULTS[fault] if i < 2 else WHOLE, 0.0))
    b = backend(server.base_url, max_retries=2)

    [result] = b.chat([req()])

    assert isinstance(result, ChatResponse), result
    assert result.text == "whole answer" and (result.tokens_in, result.tokens_out) == (5, 2)
    assert server.requests == 3
    assert (b.usage.calls, b.usage.retries, b.usage.errors) == (1, 2, 0)


def test_stall_past_the_timeout_is_retried_and_counted(
    raw_serve: Callable[..., RawServer],
) -> None:
    server = raw_serve(lambda i: (WHOLE, 1.5) if i == 0 else (WHOLE, 0.0))
    b = backend(server.base_url, timeout_seconds=0.3, max_retries=1)

    [result] = b.chat([req()])

    assert isinstance(result, ChatResponse) and result.text == "whole answer"
    assert server.requests == 2
    assert (b.usage.calls, b.usage.retries, b.usage.errors) == (1, 1, 0)

    stalled = raw_serve(lambda i: (WHOLE, 1.0))
    b = backend(stalled.base_url, timeout_seconds=0.2, max_retries=1)
    [error] = b.chat([req()])
    assert str(error) == (f"{stalled.base_url}/chat/completions: ReadTimeout: no answer "
                          "within 0.2 s after 2 attempts")


def test_answers_always_cut_off_end_with_a_clear_error(
    raw_serve: Callable[..., RawServer],
) -> None:
    server = raw_serve(lambda i: (RAW_FAULTS["no_length_cut"], 0.0))
    b = backend(server.base_url, max_retries=3)

    results = b.chat([req("a"), req("b")])

    assert all(isinstance(r, BackendError) for r in results)
    message = str(results[0])
    assert message.startswith(f"{server.base_url}/chat/completions: malformed response: ")
    assert "cut off" in message and "JSONDecodeError" in message
    assert message.endswith("after 4 attempts") and "\n" not in message
    assert server.requests == 8  # (1 + 3 retries) per request
    assert (b.usage.calls, b.usage.retries, b.usage.errors) == (0, 6, 2)
    assert b.usage.as_dict()["retries"] == 6


def test_truncated_completion_is_retried() -> None:
    whole = completion_reply("done", "stop").content
    answers = iter([httpx.Response(200, content=whole[: len(whole) // 2]),
                    httpx.Response(200, content=b"\xff\xfe garbled"),
                    completion_reply("done", "stop")])
    b, rec = mocked(lambda i, path, body: next(answers), max_retries=2)

    [result] = b.complete([CompletionRequest(prompt="p")])

    assert isinstance(result, ChatResponse) and result.text == "done"
    assert len(rec.calls) == 3
    assert (b.usage.calls, b.usage.retries, b.usage.errors) == (1, 2, 0)


def test_top_logprobs_are_asked_for_and_parsed() -> None:
    logprobs = {"content": [
        {"token": "No", "logprob": -0.1, "top_logprobs": [
            {"token": "No", "logprob": -0.1}, {"token": "Yes", "logprob": -2.4}]},
        {"token": ".", "logprob": -0.3, "top_logprobs": [{"token": ".", "logprob": -0.3}]},
    ]}
    b, rec = mocked(lambda i, path, body: httpx.Response(200, json={"choices": [
        {"index": 0, "message": {"role": "assistant", "content": "No."},
         "finish_reason": "stop", "logprobs": logprobs}]}))

    [asked, plain] = b.chat([ChatRequest(messages=({"role": "user", "content": "?"},),
                                         top_logprobs=2), req("?")])

    assert isinstance(asked, ChatResponse) and isinstance(plain, ChatResponse)
    assert asked.top_logprobs == [{"No": -0.1, "Yes": -2.4}, {".": -0.3}]
    assert plain.top_logprobs is None
    bodies = {json.dumps(body["messages"]): body for _, body in rec.calls}
    assert len(bodies) == 1  # same messages; tell the two requests apart by their fields
    assert sorted("logprobs" in body for _, body in rec.calls) == [False, True]
    assert [body.get("top_logprobs") for _, body in rec.calls if "logprobs" in body] == [2]
