"""A fault-injecting HTTP proxy on 127.0.0.1, for testing clients of an HTTP LLM server.

:class:`FaultProxy` forwards every request to an upstream server (a real llama.cpp
server in the end-to-end tests) and, for each POST, asks its schedule whether to answer
with a fault instead. The faults are what a flaky server or network does:

``"429"``
    HTTP 429 with ``Retry-After`` (``retry_after`` seconds), the upstream never asked.
``"500"``
    HTTP 500 (with ``Retry-After`` only when ``retry_after_500`` is set), never asked.
``"drop"``
    the connection is closed at once, without any answer.
``"stall"``
    nothing is sent for ``stall_seconds`` (set it above the client's timeout), then the
    connection is closed.
``"truncate"``
    the request goes upstream, and the first half of the upstream's body is sent back as
    a 200 without ``Content-Length``, then the connection is closed: a legal end of body
    for HTTP/1.1, so the client sees a 200 whose JSON is cut off.

GETs (``/models``, ``/props``) are always forwarded unharmed. :attr:`FaultProxy.injected`
counts the faults injected by kind. The proxy is stdlib asyncio (plus httpx to talk to
the upstream) on a thread of its own, and keeps connections alive between answers.

    with FaultProxy(upstream_url, seeded_schedule(7, {"500": 2, "drop": 1}, within=10)) as p:
        client_base_url = p.base_url      # upstream's path (e.g. /v1) on the proxy's port
        ...
        p.injected                        # Counter({"500": 2, "drop": 1})
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

KINDS = ("429", "500", "drop", "stall", "truncate")

#: request index (0-based, in order of arrival of POSTs) -> fault kind, or None to forward
Schedule = Callable[[int], str | None]


def seeded_schedule(seed: int, faults: Mapping[str, int], within: int) -> Schedule:
    """Each fault ``kind`` injected ``faults[kind]`` times, at positions among the first
    ``within`` POSTs drawn with ``random.Random(seed)``; every other POST is forwarded.

    Raises:
        ValueError: an unknown kind, or more faults than ``within`` positions.
    """
    unknown = set(faults) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {KINDS}")
    kinds = [kind for kind in sorted(faults) for _ in range(faults[kind])]
    if len(kinds) > within:
        raise ValueError(f"{len(kinds)} faults do not fit in {within} requests")
    rng = random.Random(seed)
    positions = rng.sample(range(within), len(kinds))
    rng.shuffle(kinds)
    plan = dict(zip(positions, kinds, strict=True))
    return plan.get


def fail_after(count: int, kind: str = "500") -> Schedule:
    """Forward the first ``count`` POSTs, then answer every later one with ``kind``."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {KINDS}")
    return lambda index: kind if index >= count else None


def no_faults(index: int) -> None:
    """Forward everything."""
    return None


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 injecting faults into POSTs by a schedule.

    Args:
        upstream: the upstream base URL, e.g. ``http://127.0.0.1:8080/v1``; a request for
            ``/v1/chat/completions`` on the proxy goes to the same path upstream.
        schedule: POST index -> fault kind (see the module docstring) or None. It may be
            replaced while the proxy runs (``proxy.schedule = fail_after(0)``).
        stall_seconds: how long a ``"stall"`` keeps the client waiting before the close.
        retry_after: the ``Retry-After`` value of a ``"429"``.
        retry_after_500: the ``Retry-After`` value of a ``"500"``; None sends none.
        upstream_timeout: seconds the proxy waits for the upstream's answer.

    Attributes:
        base_url: the URL clients use instead of ``upstream``.
        injected: faults injected so far, by kind.
        posts: POSTs received.
        forwarded: POSTs answered by the upstream (``"truncate"`` ones included).
        upstream_seconds: how long the upstream took to answer each POST forwarded
            without a fault, in order (a client whose timeout is shorter gave up on it).
        upstream_failures: forwarded POSTs the upstream answered with a status >= 400
            or not at all (the proxy then answers 502).
    """

    def __init__(
        self,
        upstream: str,
        schedule: Schedule = no_faults,
        *,
        stall_seconds: float = 5.0,
        retry_after: str = "1",
        retry_after_500: str | None = None,
        upstream_timeout: float = 300.0,
    ) -> None:
        parts = urlsplit(upstream.rstrip("/"))
        self.upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self._upstream_path = parts.path
        self.schedule = schedule
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self.retry_after_500 = retry_after_500
        self.upstream_timeout = upstream_timeout
        self.injected: Counter[str] = Counter()
        self.posts = 0
        self.forwarded = 0
        self.upstream_seconds: list[float] = []
        self.upstream_failures = 0
        self.base_url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> FaultProxy:
        """Listen on a free port of 127.0.0.1 (on a thread of its own); returns self."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self._client = httpx.AsyncClient(timeout=self.upstream_timeout)
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, "127.0.0.1", 0))
            except BaseException as exc:  # noqa: BLE001 (reported to start())
                failure.append(exc)
                ready.set()
                return
            port = self._server.sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}{self._upstream_path}"
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._client.aclose())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Close the listening socket and every open connection, and end the thread."""
        loop = self._loop
        if loop is None or self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(shutdown()))
        self._thread.join(10)
        self._loop = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def total_injected(self) -> int:
        """Faults injected so far, every kind together."""
        return sum(self.injected.values())

    def summary(self) -> dict[str, Any]:
        """``{"posts", "forwarded", "upstream_failures", "injected": {kind: count}}``."""
        return {
            "posts": self.posts,
            "forwarded": self.forwarded,
            "upstream_failures": self.upstream_failures,
            "injected": dict(sorted(self.injected.items())),
        }

    # ---------------------------------------------------------------- serving
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; True when the connection stays open for another."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # closed between requests
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, path, _version = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in header_lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if method != "POST":
            status, content, kind_of_content = await self._forward(method, path, headers, body)
            await self._reply(writer, status, content, kind_of_content)
            return True
        with self._lock:
            index = self.posts
            self.posts += 1
        kind = self.schedule(index)
        if kind is not None and kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} in the schedule; known: {KINDS}")
        if kind is not None:
            self.injected[kind] += 1
        if kind == "429":
            await self._reply(writer, 429, _error("injected fault: too many requests"),
                              extra={"Retry-After": self.retry_after})
            return True
        if kind == "500":
            extra = {"Retry-After": self.retry_after_500} if self.retry_after_500 else {}
            await self._reply(writer, 500, _error("injected fault: internal server error"),
                              extra=extra)
            return True
        if kind == "drop":
            return False
        if kind == "stall":
            await asyncio.sleep(self.stall_seconds)
            return False
        started = time.monotonic()
        status, content, content_type = await self._forward(method, path, headers, body)
        if kind is None:
            self.upstream_seconds.append(time.monotonic() - started)
        if kind == "truncate":
            writer.write(
                f"HTTP/1.1 {status} {_reason(status)}\r\nContent-Type: {content_type}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
                + content[: len(content) // 2]
            )
            await writer.drain()
            return False
        await self._reply(writer, status, content, content_type)
        return True

    async def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, str]:
        """Ask the upstream; ``(status, body, content type)``, or a 502 when it fails."""
        assert self._client is not None
        keep = {k: v for k, v in headers.items() if k in ("content-type", "authorization")}
        try:
            answer = await self._client.request(
                method, self.upstream_origin + path, headers=keep, content=body)
        except httpx.HTTPError as exc:
            if method == "POST":
                self.forwarded += 1
                self.upstream_failures += 1
            return 502, _error(f"upstream failed: {type(exc).__name__}"), "application/json"
        if method == "POST":
            self.forwarded += 1
            self.upstream_failures += answer.status_code >= 400
        return (answer.status_code, answer.content,
                answer.headers.get("content-type", "application/json"))

    @staticmethod
    async def _reply(
        writer: asyncio.StreamWriter,
        status: int,
        content: bytes,
        content_type: str = "application/json",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        lines = [f"HTTP/1.1 {status} {_reason(status)}", f"Content-Type: {content_type}",
                 f"Content-Length: {len(content)}"]
        lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + content)
        await writer.drain()


def _error(message: str) -> bytes:
    return json.dumps({"error": {"message": message}}).encode()


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
