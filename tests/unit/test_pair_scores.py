"""zELO's numeric core: cycle pair graphs, soft win matrices, Bradley-Terry/Thurstone fits."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from synthloom.operators.judge.pair_scores import (
    ScoreFit,
    Vote,
    all_pairs,
    components,
    cycle_pairs,
    fit_scores,
    kendall_tau,
    win_matrix,
)

METHODS = ["bradley_terry", "thurstone"]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def truth(n: int, seed: int) -> np.ndarray:
    s = np.random.default_rng(seed).normal(0.0, 1.5, n)
    return s - s.mean()


def soft_votes(s: np.ndarray, pairs: list[tuple[int, int]], link=sigmoid) -> list[Vote]:
    return [Vote(i, j, float(link(s[i] - s[j]))) for i, j in pairs]


def ensemble_votes(s: np.ndarray, pairs: list[tuple[int, int]], seed: int) -> list[Vote]:
    """Each pair judged by 5 noisy BT judges; p is their share of wins for i."""
    rng = np.random.default_rng(seed)
    return [Vote(i, j, rng.binomial(5, sigmoid(s[i] - s[j])) / 5) for i, j in pairs]


# ---------------------------------------------------------------- pair graphs


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), k=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_cycle_pairs_cover_every_item_with_degree_two(n: int, k: int, seed: int) -> None:
    pairs = cycle_pairs(n, k, seed)
    assert pairs == cycle_pairs(n, k, seed)
    assert len(pairs) <= k * n
    assert len(set(pairs)) == len(pairs)
    assert all(0 <= i < j < n for i, j in pairs)
    degree = Counter(x for pair in pairs for x in pair)
    if n >= 2:
        assert set(degree) == set(range(n))
    if n >= 3:
        assert min(degree.values()) >= 2
    if n >= 3 and k == 1:
        assert len(pairs) == n  # one cycle: exactly n distinct edges


def test_cycle_pairs_small_cases_and_seeds() -> None:
    assert cycle_pairs(1, 3, 0) == []
    assert cycle_pairs(2, 3, 0) == [(0, 1)]
    assert sorted(cycle_pairs(3, 2, 5)) == [(0, 1), (0, 2), (1, 2)]
    assert cycle_pairs(30, 4, 1) != cycle_pairs(30, 4, 2)
    assert set(cycle_pairs(30, 4, 1)) != set(cycle_pairs(30, 4, 2))


def test_all_pairs() -> None:
    assert all_pairs(1) == []
    assert all_pairs(4) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def test_win_matrix_adds_soft_wins_both_ways() -> None:
    w = win_matrix(3, [Vote(0, 1, 0.8), Vote(2, 0, 0.5), Vote(0, 1, 1.0)])
    expected = np.array([[0.0, 1.8, 0.5], [0.2, 0.0, 0.0], [0.5, 0.0, 0.0]])
    np.testing.assert_allclose(w, expected)
    assert np.all(np.diag(w) == 0)


def test_components_are_sorted_and_ordered_by_smallest_item() -> None:
    votes = [Vote(4, 3, 0.9), Vote(2, 0, 0.1)]
    assert components(5, votes) == [[0, 2], [1], [3, 4]]
    assert components(3, []) == [[0], [1], [2]]
    assert components(4, soft_votes(np.zeros(4), cycle_pairs(4, 1, 0))) == [[0, 1, 2, 3]]


# ---------------------------------------------------------------- fits


@pytest.mark.parametrize("method", METHODS)
def test_four_cycles_recover_the_true_ranking(method: str) -> None:
    for seed in range(3):
        s = truth(30, seed)
        fit = fit_scores(30, soft_votes(s, cycle_pairs(30, 4, seed)), method)
        assert isinstance(fit, ScoreFit) and fit.method == method and fit.components == 1
        assert fit.low is None and fit.high is None
        assert abs(fit.scores.mean()) < 1e-9
        assert kendall_tau(fit.scores, s) >= 0.8


@pytest.mark.parametrize(
    ("method", "link"), [("bradley_terry", sigmoid), ("thurstone", norm.cdf)]
)
def test_exact_probabilities_give_back_the_true_scores(method: str, link) -> None:
    s = truth(12, 7)
    fit = fit_scores(12, soft_votes(s, all_pairs(12), link), method, alpha=1e-8)
    np.testing.assert_allclose(fit.scores, s, atol=1e-5)
    # one cycle is enough when the probabilities are exact and consistent
    fit = fit_scores(12, soft_votes(s, cycle_pairs(12, 1, 3), link), method, alpha=1e-8)
    np.testing.assert_allclose(fit.scores, s, atol=1e-4)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [10, 80])
def test_default_alpha_shrinks_little_whatever_the_size(method: str, n: int) -> None:
    s = truth(n, 11)
    link = sigmoid if method == "bradley_terry" else norm.cdf
    fit = fit_scores(n, soft_votes(s, all_pairs(n), link), method)
    assert np.max(np.abs(fit.scores - s)) < 0.1
    assert 0.97 < fit.scores.std() / s.std() <= 1.0  # the prior's pull does not grow with n


@pytest.mark.parametrize("method", METHODS)
def test_all_pairs_fit_beats_or_matches_one_cycle(method: str) -> None:
    for seed in range(3):
        s = truth(30, seed)
        taus = {}
        for name, pairs in [("cycle", cycle_pairs(30, 1, seed)), ("all", all_pairs(30))]:
            for label, votes in [
                ("exact", soft_votes(s, pairs)),
                ("ensemble", ensemble_votes(s, pairs, seed)),
            ]:
                taus[name, label] = kendall_tau(fit_scores(30, votes, method).scores, s)
        assert taus["all", "exact"] >= taus["cycle", "exact"] - 1e-12
        assert taus["all", "ensemble"] >= taus["cycle", "ensemble"]


@pytest.mark.parametrize("method", METHODS)
def test_disconnected_graph_warns_and_centres_each_component(method: str) -> None:
    votes = [Vote(0, 1, 0.9), Vote(1, 2, 0.7), Vote(0, 2, 0.95), Vote(3, 4, 0.2)]
    with pytest.warns(RuntimeWarning, match=r"3 connected components.*not comparable"):
        fit = fit_scores(6, votes, method)
    assert fit.components == 3
    assert fit.component.tolist() == [0, 0, 0, 1, 1, 2]
    assert abs(fit.scores[:3].sum()) < 1e-9 and abs(fit.scores[3:5].sum()) < 1e-9
    assert fit.scores[5] == 0.0
    assert fit.scores[0] > fit.scores[1] > fit.scores[2] and fit.scores[4] > fit.scores[3]


def test_bootstrap_refits_do_not_warn() -> None:
    votes = [Vote(0, 1, 0.9), Vote(2, 3, 0.3)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = fit_scores(4, votes, bootstrap=30)
    assert len(caught) == 1 and "2 connected components" in str(caught[0].message)
    assert fit.low is not None and fit.high is not None


@pytest.mark.parametrize("method", METHODS)
def test_bootstrap_interval_holds_the_estimate_and_narrows_with_more_votes(method: str) -> None:
    n = 20
    s = truth(n, 4)
    widths = {}
    for k in (2, 8):
        votes = ensemble_votes(s, cycle_pairs(n, k, 4), 4)
        fit = fit_scores(n, votes, method, bootstrap=150, confidence=0.9, seed=1)
        assert fit.low is not None and fit.high is not None
        assert fit.low.shape == fit.high.shape == (n,)
        assert np.all(fit.low <= fit.scores + 1e-9) and np.all(fit.scores <= fit.high + 1e-9)
        widths[k] = float(np.mean(fit.high - fit.low))
        again = fit_scores(n, votes, method, bootstrap=150, confidence=0.9, seed=1)
        np.testing.assert_array_equal(again.low, fit.low)
    assert widths[2] > widths[8] > 0


@pytest.mark.parametrize("method", METHODS)
def test_an_item_that_wins_every_vote_stays_finite(method: str) -> None:
    votes = [Vote(0, j, 1.0) for j in range(1, 6)] + [Vote(j, j + 1, 0.6) for j in range(1, 5)]
    votes += [Vote(5, 0, 0.0)]  # a win for 0 written the other way round
    for alpha in (1e-2, 1e-5):
        fit = fit_scores(6, votes, method, alpha=alpha, bootstrap=10)
        assert np.all(np.isfinite(fit.scores)) and np.all(np.isfinite(fit.high))
        assert fit.scores.argmax() == 0 and fit.scores[0] < 50


@pytest.mark.parametrize("method", METHODS)
def test_ties_and_single_items(method: str) -> None:
    assert fit_scores(1, [], method).scores.tolist() == [0.0]
    fit = fit_scores(4, [Vote(i, j, 0.5) for i, j in all_pairs(4)], method, bootstrap=5)
    np.testing.assert_allclose(fit.scores, 0.0, atol=1e-7)
    with pytest.warns(RuntimeWarning):
        empty = fit_scores(3, [], method, bootstrap=4)
    assert empty.scores.tolist() == empty.low.tolist() == empty.high.tolist() == [0.0] * 3


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 7),
    raw=st.lists(
        st.tuples(
            st.integers(0, 6), st.integers(0, 6), st.sampled_from([0.0, 0.1, 0.5, 0.93, 1.0])
        ),
        max_size=15,
    ),
    method=st.sampled_from(METHODS),
)
def test_any_valid_votes_give_finite_scores_centred_per_component(
    n: int, raw: list[tuple[int, int, float]], method: str
) -> None:
    votes = [Vote(i, j, p) for i, j, p in raw if i < n and j < n and i != j]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = fit_scores(n, votes, method)
    assert fit.scores.shape == fit.component.shape == (n,)
    assert np.all(np.isfinite(fit.scores))
    groups = components(n, votes)
    assert fit.components == len(groups)
    for c, items in enumerate(groups):
        assert fit.component[items].tolist() == [c] * len(items)
        assert abs(fit.scores[items].sum()) < 1e-6


# ---------------------------------------------------------------- errors and helpers


@pytest.mark.parametrize(
    ("n", "votes", "kwargs"),
    [
        (0, [], {}),
        (3, [Vote(1, 1, 0.5)], {}),
        (3, [Vote(0, 3, 0.5)], {}),
        (3, [Vote(-1, 0, 0.5)], {}),
        (3, [Vote(0, 1.0, 0.5)], {}),
        (3, [Vote(0, 1, 1.5)], {}),
        (3, [Vote(0, 1, -0.1)], {}),
        (3, [Vote(0, 1, float("nan"))], {}),
        (3, [Vote(0, 1, 0.5)], {"method": "elo"}),
        (3, [Vote(0, 1, 0.5)], {"confidence": 0.0}),
        (3, [Vote(0, 1, 0.5)], {"confidence": 1.0}),
        (3, [Vote(0, 1, 0.5)], {"confidence": 1.5}),
        (3, [Vote(0, 1, 0.5)], {"alpha": 0.0}),
        (3, [Vote(0, 1, 0.5)], {"bootstrap": -1}),
    ],
)
def test_bad_input_raises_a_one_line_value_error(n: int, votes: list[Vote], kwargs) -> None:
    with pytest.raises(ValueError) as info:
        fit_scores(n, votes, **kwargs)
    assert "\n" not in str(info.value) and str(info.value)


def test_other_functions_reject_bad_input() -> None:
    for call in (
        lambda: cycle_pairs(0, 2, 0),
        lambda: cycle_pairs(5, 0, 0),
        lambda: all_pairs(0),
        lambda: win_matrix(2, [Vote(0, 2, 0.5)]),
        lambda: components(2, [Vote(0, 1, 2.0)]),
        lambda: kendall_tau([1, 2], [1, 2, 3]),
    ):
        with pytest.raises(ValueError):
            call()


def test_kendall_tau() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau(np.arange(5), -np.arange(5)) == pytest.approx(-1.0)
    assert isinstance(kendall_tau([1, 2, 3], [1, 3, 2]), float)
