"""The OpenAI-compatible HTTP backend against a real llama.cpp server on 127.0.0.1."""

from __future__ import annotations

import json

from pydantic import BaseModel

from synthloom.llm.base import ChatRequest, SamplingParams
from synthloom.llm.openai_http import OpenAIHTTPBackend
from synthloom.llm.structured import chat_structured
from synthloom.records import read_jsonl
from tests.e2e.conftest import SMALL_MODEL, cli, free_port


class Colour(BaseModel):
    colour: str
    confident: bool


def request(text: str, seed: int = 1) -> ChatRequest:
    return ChatRequest(
        messages=({"role": "user", "content": text},),
        sampling=SamplingParams(temperature=0.7, top_p=0.95, max_tokens=48, seed=seed),
    )


def test_structured_output_over_http_is_schema_valid(llama_server):
    backend = OpenAIHTTPBackend(llama_server, SMALL_MODEL, max_concurrency=2)
    reqs = [request(f"Name a colour of fruit number {i}. Answer in JSON.", i) for i in range(3)]
    results = chat_structured(backend, reqs, Colour)
    assert all(r.value is not None for r in results), [r.error for r in results]
    # llama.cpp's server refuses json_schema and enforces json_object + schema
    assert backend.dialect == "json_object"
    assert backend.usage.calls >= 3 and backend.usage.tokens_out > 0


def test_generate_through_http_server(tmp_path, small_recipe, llama_server):
    out = tmp_path / "http"
    done = cli(
        "generate",
        str(small_recipe(2)),
        "-o",
        str(out),
        "--base-url",
        llama_server,
        "--model",
        SMALL_MODEL,
    )
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"]["backend"] == "openai_http"
    assert manifest["backend"]["endpoint"] == llama_server
    finished = list(read_jsonl(out / "data.jsonl")) + list(read_jsonl(out / "rejected.jsonl"))
    assert finished and all(r.provenance.backend == "openai_http" for r in finished)


def test_unreachable_server_is_a_clear_error(tmp_path, small_recipe):
    url = f"http://127.0.0.1:{free_port()}/v1"
    recipe = small_recipe(2)
    done = cli("generate", str(recipe), "-o", str(tmp_path / "o"), "--base-url", url)
    assert done.returncode == 1
    assert url in done.stderr and "--resume" in done.stderr
    assert "Traceback" not in done.stderr
