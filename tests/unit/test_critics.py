"""The double critic and debate check steps on a scripted backend: batching, pass rules,
retries without coercion, reasons, engine runs, template overrides, domain-neutral prompts."""

from __future__ import annotations

import json
import re

import pytest

from synthloom.llm.base import ChatRequest
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.operators.judge.debate import Debate
from synthloom.operators.judge.double_critic import DoubleCritic
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe
from synthloom.pipeline.steps import StepContext
from synthloom.records import Origin, Provenance, Record, read_jsonl
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_targen_pipeline import LABELS
from tests.unit.test_targen_pipeline import respond as targen_respond


def record(text: str, label: str, i: int = 0) -> Record:
    return Record(id=f"r{i}", task="toy", origin=Origin.synthetic, inputs={"text": text},
                  provenance=Provenance(target_label=label))


def true_label(text: str) -> str:
    return next(x for x in LABELS if f" {x} " in f" {text} ")


def critic(request: ChatRequest, *, confirm: str | None = None, refute: str | None = None
           ) -> str | None:
    """An honest critic (the label is right when the text names it), or the given answers;
    None for a request that is no critic's."""
    schema = request.json_schema or {}
    if "answer" not in schema.get("properties", {}):
        return None
    user = request.messages[1]["content"]
    text = re.search(r"note: (.+)", user).group(1)
    label = re.search(r"label (\w+) (?:fit|wrong)", user).group(1)
    right = true_label(text) == label
    if schema["properties"]["answer"]["enum"] == ["yes", "no"]:
        return confirm or json.dumps({"answer": "yes" if right else "no"})
    return refute or json.dumps({"answer": "no" if right else "yes"})


def debater(request: ChatRequest, decision: str | None = None) -> str | None:
    """Debaters argue in plain text; the judge decides honestly (or ``decision``)."""
    system, user = request.messages[0]["content"], request.messages[1]["content"]
    if system.startswith("You argue"):
        side = "for" if "argue FOR" in user else "against"
        return f"{side} argument {user.count('For:') + user.count('Against:')}"
    if system.startswith("You judge debates"):
        text = re.search(r"note: (.+)", user).group(1)
        label = re.search(r"the label (\w+) \(", user).group(1)
        ok = true_label(text) == label
        return decision or json.dumps({"verdict": "correct" if ok else "incorrect"})
    return None


def critic_op(backend, **kwargs) -> DoubleCritic:
    return DoubleCritic(backend, "Toy notes.", LABELS, unit="toy note", **kwargs)


def test_both_critics_answer_in_one_batch_greedy_with_opposite_option_orders():
    backend = ScriptedBackend(critic)
    records = [record(f"A note on {x} here", x, i) for i, x in enumerate(LABELS)]
    out = critic_op(backend, seed=5)(records)
    assert backend.batches == [6]
    enums = [q.json_schema["properties"]["answer"]["enum"] for q in backend.requests]
    assert enums == [["yes", "no"], ["no", "yes"]] * 3
    assert {q.sampling.temperature for q in backend.requests} == {0.0}
    assert len({q.sampling.seed for q in backend.requests}) == 6
    confirm, refute = backend.requests[:2]
    assert confirm.messages[1]["content"] != refute.messages[1]["content"]
    assert confirm.messages[0]["content"] != refute.messages[0]["content"]
    for r in out:
        v = r.verdict("double_critic")
        assert v.by == "judge.double_critic/scripted-model" and v.passed is True
        assert v.detail == {"label": r.provenance.target_label,
                            "critics": {"confirm": True, "refute": True}, "agree": True,
                            "same_model_as_generator": False}
        assert [s.operator for s in r.provenance.operators] == ["judge.double_critic"]


@pytest.mark.parametrize(("confirm", "refute", "views", "passed", "agree"), [
    ("yes", "no", (True, True), True, True),
    ("yes", "yes", (True, False), False, False),
    ("no", "no", (False, True), False, False),
    ("no", "yes", (False, False), False, True),
])
def test_passed_only_when_both_critics_say_the_label_fits(confirm, refute, views, passed,
                                                           agree):
    backend = ScriptedBackend(lambda q: critic(q, confirm=json.dumps({"answer": confirm}),
                                               refute=json.dumps({"answer": refute})))
    (out,) = critic_op(backend)([record("A note on alpha here", "alpha")])
    v = out.verdict("double_critic")
    assert (v.passed, v.detail["agree"]) == (passed, agree)
    assert v.detail["critics"] == dict(zip(("confirm", "refute"), views, strict=True))


def _step_runtime(recipe: Recipe, backend, judge=None):
    (check,) = [s for s in recipe.steps if s.type.startswith("judge.")]
    return check.build(StepContext(recipe, backend, judge_backend=judge))


def _steps_recipe(check: dict, **extra) -> Recipe:
    return Recipe(task={"name": "toy", "description": "Toy notes.", "labels": LABELS,
                        "unit": "toy note"}, n=6, chunk_size=3, steps=[
        {"type": "targen.contexts", "n": 3}, {"type": "targen.instance_seeds", "per_pair": 4},
        {"type": "targen.label_constraints"}, {"type": "targen.generate", "max_words": 12},
        {"type": "targen.self_correction", "on_fail": "keep"}, check], **extra)


def test_a_refuting_critic_fails_the_record_and_the_reason_names_it():
    backend = ScriptedBackend(lambda q: critic(q, refute='{"answer": "yes"}'))
    check = _step_runtime(_steps_recipe({"type": "judge.double_critic"}), backend)
    (out,) = check([record("A note on beta here", "beta")])
    assert not check.passed(out) and check.config.on_fail == "reject"
    reason = check.reason(out, 1)
    assert reason == ("double critic on the label 'beta': confirm said it fits, refute said "
                      "it is wrong, after 1 generation(s)")
    (wrong,) = check([record("A note on beta here", "gamma")])
    assert check.reason(wrong, 2).startswith(
        "double critic: confirm said the label 'gamma' is wrong, refute said it is wrong")


def test_unparsable_answers_are_retried_then_recorded_as_none_never_coerced():
    backend = ScriptedBackend(lambda q: critic(q, confirm="yes I think so"))
    check = _step_runtime(_steps_recipe({"type": "judge.double_critic", "max_attempts": 3}),
                          backend)
    (out,) = check([record("A note on alpha here", "alpha")])
    assert backend.batches == [2, 1, 1]  # the refute critic answered at once
    confirms = [q for q in backend.requests if q.json_schema["properties"]["answer"]["enum"]
                == ["yes", "no"]]
    assert len(confirms) == 3 and len({q.sampling.seed for q in confirms}) == 3
    v = out.verdict("double_critic")
    assert v.detail["critics"] == {"confirm": None, "refute": True}
    assert v.passed is False and v.detail["agree"] is False
    assert out.provenance.operators[-1].verdict == "unjudged"
    assert "confirm gave no valid answer" in check.reason(out, 1)


def test_the_step_asks_the_judge_backend_and_records_whether_it_is_the_generator():
    generator = ScriptedBackend(critic)
    judge = ScriptedBackend(critic, model="judge-model")
    check = _step_runtime(_steps_recipe({"type": "judge.double_critic"}), generator, judge)
    (out,) = check([record("A note on alpha here", "alpha")])
    assert generator.requests == [] and len(judge.requests) == 2
    v = out.verdict("double_critic")
    assert v.by == "judge.double_critic/judge-model"
    assert v.detail["same_model_as_generator"] is False
    (same,) = _step_runtime(_steps_recipe({"type": "judge.double_critic"}), generator)(
        [record("A note on alpha here", "alpha")])
    assert same.verdict("double_critic").detail["same_model_as_generator"] is True


def respond(request: ChatRequest) -> str:
    for answer in (critic(request), debater(request)):
        if answer is not None:
            return answer
    return targen_respond(request)


def test_double_critic_in_a_recipe_rejects_off_label_records_with_the_reason(tmp_path):
    recipe = _steps_recipe({"type": "judge.double_critic"})
    backend = CachedBackend(ScriptedBackend(respond), ResponseCache(tmp_path / "c.sqlite"))
    manifest = run_recipe(recipe, tmp_path / "out", backend=backend)
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    rejected = list(read_jsonl(tmp_path / "out" / "rejected.jsonl"))
    assert manifest["accepted"] == len(data) == 6
    for r in data:
        v = r.verdict("double_critic")
        assert v.passed is True and v.detail["same_model_as_generator"] is True
        assert r.provenance.operators[-1].operator == "judge.double_critic"
    critics = [r for r in rejected if r.rejected.operator == "judge.double_critic"]
    assert critics, "the fake generator writes off-label texts; the critics must catch some"
    for r in critics:
        assert r.rejected.reason.startswith("double critic: confirm said the label "
                                            f"'{r.provenance.target_label}' is wrong")
        assert r.rejected.reason.endswith("after 1 generation(s)")


@pytest.mark.parametrize("rounds", [1, 2])
def test_debate_spends_2_rounds_plus_1_calls_per_record_and_keeps_its_transcript(rounds):
    backend = ScriptedBackend(debater)
    records = [record("A note on alpha here", "alpha", 0), record("A note on beta", "gamma", 1)]
    out = Debate(backend, "Toy notes.", LABELS, unit="toy note", rounds=rounds)(records)
    assert backend.batches == [2] * (2 * rounds + 1)  # one batch per turn, records together
    assert len(backend.requests) == 2 * (2 * rounds + 1)
    assert {q.sampling.temperature for q in backend.requests} == {0.0}
    assert {q.sampling.max_tokens for q in backend.requests if q.json_schema is None} == {80}
    expected = [{"side": side, "text": f"{side} argument {2 * r + (side == 'against')}"}
                for r in range(rounds) for side in ("for", "against")]
    for r, decision in zip(out, ("correct", "incorrect"), strict=True):
        v = r.verdict("debate")
        assert v.by == "judge.debate/scripted-model"
        assert v.passed is (decision == "correct")
        assert v.detail == {"label": r.provenance.target_label, "rounds": rounds,
                            "transcript": expected, "decision": decision,
                            "calls": 2 * rounds + 1}
    judge_prompt = backend.requests[-1].messages[1]["content"]
    assert all(t["text"] in judge_prompt for t in expected)


def test_debate_without_a_valid_decision_records_none_and_counts_the_retries():
    backend = ScriptedBackend(lambda q: debater(q, decision="correct"))
    check = _step_runtime(_steps_recipe({"type": "judge.debate", "max_attempts": 2}), backend)
    (out,) = check([record("A note on alpha here", "alpha")])
    v = out.verdict("debate")
    assert v.passed is None and v.detail["decision"] is None and v.detail["calls"] == 4
    assert check.config.on_fail == "keep" and check.config.fail_trust_weight == 0.5
    assert check.reason(out, 1) == ("debate (1 round(s)) on the label 'alpha': the judge "
                                    "gave no valid decision, after 1 generation(s)")


def test_templates_of_both_operators_can_be_overridden_from_a_recipe():
    templates = {"judge.double_critic.refute_user": "REFUTE {label} on {text}?",
                 "judge.debate.judge_user": "JUDGE {label}: {transcript}"}
    backend = ScriptedBackend(lambda q: '{"answer": "no"}' if q.json_schema and "answer" in
                              q.json_schema["properties"] else "x")
    for check in ({"type": "judge.double_critic"}, {"type": "judge.debate"}):
        recipe = _steps_recipe(check, templates=templates)
        _step_runtime(recipe, backend)([record("A note on alpha here", "alpha")])
    users = [q.messages[1]["content"] for q in backend.requests]
    assert "REFUTE alpha on A note on alpha here?" in users
    assert any(u.startswith("JUDGE alpha: For: x\nAgainst: x\n") for u in users)
    with pytest.raises(ValueError, match="unknown field"):
        _steps_recipe({"type": "judge.debate"},
                      templates={"judge.debate.for_user": "{colour}"})


def test_prompts_name_the_unit_and_never_news_for_another_domain():
    recipe = Recipe(task={"name": "tweets", "description": "Short public tweets.",
                          "labels": {"positive": "a good feeling", "negative": "a bad one"},
                          "unit": "tweet"}, steps=[
        {"type": "targen.contexts", "n": 2}, {"type": "targen.instance_seeds"},
        {"type": "targen.label_constraints"}, {"type": "targen.generate"},
        {"type": "judge.double_critic"}, {"type": "judge.debate", "rounds": 2}])
    backend = ScriptedBackend(lambda q: "{}" if q.json_schema else "an argument")
    ctx = StepContext(recipe, backend)
    for step in recipe.steps_of("check"):
        step.build(ctx)([record("so happy today", "positive")])
    prompts = [m["content"] for q in backend.requests for m in q.messages]
    # critics: 2 prompts x 3 attempts; debate: 4 turns, then 3 attempts at a decision
    assert len(backend.requests) == 2 * 3 + 4 + 3
    assert all("news" not in p.lower() for p in prompts)
    assert all("tweet" in q.messages[1]["content"] for q in backend.requests)


def test_step_defaults():
    from synthloom.pipeline.steps.critics import DebateStep, DoubleCriticStep

    c, d = DoubleCriticStep(), DebateStep()
    assert (c.on_fail, c.fail_trust_weight, c.max_regenerations, c.max_attempts) == (
        "reject", 0.5, 2, 3)
    assert (d.rounds, d.on_fail, d.fail_trust_weight, d.role, c.role) == (
        1, "keep", 0.5, "check", "check")
    with pytest.raises(ValueError):
        DebateStep(rounds=3)
