"""The chat-backend protocol every LLM backend speaks, and the values it exchanges.

A backend takes a batch of :class:`ChatRequest` and returns, in the same order, one
:class:`ChatResponse` or one :class:`BackendError` per request. Batches let an HTTP
backend run requests concurrently and an in-process backend run them in turn; the
caller's code is the same. Every sampling value is explicit (servers' defaults differ:
llama.cpp's server caps ``max_tokens`` at 16 unless told otherwise).

Chat messages follow the OpenAI chat format, tool calls included: an assistant message
may carry ``tool_calls`` and a ``{"role": "tool", "tool_call_id": ..., "content": ...}``
message answers one; :attr:`ChatRequest.tools` offers function tools to the model.

Backends that also implement :class:`CompletionBackend` take raw-completion requests
(:class:`CompletionRequest`: a prompt string continued as is, no chat template applied),
which Magpie-style generation needs (Xu et al. 2024, "Magpie: Alignment Data Synthesis
from Scratch by Prompting Aligned LLMs with Nothing", arXiv 2406.08464).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SamplingParams(BaseModel):
    """Sampling values sent with every request.

    Attributes:
        temperature: softmax temperature (0 = greedy).
        top_p: nucleus mass in (0, 1].
        max_tokens: cap on generated tokens.
        seed: sampler seed; part of the cache key, so a different seed is a new answer.
        stop: stop strings.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1)
    seed: int | None = None
    stop: tuple[str, ...] = ()


class ChatRequest(BaseModel):
    """One chat-completion request.

    Attributes:
        messages: OpenAI-style chat messages, in order:
            ``{"role": "system"|"user"|"assistant", "content": str}``; an assistant
            message may instead (or also) carry ``"tool_calls": [{"id": str, "type":
            "function", "function": {"name": str, "arguments": <JSON text>}}]`` with
            ``"content": None``; a tool result is ``{"role": "tool", "tool_call_id": str,
            "content": str}``.
        sampling: explicit sampling values.
        json_schema: if set, the answer is constrained to this JSON schema (llama.cpp
            grammar in-process; ``response_format`` over HTTP).
        tools: OpenAI function tool specs offered to the model, ``({"type": "function",
            "function": {"name": str, "description": str, "parameters": <JSON schema>}},
            ...)``; None offers none. The chat template renders them into the prompt.
        tool_choice: OpenAI ``tool_choice``: ``"auto"``, ``"none"``, ``"required"`` or
            ``{"type": "function", "function": {"name": str}}`` (forces that tool; the
            in-process backend then constrains the arguments to its ``parameters``
            schema). None leaves it to the backend (``"auto"`` when tools are given).
        top_logprobs: if set (1-20), the answer carries, for each generated token, the
            ``top_logprobs`` most likely tokens and their natural-log probabilities under
            the model's raw distribution (before temperature, top-p or a grammar), as
            OpenAI's ``logprobs``/``top_logprobs``. Teacher labelling reads label
            probabilities from them. None asks for none.

    ``tools``, ``tool_choice`` and ``top_logprobs`` are left out of the cache key while
    None, so requests without them keep the keys they had before these fields existed.

    Raises:
        pydantic.ValidationError: ``tool_choice`` without ``tools``, or a
            ``tool_choice`` naming a function that is not in ``tools``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[dict[str, Any], ...]
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    tool_choice: str | dict[str, Any] | None = None
    top_logprobs: int | None = Field(default=None, ge=1, le=20)

    @model_validator(mode="after")
    def _tool_choice_names_a_tool(self) -> ChatRequest:
        if self.tool_choice is None:
            return self
        if not self.tools:
            raise ValueError("tool_choice is set but no tools are given")
        if isinstance(self.tool_choice, dict):
            name = (self.tool_choice.get("function") or {}).get("name")
            names = [(t.get("function") or {}).get("name") for t in self.tools]
            if name not in names:
                raise ValueError(f"tool_choice names {name!r}, not one of the tools {names}")
        return self


class CompletionRequest(BaseModel):
    """One raw-completion request: ``prompt`` is continued as is, no chat template applied.

    Magpie (arXiv 2406.08464) sends an aligned model only its chat template's
    pre-query prefix (see :func:`synthloom.llm.templates.pre_query_template`) and lets
    it write the user turn. Special tokens in ``prompt`` (``<|im_start|>``...) are
    parsed as special tokens by llama.cpp (in-process and llama-cpp-python's server).

    Attributes:
        prompt: the text to continue.
        sampling: explicit sampling values (add the template's end-of-turn marker, e.g.
            ``"<|im_end|>"``, to ``stop`` to stop at the end of the generated turn).
        json_schema: if set, the continuation is constrained to this JSON schema
            (llama.cpp grammar in-process; ``response_format`` over HTTP, which
            llama-cpp-python's server ignores on ``/completions``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None


class ChatResponse(BaseModel):
    """One answer.

    Attributes:
        text: the generated text (JSON text when a schema was given).
        tokens_in: prompt tokens.
        tokens_out: generated tokens.
        seconds: wall time of the call (0 when served from cache).
        finish_reason: ``"stop"``, ``"length"`` (hit ``max_tokens``), ``"tool_calls"``
            or backend-specific.
        cached: True when served from the response cache without an LLM call.
        tool_calls: the tool calls the model made, OpenAI format ``[{"id": str, "type":
            "function", "function": {"name": str, "arguments": <JSON text>}}]``; None
            when it made none (and always for raw completions). ``text`` then holds
            whatever content came with them (often ``""``).
        top_logprobs: when the request asked for them and the backend gives them, one
            ``{token text: natural-log probability}`` per generated token, most likely
            first; None otherwise (a backend without logprobs leaves it None).
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False
    tool_calls: list[dict[str, Any]] | None = None
    top_logprobs: list[dict[str, float]] | None = None


class BackendError(Exception):
    """A request that failed after the backend's retries (unreachable server, HTTP error...).

    The message names what failed (for HTTP: the URL and the last status or error).
    """


class BackendIdentity(BaseModel):
    """What produced an answer: recorded in every synthetic record's provenance.

    Attributes:
        backend: ``"llamacpp"`` or ``"openai_http"`` (or ``"scripted"`` in unit tests).
        model: model name (embedded-model name or the server's model id).
        model_sha256: sha256 of the weights file when known (always for embedded models).
        endpoint: base URL for HTTP backends.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str
    model: str
    model_sha256: str | None = None
    endpoint: str | None = None


class TokenUsage:
    """Thread-safe counters of LLM calls, tokens and seconds spent in calls.

    ``tokens_in`` counts prompt tokens sent; ``prompt_tokens_evaluated`` those the model
    actually evaluated (fewer when a shared prefix's KV cache was reused), known only
    when every call reported it (the batched llama.cpp decoder does), else None.
    ``seconds`` sums each call's latency; calls decoded together overlap, so it can
    exceed wall time. ``errors`` counts requests that failed for good (after any
    retries); ``retries`` counts failed attempts that were tried again (an HTTP
    backend's 429, 5xx, network error, timeout or cut-off answer), so a request answered
    at its third attempt adds 2 retries and 1 call.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.seconds = 0.0
        self.errors = 0
        self.retries = 0
        self.prompt_tokens_evaluated: int | None = 0

    def add(self, response: ChatResponse, evaluated: int | None = None) -> None:
        """Count one answered call (``evaluated``: prompt tokens it evaluated, if known)."""
        with self._lock:
            self.calls += 1
            self.tokens_in += response.tokens_in
            self.tokens_out += response.tokens_out
            self.seconds += response.seconds
            if evaluated is None or self.prompt_tokens_evaluated is None:
                self.prompt_tokens_evaluated = None
            else:
                self.prompt_tokens_evaluated += evaluated

    def add_error(self) -> None:
        """Count one failed call."""
        with self._lock:
            self.errors += 1

    def add_retry(self) -> None:
        """Count one failed attempt that is about to be tried again."""
        with self._lock:
            self.retries += 1

    def as_dict(self) -> dict[str, float]:
        """``{"calls", "tokens_in", "tokens_out", "seconds", "errors", "retries",
        "prompt_tokens_evaluated"}``."""
        with self._lock:
            return {
                "calls": self.calls,
                "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out,
                "seconds": round(self.seconds, 3),
                "errors": self.errors,
                "retries": self.retries,
                "prompt_tokens_evaluated": self.prompt_tokens_evaluated,
            }


@runtime_checkable
class ChatBackend(Protocol):
    """The protocol of an LLM backend.

    Every backend answers chat requests with :meth:`chat`. Backends that can also
    continue raw text (the in-process llama.cpp backend, the OpenAI HTTP backend's
    ``/completions``, the cache wrapper and the unit tests' scripted backend) implement
    :class:`CompletionBackend`, whose ``complete(requests)`` takes
    :class:`CompletionRequest` and returns results exactly as :meth:`chat` does.

    Attributes:
        identity: what this backend is (recorded in provenance and in cache keys).
        usage: counters of real LLM calls made (cache hits are not counted here).
    """

    identity: BackendIdentity
    usage: TokenUsage

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer each request; the i-th result belongs to the i-th request.

        A request that fails after retries yields a :class:`BackendError` in its slot;
        the call itself raises only on programming errors.
        """
        ...

    def close(self) -> None:
        """Release the model or connections."""
        ...


@runtime_checkable
class CompletionBackend(ChatBackend, Protocol):
    """A :class:`ChatBackend` that also continues raw prompts (no chat template)."""

    def complete(
        self, requests: Sequence[CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        """Continue each prompt; the i-th result belongs to the i-th request.

        Results are as for :meth:`ChatBackend.chat` (``tool_calls`` is always None): a
        request that fails after retries yields a :class:`BackendError` in its slot.
        """
        ...
