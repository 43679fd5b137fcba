"""Evaluation against real data: splits, curves, trust weight, distribution, leakage,
generator check and the HTML report (real embedder, scripted LLM)."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pytest

from synthloom.datasets import load_bbc_news, stratified_split
from synthloom.errors import UserInputError
from synthloom.evaluate.curves import curve_sizes
from synthloom.evaluate.distribution import (
    marginals,
    precision_recall_coverage,
    standardized_difference,
)
from synthloom.evaluate.diversity import mean_nearest_neighbour_cosine
from synthloom.evaluate.generator_check import generator_zero_shot
from synthloom.evaluate.leakage import near_duplicates
from synthloom.evaluate.report import render_report
from synthloom.evaluate.splits import prepare
from synthloom.evaluate.summary import evaluate_synthetic
from synthloom.llm.embeddings import default_embedder
from synthloom.records import Origin, Record
from tests.unit.scripted import ScriptedBackend

SEED = 13


@pytest.fixture(scope="module")
def real() -> list[Record]:
    """A stratified 25% subset of BBC News (about 530 records)."""
    _, subset = stratified_split(load_bbc_news(), test_fraction=0.25, seed=2)
    return subset


def _synthetic(records: list[Record], labels: list[str] | None = None) -> list[Record]:
    out = []
    for i, r in enumerate(records):
        update: dict = {"origin": Origin.synthetic, "text": " ".join(r.text.split()[:60])}
        if labels is not None:
            update["label"] = labels[i]
        out.append(r.model_copy(update=update))
    return out


@pytest.fixture(scope="module")
def faithful(real: list[Record]) -> list[Record]:
    """Real train-split texts cut to 60 words with their true labels, marked synthetic."""
    data = prepare(_synthetic(real[::40]), real, seed=SEED)
    return _synthetic(data.real_train[::2])


@pytest.fixture(scope="module")
def metrics(faithful: list[Record], real: list[Record]) -> dict:
    labels = sorted({str(r.label) for r in real})

    def check(data):
        backend = ScriptedBackend(lambda req: json.dumps({"label": labels[0]}))
        return generator_zero_shot(backend, "Sort news.", {k: k for k in labels}, data,
                                   sample=40, seed=SEED)

    return evaluate_synthetic(faithful, real, seed=SEED, n_bootstrap=200,
                              generator_check=check)


# ----------------------------------------------------------------- splits


def test_splits_are_disjoint_and_cover_real(real: list[Record], faithful: list[Record]) -> None:
    data = prepare(faithful, real, seed=SEED)
    ids = [{r.id for r in s} for s in (data.real_train, data.real_validation, data.real_test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert sum(map(len, ids)) == len(real)
    assert len(data.real_test) == pytest.approx(0.3 * len(real), abs=1)


def test_labels_that_do_not_match_name_both_sets(real: list[Record]) -> None:
    bad = _synthetic(real[:20], ["Sport"] * 10 + ["tech"] * 10)
    with pytest.raises(UserInputError, match=r"synthetic labels not in the real data: Sport"):
        prepare(bad, real)


def test_tiny_real_split_is_refused(real: list[Record], faithful: list[Record]) -> None:
    by_label: dict[str, list[Record]] = {}
    for r in real:
        by_label.setdefault(str(r.label), []).append(r)
    tiny = [r for rs in by_label.values() for r in rs[:6]]  # 30 records, test split 9
    with pytest.raises(UserInputError, match=r"real test split has 9 records.*at least 20"):
        prepare(faithful, tiny)
    with pytest.raises(UserInputError, match="the real data is empty"):
        prepare(faithful, [])


def test_class_missing_in_synthetic_is_reported(real: list[Record], faithful: list) -> None:
    no_tech = [r for r in faithful if r.label != "tech"]
    assert prepare(no_tech, real).missing_in_synthetic == ["tech"]


# ----------------------------------------------------------------- pieces


def test_curve_sizes_double_then_end_at_what_exists() -> None:
    assert curve_sizes(300) == [50, 100, 200, 300]
    assert curve_sizes(400) == [50, 100, 200, 400]
    assert curve_sizes(30) == [30]


def test_precision_recall_of_same_and_disjoint_sets() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 16))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    same = precision_recall_coverage(a, a.copy())
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    b = np.zeros((200, 16))
    b[:, 0] = 1.0
    b += rng.normal(scale=0.01, size=b.shape)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    c = -b  # the opposite pole: no overlap at all
    far = precision_recall_coverage(b, c)
    assert far["precision"] == far["recall"] == far["coverage"] == 0.0


def test_standardized_difference_and_flag() -> None:
    assert standardized_difference(np.array([1.0, 3.0]), np.array([1.0, 3.0])) == 0.0
    assert standardized_difference(np.array([4.0, 6.0]), np.array([1.0, 3.0])) == 3.0
    long_real = ["word " * 300 + "end"] * 5 + ["other " * 280] * 5
    m = marginals(["a short text here"] * 10, long_real, long_real)
    assert m["flagged"] == ["length_tokens"] or "length_tokens" in m["flagged"]
    assert m["features"]["length_tokens"]["standardized_difference"] < -2
    assert "not measured" in m["parse_depth"]


def test_near_duplicates_and_nearest_neighbour_cosine() -> None:
    texts = ["The striker scored twice in the cup final.", "Shares fell on weak profits.",
             "The new phone has a faster chip.", "MPs voted on the budget."]
    emb = default_embedder().embed(texts)
    hit = near_duplicates(emb[:2], emb[1:], threshold=0.95)
    assert hit["leaked"] == 1 and hit["closest"][0]["synthetic"] == 1
    assert hit["closest"][0]["cosine"] == pytest.approx(1.0, abs=1e-5)
    assert mean_nearest_neighbour_cosine(np.vstack([emb, emb])) == pytest.approx(1.0, abs=1e-5)
    assert mean_nearest_neighbour_cosine(emb) < 0.6


# ------------------------------------------------------------- the whole run


def test_every_section_is_measured(metrics: dict) -> None:
    assert set(metrics["students"]) == {"tfidf-lr", "embedding-lr"}
    for s in metrics["students"].values():
        assert s["tstr"]["tstr_ratio"]["accuracy"] > 0.8  # faithful data is nearly real
        labels = metrics["data"]["labels"]
        assert len(s["tstr"]["synthetic"]["confusion"]) == len(labels)
        assert [p["n"] for p in s["learning_curves"]["synthetic"]][:2] == [50, 100]
        points = s["mixing"]["points"]
        assert [p["ratio"] for p in points] == [0, 1, 4, 16] and "gain" not in points[0]
        for p in points[1:]:  # the paired interval holds the observed difference
            gain = p["gain"]["accuracy"]
            assert gain["value"] == pytest.approx(p["accuracy"] - points[0]["accuracy"])
            assert gain["low"] <= gain["value"] <= gain["high"]
        assert s["trust_weight"]["chosen_on"] == "validation"
        assert [p["lambda"] for p in s["trust_weight"]["points"]] == [0, 0.1, 0.25, 0.5, 1]
    assert 0.0 <= metrics["distribution"]["precision"] <= 1.0
    assert metrics["leakage"]["near_duplicate"]["total"] == metrics["data"]["n_synthetic"]
    baseline = metrics["leakage"]["ngram_real_baseline"]
    assert baseline["total"] == metrics["diversity"]["real"]["n"]
    assert metrics["diversity"]["synthetic"]["nearest_neighbour_cosine"] is not None
    assert metrics["generator"]["n"] == 40
    # the scripted generator always answers the first label: accuracy is its share
    gen = metrics["generator"]["scores"]
    assert gen["accuracy"]["value"] == sum(gen["confusion"][0]) / 40 > 0.15
    assert {f["topic"] for f in metrics["verdict"]} >= {"leakage", "generator", "marginals"}


def test_lambda_is_chosen_on_validation_not_test(metrics: dict) -> None:
    for s in metrics["students"].values():
        sweep = s["trust_weight"]
        best = max(p["validation"]["macro_f1"] for p in sweep["points"])
        chosen = next(p for p in sweep["points"] if p["lambda"] == sweep["chosen_lambda"])
        assert chosen["validation"]["macro_f1"] == best


def test_shuffled_synthetic_labels_get_lambda_zero(real: list[Record], faithful: list) -> None:
    labels = [str(r.label) for r in faithful]
    random.Random(0).shuffle(labels)
    noisy = _synthetic(faithful, labels)
    from synthloom.evaluate.curves import trust_weight_sweep

    sweep = trust_weight_sweep(prepare(noisy, real, seed=SEED), "tfidf-lr", seed=SEED)
    assert sweep["chosen_lambda"] <= 0.1


def test_leaked_test_texts_fail_loudly(real: list[Record]) -> None:
    data = prepare(_synthetic(real[::40]), real, seed=SEED)
    leaked = _synthetic(data.real_train[::5] + data.real_test[::8])
    m = evaluate_synthetic(leaked, real, students=["tfidf-lr"], seed=SEED, n_bootstrap=50)
    assert m["leakage"]["flagged"] is True
    assert m["leakage"]["ngram"]["leaked"] >= 20
    assert m["leakage"]["near_duplicate"]["leaked"] >= 15


def test_report_is_self_contained_and_has_every_section(metrics: dict) -> None:
    html = render_report(metrics, title="unit")
    for anchor in ("verdict", "tstr", "curves", "mixing", "lambda", "distribution",
                   "diversity", "leakage", "generator"):
        assert f'id="{anchor}"' in html
    images = re.findall(r'<img alt="[^"]*" src="([^"]+)"', html)
    assert len(images) >= 8 and all(i.startswith("data:image/png;base64,") for i in images)
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_parallel_fits_equal_serial_fits(real: list[Record], faithful: list, monkeypatch) -> None:
    from synthloom.evaluate import fitting as tstr
    from synthloom.evaluate.curves import mixing

    data = prepare(faithful, real, seed=SEED)
    parallel = mixing(data, "tfidf-lr", seed=SEED)
    monkeypatch.setattr(tstr.os, "cpu_count", lambda: 1)
    assert mixing(data, "tfidf-lr", seed=SEED) == parallel
    assert not tstr._parallel_safe("embedding-lr") and tstr._parallel_safe("tfidf-lr")


def test_embedding_disk_cache_serves_a_new_embedder(tmp_path) -> None:
    from synthloom.llm.embeddings import SentenceEmbedder

    texts = ["The striker scored twice.", "Shares fell on Monday."]
    first = SentenceEmbedder(cache_path=tmp_path / "emb.sqlite").embed(texts)
    second = SentenceEmbedder(cache_path=tmp_path / "emb.sqlite")

    def no_compute(todo):
        raise AssertionError(f"computed again: {todo}")

    second._compute = no_compute
    assert np.array_equal(second.embed(texts), first)


def test_majority_baseline_is_measured_and_read(metrics: dict) -> None:
    majority = metrics["baselines"]["majority"]
    assert majority["label"] in metrics["data"]["labels"]
    assert 0.0 < majority["accuracy"] < 0.5 and majority["macro_f1"] < majority["accuracy"]
    findings = {f["topic"]: f for f in metrics["verdict"]}
    assert findings["baseline (tfidf-lr)"]["level"] == "good"  # faithful data beats it


def test_a_student_at_the_majority_baseline_is_read_as_bad() -> None:
    from synthloom.evaluate.verdict import _baseline_finding

    tstr = {"synthetic": {"accuracy": {"value": 0.68}, "macro_f1": {"value": 0.40}}}
    finding = _baseline_finding("tfidf-lr", tstr, {"label": "positive", "accuracy": 0.683,
                                                   "macro_f1": 0.406})
    assert finding["level"] == "bad" and "no better than the majority class" in finding["text"]


def test_on_imbalanced_real_data_the_verdict_reads_macro_f1() -> None:
    """81% of one class: an accuracy ratio near 0.9 must not read as nearly good when the
    student's macro-F1 is far below the real-trained student's (issue 10)."""
    from synthloom.evaluate.verdict import _tstr_finding, headline_metric

    metrics = {"data": {"labels": ["neg", "pos"]},
               "baselines": {"majority": {"label": "pos", "accuracy": 0.808, "macro_f1": 0.45}}}
    assert headline_metric(metrics) == "macro_f1"
    balanced = {"data": {"labels": ["a", "b", "c"]},
                "baselines": {"majority": {"label": "a", "accuracy": 0.36, "macro_f1": 0.18}}}
    assert headline_metric(balanced) == "accuracy"
    tstr = {"n_synthetic": 60,
            "synthetic": {"accuracy": {"value": 0.757}, "macro_f1": {"value": 0.52}},
            "real": {"accuracy": {"value": 0.85}, "macro_f1": {"value": 0.80}},
            "tstr_ratio": {"accuracy": 0.89, "macro_f1": 0.65}}
    finding = _tstr_finding("tfidf-lr", tstr, headline_metric(metrics))
    assert finding["level"] == "bad" and "macro-F1 (the real classes are imbalanced)" in \
        finding["text"]


def test_realism_separates_unlike_sets_and_not_like_ones() -> None:
    from synthloom.evaluate.discriminator import classifier_two_sample_test

    rng = np.random.default_rng(0)
    real = [f"the {w} council met on {d} to discuss roads and schools at length"
            for w, d in zip(rng.choice(["town", "city", "county"], 40),
                            rng.choice(["monday", "friday"], 40), strict=True)]
    alike = [f"the {w} council met on {d} to discuss roads and schools at length"
             for w, d in zip(rng.choice(["town", "city", "county"], 40),
                             rng.choice(["monday", "friday"], 40), strict=True)]
    unlike = [f"wow amazing product number {i} love it" for i in range(40)]
    emb = rng.normal(size=(40, 8))
    far = rng.normal(loc=3.0, size=(40, 8))
    same = classifier_two_sample_test(real, alike, emb, rng.normal(size=(40, 8)), seed=1)
    apart = classifier_two_sample_test(real, unlike, emb, far, seed=1)
    assert same["tfidf"]["auc"] < 0.75 and same["embedding"]["auc"] < 0.75
    assert apart["tfidf"]["auc"] > 0.95 and apart["embedding"]["auc"] > 0.95
    assert apart["n_per_set"] == 40 and len(apart["tfidf"]["fold_aucs"]) == 5
