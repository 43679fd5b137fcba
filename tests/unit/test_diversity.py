"""Diversity metrics and n-gram leakage."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from synthloom.cli import app
from synthloom.datasets import load_bbc_news
from synthloom.evaluate.diversity import (
    distinct_n,
    label_balance,
    mean_highest_rouge_l,
    self_bleu,
)
from synthloom.evaluate.leakage import ngram_leakage
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


def test_self_bleu_index_gives_nltk_scores_exactly() -> None:
    """The indexed BLEU equals NLTK's sentence_bleu (method-1) against all other texts."""
    import random

    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    from synthloom.evaluate.diversity import (
        _bleu_against_others,
        _ReferenceIndex,
        ngrams,
        words,
    )

    rng = random.Random(0)
    vocab = "a b c d e f g the of to".split()
    checked = 0
    for _ in range(200):
        texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 12)))
                 for _ in range(rng.randint(2, 8))]
        tokens = [words(t) for t in texts]
        index = _ReferenceIndex(tokens, 4)
        for i, hyp in enumerate(tokens):
            if not hyp:
                continue
            refs = tokens[:i] + tokens[i + 1 :]
            want = sentence_bleu(refs, hyp, smoothing_function=SmoothingFunction().method1)
            assert _bleu_against_others(index, hyp, i) == pytest.approx(want, abs=1e-12)
            only = {g for n in range(1, 5) for g in ngrams(hyp, n)}
            pruned = _ReferenceIndex(tokens, 4, only=only)
            assert _bleu_against_others(pruned, hyp, i) == pytest.approx(want, abs=1e-12)
            checked += 1
    assert checked > 500


def test_mean_highest_rouge_l_is_one_for_copies_and_low_for_unrelated_texts():
    assert mean_highest_rouge_l(["the cat sat on the mat", "the cat sat on the mat"]) == 1.0
    low = mean_highest_rouge_l(["the cat sat on the mat", "rain fell over hills today",
                                "quiet engines hum at dawn"])
    assert low is not None and low < 0.2
    # the nearest text counts: one near-copy pair lifts both of its members
    mixed = mean_highest_rouge_l(["the cat sat on the mat", "the cat sat on a mat",
                                  "quiet engines hum at dawn"])
    assert low < mixed < 1.0
    assert mean_highest_rouge_l(["alone"]) is None
