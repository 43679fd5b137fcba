"""The verifiable kind on the step engine: problems -> search -> verify -> keep, with the
verifier's evidence in every record, yield accounting from the run folder, export as
instruction data, and one-line errors (exit 2) for bad recipes and loop options."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.evaluate.verifiable import yield_summary
from synthloom.operators.verify import DOMAINS, pass_at_k
from synthloom.operators.verify.game24 import solve_24
from synthloom.operators.verify.llm_bootstrap import llm_bootstrap
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import Origin, read_jsonl
from tests.unit.scripted import ScriptedBackend

runner = CliRunner()


def _recipe(tmp_path, domain: str, steps: str, n: int = 3, name: str = "toy") -> object:
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"""\
task:
  name: {name}
  kind: verifiable
  domain: {domain}
  description: Small checkable problems.
  unit: problem
n: {n}
seed: 5
steps:
{steps}""")
    return path


def _run(tmp_path, domain, steps, respond=lambda r: "nothing", n=3):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = _recipe(tmp_path, domain, steps, n=n)
    out = tmp_path / "out"
    backend = ScriptedBackend(respond)
    manifest = run_recipe(load_recipe(path), out, backend=backend)
    return manifest, list(read_jsonl(out / "data.jsonl")), \
        list(read_jsonl(out / "rejected.jsonl")), out, backend


SAT_STEPS = """\
  - {type: verifiable.problems, options: {n_vars: 12}}
  - {type: verifiable.search, method: solver}
  - {type: verifiable.verify}
"""


def test_sat_solver_run_keeps_only_verified_pairs_with_evidence_and_cost(tmp_path):
    manifest, records, rejected, out, backend = _run(tmp_path, "sat", SAT_STEPS)
    assert manifest["accepted"] == 3 and not backend.requests  # the solver asks no LLM
    sat = DOMAINS["sat"]()
    for r in records:
        assert r.kind == "verifiable" and r.origin is Origin.synthetic
        verdict = r.verdict("verifier")
        assert verdict.passed and verdict.by == "sat.clause_check"
        assert verdict.detail["clauses_checked"] == len(r.inputs["spec"]["clauses"])
        # the stored answer really satisfies the formula (checked again, independently)
        assert sat.verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
        assert r.outputs["solution"].startswith("Assignment:")
        search = next(s for s in r.provenance.operators if s.operator == "verify.solver")
        assert search.detail["cost"]["decisions"] >= 0 and search.detail["cost_unit"] == \
            "decisions"
    summary = yield_summary(records, rejected, json.loads((out / "manifest.json").read_text()))
    assert summary["kept"] == summary["verified"] == 3 and summary["domain"] == "sat"
    assert summary["search_cost"]["unit"] == "decisions" and summary["pass@1"] is None


def test_same_recipe_gives_the_same_problems_and_a_longer_run_extends_them(tmp_path):
    _, first, *_ = _run(tmp_path / "a", "sat", SAT_STEPS, n=2)
    _, longer, *_ = _run(tmp_path / "b", "sat", SAT_STEPS, n=4)
    assert [r.inputs["spec"] for r in first] == [r.inputs["spec"] for r in longer[:2]]
    assert len({json.dumps(r.inputs["spec"]) for r in longer}) == 4


def _game24_model(right: bool):
    def respond(request):
        numbers = re.findall(r"Input: ([\d ]+)\s*$", request.messages[-1]["content"].strip())
        hand = [int(x) for x in numbers[-1].split()]
        expression, _ = solve_24(hand)
        if right and expression and (request.sampling.seed or 0) % 2 == 0:
            return f"Answer: {expression} = 24"
        return f"Answer: {' - '.join(map(str, hand))} = 24"  # never 24: all numbers < 14
    return respond


G24_STEPS = """\
  - {type: verifiable.problems, source: tot-24, options: {start: 900}}
  - {type: verifiable.search, samples: 4, max_tokens: 48}
  - {type: verifiable.verify}
"""


def test_game24_llm_search_keeps_a_verified_sample_and_marks_the_puzzle_real(tmp_path):
    manifest, records, rejected, out, _ = _run(tmp_path, "game24", G24_STEPS,
                                               _game24_model(right=True))
    assert manifest["accepted"] == 3
    for r in records:
        assert r.origin is Origin.synthetic and r.origin_of("problem") is Origin.real
        assert r.provenance.source.startswith("tot-24#")
        verdict = r.verdict("verifier")
        assert verdict.passed and 1 <= verdict.detail["candidates_passed"] <= 4
        assert DOMAINS["game24"]().verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
    result = runner.invoke(app, ["evaluate", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kind"] == "verifiable" and metrics["k"] == 4
    assert 0 < metrics["pass@1"] <= metrics["pass@k"] <= 1


def test_game24_wrong_answers_are_rejected_naming_the_verifiers_reason(tmp_path):
    manifest, records, rejected, *_ = _run(tmp_path, "game24", G24_STEPS,
                                           _game24_model(right=False))
    assert manifest["accepted"] == 0 and not records and rejected
    reason = rejected[0].rejected.reason
    assert reason.startswith("game24.exact: none of 4 candidate(s) passed") and "24" in reason


def test_export_writes_verified_pairs_as_chat_data_with_the_verifier_evidence(tmp_path):
    _, records, _, out, _ = _run(tmp_path, "sat", SAT_STEPS)
    target = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["export", str(out), "--layout", "messages", "-o", str(target)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(rows) == 3
    assert rows[0]["messages"][0]["content"] == records[0].inputs["problem"]
    assert rows[0]["messages"][1]["content"] == records[0].outputs["solution"]
    assert rows[0]["verifier"][0]["passed"] is True


@pytest.mark.parametrize("domain, steps, message", [
    ("nope", SAT_STEPS, "task.domain 'nope' is not a verifiable domain"),
    ("sat", SAT_STEPS.replace("n_vars: 12", "colours: 3"), "no option(s) ['colours']"),
    ("code", "  - {type: verifiable.problems, source: humaneval}\n"
             "  - {type: verifiable.search, method: solver}\n  - {type: verifiable.verify}\n",
     "the code domain has no solver"),
    ("code", "  - {type: verifiable.problems}\n  - {type: verifiable.search}\n"
             "  - {type: verifiable.verify}\n", "has no problem generator; give source"),
    ("sat", SAT_STEPS.replace("options:", "source: tot-24, options:"),
     "source 'tot-24': the sat domain's sources are generated"),
])
def test_bad_verifiable_recipes_exit_2_in_one_line(tmp_path, domain, steps, message):
    path = _recipe(tmp_path, domain, steps)
    result = runner.invoke(app, ["generate", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_verify_loop_sat_writes_rounds_and_verified_pairs(tmp_path):
    out = tmp_path / "loop"
    result = runner.invoke(app, ["verify-loop", "sat", "-o", str(out), "--rounds", "2",
                                 "--n-vars", "10", "--per-round", "4", "--held-out", "3",
                                 "--budget", "500"])
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "rounds.json").read_text())
    assert [row["round"] for row in saved["rounds"]] == [0, 1]
    records = list(read_jsonl(out / "data.jsonl"))
    sat = DOMAINS["sat"]()
    assert records and all(sat.verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
                           for r in records)


@pytest.mark.parametrize("args, message", [
    (["nope"], "unknown domain 'nope'"),
    (["game24", "--source", "humaneval"], "--source 'humaneval'"),
    (["sat", "--sizes", "4,x"], "--sizes: not comma-separated integers"),
])
def test_verify_loop_bad_options_exit_2_in_one_line(tmp_path, args, message):
    result = runner.invoke(app, ["verify-loop", *args, "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_llm_bootstrap_shows_kept_pairs_as_exemplars_and_measures_a_fixed_held_out_set():
    domain = DOMAINS["game24"]()
    backend = ScriptedBackend(_game24_model(right=True))
    held = domain.problems(3, 0, source="tot-24", start=900)
    rounds = domain.problems(8, 1, source="tot-24", start=0)
    answered: list[tuple[str, int, int]] = []
    result = llm_bootstrap(backend, domain, rounds=2, problems=lambda r: rounds[4 * r:4 * r + 4],
                           held_out=held, samples=2, exemplars=2, seed=3,
                           on_answers=lambda *a: answered.append(a))
    assert [row["round"] for row in result.rows] == [0, 1]
    # progress per phase, ending with every problem answered
    assert {a[0] for a in answered} == {"round 0 held-out", "round 0 search",
                                        "round 1 held-out", "round 1 search"}
    assert ("round 1 search", 4, 4) in answered and ("round 0 held-out", 3, 3) in answered
    assert result.rows[0]["exemplars"] == 0 and result.rows[1]["exemplars"] == 2
    # round 1's prompts carry two verified exemplars as earlier chat turns
    later = [r for r in backend.requests if len(r.messages) > len(domain.prompt(held[0]))]
    assert later and all(len(r.messages) == len(domain.prompt(held[0])) + 4 for r in later)
    assert all(domain.verifier.verify(r.inputs["spec"], r.outputs["answer"]).passed
               for r in result.kept)
    row = result.rows[0]
    assert row["held_out_problems"] == 3 and 0 <= row["held_out_pass@1"] <= 1
    assert row["kept"] <= row["verified"] <= row["generated"] == 4


def test_pass_at_k_is_the_unbiased_estimate():
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 4) == 1.0 and pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_verify_loop_real_set_held_out_starts_at_start_and_rounds_follow_it():
    from synthloom.pipeline.verify_loop import _problem_sets

    held, problems = _problem_sets(DOMAINS["game24"](), "tot-24", held_out=5, per_round=3,
                                   rounds=2, seed=0, start=900, options={})
    assert [p.source for p in held] == [f"tot-24#{i}" for i in range(901, 906)]
    assert [p.source for p in problems(1)] == [f"tot-24#{i}" for i in range(909, 912)]
    with pytest.raises(Exception, match="from --start 1360"):
        _problem_sets(DOMAINS["game24"](), "tot-24", held_out=5, per_round=3, rounds=2,
                      seed=0, start=1360, options={})
