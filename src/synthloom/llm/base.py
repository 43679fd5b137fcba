"""The chat-backend protocol every LLM backend speaks, and the values it exchanges.

A backend takes a batch of :class:`ChatRequest` and returns, in the same order, one
:class:`ChatResponse` or one :class:`BackendError` per request. Batches let an HTTP
backend run requests concurrently and an in-process backend run them in turn; the
caller's code is the same. Every sampling value is explicit (servers' defaults differ:
llama.cpp's server caps ``max_tokens`` at 16 unless told otherwise).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


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
        messages: OpenAI-style ``[{"role": "system"|"user"|"assistant", "content": str}]``.
        sampling: explicit sampling values.
        json_schema: if set, the answer is constrained to this JSON schema (llama.cpp
            grammar in-process; ``response_format`` over HTTP).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[dict[str, str], ...]
    sampling: SamplingParams = Field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None


class ChatResponse(BaseModel):
    """One answer.

    Attributes:
        text: the generated text (JSON text when a schema was given).
        tokens_in: prompt tokens.
        tokens_out: generated tokens.
        seconds: wall time of the call (0 when served from cache).
        finish_reason: ``"stop"`` or ``"length"`` (hit ``max_tokens``) or backend-specific.
        cached: True when served from the response cache without an LLM call.
    """

    model_config = ConfigDict(extra="forbid")

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False


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
    """Thread-safe counters of LLM calls, tokens and seconds spent in calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.tokens_in = 0
        self.tokens_out = 0
        self.seconds = 0.0
        self.errors = 0

    def add(self, response: ChatResponse) -> None:
        """Count one answered call."""
        with self._lock:
            self.calls += 1
            self.tokens_in += response.tokens_in
            self.tokens_out += response.tokens_out
            self.seconds += response.seconds

    def add_error(self) -> None:
        """Count one failed call."""
        with self._lock:
            self.errors += 1

    def as_dict(self) -> dict[str, float]:
        """``{"calls", "tokens_in", "tokens_out", "seconds", "errors"}``."""
        with self._lock:
            return {
                "calls": self.calls,
                "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out,
                "seconds": round(self.seconds, 3),
                "errors": self.errors,
            }


@runtime_checkable
class ChatBackend(Protocol):
    """The protocol of an LLM backend.

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
