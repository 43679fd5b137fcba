"""The ``game24`` domain: reach 24 from four numbers with + - * / and parentheses.

Game of 24 as used by Tree of Thoughts (Yao et al., "Tree of Thoughts: Deliberate Problem
Solving with Large Language Models", arXiv 2305.10601): each of the four numbers is used
exactly once, only ``+ - * /`` and parentheses are allowed (no unary minus, no
concatenation, no powers), intermediate values may be fractions or negative.

- Real problems: the 1,362 puzzles of ToT's ``tot/data/24/24.csv`` (scraped from
  4nums.com, ranked by human solving time); ToT tests on indices 900-999. The file is read
  from the installed ``tree-of-thoughts-llm`` package (installed with ``--no-deps``; the
  package itself is never imported).
- Generated problems: random hands of four numbers in 1..13 that :func:`solve_24` solves.
  Every solvable hand of 1..13 is in the ToT file, so generated hands differ from real ones
  in how they are sampled (uniformly, not by rank), not in kind.
- Verifier: :class:`Game24Verifier`, exact arithmetic with :class:`fractions.Fraction`.
- Solver: :func:`solve_24`, exhaustive search combining two numbers at a time; cost in
  ``nodes`` (search states visited; at most 4,573 for four numbers).
"""

from __future__ import annotations

import csv
import importlib.metadata
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

from synthloom.operators.verify.base import (
    Domain,
    Problem,
    SearchResult,
    Verification,
    register_domain,
)
from synthloom.operators.verify.expressions import (
    DivisionByZeroError,
    ExpressionError,
    evaluate_expression,
    format_number,
    normalise_expression,
)

TARGET = 24

#: how many hands of four numbers in 1..13 (as multisets) can reach 24: exactly the 1,362
#: puzzles of the ToT file
SOLVABLE_HANDS = 1362

#: how to install the puzzle file when it is missing
TOT_INSTALL = "pip install --no-deps tree-of-thoughts-llm==0.1.0"

#: the source names of the real puzzle set (``real_source`` and the short form)
TOT_SOURCES = ("tot-24", "tot")

#: ToT's 5-shot "standard" (input-output) prompt, copied verbatim from
#: princeton-nlp/tree-of-thought-llm, tot/prompts/game24.py ``standard_prompt``
#: (MIT License, Copyright (c) 2023 Shunyu Yao); ``{input}`` is the four numbers.
STANDARD_PROMPT = '''Use numbers and basic arithmetic operations (+ - * /) to obtain 24.
Input: 4 4 6 8
Answer: (4 + 8) * (6 - 4) = 24
Input: 2 9 10 12
Answer: 2 * 12 * (10 - 9) = 24
Input: 4 9 10 13
Answer: (13 - 9) * (10 - 4) = 24
Input: 1 4 8 8
Answer: (8 / 4 + 1) * 8 = 24
Input: 5 5 5 9
Answer: 5 + 5 + 5 + 9 = 24
Input: {input}
'''

_ANSWER_LINE = re.compile(r"^[\W_]*answer\W*?:(.*)$", re.IGNORECASE | re.MULTILINE)
_EQUALS_24_LINE = re.compile(r"^(.*=\s*24)[\s.*`$]*$", re.MULTILINE)


@lru_cache(maxsize=1)
def _tot_rows() -> tuple[tuple[int, tuple[int, ...]], ...]:
    try:
        distribution = importlib.metadata.distribution("tree-of-thoughts-llm")
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError("the Game of 24 puzzles come from the tree-of-thoughts-llm "
                                f"package, which is not installed: {TOT_INSTALL}") from None
    path = Path(str(distribution.locate_file("tot/data/24/24.csv")))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with: {TOT_INSTALL}")
    with path.open(newline="", encoding="utf-8") as handle:
        return tuple((int(row["Rank"]), tuple(int(x) for x in row["Puzzles"].split()))
                     for row in csv.DictReader(handle))


def tot_puzzles() -> list[list[int]]:
    """The 1,362 Game-of-24 puzzles of Tree of Thoughts (arXiv 2305.10601) in rank order
    (rank 1, the fastest for people, first); each is four ints in 1..13, ascending.
    Index ``i`` is rank ``i + 1``; ToT's test set is indices 900-999.

    Raises:
        FileNotFoundError: ``tree-of-thoughts-llm`` (or its ``tot/data/24/24.csv``) is not
            installed; the message gives the ``pip install --no-deps`` command.
    """
    return [list(numbers) for _rank, numbers in _tot_rows()]


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _number_problems(used: Sequence[int], puzzle: Sequence[int]) -> list[str]:
    used_counts, puzzle_counts = Counter(used), Counter(puzzle)
    problems = []
    for number in sorted(set(used_counts) | set(puzzle_counts)):
        u, p = used_counts[number], puzzle_counts[number]
        if u == p:
            continue
        if p == 0:
            problems.append(f"uses {number}, which is not one of the numbers")
        elif u == 0:
            problems.append(f"does not use {number}")
        elif p == 1:
            problems.append(f"uses {number} {_times(u)}")
        else:
            problems.append(f"uses {number} {_times(u)}, not {_times(p)}")
    return problems


def expression_of(candidate: str) -> str:
    """The expression part of a candidate: the text before the first ``=`` (so ``"(4 + 8)
    * (6 - 4) = 24"`` -> ``"(4 + 8) * (6 - 4)"``), typographic operators made ASCII,
    surrounding whitespace and a trailing full stop dropped."""
    expression = normalise_expression(candidate.split("=", 1)[0])
    return expression.rstrip(". ").strip()


class Game24Verifier:
    """Checks a Game-of-24 expression: the four numbers each used exactly once, only
    ``+ - * /`` and parentheses, exact value 24 (ToT rules, arXiv 2305.10601).

    ``spec = {"numbers": [a, b, c, d]}`` (ints); the candidate is an expression text, an
    optional ``= 24`` (anything after the first ``=`` is ignored). Evaluation is exact
    (:class:`fractions.Fraction`), so ``8 / (3 - 8 / 3)`` counts as 24. Never raises: a bad
    candidate or spec fails with a one-line reason ("uses 5 twice", "does not use 8",
    "equals 22, not 24", "division by zero", "not an arithmetic expression: ..."). Evidence:
    ``expression``, and when it evaluates ``value`` (exact, ``"22"`` or ``"7/3"``) and
    ``numbers_used`` (in reading order).
    """

    name = "game24.exact"

    def verify(self, spec: dict[str, Any], candidate: str) -> Verification:
        started = time.perf_counter()

        def failed(reason: str, **evidence: Any) -> Verification:
            return Verification(False, reason, evidence, time.perf_counter() - started)

        try:
            puzzle = [int(x) for x in spec["numbers"]]
        except (KeyError, TypeError, ValueError):
            return failed("malformed spec: need numbers, a list of integers")
        if not isinstance(candidate, str):
            return failed("candidate is not text", type=type(candidate).__name__)
        expression = expression_of(candidate)
        try:
            evaluation = evaluate_expression(expression)
        except DivisionByZeroError:
            return failed("division by zero", expression=expression[:200])
        except ExpressionError as error:
            return failed(f"not an arithmetic expression: {error}",
                          expression=expression[:200])
        used = [int(number) for number in evaluation.numbers]
        evidence = {"expression": expression, "value": format_number(evaluation.value),
                    "numbers_used": used, "numbers": puzzle}
        wrong_numbers = _number_problems(used, puzzle)
        if wrong_numbers:
            return failed("; ".join(wrong_numbers), **evidence)
        if evaluation.value != TARGET:
            return failed(f"equals {format_number(evaluation.value)}, not {TARGET}",
                          **evidence)
        return Verification(True, "ok", evidence, time.perf_counter() - started)


# an expression under construction: (exact value, text, precedence: 1 + -, 2 * /, 3 atom)
_Term = tuple[Fraction, str, int]


def _wrap(term: _Term, needs_parentheses: bool) -> str:
    return f"({term[1]})" if needs_parentheses else term[1]


def _combinations(a: _Term, b: _Term) -> list[_Term]:
    """Every value two terms make with one operator (both orders for - and /)."""
    found = [(a[0] + b[0], f"{a[1]} + {b[1]}", 1),
             (a[0] * b[0], f"{_wrap(a, a[2] == 1)} * {_wrap(b, b[2] == 1)}", 2),
             (a[0] - b[0], f"{a[1]} - {_wrap(b, b[2] == 1)}", 1),
             (b[0] - a[0], f"{b[1]} - {_wrap(a, a[2] == 1)}", 1)]
    if b[0] != 0:
        found.append((a[0] / b[0], f"{_wrap(a, a[2] == 1)} / {_wrap(b, b[2] <= 2)}", 2))
    if a[0] != 0:
        found.append((b[0] / a[0], f"{_wrap(b, b[2] == 1)} / {_wrap(a, a[2] <= 2)}", 2))
    return found


def solve_24(numbers: Sequence[int], max_nodes: int | None = None,
             target: int = TARGET) -> tuple[str | None, int]:
    """Exhaustive search for an expression that reaches ``target`` with each number once.

    Repeatedly replaces two remaining terms by their sum, product, either difference or
    either quotient (exact fractions) until one term is left. A node is one search state
    (a multiset of remaining terms) visited; four numbers take at most 4,573 nodes.

    Args:
        numbers: the numbers (ints; any count >= 1, four in the game).
        max_nodes: stop after this many nodes (None: no limit).
        target: the value to reach (24 in the game).

    Returns:
        (an expression such as ``"(4 + 8) * (6 - 4)"`` or None when there is none or the
        budget ran out, nodes visited).
    """
    nodes = 0

    def search(terms: list[_Term]) -> str | None:
        nonlocal nodes
        if max_nodes is not None and nodes >= max_nodes:
            return None
        nodes += 1
        if len(terms) == 1:
            return terms[0][1] if terms[0][0] == target else None
        for i in range(len(terms)):
            for j in range(i + 1, len(terms)):
                rest = [t for k, t in enumerate(terms) if k not in (i, j)]
                for combined in _combinations(terms[i], terms[j]):
                    found = search([*rest, combined])
                    if found is not None:
                        return found
        return None

    if not numbers:
        return None, 0
    expression = search([(Fraction(int(x)), str(int(x)), 3) for x in numbers])
    return expression, nodes


@register_domain
class Game24Domain(Domain):
    """Game of 24 (Tree of Thoughts, Yao et al., arXiv 2305.10601): real ToT puzzles or
    generated solvable hands, the exact verifier, ToT's 5-shot standard prompt, and the
    exhaustive solver (cost in ``nodes``).

    Majority vote over ``answer_key`` (the expression without whitespace) is the natural
    self-consistency baseline here (Wang et al., arXiv 2203.11171): the vote picks the
    expression written most often, but two different correct expressions never agree, so it
    favours answers the model repeats verbatim and does not know whether they reach 24.
    """

    name = "game24"
    cost_unit = "nodes"
    real_source = "tot-24"
    verifier = Game24Verifier()

    def problems(self, n: int, seed: int, **options: Any) -> list[Problem]:
        """``n`` problems, text ``"a b c d"`` and ``spec = {"numbers": [a, b, c, d]}``.

        Options:
            source: ``"generated"`` (default): hands of four numbers in 1..13, ascending,
                drawn from ``random.Random(seed)`` and kept when :func:`solve_24` solves
                them, no hand twice in one call (at most 1,362 exist); ``real=False``.
                ``"tot-24"`` (or ``"tot"``): the ToT puzzles at indices ``start`` ..
                ``start + n - 1`` (``seed`` is unused); ``real=True``, source
                ``"tot-24#<rank>"`` where rank = index + 1.
            start: first index into the ToT file (0-based like ToT's
                ``--task_start_index``; default 900, the start of ToT's test range).

        Raises:
            ValueError: an unknown option or source, ``n < 0``, ``start`` with the
                generated source, or a range beyond the 1,362 puzzles.
            FileNotFoundError: the ToT package is not installed (real source).
        """
        source = options.pop("source", "generated")
        unknown = set(options) - {"start"}
        if unknown:
            raise ValueError(f"the game24 domain has no option(s) {sorted(unknown)}; "
                             "known: source, start")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if source in TOT_SOURCES:
            return self._real(n, int(options.get("start", 900)))
        if source != "generated":
            raise ValueError(f"source {source!r}: the game24 sources are generated, tot-24")
        if "start" in options:
            raise ValueError("start applies to the tot-24 source, not to generated hands")
        return self._generated(n, seed)

    def _real(self, n: int, start: int) -> list[Problem]:
        rows = _tot_rows()
        if start < 0 or start + n > len(rows):
            raise ValueError(f"ToT puzzles {start}..{start + n - 1} requested; the file has "
                             f"indices 0..{len(rows) - 1}")
        return [Problem(domain=self.name, text=" ".join(str(x) for x in numbers),
                        spec={"numbers": list(numbers)}, source=f"tot-24#{rank}", real=True)
                for rank, numbers in rows[start:start + n]]

    def _generated(self, n: int, seed: int) -> list[Problem]:
        if n > SOLVABLE_HANDS:
            raise ValueError(f"only {SOLVABLE_HANDS} distinct solvable hands exist; asked "
                             f"for {n}")
        rng = random.Random(seed)
        seen: set[tuple[int, ...]] = set()
        found = []
        while len(found) < n:
            hand = tuple(sorted(rng.randint(1, 13) for _ in range(4)))
            if hand in seen:
                continue
            seen.add(hand)
            if solve_24(hand)[0] is not None:
                found.append(Problem(domain=self.name, text=" ".join(map(str, hand)),
                                     spec={"numbers": list(hand)}))
        return found

    def available(self, source: str = "generated", **options: Any) -> int | None:
        """Puzzles left from ``start`` (default 900) for the real source; None (no limit)
        for generated hands."""
        if source in TOT_SOURCES:
            return max(0, len(_tot_rows()) - int(options.get("start", 900)))
        return None

    def prompt(self, problem: Problem) -> list[dict[str, str]]:
        """ToT's 5-shot standard prompt (:data:`STANDARD_PROMPT`) as chat turns: its
        instruction as the system message, each shot as a user ``Input: ...`` and an
        assistant ``Answer: ... = 24``, then ``Input: <the four numbers>``. (As one user
        message, a small chat model explains the shots instead of answering.)"""
        instruction, *lines = STANDARD_PROMPT.format(input=problem.text).strip().split("\n")
        messages = [{"role": "system", "content": instruction}]
        for line in lines:
            role = "user" if line.startswith("Input:") else "assistant"
            messages.append({"role": role, "content": line})
        return messages

    def candidate(self, answer: str) -> str | None:
        """The expression on the first ``Answer:`` line or, with none, on the first line
        that ends in ``= 24`` (``= 24`` and what follows dropped; markdown bold, backticks
        and ``$`` around it stripped); None when there is no such line or it is empty."""
        match = _ANSWER_LINE.search(answer) or _EQUALS_24_LINE.search(answer)
        if match is None:
            return None
        expression = expression_of(match.group(1).strip().strip("*`$ "))
        return expression.strip("*`$ ") or None

    def answer_key(self, candidate: str) -> str:
        """The expression with all whitespace removed (``"(4+8)*(6-4)"``); majority vote
        over it is the self-consistency baseline (see the class docstring)."""
        return "".join(expression_of(candidate).split())

    def solve(self, problem: Problem, budget: int | None = None) -> SearchResult:
        """:func:`solve_24` within ``budget`` nodes; cost ``{"nodes": visited}``."""
        expression, nodes = solve_24(problem.spec["numbers"], max_nodes=budget)
        return SearchResult(candidate=expression, cost={"nodes": nodes})

    def solution_text(self, problem: Problem, candidate: str) -> str:
        """``<expression> = 24``, the format of the prompt's answers."""
        return f"{expression_of(candidate)} = {TARGET}"


__all__ = ["SOLVABLE_HANDS", "STANDARD_PROMPT", "TOT_INSTALL", "Game24Domain", "Game24Verifier",
           "expression_of", "solve_24", "tot_puzzles"]
