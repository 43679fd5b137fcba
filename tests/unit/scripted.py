"""A scripted, in-memory :class:`~synthloom.llm.base.ChatBackend` for unit tests (no LLM).

Usage::

    backend = ScriptedBackend(lambda req: '{"label": "sport"}')
    backend.chat([ChatRequest(messages=({"role": "user", "content": "hi"},))])
    backend.requests  # every request answered, in arrival order

``respond`` maps one request to its answer text, a :class:`ChatResponse` (to script
``finish_reason``, ``tool_calls`` etc.; its token counts are replaced by word counts) or
a :class:`BackendError` (returned in the request's slot, as a real backend does after
its retries). Token usage is counted in words: ``tokens_in`` = words in all message
contents (or in the prompt), ``tokens_out`` = words in the answer.

``complete(requests)`` answers raw :class:`CompletionRequest` the same way, with the same
``respond`` function (which tells the two apart by type), so the backend is a
:class:`~synthloom.llm.base.CompletionBackend`.

``fail_after=k`` simulates a crash: once ``k`` requests have been answered (responses
and errors alike), ``chat()`` raises ``RuntimeError("scripted crash")``. The request
that hits the crash is not recorded, so ``len(backend.requests)`` is always the number
of requests answered. Answers given earlier in the same batch are lost with the batch,
as they would be in a crashed process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    TokenUsage,
)

Respond = Callable[[ChatRequest | CompletionRequest], str | ChatResponse | BackendError]


def words_in(request: ChatRequest | CompletionRequest) -> int:
    """Words in all message contents (or the prompt) of ``request`` (scripted ``tokens_in``).

    A message without content (an assistant message carrying only ``tool_calls``)
    counts 0.
    """
    if isinstance(request, CompletionRequest):
        return len(request.prompt.split())
    return sum(len((m.get("content") or "").split()) for m in request.messages)


class ScriptedBackend:
    """A ChatBackend whose answers come from a Python function.

    Args:
        respond: request -> answer text, ChatResponse or BackendError.
        model: the model name in ``identity`` (part of cache keys).
        fail_after: raise ``RuntimeError("scripted crash")`` once this many requests were
            answered; None never crashes.
        seconds: the ``seconds`` reported per answer (non-zero so cache hits, which
            report 0, are distinguishable).
        preferred_batch: batch size a :class:`~synthloom.llm.cache.CachedBackend` uses.

    Attributes:
        requests: every request answered, chat and completion alike, in arrival order.
        batches: the size of each ``chat()``/``complete()`` call received (crashed calls
            included).
        closed: True once ``close()`` was called.
    """

    def __init__(
        self,
        respond: Respond,
        *,
        model: str = "scripted-model",
        fail_after: int | None = None,
        seconds: float = 0.001,
        preferred_batch: int = 1,
    ) -> None:
        self.respond = respond
        self.identity = BackendIdentity(backend="scripted", model=model)
        self.usage = TokenUsage()
        self.preferred_batch = preferred_batch
        self.fail_after = fail_after
        self.seconds = seconds
        self.requests: list[ChatRequest | CompletionRequest] = []
        self.batches: list[int] = []
        self.closed = False

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer each request in order with ``respond``; see the module docstring."""
        return self._answer(requests)

    def complete(
        self, requests: Sequence[CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        """Answer each raw completion in order with ``respond``, as :meth:`chat` does."""
        return self._answer(requests)

    def _answer(
        self, requests: Sequence[ChatRequest | CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        self.batches.append(len(requests))
        out: list[ChatResponse | BackendError] = []
        for request in requests:
            if self.fail_after is not None and len(self.requests) >= self.fail_after:
                raise RuntimeError("scripted crash")
            self.requests.append(request)
            answer = self.respond(request)
            if isinstance(answer, BackendError):
                self.usage.add_error()
                out.append(answer)
                continue
            if isinstance(answer, str):
                answer = ChatResponse(text=answer)
            answer = answer.model_copy(
                update={
                    "tokens_in": words_in(request),
                    "tokens_out": len(answer.text.split()),
                    "seconds": self.seconds,
                    "cached": False,
                }
            )
            self.usage.add(answer)
            out.append(answer)
        return out

    def close(self) -> None:
        """Mark the backend closed (nothing to release)."""
        self.closed = True


#: an OpenAI-style function tool spec shared by the LLM-layer tests
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
