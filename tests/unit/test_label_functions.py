"""Labelling functions: keyword and regex rules from a recipe, Python functions by name."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from synthloom.errors import UserInputError
from synthloom.operators.label import (
    ABSTAIN,
    KeywordsRule,
    apply_labellers,
    build_labeller,
    build_labellers,
)

LABELS = ["sport", "business", "tech"]


def test_keyword_rule_fires_on_a_whole_word_any_case_and_abstains_otherwise() -> None:
    lf = build_labeller({"type": "keywords", "label": "sport", "any": ["match", "goal"]}, LABELS)
    assert lf.name == "keywords[sport]"
    assert lf("A late GOAL won it.") == "sport"
    assert lf("The match ended 2-1") == "sport"
    assert lf("Shares fell on Monday.") is None
    assert lf("The goalkeeper rested; rematches are rare.") is None  # not inside a word


def test_keyword_rule_escapes_its_words_and_can_be_case_sensitive() -> None:
    lf = build_labeller(KeywordsRule(label="tech", any=["C++", "AI"], case_sensitive=True), LABELS)
    assert lf("Written in C++ today") == "tech"
    assert lf("Cxx is not C plus plus") is None
    assert lf("new AI chips") == "tech"
    assert lf("said the aide") is None


def test_regex_rule_matches_any_pattern() -> None:
    lf = build_labeller(
        {
            "type": "regex",
            "label": "business",
            "any": [r"\$\d+(\.\d+)?[mb]n", r"shares? (rose|fell)"],
        },
        LABELS,
    )
    assert lf("a $4.5bn deal") == "business"
    assert lf("Shares fell sharply") == "business"
    assert lf("the team won 4-5") is None
    echo = build_labeller({"type": "regex", "label": "tech", "any": [r"(ab)\1", r"(cd)\1"]}, LABELS)
    assert echo("xcdcdx") == "tech"  # each pattern keeps its own group numbers


def test_bad_regex_error_names_the_rule_and_the_pattern() -> None:
    specs = [
        {"type": "keywords", "label": "sport", "any": ["goal"]},
        {"type": "regex", "label": "sport", "name": "scores", "any": [r"\d+-\d+", "(goal"]},
    ]
    with pytest.raises(UserInputError) as e:
        build_labellers(specs, LABELS)
    message = str(e.value)
    assert "'scores'" in message and "labellers[1]" in message and "'(goal'" in message
    assert "\n" not in message


def test_unknown_label_is_an_error_naming_the_label_and_the_label_set() -> None:
    with pytest.raises(UserInputError, match=r"keywords\[sports\].*unknown label 'sports'.*tech"):
        build_labeller({"type": "keywords", "label": "sports", "any": ["goal"]}, LABELS)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "keyword", "label": "sport", "any": ["x"]}, "labeller: "),
        ({"type": "keywords", "label": "sport", "any": []}, "any"),
        ({"type": "keywords", "label": "sport", "any": ["x"], "anyy": ["y"]}, "anyy"),
    ],
)
def test_malformed_specs_are_one_line_errors_naming_the_field(spec, expected) -> None:
    with pytest.raises(UserInputError) as e:
        build_labeller(spec, LABELS)
    assert expected in str(e.value) and "\n" not in str(e.value)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_lfs.py").write_text(
        textwrap.dedent(
            """
            NOT_A_FUNCTION = 3

            def sporty(text):
                return "sport" if "goal" in text else None

            def bad_label(text):
                return "sports"

            def crashes(text):
                raise KeyError("boom")
            """
        )
    )
    (tmp_path / "broken_lfs.py").write_text("import not_a_real_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in ("my_lfs", "broken_lfs"):
        sys.modules.pop(name, None)


def test_python_labeller_votes_by_dotted_name(user_module) -> None:
    lf = build_labeller({"type": "python", "function": "my_lfs:sporty"}, LABELS)
    assert lf.name == "python[my_lfs:sporty]" and lf.kind == "python"
    assert lf("a goal") == "sport" and lf("shares") is None


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("my_lfs.sporty", "give module:function"),
        ("broken_lfs:f", "cannot import broken_lfs (ModuleNotFoundError"),
        ("my_lfs:missing", "module my_lfs has no missing"),
        ("my_lfs:NOT_A_FUNCTION", "NOT_A_FUNCTION is a int, not a function"),
    ],
)
def test_unimportable_function_errors(user_module, function, expected) -> None:
    with pytest.raises(UserInputError) as e:
        build_labeller({"type": "python", "function": function}, LABELS)
    assert expected in str(e.value) and f"python[{function}]" in str(e.value)


def test_python_labeller_outside_the_label_set_or_raising_is_an_error(user_module) -> None:
    bad = build_labeller({"type": "python", "function": "my_lfs:bad_label"}, LABELS)
    with pytest.raises(UserInputError, match="returned 'sports', not one of the labels"):
        bad("anything")
    crashing = build_labeller({"type": "python", "function": "my_lfs:crashes"}, LABELS)
    with pytest.raises(UserInputError, match="raised on 'x' .*KeyError"):
        apply_labellers([crashing], ["x"], LABELS)


def test_apply_labellers_gives_label_indices_and_abstain(user_module) -> None:
    lfs = build_labellers(
        [
            {"type": "keywords", "label": "sport", "any": ["goal"]},
            {"type": "keywords", "label": "sport", "any": ["match"]},
            {"type": "regex", "label": "business", "any": ["shares?"]},
            {"type": "python", "function": "my_lfs:sporty"},
        ],
        LABELS,
    )
    assert [lf.name for lf in lfs] == [
        "keywords[sport]",
        "keywords[sport]#2",
        "regex[business]",
        "python[my_lfs:sporty]",
    ]
    votes = apply_labellers(lfs, ["goal in the match", "shares rose", "nothing"], LABELS)
    assert votes.dtype.kind == "i"
    np.testing.assert_array_equal(
        votes,
        [[0, 0, ABSTAIN, 0], [ABSTAIN, ABSTAIN, 1, ABSTAIN], [ABSTAIN] * 4],
    )


def test_two_labellers_with_one_explicit_name_is_an_error() -> None:
    spec = {"type": "keywords", "label": "sport", "any": ["goal"], "name": "goal"}
    with pytest.raises(UserInputError, match=r"labellers\[1\]: name 'goal' is used twice"):
        build_labellers([spec, spec], LABELS)
