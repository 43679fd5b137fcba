"""The preference kind end to end on a scripted model: prompts (written or from a file), k
candidates, pairwise judging with swaps undone, Bradley-Terry scores, chosen/rejected
pairs, the DPO export that TRL and Hugging Face ``datasets`` read, and bad input as one-line
errors with exit code 2."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.errors import UserInputError
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import load_recipe
from synthloom.records import Origin, Record, append_jsonl, read_jsonl
from tests.unit.scripted import ScriptedBackend

runner = CliRunner()

RECIPE = """\
task:
  name: toy_support
  kind: preference
  description: Questions customers of a toy shop ask.
  unit: question from a customer
n: {n}
steps:
  - type: preference.prompts
    {source}
  - type: preference.drafts
  - type: preference.candidates_and_judge
    k: 4
    max_words: 30
{extra}"""

_PAIR = re.compile(r"Response A:\n(.*?)\n\nResponse B:\n(.*?)\n\n", re.DOTALL)


def prefers_longer(user: str) -> str:
    """A judge that prefers the longer response (a tie: the first slot)."""
    first, second = _PAIR.search(user).groups()
    return json.dumps({"better": "B" if len(second) > len(first) else "A"})


def always_a(user: str) -> str:
    """A judge with nothing but a position bias: always the first slot."""
    return json.dumps({"better": "A"})


def model(judge=prefers_longer):
    def respond(request):
        system, user = request.messages[0]["content"], request.messages[-1]["content"]
        seed = request.sampling.seed or 0
        if system.startswith("You compare two"):
            return judge(user)
        if system.startswith("You answer"):
            if "SAME" in user:  # every candidate the same text: fewer than 2 distinct
                return "Same answer."
            return f"Answer {seed % 1000}: " + " ".join(["detail"] * (seed % 13)) + "."
        if "Write one new" in user:
            if seed % 5 == 0:
                return "Why is my teddy bear's seam open?"
            if seed % 5 == 1:
                return "WHY IS MY TEDDY BEAR'S SEAM OPEN?"
            return f"Here is a question: Do you ship order {seed % 997} abroad?"
        raise AssertionError(f"unexpected request: {user[:80]}")
    return respond


def run(tmp_path, *, n=5, source="count: 12", extra="", judge=prefers_longer,
        judge_model=None, name="out"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(RECIPE.format(n=n, source=source, extra=extra))
    recipe = load_recipe(path)
    backend = ScriptedBackend(model(judge))
    judge_backend = (None if judge_model is None else
                     ScriptedBackend(model(judge), model=judge_model))
    manifest = run_recipe(recipe, tmp_path / name, backend=backend, judge_backend=judge_backend)
    out = tmp_path / name
    return (manifest, list(read_jsonl(out / "data.jsonl")),
            list(read_jsonl(out / "rejected.jsonl")), out)


def test_a_recipe_runs_end_to_end_with_scores_margins_and_the_swap_recorded(tmp_path):
    manifest, data, _, out = run(tmp_path, judge_model="judge-model")
    assert manifest["accepted"] == 5 and manifest["kind"] == "preference"
    prompts = json.loads((out / "plan" / "prompts.json").read_text())
    assert len({" ".join(p.lower().split()) for p in prompts}) == len(prompts)  # no repeats
    assert not any(p.startswith("Here is") for p in prompts)  # preamble cut
    for r in data:
        o = r.outputs
        assert r.kind == "preference" and r.inputs["prompt"] in prompts
        assert o["chosen"] != o["rejected"] and o["margin"] > 0
        assert len(o["scores"]) == len(o["candidates"]) >= 2 and o["judge_calls"] > 0
        assert {"text", "temperature", "score", "low", "high"} <= set(o["candidates"][0])
        assert o["margin"] == pytest.approx(max(o["scores"]) - min(o["scores"]), abs=1e-3)
        v = r.verdict("pairwise")
        assert v.by == "judge.pairwise/judge-model" and v.score == o["margin"] and v.passed
        assert v.detail["same_model_as_generator"] is False
        assert v.detail["method"] == "bradley_terry"
        assert r.provenance.backend == "scripted" and r.provenance.model == "scripted-model"
        assert r.provenance.sampling["temperatures"] == [0.2, 0.7, 1.0, 1.3]
    comparisons = [c for r in data for c in r.verdict("pairwise").detail["comparisons"]]
    assert {c["first"] for c in comparisons} == {"a", "b"}  # positions were swapped
    assert {c["preferred_slot"] for c in comparisons} == {"first", "second"}


def test_the_judge_preferring_longer_texts_makes_the_longest_candidate_chosen(tmp_path):
    _, data, _, _ = run(tmp_path)
    for r in data:
        texts = [c["text"] for c in r.outputs["candidates"]]
        assert len(r.outputs["chosen"]) == max(map(len, texts))
        assert len(r.outputs["rejected"]) == min(map(len, texts))
        for c in r.verdict("pairwise").detail["comparisons"]:  # swaps undone: p_a by length
            a, b = len(texts[c["a"]]), len(texts[c["b"]])
            assert c["p_a"] == (1.0 if a > b else 0.0 if a < b else 0.5)


def test_a_judge_with_only_a_position_bias_gives_ties_and_every_record_is_rejected(tmp_path):
    manifest, data, rejected, _ = run(tmp_path, judge=always_a)
    assert data == [] and manifest["accepted"] == 0
    assert rejected and all(r.rejected.operator == "judge.pairwise" for r in rejected)
    assert all("margin 0.0000 <= min_margin" in r.rejected.reason for r in rejected)
    assert all(s == 0.0 for r in rejected for s in r.outputs["scores"])
    # judged in one random order only, the same bias becomes noise: pairs come out
    _, noisy, _, _ = run(tmp_path, judge=always_a, extra="    both_orders: false\n",
                         name="one-order")
    assert noisy and all(r.outputs["margin"] > 0 for r in noisy)


def test_prompts_from_a_file_are_used_in_order_and_never_twice(tmp_path):
    prompts = ["Do you sell kites?", "SAME please", "Can I return a puzzle?",
               "Do you gift wrap?", "Are the blocks safe for babies?", "Where is the shop?"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts + ["", "Do you sell kites?"]) + "\n")
    manifest, data, rejected, out = run(
        tmp_path, n=10, source="file: prompts.txt",
        extra="    personas: [a shop owner, a new clerk]\n    cycles: 1\n")
    drafts = [d.inputs["prompt"] for d in read_jsonl(out / "drafts.jsonl")]
    assert drafts == prompts  # file order; the repeat and the blank line dropped; no wrap
    assert [r.inputs["prompt"] for r in data] == [p for p in prompts if p != "SAME please"]
    (same,) = rejected
    assert same.rejected.reason == "1 distinct candidate response(s) of 4; a pair needs 2"
    assert manifest["accepted"] == 5 < manifest["wanted"]
    for r in data:  # personas alternate; one random cycle judges 4 of the 6 pairs
        assert [c["persona"] for c in r.outputs["candidates"]] == ["a shop owner",
                                                                   "a new clerk"] * 2
        assert len(r.verdict("pairwise").detail["comparisons"]) == 4


def test_export_dpo_gives_trl_rows_that_datasets_loads(tmp_path, monkeypatch):
    _, data, _, out = run(tmp_path)
    target = tmp_path / "pairs.jsonl"
    result = runner.invoke(app, ["export", str(out), "--layout", "dpo", "-o", str(target)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [row["id"] for row in rows] == [r.id for r in data]
    row, record = rows[0], data[0]
    assert row["prompt"] == [{"role": "user", "content": record.inputs["prompt"]}]
    assert row["chosen"] == [{"role": "assistant", "content": record.outputs["chosen"]}]
    assert row["rejected"] == [{"role": "assistant", "content": record.outputs["rejected"]}]
    assert row["score_chosen"] - row["score_rejected"] == pytest.approx(row["margin"], abs=1e-3)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    datasets = pytest.importorskip("datasets")
    ds = datasets.load_dataset("json", data_files=str(target), split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert {"prompt", "chosen", "rejected"} <= set(ds.column_names) and len(ds) == len(data)
    assert ds[0]["chosen"][0]["role"] == "assistant"
    parquet = tmp_path / "pairs.parquet"
    assert runner.invoke(app, ["export", str(out), "--layout", "dpo", "-o",
                               str(parquet)]).exit_code == 0
    import pyarrow.parquet as pq

    assert pq.read_table(parquet).num_rows == len(data)
    as_is = tmp_path / "records.jsonl"
    assert runner.invoke(app, ["export", str(out), "-o", str(as_is)]).exit_code == 0
    assert [json.loads(x)["id"] for x in as_is.read_text().splitlines()] == [r.id for r in data]


def _one_line_exit_2(result, *words):
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    for word in words:
        assert word in result.output


@pytest.mark.parametrize("source, content, words", [
    ("file: missing.txt", None, ["missing.txt", "not found"]),
    ("file: empty.txt", "\n  \n", ["empty.txt", "no prompts"]),
])
def test_a_missing_or_empty_prompts_file_is_a_one_line_error(tmp_path, source, content, words):
    if content is not None:
        (tmp_path / "empty.txt").write_text(content)
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(n=3, source=source, extra=""))
    with pytest.raises(UserInputError, match="line 8: steps.0 \\(preference.prompts\\)"):
        load_recipe(path)
    result = runner.invoke(app, ["generate", str(path), "-o", str(tmp_path / "out")])
    _one_line_exit_2(result, *words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, words", [
    ("    k: 1\n", ["k", "greater than or equal to 2"]),
    ("    method: elo\n", ["method"]),
])
def test_bad_generate_options_are_one_line_errors(tmp_path, extra, words):
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.format(n=3, source="count: 4", extra=extra).replace(
        "    k: 4\n", ""))
    result = runner.invoke(app, ["generate", str(path), "-o", str(tmp_path / "out")])
    _one_line_exit_2(result, *words)


def test_a_preference_task_without_steps_or_with_two_sources_is_an_error(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("task: {name: t, kind: preference, description: d, unit: question}\n")
    with pytest.raises(UserInputError, match="has no preset"):
        load_recipe(path)
    path.write_text(RECIPE.format(n=3, source="count: 4\n    file: x.txt", extra=""))
    with pytest.raises(UserInputError, match="either file .* or count"):
        load_recipe(path)


def test_export_of_a_classification_run_as_dpo_or_of_no_run_exits_2(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    append_jsonl(run_dir / "data.jsonl", [Record(id=str(i), task="t", inputs={"text": "x"},
                                                 label="a", origin=Origin.synthetic)
                                          for i in range(3)])
    target = tmp_path / "x.jsonl"
    result = runner.invoke(app, ["export", str(run_dir), "--layout", "dpo", "-o", str(target)])
    _one_line_exit_2(result, "dpo", "classification")
    assert not target.exists()
    result = runner.invoke(app, ["export", str(tmp_path / "nothing"), "-o", str(target)])
    _one_line_exit_2(result, "not a run")
    assert runner.invoke(app, ["export", str(run_dir), "-o", str(target)]).exit_code == 0
    assert len(target.read_text().splitlines()) == 3
