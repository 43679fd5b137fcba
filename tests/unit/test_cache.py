"""Tests for synthloom.llm.cache: keys, hits and misses, persistence, order, errors,
and raw completions and tool calls in the cache."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatBackend,
    ChatRequest,
    ChatResponse,
    CompletionBackend,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.cache import CachedBackend, ResponseCache, cache_key
from tests.unit.scripted import TOOL, ScriptedBackend

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


def req(text: str = "classify this", seed: int | None = 1, **kw) -> ChatRequest:
    return ChatRequest(
        messages=({"role": "user", "content": text},),
        sampling=SamplingParams(temperature=0.0, max_tokens=32, seed=seed),
        **kw,
    )


def echo(request: ChatRequest) -> str:
    """Answer with the prompt and the seed, so answers differ per request."""
    return f"answer to {request.messages[-1]['content']} seed {request.sampling.seed}"


@pytest.fixture
def cache(tmp_path: Path):
    c = ResponseCache(tmp_path / "sub" / "cache.sqlite")
    yield c
    c.close()


def cached(cache: ResponseCache, respond=echo, **kw) -> tuple[CachedBackend, ScriptedBackend]:
    inner = ScriptedBackend(respond, **kw)
    return CachedBackend(inner, cache), inner


# ------------------------------------------------------------ scripted backend


def test_scripted_backend_speaks_the_protocol() -> None:
    b = ScriptedBackend(echo, seconds=0.25)
    assert isinstance(b, ChatBackend)
    assert b.identity == BackendIdentity(backend="scripted", model="scripted-model")
    out = b.chat([req("one two three"), req("four")])
    assert [r.text for r in out] == ["answer to one two three seed 1", "answer to four seed 1"]
    assert b.requests == [req("one two three"), req("four")]
    assert b.usage.as_dict() == {
        "calls": 2,
        "tokens_in": 4,
        "tokens_out": 7 + 5,
        "seconds": 0.5,
        "errors": 0,
        "retries": 0,
        "prompt_tokens_evaluated": None,
    }
    b.close()
    assert b.closed


def test_scripted_backend_crash_after() -> None:
    b = ScriptedBackend(echo, fail_after=3)
    assert len(b.chat([req("a"), req("b")])) == 2
    with pytest.raises(RuntimeError, match="scripted crash"):
        b.chat([req("c"), req("d")])
    assert [r.messages[0]["content"] for r in b.requests] == ["a", "b", "c"]
    with pytest.raises(RuntimeError, match="scripted crash"):
        b.chat([req("e")])


def test_scripted_backend_errors_and_responses() -> None:
    def respond(r: ChatRequest):
        if "fail" in r.messages[0]["content"]:
            return BackendError("server down")
        return ChatResponse(text="cut", finish_reason="length", tokens_out=99)

    b = ScriptedBackend(respond)
    err, resp = b.chat([req("fail"), req("ok")])
    assert isinstance(err, BackendError) and str(err) == "server down"
    assert isinstance(resp, ChatResponse)
    assert (resp.text, resp.finish_reason, resp.tokens_out) == ("cut", "length", 1)
    assert b.usage.calls == 1 and b.usage.errors == 1


# ------------------------------------------------------------------ cache keys


def test_cache_key_is_deterministic() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    assert cache_key(ident, req()) == cache_key(ident, req())
    assert len(cache_key(ident, req())) == 64


@pytest.mark.parametrize(
    "other_ident, other_req",
    [
        ({}, {"seed": 2}),
        ({}, {"seed": None}),
        ({}, {"json_schema": SCHEMA}),
        ({}, {"text": "classify that"}),
        ({"model": "m2"}, {}),
        ({"backend": "openai_http"}, {}),
        ({"model_sha256": "ab" * 32}, {}),
        ({"endpoint": "http://h/v1"}, {}),
    ],
)
def test_cache_key_changes(other_ident: dict, other_req: dict) -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    key = cache_key(ident, req())
    assert cache_key(ident.model_copy(update=other_ident), req(**other_req)) != key


def test_cache_key_sampling_fields() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    base = req()
    for update in ({"temperature": 0.5}, {"top_p": 0.5}, {"max_tokens": 33}, {"stop": ("\n",)}):
        other = base.model_copy(update={"sampling": base.sampling.model_copy(update=update)})
        assert cache_key(ident, other) != cache_key(ident, base), update


def test_cache_key_schema_contents_matter() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    other = {**SCHEMA, "required": []}
    assert cache_key(ident, req(json_schema=SCHEMA)) != cache_key(ident, req(json_schema=other))


# --------------------------------------------------------------- hits, misses


def test_second_identical_request_is_a_hit(cache: ResponseCache) -> None:
    backend, inner = cached(cache)
    (first,) = backend.chat([req()])
    assert isinstance(first, ChatResponse)
    assert first.cached is False
    assert first.seconds > 0
    (second,) = backend.chat([req()])
    assert len(inner.requests) == 1  # not asked again
    assert isinstance(second, ChatResponse)
    assert second.cached is True
    assert second.seconds == 0.0
    assert second.text == first.text
    assert (second.tokens_in, second.tokens_out) == (first.tokens_in, first.tokens_out)
    assert (backend.hits, backend.misses) == (1, 1)
    assert len(cache) == 1
    # usage counts only real calls
    assert backend.usage is inner.usage
    assert backend.usage.calls == 1


@pytest.mark.parametrize(
    "variant",
    [
        req(seed=2),
        req(json_schema=SCHEMA),
        req("classify that"),
        ChatRequest(
            messages=(
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "classify this"},
            ),
            sampling=SamplingParams(temperature=0.0, max_tokens=32, seed=1),
        ),
    ],
    ids=["seed", "schema", "message", "extra-message"],
)
def test_different_request_is_a_miss(cache: ResponseCache, variant: ChatRequest) -> None:
    backend, inner = cached(cache)
    backend.chat([req()])
    (answer,) = backend.chat([variant])
    assert isinstance(answer, ChatResponse) and not answer.cached
    assert inner.requests == [req(), variant]
    assert (backend.hits, backend.misses) == (0, 2)


def test_different_model_identity_is_a_miss(cache: ResponseCache) -> None:
    a, a_inner = cached(cache, model="model-a")
    b, b_inner = cached(cache, respond=lambda r: "from b", model="model-b")
    a.chat([req()])
    (answer,) = b.chat([req()])
    assert isinstance(answer, ChatResponse)
    assert answer.text == "from b" and not answer.cached
    assert len(b_inner.requests) == 1
    # and the same identity over the same cache is a hit
    a2, a2_inner = cached(cache, respond=lambda r: "never", model="model-a")
    (hit,) = a2.chat([req()])
    assert isinstance(hit, ChatResponse) and hit.cached and hit.text.startswith("answer to")
    assert a2_inner.requests == []


def test_errors_are_not_cached(cache: ResponseCache) -> None:
    state = {"down": True}

    def flaky(request: ChatRequest):
        return BackendError("http://h/v1: 503") if state["down"] else "recovered"

    backend, inner = cached(cache, respond=flaky)
    (err,) = backend.chat([req()])
    assert isinstance(err, BackendError)
    assert len(cache) == 0
    (err2,) = backend.chat([req()])
    assert isinstance(err2, BackendError)
    assert len(inner.requests) == 2  # asked again, not served a cached failure
    state["down"] = False
    (ok,) = backend.chat([req()])
    assert isinstance(ok, ChatResponse) and ok.text == "recovered" and not ok.cached
    assert len(inner.requests) == 3
    (hit,) = backend.chat([req()])
    assert isinstance(hit, ChatResponse) and hit.cached and hit.text == "recovered"
    assert len(inner.requests) == 3
    assert (backend.hits, backend.misses) == (1, 3)


def test_nothing_cached_from_failed_http_answers(cache: ResponseCache) -> None:
    """The real HTTP backend behind the cache: a body cut off in transit, a 500 and a
    body that is not JSON are retried, and only the whole answer that follows is stored;
    a request that fails for good stores nothing and is asked again next time."""
    import json

    import httpx

    from synthloom.llm.openai_http import OpenAIHTTPBackend

    whole = json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": '{"label": "sport"}'}}]}).encode()
    state = {"healthy": False, "posts": 0}
    faults = [httpx.Response(200, content=whole[: len(whole) // 2]),
              httpx.Response(500, json={"error": "boom"}),
              httpx.Response(200, content=b"<html>oops</html>")]
    seen: dict[str, int] = {}

    def server(request: httpx.Request) -> httpx.Response:
        state["posts"] += 1
        if not state["healthy"]:
            return faults[(state["posts"] - 1) % len(faults)]
        text = json.loads(request.content)["messages"][0]["content"]
        seen[text] = seen.get(text, 0) + 1
        if seen[text] == 1:  # each request's first answer is cut off, the second whole
            return httpx.Response(200, content=whole[:-7])
        return httpx.Response(200, content=whole)

    http = OpenAIHTTPBackend("http://mock.test/v1", "m", max_retries=2,
                             backoff_base_seconds=0.0, transport=httpx.MockTransport(server))
    backend = CachedBackend(http, cache)

    (failed,) = backend.chat([req("a")])
    assert isinstance(failed, BackendError) and "after 3 attempts" in str(failed)
    assert len(cache) == 0 and state["posts"] == 3
    (again,) = backend.chat([req("a")])
    assert isinstance(again, BackendError) and state["posts"] == 6  # asked again
    assert len(cache) == 0

    state.update(healthy=True, posts=0)
    answers = backend.chat([req("a"), req("b")])
    assert all(isinstance(a, ChatResponse) and a.text == '{"label": "sport"}' for a in answers)
    assert len(cache) == 2
    stored = [cache.get(cache_key(http.identity, req(t))) for t in "ab"]
    assert all(s is not None and s.text == '{"label": "sport"}' for s in stored)
    assert (http.usage.calls, http.usage.errors) == (2, 2)
    assert http.usage.retries == 2 + 2 + 2  # 2 per failed request, 1 per cut-off answer


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    first_cache = ResponseCache(path)
    backend, _ = cached(first_cache)
    (original,) = backend.chat([req("x"), req("y")])[:1]
    backend.close()

    second_cache = ResponseCache(path)
    assert len(second_cache) == 2
    again, inner = cached(second_cache, respond=lambda r: "must not be called")
    answers = again.chat([req("y"), req("x")])
    assert inner.requests == []
    assert [a.text for a in answers] == ["answer to y seed 1", "answer to x seed 1"]
    assert all(a.cached and a.seconds == 0.0 for a in answers)
    assert answers[1].tokens_in == original.tokens_in
    second_cache.close()


def test_cache_survives_without_close(tmp_path: Path) -> None:
    """Answers are committed as they arrive: a second connection sees them at once."""
    path = tmp_path / "cache.sqlite"
    live = ResponseCache(path)
    backend, _ = cached(live)
    backend.chat([req("x")])
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
    other.close()
    live.close()


def test_get_put_direct(cache: ResponseCache) -> None:
    assert cache.get("nope") is None
    cache.put("k", ChatResponse(text="t", tokens_in=3, tokens_out=1, seconds=2.5))
    got = cache.get("k")
    assert got == ChatResponse(text="t", tokens_in=3, tokens_out=1, seconds=0.0, cached=True)
    cache.put("k", ChatResponse(text="t2"))  # replace
    assert cache.get("k").text == "t2"
    assert len(cache) == 1


# ------------------------------------------------------------------ ordering


@pytest.mark.parametrize("batch", [1, 2, 3, 16])
def test_order_kept_with_mixed_hits_and_misses(cache: ResponseCache, batch: int) -> None:
    backend, inner = cached(cache, preferred_batch=batch)
    texts = [f"q{i}" for i in range(8)]
    warm = [t for i, t in enumerate(texts) if i % 3 == 0]  # q0, q3, q6 cached
    backend.chat([req(t) for t in warm])
    inner.requests.clear()
    answers = backend.chat([req(t) for t in texts])
    assert [a.text for a in answers] == [f"answer to {t} seed 1" for t in texts]
    assert [a.cached for a in answers] == [t in warm for t in texts]
    assert [r.messages[0]["content"] for r in inner.requests] == [t for t in texts if t not in warm]
    assert all(n <= batch for n in inner.batches)
    assert (backend.hits, backend.misses) == (3, 3 + 5)


def test_order_kept_with_errors_in_between(cache: ResponseCache) -> None:
    def respond(r: ChatRequest):
        text = r.messages[0]["content"]
        return BackendError(f"failed {text}") if text.startswith("bad") else f"ok {text}"

    backend, _ = cached(cache, respond=respond, preferred_batch=4)
    backend.chat([req("a")])
    out = backend.chat([req("bad1"), req("a"), req("b"), req("bad2"), req("c")])
    assert [type(o).__name__ for o in out] == [
        "BackendError",
        "ChatResponse",
        "ChatResponse",
        "BackendError",
        "ChatResponse",
    ]
    assert str(out[0]) == "failed bad1" and str(out[3]) == "failed bad2"
    assert [o.text for o in out if isinstance(o, ChatResponse)] == ["ok a", "ok b", "ok c"]
    assert out[1].cached and not out[2].cached
    assert len(cache) == 3


def test_empty_batch(cache: ResponseCache) -> None:
    backend, inner = cached(cache)
    assert backend.chat([]) == []
    assert inner.batches == []
    assert (backend.hits, backend.misses) == (0, 0)


def test_answers_stored_before_a_crash(cache: ResponseCache) -> None:
    """Each chunk is stored as it returns: a crash later in the run keeps earlier answers."""
    backend, inner = cached(cache, fail_after=2, preferred_batch=1)
    with pytest.raises(RuntimeError, match="scripted crash"):
        backend.chat([req("a"), req("b"), req("c")])
    assert len(cache) == 2
    resumed, inner2 = cached(cache)
    answers = resumed.chat([req("a"), req("b"), req("c")])
    assert [a.cached for a in answers] == [True, True, False]
    assert [r.messages[0]["content"] for r in inner2.requests] == ["c"]


def test_close_closes_backend_and_cache(tmp_path: Path) -> None:
    c = ResponseCache(tmp_path / "c.sqlite")
    backend, inner = cached(c)
    backend.close()
    assert inner.closed
    with pytest.raises(sqlite3.ProgrammingError):
        len(c)


def test_preferred_batch_passed_through(cache: ResponseCache) -> None:
    backend, _ = cached(cache, preferred_batch=5)
    assert backend.preferred_batch == 5
    assert backend.identity == BackendIdentity(backend="scripted", model="scripted-model")


# ------------------------------------------- tools and raw completions in the cache

# Keys computed with the code before ChatRequest had tools/tool_choice (commit 5ad6691):
# a request that does not use them must keep its key, so existing caches stay valid.
PINNED_PLAIN_KEY = "d3b0bbef13d47bdcbcd161395cf341abb766fad71eb68dc17902135b4e8aa222"
PINNED_FULL_KEY = "7b3615c80a3b46c19c7292e4748860df3ed8620546c0ceccdeb094339932376c"



def test_cache_key_of_requests_without_tools_is_unchanged() -> None:
    assert cache_key(BackendIdentity(backend="scripted", model="m"), req()) == PINNED_PLAIN_KEY
    full = ChatRequest(
        messages=(
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "classify this"},
        ),
        sampling=SamplingParams(temperature=0.7, max_tokens=64, stop=("\n",)),
        json_schema=SCHEMA,
    )
    ident = BackendIdentity(
        backend="llamacpp",
        model="qwen2.5-coder-0.5b",
        model_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    )
    assert cache_key(ident, full) == PINNED_FULL_KEY


def test_cache_key_changes_with_tools_and_tool_choice() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    plain = cache_key(ident, req())
    with_tools = cache_key(ident, req(tools=(TOOL,)))
    auto = cache_key(ident, req(tools=(TOOL,), tool_choice="auto"))
    forced = cache_key(
        ident,
        req(tools=(TOOL,), tool_choice={"type": "function", "function": {"name": "get_weather"}}),
    )
    assert len({plain, with_tools, auto, forced}) == 4
    other_tool = {**TOOL, "function": {**TOOL["function"], "description": "Weather"}}
    assert cache_key(ident, req(tools=(other_tool,))) != with_tools


def test_cache_key_of_messages_with_tool_calls() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    call = {
        "id": "call_0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }

    def conversation(arguments: str) -> ChatRequest:
        tool_call = {**call, "function": {**call["function"], "arguments": arguments}}
        return req(tools=(TOOL,)).model_copy(
            update={
                "messages": (
                    {"role": "user", "content": "weather in Paris?"},
                    {"role": "assistant", "content": None, "tool_calls": [tool_call]},
                    {"role": "tool", "tool_call_id": "call_0", "content": "sunny, 21 C"},
                )
            }
        )

    assert cache_key(ident, conversation('{"city": "Paris"}')) == cache_key(
        ident, conversation('{"city": "Paris"}')
    )
    assert cache_key(ident, conversation('{"city": "Paris"}')) != cache_key(
        ident, conversation('{"city": "Rome"}')
    )


def creq(prompt: str = "classify this", seed: int | None = 1, **kw) -> CompletionRequest:
    return CompletionRequest(
        prompt=prompt, sampling=SamplingParams(temperature=0.0, max_tokens=32, seed=seed), **kw
    )


def test_completion_and_chat_keys_never_collide() -> None:
    ident = BackendIdentity(backend="scripted", model="m")
    assert cache_key(ident, creq("classify this")) != cache_key(ident, req("classify this"))
    assert cache_key(ident, creq()) == cache_key(ident, creq())
    assert cache_key(ident, creq()) != cache_key(ident, creq(seed=2))
    assert cache_key(ident, creq()) != cache_key(ident, creq(json_schema=SCHEMA))
    with pytest.raises(TypeError):
        cache_key(ident, "classify this")  # type: ignore[arg-type]


def kind_echo(request):
    """Answers that say which endpoint was asked."""
    if isinstance(request, CompletionRequest):
        return f"completion of {request.prompt}"
    return f"chat answer to {request.messages[-1]['content']}"


def test_completion_is_cached_apart_from_chat(cache: ResponseCache) -> None:
    backend, inner = cached(cache, respond=kind_echo)
    assert isinstance(backend, CompletionBackend) and isinstance(inner, CompletionBackend)
    (chat,) = backend.chat([req("same text")])
    (done,) = backend.complete([creq("same text")])
    assert isinstance(chat, ChatResponse) and isinstance(done, ChatResponse)
    assert chat.text == "chat answer to same text" and not chat.cached
    assert done.text == "completion of same text" and not done.cached
    assert done.tokens_in == 2 and done.tool_calls is None
    assert len(cache) == 2 and (backend.hits, backend.misses) == (0, 2)

    (again,) = backend.complete([creq("same text")])
    (chat_again,) = backend.chat([req("same text")])
    assert again.cached and again.text == "completion of same text" and again.seconds == 0.0
    assert chat_again.cached and chat_again.text == "chat answer to same text"
    assert len(inner.requests) == 2 and (backend.hits, backend.misses) == (2, 2)
    assert inner.usage.calls == 2


def test_completion_order_and_errors(cache: ResponseCache) -> None:
    def respond(request):
        if "bad" in request.prompt:
            return BackendError(f"failed {request.prompt}")
        return f"ok {request.prompt}"

    backend, inner = cached(cache, respond=respond, preferred_batch=2)
    backend.complete([creq("a")])
    out = backend.complete([creq("bad1"), creq("a"), creq("b")])
    assert isinstance(out[0], BackendError) and str(out[0]) == "failed bad1"
    assert [o.text for o in out[1:]] == ["ok a", "ok b"]
    assert [o.cached for o in out[1:]] == [True, False]
    assert [r.prompt for r in inner.requests] == ["a", "bad1", "b"]
    assert inner.usage.errors == 1
    assert backend.complete([]) == []


def test_tool_calls_survive_the_cache(cache: ResponseCache) -> None:
    calls = [
        {
            "id": "call_0",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ]
    backend, inner = cached(
        cache, respond=lambda r: ChatResponse(text="", tool_calls=calls, finish_reason="tool_calls")
    )
    request = req("weather in Paris?", tools=(TOOL,))
    (first,) = backend.chat([request])
    (second,) = backend.chat([request])
    assert second.cached and len(inner.requests) == 1
    assert second.tool_calls == first.tool_calls == calls
    assert second.finish_reason == "tool_calls"


def test_complete_needs_a_completion_backend(cache: ResponseCache) -> None:
    class ChatOnly:
        identity = BackendIdentity(backend="scripted", model="chat-only")
        usage = ScriptedBackend(echo).usage

        def chat(self, requests):
            return []

        def close(self) -> None:
            pass

    backend = CachedBackend(ChatOnly(), cache)
    with pytest.raises(AttributeError, match="no complete"):
        backend.complete([creq()])


def test_old_cache_rows_read_without_tool_calls(cache: ResponseCache) -> None:
    """Rows written before ChatResponse had tool_calls still load (tool_calls None)."""
    with cache._lock:
        cache._db.execute(
            "INSERT INTO responses (key, response) VALUES (?, ?)",
            (
                "old",
                '{"text": "t", "tokens_in": 1, "tokens_out": 1, "seconds": 0.5, '
                '"finish_reason": "stop", "cached": false}',
            ),
        )
    old = cache.get("old")
    assert old is not None and old.text == "t" and old.tool_calls is None and old.cached


def test_a_damaged_cache_file_is_set_aside_and_a_new_one_started(tmp_path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    with pytest.warns(RuntimeWarning, match="damaged response cache"):
        cache = ResponseCache(path)
    assert len(cache) == 0 and (tmp_path / "cache.sqlite.corrupt").exists()
    cache.close()


def test_a_row_damaged_inside_its_json_is_asked_again_and_left_out_of_totals(tmp_path):
    # hypothesis found it: a flipped byte inside one stored answer passes SQLite's
    # quick_check, then json_extract in totals() raised "malformed JSON"
    cache = ResponseCache(tmp_path / "c.sqlite")
    backend, scripted = cached(cache)
    backend.chat([req("one"), req("two")])
    cache._db.execute("UPDATE responses SET response = substr(response, 1, 10) "
                      "WHERE rowid = (SELECT MIN(rowid) FROM responses)")
    cache._db.commit()
    assert cache.totals()["calls"] == 1
    again = backend.chat([req("one"), req("two")])
    assert [r.text for r in again] == [echo(req("one")), echo(req("two"))]
    assert len(scripted.requests) == 3  # the damaged answer was asked again, once
    assert cache.totals()["calls"] == 2
