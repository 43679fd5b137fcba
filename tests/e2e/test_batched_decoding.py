"""Batched decoding against the sequential path, on the real packaged models.

The batched llama.cpp decoder (``parallel`` sequences per ``llama_decode``) must answer
exactly as the sequential path does with one slot; with more slots, its answers must be
valid (schema-conforming JSON stays valid), the same on a second run with the same
requests, and a request that cannot fit must fail alone. Small models, few tokens: a few
seconds per test on 2 cores.
"""

from __future__ import annotations

import json
import math

import pytest

from synthloom.llm.base import (
    BackendError,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.llamacpp import LlamaCppBackend
from synthloom.llm.models import DEFAULT_MODEL
from tests.e2e.conftest import SMALL_MODEL

pytestmark = pytest.mark.e2e

SYSTEM = {"role": "system", "content": "You write one short sentence about what you are asked."}
TOPICS = ["football", "a new phone", "rain in spring", "a bakery", "chess", "a train strike"]
LABEL_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["sport", "tech", "weather"]}},
    "required": ["label"],
}


def requests() -> list[ChatRequest]:
    """Greedy and sampled requests sharing a system prompt, and schema-constrained ones."""
    out = [
        ChatRequest(
            messages=(SYSTEM, {"role": "user", "content": f"Write about {topic}."}),
            sampling=SamplingParams(temperature=0.0 if i % 2 == 0 else 0.9, top_p=0.95,
                                    max_tokens=24, seed=i),
        )
        for i, topic in enumerate(TOPICS)
    ]
    out += [
        ChatRequest(
            messages=({"role": "user", "content": f"Label this text: {text}"},),
            sampling=SamplingParams(temperature=0.0, max_tokens=20, seed=1),
            json_schema=LABEL_SCHEMA,
        )
        for text in ("The striker scored twice.", "Heavy showers all week.")
    ]
    return out


def completion() -> CompletionRequest:
    return CompletionRequest(
        prompt="<|im_start|>user\n",
        sampling=SamplingParams(temperature=0.8, max_tokens=16, seed=3, stop=("<|im_end|>",)),
    )


@pytest.mark.parametrize("model", [SMALL_MODEL, DEFAULT_MODEL])
def test_one_slot_answers_exactly_as_the_sequential_path(model: str) -> None:
    # the default (0.5B) model answers a greedy, a sampled and a schema request of the set
    # (each path took about 35 s for all 8 on 2 cores); the small model answers all 8
    asked = requests() if model == SMALL_MODEL else [requests()[i] for i in (0, 1, 6)]
    sequential = LlamaCppBackend.embedded(model, parallel=1)
    batched = LlamaCppBackend.embedded(model, parallel=1, batched=True)
    try:
        a = sequential.chat(asked) + sequential.complete([completion()])
        b = batched.chat(asked) + batched.complete([completion()])
    finally:
        sequential.close()
        batched.close()
    assert [(r.text, r.finish_reason, r.tokens_in, r.tokens_out) for r in a] == [
        (r.text, r.finish_reason, r.tokens_in, r.tokens_out) for r in b
    ]


def test_many_slots_give_valid_answers_stable_for_the_same_requests() -> None:
    runs = []
    for _ in range(2):
        backend = LlamaCppBackend.embedded(SMALL_MODEL, parallel=4)
        try:
            runs.append(backend.chat(requests()))
            usage = backend.usage.as_dict()
        finally:
            backend.close()
        assert usage["calls"] == len(requests()) and usage["errors"] == 0
        # the shared system prompt is evaluated once, not once per request
        assert usage["prompt_tokens_evaluated"] < usage["tokens_in"]
    first, second = runs
    assert [r.text for r in first] == [r.text for r in second]
    for response in first[-2:]:
        assert json.loads(response.text)["label"] in {"sport", "tech", "weather"}
    assert all(r.text.strip() for r in first[:-2])
    assert all(r.tokens_out <= 24 for r in first)


def test_a_prompt_longer_than_the_context_fails_alone() -> None:
    backend = LlamaCppBackend.embedded(SMALL_MODEL, parallel=2, n_ctx=256)
    too_long = ChatRequest(
        messages=({"role": "user", "content": "word " * 400},),
        sampling=SamplingParams(temperature=0.0, max_tokens=8, seed=1),
    )
    try:
        out = backend.chat([requests()[0], too_long, requests()[2]])
        usage = backend.usage.as_dict()
    finally:
        backend.close()
    assert isinstance(out[1], BackendError)
    assert "exceed context window of 256" in str(out[1])
    assert not isinstance(out[0], BackendError) and out[0].text.strip()
    assert not isinstance(out[2], BackendError) and out[2].text.strip()
    assert usage["errors"] == 1 and usage["calls"] == 2


def test_a_long_prompt_and_max_tokens_are_cut_to_the_context_as_sequentially() -> None:
    """prompt + max_tokens beyond a sequence's window: generation stops at the window
    (finish ``length``), as llama-cpp-python does, in both paths."""
    request = ChatRequest(
        messages=({"role": "user", "content": "Count: " + "one two three " * 55},),
        sampling=SamplingParams(temperature=0.0, max_tokens=200, seed=1),
    )
    answers = []
    for batched in (False, True):
        backend = LlamaCppBackend.embedded(SMALL_MODEL, parallel=1, batched=batched, n_ctx=256)
        try:
            answers.append(backend.chat([request])[0])
        finally:
            backend.close()
    sequential, batched_answer = answers
    assert not isinstance(sequential, BackendError)
    assert (sequential.text, sequential.tokens_out) == (batched_answer.text,
                                                        batched_answer.tokens_out)
    assert sequential.tokens_in + sequential.tokens_out <= 256


def test_top_logprobs_are_a_distribution_that_names_the_answer() -> None:
    """With ``top_logprobs`` the answer carries, per generated token, that many tokens and
    their log probabilities, most likely first, summing to at most 1; greedy decoding
    emits the most likely one; the text equals the answer without logprobs; parallel=1
    gets them too (a one-slot decoder is made for them)."""
    backend = LlamaCppBackend.embedded(SMALL_MODEL, parallel=1)
    question = ChatRequest(
        messages=({"role": "user", "content": "Is the sky blue? Answer yes or no."},),
        sampling=SamplingParams(temperature=0.0, max_tokens=4), top_logprobs=5)
    try:
        with_logprobs, without = backend.chat(
            [question, question.model_copy(update={"top_logprobs": None})])
    finally:
        backend.close()
    assert isinstance(with_logprobs, ChatResponse) and isinstance(without, ChatResponse)
    assert with_logprobs.text == without.text and without.top_logprobs is None
    steps = with_logprobs.top_logprobs
    assert steps is not None and len(steps) == with_logprobs.tokens_out
    for step in steps:
        values = list(step.values())
        assert 1 <= len(values) <= 5 and values == sorted(values, reverse=True)
        assert all(v <= 0 for v in values) and sum(math.exp(v) for v in values) <= 1 + 1e-6
    assert with_logprobs.text.startswith(next(iter(steps[0])).strip())
