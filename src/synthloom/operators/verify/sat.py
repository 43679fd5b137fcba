"""The ``sat`` domain: planted random 3-CNF formulas with a unique solution, a clause-by-clause
verifier, and a DPLL solver whose cost is counted in decisions.

Why unique: Valiant and Vazirani (STOC 1985, "NP is as easy as detecting unique solutions")
showed SAT restricted to formulas with at most one solution is as hard as SAT under
randomised reductions, so uniqueness does not make problems easy; and with one solution,
"this literal is true in the solution" is a well-defined label at every search state, which
is what the learned branching policy of :mod:`synthloom.operators.verify.dpll` trains on.

Generation: a planted assignment is drawn first and each random 3-clause is resampled until
that assignment satisfies it (the planted-solution construction; see Achlioptas, Jia and
Moore, "Hiding satisfying assignments", AAAI 2004, on how it biases instances). Uniqueness
is then enforced with python-sat (Ignatiev, Morgado and Marques-Silva, "PySAT: A Python
Toolkit for Prototyping with SAT Oracles", SAT 2018): block the planted model, ask for
another; while one exists, add a random 3-clause the planted assignment satisfies and that
model falsifies.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Sequence
from typing import Any

from pysat.solvers import Solver

from synthloom.operators.verify.base import (
    Domain,
    Problem,
    SearchResult,
    Verification,
    register_domain,
)
from synthloom.operators.verify.dpll import RandomPolicy, solve_dpll

#: the python-sat back-end used for the uniqueness checks
PYSAT_SOLVER = "minisat22"


def _random_planted_clause(n_vars: int, planted: Sequence[int],
                           rng: random.Random) -> list[int]:
    while True:
        variables = rng.sample(range(1, n_vars + 1), 3)
        clause = [v if rng.random() < 0.5 else -v for v in variables]
        if any(planted[abs(lit) - 1] == lit for lit in clause):
            return clause


def planted_unique_3cnf(n_vars: int, ratio: float, rng: random.Random
                        ) -> tuple[list[list[int]], list[int]]:
    """A random 3-CNF with a planted assignment as its only satisfying assignment.

    Draws ``round(ratio * n_vars)`` clauses of 3 distinct variables with random signs, each
    resampled until the planted assignment satisfies it, then adds random 3-clauses that
    cut off every other model (see the module docstring: planted construction, uniqueness
    via python-sat, and why uniqueness matters after Valiant-Vazirani), so the result has
    slightly more than ``ratio * n_vars`` clauses.

    Returns:
        (clauses as DIMACS literal lists, planted assignment as signed literals for
        variables 1..n_vars in order).

    Raises:
        ValueError: ``n_vars < 3`` or ``ratio <= 0``.
    """
    if n_vars < 3 or not ratio > 0:
        raise ValueError(f"need n_vars >= 3 and ratio > 0 (got {n_vars}, {ratio})")
    planted = [v if rng.random() < 0.5 else -v for v in range(1, n_vars + 1)]
    clauses = [_random_planted_clause(n_vars, planted, rng)
               for _ in range(max(1, round(ratio * n_vars)))]
    with Solver(name=PYSAT_SOLVER, bootstrap_with=clauses) as solver:
        solver.add_clause([-lit for lit in planted])
        while solver.solve():
            other = {abs(lit): lit for lit in solver.get_model()}
            differing = [v for v in range(1, n_vars + 1) if other.get(v, -planted[v - 1])
                         != planted[v - 1]]
            first = rng.choice(differing)
            rest = rng.sample([v for v in range(1, n_vars + 1) if v != first], 2)
            # every literal is false under the other model; ``first``'s is true when planted
            clause = [-other.get(v, -planted[v - 1]) for v in [first, *rest]]
            rng.shuffle(clause)
            clauses.append(clause)
            solver.add_clause(clause)
    return clauses, planted


def is_unique(clauses: Sequence[Sequence[int]], assignment: Sequence[int]) -> bool:
    """True when ``assignment`` (signed literals) satisfies every clause and python-sat
    finds no other model once it is blocked."""
    chosen = set(int(lit) for lit in assignment)
    if not all(any(lit in chosen for lit in clause) for clause in clauses):
        return False
    with Solver(name=PYSAT_SOLVER, bootstrap_with=[list(c) for c in clauses]) as solver:
        solver.add_clause([-int(lit) for lit in assignment])
        return not solver.solve()


def _failed(reason: str, evidence: dict[str, Any], started: float) -> Verification:
    return Verification(False, reason, evidence, time.perf_counter() - started)


class SatVerifier:
    """Checks a candidate assignment against a CNF clause by clause (O(total literals)).

    ``spec = {"n_vars": int, "clauses": [[int, ...], ...]}``; the candidate is DIMACS
    literals separated by whitespace (``"1 -2 3 -4"``, an optional trailing ``0``). Every
    variable 1..n_vars must appear exactly once with one sign. Never raises: a malformed
    candidate or spec fails with a one-line reason and evidence.
    """

    name = "sat.clause_check"

    def verify(self, spec: dict[str, Any], candidate: str) -> Verification:
        started = time.perf_counter()
        try:
            n_vars, clauses = int(spec["n_vars"]), spec["clauses"]
            if n_vars < 0 or not isinstance(clauses, list):
                raise ValueError(n_vars)
        except (KeyError, TypeError, ValueError):
            return _failed("malformed spec: need n_vars and clauses", {}, started)
        if not isinstance(candidate, str):
            return _failed("candidate is not text", {"type": type(candidate).__name__},
                           started)
        tokens = candidate.split()
        if tokens and tokens[-1] == "0":
            tokens.pop()
        if not tokens and n_vars:
            return _failed("no literals given", {"missing_count": n_vars}, started)
        values: dict[int, int] = {}
        for position, token in enumerate(tokens):
            try:
                lit = int(token)
            except ValueError:
                return _failed(f"unparsable token {token[:40]!r} at position {position}",
                               {"token": token[:40], "position": position}, started)
            if lit == 0 or abs(lit) > n_vars:
                return _failed(f"literal {lit} is outside variables 1..{n_vars}",
                               {"literal": lit, "position": position}, started)
            if values.get(abs(lit), lit) != lit:
                return _failed(f"variable {abs(lit)} given both signs",
                               {"variable": abs(lit)}, started)
            values[abs(lit)] = lit
        missing = [v for v in range(1, n_vars + 1) if v not in values]
        if missing:
            shown = " ".join(str(v) for v in missing[:10]) + (" ..." if len(missing) > 10
                                                              else "")
            return _failed(f"{len(missing)} variables missing: {shown}",
                           {"missing": missing[:50], "missing_count": len(missing)}, started)
        try:
            for index, clause in enumerate(clauses):
                if not any(values.get(abs(lit)) == lit for lit in clause):
                    shown = " ".join(str(lit) for lit in clause)
                    return _failed(f"clause {index} ({shown}) is false",
                                   {"clause_index": index, "clause": list(clause)}, started)
        except TypeError:
            return _failed("malformed spec: clauses must be lists of integers", {}, started)
        return Verification(True, "ok", {"clauses_checked": len(clauses)},
                            time.perf_counter() - started)


def dimacs(n_vars: int, clauses: Sequence[Sequence[int]]) -> str:
    """The formula in DIMACS CNF: a ``p cnf`` header then one ``0``-terminated clause a line."""
    lines = [f"p cnf {n_vars} {len(clauses)}"]
    lines += [" ".join(str(lit) for lit in clause) + " 0" for clause in clauses]
    return "\n".join(lines)


def formula_text(n_vars: int, clauses: Sequence[Sequence[int]]) -> str:
    """The problem statement shown to a solver: the task in one sentence, then DIMACS."""
    return ("Find true/false values for the variables 1.."
            f"{n_vars} that make every clause of this CNF formula true. Each line "
            "after the header is a clause: a positive number is a variable, a "
            "negative number its negation, 0 ends the clause.\n" + dimacs(n_vars, clauses))


_SIGNED_INTS = re.compile(r"^[+-]?\d+(?:[\s,]+[+-]?\d+)*$")
_ASSIGNMENT_LINE = re.compile(r"assignment\s*:(.*)$", re.IGNORECASE)


@register_domain
class SatDomain(Domain):
    """Find the satisfying assignment of a planted random 3-CNF with a unique solution.

    Problems: :func:`planted_unique_3cnf`; the spec holds only ``n_vars`` and ``clauses``
    (nothing that gives the answer away). Verifier: :class:`SatVerifier`. Solver: DPLL with
    the untrained (random, seed 0) branching policy; cost in ``decisions``.
    """

    name = "sat"
    cost_unit = "decisions"
    verifier = SatVerifier()

    def problems(self, n: int, seed: int, **options: Any) -> list[Problem]:
        """``n`` formulas from ``random.Random(seed)`` (a prefix of a longer list with the
        same seed). Options: ``n_vars`` (int, default 20), ``ratio`` (clauses per variable
        before the uniqueness clauses, default 4.26).

        Raises:
            ValueError: an unknown option, ``n < 0``, ``n_vars < 3`` or ``ratio <= 0``.
        """
        unknown = set(options) - {"n_vars", "ratio"}
        if unknown:
            raise ValueError(f"the sat domain has no option(s) {sorted(unknown)}; "
                             "known: n_vars, ratio")
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        n_vars, ratio = int(options.get("n_vars", 20)), float(options.get("ratio", 4.26))
        rng = random.Random(seed)
        found = []
        for _ in range(n):
            clauses, _planted = planted_unique_3cnf(n_vars, ratio, rng)
            text = formula_text(n_vars, clauses)
            found.append(Problem(domain=self.name, text=text,
                                 spec={"n_vars": n_vars, "clauses": clauses}))
        return found

    def prompt(self, problem: Problem) -> list[dict[str, str]]:
        n_vars = problem.spec["n_vars"]
        return [
            {"role": "system", "content": "You solve Boolean satisfiability problems. Reason "
             "step by step, then give the answer on its own line."},
            {"role": "user", "content": problem.text + "\n\nEnd with one line of the form "
             f"'Assignment: 1 -2 3 ...' listing every variable 1..{n_vars} once: the "
             "number if the variable is true, its negation if false."},
        ]

    def candidate(self, answer: str) -> str | None:
        """The literals of the last ``Assignment:`` line (whitespace-normalised, commas
        dropped, as written otherwise so the verifier can name a bad token), else of the
        last line made only of signed integers; None when neither exists."""
        lines = answer.splitlines()
        for line in reversed(lines):
            match = _ASSIGNMENT_LINE.search(line)
            if match:
                literals = " ".join(match.group(1).replace(",", " ").split())
                return literals or None
        for line in reversed(lines):
            if _SIGNED_INTS.match(line.strip()):
                return " ".join(line.replace(",", " ").split())
        return None

    def answer_key(self, candidate: str) -> str:
        """The literals sorted by variable (a trailing 0 dropped); the normalised text when
        the candidate does not parse."""
        try:
            literals = [int(token) for token in candidate.split()]
        except ValueError:
            return " ".join(candidate.split())
        if literals and literals[-1] == 0:
            literals.pop()
        return " ".join(str(lit) for lit in sorted(literals, key=abs))

    def solve(self, problem: Problem, budget: int | None = None) -> SearchResult:
        """DPLL with the untrained (``RandomPolicy(0)``) policy within ``budget`` decisions;
        cost ``{"decisions", "propagations", "conflicts"}``."""
        result = solve_dpll(problem.spec["clauses"], problem.spec["n_vars"], RandomPolicy(0),
                            budget=budget)
        candidate = None
        if result.assignment is not None:
            candidate = " ".join(str(lit) for lit in result.assignment)
        return SearchResult(candidate=candidate, cost=result.cost)

    def solution_text(self, problem: Problem, candidate: str) -> str:
        """``Assignment: <literals>``, the line the prompt asks for."""
        return f"Assignment: {' '.join(candidate.split())}"


__all__ = ["SatDomain", "SatVerifier", "dimacs", "formula_text", "is_unique", "planted_unique_3cnf"]
