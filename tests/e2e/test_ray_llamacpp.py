"""The Ray executor on the real small model: `synthloom generate --executor ray` on a
local Ray instance gives the records of the local executor (same recipe and seed, warm
response cache)."""

from __future__ import annotations

import json
import shutil

import pytest

from synthloom.records import read_jsonl
from tests.e2e.conftest import cli

pytest.importorskip("ray")


def comparable(out):
    """(accepted, rejected) records of a run folder, without their creation times."""
    def one(record):
        value = record.model_dump(mode="json")
        value["provenance"].pop("created_at", None)
        return json.dumps(value, sort_keys=True)

    return ({one(r) for r in read_jsonl(out / "data.jsonl")},
            {one(r) for r in read_jsonl(out / "rejected.jsonl")})


def test_ray_executor_gives_the_local_records_on_the_small_model(tmp_path, small_recipe):
    recipe = small_recipe(6)
    local = tmp_path / "local"
    done = cli("generate", str(recipe), "-o", str(local))
    assert done.returncode == 0, done.stderr
    on_ray = tmp_path / "ray"
    on_ray.mkdir()
    shutil.copy(local / "cache.sqlite", on_ray / "cache.sqlite")  # the warm cache
    done = cli("generate", str(recipe), "-o", str(on_ray), "--resume", "--executor", "ray",
               "--workers", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    accepted, rejected = comparable(local)
    assert accepted  # the small model got some right
    assert comparable(on_ray) == (accepted, rejected)
    manifest = json.loads((on_ray / "manifest.json").read_text())
    assert manifest["executor"]["name"] == "ray"
    assert manifest["executor"]["workers_per_stage"] == 2
    assert manifest["this_session"]["llm_calls"] == 0  # every answer came from the cache
    assert not (on_ray / "stages").exists()


def test_ray_actors_ask_an_openai_compatible_server(tmp_path, small_recipe, llama_server):
    out = tmp_path / "http_ray"
    done = cli("generate", str(small_recipe(3)), "-o", str(out), "--base-url", llama_server,
               "--model", "smollm2-135m", "--executor", "ray")
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["executor"]["name"] == "ray"
    assert manifest["backend"]["backend"] == "openai_http"
    steps = manifest["usage_by_step"]
    assert steps["targen.generate"]["calls"] >= 1  # the actors' own requests, counted
    records = list(read_jsonl(out / "data.jsonl")) + list(read_jsonl(out / "rejected.jsonl"))
    backends = {r.provenance.backend for r in records} - {None}
    assert records and backends == {"openai_http"}
