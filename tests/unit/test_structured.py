"""Tests for synthloom.llm.structured: validation, retries with new seeds, error reporting."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from synthloom.llm.base import BackendError, ChatRequest, ChatResponse, SamplingParams
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.llm.structured import chat_structured, chat_validated, schema_of
from tests.unit.scripted import ScriptedBackend


class Label(BaseModel):
    label: Literal["sport", "tech"]
    confidence: float = 1.0


def req(text: str = "classify", seed: int | None = 5) -> ChatRequest:
    return ChatRequest(
        messages=({"role": "user", "content": text},),
        sampling=SamplingParams(temperature=0.0, max_tokens=64, seed=seed),
    )


def by_attempt(*answers):
    """A respond function giving ``answers[k]`` to the k-th request for the same prompt."""
    seen: dict[str, int] = {}

    def respond(request: ChatRequest):
        text = request.messages[-1]["content"]
        k = seen.get(text, 0)
        seen[text] = k + 1
        answer = answers[min(k, len(answers) - 1)]
        return answer(request) if callable(answer) else answer

    return respond


# --------------------------------------------------------------- chat_structured


def test_valid_first_answer() -> None:
    backend = ScriptedBackend(lambda r: '{"label": "sport", "confidence": 0.5}')
    (result,) = chat_structured(backend, [req()], Label)
    assert result.value == Label(label="sport", confidence=0.5)
    assert result.error is None
    assert result.attempts == 1
    assert len(result.responses) == 1
    assert len(backend.requests) == 1
    assert backend.requests[0].sampling.seed == 5  # the first attempt is sent as given


def test_invalid_json_then_valid_retries_with_new_seed() -> None:
    backend = ScriptedBackend(by_attempt('{"label": "spo', '{"label": "tech"}'))
    (result,) = chat_structured(backend, [req()], Label)
    assert result.value == Label(label="tech")
    assert result.error is None
    assert result.attempts == 2
    assert [r.text for r in result.responses] == ['{"label": "spo', '{"label": "tech"}']
    first, second = backend.requests
    assert second.sampling.seed != first.sampling.seed
    # only the seed changes between attempts
    assert second.messages == first.messages
    assert second.json_schema == first.json_schema
    assert second.sampling.model_copy(update={"seed": 5}) == first.sampling


def test_retry_seed_set_when_request_has_no_seed() -> None:
    backend = ScriptedBackend(by_attempt("nope", '{"label": "tech"}'))
    (result,) = chat_structured(backend, [req(seed=None)], Label)
    assert result.attempts == 2 and result.value is not None
    assert backend.requests[0].sampling.seed is None
    assert backend.requests[1].sampling.seed is not None


def test_each_retry_uses_a_fresh_seed() -> None:
    backend = ScriptedBackend(lambda r: "not json")
    chat_structured(backend, [req()], Label, max_attempts=5)
    seeds = [r.sampling.seed for r in backend.requests]
    assert len(seeds) == 5
    assert len(set(seeds)) == 5


@pytest.mark.parametrize("max_attempts", [1, 2, 4])
def test_always_invalid_gives_up_with_reason(max_attempts: int) -> None:
    backend = ScriptedBackend(lambda r: "I think it is about sport.")
    (result,) = chat_structured(backend, [req()], Label, max_attempts=max_attempts)
    assert result.value is None
    assert result.attempts == max_attempts
    assert len(backend.requests) == max_attempts
    assert len(result.responses) == max_attempts
    assert result.error is not None
    assert "invalid answer" in result.error
    assert "json" in result.error.lower()


def test_wrong_value_error_names_the_field() -> None:
    backend = ScriptedBackend(lambda r: '{"label": "weather"}')
    (result,) = chat_structured(backend, [req()], Label, max_attempts=2)
    assert result.value is None
    assert result.error is not None
    assert "label" in result.error
    assert "sport" in result.error  # pydantic names the allowed values
    assert "cut off" not in result.error


def test_missing_field_error_names_the_field() -> None:
    backend = ScriptedBackend(lambda r: '{"confidence": 0.9}')
    (result,) = chat_structured(backend, [req()], Label, max_attempts=1)
    assert result.error is not None and "label" in result.error
    assert "required" in result.error.lower()


def test_cut_off_answer_says_so() -> None:
    backend = ScriptedBackend(lambda r: ChatResponse(text='{"label": "sp', finish_reason="length"))
    (result,) = chat_structured(backend, [req()], Label, max_attempts=2)
    assert result.value is None
    assert result.error is not None
    assert "cut off" in result.error
    assert "max_tokens" in result.error


def test_cut_off_then_complete() -> None:
    backend = ScriptedBackend(
        by_attempt(
            ChatResponse(text='{"label": "sp', finish_reason="length"),
            '{"label": "sport"}',
        )
    )
    (result,) = chat_structured(backend, [req()], Label)
    assert result.value == Label(label="sport")
    assert result.error is None
    assert result.attempts == 2
    assert [r.finish_reason for r in result.responses] == ["length", "stop"]


def test_backend_error_is_raised_not_retried() -> None:
    """A backend failure (after the backend's own retries) stops the run: it is raised,
    and the request is not sent again."""
    backend = ScriptedBackend(lambda r: BackendError("http://h/v1/chat/completions: 503"))
    with pytest.raises(BackendError, match="503"):
        chat_structured(backend, [req()], Label, max_attempts=3)
    assert len(backend.requests) == 1


def test_backend_error_on_retry_is_raised() -> None:
    backend = ScriptedBackend(by_attempt("garbage", BackendError("server gone")))
    with pytest.raises(BackendError, match="server gone"):
        chat_structured(backend, [req()], Label, max_attempts=3)
    assert len(backend.requests) == 2


def test_backend_error_keeps_finished_answers_in_cache(tmp_path: Path) -> None:
    """Answers received in the failing batch are cached, so a re-run does not ask again."""
    state = {"down": True}

    def respond(r: ChatRequest):
        if r.messages[-1]["content"] == "flaky" and state["down"]:
            return BackendError("down")
        return '{"label": "sport"}'

    inner = ScriptedBackend(respond, preferred_batch=8)
    backend = CachedBackend(inner, ResponseCache(tmp_path / "c.sqlite"))
    requests = [req("a"), req("flaky"), req("b")]
    with pytest.raises(BackendError):
        chat_structured(backend, requests, Label)
    assert len(inner.requests) == 3
    state["down"] = False
    results = chat_structured(backend, requests, Label)
    assert [r.value for r in results] == [Label(label="sport")] * 3
    assert [r.messages[-1]["content"] for r in inner.requests[3:]] == ["flaky"]
    backend.close()


def test_json_schema_set_on_every_request() -> None:
    backend = ScriptedBackend(by_attempt("bad", '{"label": "sport"}'))
    original = req()
    assert original.json_schema is None
    chat_structured(backend, [original, req("other")], Label)
    assert len(backend.requests) == 4  # each prompt: one bad answer, then a valid one
    assert all(r.json_schema == schema_of(Label) for r in backend.requests)
    assert backend.requests[0].json_schema["properties"]["label"]["enum"] == ["sport", "tech"]
    assert original.json_schema is None  # the caller's request is not modified


def test_results_in_request_order_with_mixed_outcomes() -> None:
    def respond(r: ChatRequest):
        text = r.messages[-1]["content"]
        seed = r.sampling.seed
        if text == "ok":
            return '{"label": "sport"}'
        if text == "retry":  # valid only on a retry seed
            return '{"label": "tech"}' if seed != 5 else "{"
        return "never valid"

    backend = ScriptedBackend(respond, preferred_batch=8)
    results = chat_structured(
        backend, [req("bad"), req("ok"), req("retry"), req("ok")], Label, max_attempts=3
    )
    assert [r.value.label if r.value else None for r in results] == [None, "sport", "tech", "sport"]
    assert [r.attempts for r in results] == [3, 1, 2, 1]
    assert results[0].error is not None and "invalid answer" in results[0].error
    assert [r.error for r in results[1:]] == [None, None, None]
    # retries are batched: one batch per attempt with only the pending requests
    assert backend.batches == [4, 2, 1]


def test_empty_request_list() -> None:
    backend = ScriptedBackend(lambda r: "{}")
    assert chat_structured(backend, [], Label) == []
    assert backend.batches == []


def test_retry_is_not_served_the_cached_bad_answer(tmp_path: Path) -> None:
    """Through the response cache, a retry is a new key (new seed), so it reaches the model;
    a re-run is served entirely from the cache."""
    inner = ScriptedBackend(by_attempt("bad", '{"label": "tech"}'))
    cache = ResponseCache(tmp_path / "c.sqlite")
    backend = CachedBackend(inner, cache)
    (result,) = chat_structured(backend, [req()], Label)
    assert result.value == Label(label="tech") and result.attempts == 2
    assert len(inner.requests) == 2

    (again,) = chat_structured(backend, [req()], Label)
    assert again.value == Label(label="tech") and again.attempts == 2
    assert len(inner.requests) == 2  # no new LLM call
    assert all(r.cached for r in again.responses)
    backend.close()


# ---------------------------------------------------------------- chat_validated


def test_chat_validated_custom_parser() -> None:
    def parse(response: ChatResponse):
        words = response.text.split()
        if len(words) > 3:
            return None, f"too long: {len(words)} words"
        return response.text.upper(), None

    backend = ScriptedBackend(by_attempt("one two three four five", "short text"))
    (result,) = chat_validated(backend, [req()], parse, max_attempts=3)
    assert result.value == "SHORT TEXT"
    assert result.attempts == 2
    assert result.error is None
    # chat_validated sends requests as they are: no schema added
    assert all(r.json_schema is None for r in backend.requests)


def test_chat_validated_gives_up_with_last_reason() -> None:
    reasons = iter(["first reason", "second reason"])

    def parse(response: ChatResponse):
        return None, next(reasons)

    backend = ScriptedBackend(lambda r: "x")
    (result,) = chat_validated(backend, [req()], parse, max_attempts=2)
    assert result.value is None
    assert result.error == "second reason"
    assert result.attempts == 2
