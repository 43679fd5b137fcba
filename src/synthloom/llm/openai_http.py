"""A chat backend speaking the OpenAI ``/chat/completions`` and ``/completions`` HTTP APIs.

Works with any OpenAI-compatible server (vLLM, llama-cpp-python's server, llama.cpp's
``llama-server``, OpenAI itself). A batch runs concurrently on an internal asyncio event
loop with at most ``max_concurrency`` requests in flight; :meth:`OpenAIHTTPBackend.chat`
and :meth:`OpenAIHTTPBackend.complete` themselves are synchronous. Both endpoints share
one request path: same retries, backoff, dialect fallback and error reporting.

Tools: ``ChatRequest.tools``/``tool_choice`` are sent as OpenAI's ``tools`` and
``tool_choice``, and ``message.tool_calls`` is read back. A server that renders the
tools into the prompt but returns the model's call as plain content (llama-cpp-python's
server does unless ``tool_choice`` names a function) gets Hermes-style
``<tool_call>{...}</tool_call>`` text, or content made only of call JSON naming an
offered tool, parsed into ``tool_calls`` by
:func:`synthloom.llm.templates.chat_choice_fields`.

Structured output goes through ``response_format``. Servers disagree on its dialect:
vLLM and OpenAI take ``{"type": "json_schema", "json_schema": {...}}``, while
llama-cpp-python's server answers HTTP 500 to that but enforces
``{"type": "json_object", "schema": {...}}``. With ``schema_dialect="auto"`` the backend
tries the first and falls back to the second for good once the server refuses it (a 4xx
other than 429, or a 500 whose body names the schema or ``response_format``; any other
500 is retried, so a passing server error never switches the dialect).

Faults: an answer can fail in transit as well as at the server: a connection dropped
before or while the body is read, a stall past the timeout, or a body cut off early.
Without ``Content-Length`` a connection closed early is a legal end of body, so a cut-off
answer may arrive as a 200 whose JSON is unterminated; it is retried like a 5xx. A body
that is valid JSON but not a completion (no ``choices``...) is the server's answer, not
a transport accident, and is not retried.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email.utils
import os
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    TokenUsage,
)
from synthloom.llm.templates import chat_choice_fields

SchemaDialect = Literal["auto", "json_schema", "json_object"]

_BODY_SNIPPET_CHARS = 300


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace, newlines included, made one space."""
    return " ".join(text.split())


def _snippet(http: httpx.Response) -> str:
    """The start of a response body on one line (error messages stay one line)."""
    return _one_line(http.text[:_BODY_SNIPPET_CHARS])


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Parse an HTTP ``Retry-After`` header value into seconds to wait.

    Args:
        value: the header value: delay seconds (``"3"``) or an HTTP date
            (``"Wed, 21 Oct 2015 07:28:00 GMT"``); ``None`` when the header is absent.
        now: the current time for HTTP dates (defaults to now, UTC).

    Returns:
        Seconds to wait (>= 0), or ``None`` when absent or unparseable.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


class _Retryable(Exception):
    """One failed attempt that may be retried; ``wait`` overrides the backoff (seconds)."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


class _SwitchDialect(Exception):
    """The server refused ``json_schema``; retry at once with ``json_object``."""


Request = ChatRequest | CompletionRequest


def _mentions_schema(http: httpx.Response) -> bool:
    """Whether an error answer names structured output (so it refused the dialect)."""
    text = http.text[:4000].lower()
    return any(word in text for word in ("response_format", "json_schema", "schema"))


def _response_format(schema: dict[str, Any], dialect: str) -> dict[str, Any]:
    """The ``response_format`` value constraining an answer to ``schema`` in ``dialect``."""
    if dialect == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": True},
        }
    return {"type": "json_object", "schema": schema}


class OpenAIHTTPBackend:
    """Chat backend for an OpenAI-compatible HTTP server.

    Every sampling value (``temperature``, ``top_p``, ``max_tokens`` and, when set,
    ``seed`` and ``stop``) is sent explicitly, since servers' defaults differ.

    Retries: HTTP 429, HTTP 5xx, connection errors (also while the body is read),
    timeouts, undecodable bodies and bodies that are not JSON (an answer cut off in
    transit) are retried up to ``max_retries`` times with exponential backoff and full
    jitter (``uniform(0, min(backoff_max_seconds, backoff_base_seconds * 2**attempt))``);
    a ``Retry-After`` header, when present, replaces the backoff (capped at
    ``backoff_max_seconds``). Every retry is counted in ``usage.retries``. Other 4xx
    answers, and JSON bodies of the wrong shape, fail at once. A request that fails for
    good yields a :class:`BackendError` in its result slot whose one-line message names
    the URL, the last error and the number of attempts made.

    Attributes:
        identity: ``backend="openai_http"``, ``model``, ``endpoint=base_url``.
        usage: counters of answered calls, tokens, seconds, retries and final failures.
        url: the full ``.../chat/completions`` URL chat requests are posted to.
        completions_url: the full ``.../completions`` URL raw completions are posted to.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        max_concurrency: int = 4,
        max_retries: int = 5,
        timeout_seconds: float = 120.0,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        schema_dialect: SchemaDialect = "auto",
        model_sha256: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Configure the backend (no connection is made until :meth:`chat`).

        Args:
            base_url: the API root, e.g. ``"http://127.0.0.1:8080/v1"``.
            model: the model id sent in each request and recorded in ``identity``.
            api_key: bearer token; defaults to env ``OPENAI_API_KEY``, else ``"none"``.
            max_concurrency: most requests in flight at once (>= 1).
            max_retries: retries after the first attempt (>= 0), so at most
                ``max_retries + 1`` attempts per request.
            timeout_seconds: per-attempt HTTP timeout, applied to each of connect, read
                (the wait for the next bytes of the answer: a server that stalls
                longer fails the attempt), write and pool.
            backoff_base_seconds: backoff scale: attempt ``k`` waits up to
                ``backoff_base_seconds * 2**k`` seconds.
            backoff_max_seconds: cap on any single wait, including ``Retry-After``.
            schema_dialect: ``response_format`` dialect for requests with a JSON schema:
                ``"json_schema"``, ``"json_object"`` or ``"auto"`` (try ``json_schema``,
                fall back to ``json_object`` for good on a 4xx or 500 answer).
            model_sha256: sha256 of the served weights, when known (for provenance).
            transport: optional httpx transport (tests inject a mock transport).

        Raises:
            ValueError: on an invalid ``max_concurrency``, ``max_retries``, timeout,
                backoff or ``schema_dialect``.
        """
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if timeout_seconds <= 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds}")
        if backoff_base_seconds < 0 or backoff_max_seconds < 0:
            raise ValueError("backoff_base_seconds and backoff_max_seconds must be >= 0")
        if schema_dialect not in ("auto", "json_schema", "json_object"):
            raise ValueError(f"unknown schema_dialect {schema_dialect!r}")
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.completions_url = f"{self.base_url}/completions"
        self.model = model
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "none"
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout_seconds = timeout_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.schema_dialect: SchemaDialect = schema_dialect
        self._auto = schema_dialect == "auto"
        # The dialect in use; "auto" starts with json_schema and may switch once.
        self._dialect: Literal["json_schema", "json_object"] = (
            "json_object" if schema_dialect == "json_object" else "json_schema"
        )
        self._transport = transport
        self.identity = BackendIdentity(
            backend="openai_http",
            model=model,
            model_sha256=model_sha256,
            endpoint=self.base_url,
        )
        self.usage = TokenUsage()
        #: requests the server really runs at once (set by make_backend from server_slots)
        self.effective_concurrency: int = max_concurrency
        self.preferred_batch = max_concurrency

    def server_slots(self, timeout_seconds: float = 5.0) -> int | None:
        """Parallel slots the server says it has, or None when it does not say.

        llama.cpp's ``llama-server`` answers ``GET /props`` with ``total_slots`` (its
        ``--parallel``); vLLM, OpenAI and llama-cpp-python's server do not, and an
        unreachable server gives None too (the first request will name the error).
        A server with fewer slots than ``max_concurrency`` queues the rest: the
        effective concurrency is then its slot count.
        """
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url
        try:
            answer = httpx.get(f"{root}/props", timeout=timeout_seconds,
                               headers={"Authorization": f"Bearer {self.api_key}"})
            if answer.status_code != 200:
                return None
            slots = answer.json().get("total_slots")
        except (httpx.HTTPError, ValueError, AttributeError):
            return None
        return int(slots) if isinstance(slots, int) and slots > 0 else None

    @property
    def dialect(self) -> Literal["json_schema", "json_object"]:
        """The ``response_format`` dialect the next schema-constrained request will use."""
        return self._dialect

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer each request concurrently; the i-th result belongs to the i-th request.

        ``tools``/``tool_choice`` go in the body when set; ``tool_calls`` come back in
        the response (see the module docstring). Safe to call from any thread,
        including one running an event loop (the batch then runs on a private loop in a
        worker thread).

        Args:
            requests: the batch.

        Returns:
            One :class:`ChatResponse` (with ``tokens_in``/``tokens_out`` in tokens and
            ``seconds`` = wall time of the successful attempt) or one
            :class:`BackendError` (message names the URL) per request, in order.
        """
        return self._run(requests)

    def complete(
        self, requests: Sequence[CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        """Continue each raw prompt via ``POST {base_url}/completions``, concurrently.

        Same retries, backoff, concurrency and threading behaviour as :meth:`chat`.
        The body carries ``model``, ``prompt``, every sampling value and, with a JSON
        schema, ``response_format`` in the current dialect (vLLM honours it;
        llama-cpp-python's server ignores it on ``/completions``).

        Returns:
            One :class:`ChatResponse` (``text`` = ``choices[0].text``, ``tool_calls``
            None) or one :class:`BackendError` (naming ``completions_url``) per
            request, in order.
        """
        return self._run(requests)

    def close(self) -> None:
        """Release resources (connections live only for the duration of a batch)."""

    # -- internals ---------------------------------------------------------------------

    def _run(self, requests: Sequence[Request]) -> list[ChatResponse | BackendError]:
        if not requests:
            return []
        batch = list(requests)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._run_batch(batch))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self._run_batch(batch)).result()

    async def _run_batch(self, requests: list[Request]) -> list[ChatResponse | BackendError]:
        semaphore = asyncio.Semaphore(self.max_concurrency)
        limits = httpx.Limits(
            max_connections=self.max_concurrency,
            max_keepalive_connections=self.max_concurrency,
        )
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout_seconds),
            limits=limits,
            transport=self._transport,
            headers={"Authorization": f"Bearer {self.api_key}"},
        ) as client:
            return list(await asyncio.gather(*(self._one(client, semaphore, r) for r in requests)))

    def _url(self, request: Request) -> str:
        return self.completions_url if isinstance(request, CompletionRequest) else self.url

    def _body(self, request: Request, dialect: str) -> dict[str, Any]:
        """The JSON body of one request: chat (``messages``, ``tools``...) or completion
        (``prompt``); sampling values always explicit."""
        sampling = request.sampling
        body: dict[str, Any] = {"model": self.model}
        if isinstance(request, CompletionRequest):
            body["prompt"] = request.prompt
        else:
            body["messages"] = [dict(m) for m in request.messages]
        body.update(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_tokens,
        )
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if request.json_schema is not None:
            body["response_format"] = _response_format(request.json_schema, dialect)
        if isinstance(request, ChatRequest) and request.tools is not None:
            body["tools"] = [dict(t) for t in request.tools]
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
        if isinstance(request, ChatRequest) and request.top_logprobs is not None:
            body["logprobs"] = True
            body["top_logprobs"] = request.top_logprobs
        return body

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.backoff_max_seconds, retry_after)
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        return random.uniform(0.0, ceiling)

    async def _one(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        request: Request,
    ) -> ChatResponse | BackendError:
        attempts = 0
        last_error = "no attempt made"
        while attempts <= self.max_retries:
            dialect = self._dialect
            try:
                async with semaphore:
                    response = await self._attempt(client, request, dialect)
            except _SwitchDialect:
                # A dialect fallback is not a retry: switch and go again at once.
                self._dialect = "json_object"
                continue
            except _Retryable as exc:
                attempts += 1
                last_error = _one_line(str(exc))
                if attempts <= self.max_retries:
                    self.usage.add_retry()
                    await asyncio.sleep(self._backoff(attempts - 1, exc.wait))
                continue
            except BackendError as exc:
                self.usage.add_error()
                return exc
            self.usage.add(response)
            return response
        self.usage.add_error()
        return BackendError(f"{self._url(request)}: {last_error} after {attempts} attempts")

    async def _attempt(
        self, client: httpx.AsyncClient, request: Request, dialect: str
    ) -> ChatResponse:
        """One HTTP attempt: a response, or raise _Retryable/_SwitchDialect/BackendError."""
        url = self._url(request)
        body = self._body(request, dialect)
        started = time.perf_counter()
        try:
            # post() reads the whole body: a connection dropped mid-body raises here too
            # (RemoteProtocolError for a short Content-Length or chunked body, ReadError),
            # and DecodingError for a cut-off compressed body
            http = await client.post(url, json=body)
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.DecodingError,
        ) as exc:
            detail = str(exc) or (
                f"no answer within {self.timeout_seconds:g} s"
                if isinstance(exc, httpx.TimeoutException) else "no detail"
            )
            raise _Retryable(f"{type(exc).__name__}: {detail}") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"{url}: {type(exc).__name__}: {exc}") from exc
        seconds = time.perf_counter() - started
        status = http.status_code
        if not 200 <= status < 300:
            detail = f"HTTP {status}: {_snippet(http)}"
            uses_schema = "response_format" in body and dialect == "json_schema"
            # a 500 means "dialect refused" only when it says so (llama-cpp-python's names
            # the response_format); any other 500 may be transient and is retried
            refused = (400 <= status < 500 and status != 429) or (
                status == 500 and _mentions_schema(http))
            if self._auto and uses_schema and refused:
                raise _SwitchDialect(detail)
            if status == 429 or status >= 500:
                raise _Retryable(detail, parse_retry_after(http.headers.get("Retry-After")))
            raise BackendError(f"{url}: {detail}")
        try:
            payload = http.json()
        except ValueError as exc:
            # JSONDecodeError or UnicodeDecodeError: most likely an answer cut off in
            # transit (no Content-Length, connection closed early); ask again
            raise _Retryable(
                f"malformed response: not JSON, cut off in transit? "
                f"({type(exc).__name__}: {exc}): {_snippet(http)}"
            ) from exc
        try:
            choice = payload["choices"][0]
            if isinstance(request, CompletionRequest):
                fields = {
                    "text": choice.get("text") or "",
                    "finish_reason": choice.get("finish_reason") or "stop",
                }
            else:
                fields = chat_choice_fields(choice, request)
            usage = payload.get("usage") or {}
            tokens_in = int(usage.get("prompt_tokens") or 0)
            tokens_out = int(usage.get("completion_tokens") or 0)
            return ChatResponse(
                tokens_in=tokens_in, tokens_out=tokens_out, seconds=seconds, **fields
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            # pydantic's ValidationError is a ValueError: a tool_calls value of the wrong
            # shape is malformed too
            raise BackendError(
                f"{url}: malformed response ({type(exc).__name__}: {_one_line(str(exc))}): "
                f"{_snippet(http)}"
            ) from exc
