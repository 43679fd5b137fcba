"""The instruction kind's record layouts (messages, Alpaca, ShareGPT), the real instruction
set reader, and the set measures of ``evaluate`` for instruction runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synthloom.errors import UserInputError
from synthloom.evaluate.instruction import evaluate_instructions
from synthloom.instruction_sets import instruction_record, load_instructions
from synthloom.records import Origin, Record, Verdict
from synthloom.tasks import TASK_KINDS
from synthloom.tasks.instruction import (
    alpaca_row,
    conversation,
    messages_row,
    sharegpt_row,
    user_text,
)


def record(instruction: str, response: str, input_text: str = "", **outputs) -> Record:
    inputs = {"instruction": instruction, **({"input": input_text} if input_text else {})}
    return Record(id=f"r-{abs(hash((instruction, response))) % 10**6}", task="t",
                  kind="instruction", inputs=inputs, outputs={"response": response, **outputs},
                  origin=Origin.synthetic)


def test_layouts_of_a_single_exchange_with_input() -> None:
    r = record("Sort these numbers.", "1, 2, 3", input_text="3, 1, 2")
    assert user_text("Sort these numbers.", "3, 1, 2") == "Sort these numbers.\n\n3, 1, 2"
    assert messages_row(r)["messages"] == [
        {"role": "user", "content": "Sort these numbers.\n\n3, 1, 2"},
        {"role": "assistant", "content": "1, 2, 3"}]
    assert alpaca_row(r) == {"instruction": "Sort these numbers.", "input": "3, 1, 2",
                             "output": "1, 2, 3", "id": r.id}
    assert sharegpt_row(r)["conversations"] == [
        {"from": "human", "value": "Sort these numbers.\n\n3, 1, 2"},
        {"from": "gpt", "value": "1, 2, 3"}]


def test_a_multi_turn_chat_keeps_every_turn_and_alpaca_the_first_exchange() -> None:
    chat = [{"role": "user", "content": "Hi, name a colour."},
            {"role": "assistant", "content": "Blue."},
            {"role": "user", "content": "Another?"},
            {"role": "assistant", "content": "Green."}]
    r = record("Hi, name a colour.", "Blue.", messages=chat)
    assert conversation(r) == chat
    assert [t["from"] for t in sharegpt_row(r)["conversations"]] == ["human", "gpt"] * 2
    assert alpaca_row(r)["output"] == "Blue."


def test_a_record_without_response_is_refused_by_every_layout() -> None:
    r = Record(id="x", task="t", kind="instruction", inputs={"instruction": "Do it."},
               origin=Origin.synthetic)
    for layout in TASK_KINDS["instruction"].layouts.values():
        with pytest.raises(ValueError, match="not an instruction record"):
            layout(r)


def test_layouts_load_in_hugging_face_datasets_with_the_trl_conversational_schema(
        tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [messages_row(record(f"Task {i}: write a line.", f"Line {i}.")) for i in range(3)]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    # TRL's conversational language-modeling layout (its docs, "Dataset formats and
    # types"): {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}
    assert ds.column_names == ["messages", "id"]
    assert ds[0]["messages"][0] == {"role": "user", "content": "Task 0: write a line."}
    assert {m["role"] for row in ds for m in row["messages"]} == {"user", "assistant"}


def test_a_jsonl_instruction_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "real.jsonl"
    good.write_text('{"instruction": "Add 2 and 2.", "output": "4"}\n\n'
                    '{"instruction": "Name a fruit.", "input": "", "output": "Pear"}\n')
    records = load_instructions(good)
    assert [r.origin for r in records] == [Origin.real] * 2
    assert records[0].outputs == {"response": "4"} and "input" not in records[1].inputs
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok"}\n{"prompt": "no instruction"}\n')
    with pytest.raises(UserInputError, match=r"bad.jsonl: line 2 needs a non-empty"):
        load_instructions(bad)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(UserInputError, match="empty"):
        load_instructions(tmp_path / "empty.jsonl")
    with pytest.raises(UserInputError, match="neither a named instruction set"):
        load_instructions(tmp_path / "missing.jsonl")


def test_the_self_instruct_seed_set_loads_175_human_written_tasks() -> None:
    try:
        records = load_instructions("self_instruct_seed")
    except UserInputError as e:  # the sdist is downloaded by make install
        pytest.skip(str(e))
    assert len(records) == 175
    assert sum(1 for r in records if r.inputs.get("input")) == 125
    assert all(r.origin is Origin.real and r.outputs["response"] for r in records)


def _embed(texts):
    """Bag-of-letters unit vectors: similar texts, similar vectors (no model needed)."""
    out = np.zeros((len(texts), 26), dtype=np.float32)
    for i, t in enumerate(texts):
        for ch in t.lower():
            if "a" <= ch <= "z":
                out[i, ord(ch) - 97] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_set_measures_and_judge_histograms() -> None:
    words = ["apple", "river", "planet", "violin", "garden", "rocket", "mirror", "candle",
             "forest", "bridge", "castle", "desert"]
    synthetic = []
    for i, w in enumerate(words):
        r = record(f"Write a poem about a {w}.", f"A poem about a {w}. " * (i + 1))
        synthetic.append(r.with_verdict(Verdict(
            check="judge", by="j", score=3.0, detail={"scores": {"difficulty": 1 + i % 3}})))
    real = [instruction_record("real", f"Explain how a {w} works in {n} steps.", "", "ok", "s")
            for n in (2, 3) for w in words]
    m = evaluate_instructions(synthetic, real, embed=_embed, seed=1)
    syn = m["synthetic"]
    assert syn["n"] == 12 and syn["instruction_words"]["median"] == 6
    # every instruction shares "Write a poem about a": distinct-2 well under 1
    assert 0 < syn["distinct_2"] < 0.6
    assert syn["judge"]["difficulty"]["histogram"] == {"1": 4, "2": 4, "3": 4}
    assert syn["judge"]["difficulty"]["mean"] == 2.0
    assert m["real"]["n"] == 24 and m["against_real"]["n"] == 12
    assert set(m["real_half_vs_half"]) >= {"precision", "recall", "coverage"}
    with pytest.raises(ValueError, match="no accepted records"):
        evaluate_instructions([], real, embed=_embed)
