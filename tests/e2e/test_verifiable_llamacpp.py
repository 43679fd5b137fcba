"""The ``verifiable`` kind on the real packaged model (SmolLM2-135M in-process, and a real
llama.cpp server on 127.0.0.1 for the code bootstrap loop over HTTP): Game of 24 and
arithmetic word problems from recipes, HumanEval through ``verify-loop``. The tiny model
rarely solves anything, so these tests assert what must hold whatever it says: every draft
ends once (accepted or rejected with the verifier's reason), every kept pair passes the
verifier again, and the yield and pass@k figures are written."""

from __future__ import annotations

import json

import pytest

from synthloom.operators.verify import DOMAINS
from synthloom.records import read_jsonl
from tests.e2e.test_generate_llamacpp import cli

pytestmark = pytest.mark.e2e

HEAD = """\
task:
  name: tiny_{domain}
  kind: verifiable
  domain: {domain}
  description: Small checkable problems.
  unit: problem
n: {n}
seed: 5
chunk_size: 4
backend: {{kind: llamacpp, model: smollm2-135m}}
steps:
"""

RECIPES = {
    "game24": """\
  - {type: verifiable.problems, source: tot-24, options: {start: 0}, max_drafts_factor: 3}
  - {type: verifiable.search, samples: 4, max_tokens: 40}
  - {type: verifiable.verify}
""",
    "arithmetic": """\
  - {type: verifiable.problems, options: {steps: [2, 2]}, max_drafts_factor: 3}
  - {type: verifiable.word_problem, max_tokens: 160}
  - {type: verifiable.text_check, max_tokens: 80}
""",
}


@pytest.mark.parametrize("domain", sorted(RECIPES))
def test_each_verifiable_recipe_runs_end_to_end(tmp_path, domain):
    recipe = tmp_path / f"{domain}.yaml"
    recipe.write_text(HEAD.format(domain=domain, n=2) + RECIPES[domain])
    out = tmp_path / domain
    result = cli("generate", str(recipe), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    ends = [r.provenance.plan.id for r in accepted + rejected]
    assert sorted(ends) == sorted(d.id for d in drafts) and len(drafts) >= 2
    assert all(r.rejected.reason for r in rejected)
    verifier = DOMAINS[domain]().verifier
    for r in accepted:
        assert r.kind == "verifiable" and r.provenance.model == "smollm2-135m"
        if domain == "arithmetic":  # the text was checked by a second solve
            assert r.verdict("text_check").passed
            assert r.outputs["answer"] == str(r.inputs["spec"]["answer"])
        else:
            assert verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
    result = cli("evaluate", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "verifiable" and metrics["generated"] == len(drafts)
    assert metrics["kept"] == len(accepted)
    if domain == "game24":
        assert metrics["k"] == 4 and 0 <= metrics["pass@1"] <= metrics["pass@k"] <= 1
    else:
        assert metrics["text_checked"]["checked"] >= len(drafts) - sum(
            1 for r in rejected if r.rejected.operator == "verify.word_problem")


def test_code_bootstrap_loop_over_a_real_llama_cpp_server(tmp_path, llama_server):
    out = tmp_path / "loop"
    result = cli("verify-loop", "code", "-o", str(out), "--source", "humaneval",
                 "--rounds", "2", "--held-out", "2", "--per-round", "2", "--samples", "2",
                 "--max-tokens", "160", "--base-url", llama_server, "--model", "smollm2-135m")
    assert result.returncode == 0, result.stdout + result.stderr
    saved = json.loads((out / "rounds.json").read_text())
    rows = saved["rounds"]
    assert [row["round"] for row in rows] == [0, 1]
    for row in rows:
        assert row["held_out_problems"] == 2 and row["generated"] == 2
        assert 0 <= row["held_out_pass@1"] <= row["held_out_pass@k"] <= 1
    verifier = DOMAINS["code"]().verifier
    for r in read_jsonl(out / "data.jsonl"):  # whatever was kept passes its tests again
        assert r.origin_of("problem").value == "real"
        assert verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
