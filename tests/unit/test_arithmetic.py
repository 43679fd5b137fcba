"""Arithmetic word problems built by a program: the generator's programs, the text check
(numbers kept, answer not stated, an independent solve agrees), the safe expression parser
and the final-number verifier."""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthloom.operators.verify.arithmetic import (
    DEFAULT_SETTINGS,
    MAX_VALUE,
    ArithmeticDomain,
    ArithmeticVerifier,
    evaluate_steps,
    final_number,
    numbers_in,
    parse_expression,
)
from synthloom.operators.verify.base import DOMAINS, Verification, majority_vote

DOMAIN = ArithmeticDomain()
VERIFIER = ArithmeticVerifier()
SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}


def expression_of(spec: dict) -> str:
    """The program's steps as one expression, the way a correct solver would write it."""
    written: list[str] = []
    for step in spec["steps"]:
        left, right = (str(spec["numbers"][o["given"]]) if "given" in o
                       else f"({written[o['step']]})" for o in (step["left"], step["right"]))
        written.append(f"{left} {SYMBOLS[step['op']]} {right}")
    return written[-1]


def test_programs_are_deterministic_per_seed_and_a_prefix_of_longer_runs():
    assert DOMAIN.problems(20, 5) == DOMAIN.problems(20, 5)
    assert DOMAIN.problems(20, 5)[:7] == DOMAIN.problems(7, 5)
    assert DOMAIN.problems(20, 5) != DOMAIN.problems(20, 6)


@pytest.mark.parametrize("steps", [(2, 4), (1, 1), (4, 4), 6])
def test_program_values_are_positive_integers_and_the_answer_is_the_last(steps):
    low, high = (steps, steps) if isinstance(steps, int) else steps
    problems = DOMAIN.problems(150, 3, steps=steps)
    coincidences = 0
    for problem in problems:
        spec = problem.spec
        assert low <= len(spec["steps"]) <= high
        values = evaluate_steps(spec["steps"], spec["numbers"])
        assert values == [step["value"] for step in spec["steps"]]
        assert all(type(v) is int and 0 < v <= MAX_VALUE for v in values)
        assert all(type(n) is int and n > 0 for n in spec["numbers"])
        assert type(spec["answer"]) is int and spec["answer"] == values[-1]
        written = expression_of(spec)
        assert re.fullmatch(r"[\d +\-*/()]+", written)
        assert Fraction(eval(written)) == spec["answer"]  # digits and operators only
        for index, step in enumerate(spec["steps"][1:], start=1):
            assert step["left"] == {"step": index - 1}  # each step builds on earlier ones
        # the statement holds every given number and not the answer
        assert Counter(numbers_in(problem.text)) == Counter(map(Fraction, spec["numbers"]))
        assert problem.text.endswith(spec["question"])
        coincidences += spec["answer"] in spec["numbers"]
    assert coincidences <= len(problems) // 20


def test_every_operation_occurs_with_the_default_range():
    ops = Counter(s["op"] for p in DOMAIN.problems(200, 1) for s in p.spec["steps"])
    assert set(ops) == {"add", "subtract", "multiply", "divide"}


def test_settings_change_the_text_not_the_structure():
    farm = DOMAIN.problems(5, 9, settings=["a farm"])
    library = DOMAIN.problems(5, 9, settings=["a library"])
    for a, b in zip(farm, library, strict=True):
        assert a.text != b.text and "a farm" in a.text and "a library" in b.text
        assert {**a.spec, "setting": None} == {**b.spec, "setting": None}
        assert "a farm" in DOMAIN.text_prompt(a)[-1]["content"]
    used = {p.spec["setting"] for p in DOMAIN.problems(60, 0)}
    assert used <= set(DEFAULT_SETTINGS) and len(used) > 5
    assert not any(re.search(r"news|journal", s) for s in DEFAULT_SETTINGS)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="no option"):
        DOMAIN.problems(1, 0, n_vars=3)
    with pytest.raises(ValueError, match="steps"):
        DOMAIN.problems(1, 0, steps=(3, 2))
    with pytest.raises(ValueError, match="steps"):
        DOMAIN.problems(1, 0, steps="many")
    with pytest.raises(ValueError, match="settings"):
        DOMAIN.problems(1, 0, settings=[])
    with pytest.raises(ValueError, match="source"):
        DOMAIN.problems(1, 0, source="gsm8k")
    assert DOMAINS["arithmetic"] is ArithmeticDomain and ArithmeticDomain.cost_unit is None


def test_evaluate_steps_refuses_remainders_and_forward_references():
    steps = [{"op": "divide", "left": {"given": 0}, "right": {"given": 1}}]
    assert evaluate_steps(steps, [12, 4]) == [3]
    with pytest.raises(ValueError, match="positive whole"):
        evaluate_steps(steps, [10, 4])
    with pytest.raises(ValueError, match="operand"):
        evaluate_steps([{"op": "add", "left": {"step": 0}, "right": {"given": 0}}], [1])


def test_prompts_keep_numbers_and_question_and_never_give_the_answer():
    for problem in DOMAIN.problems(30, 2):
        spec = problem.spec
        messages = DOMAIN.text_prompt(problem)
        content = messages[-1]["content"]
        assert messages[-1]["role"] == "user" and spec["question"] in content
        assert spec["setting"] in content
        if spec["answer"] not in spec["numbers"]:
            assert Fraction(spec["answer"]) not in numbers_in(content)
        expression = DOMAIN.expression_prompt(problem.text)[-1]["content"]
        assert problem.text in expression and "Expression:" in expression
        assert "The answer is N." in DOMAIN.prompt(problem)[-1]["content"]


def test_check_text_passes_a_correct_text_and_expression():
    for problem in DOMAIN.problems(20, 4):
        answer = f"Expression: {expression_of(problem.spec)}"
        check = DOMAIN.check_text(problem.spec, problem.text, answer)
        assert check.passed, check.reason
        assert check.evidence["value"] == str(problem.spec["answer"])


def test_check_text_passes_a_natural_rewrite():
    spec = {"numbers": [6, 4, 5], "answer": 29, "setting": "a bakery",
            "question": "How many items are there now?",
            "steps": [{"op": "multiply", "left": {"given": 0}, "right": {"given": 1}},
                      {"op": "add", "left": {"step": 0}, "right": {"given": 2}}]}
    text = ("The baker fills 6 trays with 4 rolls each, then bakes 5 extra rolls. How many "
            "rolls does she have now?")
    assert DOMAIN.check_text(spec, text, "Expression: 6 * 4 + 5").passed
    assert not DOMAIN.check_text(spec, text, "Expression: 6 * (4 + 5)").passed


def test_check_text_fails_a_text_missing_a_number():
    problem = DOMAIN.problems(1, 4)[0]
    dropped = problem.spec["numbers"][-1]
    text = re.sub(rf"(?<![\d.]){dropped}(?!\d)", "some", problem.text, count=1)
    check = DOMAIN.check_text(problem.spec, text, f"Expression: {expression_of(problem.spec)}")
    assert not check.passed and check.evidence["missing"] == [dropped]
    assert check.reason == f"number {dropped} is missing from the text"


def test_check_text_fails_a_wrong_expression_with_evidence():
    problem = DOMAIN.problems(1, 4)[0]
    check = DOMAIN.check_text(problem.spec, problem.text, "Sure.\nExpression: 1 + 1")
    assert not check.passed
    assert check.reason == f"the independent solve gives 2, not {problem.spec['answer']}"
    assert check.evidence["expression"] == "1 + 1" and check.evidence["value"] == "2"
    assert check.evidence["expected"] == problem.spec["answer"]
    for bad in [None, "I cannot tell.\nSorry.", "Expression: __import__('os').getcwd()",
                "Expression: 5 / (2 - 2)"]:
        assert not DOMAIN.check_text(problem.spec, problem.text, bad).passed


def test_check_text_fails_a_text_stating_the_answer():
    problem = DOMAIN.problems(1, 4)[0]
    answer = problem.spec["answer"]
    assert answer not in problem.spec["numbers"]
    check = DOMAIN.check_text(problem.spec, f"{problem.text} (It is {answer}.)",
                              f"Expression: {expression_of(problem.spec)}")
    assert not check.passed and check.reason == f"the text states the answer {answer}"


def test_check_text_when_the_answer_equals_a_given_number():
    spec = {"numbers": [3, 2, 6], "answer": 6}
    text = "There are 3 trays of 2 rolls, and 6 jars. How many rolls?"
    assert DOMAIN.check_text(spec, text, "Expression: 3 * 2").passed
    stated = DOMAIN.check_text(spec, text + " There are 6 rolls.", "Expression: 3 * 2")
    assert not stated.passed and "states the answer 6" in stated.reason
    assert not DOMAIN.check_text({"numbers": [1]}, text, "Expression: 1").passed  # malformed


@pytest.mark.parametrize("answer, value", [
    ("Expression: (3 + 4) * 2", Fraction(14)),
    ("Let me see.\nExpression: `1,250 / 5` = 250.", Fraction(250)),
    ("Expression: 2.5 * 4", Fraction(10)),
    ("Expression: -(3 - 5)", Fraction(2)),
    ("Expression: 7 / 2", Fraction(7, 2)),
    ("3 × 4 − 2", Fraction(10)),
    ("Expression: __import__('os').system('true')", None),
    ("Expression: open('x').read()", None),
    ("Expression: (1).__class__", None),
    ("Expression: 2 ** 100", None),
    ("Expression: x + 1", None),
    ("Expression: [1, 2]", None),
    ("Expression: lambda: 1", None),
    ("Expression: 5 / 0", None),
    ("no expression here\nat all", None),
    ("", None),
])
def test_parse_expression(answer, value):
    assert parse_expression(answer) == value


@pytest.mark.parametrize("candidate, expected, found", [
    ("12 boxes of 100 plus 50.\nThe answer is 1,250.", 1250, "1250"),
    ("Step 1: 6 * 7 = 42\n#### 42", 42, "42"),
    ("The answer is 42 apples, and 3 are left over later.", 42, "42"),
    ("The answer is **41**.", 42, "41"),
    ("Answer: $1,250", 1250, "1250"),
    ("so we get 1250", 1250, "1250"),
    ("first 1250, then 12", 1250, "12"),
    ("The answer is 2.5 kg", 2, "5/2"),
])
def test_final_number_verifier(candidate, expected, found):
    check = VERIFIER.verify({"answer": expected}, candidate)
    assert check.evidence == {"found": found, "expected": expected}
    assert check.passed is (found == str(expected))
    if not check.passed:
        assert check.reason == f"final number {found}, expected {expected}"


def test_final_number_verifier_without_a_number_or_spec():
    check = VERIFIER.verify({"answer": 3}, "I do not know.")
    assert not check.passed and check.reason == "no number in the answer"
    assert not VERIFIER.verify({}, "The answer is 3.").passed
    assert DOMAIN.candidate("I do not know.") is None
    assert DOMAIN.candidate("  The answer is 3.\n") == "The answer is 3."


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=120), st.text(max_size=60))
def test_verifiers_never_raise(text, expression):
    spec = DOMAIN.problems(1, 0)[0].spec
    assert isinstance(VERIFIER.verify(spec, text), Verification)
    assert isinstance(DOMAIN.check_text(spec, text, expression), Verification)
    value = parse_expression(expression)
    assert value is None or isinstance(value, Fraction)


def test_answer_key_votes_on_the_final_number():
    keys = [DOMAIN.answer_key(a) for a in ["so 1,250.", "The answer is 1250.", "#### 7"]]
    assert keys == ["1250", "1250", "7"] and majority_vote(keys) == 0
    assert DOMAIN.answer_key("  no   number ") == "no number"
    assert final_number("12-4 is 8, then 3") == 3


def test_solution_text_is_the_programs_worked_solution():
    for problem in DOMAIN.problems(20, 6):
        solution = DOMAIN.solution_text(problem, "ignored")
        lines = solution.splitlines()
        assert len(lines) == len(problem.spec["steps"]) + 1
        assert lines[-1] == f"The answer is {problem.spec['answer']}."
        assert VERIFIER.verify(problem.spec, solution).passed
        for line, step in zip(lines, problem.spec["steps"], strict=False):
            assert line.endswith(f"= {step['value']}.")
