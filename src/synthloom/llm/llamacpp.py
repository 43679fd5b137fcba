"""In-process llama.cpp backend (llama-cpp-python) for the embedded GGUF models.

JSON-schema constrained output uses llama.cpp's grammar sampler: the schema is
compiled to a GBNF grammar (``response_format={"type": "json_object", "schema": S}``),
so every decoded token keeps the answer valid; finishing the JSON is not guaranteed,
so callers cap string lengths and leave ``max_tokens`` room.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    TokenUsage,
)
from synthloom.llm.models import file_sha256, get_model, resolve_model_path


class LlamaCppBackend:
    """A GGUF model run in this process by llama.cpp.

    Requests are answered one at a time (llama.cpp holds one context); a lock makes
    the backend safe to share between threads. llama.cpp reuses the KV cache of the
    longest common prompt prefix between consecutive requests, so prompts that share
    a system message decode faster.

    Args:
        model_path: path of a GGUF file.
        model_name: name recorded in provenance (defaults to the file name).
        model_sha256: sha256 of the file (computed if not given).
        n_ctx: context window in tokens.
        n_threads: CPU threads for decoding (default: 2, the reference machine's cores).
        chat_format: llama-cpp-python chat format; None uses the GGUF's own template.

    Raises:
        ImportError: llama-cpp-python is not installed.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        model_name: str | None = None,
        model_sha256: str | None = None,
        n_ctx: int = 2048,
        n_threads: int = 2,
        chat_format: str | None = None,
    ) -> None:
        from llama_cpp import Llama

        path = Path(model_path)
        self.identity = BackendIdentity(
            backend="llamacpp",
            model=model_name or path.name,
            model_sha256=model_sha256 or file_sha256(path),
        )
        self.usage = TokenUsage()
        self.preferred_batch = 1
        self._lock = threading.Lock()
        self._llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            chat_format=chat_format,
            verbose=False,
        )

    @classmethod
    def embedded(cls, name: str, **kwargs) -> LlamaCppBackend:
        """Load embedded model ``name`` (see ``synthloom models``), sha256-verified.

        Raises:
            UserInputError: unknown model, not installed, or sha256 mismatch.
        """
        model = get_model(name)
        path = resolve_model_path(name)
        kwargs.setdefault("chat_format", model.chat_format)
        return cls(path, model_name=name, model_sha256=model.sha256, **kwargs)

    def _one(self, request: ChatRequest) -> ChatResponse:
        s = request.sampling
        kwargs: dict = {
            "messages": [dict(m) for m in request.messages],
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop) or None,
        }
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        start = time.perf_counter()
        out = self._llm.create_chat_completion(**kwargs)
        seconds = time.perf_counter() - start
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatResponse(
            text=choice["message"].get("content") or "",
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer each request in turn; a request llama.cpp fails on yields a BackendError."""
        results: list[ChatResponse | BackendError] = []
        with self._lock:
            for request in requests:
                try:
                    response = self._one(request)
                except (ValueError, RuntimeError) as e:  # e.g. prompt longer than n_ctx
                    self.usage.add_error()
                    results.append(BackendError(f"llama.cpp {self.identity.model}: {e}"))
                    continue
                self.usage.add(response)
                results.append(response)
        return results

    def raw_decode_rate(
        self, prompt: str = "Write a short news story.", tokens: int = 128
    ) -> float:  # noqa: E501
        """Decode speed in tokens/second of a plain completion, without grammar or pipeline.

        Used by the benchmark as the denominator of pipeline efficiency.
        """
        with self._lock:
            start = time.perf_counter()
            out = self._llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                temperature=0.7,
                top_p=0.95,
                max_tokens=tokens,
                seed=1,
            )
            seconds = time.perf_counter() - start
        return out["usage"]["completion_tokens"] / seconds

    def close(self) -> None:
        """Free the model."""
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()
