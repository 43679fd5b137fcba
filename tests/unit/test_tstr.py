"""Tests for synthloom.evaluate: students, bootstrap CIs and train-on-synthetic-test-on-real."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from synthloom.datasets import load_bbc_news, stratified_split
from synthloom.errors import UserInputError
from synthloom.evaluate.bootstrap import bootstrap_ci, paired_difference_ci
from synthloom.evaluate.students import STUDENTS, make_student
from synthloom.evaluate.tstr import evaluate_tstr, write_metrics
from synthloom.records import Origin, Record

SEED = 13


@pytest.fixture(scope="module")
def real() -> list[Record]:
    """A stratified ~40% subset of BBC News (850 records) to keep the tests fast."""
    _, subset = stratified_split(load_bbc_news(), test_fraction=0.4, seed=1)
    return subset


@pytest.fixture(scope="module")
def faithful(real: list[Record]) -> list[Record]:
    """Real-train texts (never the real-test split) with their true labels, marked synthetic."""
    real_train, _ = stratified_split(real, test_fraction=0.3, seed=SEED)
    return [_as_synthetic(r) for r in real_train[::3]]


@pytest.fixture(scope="module")
def faithful_result(faithful: list[Record], real: list[Record]) -> dict:
    return evaluate_tstr(faithful, real, seed=SEED, n_bootstrap=300)


def _as_synthetic(r: Record, label: str | None = None) -> Record:
    update: dict = {"origin": Origin.synthetic}
    if label is not None:
        update["label"] = label
    return r.model_copy(update=update)


# ---------------------------------------------------------------- students


def test_make_student_is_fresh_and_unknown_name_lists_known() -> None:
    a, b = make_student(), make_student()
    assert a is not b
    assert "tfidf-lr" in STUDENTS
    with pytest.raises(UserInputError,
                       match=r"known students: embedding-lr, embedding-lr-whole, tfidf-lr"):
        make_student("bert")


def test_student_learns_a_toy_task() -> None:
    texts = ["cheap stock shares market"] * 5 + ["football goal match team"] * 5
    labels = ["business"] * 5 + ["sport"] * 5
    model = make_student(seed=3).fit(texts, labels)
    assert list(model.predict(["the market and shares", "a late goal for the team"])) == [
        "business",
        "sport",
    ]


# --------------------------------------------------------------- bootstrap


def _noisy(n: int, accuracy: float, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    labels = np.array(list("abcde"))
    y_true = labels[rng.integers(0, 5, n)]
    wrong = labels[(np.searchsorted(labels, y_true) + rng.integers(1, 5, n)) % 5]
    y_pred = np.where(rng.random(n) < accuracy, y_true, wrong)
    return list(y_true), list(y_pred)


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_bootstrap_ci_contains_point_and_narrows_with_more_data(metric: str) -> None:
    widths = []
    for n in (100, 3000):
        y_true, y_pred = _noisy(n, 0.8, seed=n)
        point, low, high = bootstrap_ci(y_true, y_pred, metric, n_resamples=1000, seed=0)
        assert low <= point <= high
        assert 0.0 <= low < high <= 1.0
        widths.append(high - low)
    assert widths[1] < widths[0] / 3  # width ~ 1/sqrt(n): sqrt(30) ~ 5.5x narrower


def test_bootstrap_point_matches_sklearn_and_is_deterministic() -> None:
    y_true, y_pred = _noisy(500, 0.7, seed=4)
    acc = bootstrap_ci(y_true, y_pred, "accuracy", seed=5)
    f1 = bootstrap_ci(y_true, y_pred, "macro_f1", seed=5)
    assert acc[0] == pytest.approx(accuracy_score(y_true, y_pred))
    assert f1[0] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))
    assert bootstrap_ci(y_true, y_pred, "accuracy", seed=5) == acc
    assert bootstrap_ci(y_true, y_pred, "accuracy", seed=6) != acc


def test_vectorised_macro_f1_matches_sklearn_per_resample() -> None:
    """The numpy macro-F1 equals sklearn's on the same resamples, labels absent included."""
    y_true, y_pred = _noisy(60, 0.6, seed=7)
    y_pred[:3] = ["zzz"] * 3  # a predicted label outside the label set
    labels = list("abcdef")  # "f" never occurs: F1 0 with zero_division=0

    def sk(t: list[str], p: list[str]) -> float:
        return f1_score(t, p, labels=labels, average="macro", zero_division=0)

    fast = bootstrap_ci(y_true, y_pred, "macro_f1", n_resamples=200, seed=9, labels=labels)
    slow = bootstrap_ci(y_true, y_pred, sk, n_resamples=200, seed=9)
    assert fast == pytest.approx(slow)


def test_bootstrap_is_fast() -> None:
    y_true, y_pred = _noisy(600, 0.8, seed=1)
    start = time.perf_counter()
    bootstrap_ci(y_true, y_pred, "accuracy", n_resamples=1000)
    bootstrap_ci(y_true, y_pred, "macro_f1", n_resamples=1000)
    assert time.perf_counter() - start < 1.0


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="non-zero"):
        bootstrap_ci([], [], "accuracy")
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci(["a"], ["a"], "recall")


# -------------------------------------------------------------------- TSTR


def test_faithful_synthetic_data_scores_like_real(faithful_result: dict, faithful: list) -> None:
    m = faithful_result
    assert m["n_synthetic"] == len(faithful)
    assert m["n_real_train_used"] == len(faithful)
    assert m["real_train_smaller_than_synthetic"] is False
    assert m["labels"] == ["business", "entertainment", "politics", "sport", "tech"]
    assert m["missing_in_synthetic"] == []
    assert m["synthetic"]["accuracy"]["value"] > 0.85
    for metric in ("accuracy", "macro_f1"):
        assert 0.9 <= m["tstr_ratio"][metric] <= 1.1
        for side in ("synthetic", "real"):
            s = m[side][metric]
            assert s["low"] <= s["value"] <= s["high"]
        assert m["tstr_ratio"][metric] == pytest.approx(
            m["synthetic"][metric]["value"] / m["real"][metric]["value"]
        )
    assert set(m["synthetic"]["per_class_f1"]) == set(m["labels"])


def test_test_split_size_and_real_sample_is_stratified(faithful_result: dict, real: list) -> None:
    m = faithful_result
    assert m["n_real_test"] + m["n_real_train_available"] + m["n_real_validation"] == len(real)
    assert m["n_real_validation"] == pytest.approx(0.2 * 0.7 * len(real), abs=2)
    assert m["n_real_test"] == pytest.approx(0.3 * len(real), abs=1)
    assert m["seed"] == SEED and m["test_fraction"] == 0.3


def test_result_is_json_and_written_atomically(faithful_result: dict, tmp_path: Path) -> None:
    path = tmp_path / "out" / "metrics.json"
    write_metrics(path, faithful_result)
    assert json.loads(path.read_text(encoding="utf-8")) == faithful_result
    assert path.read_text(encoding="utf-8").startswith('{\n  "student": "tfidf-lr"')
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
    with pytest.raises(ValueError):
        write_metrics(path, {"bad": float("nan")})
    assert json.loads(path.read_text(encoding="utf-8")) == faithful_result  # untouched


def test_shuffled_labels_score_well_below_real(faithful: list, real: list) -> None:
    labels = [r.label for r in faithful]
    random.Random(0).shuffle(labels)
    shuffled = [
        r.model_copy(update={"label": lab}) for r, lab in zip(faithful, labels, strict=True)
    ]
    m = evaluate_tstr(shuffled, real, seed=SEED, n_bootstrap=200)
    assert m["tstr_ratio"]["accuracy"] < 0.5
    assert m["tstr_ratio"]["macro_f1"] < 0.5
    assert m["synthetic"]["accuracy"]["high"] < m["real"]["accuracy"]["low"]


def test_label_missing_from_synthetic_is_reported(faithful: list, real: list) -> None:
    no_tech = [r for r in faithful if r.label != "tech"]
    m = evaluate_tstr(no_tech, real, seed=SEED, n_bootstrap=100)
    assert m["missing_in_synthetic"] == ["tech"]
    assert m["synthetic"]["per_class_f1"]["tech"] == 0.0
    assert m["real"]["per_class_f1"]["tech"] > 0.5
    assert m["n_synthetic"] == len(no_tech) == m["n_real_train_used"]


def test_unknown_synthetic_label_raises(faithful: list, real: list) -> None:
    bad = faithful[:20] + [_as_synthetic(faithful[0], label="weather")]
    with pytest.raises(UserInputError, match=r"synthetic labels not in the real data: weather"):
        evaluate_tstr(bad, real)


def test_real_record_passed_as_synthetic_raises(faithful: list, real: list) -> None:
    with pytest.raises(UserInputError, match=r"1 of the records given as synthetic have origin"):
        evaluate_tstr(faithful[:20] + [real[0]], real)
    with pytest.raises(UserInputError, match=r"given as real have origin 'synthetic'"):
        evaluate_tstr(faithful[:20], real + [faithful[0]])


def test_rejected_and_unlabelled_synthetic_records_are_skipped(faithful: list, real: list) -> None:
    sample = faithful[::2]
    extra = [
        faithful[1].reject("judge", "off topic"),
        faithful[3].model_copy(update={"label": None}),
    ]
    m = evaluate_tstr(sample + extra, real, seed=SEED, n_bootstrap=50)
    assert m["n_synthetic"] == len(sample)
    assert m["n_synthetic_skipped"] == 2


def test_small_real_train_uses_all_and_says_so(faithful: list, real: list) -> None:
    by_label: dict[str, list[Record]] = {}
    for r in real:
        by_label.setdefault(r.label, []).append(r)
    small_real = [r for rs in by_label.values() for r in rs[:20]]  # 100 records
    m = evaluate_tstr(faithful, small_real, seed=SEED, n_bootstrap=50)
    assert m["real_train_smaller_than_synthetic"] is True
    assert m["n_real_train_used"] == m["n_real_train_available"] == 56
    assert m["n_synthetic"] == len(faithful) > 70


def test_no_usable_or_single_label_synthetic_raises(faithful: list, real: list) -> None:
    with pytest.raises(UserInputError, match="no usable synthetic records"):
        evaluate_tstr([faithful[0].reject("x", "y")], real)
    one_label = [r for r in faithful if r.label == "sport"]
    with pytest.raises(UserInputError, match=r"only 1 label \(sport\)"):
        evaluate_tstr(one_label, real)


def test_equal_real_sample_keeps_label_proportions(faithful: list, real: list) -> None:
    from synthloom.evaluate.fitting import stratified_sample

    real_train, _ = stratified_split(real, test_fraction=0.3, seed=SEED)
    sample = stratified_sample(real_train, 100, SEED)
    assert len(sample) == 100 == len({r.id for r in sample})
    have = Counter(r.label for r in real_train)
    got = Counter(r.label for r in sample)
    for label, n in have.items():
        assert abs(got[label] - 100 * n / len(real_train)) < 1
    assert [r.id for r in stratified_sample(real_train, 100, SEED)] == [r.id for r in sample]



def test_a_paired_interval_is_zero_for_equal_predictions_and_above_zero_for_better() -> None:
    rng = random.Random(3)
    y_true = [rng.choice("abc") for _ in range(400)]
    worse = [y if rng.random() < 0.6 else "a" for y in y_true]
    better = [y if rng.random() < 0.9 else "b" for y in y_true]
    same = paired_difference_ci(y_true, worse, worse, "abc", n_resamples=300, seed=1)
    assert same["accuracy"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    up = paired_difference_ci(y_true, worse, better, "abc", n_resamples=300, seed=1)
    for metric in ("accuracy", "macro_f1"):
        assert 0 < up[metric]["low"] <= up[metric]["value"] <= up[metric]["high"]
    assert up["accuracy"]["value"] == pytest.approx(
        accuracy_score(y_true, better) - accuracy_score(y_true, worse))


def test_a_paired_interval_counts_two_different_unknown_labels_as_a_miss() -> None:
    y_true = ["x", "y", "a", "b"] * 10
    base = ["z", "z", "a", "b"] * 10  # unknown labels, different from the truth: misses
    new = ["x", "y", "a", "b"] * 10
    gain = paired_difference_ci(y_true, base, new, ["a", "b"], n_resamples=50, seed=0)
    assert gain["accuracy"]["value"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="n_resamples"):
        paired_difference_ci(y_true, base, new, ["a", "b"], n_resamples=0)
