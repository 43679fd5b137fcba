"""Expert iteration for SAT: search, keep only verified solutions, learn a branching policy
from them, search again with it.

Expert iteration (Anthony, Tian and Barber, "Thinking Fast and Slow with Deep Learning and
Tree Search", arXiv 1705.08439) alternates a slow expert (here DPLL search within a
decision budget) with a fast apprentice (here a logistic-regression branching policy) that
imitates what the expert found, and the apprentice then guides the next search. Only
solutions the verifier accepts become training data, so the loop never learns from an
unchecked answer.

Round ``r`` (0-based):

1. its policy pi_r is the untrained :class:`RandomPolicy` for ``r == 0`` and otherwise the
   :class:`LearnedPolicy` trained on every formula kept in rounds ``0 .. r-1``;
2. ``train_per_round`` new formulas are searched with pi_r within ``budget`` decisions;
   every assignment found is checked by :class:`SatVerifier`; verified ones are kept and
   the decision states on their final search path become labelled examples
   (:func:`~synthloom.operators.verify.dpll.training_examples`);
3. pi_r is evaluated on the FIXED held-out set (and the per-size sets for ``sizes``).

So row ``r`` reports the policy that searched in round ``r`` -- trained BEFORE round r's
search -- and row 0 is always the untrained policy. The examples kept in the last round
train no evaluated policy; they are still returned in ``kept``.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from synthloom.operators.verify.dpll import (
    BranchingPolicy,
    LearnedPolicy,
    RandomPolicy,
    solve_dpll,
    training_examples,
)
from synthloom.operators.verify.sat import SatVerifier, planted_unique_3cnf

#: one formula: (clauses as DIMACS literal lists, n_vars)
Formula = tuple[list[list[int]], int]
#: builds the policy for the i-th formula of a set (random policies get a seed per formula)
PolicyFactory = Callable[[int], BranchingPolicy]


@dataclass
class BootstrapResult:
    """What :func:`bootstrap` measured and kept.

    Attributes:
        rows: one JSON-able dict per round, round 0 (untrained policy) first; keys:
            ``round``, ``policy`` (``random``/``learned``), ``trained_on_formulas``,
            ``training_examples`` (what pi_r was trained on); the round's search:
            ``generated``, ``attempted``, ``solved``, ``verified``, ``kept`` (formulas),
            ``search_decisions`` (decisions spent), ``search_seconds``; pi_r on the held-out
            set (see :func:`evaluate_policy`): ``held_out``, ``held_out_solved``,
            ``solve_rate``, ``median_decisions``, ``mean_decisions``,
            ``median_conflicts``, ``median_decisions_censored``; ``cost_ratio`` = this
            round's ``median_decisions`` / round 0's (None when either is None);
            ``reachable_size`` and ``size_solve_rates`` (see :func:`reachable_size`);
            ``seconds`` (wall time of the round).
        kept: one dict per verified pair: ``round``, ``n_vars``, ``clauses``,
            ``assignment`` (signed literals), ``decisions``, ``propagations``,
            ``conflicts``, ``verifier`` (its name) and ``verifier_reason``.
        policies: pi_0 .. pi_{rounds-1} (not JSON; for further evaluation).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    policies: list[BranchingPolicy] = field(default_factory=list)


def _formulas(tag: str, n_vars: int, count: int, ratio: float) -> list[Formula]:
    rng = random.Random(tag)
    return [(planted_unique_3cnf(n_vars, ratio, rng)[0], n_vars) for _ in range(count)]


def held_out_formulas(n_vars: int, count: int, seed: int, ratio: float = 4.26
                      ) -> list[Formula]:
    """The fixed held-out set of :func:`bootstrap`: ``count`` planted unique 3-CNFs with
    ``n_vars`` variables from ``random.Random(f"{seed}:held-out:{n_vars}")``."""
    return _formulas(f"{seed}:held-out:{n_vars}", n_vars, count, ratio)


def size_formulas(sizes: Sequence[int], per_size: int, seed: int, ratio: float = 4.26
                  ) -> dict[int, list[Formula]]:
    """The fixed per-size sets of :func:`reachable_size`: size -> ``per_size`` formulas."""
    return {size: _formulas(f"{seed}:size:{size}", size, per_size, ratio)
            for size in sorted(sizes)}


def policy_factory(policy: BranchingPolicy, seed: int | str) -> PolicyFactory:
    """``policy`` itself for every formula, except a :class:`RandomPolicy`: a fresh one
    seeded ``f"{seed}:{index}"`` per formula (so results do not depend on the order)."""
    if isinstance(policy, RandomPolicy):
        return lambda index: RandomPolicy(f"{seed}:{index}")
    return lambda index: policy


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def evaluate_policy(make_policy: PolicyFactory, formulas: Sequence[Formula], budget: int
                    ) -> dict[str, Any]:
    """Solve each formula with ``make_policy(index)`` within ``budget`` decisions.

    Returns:
        ``held_out`` (formulas), ``held_out_solved``, ``solve_rate`` (0..1),
        ``median_decisions`` / ``mean_decisions`` / ``median_conflicts`` over SOLVED
        formulas (None when none is), and ``median_decisions_censored`` over all formulas
        counting an unsolved one as ``budget`` decisions.
    """
    decisions, conflicts, censored = [], [], []
    for index, (clauses, n_vars) in enumerate(formulas):
        result = solve_dpll(clauses, n_vars, make_policy(index), budget=budget)
        censored.append(result.decisions if result.status == "sat" else budget)
        if result.status == "sat":
            decisions.append(result.decisions)
            conflicts.append(result.conflicts)
    return {
        "held_out": len(formulas),
        "held_out_solved": len(decisions),
        "solve_rate": round(len(decisions) / len(formulas), 4) if formulas else None,
        "median_decisions": _median(decisions),
        "mean_decisions": round(statistics.fmean(decisions), 2) if decisions else None,
        "median_conflicts": _median(conflicts),
        "median_decisions_censored": _median(censored),
    }


def reachable_size(make_policy: PolicyFactory, sets: dict[int, list[Formula]], budget: int
                   ) -> tuple[int | None, dict[str, float]]:
    """The largest size (ascending, stopping at the first failure) at which the policy
    solves at least half of that size's formulas within ``budget`` decisions.

    Returns:
        (size or None when the smallest already fails, {str(size): solve rate} for the
        sizes tried).
    """
    reached, rates = None, {}
    for size in sorted(sets):
        stats = evaluate_policy(make_policy, sets[size], budget)
        rates[str(size)] = stats["solve_rate"]
        if 2 * stats["held_out_solved"] < len(sets[size]):
            break
        reached = size
    return reached, rates


def bootstrap(*, n_vars: int, rounds: int, train_per_round: int, held_out: int, budget: int,
              seed: int, ratio: float = 4.26, sizes: Sequence[int] = (),
              progress: Callable[[str], None] | None = None, per_size: int = 6
              ) -> BootstrapResult:
    """Run expert iteration for SAT (see the module docstring for what each round does and
    which policy row ``r`` evaluates: the one that searched in round ``r``).

    Args:
        n_vars: variables of the training and held-out formulas.
        rounds: rounds (rows); >= 1.
        train_per_round: new formulas searched per round.
        held_out: formulas in the fixed held-out set (:func:`held_out_formulas`).
        budget: maximum decisions per formula, in search and evaluation.
        seed: seeds every formula set and random policy.
        ratio: clauses per variable before the uniqueness clauses.
        sizes: variable counts for ``reachable_size`` (empty: not measured, None in rows).
        progress: called with one line per finished phase.
        per_size: formulas per size for ``reachable_size``.

    Returns:
        :class:`BootstrapResult` with ``rounds`` rows and the kept pairs.

    Raises:
        ValueError: ``rounds``, ``budget`` or ``held_out`` < 1, ``train_per_round`` < 0,
            or an impossible formula size or ratio (from :func:`planted_unique_3cnf`).
    """
    if rounds < 1 or budget < 1 or held_out < 1 or train_per_round < 0:
        raise ValueError("need rounds, budget, held_out >= 1 and train_per_round >= 0")
    say = progress or (lambda line: None)
    verifier = SatVerifier()
    evaluation_set = held_out_formulas(n_vars, held_out, seed, ratio)
    size_sets = size_formulas(sizes, per_size, seed, ratio) if sizes else {}
    result = BootstrapResult()
    features: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    policy: BranchingPolicy = RandomPolicy(seed)
    trained_on = trained_examples = 0
    for round_index in range(rounds):
        started = time.perf_counter()
        make_policy = policy_factory(policy, f"{seed}:{round_index}")
        rng = random.Random(f"{seed}:train:{round_index}")
        counts = {"generated": 0, "attempted": 0, "solved": 0, "verified": 0, "kept": 0,
                  "search_decisions": 0}
        for index in range(train_per_round):
            clauses, _planted = planted_unique_3cnf(n_vars, ratio, rng)
            counts["generated"] += 1
            counts["attempted"] += 1
            found = solve_dpll(clauses, n_vars, make_policy(index), budget=budget)
            counts["search_decisions"] += found.decisions
            if found.assignment is None:
                continue
            counts["solved"] += 1
            candidate = " ".join(str(lit) for lit in found.assignment)
            check = verifier.verify({"n_vars": n_vars, "clauses": clauses}, candidate)
            if not check.passed:
                continue
            counts["verified"] += 1
            counts["kept"] += 1
            x, y = training_examples(clauses, n_vars, found.assignment, search=found)
            features.append(x)
            labels.append(y)
            result.kept.append({"round": round_index, "n_vars": n_vars, "clauses": clauses,
                                "assignment": found.assignment, **found.cost,
                                "verifier": verifier.name, "verifier_reason": check.reason})
        search_seconds = time.perf_counter() - started
        say(f"round {round_index}: searched {train_per_round} formulas with {policy.name}, "
            f"kept {counts['kept']} ({search_seconds:.1f}s)")
        stats = evaluate_policy(make_policy, evaluation_set, budget)
        reached, rates = (reachable_size(make_policy, size_sets, budget) if size_sets
                          else (None, {}))
        n_examples = int(sum(len(y) for y in labels))
        row = {"round": round_index, "policy": policy.name,
               "trained_on_formulas": trained_on,
               "training_examples": trained_examples,
               **counts, "search_seconds": round(search_seconds, 2), **stats}
        base = result.rows[0]["median_decisions"] if result.rows else stats["median_decisions"]
        row["cost_ratio"] = (round(stats["median_decisions"] / base, 4)
                             if base and stats["median_decisions"] is not None else None)
        row["reachable_size"], row["size_solve_rates"] = reached, rates
        row["seconds"] = round(time.perf_counter() - started, 2)
        result.rows.append(row)
        result.policies.append(policy)
        say(f"round {round_index}: held-out solve rate {stats['solve_rate']}, median "
            f"decisions {stats['median_decisions']}, reachable size {reached}")
        if round_index + 1 < rounds and n_examples and len(set(np.concatenate(labels))) == 2:
            policy = LearnedPolicy.fit(np.vstack(features), np.concatenate(labels), seed=seed)
            trained_on, trained_examples = len(result.kept), n_examples
    return result


__all__ = ["BootstrapResult", "Formula", "PolicyFactory", "bootstrap",
           "evaluate_policy", "held_out_formulas", "policy_factory", "reachable_size",
           "size_formulas"]
