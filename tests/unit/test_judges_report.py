"""Judges in the evaluation: calibration against people, bias checks, the ``judges`` section
of metrics.json and its place in report.html (records built by hand; a stand-in embedder)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from synthloom.evaluate.bias import (
    compare_term_rates,
    length_correlation,
    position_bias,
    record_length,
    term_rates,
    vocabulary_skew,
)
from synthloom.evaluate.calibration import categorical_agreement, graded_agreement
from synthloom.evaluate.judges import judges_section
from synthloom.evaluate.report import render_report
from synthloom.records import Origin, Provenance, Record, Verdict, append_jsonl

HEADING = "Judges and bias"


def _rec(rid: str, text: str, label: str | None = "pos", *verdicts: Verdict,
         kind: str = "classification", target: str | None = None,
         rejected_by: str | None = None, **fields) -> Record:
    r = Record(id=rid, task="t", kind=kind, inputs={"text": text} if text else {},
               label=label, origin=Origin.synthetic, verification=list(verdicts),
               provenance=Provenance(target_label=target or label), **fields)
    return r.reject(rejected_by, "dropped") if rejected_by else r


def judge(score: float | None, passed: bool | None = True, same: bool = False) -> Verdict:
    scores = {"fit": None if score is None else int(score), "clarity": None}
    return Verdict(check="judge", by="judge.pointwise/qwen", passed=passed, score=score,
                   detail={"scores": scores, "scale": [1, 5], "missing": ["clarity"],
                           "same_model_as_generator": same, "judge_model": "qwen"})


def critic(label: str, confirm: bool | None, refute: bool | None) -> Verdict:
    return Verdict(check="double_critic", by="judge.double_critic/qwen",
                   passed=bool(confirm and refute),
                   detail={"label": label, "critics": {"confirm": confirm, "refute": refute},
                           "agree": confirm == refute, "same_model_as_generator": False})


def noise(flagged: bool, given: float, predicted: str, probability: float) -> Verdict:
    return Verdict(check="label_noise", by="curate.label_noise", passed=not flagged,
                   score=given, detail={"predicted": predicted,
                                        "predicted_probability": probability})


def self_consistency(predicted: str, target: str) -> Verdict:
    return Verdict(check="self_consistency", by="targen.self_correction/qwen",
                   passed=predicted == target, detail={"predicted": predicted, "target": target,
                                                       "agreed": predicted == target,
                                                       "attempt": 1})


def pairwise(slots: list[str | None]) -> Verdict:
    comparisons = [{"a": 0, "b": 1, "first": "a", "preferred_slot": s, "p_a": 0.5}
                   for s in slots]
    return Verdict(check="pairwise", by="judge.pairwise/qwen",
                   detail={"comparisons": comparisons, "judge_model": "qwen",
                           "same_model_as_generator": False})


# ------------------------------------------------------------------ calibration


def test_categorical_agreement_kappa_and_missing() -> None:
    perfect = categorical_agreement(["a", "b", "a", "b"], ["a", "b", "a", "b"])
    assert perfect == {"n": 4, "missing": 0, "accuracy": 1.0, "cohen_kappa": 1.0}
    # p_o = 3/4; p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
    known = categorical_agreement(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert known["accuracy"] == 0.75 and known["cohen_kappa"] == pytest.approx(0.5)
    # None is left out (3 of 4 right), never read as a label (that would be 3 of 5)
    gaps = categorical_agreement(["a", None, "b", "b", "a"], ["a", "a", "b", "b", "b"])
    assert gaps["n"] == 4 and gaps["missing"] == 1 and gaps["accuracy"] == 0.75
    assert categorical_agreement(["a"] * 4, ["a"] * 4)["cohen_kappa"] is None  # undefined
    with pytest.raises(ValueError, match="differ in length"):
        categorical_agreement(["a", "b", "a"], ["a", "b"])
    with pytest.raises(ValueError, match="at least 3"):
        categorical_agreement(["a", None, None, "b"], ["a", "a", "b", "b"])


def test_graded_agreement_signs_and_missing() -> None:
    up = graded_agreement([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert up["spearman"] == pytest.approx(1.0) and up["kendall"] == pytest.approx(1.0)
    assert up["n"] == 5 and up["missing"] == 0 and up["spearman_p"] < 0.05
    down = graded_agreement([5, 4, None, 2, 1, 3], [1, 2, 3, 4, 5, 3.5])
    assert down["n"] == 5 and down["missing"] == 1
    assert down["spearman"] < -0.8 and down["kendall"] < -0.6
    assert graded_agreement([3, 3, 3], [1, 2, 3])["spearman"] is None
    with pytest.raises(ValueError, match="at least 3"):
        graded_agreement([1.0, None], [1.0, 2.0])


# ------------------------------------------------------------------ bias


def test_vocabulary_skew_finds_a_planted_word() -> None:
    rng = random.Random(0)
    common = "match team goal season player coach fans stadium league win".split()

    def texts(n: int, extra: str = "") -> list[str]:
        return [" ".join(rng.sample(common, 6)) + " the of and " + extra for _ in range(n)]

    syn = texts(20, "delightful") + texts(20) + texts(4, "splendid")
    syn_labels = ["pos"] * 20 + ["neg"] * 20 + ["pos"] * 4
    real = texts(40)
    real_labels = ["pos"] * 20 + ["neg"] * 20
    skew = vocabulary_skew(syn, syn_labels, real, real_labels, min_count=5)
    assert [w["word"] for w in skew["pos"]] == ["delightful"]  # "splendid": 4 < min_count
    top = skew["pos"][0]
    n_syn = 24 * 7  # content words of the pos synthetic texts (stop words dropped)
    n_real = 20 * 6
    assert top["ratio"] == pytest.approx(round((20.5 / n_syn) / (0.5 / n_real), 2))
    assert top["synthetic_rate"] == pytest.approx(round(1000 * 20 / n_syn, 3))
    assert top["real_rate"] == 0.0 and skew["neg"] == []


def test_term_rates_count_per_thousand_words() -> None:
    rates = term_rates(["She met her mother at the station in London today"])  # 10 words
    assert rates["gender_female"] == pytest.approx(300.0)
    assert rates["nationality_or_region"] == pytest.approx(100.0)
    assert rates["gender_male"] == 0.0 and term_rates([])["age"] == 0.0
    rows = {r["group"]: r for r in compare_term_rates(
        ["he and his father"], ["the man and the boy went home early today too"])}
    assert rows["gender_male"]["synthetic"] == 750.0 and rows["gender_male"]["real"] == 200.0
    assert rows["gender_male"]["ratio"] == 3.75 and rows["religion"]["ratio"] is None


def test_position_bias_on_planted_comparisons() -> None:
    records = [_rec("p1", "", None, pairwise(["first"] * 20 + ["second"] * 5 + [None] * 3),
                    kind="preference"),
               _rec("p2", "", None, pairwise(["first"] * 10 + ["second"] * 5),
                    kind="preference")]
    bias = position_bias(records)
    assert bias is not None and bias["n"] == 40 and bias["first"] == 30
    assert bias["first_rate"] == 0.75 and 0.5 < bias["low"] < 0.75 < bias["high"] < 1.0
    assert bias["p_value"] < 0.01
    assert position_bias([_rec("x", "text", "pos", judge(3.0))]) is None


def test_length_correlation_sign() -> None:
    longer_is_better = [_rec(f"r{i}", " ".join(["word"] * (5 * i + 1)), "pos", judge(float(i)))
                        for i in range(1, 6)]
    up = length_correlation(longer_is_better)
    assert up is not None and up["n"] == 5 and up["spearman"] == pytest.approx(1.0)
    shorter = [_rec(f"r{i}", " ".join(["word"] * (30 - 5 * i)), "pos", judge(float(i)))
               for i in range(1, 6)]
    assert length_correlation(shorter)["spearman"] == pytest.approx(-1.0)
    assert length_correlation(longer_is_better[:2]) is None
    pair = _rec("pr", "", None, kind="preference",
                outputs={"chosen": "a b c d", "rejected": "a b"})
    assert record_length(pair.model_copy(update={"inputs": {"prompt": "why"}})) == 4


# ------------------------------------------------------------------ the section


def _run_records() -> tuple[list[Record], list[Record]]:
    long_text = "This sentence is long. " * 15  # 345 characters
    accepted = [
        _rec("a1", "A delightful match, the team won.", "pos", self_consistency("pos", "pos"),
             judge(4.0), critic("pos", True, True), noise(False, 0.9, "pos", 0.9),
             Verdict(check="debate", by="judge.debate/qwen", passed=True,
                     detail={"label": "pos", "rounds": 2, "transcript": [],
                             "decision": "keep", "calls": 4})),
        _rec("a2", long_text, "pos", self_consistency("neg", "pos"),
             judge(2.5, passed=False, same=True), critic("pos", True, False),
             noise(True, 0.2, "neg", 0.8)),
        _rec("a3", "She said the coach was fine.", "neg", judge(None, passed=None)),
    ]
    rejected = [
        _rec("x1", "Awful game.", "neg", judge(1.0, passed=False),
             rejected_by="judge.pointwise"),
        _rec("x2", "Lovely goal by the striker.", "pos", noise(True, 0.1, "neg", 0.85),
             rejected_by="curate.label_noise"),
        _rec("x3", "Fine.", "neg", rejected_by="curate.judge"),
        _rec("x4", "Dup.", "neg", rejected_by="dedup.exact"),
    ]
    return accepted, rejected


def test_judges_section_reads_every_verdict() -> None:
    accepted, rejected = _run_records()
    j = judges_section(accepted, rejected, None, None)
    assert j is not None and j["n_records"] == 7
    scores = j["judge"]
    assert scores["n"] == 4 and scores["missing"] == 1 and scores["mean"] == 2.5
    assert scores["quantiles"]["0.5"] == 2.5 and scores["scale"] == [1, 5]
    assert scores["models"] == ["qwen"] and scores["passed"] == 1 and scores["failed"] == 2
    assert j["same_model_as_generator"] is True
    assert j["same_model_by"] == ["judge.pointwise/qwen"]
    assert j["dropped_by_judge"] == {"total": 2, "by_operator": {"curate.judge": 1,
                                                                 "judge.pointwise": 1}}
    assert j["double_critic"] == {"n": 2, "both_correct_rate": 0.5, "disagreement_rate": 0.5,
                                  "undecided": 0}
    assert j["debate"] == {"n": 1, "passed": 1, "decisions": {"keep": 1}, "mean_rounds": 2}
    unsure = [_rec("u", "text", "pos", critic("pos", None, True)), *accepted[:2]]
    assert judges_section(unsure, [], None, None)["double_critic"] == {
        "n": 3, "both_correct_rate": round(1 / 3, 4), "disagreement_rate": 0.5,
        "undecided": 1}  # disagreement among the 2 both critics answered
    assert j["position_bias"] is None and j["length_correlation"]["n"] == 3
    assert j["vocabulary_skew"] is None and j["term_rates"] is None
    audit = j["label_audit"]
    assert audit["n_flagged"] == 2 and [a["id"] for a in audit["records"]] == ["a2", "x2"]
    a2, x2 = audit["records"]
    assert a2 == {"id": "a2", "text": accepted[1].text[:200], "label": "pos", "rejected": False,
                  "self_correction": "neg", "cleanlab_predicted": "neg",
                  "cleanlab_probability": 0.8, "given_probability": 0.2, "judge_score": 2.5,
                  "double_critic": {"passed": False, "confirm": True, "refute": False}}
    assert len(a2["text"]) == 200
    assert x2["rejected"] is True and x2["judge_score"] is None and x2["double_critic"] is None
    json.dumps(j, allow_nan=False)  # metrics.json takes it


def test_judges_section_with_real_data_and_without_anything() -> None:
    plain = [_rec(f"p{i}", f"she scored a lovely lovely goal {i}", "pos") for i in range(6)]
    assert judges_section(plain, [], None, None) is None
    assert judges_section(plain, [], [], []) is None
    real = ["the striker scored a goal"] * 6
    j = judges_section(plain, [], real, ["pos"] * 6)
    assert j is not None and j["judge"] is None and j["label_audit"]["n_flagged"] == 0
    assert [w["word"] for w in j["vocabulary_skew"]["pos"]] == ["lovely"]
    female = next(r for r in j["term_rates"] if r["group"] == "gender_female")
    assert female["synthetic"] > 0 and female["real"] == 0 and female["ratio"] is None
    assert judges_section(plain, [], real, None)["vocabulary_skew"] is None


def test_label_audit_is_capped() -> None:
    flagged = [_rec(f"f{i}", f"text {i}", "pos", noise(True, 0.1, "neg", 0.9))
               for i in range(60)]
    audit = judges_section(flagged, [], None, None)["label_audit"]
    assert audit["n_flagged"] == 60 and len(audit["records"]) == 50


# ------------------------------------------------------------------ report


class _Embedder:
    """A stand-in for MiniLM: a unit vector per text from its hash (no model loaded)."""

    model_id = "stand-in"

    def embed(self, texts):
        rows = [np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16))
                .normal(size=16) for t in texts]
        out = np.array(rows, dtype=np.float32).reshape(len(texts), 16)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def window_cost(self, texts):
        return {"max_tokens": 128, "max_chunks": 1, "texts": len(texts), "share_cut": 0.0,
                "share_tokens_unseen": 0.0}


def _texts(rng: random.Random, label: str, n: int, extra: str = "") -> list[str]:
    words = {"pos": "great lovely win joy bright calm kind warm".split(),
             "neg": "awful loss grim cold sad harsh dull bleak".split()}[label]
    shared = "match team day report city people week".split()
    return [" ".join(rng.sample(words, 4) + rng.sample(shared, 4)) + extra for _ in range(n)]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory) -> tuple[dict, str, Path]:
    """``api.evaluate`` on a hand-made run (accepted and rejected records with verdicts)
    against hand-made real records, with the stand-in embedder: metrics, report, run."""
    from synthloom import api
    from synthloom.evaluate import summary

    rng = random.Random(1)
    run = tmp_path_factory.mktemp("run")
    real = [Record(id=f"real{i}-{label}", task="t", inputs={"text": t}, label=label,
                   origin=Origin.real)
            for label in ("pos", "neg") for i, t in enumerate(_texts(rng, label, 60))]
    synthetic = [_rec(f"s{i}-{label}", t, label, judge(float(1 + i % 5)))
                 for label in ("pos", "neg")
                 for i, t in enumerate(_texts(rng, label, 40, " delightful" * (label == "pos")))]
    accepted, rejected = _run_records()
    append_jsonl(run / "data.jsonl", synthetic + [r for r in accepted if r.label == "pos"])
    append_jsonl(run / "rejected.jsonl", rejected)
    patch = pytest.MonkeyPatch()
    patch.setattr(summary, "default_embedder", _Embedder)
    try:
        metrics = api.evaluate(run, real, students=["tfidf-lr"], real_seed_size=10,
                               generator_sample=0)
    finally:
        patch.undo()
    return metrics, (run / "report.html").read_text(encoding="utf-8"), run


def test_evaluate_writes_the_judges_section(evaluated) -> None:
    metrics, html, run = evaluated
    j = metrics["judges"]
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["judges"] == j
    assert j["judge"]["n"] == 83  # 80 synthetic, a1 and a2 accepted, x1 rejected
    assert j["dropped_by_judge"]["total"] == 2
    assert [a["id"] for a in j["label_audit"]["records"]] == ["a2", "x2"]
    assert j["vocabulary_skew"]["pos"][0]["word"] == "delightful"
    assert HEADING in html and 'id="judges"' in html and "a2" in html
    assert "Label audit" in html and "Vocabulary skew" in html and "Double critic" in html
    assert "generator's own model" in html  # a2's judge was the generator's model


def test_report_renders_with_and_without_judges(evaluated) -> None:
    metrics = evaluated[0]
    without = {k: v for k, v in metrics.items() if k != "judges"}
    assert HEADING not in render_report(without, title="unit")
    assert HEADING not in render_report({**metrics, "judges": None}, title="unit")
    bias_only = {**metrics, "judges": judges_section([], [], ["a text"], ["pos"])}
    html = render_report(bias_only, title="unit")
    assert HEADING in html and "Demographic and regional terms" in html
    assert "Label audit" not in html and "Pointwise judge scores" not in html


def test_evaluate_prints_one_line_per_judge_reading():
    from synthloom.cli import _print_judges, out

    with out.capture() as captured:
        _print_judges({"judge": {"models": ["m"], "mean": 3.2, "scale": [1, 5], "missing": 1,
                                 "n": 10}, "same_model_as_generator": True,
                       "dropped_by_judge": {"total": 2},
                       "double_critic": {"n": 5, "both_correct_rate": 0.6,
                                         "disagreement_rate": None},
                       "position_bias": {"first_rate": 0.9, "n": 20},
                       "label_audit": {"n_flagged": 3}})
        _print_judges({})
    text = " ".join(captured.get().split())
    assert "judge m (the generator's own model): mean score 3.20" in text
    assert "dropped 2" in text and "disagreed on n/a" in text
    assert "first slot 90% of 20 times" in text and "3 records flagged" in text
