"""Label models: several labellers' votes on each record combined into one label.

A labeller (a rule, a Python function, an LLM prompt) votes one label or abstains on each
record. This module turns the votes of ``m`` labellers on ``n`` records into a label, its
probability and a trust weight per record, with no LLM and no labelled data:

* ``majority_vote``: each non-abstaining labeller adds its vote (a soft vote adds its
  probabilities) and the label with most votes wins; a tie abstains by default.
* ``dawid_skene``: the generative model of Dawid & Skene, "Maximum Likelihood Estimation of
  Observer Error-Rates Using the EM Algorithm", Applied Statistics 28(1):20-28, 1979
  (doi:10.2307/2346806). Each labeller j has a confusion matrix ``theta[j, c, l]`` (the
  probability it votes l when the true label is c), the true labels have a prior ``pi``,
  and labellers are independent given the true label; EM fits both from the votes alone
  and gives each record a posterior over labels. An abstention carries no evidence.
  Unlike a vote count it learns which labellers to believe: one accurate labeller can
  outvote two noisy ones. Like Snorkel's label model (Ratner et al., "Training Complex
  Models with Multi-Task Weak Supervision", arXiv 1810.02840) without a dependency graph
  it assumes conditionally independent labellers: two that copy each other's mistakes
  count twice, which is why :func:`choose_label_model` checks it against majority vote on
  labelled records ("majority vote when that wins").

Votes are an int matrix ``(n, m)`` (a label index, or :data:`ABSTAIN`) or soft votes
``(n, m, k)``: each row a labeller's probabilities over the ``k`` labels (e.g. an LLM's
token probabilities), all zeros where it abstained; hard votes are one-hot rows. A soft
vote enters Dawid-Skene as fractional counts (the exponent of ``theta`` in the
likelihood), an extension of the 1979 model that reduces to it for one-hot votes.

Per-labeller statistics use Snorkel's ``LFAnalysis`` terms (coverage, overlap, conflict,
empirical accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import logsumexp

ABSTAIN = -1
"""The vote of a labeller that gives no label to a record."""

METHODS = ("majority_vote", "dawid_skene")
TIE_TOLERANCE = 1e-9
"""Two label scores closer than this are a tie."""


# ------------------------------------------------------------------ inputs


def vote_distributions(votes: np.ndarray | Sequence, n_labels: int) -> np.ndarray:
    """Votes as distributions: ``(n, m, k)`` floats, one-hot for a hard vote, zeros for an
    abstention, a soft vote as given.

    Args:
        votes: ``(n, m)`` ints (label index in ``0..k-1`` or :data:`ABSTAIN`) or
            ``(n, m, k)`` non-negative floats whose rows sum to 1 (a vote) or 0 (abstain).
        n_labels: k, the size of the label set.

    Raises:
        ValueError: wrong shape, an index outside ``-1..k-1``, a negative probability or a
            soft row that sums to neither 0 nor 1 (within 1e-6).
    """
    arr = np.asarray(votes)
    if arr.ndim == 2:
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError("hard votes must be integer label indices or -1")
            arr = arr.astype(int)
        if arr.size and (arr.min() < ABSTAIN or arr.max() >= n_labels):
            raise ValueError(f"a vote outside -1..{n_labels - 1}: {arr.min()}..{arr.max()}")
        dist = np.zeros(arr.shape + (n_labels,))
        rows, cols = np.nonzero(arr != ABSTAIN)
        dist[rows, cols, arr[rows, cols]] = 1.0
        return dist
    if arr.ndim == 3:
        if arr.shape[2] != n_labels:
            raise ValueError(f"soft votes have {arr.shape[2]} labels, expected {n_labels}")
        dist = arr.astype(float)
        if np.any(dist < 0) or not np.all(np.isfinite(dist)):
            raise ValueError("soft votes must be finite and non-negative")
        sums = dist.sum(axis=2)
        if not np.all((np.abs(sums) < 1e-6) | (np.abs(sums - 1) < 1e-6)):
            raise ValueError("each soft vote must sum to 1 (a vote) or 0 (an abstention)")
        return dist
    raise ValueError(f"votes must be (n, m) or (n, m, k), got shape {arr.shape}")


def hard_votes(dist: np.ndarray) -> np.ndarray:
    """``(n, m)`` ints from ``(n, m, k)`` vote distributions: the most probable label (the
    lowest index on a tie), :data:`ABSTAIN` where the row is all zeros."""
    voted = dist.sum(axis=2) > 0
    return np.where(voted, dist.argmax(axis=2), ABSTAIN)


# ------------------------------------------------------------------ outputs


@dataclass
class LabelModelOutput:
    """Per-record results of a label model over n records and k labels.

    Attributes:
        method: ``majority_vote`` or ``dawid_skene``.
        labels: the label set (k names, in index order).
        probs: ``(n, k)`` label probabilities; NaN rows where every labeller abstained.
        index: ``(n,)`` chosen label index, :data:`ABSTAIN` when all abstain, on an
            unbroken tie, or with fewer votes than ``min_votes``.
        probability: ``(n,)`` the chosen label's probability; NaN when none is chosen.
        agreement: ``(n,)`` share of the non-abstaining labellers that voted the chosen
            label (for soft votes: their mean probability of it); NaN when none is chosen.
        n_votes: ``(n,)`` non-abstaining labellers per record.
        trust_weight: ``(n,)`` in 0..1, 0 when no label is chosen (see :func:`combine`).
        prior: ``(k,)`` fitted class prior (Dawid-Skene only).
        confusion: ``(m, k, k)`` fitted ``theta[j, true, voted]`` (Dawid-Skene only).
        iterations: EM iterations run (0 for majority vote).
        log_likelihood: the penalised log-likelihood after each EM iteration.
    """

    method: str
    labels: list[str]
    probs: np.ndarray
    index: np.ndarray
    probability: np.ndarray
    agreement: np.ndarray
    n_votes: np.ndarray
    trust_weight: np.ndarray
    prior: np.ndarray | None = None
    confusion: np.ndarray | None = None
    iterations: int = 0
    log_likelihood: list[float] = field(default_factory=list)

    @property
    def label(self) -> list[str | None]:
        """The chosen label name per record, None where none was chosen."""
        return [self.labels[i] if i != ABSTAIN else None for i in self.index]


# ------------------------------------------------------------------ models


def majority_vote_probs(dist: np.ndarray) -> np.ndarray:
    """``(n, k)`` vote shares: summed votes (soft votes sum probabilities) over the number
    of non-abstaining labellers; NaN rows where all abstain."""
    scores = dist.sum(axis=1)
    total = scores.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, scores / total, np.nan)


@dataclass
class DawidSkeneFit:
    """A fitted Dawid-Skene model: posteriors ``(n, k)`` (NaN rows for records with no
    vote), prior ``(k,)``, confusion ``(m, k, k)``, iterations, log-likelihood trace."""

    probs: np.ndarray
    prior: np.ndarray
    confusion: np.ndarray
    iterations: int
    log_likelihood: list[float]


def dawid_skene(
    dist: np.ndarray,
    *,
    smoothing: float = 1.0,
    max_iter: int = 200,
    tol: float = 1e-7,
) -> DawidSkeneFit:
    """Fit Dawid & Skene's model (Applied Statistics 28(1), 1979) by EM.

    Starts from majority-vote shares (as Dawid & Skene do), then alternates the M-step
    (prior and confusion matrices from expected counts, each plus ``smoothing``: a
    symmetric Dirichlet(1 + smoothing) prior, i.e. MAP-EM; ``smoothing=1`` is add-one)
    and the E-step (posterior of each record's true label). EM never lowers the penalised
    log-likelihood; it stops when an iteration raises it by less than ``tol`` per record.
    Only records with at least one vote enter the fit.

    Args:
        dist: ``(n, m, k)`` vote distributions (:func:`vote_distributions`).
        smoothing: pseudo-count added to every prior and confusion cell (>= 0; 0 gives the
            1979 maximum-likelihood estimate, with cells floored at 1e-10).
        max_iter: most EM iterations.
        tol: convergence threshold, in log-likelihood per voted record.

    Returns:
        The fit; ``probs`` rows of records no labeller voted on are NaN.

    Raises:
        ValueError: ``smoothing`` < 0 or ``max_iter`` < 1.
    """
    if smoothing < 0 or max_iter < 1:
        raise ValueError("smoothing must be >= 0 and max_iter >= 1")
    n, m, k = dist.shape
    covered = dist.sum(axis=(1, 2)) > 0
    q = dist[covered]
    post = majority_vote_probs(q)
    trace: list[float] = []
    prior = np.full(k, 1.0 / k)
    confusion = np.full((m, k, k), 1.0 / k)
    for _ in range(max_iter):
        # M-step: expected counts of (true c, voted l) per labeller, smoothed.
        prior = np.maximum(post.sum(axis=0) + smoothing, 1e-10)
        prior /= prior.sum()
        counts = np.maximum(np.einsum("ic,ijl->jcl", post, q) + smoothing, 1e-10)
        confusion = counts / counts.sum(axis=2, keepdims=True)
        # E-step: log pi_c + sum_j sum_l q_ijl log theta_jcl, normalised per record.
        log_joint = np.log(prior) + np.einsum("ijl,jcl->ic", q, np.log(confusion))
        log_norm = logsumexp(log_joint, axis=1, keepdims=True)
        post = np.exp(log_joint - log_norm)
        penalty = smoothing * (np.log(prior).sum() + np.log(confusion).sum())
        trace.append(float(log_norm.sum() + penalty))
        if len(trace) > 1 and trace[-1] - trace[-2] < tol * max(len(q), 1):
            break
    probs = np.full((n, k), np.nan)
    probs[covered] = post
    return DawidSkeneFit(probs, prior, confusion, len(trace), trace)


def _choose(probs: np.ndarray, tie_break: str) -> np.ndarray:
    """Index of each row's largest probability; ABSTAIN for NaN rows and, with
    ``tie_break="abstain"``, for rows whose top two are within :data:`TIE_TOLERANCE`."""
    n, k = probs.shape
    out = np.full(n, ABSTAIN)
    ok = ~np.isnan(probs).any(axis=1)
    if not ok.any():
        return out
    p = probs[ok]
    best = p.argmax(axis=1)
    if tie_break == "abstain" and k > 1:
        top2 = np.sort(p, axis=1)[:, -2:]
        best = np.where(top2[:, 1] - top2[:, 0] <= TIE_TOLERANCE, ABSTAIN, best)
    out[ok] = best
    return out


def combine(
    votes: np.ndarray | Sequence,
    labels: Sequence[str],
    *,
    method: Literal["majority_vote", "dawid_skene"] = "dawid_skene",
    tie_break: Literal["abstain", "first"] = "abstain",
    trust: Literal["agreement", "probability"] = "agreement",
    min_votes: int = 1,
    smoothing: float = 1.0,
    max_iter: int = 200,
) -> LabelModelOutput:
    """Combine labellers' votes into one label per record.

    Args:
        votes: ``(n, m)`` label indices with :data:`ABSTAIN`, or ``(n, m, k)`` soft votes
            (see :func:`vote_distributions`).
        labels: the k label names, in index order.
        method: ``majority_vote`` or ``dawid_skene`` (see the module docstring).
            Dawid-Skene needs at least three labellers voting on the same records to
            tell their error rates apart; with fewer, use majority vote.
        tie_break: ``abstain`` gives no label when the top two probabilities tie (within
            1e-9); ``first`` takes the tied label with the lowest index (label-set order).
        trust: the trust weight of a record with a label: ``agreement`` (share of its
            non-abstaining labellers that voted that label, the issue's "per-record
            agreement becomes the trust weight"; a record with one vote gets 1.0, so use
            ``min_votes`` to demand more) or ``probability`` (the model's probability of
            the label: the vote share for majority vote, which equals agreement, or the
            Dawid-Skene posterior, which trusts accurate labellers more and is
            overconfident when labellers are correlated). 0 for a record with no label.
        min_votes: records with fewer non-abstaining labellers get no label.
        smoothing, max_iter: passed to :func:`dawid_skene`.

    Returns:
        A :class:`LabelModelOutput` over the n records.

    Raises:
        ValueError: bad votes (see :func:`vote_distributions`), an unknown method,
            tie-break or trust, or ``min_votes`` < 1.
    """
    labels = list(labels)
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if tie_break not in ("abstain", "first"):
        raise ValueError(f"tie_break must be 'abstain' or 'first', not {tie_break!r}")
    if trust not in ("agreement", "probability"):
        raise ValueError(f"trust must be 'agreement' or 'probability', not {trust!r}")
    if min_votes < 1:
        raise ValueError("min_votes must be >= 1")
    dist = vote_distributions(votes, len(labels))
    n_votes = (dist.sum(axis=2) > 0).sum(axis=1)
    fit = None
    if method == "majority_vote":
        probs = majority_vote_probs(dist)
    else:
        fit = dawid_skene(dist, smoothing=smoothing, max_iter=max_iter)
        probs = fit.probs
    index = _choose(probs, tie_break)
    index[n_votes < min_votes] = ABSTAIN
    chosen = index != ABSTAIN
    rows = np.nonzero(chosen)[0]
    probability = np.full(len(index), np.nan)
    probability[rows] = probs[rows, index[rows]]
    agreement = np.full(len(index), np.nan)
    agreement[rows] = dist[rows, :, index[rows]].sum(axis=1) / n_votes[rows]
    trust_weight = np.zeros(len(index))
    trust_weight[rows] = (agreement if trust == "agreement" else probability)[rows]
    return LabelModelOutput(
        method=method,
        labels=labels,
        probs=probs,
        index=index,
        probability=probability,
        agreement=agreement,
        n_votes=n_votes,
        trust_weight=np.clip(trust_weight, 0.0, 1.0),
        prior=None if fit is None else fit.prior,
        confusion=None if fit is None else fit.confusion,
        iterations=0 if fit is None else fit.iterations,
        log_likelihood=[] if fit is None else fit.log_likelihood,
    )


# ------------------------------------------------------------------ choosing


def dev_accuracy(index: np.ndarray, dev_labels: np.ndarray | Sequence[int]) -> float:
    """Accuracy of chosen label indices ``(n,)`` on the records whose ``dev_labels``
    ``(n,)`` is not :data:`ABSTAIN`; a record given no label counts as wrong.

    Raises:
        ValueError: shapes differ or no record has a dev label.
    """
    gold = np.asarray(dev_labels)
    if gold.shape != np.shape(index):
        raise ValueError(f"dev_labels has shape {gold.shape}, votes have {np.shape(index)}")
    known = gold != ABSTAIN
    if not known.any():
        raise ValueError("no record has a dev label")
    return float((np.asarray(index)[known] == gold[known]).mean())


@dataclass
class LabelModelChoice:
    """Which label model won on the dev records, both accuracies, how many dev records
    they were measured on, and the winner's output over all records."""

    method: str
    accuracies: dict[str, float]
    n_dev: int
    output: LabelModelOutput


def choose_label_model(
    votes: np.ndarray | Sequence,
    dev_labels: np.ndarray | Sequence[int],
    labels: Sequence[str],
    **options,
) -> LabelModelChoice:
    """Majority vote or Dawid-Skene, whichever labels the dev records better.

    Both are fitted on every record (Dawid-Skene without the dev labels: they only score
    it), and scored by :func:`dev_accuracy` on the records with a dev label. On equal
    accuracy majority vote wins (the simpler model; "majority vote when that wins").

    Args:
        votes: ``(n, m)`` or ``(n, m, k)`` votes on all records (see :func:`combine`).
        dev_labels: ``(n,)`` true label index per record, :data:`ABSTAIN` where unknown.
        labels: the k label names.
        **options: passed to :func:`combine` (``tie_break``, ``trust``, ``min_votes``,
            ``smoothing``, ``max_iter``).

    Raises:
        ValueError: see :func:`combine` and :func:`dev_accuracy`.
    """
    outputs = {m: combine(votes, labels, method=m, **options) for m in METHODS}
    accuracies = {m: dev_accuracy(o.index, dev_labels) for m, o in outputs.items()}
    winner = max(METHODS, key=lambda m: (accuracies[m], m == "majority_vote"))
    n_dev = int((np.asarray(dev_labels) != ABSTAIN).sum())
    return LabelModelChoice(winner, accuracies, n_dev, outputs[winner])


# ------------------------------------------------------------------ analysis


@dataclass(frozen=True)
class LabellerStats:
    """One labeller's statistics in Snorkel's ``LFAnalysis`` terms, as shares of all n
    records: ``coverage`` (it votes), ``overlap`` (it votes and another labeller votes),
    ``conflict`` (it votes and another labeller votes a different label); ``polarity``
    the label indices it ever votes; ``accuracy`` the share of its votes on dev records
    that match the dev label (None without dev labels or dev votes), over ``dev_votes``."""

    name: str
    polarity: tuple[int, ...]
    coverage: float
    overlap: float
    conflict: float
    accuracy: float | None
    dev_votes: int


def labeller_stats(
    votes: np.ndarray | Sequence,
    n_labels: int,
    names: Sequence[str] | None = None,
    dev_labels: np.ndarray | Sequence[int] | None = None,
) -> list[LabellerStats]:
    """Coverage, overlap, conflict, polarity and (with dev labels) empirical accuracy of
    each of the m labellers; soft votes count as their most probable label.

    Args:
        votes: ``(n, m)`` or ``(n, m, k)`` votes.
        n_labels: k.
        names: m labeller names (default ``lf0``, ``lf1``, ...).
        dev_labels: ``(n,)`` true label indices, :data:`ABSTAIN` where unknown.

    Raises:
        ValueError: bad votes, ``names`` of the wrong length, ``dev_labels`` of the wrong
            shape.
    """
    hard = hard_votes(vote_distributions(votes, n_labels))
    n, m = hard.shape
    names = [f"lf{j}" for j in range(m)] if names is None else list(names)
    if len(names) != m:
        raise ValueError(f"{len(names)} names for {m} labellers")
    gold = None if dev_labels is None else np.asarray(dev_labels)
    if gold is not None and gold.shape != (n,):
        raise ValueError(f"dev_labels has shape {gold.shape}, expected ({n},)")
    voted = hard != ABSTAIN
    per_record = voted.sum(axis=1)
    stats = []
    for j in range(m):
        mine = voted[:, j]
        others = voted & ~np.eye(m, dtype=bool)[j]
        differ = others & (hard != hard[:, [j]])
        accuracy, dev_votes = None, 0
        if gold is not None:
            scored = mine & (gold != ABSTAIN)
            dev_votes = int(scored.sum())
            if dev_votes:
                accuracy = float((hard[scored, j] == gold[scored]).mean())
        share = (lambda mask: float(mask.sum() / n)) if n else (lambda mask: 0.0)
        stats.append(
            LabellerStats(
                name=names[j],
                polarity=tuple(int(v) for v in np.unique(hard[mine, j])),
                coverage=share(mine),
                overlap=share(mine & (per_record > 1)),
                conflict=share(mine & differ.any(axis=1)),
                accuracy=accuracy,
                dev_votes=dev_votes,
            )
        )
    return stats
