"""Continuous scores from pairwise preference probabilities: the numeric core of zELO.

zELO (Pipitone et al., arXiv 2509.12541) asks a judge ensemble which of two items is better
on a sparse pair graph made of k random Hamiltonian cycles (every item gets degree >= 2 and
the graph is connected with ~k*n pairs instead of n^2/2), adds each averaged probability to
a soft win matrix (i beats j with weight p, j beats i with weight 1 - p) and fits one
latent score per item by maximum likelihood. Two links are offered:

* ``bradley_terry``: P(i beats j) = sigmoid(s_i - s_j) (Bradley & Terry 1952), fitted with
  choix's iterative Luce spectral ranking on the fractional win matrix (ILSR; Maystre &
  Grossglauser 2015). choix's ``alpha`` is a rate added between every two items of the
  Markov chain, i.e. fictitious wins both ways for every pair, so its pull grows with the
  component size m; we pass ``alpha / (m - 1)``, which gives each item about ``2 * alpha``
  fictitious wins and as many losses in total, spread over its component, at any m.
* ``thurstone``: P(i beats j) = Phi(s_i - s_j) (Thurstone case V, the zELO choice), fitted
  with ``scipy.optimize.minimize`` (trust-exact, analytic gradient and Hessian) on the soft-vote
  log-likelihood plus the L2 penalty ``alpha / 2 * ||s||^2`` (a Gaussian prior of
  variance ``1 / alpha``). choix's ``ep_pairwise(model="probit")`` takes hard outcomes
  only, hence the direct fit. The likelihood is concave, so the optimum is unique.

Either way alpha > 0 keeps an item whose votes are all wins finite. Scores are centred
within each connected component of the pair graph; scores of different components are not
comparable. Thurstone scores are in probit units, about 1/1.7 of Bradley-Terry logits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import choix
import numpy as np
from scipy import optimize, sparse, stats
from scipy.sparse.csgraph import connected_components
from scipy.special import log_ndtr

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
METHODS = ("bradley_terry", "thurstone")


@dataclass
class Vote:
    """The judged probability ``p`` (0..1, 0.5 a tie) that item ``i`` beats item ``j``."""

    i: int
    j: int
    p: float


@dataclass
class ScoreFit:
    """Fitted scores (n,), optional bootstrap bounds (n,), component id per item (n,)."""

    scores: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    component: np.ndarray
    method: str
    components: int


def _check_n(n: int) -> None:
    if n < 1:
        raise ValueError(f"need at least one item, got n={n}")


def cycle_pairs(n: int, k: int, seed: int) -> list[tuple[int, int]]:
    """The union of ``k`` random Hamiltonian cycles over items ``0..n-1`` (zELO's pair graph).

    Each cycle is a permutation from ``numpy.random.default_rng(seed)`` joined end to end
    (last item back to the first). Returns (i, j) pairs with i < j, each unordered pair once,
    in order of first appearance: at most ``k * n`` pairs, deterministic per seed.
    n=1 gives [], n=2 gives [(0, 1)]. Raises ValueError if n < 1 or k < 1.
    """
    _check_n(n)
    if k < 1:
        raise ValueError(f"need at least one cycle, got k={k}")
    rng = np.random.default_rng(seed)
    seen: dict[tuple[int, int], None] = {}
    for _ in range(k):
        perm = rng.permutation(n).tolist()
        for a, b in zip(perm, perm[1:] + perm[:1], strict=True):
            if a != b:
                seen.setdefault((min(a, b), max(a, b)), None)
    return list(seen)


def all_pairs(n: int) -> list[tuple[int, int]]:
    """Every pair (i, j) with 0 <= i < j < n, n*(n-1)/2 of them. Raises ValueError if n < 1."""
    _check_n(n)
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def _check_votes(n: int, votes: Sequence[Vote]) -> None:
    _check_n(n)
    for v in votes:
        if not (isinstance(v.i, int | np.integer) and isinstance(v.j, int | np.integer)):
            raise ValueError(f"vote ({v.i!r}, {v.j!r}) has a non-integer item index")
        if not (0 <= v.i < n and 0 <= v.j < n):
            raise ValueError(f"vote ({v.i}, {v.j}) has an index outside 0..{n - 1}")
        if v.i == v.j:
            raise ValueError(f"vote compares item {v.i} with itself")
        if not 0.0 <= v.p <= 1.0:  # also rejects NaN
            raise ValueError(f"vote ({v.i}, {v.j}) has p={v.p}, outside [0, 1]")


def _wins(n: int, votes: Sequence[Vote]) -> np.ndarray:
    w = np.zeros((n, n))
    for v in votes:
        w[v.i, v.j] += v.p
        w[v.j, v.i] += 1.0 - v.p
    return w


def win_matrix(n: int, votes: Sequence[Vote]) -> np.ndarray:
    """The (n, n) float soft win matrix: W[i, j] += p and W[j, i] += 1 - p per vote.

    The diagonal is 0. Raises ValueError for n < 1, i == j, an index out of range, or p
    outside [0, 1] or NaN.
    """
    _check_votes(n, votes)
    return _wins(n, votes)


def _labels(n: int, votes: Sequence[Vote]) -> np.ndarray:
    ij = ([v.i for v in votes], [v.j for v in votes])
    graph = sparse.coo_matrix((np.ones(len(votes)), ij), shape=(n, n))
    _, raw = connected_components(graph, directed=False)
    _, first = np.unique(raw, return_index=True)  # renumber by each component's smallest item
    return np.argsort(np.argsort(first))[raw]


def components(n: int, votes: Sequence[Vote]) -> list[list[int]]:
    """Connected components of the pair graph: sorted item lists, ordered by smallest item.

    An item no vote touches is a component of its own. Raises ValueError as ``win_matrix``.
    """
    _check_votes(n, votes)
    labels = _labels(n, votes)
    return [np.flatnonzero(labels == c).tolist() for c in range(labels.max() + 1)]


def _thurstone(w: np.ndarray, alpha: float, start: np.ndarray) -> np.ndarray:
    win, lose = np.nonzero(w)
    weight = w[win, lose]
    m = w.shape[0]

    def terms(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = s[win] - s[lose]
        log_cdf = log_ndtr(d)
        return d, log_cdf, np.exp(-0.5 * d * d - _LOG_SQRT_2PI - log_cdf)  # phi(d) / Phi(d)

    def objective(s: np.ndarray) -> float:
        return float(-(weight * terms(s)[1]).sum() + 0.5 * alpha * s @ s)

    def gradient(s: np.ndarray) -> np.ndarray:
        r = weight * terms(s)[2]
        return alpha * s - np.bincount(win, r, m) + np.bincount(lose, r, m)

    def hessian(s: np.ndarray) -> np.ndarray:
        d, _, r = terms(s)
        h = weight * r * (r + d)  # -(log Phi)'' per vote weight, >= 0
        flat = np.bincount(win * m + lose, -h, m * m) + np.bincount(lose * m + win, -h, m * m)
        hess = flat.reshape(m, m)
        hess[np.diag_indices(m)] = alpha - hess.sum(axis=1)
        return hess

    # convex, so Newton steps converge in a few iterations; a rare "bad approximation" stop
    # happens only at the float precision floor (|gradient| ~ 1e-7) and is used as is
    return optimize.minimize(
        objective, start, jac=gradient, hess=hessian, method="trust-exact", options={"gtol": 1e-7}
    ).x


def _fit(
    w: np.ndarray, labels: np.ndarray, method: str, alpha: float, start: np.ndarray
) -> np.ndarray:
    scores = np.zeros(len(labels))
    for c in range(labels.max() + 1):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 1:
            continue
        sub = w[np.ix_(idx, idx)]
        if method == "bradley_terry":  # per-pair rate, so the prior per item ignores len(idx)
            rate, tol = alpha / (len(idx) - 1), 1e-8 * len(idx)
            s = choix.ilsr_pairwise_dense(sub, rate, start[idx], max_iter=10_000, tol=tol)
        else:
            s = _thurstone(sub, alpha, start[idx])
        scores[idx] = s - s.mean()
    return scores


def fit_scores(
    n: int,
    votes: Sequence[Vote],
    method: str = "bradley_terry",
    *,
    bootstrap: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
    alpha: float = 0.01,
) -> ScoreFit:
    """Maximum-likelihood (alpha-regularised) scores of n items from soft pairwise votes.

    ``method`` is "bradley_terry" (logit link, choix ILSR) or "thurstone" (probit link).
    Scores (float, shape (n,)) are mean-centred within each connected component; a
    one-item component scores 0. A disconnected graph is fitted per component and warns
    (RuntimeWarning) since scores across components are not comparable. ``alpha`` > 0 is
    the regularisation described in the module docstring; it keeps all-win items finite.
    With ``bootstrap`` > 0 the votes are resampled with replacement that many times (rng
    from ``seed``), refitted silently within the original components, and ``low``/``high``
    (shape (n,)) are the percentile interval at ``confidence``; otherwise they are None.
    Raises ValueError for n < 1, a bad vote (i == j, index out of range, p outside [0, 1]
    or NaN), an unknown method, confidence outside (0, 1), alpha <= 0, or bootstrap < 0.
    """
    _check_votes(n, votes)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if not (alpha > 0 and np.isfinite(alpha)):
        raise ValueError(f"alpha must be a positive finite number, got {alpha}")
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    labels = _labels(n, votes)
    count = int(labels.max()) + 1
    if count > 1:
        warnings.warn(
            f"pair graph has {count} connected components; each is fitted and centred on its"
            " own, so scores of items in different components are not comparable",
            RuntimeWarning,
            stacklevel=2,
        )
    scores = _fit(_wins(n, votes), labels, method, alpha, np.zeros(n))
    low = high = None
    if bootstrap > 0 and len(votes) == 0:
        low, high = scores.copy(), scores.copy()
    elif bootstrap > 0:
        rng = np.random.default_rng(seed)
        draws = np.empty((bootstrap, n))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for b in range(bootstrap):
                picked = [votes[t] for t in rng.integers(0, len(votes), len(votes))]
                draws[b] = _fit(_wins(n, picked), labels, method, alpha, scores)  # warm start
        tail = 50.0 * (1.0 - confidence)
        low, high = np.percentile(draws, [tail, 100.0 - tail], axis=0)
    return ScoreFit(scores, low, high, labels, method, count)


def kendall_tau(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b between two equal-length score vectors (scipy.stats.kendalltau).

    Returns a float in [-1, 1], NaN if either vector is constant. Raises ValueError if the
    lengths differ.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"score vectors differ in shape: {a.shape} vs {b.shape}")
    return float(stats.kendalltau(a, b).statistic)
