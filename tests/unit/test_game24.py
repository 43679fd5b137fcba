"""Game of 24 (Tree of Thoughts, arXiv 2305.10601): the ToT puzzle file, the exhaustive
solver, the exact verifier and the domain's parsing of model answers."""

from __future__ import annotations

import importlib.metadata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthloom.operators.verify import game24
from synthloom.operators.verify.base import DOMAINS, Verification, majority_vote
from synthloom.operators.verify.game24 import (
    SOLVABLE_HANDS,
    STANDARD_PROMPT,
    Game24Domain,
    Game24Verifier,
    solve_24,
    tot_puzzles,
)

VERIFIER = Game24Verifier()
DOMAIN = Game24Domain()
SPEC = {"numbers": [4, 4, 6, 8]}


def test_tot_puzzles_load_in_rank_order():
    puzzles = tot_puzzles()
    assert len(puzzles) == 1362 == SOLVABLE_HANDS
    assert puzzles[0] == [1, 1, 4, 6]  # rank 1
    assert puzzles[900] == [4, 5, 6, 10]  # rank 901, the first of ToT's test range
    assert all(len(p) == 4 and p == sorted(p) and 1 <= p[0] and p[-1] <= 13 for p in puzzles)
    assert len({tuple(p) for p in puzzles}) == 1362


def test_missing_package_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    game24._tot_rows.cache_clear()
    monkeypatch.setattr(game24.importlib.metadata, "distribution", missing)
    try:
        with pytest.raises(FileNotFoundError, match="pip install --no-deps "
                                                    "tree-of-thoughts-llm==0.1.0"):
            tot_puzzles()
    finally:
        monkeypatch.undo()
        game24._tot_rows.cache_clear()
    assert len(tot_puzzles()) == 1362


def test_solver_solves_every_puzzle_of_the_tot_test_range_and_the_verifier_agrees():
    problems = DOMAIN.problems(100, 0, source="tot-24", start=900)
    assert [p.source for p in problems[:2]] == ["tot-24#901", "tot-24#902"]
    assert all(p.real and p.domain == "game24" for p in problems)
    for problem in problems:
        result = DOMAIN.solve(problem)
        assert result.candidate is not None, problem.text
        assert 0 < result.cost["nodes"] <= 4573
        check = VERIFIER.verify(problem.spec, result.candidate)
        assert check.passed, (problem.text, result.candidate, check.reason)


@pytest.mark.parametrize("numbers", [[3, 3, 8, 8], [1, 5, 5, 5], [1, 4, 5, 6], [4, 4, 6, 8]])
def test_solver_finds_fraction_solutions(numbers):
    expression, nodes = solve_24(numbers)
    assert expression is not None and nodes > 0
    assert VERIFIER.verify({"numbers": numbers}, f"{expression} = 24").passed


@pytest.mark.parametrize("numbers", [[1, 1, 1, 1], [1, 1, 1, 2], [13, 13, 13, 13]])
def test_solver_reports_unsolvable_hands(numbers):
    expression, nodes = solve_24(numbers)
    assert expression is None and nodes > 100  # searched, found nothing


def test_solver_stops_at_the_budget():
    problem = DOMAIN.problems(1, 0, source="tot")[0]
    result = DOMAIN.solve(problem, budget=3)
    assert result.candidate is None and result.cost == {"nodes": 3}


@pytest.mark.parametrize("candidate, reason", [
    ("(4 + 8) * (6 - 4) = 24", "ok"),
    ("(4 + 8) * (6 - 4)", "ok"),
    ("(8 - 4) * 6 + 4", "equals 28, not 24"),
    ("4 + 4 + 6 + 8", "equals 22, not 24"),
    ("(8 - 4) * 6 * (4 / 4)", "uses 4 3 times, not twice"),
    ("(6 - 4) * (8 + 4) * 1", "uses 1, which is not one of the numbers"),
    ("4 * 6 + 8 - 8", "uses 4 once, not twice; uses 8 twice"),
    ("4 * 6 * (8 - 8)", "uses 4 once, not twice; uses 8 twice"),
    ("4 * 6 + 4 - 4", "uses 4 3 times, not twice; does not use 8"),
    ("8 / (4 - 4) + 6", "division by zero"),
    ("x * 4 + 6 + 8", "not an arithmetic expression: names are not allowed: x"),
    ("abs(4) * 6 + 4 - 8", "not an arithmetic expression: function calls are not allowed"),
    ("4 ** 2 + 8 + 6 - 6", "not an arithmetic expression: operator ** is not allowed"),
    ("(4).real * 6 + 8 - 4", "not an arithmetic expression: attribute access"),
    ("-4 * -6 + 8 - 8", "not an arithmetic expression: unary operators are not allowed"),
    ("4 * 6.0 + 8 - 8", "not an arithmetic expression: only whole numbers"),
    ("4 6 4 8", "not an arithmetic expression"),
    ("", "not an arithmetic expression: empty expression"),
])
def test_verifier_reasons(candidate, reason):
    check = VERIFIER.verify(SPEC, candidate)
    assert check.passed == (reason == "ok")
    assert check.reason.startswith(reason), check.reason


def test_verifier_evidence_and_typographic_operators():
    check = VERIFIER.verify({"numbers": [3, 3, 8, 8]}, "8 ÷ (3 − 8 ÷ 3) = 24")
    assert check.passed
    assert check.evidence["value"] == "24" and check.evidence["numbers_used"] == [8, 3, 8, 3]
    wrong = VERIFIER.verify({"numbers": [3, 3, 8, 8]}, "8 / 3 + 3 + 8 - 3")
    assert wrong.reason == "uses 3 3 times, not twice"
    assert wrong.evidence["numbers_used"] == [8, 3, 3, 8, 3]
    near = VERIFIER.verify({"numbers": [1, 2, 3, 4]}, "1 / 3 + 2 + 4")
    assert near.reason == "equals 19/3, not 24" and near.evidence["value"] == "19/3"


def test_verifier_fails_a_malformed_spec_without_raising():
    assert not VERIFIER.verify({}, "4 * 6").passed
    assert not VERIFIER.verify({"numbers": "abc"}, "4 * 6").passed
    assert not VERIFIER.verify(SPEC, None).passed  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80),
                 st.text(alphabet="0123456789+-*/() .=x^,", max_size=60)))
def test_verifier_never_raises(text):
    check = VERIFIER.verify(SPEC, text)
    assert isinstance(check, Verification) and isinstance(check.reason, str)
    assert check.passed == (check.reason == "ok")


def test_verifier_handles_huge_and_deep_input():
    assert not VERIFIER.verify(SPEC, "(" * 5000 + "4" + ")" * 5000).passed
    assert not VERIFIER.verify(SPEC, "9" * 10000).passed
    assert not VERIFIER.verify(SPEC, "4\x00 * 6").passed


@pytest.mark.parametrize("answer, expected", [
    ("Answer: (4 + 8) * (6 - 4) = 24", "(4 + 8) * (6 - 4)"),
    ("Answer: (4 + 8) * (6 - 4) = 24\nInput: 1 2 3 4\nAnswer: 1 * 2 * 3 * 4 = 24",
     "(4 + 8) * (6 - 4)"),
    ("Let me think.\n**Answer:** `(4 + 8) * (6 - 4)` = 24.", "(4 + 8) * (6 - 4)"),
    ("answer: 4 * (8 - 6 + 4).", "4 * (8 - 6 + 4)"),
    ("Answer: 6 × 4 × (8 ÷ 8)", "6 * 4 * (8 / 8)"),
    ("(4 + 8) * (6 - 4) = 24", "(4 + 8) * (6 - 4)"),
    ("We can do it.\n(4 + 8) * (6 - 4) = 24.\n", "(4 + 8) * (6 - 4)"),
    ("**6 * 4 = 24**", "6 * 4"),
    ("No way to make 24 here.", None),
    ("Answer:", None),
    ("", None),
])
def test_candidate_from_model_outputs(answer, expected):
    assert DOMAIN.candidate(answer) == expected


def test_answer_key_and_majority_vote():
    keys = [DOMAIN.answer_key(c) for c in ["(4+8) * (6-4)", "4 * 6", "(4 + 8)*(6 - 4) = 24"]]
    assert keys[0] == keys[2] == "(4+8)*(6-4)"
    assert majority_vote(keys) == 0


def test_prompt_is_the_tot_standard_prompt_as_chat_turns():
    problem = DOMAIN.problems(1, 0, source="tot-24", start=0)[0]
    messages = DOMAIN.prompt(problem)
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert messages[0]["content"].startswith("Use numbers and basic arithmetic operations")
    assert {"role": "assistant", "content": "Answer: (8 / 4 + 1) * 8 = 24"} in messages
    assert messages[-1]["content"] == "Input: 1 1 4 6"
    # the shots joined back are ToT's prompt text
    assert "\n".join(m["content"] for m in messages) + "\n" == \
        STANDARD_PROMPT.format(input="1 1 4 6")
    assert DOMAIN.solution_text(problem, "1 * 1 * 4 * 6") == "1 * 1 * 4 * 6 = 24"


def test_generated_hands_are_seeded_distinct_and_solvable():
    first = DOMAIN.problems(30, 7)
    assert first == DOMAIN.problems(30, 7)
    assert first != DOMAIN.problems(30, 8)
    hands = [tuple(p.spec["numbers"]) for p in first]
    assert len(set(hands)) == 30
    for problem in first:
        numbers = problem.spec["numbers"]
        assert not problem.real and problem.source == "generated"
        assert numbers == sorted(numbers) and all(1 <= x <= 13 for x in numbers)
        assert problem.text == " ".join(map(str, numbers))
        assert solve_24(numbers)[0] is not None


def test_domain_options_and_registration():
    assert DOMAINS["game24"] is Game24Domain
    assert (Game24Domain.cost_unit, Game24Domain.real_source) == ("nodes", "tot-24")
    assert DOMAIN.available("tot-24") == 462 and DOMAIN.available("tot", start=1300) == 62
    assert DOMAIN.available("generated") is None
    with pytest.raises(ValueError, match="no option"):
        DOMAIN.problems(1, 0, steps=3)
    with pytest.raises(ValueError, match="start"):
        DOMAIN.problems(1, 0, start=5)
    with pytest.raises(ValueError, match="indices"):
        DOMAIN.problems(10, 0, source="tot", start=1360)
    with pytest.raises(ValueError, match="source"):
        DOMAIN.problems(1, 0, source="humaneval")
    with pytest.raises(ValueError, match="1362"):
        DOMAIN.problems(1363, 0)
    assert DOMAIN.problems(0, 0, source="tot") == []
