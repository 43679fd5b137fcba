"""Server faults: an HTTP backend behind a fault-injecting proxy (tests/faults.py).

In front of a real llama.cpp server, the proxy answers 429 with Retry-After, 500s, drops
connections, stalls past the client's timeout and cuts JSON answers in half. A run must
complete with every retry counted in its manifest and nothing cached from a failed
answer; a server that never recovers must end the run with a one-line error naming the
URL and the attempts, and keep every record finished before.

Why ``llm_retries`` equals the faults injected in the first test: each fault fails one
attempt, which is retried (``max_retries`` is above the most faults any request can
meet); the backend speaks llama.cpp's ``json_object`` dialect from the start, so no
injected 500 is taken for the server refusing ``json_schema`` (that switch is not a
retry); and the backend's timeout is well above the server's usual answer times. On an
overloaded machine a genuine answer can still outlast it, which is a retry as well: the
test brackets those with the proxy's timings of the upstream's answers, so it checks
``injected + late answers == llm_retries`` (exactly ``injected`` when none is late).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from synthloom.api import generate
from synthloom.llm.base import ChatRequest, ChatResponse
from synthloom.llm.cache import CachedBackend, ResponseCache, cache_key
from synthloom.llm.openai_http import OpenAIHTTPBackend
from synthloom.records import read_jsonl, read_parquet
from tests.e2e.conftest import SMALL_MODEL
from tests.faults import KINDS, FaultProxy, fail_after, no_faults, seeded_schedule

# The backend's per-attempt timeout in the llama.cpp test; a stall outlasts it. It must
# stay well above the server's answer times (a few seconds on a busy 2-core machine) or
# genuine answers time out too, and then pile up: llama-cpp-python's server goes on
# generating an answer its client gave up on, so the retry waits behind it.
TIMEOUT = 20.0
ENV = {**os.environ, "COLUMNS": "250"}


def log_for_reliability(test: str, faults: dict[str, int], completed: str,
                        records: list) -> None:
    """One row of ``make reliability``'s table (tests/reliability.py), when it runs us."""
    path = os.environ.get("SYNTHLOOM_RELIABILITY_LOG")
    if path:
        ids = [r.id for r in records]
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": test, "faults": dict(faults), "completed": completed,
                                "duplicated": len(ids) - len(set(ids))}) + "\n")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


# ------------------------------------------------- the proxy itself (no model needed)


@pytest.fixture
def echo_upstream():
    """A fast OpenAI-style upstream on 127.0.0.1 that echoes the prompt."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (stdlib name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = body["messages"][0]["content"]
            data = json.dumps({
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": f"echo {text}"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_every_fault_kind_is_retried_and_counted(echo_upstream, tmp_path):
    faults = {kind: 2 for kind in KINDS}
    schedule = seeded_schedule(3, faults, within=16)
    with FaultProxy(echo_upstream, schedule, stall_seconds=1.0, retry_after="0") as proxy:
        http = OpenAIHTTPBackend(proxy.base_url, "m", max_concurrency=2, max_retries=10,
                                 timeout_seconds=0.5, backoff_base_seconds=0.01)
        backend = CachedBackend(http, ResponseCache(tmp_path / "cache.sqlite"))
        requests = [ChatRequest(messages=({"role": "user", "content": f"q{i}"},))
                    for i in range(10)]
        answers = backend.chat(requests)
        assert [a.text for a in answers] == [f"echo q{i}" for i in range(10)]
        assert proxy.injected == faults
        assert http.usage.retries == proxy.total_injected == 10
        assert (http.usage.calls, http.usage.errors) == (10, 0)
        assert len(backend.cache) == 10  # whole answers only: none cut off is stored
        assert all(isinstance(a, ChatResponse) and a.text.startswith("echo q")
                   for a in (backend.cache.get(cache_key(http.identity, r)) for r in requests))


# --------------------------------------------- a real llama.cpp server behind the proxy


def test_generate_completes_through_faults(tmp_path, small_recipe, llama_server):
    """A whole tiny run through 429, 500, drop, stall and truncate: it completes, every
    retry is in the manifest, and the records and the cache are whole."""
    out = tmp_path / "run"
    faults = {kind: 1 for kind in KINDS}
    schedule = seeded_schedule(11, faults, within=8)  # a run makes 15 or more POSTs
    started = time.monotonic()
    with FaultProxy(llama_server, schedule, stall_seconds=TIMEOUT + 1.0,
                    retry_after="1") as proxy:
        http = OpenAIHTTPBackend(
            # one request at a time: llama-cpp-python's server answers one at a time anyway,
            # and a second in flight would only wait in its queue, near the timeout
            proxy.base_url, SMALL_MODEL, max_concurrency=1, max_retries=8,
            timeout_seconds=TIMEOUT, backoff_base_seconds=0.5, backoff_max_seconds=4.0,
            schema_dialect="json_object")
        cache = ResponseCache(tmp_path / "cache.sqlite")
        backend = CachedBackend(http, cache)
        # "keep": the tiny model's labels are often wrong; kept records carry the verdict
        manifest = generate(small_recipe(2, "keep"), out, base_url=proxy.base_url,
                            model=SMALL_MODEL, backend=backend)
        summary = proxy.summary()
        waits = sorted(proxy.upstream_seconds)
    print(f"\nfault run: {time.monotonic() - started:.1f} s, proxy {summary}, "
          f"upstream answers took {', '.join(f'{w:.1f}' for w in waits)} s, manifest "
          f"llm_retries {manifest['llm_retries']}, llm_calls {manifest['llm_calls']}")

    assert proxy.injected == faults, "the run made too few requests to meet every fault"
    assert proxy.upstream_failures == 0
    # On an overloaded machine a genuine answer can still outlast the timeout: that is
    # a retry too (the proxy's timing brackets how many there were, give or take 0.5 s).
    surely_late = sum(w > TIMEOUT + 0.5 for w in waits)
    maybe_late = sum(w > TIMEOUT - 0.5 for w in waits)
    injected = proxy.total_injected
    assert injected == len(KINDS)
    assert injected + surely_late <= manifest["llm_retries"] <= injected + maybe_late
    assert manifest["llm_errors"] == 0
    progress = json.loads((out / "progress.json").read_text())
    assert progress["usage"]["retries"] == manifest["llm_retries"]

    data = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    assert manifest["accepted"] == len(data) >= 1
    assert [r.id for r in read_parquet(out / "data.parquet")] == [r.id for r in data]
    assert len({r.id for r in data + rejected}) == len(data) + len(rejected)
    for r in data:
        assert r.origin == "synthetic" and r.label in ("sport", "tech") and r.text.strip()
        assert r.provenance.backend == "openai_http"
    log_for_reliability("a run through 429, 500, drop, stall, truncate", proxy.injected,
                        "1/1", data + rejected)
    # nothing failed is cached: every stored row is a whole response, and there are no
    # more of them than answered calls (a cut-off or failed answer was never a call)
    cache.close()
    db = sqlite3.connect(tmp_path / "cache.sqlite")
    stored = [ChatResponse.model_validate_json(row)
              for (row,) in db.execute("SELECT response FROM responses")]
    db.close()
    assert 0 < len(stored) <= http.usage.calls


def test_server_that_never_recovers_ends_the_run_clearly(tmp_path, small_recipe, llama_server):
    """The proxy turns into a wall of 500s once a record is finished: `synthloom generate`
    exits 1 with one line naming the URL and the attempts, and keeps what it finished."""
    out = tmp_path / "run"
    recipe = small_recipe(4, "keep")
    with FaultProxy(llama_server, no_faults, retry_after_500="0") as proxy:
        proc = subprocess.Popen(
            [sys.executable, "-m", "synthloom", "generate", str(recipe), "-o", str(out),
             "--base-url", proxy.base_url, "--model", SMALL_MODEL],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=ENV,
        )
        deadline = time.monotonic() + 300
        while (time.monotonic() < deadline and proc.poll() is None
               and not lines(out / "data.jsonl") + lines(out / "rejected.jsonl")):
            time.sleep(0.1)
        assert proc.poll() is None, "the run ended before the server could fail"
        proxy.schedule = fail_after(0)  # from now on, every POST is a 500
        _, stderr = proc.communicate(timeout=120)
        kept_data, kept_rejected = lines(out / "data.jsonl"), lines(out / "rejected.jsonl")

        assert proc.returncode == 1, stderr
        assert "Traceback" not in stderr
        [line] = [x for x in stderr.splitlines() if "error:" in x]
        assert f"{proxy.base_url}/chat/completions: HTTP 500" in line
        assert "injected fault: internal server error" in line
        assert "after 6 attempts" in line  # max_retries 5: 1 + 5 attempts
        assert "--resume" in line
        assert kept_data + kept_rejected, "the records finished before the failure are gone"
        assert not (out / "manifest.json").exists()
        # the kept records are whole and readable
        finished = (list(read_jsonl(out / "data.jsonl"))
                    + list(read_jsonl(out / "rejected.jsonl")))
        assert len(finished) == len(kept_data) + len(kept_rejected)
        assert len({r.id for r in finished}) == len(finished)
        print(f"\nnever-recovering server: {proxy.summary()}; kept {len(kept_data)} accepted, "
              f"{len(kept_rejected)} rejected; error line: {line}")

        # the server is back: the run resumes, the finished records stay as they were
        proxy.schedule = no_faults
        resumed = subprocess.run(
            [sys.executable, "-m", "synthloom", "generate", str(recipe), "-o", str(out),
             "--base-url", proxy.base_url, "--model", SMALL_MODEL, "--resume"],
            capture_output=True, text=True, timeout=300, env=ENV,
        )
    assert resumed.returncode == 0, resumed.stderr
    assert lines(out / "data.jsonl")[: len(kept_data)] == kept_data
    assert lines(out / "rejected.jsonl")[: len(kept_rejected)] == kept_rejected
    manifest = json.loads((out / "manifest.json").read_text())
    data = list(read_jsonl(out / "data.jsonl"))
    assert manifest["accepted"] == len(data) >= len(kept_data)
    assert len({r.id for r in data}) == len(data)
    log_for_reliability("a server that never recovers, then --resume", proxy.injected,
                        "1/1 (exit 1, then resumed)", data)

