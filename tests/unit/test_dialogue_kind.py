"""The dialogue kind (DiaSynth, arXiv 2409.19020): its task section, strata, text and
export layouts (messages, ShareGPT, DialogSum), and the parsers of the model's answers
(lists, speaker names, ``<cot>``/``<dialogue>``, characteristics)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from synthloom.operators.dialogue.diasynth import BUILTIN_EXAMPLE, CHARACTERISTICS
from synthloom.operators.dialogue.parsing import (
    NAMES,
    parse_characteristics,
    parse_dialogue,
    parse_list,
    speaker_name,
    speaker_names,
)
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Origin, Record
from synthloom.tasks import TASK_KINDS
from synthloom.tasks.dialogue import (
    DialogueTask,
    dialogsum_row,
    messages_row,
    sharegpt_row,
    transcript,
)
from tests.unit.test_domain_words import _domain_words_in

NAMES_AB = ("Maya", "Tom")


def dialogue_record(turns=4, summary: str | None = None, first: str = "user") -> Record:
    roles = ("user", "assistant") if first == "user" else ("assistant", "user")
    outputs = {"messages": [{"role": roles[i % 2], "content": f"Line {i}."} for i in range(turns)],
               "speakers": ["Maya", "Tom"], "reasoning": "formality: casual"}
    if summary:
        outputs["summary"] = summary
    return Record(id=f"d-{turns}-{first}", task="t", kind="dialogue", origin=Origin.synthetic,
                  inputs={"topic": "a visit to the doctor", "subtopic": "booking a check-up",
                          "personas": ["Maya, a nurse.", "Tom, a carpenter."],
                          "characteristics": {"formality": "casual"}},
                  outputs=outputs)


# ------------------------------------------------------------------ the kind


def test_the_kind_is_registered_with_topics_as_strata() -> None:
    task = TASK_KINDS["dialogue"](name="talks", description="Everyday talks.",
                                  topics=["  cooking  at home", "moving house"])
    assert task.topics == ["cooking at home", "moving house"]  # spaces collapsed
    assert task.strata() == ["cooking at home", "moving house"]
    assert task.stratum_of(dialogue_record()) == "a visit to the doctor"
    assert "topics" in task.known_fields()
    plain = DialogueTask(name="talks", description="Everyday  talks between neighbours.")
    assert plain.strata() == ["Everyday talks between neighbours."]  # the description


@pytest.mark.parametrize(("topics", "message"), [
    (["cooking", "Cooking"], "given twice"), ([""], "1 to 200 characters"), ([], "at least 1")])
def test_bad_topics_are_refused(topics, message) -> None:
    with pytest.raises(ValidationError, match=message):
        Recipe.model_validate({"task": {"name": "t", "kind": "dialogue", "description": "D.",
                                        "topics": topics},
                               "steps": [{"type": "dialogue.drafts"},
                                         {"type": "dialogue.write"}]})


def test_text_of_is_the_transcript_and_a_finished_record_has_the_kinds_fields() -> None:
    task = DialogueTask(name="t", description="D.")
    r = dialogue_record()
    assert task.text_of(r) == "Maya: Line 0.\nTom: Line 1.\nMaya: Line 2.\nTom: Line 3."
    assert transcript(r) == task.text_of(r)
    assert task.missing_fields(r) == []
    assert task.missing_fields(r.model_copy(update={"outputs": {}})) == ["messages", "speakers"]
    assert task.text_of(r.model_copy(update={"outputs": {}})) == ""
    judged = task.judge_text(r)  # what a coherence / persona-consistency judge should see
    assert "Persona of Maya: Maya, a nurse." in judged and "Tom: Line 3." in judged


def test_layouts_keep_the_speakers_and_map_a_to_user() -> None:
    r = dialogue_record(summary="They book a check-up.")
    row = messages_row(r)
    assert row["messages"][0] == {"role": "user", "content": "Line 0."}
    assert row["speakers"] == ["Maya", "Tom"] and row["id"] == r.id
    assert [t["from"] for t in sharegpt_row(r)["conversations"]] == ["human", "gpt"] * 2
    summ = dialogsum_row(r)
    assert summ["dialogue"].startswith("Maya: Line 0.\nTom: Line 1.")
    assert summ["summary"] == "They book a check-up." and summ["topic"] == r.inputs["topic"]
    with pytest.raises(ValueError, match="no summary"):
        dialogsum_row(dialogue_record())
    empty = Record(id="x", task="t", kind="dialogue", origin=Origin.synthetic,
                   inputs={"topic": "x"})
    for layout in DialogueTask.layouts.values():
        with pytest.raises(ValueError, match="not a dialogue record|no summary"):
            layout(empty)


def test_messages_rows_load_as_chat_in_hugging_face_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [messages_row(dialogue_record(turns=n, first=f)) for n, f in
            ((4, "user"), (5, "assistant"), (6, "user"))]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.column_names == ["messages", "speakers", "id"]
    for row in ds:  # a dialogue may start with either role; every message has both strings
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str)
                   and m["role"] in ("user", "assistant") for m in row["messages"])
    assert ds[1]["messages"][0]["role"] == "assistant"


# ------------------------------------------------------------------ parsing


def test_a_well_formed_answer_parses_into_turns_reasoning_and_characteristics() -> None:
    answer = ("<cot>\nAge: Maya is 34, Tom 71\nFamiliarity between speakers: neighbours\n"
              "Emotional states: Maya is worried\nCommunication medium: in person\n"
              "Natural speech features: fillers\nThey know each other, so it stays casual.\n"
              "</cot>\n<dialogue>\nMaya: Hi Tom, got a minute?\nTom: Sure, what's up?\n"
              "Maya: The roof is leaking again.\nTom: Ugh. I'll take a look at 5.\n</dialogue>")
    parsed = parse_dialogue(answer, NAMES_AB)
    assert parsed.reason is None and parsed.notes == []
    assert parsed.turns == [(0, "Hi Tom, got a minute?"), (1, "Sure, what's up?"),
                            (0, "The roof is leaking again."), (1, "Ugh. I'll take a look at 5.")]
    assert parsed.reasoning.startswith("Age: Maya is 34")
    assert parsed.characteristics == {
        "age": "Maya is 34, Tom 71", "familiarity": "neighbours",
        "emotional_states": "Maya is worried", "medium": "in person",
        "speech_features": "fillers"}


def test_a_messy_answer_is_repaired_and_says_how() -> None:
    answer = ("Sure! Here is the conversation.\n```\n**MAYA:** Hi Tom,\nare you free later?\n"
              "- tom (smiling): I am.\nTom: What for?\n\"Maya Lopez\": \"The garden.\"\n"
              "Speaker B: Right, see you.\n```")
    parsed = parse_dialogue(answer, NAMES_AB)
    assert parsed.reason is None
    # a line without a speaker joins the turn before; Tom's two lines are one turn
    assert parsed.turns == [(0, "Hi Tom, are you free later?"), (1, "I am. What for?"),
                            (0, "The garden."), (1, "Right, see you.")]
    assert "no <dialogue> tag" in parsed.notes and "merged consecutive turns" in parsed.notes
    assert parsed.reasoning == "Sure! Here is the conversation."


def test_an_unclosed_dialogue_cut_at_max_tokens_loses_its_last_turn() -> None:
    answer = ("<cot>formality: formal</cot><dialogue>\nMaya: One.\nTom: Two.\nMaya: Three.\n"
              "Tom: Four.\nMaya: Fi")
    parsed = parse_dialogue(answer, NAMES_AB, cut_off=True)
    assert [t for _, t in parsed.turns] == ["One.", "Two.", "Three.", "Four."]
    assert "no </dialogue> tag" in parsed.notes
    assert any("cut off" in n for n in parsed.notes)
    assert parsed.characteristics == {"formality": "formal"}


@pytest.mark.parametrize(("answer", "reason"), [
    ("<dialogue>\nMaya: Hi.\nTom: Hi.\nMaya: Bye.\n</dialogue>", "too short: 3 turns"),
    ("<dialogue>\nMaya: Hi.\nMaya: Anyone?\nMaya: Hello?\nMaya: Bye.\n</dialogue>",
     "only one speaker (Maya)"),
    ("I cannot write that.", "no dialogue"),
    ("<dialogue>\nAnna: Hi.\nBob: Hi.\nAnna: Yes.\nBob: No.\n</dialogue>", "no dialogue"),
])
def test_short_one_speaker_and_empty_dialogues_get_a_reason(answer, reason) -> None:
    parsed = parse_dialogue(answer, NAMES_AB)
    assert parsed.reason is not None and parsed.reason.startswith(reason)


def test_list_answers_lose_numbering_headers_preamble_and_cut_items() -> None:
    text = ("Here are the subtopics:\n\n**Subtopics:**\n1. **choosing tiles**\n2) \"hiring a "
            "builder\"\n- a budget that keeps growing\nI hope this helps\n4. living with dust "
            "and noise for weeks and weeks and weeks and weeks\n5. a row about the")
    items, removed = parse_list(text, max_words=8, cut_off=True)
    assert items == ["choosing tiles", "hiring a builder", "a budget that keeps growing"]
    assert removed == {"cut_off": 1, "too_long": 1}
    assert parse_list("just one plain line", max_words=8)[0] == ["just one plain line"]


def test_speaker_names_come_from_the_personas_else_a_seeded_generic_name() -> None:
    assert speaker_name("Maya, a 34-year-old nurse") == "Maya"
    assert speaker_name("**Tom Baker** - a retired carpenter") == "Tom Baker"
    assert speaker_name("A retired carpenter, 71") is None
    assert speaker_name("a nurse (specialist, aged 35-49)") is None
    assert speaker_names(("Maya, a nurse", "Tom, a carpenter"), "k") == ("Maya", "Tom")
    a, b = speaker_names(("Maya, a nurse", "maya, a chef"), "k")  # a clash: B renamed
    assert a == "Maya" and b in NAMES and b != "Maya"
    plain = speaker_names(None, "key", 1)
    assert plain == speaker_names(None, "key", 1) and plain[0] != plain[1]
    assert {speaker_names(None, "key", i) for i in range(20)} != {plain}


def test_characteristics_from_loose_lines() -> None:
    found = parse_characteristics("1. **Gender**: both women\n- Duration = ten minutes\n"
                                  "Location: a bus stop\nAgreement or disagreement: they argue"
                                  "\nsome prose: not a characteristic")
    assert found == {"gender": "both women", "duration": "ten minutes",
                     "location": "a bus stop", "agreement": "they argue"}


def test_the_characteristic_list_names_and_examples_name_no_domain() -> None:
    assert len(CHARACTERISTICS) == 11  # DiaSynth's list, age and gender apart
    for text in (" ".join(CHARACTERISTICS), " ".join(CHARACTERISTICS.values()),
                 BUILTIN_EXAMPLE, " ".join(NAMES)):
        assert not _domain_words_in(text)


def test_list_items_that_copy_the_few_shot_example_are_dropped() -> None:
    """The 0.5B model wrote the prompt's example people back ("Maya, 34, a nurse who works
    night shifts ... She has a busy schedule"): such items are dropped, others kept."""
    from synthloom.llm.base import ChatResponse
    from synthloom.operators.dialogue.layers import DialoguePersonas, ListSubject
    from tests.unit.scripted import ScriptedBackend

    answer = ("1. Maya, 34, a nurse who works night shifts and wants plants that need little "
              "care. She has a busy schedule and loves her job.\n"
              "2. Priya, a 41-year-old architect who restores old houses.\n"
              "3. Lena, a 22-year-old student on a tight budget, shy but curious.\n"
              "4. Kofi, a 58-year-old electrician who talks fast.")
    backend = ScriptedBackend(lambda request: ChatResponse(text=answer))
    result = DialoguePersonas(backend, count=3, rounds=1).run(
        [ListSubject(key=("renovation",), text="renovating a kitchen")])
    assert result.items["renovation"] == [
        "Priya, a 41-year-old architect who restores old houses.",
        "Kofi, a 58-year-old electrician who talks fast."]
    assert result.removed["copies_example"] == 2
    assert {d["copy_of_example"].split(",")[0] for d in result.dropped} == {"Maya", "Lena"}
