"""The sat domain: unique planted formulas, the clause verifier, DPLL and its policies, and
the expert-iteration loop."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysat.solvers import Solver

from synthloom.operators.verify.base import DOMAINS
from synthloom.operators.verify.dpll import (
    FEATURE_NAMES,
    JeroslowWangPolicy,
    LearnedPolicy,
    RandomPolicy,
    solve_dpll,
    state_after,
    training_examples,
)
from synthloom.operators.verify.sat import (
    SatDomain,
    SatVerifier,
    is_unique,
    planted_unique_3cnf,
)
from synthloom.operators.verify.sat_bootstrap import bootstrap

VERIFIER = SatVerifier()


def _formula(n_vars: int = 16, seed: int = 0) -> tuple[list[list[int]], list[int]]:
    return planted_unique_3cnf(n_vars, 4.26, random.Random(seed))


def _spec(clauses: list[list[int]], n_vars: int) -> dict:
    return {"n_vars": n_vars, "clauses": clauses}


def _text(literals: list[int]) -> str:
    return " ".join(str(lit) for lit in literals)


@pytest.mark.parametrize("seed", range(4))
def test_planted_formula_is_satisfied_and_has_no_second_model(seed: int) -> None:
    clauses, planted = _formula(14 + seed, seed)
    assert sorted(abs(lit) for lit in planted) == list(range(1, 15 + seed))
    assert len(clauses) >= round(4.26 * (14 + seed))
    assert all(len({abs(lit) for lit in clause}) == 3 for clause in clauses)
    assert all(any(lit in planted for lit in clause) for clause in clauses)
    with Solver(name="minisat22", bootstrap_with=clauses) as solver:
        solver.add_clause([-lit for lit in planted])
        assert not solver.solve()
    assert is_unique(clauses, planted)


def test_is_unique_is_false_with_two_models_or_a_wrong_assignment() -> None:
    assert not is_unique([[1, 2, 3]], [1, 2, 3])
    clauses, planted = _formula()
    assert not is_unique(clauses, [-planted[0], *planted[1:]])


def test_verifier_accepts_the_planted_assignment_with_or_without_trailing_zero() -> None:
    clauses, planted = _formula()
    for candidate in (_text(planted), _text(planted) + " 0", _text(planted[::-1])):
        result = VERIFIER.verify(_spec(clauses, 16), candidate)
        assert result.passed and result.reason == "ok"
        assert result.evidence == {"clauses_checked": len(clauses)}


def test_verifier_names_the_first_false_clause_of_a_flipped_assignment() -> None:
    clauses, planted = _formula()
    flipped = [-planted[0], *planted[1:]]
    result = VERIFIER.verify(_spec(clauses, 16), _text(flipped))
    index = result.evidence["clause_index"]
    assert not result.passed and f"clause {index}" in result.reason
    assert result.evidence["clause"] == clauses[index]
    assert not any(lit in flipped for lit in clauses[index])
    assert all(any(lit in flipped for lit in clause) for clause in clauses[:index])


@pytest.mark.parametrize(("candidate", "words", "evidence_key"), [
    ("1 -2 x3 4", "unparsable", "token"),
    ("1 -2 3 5", "outside", "literal"),
    ("1 -2 3 -1 4", "both signs", "variable"),
    ("1 -2 3", "missing", "missing"),
    ("", "no literals", "missing_count"),
    ("1 0 -2 3 4", "outside", "literal"),
])
def test_verifier_rejects_malformed_candidates_with_a_reason(candidate: str, words: str,
                                                             evidence_key: str) -> None:
    result = VERIFIER.verify(_spec([[1, 2, 3], [-2, 3, 4]], 4), candidate)
    assert not result.passed and words in result.reason and "\n" not in result.reason
    assert evidence_key in result.evidence


def test_verifier_fails_on_a_bad_spec_or_non_text_candidate() -> None:
    assert not VERIFIER.verify({"clauses": [[1]]}, "1").passed
    assert not VERIFIER.verify({"n_vars": 1, "clauses": [["a"]]}, "1").passed
    assert not VERIFIER.verify(_spec([[1]], 1), None).passed  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789- +x,\n\t")) | st.characters(),
               max_size=60))
def test_verifier_never_raises_on_any_text(candidate: str) -> None:
    result = VERIFIER.verify(_spec([[1, -2, 3], [-1, 2, 4], [2, 3, -4]], 4), candidate)
    assert isinstance(result.passed, bool) and result.reason and "\n" not in result.reason


@pytest.mark.parametrize("policy", [RandomPolicy(3), JeroslowWangPolicy()],
                         ids=lambda p: p.name)
def test_dpll_finds_the_unique_assignment_and_it_verifies(policy) -> None:
    for seed in range(3):
        clauses, planted = _formula(30, seed)
        result = solve_dpll(clauses, 30, policy)
        assert result.status == "sat" and result.assignment == planted
        assert VERIFIER.verify(_spec(clauses, 30), _text(result.assignment)).passed
        assert set(result.cost) == {"decisions", "propagations", "conflicts"}
        assert result.decisions >= 1 and all(set(p) <= set(planted) for p in result.path)


def test_dpll_agrees_with_pysat_on_random_formulas() -> None:
    rng = random.Random(7)
    outcomes = set()
    for _ in range(150):
        n_vars = rng.randint(3, 9)
        clauses = [[v * rng.choice((1, -1)) for v in rng.sample(range(1, n_vars + 1),
                                                               rng.randint(1, 3))]
                   for _ in range(rng.randint(1, 5 * n_vars))]
        with Solver(name="minisat22", bootstrap_with=clauses) as solver:
            expected = solver.solve()
        result = solve_dpll(clauses, n_vars, RandomPolicy(rng.random()))
        assert (result.status == "sat") == expected
        if expected:
            assert VERIFIER.verify(_spec(clauses, n_vars), _text(result.assignment)).passed
        outcomes.add(expected)
    assert outcomes == {True, False}


def test_dpll_reports_unsat_and_running_out_of_budget() -> None:
    every_sign = [[a * 1, b * 2, c * 3] for a in (1, -1) for b in (1, -1) for c in (1, -1)]
    result = solve_dpll(every_sign, 3, JeroslowWangPolicy())
    assert result.status == "unsat" and result.assignment is None and result.conflicts >= 1
    assert solve_dpll([[1], [-1]], 1, RandomPolicy()).status == "unsat"
    clauses, _ = _formula(60, 1)
    over = solve_dpll(clauses, 60, RandomPolicy(0), budget=3)
    assert over.status == "budget" and over.assignment is None and over.decisions == 3
    with pytest.raises(ValueError):
        solve_dpll([[1, 5]], 3, RandomPolicy())


def test_training_examples_label_literals_by_the_solution() -> None:
    clauses, planted = _formula(30, 2)
    features, labels = training_examples(clauses, 30, planted, policy=RandomPolicy(1))
    assert features.shape == (len(labels), len(FEATURE_NAMES)) and len(labels) > 0
    assert labels.mean() == pytest.approx(0.5)  # both signs of every unassigned variable
    search = solve_dpll(clauses, 30, RandomPolicy(1))
    literals, root = state_after(clauses, 30, search.path[0]).literal_features()
    np.testing.assert_array_equal(features[:len(literals)], root)
    np.testing.assert_array_equal(labels[:len(literals)],
                                  [int(lit in planted) for lit in literals])


def test_learned_policy_fits_and_rejects_one_label() -> None:
    clauses, planted = _formula(30, 3)
    features, labels = training_examples(clauses, 30, planted)
    policy = LearnedPolicy.fit(features, labels)
    result = solve_dpll(clauses, 30, policy)
    assert result.assignment == planted
    literals, probabilities = policy.probabilities(state_after(clauses, 30, []))
    assert len(literals) == len(probabilities) == 60 and 0 < probabilities.min()
    with pytest.raises(ValueError):
        LearnedPolicy.fit(features, np.ones_like(labels))


def test_domain_problems_prompt_candidate_solve() -> None:
    domain = DOMAINS["sat"]()
    assert isinstance(domain, SatDomain) and domain.cost_unit == "decisions"
    problems = domain.problems(3, seed=1, n_vars=12)
    assert problems == domain.problems(3, seed=1, n_vars=12)[:3]
    assert all(set(p.spec) == {"n_vars", "clauses"} and "p cnf 12" in p.text
               for p in problems)
    assert "Assignment:" in domain.prompt(problems[0])[-1]["content"]
    found = domain.solve(problems[0], budget=1000)
    assert found.candidate and domain.verifier.verify(problems[0].spec, found.candidate).passed
    assert found.cost["decisions"] >= 1
    answer = "Reasoning...\n" + domain.solution_text(problems[0], found.candidate)
    assert domain.candidate(answer) == found.candidate
    assert domain.candidate("so:\n1, -2, 3\nthanks") == "1 -2 3"
    assert domain.candidate("Assignment: 1 -2 x") == "1 -2 x"
    assert domain.candidate("no numbers here") is None
    assert domain.answer_key("3 -1 2 0") == domain.answer_key("-1 2 3")
    with pytest.raises(ValueError):
        domain.problems(1, seed=0, variables=12)


def test_short_bootstrap_rows_and_kept_pairs() -> None:
    result = bootstrap(n_vars=16, rounds=2, train_per_round=3, held_out=3, budget=300,
                       seed=0, sizes=(10, 14), per_size=2)
    assert [row["round"] for row in result.rows] == [0, 1]
    assert [row["policy"] for row in result.rows] == ["random", "learned"]
    first = result.rows[0]
    for key in ("generated", "attempted", "solved", "verified", "kept", "search_decisions",
                "trained_on_formulas", "training_examples", "solve_rate", "median_decisions",
                "mean_decisions", "median_conflicts", "cost_ratio", "reachable_size",
                "size_solve_rates", "seconds"):
        assert key in first
    assert first["cost_ratio"] == 1.0 and first["trained_on_formulas"] == 0
    assert result.rows[1]["trained_on_formulas"] == first["kept"] > 0
    assert first["reachable_size"] == 14
    for pair in result.kept:
        assert pair["verifier_reason"] == "ok"
        assert VERIFIER.verify(_spec(pair["clauses"], 16), _text(pair["assignment"])).passed


def test_learned_policy_needs_fewer_decisions_than_random_on_held_out() -> None:
    rows = bootstrap(n_vars=50, rounds=2, train_per_round=10, held_out=12, budget=3000,
                     seed=0).rows
    assert rows[1]["median_decisions_censored"] < 0.75 * rows[0]["median_decisions_censored"]
    assert rows[1]["solve_rate"] >= rows[0]["solve_rate"]
