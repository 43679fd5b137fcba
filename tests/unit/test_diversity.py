"""Diversity metrics and n-gram leakage."""

from __future__ import annotations

from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.datasets import load_bbc_news
from synthloom.evaluate.diversity import (
    distinct_n,
    label_balance,
    ngram_leakage,
    self_bleu,
)
from synthloom.records import Origin, append_jsonl


def test_distinct_n_counts_unique_over_all():
    assert distinct_n(["a b a b"], 1) == 0.5
    assert distinct_n(["a b", "a b"], 2) == 0.5
    assert distinct_n(["x y z", "p q r"], 2) == 1.0
    assert distinct_n([""], 1) == 0.0


def test_self_bleu_is_high_for_repeats_and_low_for_different_texts():
    same = ["the cat sat on the mat today"] * 5
    varied = [
        "the cat sat on the mat",
        "stocks fell sharply in tokyo",
        "a new phone arrives",
        "ministers debate the budget",
        "the striker scored twice",
    ]
    assert self_bleu(same) > 0.99
    assert self_bleu(varied) < 0.2
    assert self_bleu(["one"]) is None


def test_label_balance_is_one_when_balanced():
    assert label_balance(["a", "b", "a", "b"]) == 1.0
    assert label_balance(["a", "a", "a", "b"]) < 0.9
    assert label_balance(["a", "a"]) is None


def test_leakage_finds_shared_eight_grams_only():
    test = ["one two three four five six seven eight nine ten"]
    syn = ["x one two three four five six seven eight y", "one two three four five six seven z"]
    leak = ngram_leakage(syn, test, n=8)
    assert (leak["leaked"], leak["total"]) == (1, 2) and leak["share"] == 0.5


def test_evaluate_fails_loudly_when_synthetic_copies_the_real_test_split(tmp_path):
    from synthloom.datasets import stratified_split

    _, test = stratified_split(load_bbc_news(), 0.3, 13)
    copied = [
        r.model_copy(update={"origin": Origin.synthetic, "id": f"s{i}"})
        for i, r in enumerate(test[::6])
    ]
    append_jsonl(tmp_path / "data.jsonl", copied)
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path), "--real", "bbc_news"])
    assert result.exit_code == 1, result.output
    assert "leakage" in result.output and "above the threshold" in result.output
    assert (tmp_path / "metrics.json").exists()
