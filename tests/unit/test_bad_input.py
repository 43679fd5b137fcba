"""Bad input gets a one-line UserInputError (or a correct behaviour), never a traceback or a
hang: recipes (aliases, encodings, shapes, labels, counts, lengths, URLs), students, the real
seed size, real-data files and a damaged run folder; plus property tests that feed random
files to the recipe and real-data loaders (issue 11)."""

from __future__ import annotations

import json
import random
import string
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from synthloom.api import read_run
from synthloom.cli import app
from synthloom.datasets import load_labelled_file, load_real
from synthloom.errors import UserInputError
from synthloom.evaluate import summary
from synthloom.evaluate.students import make_student
from synthloom.evaluate.summary import evaluate_synthetic
from synthloom.pipeline.recipe import (
    MAX_DESCRIPTION_WORDS,
    MAX_LABEL_WORDS,
    Recipe,
    load_recipe,
    with_backend,
)
from synthloom.pipeline.recipe_yaml import MAX_YAML_NODES
from synthloom.records import Origin, Record, append_jsonl, record_id, write_parquet

runner = CliRunner()

BASE = """\
task: topics
description: Short news snippets.
labels:
  business: companies and markets
  sport: football and other sports
n: 30
"""
#        line: 1 task, 2 description, 3 labels, 4-5 labels, 6 n


def write(tmp_path: Path, text: str | bytes, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(UserInputError) as info:
        load_recipe(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------ 1. YAML aliases


def laughs(levels: int, width: int = 9) -> str:
    """A "billion laughs" recipe: ``width ** levels`` scalars behind a few hundred bytes."""
    lines = [BASE.rstrip("\n"), "x0: &x0 [" + ",".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"x{i}: &x{i} [" + ",".join([f"*x{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_is_refused_not_walked(tmp_path: Path) -> None:
    # 9 ** 10 (3.5 billion) nodes: the old duplicate-key walk would take hours on this
    text = laughs(10)
    assert len(text.encode()) < 600
    message = error_of(tmp_path, text)
    assert "aliases expand to" in message and f"{MAX_YAML_NODES:,}" in message


def test_an_alias_that_contains_itself_is_refused(tmp_path: Path) -> None:
    assert "refers to a node that contains it" in error_of(tmp_path, BASE + "x: &x [1, *x]\n")


def test_small_aliases_still_load(tmp_path: Path) -> None:
    text = BASE.replace("football and other sports", "&d football and other sports")
    text += "targen:\n  contexts: &c [at home, at work]\nsteps_note: *d\n"
    message = error_of(tmp_path, text)  # the alias is fine; the unknown field is not
    assert "steps_note: unknown field" in message
    recipe = load_recipe(write(tmp_path, text.replace("steps_note: *d\n", "")))
    assert recipe.steps[1].n == ["at home", "at work"]


def test_duplicate_key_inside_an_aliased_mapping_is_still_found(tmp_path: Path) -> None:
    text = BASE + "backend: &b\n  kind: llamacpp\n  kind: openai_http\n"
    message = error_of(tmp_path, text)
    assert "backend.kind: given twice" in message and "line 9" in message


# ------------------------------------------- 2. encodings and the file's shape


def test_latin1_recipe_names_the_byte_and_offset(tmp_path: Path) -> None:
    data = BASE.replace("Short", "Caf\xe9").encode("latin-1")
    message = error_of(tmp_path, data)
    offset = data.index(b"\xe9")
    assert f"not UTF-8 text (byte 0xe9 at offset {offset}, line 2)" in message


def test_binary_recipe_is_not_utf8(tmp_path: Path) -> None:
    assert "not UTF-8 text (byte 0x89 at offset 0" in error_of(tmp_path, b"\x89PNG\r\n\x1a\n\0")


def test_utf8_with_byte_order_mark_loads(tmp_path: Path) -> None:
    assert load_recipe(write(tmp_path, b"\xef\xbb\xbf" + BASE.encode())).n == 30


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_recipe(tmp_path: Path, text: str) -> None:
    assert "the file is empty" in error_of(tmp_path, text)


@pytest.mark.parametrize(("text", "what"), [("- a\n- b\n", "not a list"),
                                            ("just words\n", "not a single value"),
                                            ("42\n", "not a single value")])
def test_recipe_that_is_not_a_mapping(tmp_path: Path, text: str, what: str) -> None:
    message = error_of(tmp_path, text)
    assert "a recipe is a YAML mapping of fields" in message and what in message


def test_folder_as_recipe(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="is a folder, not a recipe file"):
        load_recipe(tmp_path)


def test_a_date_that_does_not_exist_is_a_yaml_error(tmp_path: Path) -> None:
    assert "not valid YAML" in error_of(tmp_path, BASE + "when: 2021-02-30\n")


def test_deep_nesting_is_a_yaml_error(tmp_path: Path) -> None:
    assert "not valid YAML" in error_of(tmp_path, BASE + "x: " + "[" * 5000 + "]" * 5000)


# ------------------------------------------------------------------ 3. labels


def test_labels_differing_only_in_case_or_spaces_are_refused(tmp_path: Path) -> None:
    text = ('task: t\ndescription: d\nlabels:\n  Sport: a\n  sport: b\n  "SPORT ": c\n'
            "  tech: d\n")
    message = error_of(tmp_path, text)
    assert "'Sport', 'sport', 'SPORT '" in message and "differ only in case" in message
    assert "line 3" in message and "labels:" in message


def test_clashing_labels_in_the_task_section(tmp_path: Path) -> None:
    text = "task:\n  name: t\n  description: d\n  labels:\n    News: a\n    news: b\n"
    message = error_of(tmp_path, text)
    assert "task.labels:" in message and "line 4" in message and "'News', 'news'" in message


@pytest.mark.parametrize("label", ['" sport"', '"sport "', '"\\tsport"'])
def test_label_with_spaces_around_it_is_refused(tmp_path: Path, label: str) -> None:
    message = error_of(tmp_path, f"task: t\ndescription: d\nlabels:\n  {label}: a\n  b: b\n")
    assert "has spaces around it" in message and "write 'sport'" in message


def test_distinct_labels_still_load() -> None:
    recipe = Recipe.model_validate({"task": "t", "description": "d",
                                    "labels": {"sport": "a", "sports car": "b", "Tech": "c"}})
    assert list(recipe.labels) == ["sport", "sports car", "Tech"]


# ------------------------------------------------------------------ 4. counts


@pytest.mark.parametrize(("extra", "field", "line"), [
    ("n: true\n", "n", 6),
    ("seed: false\n", "seed", 7),
    ("chunk_size: true\n", "chunk_size", 7),
    ("backend:\n  parallel: true\n", "backend.parallel", 8),
    ("backend:\n  n_ctx: true\n", "backend.n_ctx", 8),
    ("targen:\n  contexts: true\n", "targen.contexts", 8),
    ("targen:\n  seeds_per_pair: true\n", "targen.seeds_per_pair", 8),
    ("dedup:\n  jaccard: 0.5\n  num_perm: true\n", "dedup.num_perm", 9),
    ("coverage:\n  meta_prompts: true\n", "coverage.meta_prompts", 8),
])
def test_a_boolean_is_not_a_count(tmp_path: Path, extra: str, field: str, line: int) -> None:
    text = BASE.replace("n: 30\n", "") + ("n: 30\n" if field != "n" else "") + extra
    message = error_of(tmp_path, text)
    assert f"line {line}" in message and f"{field}" in message
    assert "not true" in message or "not false" in message or "valid integer" in message


def test_a_boolean_step_count_is_refused(tmp_path: Path) -> None:
    text = BASE + ("unit: news snippet\nsteps:\n  - {type: targen.contexts, n: 2}\n"
                   "  - type: targen.instance_seeds\n  - type: targen.label_constraints\n"
                   "  - {type: targen.generate, max_words: true}\n")
    message = error_of(tmp_path, text)
    assert "steps.3.max_words: must be a whole number, not true" in message


def test_plain_yaml_ints_still_load(tmp_path: Path) -> None:
    text = BASE + "seed: 7\nchunk_size: 5\nbackend:\n  parallel: 2\ntargen:\n  contexts: 3\n"
    recipe = load_recipe(write(tmp_path, text))
    assert (recipe.n, recipe.seed, recipe.chunk_size, recipe.backend.parallel) == (30, 7, 5, 2)
    assert recipe.steps[1].n == 3


def test_an_int_override_still_works(tmp_path: Path) -> None:
    assert load_recipe(write(tmp_path, BASE), n=12).n == 12


# --------------------------------------------------------------- 5. lengths


def test_a_one_megabyte_description_is_refused_with_its_word_count(tmp_path: Path) -> None:
    words = "news " * 200_000  # 1 MB
    message = error_of(tmp_path, BASE.replace("Short news snippets.", words))
    assert f"description has 200,000 words; at most {MAX_DESCRIPTION_WORDS:,}" in message
    assert "line 2" in message


def test_a_description_without_spaces_is_refused_by_characters(tmp_path: Path) -> None:
    message = error_of(tmp_path, BASE.replace("Short news snippets.", "x" * 1_000_000))
    assert "description has 1,000,000 characters; at most 8,000" in message


def test_a_long_label_description_names_the_label(tmp_path: Path) -> None:
    long = " ".join(["goal"] * 300)
    message = error_of(tmp_path, BASE.replace("football and other sports", long))
    assert f"label 'sport' has 300 words; at most {MAX_LABEL_WORDS}" in message
    assert "line 3" in message


def test_a_description_at_the_limit_loads() -> None:
    text = " ".join(["word"] * MAX_DESCRIPTION_WORDS)
    recipe = Recipe.model_validate({"task": "t", "description": text,
                                    "labels": {"a": "about a", "b": "about b"}})
    assert len(recipe.description.split()) == MAX_DESCRIPTION_WORDS


# ---------------------------------------------------------------- 6. base_url


@pytest.mark.parametrize("url", ["not a url", "ftp://host/v1", "http://", "127.0.0.1:8080",
                                 "http://host:port/v1"])
def test_bad_base_url_is_refused_at_load_time(tmp_path: Path, url: str) -> None:
    text = BASE + f"backend:\n  kind: openai_http\n  base_url: {json.dumps(url)}\n"
    message = error_of(tmp_path, text)
    assert "line 9" in message and "backend.base_url" in message and url in message


def test_good_base_url_loads(tmp_path: Path) -> None:
    text = BASE + "backend:\n  kind: openai_http\n  base_url: https://127.0.0.1:8080/v1\n"
    assert load_recipe(write(tmp_path, text)).backend.base_url == "https://127.0.0.1:8080/v1"


def test_bad_base_url_flag_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"^backend: 'nope' is not an http") as info:
        with_backend(load_recipe(write(tmp_path, BASE)), base_url="nope")
    assert "\n" not in str(info.value)


def test_bad_base_url_writes_nothing(tmp_path: Path) -> None:
    recipe = write(tmp_path, BASE + "backend:\n  kind: openai_http\n  base_url: not a url\n")
    result = runner.invoke(app, ["generate", str(recipe), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2 and "base_url" in result.output
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- 7. students


@pytest.mark.parametrize(("spec", "says"), [
    ("os:getcwd", "calling it with a seed (13) failed (TypeError"),
    ("os:sep", "sep is a str, not a callable"),
    ("builtins:int", "returned int, which has no fit/predict"),
    ("no_such_module_xyz:make", "cannot import no_such_module_xyz (ModuleNotFoundError"),
    ("os:no_such_factory", "module os has no no_such_factory"),
    ("os:", "give module:factory"),
])
def test_unusable_student_is_one_line(spec: str, says: str) -> None:
    with pytest.raises(UserInputError) as info:
        make_student(spec, 13)
    assert f"student '{spec}'" in str(info.value) and says in str(info.value)
    assert "\n" not in str(info.value)


def test_unusable_student_is_refused_before_any_data_work() -> None:
    # with no data at all, anything past the student check would fail otherwise
    with pytest.raises(UserInputError, match="student 'os:getcwd'"):
        evaluate_synthetic([], [], students=["os:getcwd"])


# ----------------------------------------------------------- 8. real seed size


def _texts(label: str, n: int, rng: random.Random) -> list[str]:
    words = {"a": ["goal", "match", "team", "score", "league"],
             "b": ["market", "shares", "profit", "bank", "trade"]}[label]
    return [" ".join(rng.choices(words, k=8)) + f" {label}{i}" for i in range(n)]


def _records(n: int, origin: Origin, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for label in ("a", "b"):
        for text in _texts(label, n // 2, rng):
            inputs = {"text": f"{origin.value} {text}"}
            out.append(Record(id=record_id("t", inputs, label), task="t", inputs=inputs,
                              label=label, origin=origin))
    return out


def test_real_seed_size_above_the_train_split_is_refused() -> None:
    real = _records(150, Origin.real, 1)  # train split: 150 * 0.7 * 0.8 = 84
    synthetic = _records(20, Origin.synthetic, 2)
    with pytest.raises(UserInputError) as info:
        evaluate_synthetic(synthetic, real, students=["tfidf-lr"], real_seed_size=1000)
    message = str(info.value)
    assert "--real-seed-size 1000" in message and "only 84 records" in message


class _FakeEmbedder:
    model_id = "fake"

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8)
                         for t in texts])

    def window_cost(self, texts: list[str]) -> dict:
        return {}


def test_default_real_seed_size_above_the_train_split_is_used_and_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(summary, "default_embedder", _FakeEmbedder)
    real = _records(80, Origin.real, 1)  # splits: test 24, validation 12, train 44 (< 50)
    synthetic = _records(20, Origin.synthetic, 2)
    with pytest.warns(RuntimeWarning, match="real seed size 50: .* only 44 records"):
        metrics = evaluate_synthetic(synthetic, real, students=["tfidf-lr"], n_bootstrap=20)
    assert metrics["data"]["real_seed_size"] == 44 == metrics["data"]["n_real_train"]
    assert metrics["students"]["tfidf-lr"]["mixing"]["n_real"] == 44


def _run_and_real(tmp_path: Path) -> tuple[Path, Path]:
    """A run folder of 20 synthetic records and a real file of 150 (train split: 84)."""
    run = tmp_path / "run"
    run.mkdir()
    append_jsonl(run / "data.jsonl", _records(20, Origin.synthetic, 2))
    real = write(tmp_path, "".join(json.dumps({"text": r.text, "label": r.label}) + "\n"
                                   for r in _records(150, Origin.real, 1)), "real.jsonl")
    return run, real


@pytest.mark.parametrize(("flags", "says"), [
    (["--student", "os:getcwd"], "student 'os:getcwd': calling it with a seed (13) failed"),
    (["--real-seed-size", "1000"], "--real-seed-size 1000 is more than the real data allows"),
])
def test_cli_evaluate_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, flags: list[str], says: str,
) -> None:
    run, real = _run_and_real(tmp_path)
    result = runner.invoke(app, ["evaluate", str(run), "--real", str(real),
                                 "--generator-sample", "0", *flags])
    assert result.exit_code == 2, result.output
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert not (run / "metrics.json").exists() and not (run / "report.html").exists()


# -------------------------------------------------------------- 9. real files


def _rows(n: int = 6) -> list[dict]:
    return [{"text": f"text number {i}", "label": "ab"[i % 2]} for i in range(n)]


def test_latin1_jsonl_names_file_line_and_offset(tmp_path: Path) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in _rows()]
    lines[3] = '{"text": "caf\xe9", "label": "a"}'
    data = ("\n".join(lines) + "\n").encode("latin-1")
    path, offset = write(tmp_path, data, "real.jsonl"), data.index(b"\xe9")
    with pytest.raises(UserInputError) as info:
        load_real(str(path))
    assert str(info.value) == (f"{path}: not UTF-8 text (byte 0xe9 at offset {offset}, "
                               "line 4); save the file as UTF-8")


def test_latin1_csv_names_file_line_and_offset(tmp_path: Path) -> None:
    data = "text,label\nfine,a\ncaf\xe9,b\n".encode("latin-1")
    path = write(tmp_path, data, "real.csv")
    with pytest.raises(UserInputError, match=r"real\.csv: not UTF-8 text \(byte 0xe9 at "
                                             r"offset 21, line 3\)"):
        load_real(str(path))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_empty_real_file(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(UserInputError, match="file is empty"):
        load_real(str(write(tmp_path, b"", "real" + suffix)))


def test_missing_text_column_in_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path, '{"body": "x", "label": "a"}\n', "real.jsonl")
    with pytest.raises(UserInputError, match="no text column 'text'; columns present: body"):
        load_real(str(path))


@pytest.mark.parametrize("line", ['["text", "label"]', '"just a string"', "42", "null"])
def test_jsonl_line_that_is_not_an_object(tmp_path: Path, line: str) -> None:
    text = json.dumps(_rows()[0]) + "\n" + line + "\n"
    with pytest.raises(UserInputError, match=r"line 2 is not a JSON object"):
        load_real(str(write(tmp_path, text, "real.jsonl")))


def test_deeply_nested_jsonl_line_is_an_error(tmp_path: Path) -> None:
    text = '{"text": ' + "[" * 100_000 + "]" * 100_000 + ', "label": "a"}\n'
    with pytest.raises(UserInputError, match="line 1"):
        load_real(str(write(tmp_path, text, "real.jsonl")))


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_huge_single_line_loads(tmp_path: Path, suffix: str) -> None:
    huge = "word " * 600_000  # 3 MB, past pyarrow's default 1 MB CSV block
    rows = [{"text": huge, "label": "a"}, {"text": "small", "label": "b"}]
    if suffix == ".jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        text = "text,label\n" + "".join(f"{r['text']},{r['label']}\n" for r in rows)
    records = load_labelled_file(write(tmp_path, text, "real" + suffix))
    assert [len(r.text) for r in records] == [len(huge.strip()), 5]


def test_folder_as_real_file(tmp_path: Path) -> None:
    folder = tmp_path / "real.jsonl"
    folder.mkdir()
    with pytest.raises(UserInputError, match="is a folder, not a data file"):
        load_real(str(folder))


# ------------------------------------------------------- 10. damaged run folder


def test_truncated_parquet_is_one_line_naming_the_file(tmp_path: Path) -> None:
    records = _records(20, Origin.synthetic, 3)
    parquet = tmp_path / "data.parquet"
    write_parquet(parquet, records)
    assert len(read_run(tmp_path)) == 20
    data = parquet.read_bytes()
    parquet.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError) as info:
        read_run(tmp_path)
    message = str(info.value)
    assert str(parquet) in message and "--resume" in message and "\n" not in message


def test_truncated_parquet_through_the_cli_exits_2(tmp_path: Path) -> None:
    (tmp_path / "data.parquet").write_bytes(b"PAR1 not really")
    result = runner.invoke(app, ["evaluate", str(tmp_path), "--real", "bbc_news"])
    assert result.exit_code == 2
    assert "data.parquet" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "metrics.json").exists()


# ------------------------------------------------------------ property tests

FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
YAMLISH = st.text(alphabet=string.ascii_letters[:8] + string.digits[:4]
                  + " :-[]{},&*!#|>'\"\n\t?%@`~\\.", max_size=200)
FIELDS = ["task", "name", "description", "labels", "kind", "unit", "n", "seed", "chunk_size",
          "backend", "sampling", "steps", "templates", "targen", "coverage", "dedup",
          "seed_data", "type", "contexts", "max_words", "base_url", "parallel", "path",
          "taxonomy", "per_pair", "a", "b"]
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=True) | st.text(max_size=20) | st.sampled_from(FIELDS))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner,
                                        max_size=4), max_leaves=20)
VALID = yaml.safe_load(BASE)


def _only_user_errors(load, path: Path) -> None:
    try:
        load(path)
    except UserInputError as e:
        assert str(e) and "\n" not in str(e)


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_recipe(tmp_path: Path, data: bytes) -> None:
    _only_user_errors(load_recipe, write(tmp_path, data))


@FUZZ
@given(text=YAMLISH)
def test_random_yamlish_text_as_recipe(tmp_path: Path, text: str) -> None:
    _only_user_errors(load_recipe, write(tmp_path, text))


@FUZZ
@given(data=st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6),
       keep_valid=st.booleans())
def test_random_nested_dicts_as_recipe(tmp_path: Path, data: dict, keep_valid: bool) -> None:
    # half the examples change a valid recipe, so the validators past "task" run too
    recipe = {**VALID, **data} if keep_valid else data
    text = yaml.safe_dump(recipe, allow_unicode=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _only_user_errors(load_recipe, write(tmp_path, text))


CELLS = st.text(max_size=12) | st.integers() | st.none() | st.booleans() | st.floats()


@FUZZ
@given(suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]),
       data=st.binary(max_size=300) | YAMLISH.map(str.encode))
def test_random_bytes_as_real_data(tmp_path: Path, suffix: str, data: bytes) -> None:
    _only_user_errors(load_labelled_file, write(tmp_path, data, "real" + suffix))


@FUZZ
@given(rows=st.lists(st.dictionaries(st.sampled_from(["text", "label", "x"]), CELLS,
                                     max_size=3) | CELLS, max_size=6),
       csv=st.booleans())
def test_random_rows_as_real_data(tmp_path: Path, rows: list, csv: bool) -> None:
    if csv:
        text = "text,label\n" + "".join(
            (",".join(str(v) for v in r.values()) if isinstance(r, dict) else str(r)) + "\n"
            for r in rows)
        path = write(tmp_path, text, "real.csv")
    else:
        path = write(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), "real.jsonl")
    _only_user_errors(load_labelled_file, path)
