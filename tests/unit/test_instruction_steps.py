"""The instruction kind's steps wired into whole runs on a scripted model: pools become
drafts (one per item, pool outputs kept as responses), personas reach each record's plan,
Magpie's chats of several turns are stored whole, best-of-n keeps the judge's best, and
bad seed files, persona files and operations are one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.llm.base import ChatRequest
from synthloom.operators.instruct.responses import InstructionResponses
from synthloom.operators.judge.pointwise import PointwiseJudge
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import read_jsonl
from synthloom.tasks.instruction import messages_row
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_step_contract import respond

runner = CliRunner()

HEAD = """\
task:
  name: toy_tasks
  kind: instruction
  description: Small everyday tasks.
  unit: task for an assistant
n: {n}
seed: 3
steps:
"""


def _run(tmp_path, steps: str, n: int = 3):
    path = tmp_path / "r.yaml"
    path.write_text(HEAD.format(n=n) + steps)
    backend = ScriptedBackend(respond, model="scripted-qwen2.5")
    out = tmp_path / "out"
    manifest = run_recipe(load_recipe(path), out, backend=backend)
    return manifest, list(read_jsonl(out / "data.jsonl")), out


def test_a_self_instruct_pool_becomes_one_draft_per_item_with_its_instance_output(tmp_path):
    manifest, records, out = _run(tmp_path, """\
  - {type: instruction.seed_pool}
  - {type: instruction.self_instruct, count: 4, requests_per_round: 2}
  - {type: instruction.drafts}
  - {type: instruction.responses}
""")
    pool = json.loads((out / "plan" / "self_instruct.json").read_text())
    assert manifest["accepted"] == 3 and len(pool["items"]) >= 3
    by_id = {i["id"]: i for i in pool["items"]}
    for r in records:
        detail = r.provenance.operators[0].detail
        item = by_id[detail["pool_id"]]
        assert detail["method"] == "self_instruct"
        assert r.inputs["instruction"] == item["instruction"]
        assert r.outputs["response"] == item["output"]  # the instance output, not re-asked
        assert r.provenance.operators[-1].verdict == "pool output"
    assert len({r.inputs["instruction"] for r in records}) == 3


def test_personas_reach_each_records_plan(tmp_path):
    _, records, _ = _run(tmp_path, """\
  - {type: personas.pool, source: sampled, count: 5}
  - {type: instruction.persona_prompts}
  - {type: instruction.drafts}
  - {type: instruction.responses}
""")
    assert len(records) == 3
    assert all(r.provenance.plan.persona for r in records)
    assert len({r.provenance.plan.persona for r in records}) == 3


def test_magpie_multi_turn_chats_are_stored_whole_and_export_every_turn(tmp_path):
    _, records, _ = _run(tmp_path, """\
  - {type: instruction.drafts}
  - {type: instruction.magpie, turns: 2}
""", n=2)
    assert len(records) == 2
    for r in records:
        chat = r.outputs["messages"]
        assert [m["role"] for m in chat] == ["user", "assistant"] * 2
        assert r.inputs["instruction"] == chat[0]["content"]
        assert r.outputs["response"] == chat[1]["content"]
        assert messages_row(r)["messages"] == chat


def test_evol_records_carry_their_parent_and_operation(tmp_path):
    _, records, out = _run(tmp_path, """\
  - {type: instruction.seed_pool}
  - {type: instruction.evol, generations: 2}
  - {type: instruction.drafts}
  - {type: instruction.responses}
""", n=4)
    pool = {i["id"]: i for i in json.loads((out / "plan" / "evol.json").read_text())["items"]}
    for r in records:
        detail = r.provenance.operators[0].detail
        item = pool[detail["pool_id"]]
        assert detail["operation"] == item["operation"] and detail["generation"] >= 1
        assert r.provenance.parents == item["parents"] and item["parents"]


def test_best_of_n_keeps_the_candidate_the_judge_scores_highest():
    def model(request):
        if isinstance(request, ChatRequest) and request.json_schema:
            text = request.messages[-1]["content"]
            return json.dumps({"response_quality": 5 if "GOOD" in text else 1})
        return "GOOD answer." if request.sampling.temperature > 1 else "meh answer."

    backend = ScriptedBackend(model)
    from synthloom.operators.instruct.responses import RESPONSE_QUALITY

    judge = PointwiseJudge(backend, "tasks", "task", [RESPONSE_QUALITY])
    op = InstructionResponses(backend, n=3, temperatures=[0.2, 0.7, 1.3], judge=judge)
    (result,) = op.run([("k", "Say something.")])
    assert result.text == "GOOD answer."
    assert [c["score"] for c in result.candidates] == [1.0, 1.0, 5.0]
    with pytest.raises(ValueError, match="needs a judge"):
        InstructionResponses(backend, n=2)


@pytest.mark.parametrize(("steps", "message"), [
    ("  - {type: instruction.seed_pool, file: empty.jsonl}\n", "empty.jsonl"),
    ("  - {type: instruction.seed_pool, file: bad.jsonl}\n", "bad.jsonl"),
    ("  - {type: instruction.seed_pool}\n  - {type: instruction.evol, operations: [shrink]}\n",
     "unknown Evol-Instruct operation 'shrink'"),
    ("  - {type: personas.pool, source: file, file: none.txt}\n"
     "  - {type: instruction.persona_prompts}\n", "none.txt"),
])
def test_bad_seed_files_personas_and_operations_exit_2_in_one_line(tmp_path, steps, message):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"instruction": "ok"}\nnot json\n')
    recipe = tmp_path / "r.yaml"
    recipe.write_text(HEAD.format(n=2) + steps + "  - {type: instruction.drafts}\n"
                      "  - {type: instruction.responses}\n")
    result = runner.invoke(app, ["generate", str(recipe), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) <= 2
    assert not (tmp_path / "o").exists()


def test_a_persona_pool_from_a_file_reaches_a_classification_recipe(tmp_path):
    (tmp_path / "people.txt").write_text("a beekeeper in a windy valley\n"
                                         "a night-shift nurse who writes poems\n")
    path = tmp_path / "c.yaml"
    path.write_text("""\
task: {name: toy, kind: classification, description: Toy notes., unit: note,
       labels: {alpha: about alpha, beta: about beta}}
n: 4
seed: 3
steps:
  - {type: personas.pool, source: file, file: people.txt}
  - {type: targen.contexts, n: 2}
  - {type: targen.instance_seeds, per_pair: 2}
  - {type: targen.label_constraints}
  - {type: coverage.plan, personas: true}
  - {type: targen.generate, max_words: 10}
""")
    out = tmp_path / "out"
    run_recipe(load_recipe(path), out, backend=ScriptedBackend(respond))
    personas = {r.provenance.plan.persona for r in read_jsonl(out / "drafts.jsonl")}
    assert personas == {"a beekeeper in a windy valley", "a night-shift nurse who writes poems"}


def test_a_seed_task_is_answered_anew_and_its_instruction_marked_real(tmp_path):
    _, records, _ = _run(tmp_path, """\
  - {type: instruction.seed_pool}
  - {type: instruction.evol, generations: 1, include_pool: true}
  - {type: instruction.drafts}
  - {type: instruction.responses}
""", n=12)
    seeds = [r for r in records if r.provenance.operators[0].detail["method"] == "seed"]
    evolved = [r for r in records if r.provenance.operators[0].detail["method"]
               == "evol_instruct"]
    assert seeds and evolved
    for r in seeds:  # a person wrote the instruction; the model wrote the response
        assert r.origin.value == "synthetic" and r.field_origins["instruction"].value == "real"
        assert r.provenance.operators[-1].verdict == "generated"
    for r in evolved:
        assert not r.field_origins and r.provenance.operators[-1].verdict == "pool output"
        assert r.provenance.model == "scripted-qwen2.5"
