"""``synthloom label`` (kind ``teacher_label``) and a ``relevance`` recipe from the CLI on the
real packaged model (SmolLM2-135M in-process). The tiny model labels and judges poorly, so
these tests assert what must hold whatever it answers: every text ends once (labelled or
abstained with a reason), a label is one of the recipe's, soft labels come from the model's
token probabilities, the source's label column is never stored, and every relevance record
carries candidates with scores and the source document among them."""

from __future__ import annotations

import json

import pytest

from synthloom.records import Origin, read_jsonl
from tests.e2e.test_generate_llamacpp import cli
from tests.unit.relevance_fixtures import recipe_data, write_corpus

pytestmark = pytest.mark.e2e

LABEL_RECIPE = """\
task:
  name: tiny_topics
  kind: teacher_label
  description: Short news sentences.
  labels:
    sport: games, players, matches and results
    business: companies, markets, prices and jobs
seed: 3
backend: {kind: llamacpp, model: smollm2-135m}
steps:
  - {type: teacher_label.source, text_column: text}
  - type: teacher_label.vote
    labellers:
      - {type: llm, name: topic, max_words: 40}
      - {type: keywords, label: sport, any: [goal, match, league]}
  - {type: curate.label_model, method: majority_vote, trust: agreement}
"""

TEXTS = [
    ("A late goal won the match for the home side.", "sport"),
    ("Shares in the carmaker fell after weak sales.", "business"),
    ("The league leaders lost their first game of the season.", "sport"),
    ("The bank raised interest rates by a quarter point.", "business"),
]


def test_label_cli_labels_real_texts_with_soft_labels_and_ignores_the_label_column(tmp_path):
    source = tmp_path / "texts.jsonl"
    source.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in TEXTS))
    (tmp_path / "r.yaml").write_text(LABEL_RECIPE)
    out = tmp_path / "out"
    done = cli("label", str(source), "--recipe", str(tmp_path / "r.yaml"), "-o", str(out),
               "--test-labels", "label")
    assert done.returncode == 0, done.stderr
    labelled = list(read_jsonl(out / "data.jsonl"))
    abstained = list(read_jsonl(out / "rejected.jsonl"))
    assert sorted(r.text for r in labelled + abstained) == sorted(t for t, _ in TEXTS)
    assert all(r.rejected.reason for r in abstained)
    for r in labelled:
        assert r.kind == "teacher_label" and r.label in ("sport", "business")
        assert r.origin is Origin.synthetic
        assert r.field_origins == {"text": Origin.real, "label": Origin.synthetic}
        assert "label" not in r.inputs and 0.0 <= r.trust_weight <= 1.0
        assert sum(r.outputs["label_probs"].values()) == pytest.approx(1.0, abs=1e-6)
    manifest = json.loads((out / "manifest.json").read_text())
    llm, rule = manifest["labellers"]["topic"], manifest["labellers"]["keywords[sport]"]
    assert llm["voted"] + llm["abstained"] == 4 == rule["voted"] + rule["abstained"]
    assert llm["soft_from_logprobs"] + llm["soft_fell_back"] == llm["voted"]
    # the human labels score the teacher; they were never a labeller's input
    assert manifest["teacher_test"]["n"] == 4 and rule["test_accuracy"] == 1.0
    assert set(manifest["counts_per_label"]) <= {"sport", "business"}


def test_a_relevance_recipe_runs_from_the_cli_and_exports_pairs(tmp_path):
    data = recipe_data(write_corpus(tmp_path), n=2)
    data["backend"] = {"kind": "llamacpp", "model": "smollm2-135m"}
    (tmp_path / "r.yaml").write_text(json.dumps(data))
    out = tmp_path / "out"
    done = cli("generate", str(tmp_path / "r.yaml"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    kept = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    drafts = list(read_jsonl(out / "drafts.jsonl"))
    assert sorted(r.provenance.plan.id for r in kept + rejected) == sorted(d.id for d in drafts)
    assert all(r.rejected.reason for r in rejected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["corpus"]["skipped"] == 3  # a blank text, a repeated text, a repeated id
    for r in kept:
        candidates, scores = r.outputs["candidates"], r.outputs["scores"]
        assert r.inputs["source_id"] in [c["doc_id"] for c in candidates]
        assert len(scores) == len(candidates) and r.inputs["query"].strip()
    if kept:
        exported = tmp_path / "pairs.jsonl"
        done = cli("export", str(out), "--layout", "pairs", "-o", str(exported))
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in exported.read_text().splitlines()]
        assert len(rows) == sum(len(r.outputs["candidates"]) for r in kept)
        assert all({"query", "doc_id", "document", "score"} <= set(row) for row in rows)
