"""The ``instruction`` kind on the real packaged model (SmolLM2-135M in-process, and a real
llama.cpp server on 127.0.0.1 for Magpie over HTTP): Self-Instruct, Evol-Instruct, Magpie
and persona-driven recipes end to end, their exports loaded with Hugging Face ``datasets``,
and ``evaluate`` against the real instruction set. The tiny model writes poor instructions,
so these tests assert what must hold whatever it says: every draft ends once (accepted or
rejected with a reason), provenance names the method, no accepted record carries chat
template markup, and the layouts load."""

from __future__ import annotations

import json

import pytest

from synthloom.llm.openai_http import OpenAIHTTPBackend
from synthloom.operators.instruct.magpie import Magpie
from synthloom.operators.instruct.responses import TEMPLATE_MARKUP
from synthloom.records import read_jsonl
from tests.e2e.test_generate_llamacpp import cli

pytestmark = pytest.mark.e2e

HEAD = """\
task:
  name: tiny_tasks
  kind: instruction
  description: Everyday tasks people ask a general-purpose assistant to do.
  unit: task for an assistant
n: {n}
seed: 5
chunk_size: 4
backend: {{kind: llamacpp, model: smollm2-135m}}
steps:
"""

SEEDS = "\n".join(json.dumps(t) for t in [
    {"instruction": "Name three fruits that are red.", "output": "Strawberry, cherry, apple."},
    {"instruction": "Add 12 and 30.", "output": "42"},
    {"instruction": "Rewrite the sentence in the past tense.", "input": "I walk home.",
     "output": "I walked home."},
    {"instruction": "Is this review positive or negative?", "input": "Great value, loved it.",
     "output": "positive"},
])

RECIPES = {
    "self_instruct": """\
  - {type: instruction.seed_pool, file: seeds.jsonl}
  - {type: instruction.self_instruct, count: 4, requests_per_round: 4, max_rounds: 3}
  - {type: instruction.drafts}
  - {type: instruction.responses, max_words: 30}
""",
    "evol": """\
  - {type: instruction.seed_pool, file: seeds.jsonl}
  - {type: instruction.evol, generations: 1, include_pool: true, max_response_words: 30}
  - {type: instruction.drafts}
  - {type: instruction.responses, max_words: 30}
""",
    "magpie": """\
  - {type: instruction.drafts, max_drafts_factor: 2.0}
  - {type: instruction.magpie, max_query_tokens: 60, max_response_tokens: 120}
  - {type: filter.near_duplicates, jaccard: 0.7}
""",
    "personas": """\
  - {type: personas.pool, source: sampled, count: 4}
  - {type: instruction.persona_prompts}
  - {type: instruction.drafts}
  - {type: instruction.responses, max_words: 30}
""",
}


def _run(tmp_path, name: str, n: int = 3):
    (tmp_path / "seeds.jsonl").write_text(SEEDS + "\n")
    recipe = tmp_path / f"{name}.yaml"
    recipe.write_text(HEAD.format(n=n) + RECIPES[name])
    out = tmp_path / name
    result = cli("generate", str(recipe), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_instruction_recipe_runs_end_to_end(tmp_path, name):
    out = _run(tmp_path, name)
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert accepted, f"{name}: no record accepted; rejected: {[r.rejected for r in rejected]}"
    # every draft ends exactly once, accepted or rejected with a reason
    ends = [r.provenance.plan.id for r in accepted + rejected]
    assert sorted(ends) == sorted(d.id for d in drafts)
    assert all(r.rejected.reason for r in rejected)
    for r in accepted:
        assert r.kind == "instruction" and r.origin.value == "synthetic"
        assert r.inputs["instruction"].strip() and r.outputs["response"].strip()
        assert not any(m in r.inputs["instruction"] + r.outputs["response"]
                       for m in TEMPLATE_MARKUP)
        assert r.provenance.model == "smollm2-135m"
        planned = r.provenance.operators[0].detail
        if name != "magpie":  # a pool item: its method and pool id are in provenance
            assert planned["method"] in {"self_instruct", "evol_instruct", "persona", "file"}
            assert planned["pool_id"]
    if name == "personas":
        assert all(r.provenance.plan.persona for r in accepted)
    if name == "evol":
        evolved = [r for r in accepted if r.provenance.operators[0].detail["method"]
                   == "evol_instruct"]
        pool = json.loads((out / "plan" / "evol.json").read_text())
        assert pool["candidates"] == len(pool["items"]) + sum(pool["removed"].values()) - 4
        for r in evolved:  # the evolution tree: parent and operation
            assert r.provenance.parents and r.provenance.operators[0].detail["operation"]


def test_instruction_export_layouts_load_in_datasets_and_evaluate(tmp_path):
    datasets = pytest.importorskip("datasets")
    out = _run(tmp_path, "magpie", n=3)
    n = len(list(read_jsonl(out / "data.jsonl")))
    columns = {"messages": ["messages", "id"], "alpaca": ["instruction", "input", "output", "id"],
               "sharegpt": ["conversations", "id"]}
    for layout, expected in columns.items():
        for suffix in (".jsonl", ".parquet"):
            path = tmp_path / f"{layout}{suffix}"
            result = cli("export", str(out), "--layout", layout, "-o", str(path))
            assert result.returncode == 0, result.stdout + result.stderr
            kind = "json" if suffix == ".jsonl" else "parquet"
            ds = datasets.load_dataset(kind, data_files=str(path), split="train")
            assert ds.column_names == expected and len(ds) == n
    ds = datasets.load_dataset("json", data_files=str(tmp_path / "messages.jsonl"),
                               split="train")
    assert [m["role"] for m in ds[0]["messages"]][:2] == ["user", "assistant"]
    result = cli("evaluate", str(out), "--real", "self_instruct_seed")
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "instruction" and metrics["real"]["n"] == 175
    assert metrics["synthetic"]["n"] == n and "distinct_2" in metrics["synthetic"]
    assert "precision" in metrics["real_half_vs_half"]


def test_magpie_over_a_real_llama_cpp_server(llama_server):
    backend = OpenAIHTTPBackend(llama_server, model="smollm2-135m", max_concurrency=2)
    try:
        results = Magpie(backend, seed=3, max_query_tokens=60,
                         max_response_tokens=80).run(["a", "b", "c"])
    finally:
        backend.close()
    assert len(results) == 3
    for result in results:
        assert (result.messages is None) != (result.reason is None)
        if result.messages:
            assert [m["role"] for m in result.messages] == ["user", "assistant"]
            assert not any(m in result.messages[0]["content"] for m in TEMPLATE_MARKUP)
    assert backend.usage.calls >= 3  # the queries went to /completions


def test_magpie_refuses_a_model_without_a_known_template(tmp_path):
    recipe = tmp_path / "m.yaml"
    recipe.write_text(HEAD.format(n=2).replace(
        "{kind: llamacpp, model: smollm2-135m}",
        "{kind: openai_http, model: llama-3-8b, base_url: 'http://127.0.0.1:9/v1'}")
        + RECIPES["magpie"])
    result = cli("generate", str(recipe), "-o", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "pre-query template" in result.stderr + result.stdout
    assert len((result.stderr + result.stdout).strip().splitlines()) <= 3
