"""Failure-mode injection keeps labels, marks provenance and is deterministic."""

from __future__ import annotations

import random

import pytest

from synthloom.operators.filter.failure_modes import (
    MODES,
    FailureModeInjector,
    casing,
    spacing,
    truncation,
    typos,
)
from synthloom.records import Origin, Record, record_id

LABELS = {"sport": "sports news", "business": "business news", "tech": "technology"}
TEXT = ("The striker scored twice in the cup final. The home side won three goals to one, "
        "and the crowd stayed long after the whistle.")


def _records(n: int) -> list[Record]:
    out = []
    for i in range(n):
        inputs = {"text": f"{TEXT} Match report number {i}."}
        label = list(LABELS)[i % 3]
        out.append(Record(id=record_id("t", inputs, label), task="t", inputs=inputs,
                          label=label, origin=Origin.synthetic))
    return out


def test_each_edit_changes_text_in_its_own_way() -> None:
    rng = random.Random(0)
    assert typos(TEXT, rng, rate=0.2) != TEXT
    assert casing(TEXT, random.Random(1)) in (TEXT.lower(), TEXT.upper(),
                                               TEXT.replace(". The", ". the"))
    assert spacing(TEXT, random.Random(2)).replace(" ", "") == TEXT.replace(" ", "")
    cut = truncation(TEXT, random.Random(3))
    assert TEXT.startswith(cut) and len(cut.split()) < len(TEXT.split())
    assert not cut.endswith(".")


def test_fraction_is_perturbed_labels_kept_and_marked() -> None:
    records = _records(400)
    injector = FailureModeInjector(fraction=0.25, labels=LABELS, seed=7)
    out = injector(records)
    assert len(out) == len(records)
    perturbed = [(a, b) for a, b in zip(records, out, strict=True) if a.id != b.id]
    assert 0.18 < len(perturbed) / len(records) < 0.32
    assert {b.provenance.perturbation["mode"] for _, b in perturbed} == set(MODES)
    for before, after in perturbed:
        assert after.label == before.label and after.text != before.text
        assert after.provenance.perturbation["parent"] == before.id
        assert after.provenance.parents[-1] == before.id
        assert after.provenance.operators[-1].operator == "filter.failure_modes"
        assert after.id == record_id("t", after.inputs, after.label)
    for before, after in zip(records, out, strict=True):
        if before.id == after.id:
            assert after.provenance.perturbation is None
    assert [r.id for r in FailureModeInjector(0.25, labels=LABELS, seed=7)(records)] == [
        r.id for r in out
    ]


def test_ambiguity_points_at_another_label() -> None:
    out = FailureModeInjector(1.0, modes=["ambiguity"], labels=LABELS)(_records(9))
    for r in out:
        added = r.text[len(TEXT):]
        assert any(lab in added for lab in LABELS if lab != r.label)


@pytest.mark.parametrize(
    "kwargs", [{"fraction": 1.2}, {"modes": ["emoji"]}, {"modes": []}, {"modes": ["ambiguity"]}]
)
def test_bad_settings_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        FailureModeInjector(**kwargs)


def test_perturb_command_writes_a_new_dataset_and_refuses_bad_input(tmp_path) -> None:
    from typer.testing import CliRunner

    from synthloom.cli import app
    from synthloom.records import append_jsonl, read_parquet

    run = tmp_path / "run"
    run.mkdir()
    append_jsonl(run / "data.jsonl", _records(60))
    result = CliRunner().invoke(app, ["perturb", str(run), "-o", str(tmp_path / "noisy"),
                                      "--fraction", "0.5", "--mode", "typos", "--mode",
                                      "truncation"])
    assert result.exit_code == 0, result.output
    out = read_parquet(tmp_path / "noisy" / "data.parquet")
    modes = {r.provenance.perturbation["mode"] for r in out if r.provenance.perturbation}
    assert modes == {"typos", "truncation"}
    bad = CliRunner().invoke(app, ["perturb", str(run), "-o", str(tmp_path / "x"),
                                   "--fraction", "2"])
    assert bad.exit_code == 2 and "fraction must be in [0, 1]" in bad.output
    again = CliRunner().invoke(app, ["perturb", str(run), "-o", str(tmp_path / "noisy")])
    assert again.exit_code == 2 and "exists and is not empty" in again.output
