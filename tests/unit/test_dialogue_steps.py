"""DiaSynth's steps (arXiv 2409.19020) on the engine with a scripted model: the ROUGE-L
filter of subtopics and personas, C(p, 2) persona pairs per subtopic capped by n, the
dialogue prompt with and without characteristics and chain of thought, rejections with
their reason, the summary step, the ablation arms, determinism, resume, and the shipped
recipe."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.llm.base import ChatRequest
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.operators.dialogue.diasynth import CHARACTERISTICS, DIALOGUE_CRITERIA
from synthloom.operators.dialogue.layers import RougeFilter
from synthloom.operators.dialogue.plan import dialogue_slots
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.pipeline.steps import StepContext
from synthloom.records import read_jsonl
from synthloom.tasks.dialogue import DialogueTask
from tests.unit.scripted import ScriptedBackend

runner = CliRunner()

#: the scripted model's subtopic list: a case-only repeat and a near repeat of item 1
SUBTOPICS = ["choosing the paint colours", "Choosing the paint colours",
             "choosing paint colours for the walls", "hiring a builder",
             "a budget that keeps growing", "living with dust and noise"]
#: its persona list: a case-only repeat and a near repeat of Ada
PEOPLE = ["Ada, a 29-year-old baker who starts work at four.",
          "ada, a 29-year-old baker who starts work at four.",
          "Ada, a 29 year old baker starting work at four.",
          "Ben, a 63-year-old postman who loves crosswords.",
          "Ivy, a 19-year-old cyclist saving for a new bike.",
          "Omar, a 45-year-old bus driver with three children."]
#: its answer when the prompt lists people to avoid
OTHER_PEOPLE = ["a 52-year-old ferry captain who hates small talk.",
                "a dentist of 38 who trains for marathons.",
                "a 24-year-old barista who writes songs at night."]


def model(dialogue: str = "good"):
    """A scripted DiaSynth model: lists, then dialogues of the given kind (``good``,
    ``one_speaker``, ``short``), then summaries."""

    def respond(request: ChatRequest) -> str:
        system, user = request.messages[0]["content"], request.messages[-1]["content"]
        seed = request.sampling.seed or 0
        if request.json_schema:  # the pointwise judge
            return json.dumps({k: 1 + seed % 5 for k in request.json_schema["properties"]})
        if user.rstrip().endswith("Subtopics:"):
            return "Here you go:\n" + "\n".join(f"{i + 1}. {s}" for i, s in enumerate(SUBTOPICS))
        if user.rstrip().endswith("People:"):
            people = OTHER_PEOPLE if "Already listed" in user else PEOPLE
            return "\n".join(f"{i + 1}. {p}" for i, p in enumerate(people))
        if "Write only the <cot> part" in user:  # the reasoning call, lines repeated
            return ("<cot>\nFormality: casual\nLocation: a kitchen\nFormality: casual\n"
                    "</cot>")
        if "<dialogue>" in user:
            a, b = re.search(r'\("(\S+): \.\.\." or "(\S+): \.\.\."\)', user).groups()
            if dialogue == "one_speaker":
                lines = [f"{a}: line {i} number {seed % 1000}" for i in range(4)]
            elif dialogue == "short":
                lines = [f"{a}: hi {seed % 1000}", f"{b}: hello"]
            else:
                lines = [f"{(a, b)[i % 2]}: turn {i} about number {seed % 1000}"
                         for i in range(5)]
            return "<dialogue>\n" + "\n".join(lines) + "\n</dialogue>"
        if "summarise" in system.lower():
            return f"Summary: They settle point {seed % 1000}."
        raise AssertionError(f"unexpected prompt: {user[:80]}")

    return respond


HEAD = """\
task:
  name: talks
  kind: dialogue
  description: Everyday conversations between two people.
  unit: conversation
  topics: [planning a home renovation, a visit to the doctor]
n: {n}
seed: {seed}
chunk_size: 2
steps:
"""

LAYERED = """\
  - {type: dialogue.subtopics, count: 2}
  - {type: dialogue.personas, count: 3}
  - {type: dialogue.drafts}
  - {type: dialogue.write}
"""


def _run(tmp_path, steps: str = LAYERED, n: int = 100, seed: int = 3, name: str = "out",
         dialogue: str = "good", backend=None):
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEAD.format(n=n, seed=seed) + steps)
    backend = backend or ScriptedBackend(model(dialogue))
    out = tmp_path / name
    manifest = run_recipe(load_recipe(path), out, backend=backend)
    return manifest, list(read_jsonl(out / "data.jsonl")), out, backend


def test_the_rouge_filter_keeps_an_item_only_below_threshold_with_every_kept_one():
    f = RougeFilter(0.5)
    kept = ["choosing the paint colours", "hiring a builder"]
    assert f.repeat_of("Choosing the paint colours", kept) == ("choosing the paint colours", 1.0)
    other, score = f.repeat_of("choosing paint colours for the walls", kept)
    assert other == kept[0] and 0.5 <= score < 1.0
    assert f.repeat_of("a budget that keeps growing", kept) is None


def test_near_duplicate_subtopics_and_personas_are_dropped_and_recorded(tmp_path):
    # the paper's filter: each subtopic's personas apart
    _, records, out, _ = _run(tmp_path, LAYERED.replace(
        "count: 3}", "count: 3, repeat_scope: subtopic}"))
    subtopics = json.loads((out / "plan" / "subtopics.json").read_text())
    for topic in ("planning a home renovation", "a visit to the doctor"):
        assert subtopics["topics"][topic] == ["choosing the paint colours", "hiring a builder"]
    dropped = {(d["text"], d["duplicate_of"]) for d in subtopics["dropped"]}
    assert ("Choosing the paint colours", "choosing the paint colours") in dropped
    assert ("choosing paint colours for the walls", "choosing the paint colours") in dropped
    assert all(d["rouge_l"] >= 0.5 for d in subtopics["dropped"])
    assert subtopics["removed"] == {"duplicate": 2, "extra": 4, "near_duplicate": 2}
    people = json.loads((out / "plan" / "dialogue_personas.json").read_text())
    lists = [p for by_sub in people["personas"].values() for p in by_sub.values()]
    assert len(lists) == 4 and all(
        [p.split(",", 1)[1] for p in people_] == [p.split(",", 1)[1] for p in
                                                  (PEOPLE[0], PEOPLE[3], PEOPLE[4])]
        for people_ in lists)
    assert people["removed"]["duplicate"] == 4 and people["removed"]["near_duplicate"] == 4
    # each topic's second subtopic got the same three people: renamed there, not dropped
    assert lists[0] == lists[2] == [PEOPLE[0], PEOPLE[3], PEOPLE[4]]
    assert len(people["renamed"]) == 6 and not {"Ada", "Ben", "Ivy"} & {
        p.split(",")[0] for p in lists[1] + lists[3]}


def test_a_persona_kept_for_one_subtopic_is_a_repeat_for_the_next_of_its_topic(tmp_path):
    _, records, out, backend = _run(tmp_path)
    people = json.loads((out / "plan" / "dialogue_personas.json").read_text())
    for topic in ("planning a home renovation", "a visit to the doctor"):
        first, second = people["personas"][topic].values()
        assert first == [PEOPLE[0], PEOPLE[3], PEOPLE[4]]
        assert second == [PEOPLE[5], *OTHER_PEOPLE[:2]]  # Omar was new: kept in round 1
    assert people["fallback"] == [] and people["requests"] == 6  # 4 lists + 2 second rounds
    # the second round lists the topic's personas written for its other subtopic
    asked = [r for r in backend.requests if "Already listed" in r.messages[-1]["content"]]
    assert len(asked) == 2 and all(f"\n- {PEOPLE[3]}\n" in r.messages[-1]["content"]
                                   for r in asked)  # one a line: an echo parses apart
    assert {r.sampling.temperature for r in asked} == {0.7}  # at 0.1 it repeats itself
    # a persona without a name gets a drawn one, the same in each of its dialogues
    names = {p: set() for p in OTHER_PEOPLE[:2]}
    for r in records:
        for persona, name in zip(r.inputs["personas"], r.outputs["speakers"], strict=True):
            if persona in names:
                names[persona].add(name)
    assert all(len(n) == 1 for n in names.values())
    assert len({n for ns in names.values() for n in ns}) == 2


def test_one_dialogue_per_persona_pair_per_subtopic(tmp_path):
    manifest, records, _, _ = _run(tmp_path, n=100)
    # 2 topics x 2 subtopics x C(3, 2) pairs: every slot drafted once, then the slots ran out
    assert manifest["accepted"] == 12
    per_subtopic = Counter((r.inputs["topic"], r.inputs["subtopic"]) for r in records)
    assert set(per_subtopic.values()) == {3}
    pairs = Counter((r.inputs["subtopic"], r.inputs["topic"], tuple(r.inputs["personas"]))
                    for r in records)
    assert set(pairs.values()) == {1}
    for r in records:
        names = r.outputs["speakers"]
        for persona, name in zip(r.inputs["personas"], names, strict=True):
            if persona in PEOPLE:  # a persona that starts with a name keeps it
                assert name == persona.split(",")[0]
        assert r.provenance.plan.taxonomy_path == [r.inputs["topic"], r.inputs["subtopic"]]


def test_n_caps_the_pairs_and_quotas_spread_them_over_topics_and_subtopics(tmp_path):
    manifest, records, _, _ = _run(tmp_path, n=4)
    assert manifest["accepted"] == 4
    assert set(manifest["counts_per_label"].values()) == {2}
    # a topic's slots are taken round-robin over its subtopics
    assert Counter(r.inputs["subtopic"] for r in records) == {"choosing the paint colours": 2,
                                                               "hiring a builder": 2}


def test_the_write_prompt_holds_characteristics_and_the_chain_of_thought(tmp_path):
    _, records, _, backend = _run(tmp_path, n=2)
    thoughts = [r for r in backend.requests if "<cot>" in r.messages[-1]["content"]]
    system, user = (m["content"] for m in thoughts[0].messages)
    assert "think step by step" in user and "interact" in user and "<dialogue>" not in user
    assert all(f"- {name}:" in user for name in CHARACTERISTICS)
    assert "The two speakers:\n- Ada: Ada, a 29-year-old baker" in user
    assert "(part of the topic \"planning a home renovation\")" in user
    prompts = [r for r in backend.requests if "<dialogue>" in r.messages[-1]["content"]]
    system, user = (m["content"] for m in prompts[0].messages)
    assert "Example conversations" in system and "Ana: Hi Ben" in system
    # the reasoning, each line once, is the dialogue call's notes
    assert "How this conversation goes" in user
    assert "Formality: casual\nLocation: a kitchen\n\n" in user
    assert '("Ada: ..." or "Ben: ...")' in user or '("Ben: ..." or "Ada: ...")' in user
    assert prompts[0].sampling.temperature == 0.2
    r = records[0]
    assert r.outputs["reasoning"] == "Formality: casual\nLocation: a kitchen"
    assert r.inputs["characteristics"] == {"formality": "casual", "location": "a kitchen"}
    assert r.provenance.plan.characteristics == r.inputs["characteristics"]
    assert [m["role"] for m in r.outputs["messages"]] == ["user", "assistant"] * 2 + ["user"]


def test_the_ablation_arms_without_subtopics_personas_and_characteristics(tmp_path):
    _, records, out, backend = _run(tmp_path, n=4, steps="""\
  - {type: dialogue.drafts, per_subtopic: 2}
  - {type: dialogue.write, characteristics: false, examples: 0}
""")
    assert len(records) == 4 and not (out / "plan" / "subtopics.json").exists()
    user = next(r for r in backend.requests if "<dialogue>" in r.messages[-1]["content"])
    system, text = (m["content"] for m in user.messages)
    assert "Example" not in system
    assert "<cot>" not in text and "emotional states" not in text
    assert text.startswith("The two speakers are ")
    assert "What they talk about: planning a home renovation" in text
    for r in records:
        assert set(r.inputs) == {"topic"} and r.outputs["reasoning"] == ""
        assert r.provenance.plan.characteristics == {} and len(set(r.outputs["speakers"])) == 2


@pytest.mark.parametrize(("kind", "reason"), [("one_speaker", "only one speaker"),
                                              ("short", "too short: 2 turns (at least 4)")])
def test_a_bad_dialogue_is_asked_again_then_rejected_with_its_reason(tmp_path, kind, reason):
    manifest, records, out, backend = _run(tmp_path, n=2, dialogue=kind, steps="""\
  - {type: dialogue.drafts, per_subtopic: 1}
  - {type: dialogue.write, max_attempts: 2}
""")
    assert records == [] and manifest["rejections_by_operator"] == {"diasynth.dialogue": 2}
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    assert all(r.rejected.reason.startswith(reason) and "after 2 tries" in r.rejected.reason
               for r in rejected)
    assert len([r for r in backend.requests if "<dialogue>" in r.messages[-1]["content"]]) == 4


def test_the_summary_step_writes_a_two_shot_summary(tmp_path):
    _, records, _, backend = _run(tmp_path, n=2, steps=LAYERED + "  - {type: dialogue.summary}\n")
    asked = [r for r in backend.requests if "summarise" in r.messages[0]["content"].lower()]
    assert len(asked) == 2
    roles = [m["role"] for m in asked[0].messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert asked[0].sampling.temperature == 0.3
    assert "Ada: turn 0" in asked[0].messages[-1]["content"]
    assert all(r.outputs["summary"].startswith("They settle point") for r in records)
    assert [s.operator for s in records[0].provenance.operators] == [
        "dialogue.drafts", "diasynth.dialogue", "diasynth.summary"]


def test_a_pointwise_judge_scores_dialogues_on_a_coherence_and_persona_rubric(tmp_path):
    rubric = json.dumps([c.model_dump() for c in DIALOGUE_CRITERIA])
    _, records, _, backend = _run(tmp_path, n=2, steps=LAYERED + "  - {type: judge.pointwise, "
                                  f"action: score, criteria: {rubric}}}\n")
    asked = [r for r in backend.requests if r.json_schema]
    assert len(asked) == 2 and "persona_consistency" in asked[0].messages[-1]["content"]
    # the judge reads the personas and the turns, not only the string fields
    judged = asked[0].messages[-1]["content"]
    assert "Persona of " in judged and "Conversation:" in judged
    assert records[0].outputs["messages"][0]["content"] in judged
    for r in records:
        verdict = r.verdict("judge")
        assert set(verdict.detail["scores"]) == {"coherence", "persona_consistency"}
        assert verdict.score is not None


def test_same_seed_same_records_and_a_crashed_run_resumes_to_them(tmp_path):
    _, first, _, _ = _run(tmp_path, n=6, name="a")
    _, again, _, _ = _run(tmp_path, n=6, name="b")
    _, other, _, _ = _run(tmp_path, n=6, name="c", seed=4)
    dump = [r.model_dump(exclude={"provenance": {"created_at"}}) for r in first]
    assert dump == [r.model_dump(exclude={"provenance": {"created_at"}}) for r in again]
    assert {r.id for r in other} != {r.id for r in first}
    cache = ResponseCache(tmp_path / "d.sqlite")
    # 8 list requests (2 of subtopics, 4 of personas, 2 second rounds of personas), then
    # 2 dialogues a chunk (2 reasonings, then 2 dialogues): the crash comes in the third
    crashing = CachedBackend(ScriptedBackend(model(), fail_after=17), cache)
    with pytest.raises(RuntimeError, match="scripted crash"):
        _run(tmp_path, n=6, name="d", backend=crashing)
    assert len(list(read_jsonl(tmp_path / "d" / "data.jsonl"))) == 4
    resumed = CachedBackend(ScriptedBackend(model()), ResponseCache(tmp_path / "d.sqlite"))
    manifest = run_recipe(load_recipe(tmp_path / "d.yaml"), tmp_path / "d", resume=True,
                          backend=resumed)
    assert manifest["accepted"] == 6
    assert sorted(r.id for r in read_jsonl(tmp_path / "d" / "data.jsonl")) == sorted(
        r.id for r in first)


def test_personas_can_be_sampled_or_drawn_from_a_persona_pool(tmp_path):
    _, records, out, _ = _run(tmp_path, n=4, steps="""\
  - {type: dialogue.personas, source: sampled, count: 2}
  - {type: dialogue.drafts}
  - {type: dialogue.write}
""")
    people = json.loads((out / "plan" / "dialogue_personas.json").read_text())["personas"]
    assert all(len(p) == 2 for by_sub in people.values() for p in by_sub.values())
    assert len(records) == 2  # one pair per topic
    (tmp_path / "people.txt").write_text("Ruth, a beekeeper\nSol, a night guard\nIda, a tailor\n")
    _, records, _, _ = _run(tmp_path, n=4, name="pool", steps="""\
  - {type: personas.pool, source: file, file: people.txt}
  - {type: dialogue.personas, source: pool, count: 2}
  - {type: dialogue.drafts}
  - {type: dialogue.write}
""")
    assert {n for r in records for n in r.outputs["speakers"]} <= {"Ruth", "Sol", "Ida"}


def test_slots_take_the_pairs_round_robin_over_subtopics():
    slots = dialogue_slots(["t"], {"t": ["a", "b"]},
                           {"t": {"a": ["P1, x", "P2, y", "P3, z"], "b": ["P4, w"]}}, 2)
    # subtopic b has one persona: no pair, so two slots without personas
    assert [(s["subtopic"], s["pair"]) for s in slots["t"]] == [
        ("a", [0, 1]), ("b", None), ("a", [0, 2]), ("b", None), ("a", [1, 2])]


def test_a_draft_past_a_topics_last_slot_is_rejected_unasked(tmp_path):
    recipe = load_recipe("recipes/dialogue_diasynth.yaml")
    backend = ScriptedBackend(model())
    ctx = StepContext(recipe, backend, {"subtopics": {"topics": {
        "planning a home renovation": ["a"], "a visit to the doctor": ["b"]}}})
    drafts = recipe.steps_of("draft")[0].build(ctx)
    drafts.start(ctx.artifacts)  # no personas: per_subtopic (6) slots per topic
    topic = "a visit to the doctor"
    assert drafts.max_drafts(12) == 12
    # a resumed process has not seen the 6 earlier drafts of the topic: the engine's
    # count (stratum_index 6) says the slots are used up
    late = drafts.draft(20, topic, 6)
    assert late.provenance.operators[0].detail["exhausted"]
    assert drafts.next_strata({topic: 6, "planning a home renovation": 6}, {}, 3) == [
        "planning a home renovation"] * 3
    (rejected,) = recipe.steps_of("generate")[0].build(ctx)([late])
    assert "has no slot left" in rejected.rejected.reason and backend.requests == []


@pytest.mark.parametrize(("steps", "message"), [
    ("  - {type: dialogue.personas}\n  - {type: dialogue.subtopics}\n", "put dialogue.subtopics"),
    ("  - {type: dialogue.personas, count: 1}\n", "greater than or equal to 2"),
    ("  - {type: dialogue.subtopics, count: 21}\n", "less than or equal to 20"),
])
def test_bad_dialogue_steps_are_refused_when_the_recipe_loads(tmp_path, steps, message):
    path = tmp_path / "r.yaml"
    path.write_text(HEAD.format(n=2, seed=1) + steps + "  - {type: dialogue.drafts}\n"
                    "  - {type: dialogue.write}\n")
    with pytest.raises(UserInputError, match=message):
        load_recipe(path)


def test_an_example_file_is_read_at_load_and_a_bad_one_exits_2(tmp_path):
    (tmp_path / "shots.txt").write_text("Kai: Hi.\nLou: Hey.\n\nKai: Bye.\nLou: Later.\n")
    (tmp_path / "bad.jsonl").write_text('{"text": "no dialogue"}\n')
    good = HEAD.format(n=2, seed=1) + "  - {type: dialogue.drafts}\n  - {type: dialogue.write, "
    path = tmp_path / "r.yaml"
    path.write_text(good + f"file: {tmp_path / 'shots.txt'}, examples: 2}}\n")
    write = load_recipe(path).steps[-1]
    assert write.example_dialogues() == ["Kai: Hi.\nLou: Hey.", "Kai: Bye.\nLou: Later."]
    assert "sha256" in write.fingerprint_data()["file"]
    path.write_text(good + f"file: {tmp_path / 'bad.jsonl'}}}\n")
    result = runner.invoke(app, ["generate", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and 'needs a non-empty string "dialogue"' in result.output
    assert not (tmp_path / "o").exists()


def test_a_dialogue_step_in_a_classification_recipe_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task: {name: t, description: Notes., labels: {a: about a, b: about b}}\n"
                    "steps:\n  - {type: dialogue.drafts}\n  - {type: dialogue.write}\n")
    with pytest.raises(UserInputError, match="does not work with task kind 'classification'"):
        load_recipe(path)


def test_the_shipped_recipe_loads_and_runs_on_the_scripted_model(tmp_path):
    recipe = load_recipe("recipes/dialogue_diasynth.yaml")
    assert isinstance(recipe.task, DialogueTask) and recipe.n == 12
    assert [s.type for s in recipe.steps] == [
        "dialogue.subtopics", "dialogue.personas", "dialogue.drafts", "dialogue.write",
        "dialogue.summary", "filter.near_duplicates", "judge.pointwise"]
    assert recipe.steps[0].count == 3 and recipe.steps[1].count == 3
    assert recipe.steps[0].temperature == 0.1 and recipe.steps[3].temperature == 0.2
    assert recipe.steps[-1].criteria is None  # the dialogue kind's rubric by default
    manifest = run_recipe(recipe, tmp_path / "out", backend=ScriptedBackend(model()))
    assert manifest["accepted"] == 12 and manifest["kind"] == "dialogue"
    assert manifest["counts_per_label"] == {"a visit to the doctor": 6,
                                            "planning a home renovation": 6}
    out = tmp_path / "rows.jsonl"
    result = runner.invoke(app, ["export", str(tmp_path / "out"), "--layout", "dialogsum",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 12 and all(row["summary"] and ": " in row["dialogue"] for row in rows)


def test_a_first_name_its_topic_already_uses_is_replaced_in_the_persona():
    from synthloom.operators.dialogue.layers import distinct_names

    people = {"moving house": {
        "packing": ["John, 35, a teacher who hates clutter.", "Sarah, 40, a removal driver."],
        "new school": ["John, a 30-year-old father of two.", "a shy 12-year-old pupil."]},
        "dentist": {"fear": ["John, 50, a nervous patient."]}}
    renamed, changes = distinct_names(people, seed=3)
    again, _ = distinct_names(people, seed=3)
    assert renamed == again  # deterministic
    assert renamed["moving house"]["packing"] == people["moving house"]["packing"]
    new_john = renamed["moving house"]["new school"][0]
    assert new_john.endswith(", a 30-year-old father of two.")
    assert new_john.split(",")[0] not in {"John", "Sarah"}
    assert renamed["moving house"]["new school"][1] == "a shy 12-year-old pupil."
    assert renamed["dentist"] == people["dentist"]  # names repeat only across topics
    assert changes == [{"from": "John, a 30-year-old father of two.", "to": new_john}]
