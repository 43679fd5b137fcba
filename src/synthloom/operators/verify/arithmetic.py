"""The ``arithmetic`` domain: word problems whose structure and answer a program builds.

A program draws a problem's STRUCTURE: 2-4 steps over named quantities (small positive
whole numbers), each step combining the running quantity with a new given number by
add, subtract (the result stays positive), multiply, or divide exactly (no remainder). The
roles are abstract and domain-neutral ("items", "boxes", "each box holds", "shared equally
among"); the SETTING (a farm, a library...) is a parameter. The program renders a plain,
correct but dry statement and its own worked solution; the LLM only rewrites the statement
as a natural word problem in the setting (:meth:`ArithmeticDomain.text_prompt`).

Because the answer is known before any text exists, the rewritten text is checked instead
of trusted (:meth:`ArithmeticDomain.check_text`): every given number must still be in it,
it must not state the answer, and a second, independent solve (a model reads the text alone
and writes one arithmetic expression, :meth:`ArithmeticDomain.expression_prompt`, evaluated
exactly) must reach the program's answer. This follows the program-first construction of
GSM-Symbolic (Mirzadeh et al., arXiv 2410.05229) with the text-to-program consistency check
of program-aided solving (PAL, Gao et al., arXiv 2211.10435). Candidate solutions are
checked by their final number (:class:`ArithmeticVerifier`, the GSM8K convention, Cobbe et
al., arXiv 2110.14168).
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from fractions import Fraction
from typing import Any

from synthloom.operators.verify.arithmetic_programs import (
    MAX_VALUE,
    draw_program,
    evaluate_steps,
)
from synthloom.operators.verify.base import Domain, Problem, Verification, register_domain
from synthloom.operators.verify.expressions import (
    DivisionByZeroError,
    ExpressionError,
    evaluate_expression,
    final_number,
    format_number,
    normalise_expression,
    numbers_in,
)

#: the settings used when a recipe gives none: everyday places across many areas
DEFAULT_SETTINGS = ("a corner shop", "a carpentry workshop", "a farm", "a school classroom",
                    "a restaurant kitchen", "a public library", "a warehouse", "a health clinic",
                    "a sports club", "a community garden", "a bakery", "a hotel")

_WRITTEN_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "×", "divide": "÷"}

_EXPRESSION_LINE = re.compile(r"expression\W*?:(.*)$", re.IGNORECASE | re.MULTILINE)


def _failed(reason: str, evidence: dict[str, Any], started: float) -> Verification:
    return Verification(False, reason, evidence, time.perf_counter() - started)


class ArithmeticVerifier:
    """Checks a candidate solution by its final number (GSM8K convention, arXiv 2110.14168).

    ``spec["answer"]`` is the program's integer answer; the candidate is solution text whose
    final number (:func:`final_number`: after ``The answer is``, ``####``, ``Answer:``, else
    the last number; ``1,250`` is 1250) must equal it exactly. Never raises. Evidence:
    ``found`` (the number read, exact string) and ``expected``.
    """

    name = "arithmetic.final_number"

    def verify(self, spec: dict[str, Any], candidate: str) -> Verification:
        started = time.perf_counter()
        try:
            expected = int(spec["answer"])
        except (KeyError, TypeError, ValueError):
            return _failed("malformed spec: need an integer answer", {}, started)
        if not isinstance(candidate, str):
            return _failed("candidate is not text", {"type": type(candidate).__name__},
                           started)
        found = final_number(candidate)
        if found is None:
            return _failed("no number in the answer", {"expected": expected}, started)
        evidence = {"found": format_number(found), "expected": expected}
        if found != expected:
            return _failed(f"final number {format_number(found)}, expected {expected}",
                           evidence, started)
        return Verification(True, "ok", evidence, time.perf_counter() - started)


def expression_from_answer(answer: str) -> str | None:
    """The expression a solver model wrote: the last ``Expression:`` line, else the whole
    answer when it is one line; ``= ...`` after it, a trailing full stop and markdown
    (``**``, backticks, ``$``) around it dropped. None when there is none."""
    lines = _EXPRESSION_LINE.findall(answer)
    if lines:
        written = lines[-1]
    elif answer.strip() and "\n" not in answer.strip():
        written = answer
    else:
        return None
    expression = written.strip().strip("*`$ ").split("=", 1)[0]
    expression = expression.strip().rstrip(".").strip("*`$ ")
    return expression or None


def _value_of(expression: str) -> Fraction:
    """Exact value of a solver's expression (decimals, unary minus and ``1,250`` allowed).
    Raises ExpressionError (DivisionByZeroError for a division by zero)."""
    return evaluate_expression(normalise_expression(expression, drop_thousands_commas=True),
                               allow_decimals=True, allow_unary_minus=True).value


def parse_expression(answer: str) -> Fraction | None:
    """The exact value of the expression in a solver model's answer (see
    :func:`expression_from_answer`), or None when there is none, it is not plain arithmetic
    (numbers, ``+ - * /``, parentheses, unary minus; names, calls, ``**`` and the like are
    refused, nothing is executed) or it divides by zero. Thousands commas are dropped."""
    expression = expression_from_answer(answer)
    try:
        return None if expression is None else _value_of(expression)
    except ExpressionError:
        return None


def _step_range(steps: Any) -> tuple[int, int]:
    try:
        low, high = (steps, steps) if isinstance(steps, int) else map(int, steps)
    except (TypeError, ValueError):
        low, high = 0, 0
    if not 1 <= low <= high <= 6:
        raise ValueError(f"steps must be a count or a (low, high) range in 1..6, not {steps!r}")
    return low, high


def _settings(settings: Any) -> tuple[str, ...]:
    if settings is None:
        return DEFAULT_SETTINGS
    if isinstance(settings, str):
        settings = [settings]
    chosen = tuple(str(s).strip() for s in settings)
    if not chosen or not all(chosen):
        raise ValueError("settings must be a non-empty list of non-empty texts")
    return chosen


@register_domain
class ArithmeticDomain(Domain):
    """Arithmetic word problems built by a program (see the module docstring); no solver
    (``cost_unit`` None): the program knows every answer, candidates are checked by
    :class:`ArithmeticVerifier`, rewritten texts by :meth:`check_text`."""

    name = "arithmetic"
    cost_unit = None
    verifier = ArithmeticVerifier()

    def problems(self, n: int, seed: int, **options: Any) -> list[Problem]:
        """``n`` generated problems; problem ``i`` depends only on ``seed`` and ``i`` (so a
        shorter list is a prefix of a longer one) and its structure not on ``settings``.

        Problem ``text`` is the program's dry statement (``"Setting: a farm. There are 6
        boxes. Each box holds 4 items. Then 5 more items are added. How many items are
        there now?"``); ``spec = {"steps": [{"op", "left", "right", "value", "sentence"},
        ...], "numbers": [int, ...] (every given number, in order), "answer": int,
        "setting": str, "question": str}`` (operands as in :func:`evaluate_steps`). Every
        value is a positive whole number <= :data:`MAX_VALUE`; the generator redraws (up to
        50 times) a program whose answer equals one of its given numbers.

        Options:
            steps: number of steps, an int or an inclusive ``(low, high)`` range within
                1..6 (default ``(2, 4)``).
            settings: the places a problem is set in, one drawn per problem (default
                :data:`DEFAULT_SETTINGS`).
            source: ``"generated"`` only.

        Raises:
            ValueError: an unknown option or source, ``n < 0``, a bad ``steps`` range or
                empty ``settings``.
        """
        source = options.pop("source", "generated")
        unknown = set(options) - {"steps", "settings"}
        if unknown:
            raise ValueError(f"the arithmetic domain has no option(s) {sorted(unknown)}; "
                             "known: steps, settings")
        if source != "generated":
            raise ValueError(f"source {source!r}: the arithmetic domain only generates")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        low, high = _step_range(options.get("steps", (2, 4)))
        settings = _settings(options.get("settings"))
        found = []
        for index in range(n):
            rng = random.Random(f"arithmetic:{seed}:{index}")
            setting = random.Random(f"arithmetic-setting:{seed}:{index}").choice(settings)
            n_steps = rng.randint(low, high)
            for _attempt in range(50):
                program = draw_program(rng, n_steps)
                if program["answer"] not in program["numbers"]:
                    break
            text = " ".join([f"Setting: {setting}.", *program["sentences"], program["question"]])
            spec = {"steps": program["steps"], "numbers": program["numbers"],
                    "answer": program["answer"], "setting": setting,
                    "question": program["question"]}
            found.append(Problem(domain=self.name, text=text, spec=spec))
        return found

    def prompt(self, problem: Problem) -> list[dict[str, str]]:
        """Solve step by step, ending with ``The answer is N.``."""
        return [{"role": "system", "content": "You solve arithmetic word problems carefully."},
                {"role": "user", "content": f"{problem.text}\n\nSolve the problem step by "
                 "step. End with one line of the form 'The answer is N.' where N is the final "
                 "number."}]

    def candidate(self, answer: str) -> str | None:
        """The answer text itself (the verifier reads its final number); None when it holds
        no number."""
        text = answer.strip()
        return text if final_number(text) is not None else None

    def answer_key(self, candidate: str) -> str:
        """The final number as an exact string (``"1250"``, ``"5/2"``) for majority vote;
        the whitespace-normalised text when it has none."""
        found = final_number(candidate)
        return format_number(found) if found is not None else " ".join(candidate.split())

    def solution_text(self, problem: Problem, candidate: str) -> str:
        """The program's worked solution (``candidate`` is not used): one line per step,
        ``Step 1: 6 × 4 = 24.``, then ``The answer is N.``. It names no objects, so it fits
        the rewritten text whatever the model called them."""
        spec = problem.spec
        values = evaluate_steps(spec["steps"], spec["numbers"])
        lines = []
        for index, step in enumerate(spec["steps"]):
            operands = [spec["numbers"][o["given"]] if "given" in o else values[o["step"]]
                        for o in (step["left"], step["right"])]
            lines.append(f"Step {index + 1}: {operands[0]} {_WRITTEN_SYMBOLS[step['op']]} "
                         f"{operands[1]} = {values[index]}.")
        return "\n".join([*lines, f"The answer is {values[-1]}."])

    def text_prompt(self, problem: Problem) -> list[dict[str, str]]:
        """Chat messages asking a model to rewrite the program's statement as a natural word
        problem in ``spec["setting"]``: every number kept exactly (in digits), the same
        quantities and operations, no answer, intermediate results or steps stated, ending
        with the same question. The reply is the word problem alone."""
        spec = problem.spec
        setting = spec["setting"]
        numbers = ", ".join(str(n) for n in spec["numbers"])
        rules = (
            f"Rewrite the problem below as a natural, self-contained word problem set in "
            f"{setting}.\n"
            f"- Keep every number exactly as written, in digits: {numbers}. Use each of "
            "them and add no other numbers.\n"
            "- Keep the same quantities and the same operations in the same order, so the "
            "answer stays the same. You may rename the items, containers and actions to "
            f"things that fit {setting}.\n"
            "- Do not state the answer, any intermediate result, or the steps of the "
            "calculation.\n"
            f"- End with the question, asking for the same quantity as: {spec['question']}\n"
            "Reply with the word problem only.")
        return [{"role": "system", "content": "You write clear, natural word problems."},
                {"role": "user", "content": f"{rules}\n\nProblem: {problem.text}"}]

    def expression_prompt(self, text: str) -> list[dict[str, str]]:
        """Chat messages asking a solver model for ONE arithmetic expression (numbers,
        ``+ - * /`` and parentheses only) that computes the answer of the word problem
        ``text``, on a line ``Expression: ...`` (read by :func:`parse_expression`)."""
        return [{"role": "user", "content": (
            "Read the word problem below. Write ONE arithmetic expression that computes the "
            "answer to its question, using the numbers from the problem with + - * / and "
            "parentheses only (no words, units, variables or '='). Do not work out the "
            "result. Reply with exactly one line:\nExpression: <expression>\n\n"
            f"Problem: {text}")}]

    def check_text(self, spec: dict[str, Any], text: str,
                   expression_answer: str | None) -> Verification:
        """Does a rewritten word problem still yield the program's answer? Never raises.

        Fails, naming the reason, when
        1. a given number is missing from ``text`` (each given number must appear at least
           as often as it is given; numbers must be in digits, ``1,250`` counts as 1250);
        2. the text states the answer: the answer number appears more often than it is
           given (an answer that equals a given number may appear as often as that number
           is given, no more; the generator avoids such coincidences where it can);
        3. the independent solve disagrees: ``expression_answer`` (the solver model's reply
           to :meth:`expression_prompt`) holds no valid expression, divides by zero, or
           evaluates (exactly) to anything but ``spec["answer"]``. None (no reply) fails
           like a reply without an expression.

        Evidence: ``numbers_found`` (in the text), ``missing``, and for the solve
        ``expression``, ``value`` (exact string) and ``expected``.
        """
        started = time.perf_counter()
        try:
            given = Counter(Fraction(int(n)) for n in spec["numbers"])
            expected = int(spec["answer"])
        except (KeyError, TypeError, ValueError):
            return _failed("malformed spec: need numbers and an integer answer", {}, started)
        found = numbers_in(text if isinstance(text, str) else "")
        counted = Counter(found)
        evidence: dict[str, Any] = {"numbers_found": [format_number(x) for x in found][:50],
                                    "expected": expected}
        missing = sorted(int(n) for n in given if counted[n] < given[n])
        if missing:
            evidence["missing"] = missing
            listed = ", ".join(map(str, missing))
            return _failed(f"number {listed} is missing from the text" if len(missing) == 1
                           else f"numbers {listed} are missing from the text", evidence, started)
        if counted[Fraction(expected)] > given[Fraction(expected)]:
            return _failed(f"the text states the answer {expected}", evidence, started)
        expression = expression_from_answer(expression_answer or "")
        if expression is None:
            return _failed("the independent solve wrote no expression", evidence, started)
        evidence["expression"] = expression[:200]
        try:
            value = _value_of(expression)
        except DivisionByZeroError:
            return _failed("the independent solve divides by zero", evidence, started)
        except ExpressionError as error:
            return _failed(f"the independent solve's expression is not arithmetic: {error}",
                           evidence, started)
        evidence["value"] = format_number(value)
        if value != expected:
            return _failed(f"the independent solve gives {format_number(value)}, not "
                           f"{expected}", evidence, started)
        return Verification(True, "ok", evidence, time.perf_counter() - started)


__all__ = ["DEFAULT_SETTINGS", "MAX_VALUE", "ArithmeticDomain", "ArithmeticVerifier",
           "evaluate_steps", "expression_from_answer", "final_number", "numbers_in",
           "parse_expression"]
