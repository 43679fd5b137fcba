"""Persistent response cache: a re-run or a resumed run makes no LLM call already answered.

SQLite (WAL) file, one row per answer, keyed by the sha256 of everything that can
change an answer: backend, model, model file sha256, endpoint, messages, sampling
parameters (seed included), JSON schema and, when given, tools and tool choice. Raw
completions (:class:`~synthloom.llm.base.CompletionRequest`) share the table under keys
of their own. Answers are committed as soon as they arrive, so a ``kill -9`` loses at
most the call in flight. Errors are never cached.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatBackend,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    TokenUsage,
)
from synthloom.records import sha256_text, stable_json

# ChatRequest fields added after caches existed: left out of the key while None, so
# a request that does not use them keeps the key it always had.
_OMITTED_WHEN_NONE = ("tools", "tool_choice", "top_logprobs")


def cache_key(identity: BackendIdentity, request: ChatRequest | CompletionRequest) -> str:
    """Hex sha256 over backend identity and every field of the request.

    Chat requests hash ``{"backend", "model", "model_sha256", "endpoint", "request"}``
    with ``tools``, ``tool_choice`` and ``top_logprobs`` left out of ``"request"`` while
    None (the key of a request without them is the one it had before they existed). Raw
    completions hash the same identity with ``"kind": "completion"`` and ``"completion"`` instead of
    ``"request"``, so a completion never shares a key with a chat request, whatever
    their texts.

    Raises:
        TypeError: ``request`` is neither a ChatRequest nor a CompletionRequest.
    """
    payload: dict[str, Any] = {
        "backend": identity.backend,
        "model": identity.model,
        "model_sha256": identity.model_sha256,
        "endpoint": identity.endpoint,
    }
    if isinstance(request, ChatRequest):
        dumped = request.model_dump(mode="json")
        for name in _OMITTED_WHEN_NONE:
            if dumped.get(name) is None:
                dumped.pop(name, None)
        payload["request"] = dumped
    elif isinstance(request, CompletionRequest):
        payload["kind"] = "completion"
        payload["completion"] = request.model_dump(mode="json")
    else:
        raise TypeError(f"cannot key a {type(request).__name__}")
    return sha256_text(stable_json(payload))


class ResponseCache:
    """A SQLite table of answers, safe to share between threads.

    Args:
        path: the SQLite file (created with its folder if missing).
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as e:  # a damaged file: keep it aside, start afresh
            self._set_aside(e)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        try:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, "
                "response TEXT NOT NULL)")
            db.execute("SELECT COUNT(*) FROM responses").fetchone()
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside(self, error: Exception) -> None:
        """Rename a damaged cache file (and its WAL files) to ``*.corrupt``, with a warning:
        the answers in it are asked again."""
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                os.replace(part, part.with_name(part.name + ".corrupt"))
        warnings.warn(f"{self.path}: damaged response cache ({error}); moved to "
                      f"{self.path.name}.corrupt, its answers will be asked again",
                      RuntimeWarning, stacklevel=3)

    def get(self, key: str) -> ChatResponse | None:
        """The stored answer for ``key``, marked ``cached`` with 0 seconds, or None."""
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT response FROM responses WHERE key = ?", (key,)
                ).fetchone()
            except sqlite3.OperationalError as e:
                if "decode" not in str(e):
                    raise
                return None  # a row damaged into bytes that are not UTF-8: asked again
        if row is None:
            return None
        try:
            answer = ChatResponse.model_validate_json(row[0])
        except ValueError:  # a damaged row: asked again, and replaced by put()
            return None
        return answer.model_copy(update={"cached": True, "seconds": 0.0})

    def put(self, key: str, response: ChatResponse) -> None:
        """Store and commit one answer."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO responses (key, response) VALUES (?, ?)",
                (key, response.model_dump_json()),
            )
            self._db.commit()

    def totals(self) -> dict[str, float]:
        """What the stored answers cost when they were made, over every session that used
        this file: ``{"calls", "tokens_in", "tokens_out", "seconds"}``. Each answer is
        committed as it arrives, so unlike in-memory counters these survive a ``kill -9``.
        """
        with self._lock:
            # a damaged row (bytes flipped inside its JSON) is left out, not a crash
            row = self._db.execute(
                "SELECT COUNT(*), SUM(json_extract(response, '$.tokens_in')), "
                "SUM(json_extract(response, '$.tokens_out')), "
                "SUM(json_extract(response, '$.seconds')) FROM responses "
                "WHERE json_valid(response)"
            ).fetchone()
        calls, tokens_in, tokens_out, seconds = row
        return {"calls": calls, "tokens_in": int(tokens_in or 0),
                "tokens_out": int(tokens_out or 0), "seconds": round(seconds or 0.0, 3)}

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


R = TypeVar("R", ChatRequest, CompletionRequest)


class CachedBackend:
    """Wraps a backend with a :class:`ResponseCache`; same protocol as the backend.

    ``usage`` counts only real LLM calls (the wrapped backend's); ``hits`` and
    ``misses`` count cache lookups, chat and raw completions alike. :meth:`complete`
    works when the wrapped backend has ``complete`` (a
    :class:`~synthloom.llm.base.CompletionBackend`).
    """

    def __init__(self, backend: ChatBackend, cache: ResponseCache) -> None:
        self.backend = backend
        self.cache = cache
        self.identity = backend.identity
        self.usage: TokenUsage = backend.usage
        self.preferred_batch = getattr(backend, "preferred_batch", 1)
        self.hits = 0
        self.misses = 0

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer from the cache where possible; ask the backend for the rest, in chunks
        of its preferred batch size, storing each answer as soon as its chunk returns."""
        return self._answer(requests, self.backend.chat)

    def complete(
        self, requests: Sequence[CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        """Raw completions, cached like :meth:`chat` (under keys no chat request has).

        Raises:
            AttributeError: the wrapped backend has no ``complete`` method.
        """
        complete = getattr(self.backend, "complete", None)
        if complete is None:
            raise AttributeError(
                f"{type(self.backend).__name__} has no complete(): raw completions "
                "need a CompletionBackend"
            )
        return self._answer(requests, complete)

    def _answer(
        self,
        requests: Sequence[R],
        call: Callable[[list[R]], list[ChatResponse | BackendError]],
    ) -> list[ChatResponse | BackendError]:
        keys = [cache_key(self.identity, r) for r in requests]
        results: list[ChatResponse | BackendError | None] = [self.cache.get(k) for k in keys]
        missing = [i for i, r in enumerate(results) if r is None]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        step = max(1, self.preferred_batch)
        for start in range(0, len(missing), step):
            chunk = missing[start : start + step]
            answers = call([requests[i] for i in chunk])
            for i, answer in zip(chunk, answers, strict=True):
                if isinstance(answer, ChatResponse):
                    self.cache.put(keys[i], answer)
                results[i] = answer
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Close the backend and the cache."""
        self.backend.close()
        self.cache.close()
