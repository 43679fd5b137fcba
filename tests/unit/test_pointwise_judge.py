"""The pointwise judge step: rubric scores as verdicts, the quantile and score cuts, missing
answers recorded (never coerced), the judge backend, and bad rubrics as one-line errors."""

from __future__ import annotations

import json
import re
import sys

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import read_jsonl
from tests.unit import test_targen_pipeline
from tests.unit.scripted import ScriptedBackend

RECIPE = """\
task:
  name: toy
  kind: classification
  description: Toy notes left on a fridge.
  unit: toy note
  labels: {alpha: about alpha, beta: about beta, gamma: about gamma}
n: 12
chunk_size: 6
steps:
  - type: targen.contexts
    n: 3
  - type: targen.instance_seeds
    per_pair: 4
  - type: targen.label_constraints
  - type: targen.generate
    max_words: 12
  - type: targen.self_correction
    on_fail: reject
  - type: judge.pointwise
"""


def judge_answer(user: str) -> str:
    """Scores from the number in the text: some low, some high; a number ending in 5 is
    answered 7 (outside the scale) at every attempt."""
    number = int(re.search(r"number (\d+)", user).group(1))
    keys = re.findall(r'"(\w+)"', user.split("one whole-number score per criterion:")[-1])
    if number % 10 == 5:
        return json.dumps({k: 7 for k in keys})
    return json.dumps({k: [1, 3, 5, 3][number % 4] for k in keys})


def respond(request):
    system, user = request.messages[0]["content"], request.messages[1]["content"]
    if system.startswith("You grade"):
        return judge_answer(user)
    return test_targen_pipeline.respond(request)


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def run(tmp_path, text, *, judge=None, name="out"):
    recipe = load_recipe(write(tmp_path, text))
    scripted = ScriptedBackend(respond)
    backend = CachedBackend(scripted, ResponseCache(tmp_path / f"{name}.sqlite"))
    judge_backend = None
    if judge is not None:
        judge_backend = CachedBackend(ScriptedBackend(respond, model=judge),
                                      ResponseCache(tmp_path / f"{name}-judge.sqlite"))
    manifest = run_recipe(recipe, tmp_path / name, backend=backend,
                          judge_backend=judge_backend)
    data = list(read_jsonl(tmp_path / name / "data.jsonl"))
    rejected = list(read_jsonl(tmp_path / name / "rejected.jsonl"))
    return manifest, data, rejected, scripted


def test_scores_are_verdicts_and_the_bottom_quantile_is_dropped(tmp_path):
    manifest, data, rejected, scripted = run(tmp_path, RECIPE + "    drop_quantile: 0.3\n")
    cut = [r for r in rejected if r.rejected.operator == "judge.pointwise"]
    scored = [r for r in data + cut if r.verdict("judge").score is not None]
    assert 1 <= len(cut) <= int(0.3 * len(scored))
    kept_scores = [r.verdict("judge").score for r in data if r.verdict("judge").score]
    assert max(r.verdict("judge").score for r in cut) <= min(kept_scores)
    for r in data:
        v = r.verdict("judge")
        assert v.by == "judge.pointwise/scripted-model"
        assert set(v.detail["scores"]) == {"relevance", "naturalness", "label_fit",
                                           "difficulty"}
        assert v.detail["same_model_as_generator"] is True and v.detail["scale"] == [1, 5]
    assert "in the bottom 30% of judge scores" in cut[0].rejected.reason
    assert manifest["usage_by_step"]["judge.pointwise"]["calls"] >= len(data)
    prompts = [q.messages[1]["content"] for q in scripted.requests
               if q.messages[0]["content"].startswith("You grade")]
    assert all("Toy note:" in p and "Label:" in p and "news" not in p for p in prompts)


def test_an_answer_outside_the_scale_is_retried_then_missing_never_coerced(tmp_path):
    _, data, rejected, scripted = run(tmp_path, RECIPE)
    missing = [r for r in data if re.search(r"number \d*5 ", r.text)]
    assert missing, "the scripted judge answers 7 for numbers ending in 5"
    for r in missing:
        v = r.verdict("judge")
        assert v.score is None and v.passed is None and v.detail["attempts"] == 3
        assert sorted(v.detail["missing"]) == sorted(v.detail["scores"])
        assert set(v.detail["scores"].values()) == {None}
    assert not any(re.search(r"number \d*5 ", r.text) for r in rejected
                   if r.rejected.operator == "judge.pointwise")


def test_min_score_cut_and_a_judge_on_another_model(tmp_path):
    text = RECIPE + "    min_score: 2\n    action: weight\n    cut_trust_weight: 0.25\n"
    _, data, rejected, _ = run(tmp_path, text, judge="judge-model")
    assert not [r for r in rejected if r.rejected.operator == "judge.pointwise"]
    low = [r for r in data if (r.verdict("judge").score or 9) < 2]
    assert low and all(r.trust_weight == 0.25 and r.verdict("judge").passed is False
                       for r in low)
    v = data[0].verdict("judge")
    assert v.by == "judge.pointwise/judge-model"
    assert v.detail["same_model_as_generator"] is False


def test_a_judge_that_scores_everyone_alike_cuts_nothing(tmp_path, monkeypatch):
    def same(user):
        keys = re.findall(r'"(\w+)"', user.split("one whole-number score per criterion:")[-1])
        return json.dumps({k: 3 for k in keys})

    monkeypatch.setattr(sys.modules[__name__], "judge_answer", same)
    _, data, rejected, _ = run(tmp_path, RECIPE)
    assert not [r for r in rejected if r.rejected.operator == "judge.pointwise"]
    assert {r.verdict("judge").score for r in data} == {3.0}
    assert all(r.verdict("judge").passed is True for r in data)


def test_a_custom_rubric_in_the_recipe(tmp_path):
    text = RECIPE + """\
    action: score
    criteria:
      - name: clarity
        question: Is the {unit} clear?
        levels: {0: unclear, 1: clear}
"""
    _, data, rejected, _ = run(tmp_path, text)
    assert not [r for r in rejected if r.rejected.operator == "judge.pointwise"]
    assert all(set(r.verdict("judge").detail["scores"]) == {"clarity"} for r in data)
    assert all(r.verdict("judge").detail["scale"] == [0, 1] for r in data)


@pytest.mark.parametrize(("extra", "message"), [
    ("    criteria:\n      - {name: a, question: q, levels: {}}\n",
     "needs at least two anchored score levels"),
    ("    criteria:\n      - {name: a, question: q, levels: {1: x, 2: y}}\n"
     "      - {name: a, question: r, levels: {1: x, 2: y}}\n", "criterion 'a' is given twice"),
    ("    drop_quantile: 1.5\n", "drop_quantile"),
    ("    drop_quantile: 0\n", "drop_quantile"),
    ("    drop_quantile: 0.2\n    min_score: 3\n", "give drop_quantile or min_score, not both"),
])
def test_bad_rubrics_and_cuts_are_one_line_errors_with_exit_2(tmp_path, extra, message):
    path = write(tmp_path, RECIPE + extra)
    with pytest.raises(UserInputError, match=re.escape(message)) as e:
        load_recipe(path)
    assert "\n" not in str(e.value) and "steps.5" in str(e.value)
    result = CliRunner().invoke(app, ["generate", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and message in result.output
    assert not (tmp_path / "o").exists()
