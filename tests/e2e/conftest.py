"""End-to-end fixtures: the real packaged model and a real llama.cpp server on 127.0.0.1.

No mocked LLM here. The small SmolLM2-135M model keeps the suite fast; its labels are
often wrong, so these tests assert what must hold whatever the model says (files,
provenance, accounting, resume), not how good the data is.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from synthloom.llm.models import resolve_model_path

SMALL_MODEL = "smollm2-135m"

SMALL_RECIPE = """\
task: tiny_news
description: Short news snippets in the style of BBC News.
labels:
  sport: football, tennis, cricket and other sports, players and matches
  tech: computers, the internet, mobile phones, software and gadgets
n: {n}
seed: 5
chunk_size: 2
backend:
  kind: llamacpp
  model: smollm2-135m
targen:
  contexts: 2
  seeds_per_pair: 2
  max_regenerations: 1
  on_disagreement: {on_disagreement}
  max_words: 20
  max_drafts_factor: 2
"""


@pytest.fixture(scope="session")
def small_model_path() -> Path:
    return resolve_model_path(SMALL_MODEL)


@pytest.fixture()
def small_recipe(tmp_path):
    def make(n: int = 4, on_disagreement: str = "regenerate") -> Path:
        path = tmp_path / f"tiny_{n}_{on_disagreement}.yaml"
        path.write_text(SMALL_RECIPE.format(n=n, on_disagreement=on_disagreement))
        return path

    return make


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the synthloom CLI in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "synthloom", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250"},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def llama_server(small_model_path, tmp_path_factory):
    """A real llama-cpp-python OpenAI-compatible server on 127.0.0.1, stopped afterwards."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "llama_server.log"
    log = open(log_path, "wb")  # a pipe would fill up with the server's logs and block it
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(small_model_path),
            "--model_alias",
            SMALL_MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_threads",
            "2",
            "--n_ctx",
            "2048",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError(
            f"llama.cpp server did not come up in 90 s: {log_path.read_text()[-2000:]}"
        )
    yield base_url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()
