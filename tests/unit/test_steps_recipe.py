"""Task kinds and steps in recipes: explicit steps run, bad kinds, step types, flows and
templates are one-line errors with exit code 2 and nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import synthloom
from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import read_jsonl
from tests.unit.test_targen_pipeline import LABELS, run

runner = CliRunner()

STEPS = """\
task:
  name: toy
  kind: classification
  description: Toy texts.
  unit: toy note
  labels: {alpha: about alpha, beta: about beta, gamma: about gamma}
n: 6
chunk_size: 3
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
templates:
  targen.instance_generation.system: "You write realistic examples, short ones. {description}"
"""


def write(tmp_path, text):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_explicit_steps_with_a_unit_and_a_template_override_run(tmp_path):
    recipe = load_recipe(write(tmp_path, STEPS))
    assert recipe.task.unit == "toy note" and recipe.steps[0].type == "targen.contexts"
    manifest, scripted = run(tmp_path, "out", recipe)
    assert manifest["accepted"] == 6 and manifest["unit"] == "toy note"
    generation = [q for q in scripted.requests
                  if q.messages[0]["content"].startswith("You write realistic examples, short")]
    assert generation and all("toy note" in q.messages[1]["content"] for q in generation)
    assert not (tmp_path / "out" / "plan" / "unit.json").exists()  # the unit was given
    rejected = list(read_jsonl(tmp_path / "out" / "rejected.jsonl"))
    # on_fail: reject never regenerates
    assert all(r.rejected.operator != "targen.self_correction" or "after 1 generation" in
               r.rejected.reason for r in rejected)


def test_without_a_unit_it_is_derived_once_and_recorded(tmp_path):
    recipe = synthloom.Recipe(task="toy", description="Toy texts.", labels=LABELS, n=3,
                              targen={"contexts": 2, "seeds_per_pair": 2, "max_words": 12})
    manifest, _ = run(tmp_path, "out", recipe)
    assert (tmp_path / "out" / "plan" / "unit.json").read_text().strip() == '"toy text"'
    assert manifest["unit"] == "toy text"


def test_python_construction_with_a_task_section():
    recipe = synthloom.Recipe(task=synthloom.ClassificationTask(
        name="toy", description="Toy texts.", labels=LABELS, unit="note"), n=3)
    assert recipe.labels == LABELS and recipe.name == "toy"
    assert synthloom.Recipe.model_validate(recipe.model_dump()).sha256() == recipe.sha256()


@pytest.mark.parametrize(("change", "line", "message"), [
    (("  kind: classification", "  kind: ranking"), 3, "task.kind: unknown kind 'ranking'"),
    (("  - type: targen.generate", "  - type: targen.write"), 15,
     "steps.3.type: unknown type 'targen.write'"),
    (("  - type: targen.instance_seeds\n    per_pair: 4\n", ""), 12,
     "steps.1 (targen.label_constraints): reads 'instance_seeds', which neither the task "
     "nor an earlier step provides"),
    (("{description}\"", "{description} {colour}\""), 20,
     "templates.targen.instance_generation.system: unknown field {colour}"),
    (("targen.instance_generation.system", "targen.writer.system"), 20, "unknown operator"),
    (("  unit: toy note\n", ""), 9, "reads 'unit'"),
    (("    on_fail: reject", "    on_fail: shrug"), 18, "steps.4.on_fail"),
])
def test_bad_steps_and_kinds_name_what_is_wrong_with_its_line(tmp_path, change, line, message):
    old, new = change
    assert old in STEPS
    with pytest.raises(UserInputError) as info:
        load_recipe(write(tmp_path, STEPS.replace(old, new)))
    text = str(info.value)
    assert message in text, text
    assert f"line {line}:" in text, text
    assert "\n" not in text


def test_flat_recipe_with_an_unknown_kind_points_at_kind(tmp_path):
    path = write(tmp_path, "task: t\nkind: ranking\ndescription: d\nlabels: {a: x, b: y}\n")
    with pytest.raises(UserInputError, match=r"line 2: kind: unknown kind 'ranking'"):
        load_recipe(path)


def test_steps_and_preset_sections_together_are_refused(tmp_path):
    with pytest.raises(UserInputError, match="either steps or the preset sections"):
        load_recipe(write(tmp_path, STEPS + "targen:\n  contexts: 3\n"))


def test_a_step_out_of_engine_order_is_refused(tmp_path):
    text = STEPS.replace("  - type: targen.contexts\n    n: 3\n", "").replace(
        "templates:", "  - type: targen.contexts\ntemplates:")
    with pytest.raises(UserInputError, match=r"steps.4 \(targen.contexts\): a plan step cannot "
                                             r"come after a check step"):
        load_recipe(write(tmp_path, text))


@pytest.mark.parametrize("bad", [
    STEPS.replace("  kind: classification", "  kind: ranking"),
    STEPS.replace("  - type: targen.generate", "  - type: targen.write"),
    STEPS.replace("  - type: targen.instance_seeds\n    per_pair: 4\n", ""),
    STEPS.replace("{description}\"", "{description} {colour}\""),
])
def test_cli_exits_2_with_one_line_and_writes_nothing(tmp_path, bad):
    result = runner.invoke(app, ["generate", str(write(tmp_path, bad)), "-o",
                                 str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()


def test_a_record_missing_its_kinds_fields_is_rejected_not_stored():
    from synthloom.records import Origin, Record
    from synthloom.tasks import ClassificationTask

    task = ClassificationTask(name="t", description="d", labels=LABELS)
    empty = Record(id="x", task="t", origin=Origin.synthetic)
    assert task.missing_fields(empty) == ["text", "label"]
    full = empty.model_copy(update={"inputs": {"text": "hi"}, "label": "alpha"})
    assert task.missing_fields(full) == []
