"""The ``dialogue`` and ``tool_dialogue`` kinds on the real packaged model (SmolLM2-135M
in-process). The tiny model writes poor dialogues and its chat template ignores tools (the
assistant's calls then come from the forced-call path, whose arguments llama.cpp
constrains to the tool's schema), so these tests assert what must hold whatever it says:
every draft ends once (accepted, or rejected with a reason), every kept tool call passes its
schema and is answered by a schema-valid result, and the export loads in ``datasets``."""

from __future__ import annotations

import json

import pytest

from synthloom.operators.tools import ToolRegistry
from synthloom.records import read_jsonl
from tests.e2e.test_generate_llamacpp import cli

pytestmark = pytest.mark.e2e

TOOL_RECIPE = """\
task:
  name: tiny_tools
  kind: tool_dialogue
  description: A personal assistant that books travel and manages a calendar.
n: 1
seed: 5
chunk_size: 2
backend: {kind: llamacpp, model: smollm2-135m}
steps:
  - {type: tools.sample, tools: builtin, size: [2, 2], max_drafts_factor: 2}
  - {type: tool_dialogue.generate, turns: [2, 2], max_tokens: 160}
"""

DIALOGUE_RECIPE = """\
task:
  name: tiny_talks
  kind: dialogue
  description: Everyday conversations between two people.
  unit: conversation
  topics: [planning a trip]
n: 2
seed: 5
chunk_size: 2
backend: {kind: llamacpp, model: smollm2-135m}
steps:
  - {type: dialogue.subtopics, count: 2}
  - {type: dialogue.personas, count: 2}
  - {type: dialogue.drafts, max_drafts_factor: 2}
  - {type: dialogue.write, max_tokens: 300}
"""


def _ends(out):
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert sorted(r.provenance.plan.id for r in accepted + rejected) == sorted(
        d.id for d in drafts) and drafts
    assert all(r.rejected.reason for r in rejected)
    return accepted, rejected


def test_tool_dialogues_end_to_end_with_valid_calls_and_a_loadable_export(tmp_path):
    datasets = pytest.importorskip("datasets")
    recipe = tmp_path / "tools.yaml"
    recipe.write_text(TOOL_RECIPE)
    out = tmp_path / "tools"
    result = cli("generate", str(recipe), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    accepted, _ = _ends(out)
    registry = ToolRegistry.builtin()
    for r in accepted:
        assert r.kind == "tool_dialogue" and r.provenance.model == "smollm2-135m"
        messages = r.outputs["messages"]
        calls = [c for m in messages for c in m.get("tool_calls") or []]
        assert calls and not [e for c in calls for e in registry.validate_call(c)]
        for m in messages:
            if m["role"] == "tool":
                assert not registry.validate_result(m["name"], m["content"])
    if accepted:
        target = tmp_path / "chat.jsonl"
        result = cli("export", str(out), "--layout", "messages", "-o", str(target))
        assert result.returncode == 0, result.stdout + result.stderr
        data = datasets.load_dataset("json", data_files=str(target), split="train")
        assert len(data) == len(accepted)
        assert json.loads(data[0]["tools"])[0]["type"] == "function"


def test_dialogues_end_to_end_with_two_speakers(tmp_path):
    recipe = tmp_path / "talks.yaml"
    recipe.write_text(DIALOGUE_RECIPE)
    out = tmp_path / "talks"
    result = cli("generate", str(recipe), "-o", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    accepted, _ = _ends(out)
    for r in accepted:
        assert r.kind == "dialogue" and len(r.outputs["messages"]) >= 4
        assert len(set(r.outputs["speakers"])) == 2
        assert {m["role"] for m in r.outputs["messages"]} <= {"user", "assistant"}
