"""A small DPLL SAT solver with pluggable branching policies, and the training data for a
learned one.

DPLL (Davis, Logemann and Loveland, CACM 1962) = depth-first search over partial
assignments with unit propagation (two watched literals per clause, as in Chaff;
Moskewicz et al., DAC 2001) and chronological backtracking: on a conflict the most recent
decision not yet flipped is undone and its negation is tried. Counted: ``decisions``
(branching choices made by the policy), ``propagations`` (literals forced by unit
propagation) and ``conflicts`` (falsified clauses met).

At each decision the solver hands a :class:`SearchState` to a branching policy, which
returns the literal to set true next:

- :class:`RandomPolicy`: a uniformly random unassigned variable and sign (seeded);
- :class:`JeroslowWangPolicy`: the two-sided Jeroslow-Wang rule (Jeroslow and Wang, Ann.
  Math. Artif. Intell. 1990; two-sided variant: Hooker and Vinay, JAR 1995);
- :class:`LearnedPolicy`: a scikit-learn logistic regression over per-literal features
  (:data:`FEATURE_NAMES`) predicting "this literal is true in the solution"; it picks the
  literal with the highest probability. Trained on :func:`training_examples`, in the spirit
  of learned branching heuristics such as NeuroCore (Selsam and Bjorner, arXiv 1903.04671).

Measured (``bench/sat_bootstrap.py``, planted unique 3-CNFs with 80 variables): one round of
learning cuts the random policy's median decisions about 10x, but two-sided Jeroslow-Wang
is about 5x cheaper still -- the learned policy ranks literals by how sure it is of the
sign, while Jeroslow-Wang picks the most constrained variable, which propagates more.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression

#: the per-literal features of :meth:`SearchState.literal_features`, in column order;
#: "open" clauses are those not yet satisfied, counted over their unassigned literals
FEATURE_NAMES = (
    "open_len2_with_literal",
    "open_len3plus_with_literal",
    "open_len2_with_negation",
    "open_len3plus_with_negation",
    "jeroslow_wang_literal",
    "jeroslow_wang_negation",
    "open_clauses_per_unassigned_variable",
)
# Not a feature: the share of the variable's occurrences with the literal's sign. Measured
# on planted 3-CNFs (60 variables), it made the policy favour rare, nearly pure literals
# (higher probability, little propagation) and need ~1.5x the median decisions.


class SearchState:
    """The solver's state at one decision, as a branching policy sees it.

    Valid only during the policy's ``choose`` call (the solver keeps mutating its arrays);
    compute what you need there. ``value(var)`` is 1 (true), -1 (false) or 0 (unassigned).
    """

    def __init__(self, n_vars: int, clauses: list[list[int]], literal_value: list[int]):
        self.n_vars = n_vars
        self._clauses = clauses
        self._literal_value = literal_value  # index literal + n_vars
        self._scores: tuple[list[int], list[int], list[float], int] | None = None
        self._features: tuple[list[int], np.ndarray] | None = None

    def value(self, var: int) -> int:
        """1 when ``var`` is true, -1 when false, 0 when unassigned."""
        return self._literal_value[var + self.n_vars]

    def unassigned(self) -> list[int]:
        """The unassigned variables, ascending."""
        n, values = self.n_vars, self._literal_value
        return [v for v in range(1, n + 1) if values[v + n] == 0]

    def open_clauses(self) -> list[list[int]]:
        """The clauses not yet satisfied, each reduced to its unassigned literals (length
        >= 2 at a decision: shorter ones were propagated or were a conflict)."""
        n, values = self.n_vars, self._literal_value
        found = []
        for clause in self._clauses:
            free = []
            for lit in clause:
                v = values[lit + n]
                if v == 1:
                    break
                if v == 0:
                    free.append(lit)
            else:
                found.append(free)
        return found

    def literal_scores(self) -> tuple[list[int], list[int], list[float], int]:
        """Per literal (index ``literal + n_vars``): occurrences in open clauses of length
        2, of length >= 3, the Jeroslow-Wang score sum(2^-length), and the number of open
        clauses. Cached."""
        if self._scores is None:
            n = self.n_vars
            len2, len3, jw = [0] * (2 * n + 1), [0] * (2 * n + 1), [0.0] * (2 * n + 1)
            open_clauses = self.open_clauses()
            for free in open_clauses:
                weight = 2.0 ** -len(free)
                counts = len2 if len(free) == 2 else len3
                for lit in free:
                    counts[lit + n] += 1
                    jw[lit + n] += weight
            self._scores = (len2, len3, jw, len(open_clauses))
        return self._scores

    def literal_features(self) -> tuple[list[int], np.ndarray]:
        """The candidate literals (``+v`` then ``-v`` for every unassigned ``v``) and their
        features, a float array of shape (len(literals), len(FEATURE_NAMES)). Cached."""
        if self._features is None:
            n = self.n_vars
            unassigned = np.array(self.unassigned(), dtype=np.int64)
            literals = np.concatenate([unassigned, -unassigned])
            len2, len3, jw, n_open = self.literal_scores()
            len2, len3, jw = np.asarray(len2), np.asarray(len3), np.asarray(jw)
            own, neg = literals + n, -literals + n
            ratio = np.full(len(literals), n_open / max(len(unassigned), 1))
            matrix = np.column_stack([len2[own], len3[own], len2[neg], len3[neg],
                                      jw[own], jw[neg], ratio]).astype(float)
            self._features = ([int(x) for x in literals], matrix)
        return self._features


class BranchingPolicy(Protocol):
    """Picks the next decision literal: ``choose(state)`` returns a signed variable that is
    unassigned in ``state`` (its sign is the value tried first)."""

    name: str

    def choose(self, state: SearchState) -> int: ...


class RandomPolicy:
    """A uniformly random unassigned variable with a random sign (``random.Random(seed)``)."""

    name = "random"

    def __init__(self, seed: int | str = 0):
        self._rng = random.Random(seed)

    def choose(self, state: SearchState) -> int:
        var = self._rng.choice(state.unassigned())
        return var if self._rng.random() < 0.5 else -var


class JeroslowWangPolicy:
    """Two-sided Jeroslow-Wang: the variable maximising J(v) + J(-v), set to the sign with
    the larger J, where J(l) = sum over open clauses containing l of 2^-length (Jeroslow and
    Wang 1990; Hooker and Vinay 1995). Ties: the lowest variable, positive first."""

    name = "jeroslow-wang"

    def choose(self, state: SearchState) -> int:
        n = state.n_vars
        jw = state.literal_scores()[2]
        best, best_score = 0, -1.0
        for var in state.unassigned():
            score = jw[var + n] + jw[n - var]
            if score > best_score:
                best, best_score = var, score
        return best if jw[best + n] >= jw[n - best] else -best


class LearnedPolicy:
    """Logistic regression over :data:`FEATURE_NAMES` predicting "this literal is true in
    the solution"; ``choose`` returns the candidate literal with the highest probability
    (ties: the first of :meth:`SearchState.literal_features`' order)."""

    name = "learned"

    def __init__(self, model: LogisticRegression, mean: np.ndarray, scale: np.ndarray):
        self.model = model
        self._coef = model.coef_[0] / scale
        self._intercept = float(model.intercept_[0] - np.dot(model.coef_[0], mean / scale))

    @classmethod
    def fit(cls, features: np.ndarray, labels: np.ndarray, *, seed: int = 0,
            regularisation: float = 1.0) -> LearnedPolicy:
        """Train on ``features`` (n_examples x len(FEATURE_NAMES)) and 0/1 ``labels``
        (standardised features, L2 logistic regression with ``C=regularisation``).

        Raises:
            ValueError: no examples, a shape mismatch, or only one label value present.
        """
        features, labels = np.asarray(features, dtype=float), np.asarray(labels, dtype=int)
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"features must be n x {len(FEATURE_NAMES)}, got {features.shape}")
        if len(features) != len(labels) or len(set(labels.tolist())) < 2:
            raise ValueError("need as many labels as examples and both label values")
        mean = features.mean(axis=0)
        scale = np.where(features.std(axis=0) > 0, features.std(axis=0), 1.0)
        model = LogisticRegression(C=regularisation, max_iter=1000, random_state=seed)
        model.fit((features - mean) / scale, labels)
        return cls(model, mean, scale)

    def probabilities(self, state: SearchState) -> tuple[list[int], np.ndarray]:
        """The candidate literals and P(literal true in the solution) for each."""
        literals, features = state.literal_features()
        logits = features @ self._coef + self._intercept
        return literals, 1.0 / (1.0 + np.exp(-logits))

    def choose(self, state: SearchState) -> int:
        literals, features = state.literal_features()
        return literals[int(np.argmax(features @ self._coef))]


@dataclass(frozen=True)
class DPLLResult:
    """One DPLL run.

    Attributes:
        status: ``sat`` (``assignment`` found), ``unsat`` (search space exhausted) or
            ``budget`` (stopped before decision ``budget + 1``).
        assignment: signed literals for variables 1..n in order, or None.
        decisions / propagations / conflicts: search counters (see module docstring).
        seconds: wall time (seconds).
        path: when ``sat``, the assigned literals before each decision level still open at
            the end, i.e. the visited decision states consistent with the assignment
            found (root first); empty otherwise.
    """

    status: str
    assignment: list[int] | None
    decisions: int
    propagations: int
    conflicts: int
    seconds: float = 0.0
    path: list[list[int]] = field(default_factory=list)

    @property
    def cost(self) -> dict[str, int]:
        """``{"decisions", "propagations", "conflicts"}``."""
        return {"decisions": self.decisions, "propagations": self.propagations,
                "conflicts": self.conflicts}


def _normalise(clauses: Sequence[Sequence[int]], n_vars: int) -> list[list[int]]:
    """Fresh clause lists without repeated literals or tautologies (an empty clause stays).

    Raises:
        ValueError: a literal 0 or outside 1..n_vars.
    """
    normalised = []
    for clause in clauses:
        lits = list(dict.fromkeys(int(lit) for lit in clause))
        if any(lit == 0 or abs(lit) > n_vars for lit in lits):
            raise ValueError(f"clause {list(clause)} has a literal outside 1..{n_vars} or "
                             "their negations")
        if not any(-lit in lits for lit in lits):
            normalised.append(lits)
    return normalised


def solve_dpll(clauses: Sequence[Sequence[int]], n_vars: int, policy: BranchingPolicy,
               budget: int | None = None,
               on_decision: Callable[[SearchState], None] | None = None) -> DPLLResult:
    """Run DPLL on a CNF (DIMACS literals over variables 1..``n_vars``).

    ``budget`` is the maximum number of decisions (None: unlimited); ``on_decision`` is
    called with the state before each decision (e.g. to log or sample states).

    Raises:
        ValueError: a literal 0 or out of range, or the policy picked an assigned variable.
    """
    started = time.perf_counter()
    n = n_vars
    literal_value = [0] * (2 * n + 1)
    watches: list[list[int]] = [[] for _ in range(2 * n + 1)]
    work: list[list[int]] = []
    trail: list[int] = []
    counters = {"decisions": 0, "propagations": 0, "conflicts": 0}

    def finish(status: str) -> DPLLResult:
        assignment, path = None, []
        if status == "sat":
            assignment = [v if literal_value[v + n] == 1 else -v for v in range(1, n + 1)]
            path = [trail[:start] for _, _, start in levels]
        return DPLLResult(status, assignment, counters["decisions"],
                          counters["propagations"], counters["conflicts"],
                          time.perf_counter() - started, path)

    def assign(lit: int) -> None:
        literal_value[lit + n] = 1
        literal_value[n - lit] = -1
        trail.append(lit)

    units: list[int] = []
    levels: list[tuple[int, bool, int]] = []  # (decision literal, flipped?, trail start)
    for lits in _normalise(clauses, n):
        if not lits:
            return finish("unsat")
        if len(lits) == 1:
            units.append(lits[0])
        else:
            watches[lits[0] + n].append(len(work))
            watches[lits[1] + n].append(len(work))
        work.append(lits)

    head = 0

    def propagate() -> bool:
        """Unit propagation from ``trail[head:]``; False on a conflict."""
        nonlocal head
        while head < len(trail):
            false_lit = -trail[head]
            head += 1
            watching = watches[false_lit + n]
            i = j = 0
            while i < len(watching):
                index = watching[i]
                i += 1
                clause = work[index]
                if clause[0] == false_lit:
                    clause[0], clause[1] = clause[1], false_lit
                first = clause[0]
                if literal_value[first + n] == 1:
                    watching[j] = index
                    j += 1
                    continue
                for k in range(2, len(clause)):
                    other = clause[k]
                    if literal_value[other + n] != -1:
                        clause[1], clause[k] = other, false_lit
                        watches[other + n].append(index)
                        break
                else:
                    watching[j] = index
                    j += 1
                    if literal_value[first + n] == -1:
                        watching[j:] = watching[i:]
                        return False
                    assign(first)
                    counters["propagations"] += 1
            del watching[j:]
        return True

    for lit in units:
        if literal_value[lit + n] == -1:
            counters["conflicts"] += 1
            return finish("unsat")
        if literal_value[lit + n] == 0:
            assign(lit)
    ok = propagate()
    while True:
        if not ok:
            counters["conflicts"] += 1
            while levels:
                decision, flipped, start = levels.pop()
                for lit in trail[start:]:
                    literal_value[lit + n] = literal_value[n - lit] = 0
                del trail[start:]
                head = start
                if not flipped:
                    levels.append((-decision, True, start))
                    assign(-decision)
                    break
            else:
                return finish("unsat")
            ok = propagate()
            continue
        if len(trail) == n:
            return finish("sat")
        if budget is not None and counters["decisions"] >= budget:
            return finish("budget")
        state = SearchState(n, work, literal_value)
        if on_decision is not None:
            on_decision(state)
        lit = int(policy.choose(state))
        if lit == 0 or abs(lit) > n or literal_value[lit + n] != 0:
            raise ValueError(f"policy {policy.name} chose {lit}, not an unassigned literal")
        counters["decisions"] += 1
        levels.append((lit, False, len(trail)))
        assign(lit)
        ok = propagate()


def state_after(clauses: Sequence[Sequence[int]], n_vars: int, literals: Sequence[int]
                ) -> SearchState:
    """The :class:`SearchState` of a formula once ``literals`` (signed) are set true, with
    clauses normalised as :func:`solve_dpll` does (duplicates and tautologies dropped).

    Raises:
        ValueError: a literal 0 or outside 1..n_vars (in a clause or in ``literals``).
    """
    n = n_vars
    literal_value = [0] * (2 * n + 1)
    for lit in literals:
        if lit == 0 or abs(lit) > n:
            raise ValueError(f"literal {lit} is outside 1..{n} or their negations")
        literal_value[lit + n], literal_value[n - lit] = 1, -1
    return SearchState(n, _normalise(clauses, n), literal_value)


def training_examples(clauses: Sequence[Sequence[int]], n_vars: int, solution: Sequence[int],
                      *, search: DPLLResult | None = None,
                      policy: BranchingPolicy | None = None, budget: int | None = None,
                      seed: int | str = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training examples from one formula with a known (verified, unique) solution.

    The states used are the decision states of ``search`` (a ``sat`` :class:`DPLLResult`
    on this formula; default: run DPLL with ``policy``, by default ``RandomPolicy(seed)``,
    within ``budget`` decisions) that lie on its final path, i.e. the visited states
    consistent with the solution found: where the search was on track, every candidate
    literal is labelled 1 when it agrees with ``solution``, else 0. (States deep in
    abandoned subtrees are left out: measured, their labels teach the policy less.)

    Returns:
        (features, labels): float array n x len(FEATURE_NAMES) and int array n; empty
        when the search found nothing.

    Raises:
        ValueError: as :func:`solve_dpll`.
    """
    if search is None:
        search = solve_dpll(clauses, n_vars, policy or RandomPolicy(seed), budget)
    truth = set(int(lit) for lit in solution)
    features, labels = [], []
    for prefix in search.path:
        literals, matrix = state_after(clauses, n_vars, prefix).literal_features()
        features.append(matrix)
        labels += [int(lit in truth) for lit in literals]
    if not features:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0, dtype=int)
    return np.vstack(features), np.array(labels, dtype=int)


__all__ = ["FEATURE_NAMES", "BranchingPolicy", "DPLLResult", "JeroslowWangPolicy",
           "LearnedPolicy", "RandomPolicy", "SearchState", "solve_dpll", "state_after",
           "training_examples"]
