"""The teacher_label kind: soft labels from logprobs, abstentions, rules and LLM votes
combined, human labels kept apart, resume, the students hook (scripted backend, no LLM)."""

from __future__ import annotations

import json
import math

import pytest

from synthloom.errors import UserInputError
from synthloom.evaluate.distillation import (
    teacher_scores,
    teacher_training_rows,
    train_on_teacher_labels,
)
from synthloom.labelling import label
from synthloom.llm.base import ChatResponse
from synthloom.operators.label.teacher import (
    LLMLabeller,
    TeacherLabeller,
    answer_label,
    soft_label,
    token_label,
)
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Origin, read_jsonl
from tests.unit.scripted import ScriptedBackend

LABELS = {
    "sport": "games and players",
    "business": "money and markets",
    "tech": "computers and phones",
}
ROWS = [
    ("The match ended with a late goal", "sport"),
    ("Shares fell as the market slid", "business"),
    ("A new phone with faster broadband", "tech"),
    ("The striker scored twice on Sunday", "sport"),
    ("Profits rose at the bank this year", "business"),
    ("xyzzy plugh", "tech"),
]


def lp(**probs: float) -> list[dict[str, float]]:
    """One generated token's top logprobs from probabilities."""
    return [{k.replace("_", " "): math.log(v) for k, v in probs.items()}]


def teacher(text: str) -> str | None:
    """The scripted teacher's label of a text (None: it answers something else)."""
    if "xyzzy" in text:
        return None
    return (
        "sport"
        if "match" in text or "striker" in text
        else "business"
        if "Shares" in text or "Profits" in text
        else "tech"
    )


def respond(request) -> ChatResponse:
    text = request.messages[-1]["content"].split("Text: ")[-1]
    answer = teacher(text)
    if answer is None:
        return ChatResponse(text="Finance", top_logprobs=lp(Fin=0.6, business=0.4))
    return ChatResponse(
        text=answer.capitalize(),
        top_logprobs=lp(**{answer.capitalize(): 0.7, "tech": 0.2, "Hi": 0.1}),
    )


def recipe(labellers=None, method="majority_vote", **source) -> Recipe:
    return Recipe.model_validate(
        {
            "task": {
                "name": "t",
                "kind": "teacher_label",
                "description": "Short texts.",
                "labels": LABELS,
            },
            "steps": [
                {"type": "teacher_label.source", "text_column": "body", **source},
                {
                    "type": "teacher_label.vote",
                    "labellers": labellers
                    or [
                        {"type": "llm"},
                        {"type": "keywords", "label": "sport", "any": ["goal", "striker"]},
                    ],
                },
                {"type": "curate.label_model", "method": method},
            ],
        }
    )


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src.jsonl"
    path.write_text(
        "".join(json.dumps({"body": t, "label": f"HUMAN-{g}", "gold": g}) + "\n" for t, g in ROWS)
    )
    return path


# ------------------------------------------------------------------ the soft label


def test_a_token_counts_for_the_one_label_it_starts():
    names = ["business", "politics", "positive"]
    assert token_label(" Bus", names) == "business"
    assert token_label("POLIT", names) == "politics"
    assert token_label("po", names) is None  # starts two labels: ambiguous
    assert token_label("**", names) is None  # nothing left once normalised
    assert token_label("businesses", names) is None  # longer than the label


def test_soft_label_sums_tokens_per_label_and_renormalises_over_labels():
    soft = soft_label(
        lp(Bus=0.5, business=0.1, Pol=0.2, po=0.1, The=0.1), ["business", "politics", "positive"]
    )
    assert soft.mass == pytest.approx(0.8)  # "po" (ambiguous) and "The" are left out
    assert soft.probs == pytest.approx({"business": 0.75, "politics": 0.25, "positive": 0.0})
    assert sum(soft.probs.values()) == pytest.approx(1.0)


def test_soft_label_skips_a_leading_quote_and_gives_none_without_a_match():
    names = ["sport", "tech"]
    quoted = [
        {'"': math.log(0.9), "x": math.log(0.1)},
        {"sport": math.log(0.6), "Tech": math.log(0.3)},
    ]
    soft = soft_label(quoted, names)
    assert soft.position == 1 and soft.probs == pytest.approx({"sport": 2 / 3, "tech": 1 / 3})
    assert soft_label(lp(Hello=0.9), names).probs is None
    assert soft_label(None, names).probs is None


def test_answer_matches_a_label_after_case_and_punctuation_only():
    names = ["sport", "not_spam", "sci/tech"]
    assert answer_label(" **Sport.** ", names) == "sport"
    assert answer_label("not spam", names) == "not_spam"
    assert answer_label("Sci/Tech\nbecause it is about phones", names) == "sci/tech"
    assert answer_label("sports", names) is None
    assert answer_label("The label is sport", names) is None


def test_low_label_mass_or_no_logprobs_falls_back_to_the_answer():
    low = ScriptedBackend(lambda r: ChatResponse(text="sport", top_logprobs=lp(sport=0.3, The=0.7)))
    (vote,) = TeacherLabeller(low, "d", LABELS).label(["a text"])
    assert vote.soft == "answer" and vote.probs == {"sport": 1.0, "business": 0.0, "tech": 0.0}
    assert vote.label_mass == pytest.approx(0.3) and "below min_label_mass" in vote.reason
    bare = ScriptedBackend(lambda r: "tech")
    (vote,) = TeacherLabeller(bare, "d", LABELS).label(["a text"])
    assert vote.soft == "answer" and vote.label == "tech" and "no logprobs" in vote.reason
    assert bare.requests[0].top_logprobs == 20 and bare.requests[0].sampling.temperature == 0


def test_an_answer_outside_the_labels_is_asked_again_then_abstains_never_forced():
    backend = ScriptedBackend(
        lambda r: ChatResponse(text="Finance", top_logprobs=lp(business=0.9, Fin=0.1))
    )
    (vote,) = TeacherLabeller(backend, "d", LABELS).label(["money talk"])
    assert vote.label is None and vote.probs is None and vote.soft is None
    assert vote.answers == ["Finance", "Finance"]
    assert "answered 'Finance', then 'Finance'" in vote.reason and "not one of" in vote.reason
    first, again = backend.requests
    assert "Reply with exactly one of these words" in again.messages[-1]["content"]
    assert first.sampling.seed != again.sampling.seed


def test_the_stricter_prompt_can_give_the_label():
    backend = ScriptedBackend(
        lambda r: "maybe money?" if "Which label" in r.messages[-1]["content"] else "business"
    )
    spec = LLMLabeller(retries=1, descriptions=False)
    (vote,) = TeacherLabeller(backend, "d", LABELS, spec).label(["money talk"])
    assert vote.label == "business" and vote.answers == ["maybe money?", "business"]
    assert "money and markets" not in backend.requests[0].messages[-1]["content"]


def test_a_labeller_prompt_must_show_the_text_and_use_known_fields():
    with pytest.raises(ValueError, match="add {text}"):
        LLMLabeller(prompt="Label it: {label_names}")
    with pytest.raises(ValueError, match="unknown field {unit}"):
        LLMLabeller(prompt="{unit}: {text}")


# ------------------------------------------------------------------ a run


def test_rules_and_llm_votes_combine_into_labels_probabilities_and_trust(source, tmp_path):
    backend = ScriptedBackend(respond)
    manifest = label(recipe(), source, tmp_path / "out", backend=backend)
    data = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    assert manifest["texts"] == 6 and manifest["labelled"] == 5
    assert manifest["counts_per_label"] == {"sport": 2, "business": 2, "tech": 1}
    goal = next(r for r in data if "late goal" in r.text)
    assert goal.origin is Origin.synthetic
    assert goal.field_origins == {"text": Origin.real, "label": Origin.synthetic}
    assert goal.label == "sport" and goal.kind == "teacher_label"
    votes = goal.outputs["votes"]
    assert votes["keywords[sport]"] == {"kind": "keywords", "label": "sport", "reason": None}
    assert votes["llm[generator]"]["probs"] == pytest.approx(
        {"sport": 0.7 / 0.9, "business": 0.0, "tech": 0.2 / 0.9}
    )
    # majority vote of a soft LLM vote and a hard rule vote
    assert goal.outputs["label_probs"]["sport"] == pytest.approx((0.7 / 0.9 + 1) / 2, abs=1e-6)
    assert goal.trust_weight == pytest.approx(goal.outputs["agreement"], abs=1e-6)
    assert 0 < goal.trust_weight < 1 and goal.verdict("label_model").passed
    plain = next(r for r in data if "Shares" in r.text)  # only the LLM voted
    assert plain.trust_weight == pytest.approx(0.7 / 0.9, abs=1e-6)
    (abstained,) = list(read_jsonl(tmp_path / "out" / "rejected.jsonl"))
    assert abstained.rejected.operator == "teacher_label.vote"
    assert "answered 'Finance', then 'Finance'" in abstained.rejected.reason
    assert manifest["abstained"] == {"teacher_label.vote": 1}
    assert manifest["labellers"]["llm[generator]"]["soft_from_logprobs"] == 5


def test_source_labels_are_never_read_unless_named(source, tmp_path):
    backend = ScriptedBackend(respond)
    manifest = label(recipe(), source, tmp_path / "a", backend=backend)
    assert manifest["teacher_test"] is None and manifest["human_labels"] is None
    written = "".join(p.read_text() for p in (tmp_path / "a").rglob("*.json*"))
    prompts = json.dumps([r.model_dump() for r in backend.requests])
    assert "HUMAN-" not in written and "HUMAN-" not in prompts
    scored = label(
        recipe(), source, tmp_path / "b", backend=ScriptedBackend(respond), test_labels="gold"
    )
    assert scored["human_labels"] == {"column": "gold", "dev": 0, "test": 6}
    assert scored["teacher_test"]["accuracy"] == pytest.approx(5 / 6, abs=1e-4)
    assert scored["teacher_test"]["accuracy_labelled"] == 1.0
    assert "HUMAN-" not in (tmp_path / "b" / "data.jsonl").read_text()


def test_auto_chooses_on_a_dev_share_and_scores_on_the_rest(source, tmp_path):
    labellers = [
        {"type": "llm"},
        {"type": "llm", "name": "again", "descriptions": False},
        {"type": "keywords", "label": "sport", "any": ["goal"]},
    ]
    manifest = label(
        recipe(labellers, method="auto"),
        source,
        tmp_path / "out",
        backend=ScriptedBackend(respond),
        test_labels="gold",
    )
    human = manifest["human_labels"]
    assert human["dev"] == 3 and human["test"] == 3
    detail = next(read_jsonl(tmp_path / "out" / "data.jsonl")).verdict("label_model").detail
    assert detail["chosen_on_dev"]["dev_records"] >= 2
    assert set(detail["chosen_on_dev"]["accuracies"]) == {"majority_vote", "dawid_skene"}


def test_a_tie_is_rejected_by_the_label_model_with_the_tied_labels(source, tmp_path):
    labellers = [
        {"type": "keywords", "label": "sport", "any": ["match"]},
        {"type": "keywords", "label": "tech", "any": ["late"]},
    ]
    label(recipe(labellers), source, tmp_path / "out", backend=ScriptedBackend(respond))
    reasons = {r.text: r.rejected for r in read_jsonl(tmp_path / "out" / "rejected.jsonl")}
    tie = reasons["The match ended with a late goal"]
    assert tie.operator == "curate.label_model" and "tie between 'sport' and 'tech'" in tie.reason


def test_a_crashed_run_resumes_without_losing_or_repeating_records(source, tmp_path):
    out, chunked = tmp_path / "out", recipe().model_copy(update={"chunk_size": 2})

    def rows(folder):
        return [(r.id, r.label, r.trust_weight) for r in read_jsonl(folder / "data.jsonl")]

    with pytest.raises(RuntimeError, match="scripted crash"):
        label(chunked, source, out, backend=ScriptedBackend(respond, fail_after=3))
    assert len(rows(out)) == 2  # the first chunk was written before the crash
    again, whole = ScriptedBackend(respond), ScriptedBackend(respond)
    label(chunked, source, out, backend=again, resume=True)
    label(chunked, source, tmp_path / "whole", backend=whole)
    assert rows(out) == rows(tmp_path / "whole") and len(rows(out)) == 5
    assert len(again.requests) < len(whole.requests)  # the cache answered the first chunk
    done = ScriptedBackend(respond)
    label(chunked, source, out, backend=done, resume=True)
    assert done.requests == [] and rows(out) == rows(tmp_path / "whole")


def test_recipes_that_cannot_work_are_refused_at_load():
    with pytest.raises(ValueError, match="dawid_skene needs at least 3 labellers"):
        recipe(method="dawid_skene")
    with pytest.raises(ValueError, match="needs a curate.label_model step"):
        Recipe.model_validate(
            {
                "task": {
                    "name": "t",
                    "kind": "teacher_label",
                    "description": "d",
                    "labels": ["a", "b"],
                },
                "steps": [
                    {"type": "teacher_label.source"},
                    {"type": "teacher_label.vote", "labellers": [{"type": "llm"}]},
                ],
            }
        )
    with pytest.raises(ValueError, match="unknown label 'golf'"):
        recipe([{"type": "keywords", "label": "golf", "any": ["tee"]}])
    with pytest.raises(ValueError, match="same once case"):
        Recipe.model_validate(
            {
                "task": {
                    "name": "t",
                    "kind": "teacher_label",
                    "description": "d",
                    "labels": ["not_spam", "Not-Spam"],
                },
                "steps": [],
            }
        )


def test_label_refuses_a_recipe_of_another_kind_and_a_missing_column(source, tmp_path):
    other = Recipe(task="t", description="d", labels={"a": "x", "b": "y"})
    with pytest.raises(UserInputError, match="not 'teacher_label'"):
        label(other, source, tmp_path / "o", backend=ScriptedBackend(respond))
    with pytest.raises(UserInputError, match="no label column 'topic'"):
        label(
            recipe(), source, tmp_path / "o", backend=ScriptedBackend(respond), test_labels="topic"
        )
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ students


def test_students_train_on_teacher_labels_weighted_by_trust(source, tmp_path):
    label(recipe(), source, tmp_path / "out", backend=ScriptedBackend(respond))
    records = list(read_jsonl(tmp_path / "out" / "data.jsonl"))
    texts, labels, weights = teacher_training_rows(records)
    assert weights == [r.trust_weight for r in records] and len(texts) == 5
    assert teacher_training_rows(records, weighted=False)[2] is None
    soft_texts, soft_labels, soft_weights = teacher_training_rows(records, soft=True)
    assert len(soft_texts) > len(texts)  # a row per label with probability
    goal = [w for t, w in zip(soft_texts, soft_weights, strict=True) if "late goal" in t]
    assert sum(goal) == pytest.approx(records[0].trust_weight)
    student = train_on_teacher_labels(records * 3, "tfidf-lr")
    assert set(student.predict(["The striker scored a goal"])) <= set(LABELS)
    with pytest.raises(UserInputError, match="one class only"):
        train_on_teacher_labels([r for r in records if r.label == "sport"])


def test_teacher_scores_count_an_abstention_as_wrong():
    s = teacher_scores(["a", None, "b", "a"], ["a", "b", "b", "b"], ["a", "b"])
    assert s["accuracy"] == 0.5 and s["accuracy_labelled"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["coverage"] == 0.75
    assert s["per_label_f1"] == {"a": pytest.approx(2 / 3, abs=1e-4), "b": 0.5}
