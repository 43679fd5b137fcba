"""Structured output: JSON-schema constrained requests, validated with pydantic after decoding.

Constrained decoding keeps every token valid but does not guarantee the JSON is
finished (``max_tokens`` may cut it) nor that the values are sensible, so every
answer is validated; an invalid answer is retried with a new sampler seed (a new
cache key), then reported as a failure with its reason. Nothing here raises on a bad
model answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from synthloom.llm.base import BackendError, ChatBackend, ChatRequest, ChatResponse

T = TypeVar("T", bound=BaseModel)


@dataclass
class StructuredResult(Generic[T]):
    """The outcome of one structured request.

    Attributes:
        value: the validated answer, or None when every attempt failed.
        error: why the last attempt failed (None on success).
        attempts: how many answers were requested (1 = first answer was valid).
        responses: every raw answer received, in order (for token accounting).
    """

    value: T | None = None
    error: str | None = None
    attempts: int = 0
    responses: list[ChatResponse] = field(default_factory=list)


def schema_of(model: type[BaseModel]) -> dict:
    """The JSON schema of a pydantic model, as sent to the backend."""
    return model.model_json_schema()


def _with_seed(request: ChatRequest, attempt: int) -> ChatRequest:
    if attempt == 0:
        return request
    base = request.sampling.seed or 0
    sampling = request.sampling.model_copy(update={"seed": base + 1_000_003 * attempt})
    return request.model_copy(update={"sampling": sampling})


def _parse_json(model: type[T]) -> Callable[[ChatResponse], tuple[T | None, str | None]]:
    def parse(response: ChatResponse) -> tuple[T | None, str | None]:
        try:
            return model.model_validate_json(response.text), None
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
            cut = " (cut off at max_tokens)" if response.finish_reason == "length" else ""
            return None, f"invalid answer{cut}: {where}: {first.get('msg')}"

    return parse


def chat_validated(
    backend: ChatBackend,
    requests: Sequence[ChatRequest],
    parse: Callable[[ChatResponse], tuple[T | None, str | None]],
    *,
    max_attempts: int = 3,
) -> list[StructuredResult[T]]:
    """Ask each request for an answer that ``parse`` accepts; retry rejected answers.

    Args:
        backend: any :class:`~synthloom.llm.base.ChatBackend` (cached or not).
        requests: the requests, sent as they are (retries change only the sampler seed).
        parse: maps an answer to ``(value, None)`` or ``(None, reason)``.
        max_attempts: answers requested per request before giving up (>= 1).

    Returns:
        One :class:`StructuredResult` per request, in order. Rejected answers are
        reported in ``error``, never raised.

    Raises:
        BackendError: the backend failed a request after its own retries (unreachable
            server...). Answers already received are in the cache if the backend has one.
    """
    results = [StructuredResult[T]() for _ in requests]
    pending = list(range(len(requests)))
    for attempt in range(max_attempts):
        if not pending:
            break
        answers = backend.chat([_with_seed(requests[i], attempt) for i in pending])
        still = []
        for i, answer in zip(pending, answers, strict=True):
            result = results[i]
            result.attempts = attempt + 1
            if isinstance(answer, BackendError):
                raise answer  # the backend already retried; stop the run, keep what is done
            result.responses.append(answer)
            value, error = parse(answer)
            if value is None:
                result.error = error
                still.append(i)
            else:
                result.value, result.error = value, None
        pending = still
    return results


def chat_structured(
    backend: ChatBackend,
    requests: Sequence[ChatRequest],
    model: type[T],
    *,
    max_attempts: int = 3,
) -> list[StructuredResult[T]]:
    """Ask each request for an answer matching ``model``'s JSON schema; retry invalid answers.

    The schema constrains decoding (llama.cpp grammar, or ``response_format`` over HTTP)
    and the answer is validated with pydantic afterwards. Same returns as
    :func:`chat_validated`.
    """
    schema = schema_of(model)
    requests = [r.model_copy(update={"json_schema": schema}) for r in requests]
    return chat_validated(backend, requests, _parse_json(model), max_attempts=max_attempts)
