"""Tests for synthloom.records: ids, required origin, trust weights, JSONL and Parquet I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from synthloom.records import (
    OperatorStep,
    Origin,
    Plan,
    Provenance,
    Record,
    Verdict,
    append_jsonl,
    read_json_state,
    read_jsonl,
    read_parquet,
    record_id,
    repair_jsonl,
    set_aside_corrupt_lines,
    write_parquet,
)


def real(text: str, label: str | None = "sport", **kw) -> Record:
    inputs = {"text": text}
    return Record(
        id=record_id("topics", inputs, label),
        task="topics",
        inputs=inputs,
        label=label,
        origin=Origin.real,
        provenance=Provenance(source="bbc_news"),
        **kw,
    )


def synthetic(i: int) -> Record:
    """A synthetic record with every provenance and verification field populated."""
    inputs = {"text": f"Striker scores twice in cup win number {i} — «ünïcode»", "extra": [i, 2]}
    return Record(
        id=record_id("topics", inputs, "sport"),
        task="topics",
        inputs=inputs,
        label="sport",
        origin=Origin.synthetic,
        provenance=Provenance(
            backend="llamacpp",
            model="qwen2.5-coder-0.5b",
            model_sha256="ab" * 32,
            sampling={"temperature": 0.9, "top_p": 0.95, "seed": 1000 + i},
            recipe_sha256="cd" * 32,
            operators=[
                OperatorStep(operator="instance_generation", prompt_sha256="ef" * 32),
                OperatorStep(
                    operator="self_correction",
                    version="2",
                    verdict="agree",
                    detail={"relabel": "sport", "attempts": 1},
                ),
            ],
            plan=Plan(id=f"plan-{i}", context="a local newspaper", taxonomy_path=["a", "b"]),
            instance_seed="a cup final",
            target_label="sport",
            label_constraint="must be about sport",
            parents=["p1", "p2"],
            created_at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        ),
        verification=[
            Verdict(check="self_consistency", by="targen.self_correction", passed=True,
                    detail={"agree": True, "label": "sport"}),
            Verdict(check="judge", by="j1", score=0.75),
            Verdict(check="verifier", by="length", passed=True),
        ],
        trust_weight=0.5,
    )


# ------------------------------------------------------------------ record ids


def test_record_id_is_stable_and_short_hex() -> None:
    a = record_id("topics", {"text": "hello", "n": 1}, "sport")
    b = record_id("topics", {"n": 1, "text": "hello"}, "sport")  # key order is irrelevant
    assert a == b
    assert len(a) == 16
    int(a, 16)


def test_record_id_sensitive_to_task_inputs_and_label() -> None:
    base = record_id("topics", {"text": "hello"}, "sport")
    assert record_id("topics", {"text": "hello"}, "tech") != base
    assert record_id("topics", {"text": "hello"}, None) != base
    assert record_id("topics", {"text": "hello!"}, "sport") != base
    assert record_id("topics", {"text": "hello", "x": 1}, "sport") != base
    assert record_id("other", {"text": "hello"}, "sport") != base


# ---------------------------------------------------------------- the model


def test_origin_is_required() -> None:
    with pytest.raises(ValidationError) as info:
        Record(id="x", task="t", inputs={"text": "a"}, label="sport")
    assert any(e["loc"] == ("origin",) for e in info.value.errors())


def test_origin_rejects_unknown_value() -> None:
    with pytest.raises(ValidationError):
        Record(id="x", task="t", origin="maybe")


def test_origin_from_string() -> None:
    assert Record(id="x", task="t", origin="synthetic").origin is Origin.synthetic


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_trust_weight_in_bounds(weight: float) -> None:
    assert real("a", trust_weight=weight).trust_weight == weight


@pytest.mark.parametrize("weight", [-0.01, 1.01, 2.0])
def test_trust_weight_out_of_bounds(weight: float) -> None:
    with pytest.raises(ValidationError):
        real("a", trust_weight=weight)


def test_default_trust_weight_is_one() -> None:
    assert real("a").trust_weight == 1.0


def test_unknown_field_rejected() -> None:
    with pytest.raises(ValidationError):
        Record(id="x", task="t", origin="real", labels="sport")


def test_reject_returns_marked_copy() -> None:
    r = real("a")
    rejected = r.reject("self_correction", "relabelled as tech")
    assert r.rejected is None
    assert rejected.rejected is not None
    assert rejected.rejected.operator == "self_correction"
    assert rejected.rejected.reason == "relabelled as tech"
    assert rejected.id == r.id


def test_text_property() -> None:
    assert real("hello").text == "hello"
    assert Record(id="x", task="t", origin="real", inputs={"q": 1}).text == ""


# ------------------------------------------------------------------- JSONL I/O


def test_jsonl_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    first = [synthetic(i) for i in range(3)]
    second = [real("b"), real("c", label=None).reject("op", "why")]
    assert append_jsonl(path, first) == 3
    assert append_jsonl(path, second) == 2
    assert list(read_jsonl(path)) == first + second
    assert path.read_text(encoding="utf-8").count("\n") == 5


def test_read_jsonl_missing_file_yields_nothing(tmp_path: Path) -> None:
    assert list(read_jsonl(tmp_path / "absent.jsonl")) == []


def test_read_jsonl_skips_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [real("a")])
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n   \n")
    append_jsonl(path, [real("b")])
    assert [r.text for r in read_jsonl(path)] == ["a", "b"]


def _tear(path: Path, record: Record) -> str:
    """Append the first half of a record's line, without newline (a crash mid-write)."""
    line = record.model_dump_json()
    with open(path, "a", encoding="utf-8") as f:
        f.write(line[: len(line) // 2])
    return line


def test_torn_last_line_skipped_by_read(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = [synthetic(0), synthetic(1)]
    append_jsonl(path, good)
    _tear(path, synthetic(2))
    assert list(read_jsonl(path)) == good


def test_complete_json_without_newline_is_still_torn(tmp_path: Path) -> None:
    """A last line without newline may be a full object whose newline was lost; it is
    treated as torn (the operator reruns it) so read and repair agree."""
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [real("a")])
    with open(path, "a", encoding="utf-8") as f:
        f.write(real("b").model_dump_json())
    assert [r.text for r in read_jsonl(path)] == ["a"]
    repair_jsonl(path)
    assert [r.text for r in read_jsonl(path)] == ["a"]


def test_repair_cuts_torn_line_and_keeps_earlier(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    good = [synthetic(0), synthetic(1)]
    append_jsonl(path, good)
    intact = path.read_bytes()
    _tear(path, synthetic(2))
    assert path.read_bytes() != intact
    repair_jsonl(path)
    assert path.read_bytes() == intact
    assert list(read_jsonl(path)) == good
    # appending after repair yields a valid file again
    append_jsonl(path, [synthetic(3)])
    assert list(read_jsonl(path)) == good + [synthetic(3)]


def test_repair_torn_only_line_empties_file(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "x", "ta', encoding="utf-8")
    repair_jsonl(path)
    assert path.read_bytes() == b""
    assert list(read_jsonl(path)) == []


def test_repair_leaves_intact_file_and_missing_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [real("a"), real("b")])
    before = path.read_bytes()
    repair_jsonl(path)
    assert path.read_bytes() == before
    repair_jsonl(tmp_path / "absent.jsonl")
    assert not (tmp_path / "absent.jsonl").exists()


def test_corrupt_middle_line_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    """Only the *last* line may be torn silently; garbage earlier is named, not hidden."""
    path = tmp_path / "r.jsonl"
    append_jsonl(path, [real("a")])
    with open(path, "a", encoding="utf-8") as f:
        f.write("{not json\n")
    append_jsonl(path, [real("b")])
    with pytest.warns(RuntimeWarning, match=r"r\.jsonl:2: not a valid record"):
        texts = [r.text for r in read_jsonl(path)]
    assert texts == ["a", "b"]


def test_damaged_lines_are_set_aside_in_a_side_file_never_deleted(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    append_jsonl(path, [real("a")])
    with open(path, "ab") as f:
        f.write(b'{"id": "x"}\n\xff\xfe binary\n')  # a wrong shape, then not UTF-8
    append_jsonl(path, [real("b")])
    with pytest.warns(RuntimeWarning, match=r"2 damaged line\(s\) \(2, 3\) set aside"):
        assert set_aside_corrupt_lines(path) == [2, 3]
    assert [r.text for r in read_jsonl(path)] == ["a", "b"]
    side = [json.loads(line) for line in (tmp_path / "data.corrupt.jsonl").open()]
    assert [(row["file"], row["line"]) for row in side] == [("data.jsonl", 2), ("data.jsonl", 3)]
    assert side[0]["text"] == '{"id": "x"}' and "ValidationError" in side[0]["error"]
    assert set_aside_corrupt_lines(path) == []  # sound now: nothing moves, no warning


def test_unreadable_state_file_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    path.write_text("")
    with pytest.warns(RuntimeWarning, match="progress.json: unreadable"):
        assert read_json_state(path, {"fresh": True}) == {"fresh": True}
    assert not path.exists() and (tmp_path / "progress.json.corrupt").exists()
    assert read_json_state(path, None) is None


# ----------------------------------------------------------------- Parquet I/O


def test_parquet_round_trip_equality(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    records = [synthetic(i) for i in range(4)] + [
        real("plain"),
        real("unlabelled", label=None),
        real("dropped").reject("judge", "off topic"),
    ]
    assert write_parquet(path, records) == len(records)
    back = read_parquet(path)
    assert back == records
    # provenance and verification survive in detail, not just by equality of defaults
    assert back[0].provenance.operators[1].detail == {"relabel": "sport", "attempts": 1}
    assert back[0].provenance.plan.taxonomy_path == ["a", "b"]
    assert back[0].provenance.created_at == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert back[0].verdict("judge") == Verdict(check="judge", by="j1", score=0.75)
    assert back[0].origin is Origin.synthetic
    assert back[6].rejected is not None and back[6].rejected.reason == "off topic"


def test_parquet_columns(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    write_parquet(path, [synthetic(0), real("plain", label=None)])
    table = pq.read_table(path)
    assert table.column_names == [
        "id",
        "task",
        "kind",
        "origin",
        "label",
        "text",
        "trust_weight",
        "inputs",
        "outputs",
        "field_origins",
        "provenance",
        "verification",
        "rejected",
    ]
    rows = table.to_pylist()
    assert rows[0]["text"] == synthetic(0).text
    assert rows[0]["origin"] == "synthetic"
    assert rows[1]["label"] is None
    assert rows[1]["rejected"] is None
    assert json.loads(rows[0]["provenance"])["model"] == "qwen2.5-coder-0.5b"


def test_parquet_empty(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    assert write_parquet(path, []) == 0
    assert read_parquet(path) == []


def test_parquet_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    write_parquet(path, [real("old")])
    write_parquet(path, (r for r in [synthetic(1), synthetic(2)]))  # generators accepted
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]
    assert read_parquet(path) == [synthetic(1), synthetic(2)]


def test_parquet_failed_write_keeps_old_file(tmp_path: Path) -> None:
    """A write that fails part-way leaves the previous file untouched."""
    path = tmp_path / "d.parquet"
    write_parquet(path, [real("old")])
    before = path.read_bytes()

    def boom():
        yield real("new")
        raise RuntimeError("crash while producing records")

    with pytest.raises(RuntimeError):
        write_parquet(path, boom())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.parquet"]


# ------------------------------------------------------- files of earlier versions

_OLD_LINE = (
    '{"id":"a1b2c3d4e5f60718","task":"bbc_news_topics","inputs":{"text":"Shares rose."},'
    '"label":"business","origin":"synthetic","provenance":{"source":null,"backend":"llamacpp",'
    '"model":"qwen2.5-coder-0.5b","model_sha256":null,"sampling":{},"recipe_sha256":"x",'
    '"operators":[],"plan":{"id":"plan-1","context":"a bank","taxonomy_path":[],"persona":'
    'null,"mix":{},"characteristics":{}},"instance_seed":"s","target_label":"business",'
    '"label_constraint":null,"parents":[],"perturbation":null,"created_at":'
    '"2026-11-01T10:00:00Z"},"verification":{"self_consistency":{"predicted":"politics",'
    '"target":"business","agreed":false,"attempt":0},"judges":[],"verifiers":[]},'
    '"trust_weight":0.5,"rejected":null}\n'
)


def test_data_jsonl_written_before_kinds_and_verdict_lists_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text(_OLD_LINE)
    (record,) = list(read_jsonl(path))
    assert record.kind == "classification" and record.outputs == {}
    verdict = record.verdict("self_consistency")
    assert verdict.passed is False and verdict.detail["predicted"] == "politics"
    assert record.origin_of("text") is Origin.synthetic


def test_data_parquet_written_before_kinds_still_loads(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = json.loads(_OLD_LINE)
    row = {k: d[k] for k in ("id", "task", "origin", "label", "trust_weight")}
    row["text"] = d["inputs"]["text"]
    for col in ("inputs", "provenance", "verification"):
        row[col] = json.dumps(d[col])
    row["rejected"] = None
    pq.write_table(pa.Table.from_pylist([row]), tmp_path / "data.parquet")
    (record,) = read_parquet(tmp_path / "data.parquet")
    assert record.text == "Shares rose." and record.verdict("self_consistency").passed is False


def test_a_real_record_with_a_synthetic_field_is_refused() -> None:
    with pytest.raises(ValueError, match="origin synthetic"):
        Record(id="x", task="t", origin=Origin.real, field_origins={"label": Origin.synthetic})
    teacher = Record(id="x", task="t", origin=Origin.synthetic, inputs={"text": "real text"},
                     label="a", field_origins={"text": Origin.real})
    assert teacher.origin_of("text") is Origin.real
    assert teacher.origin_of("label") is Origin.synthetic
