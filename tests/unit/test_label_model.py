"""Label models: majority vote and Dawid-Skene over labellers' votes, choosing between them
on dev labels, and per-labeller statistics."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from synthloom.operators.label import (
    ABSTAIN,
    choose_label_model,
    combine,
    dawid_skene,
    labeller_stats,
)
from synthloom.operators.label.label_model import vote_distributions

LABELS = ["a", "b", "c"]
A = ABSTAIN


def noisy_votes(rng: np.random.Generator, truth: np.ndarray, accuracy: float) -> np.ndarray:
    """One labeller: the true label with probability ``accuracy``, else a uniform wrong one."""
    k = len(LABELS)
    wrong = (truth + rng.integers(1, k, len(truth))) % k
    return np.where(rng.random(len(truth)) < accuracy, truth, wrong)


def accuracy(output, truth) -> float:
    return float((output.index == truth).mean())


def test_hand_example_labels_agreement_votes_and_trust() -> None:
    votes = [
        [0, 0, 1],  # 2 of 3 say a
        [1, A, 1],  # both voters say b
        [A, A, A],  # all abstain
        [0, 1, A],  # a tie
        [2, A, A],  # one vote
    ]
    out = combine(votes, LABELS, method="majority_vote")
    assert out.label == ["a", "b", None, None, "c"]
    np.testing.assert_array_equal(out.n_votes, [3, 2, 0, 2, 1])
    np.testing.assert_allclose(out.agreement, [2 / 3, 1.0, np.nan, np.nan, 1.0])
    np.testing.assert_allclose(out.probability, out.agreement)  # vote share = agreement
    np.testing.assert_allclose(out.trust_weight, [2 / 3, 1.0, 0.0, 0.0, 1.0])
    assert np.isnan(out.probs[2]).all()

    first = combine(votes, LABELS, method="majority_vote", tie_break="first", min_votes=2)
    assert first.label == ["a", "b", None, "a", None]  # tie -> lowest index; 1 vote < 2
    assert first.trust_weight[3] == 0.5


def test_soft_votes_sum_probabilities_and_give_soft_agreement() -> None:
    soft = np.zeros((1, 3, 3))
    soft[0, 0] = [0.6, 0.4, 0.0]  # an LLM labeller's token probabilities
    soft[0, 1] = [0.0, 1.0, 0.0]  # a rule's hard vote
    # labeller 2 abstains (all zeros)
    out = combine(soft, LABELS, method="majority_vote")
    assert out.label == ["b"] and out.n_votes[0] == 2
    np.testing.assert_allclose(out.probs[0], [0.3, 0.7, 0.0])
    np.testing.assert_allclose(out.agreement, [0.7])  # mean probability given to b
    ds = combine(soft, LABELS, method="dawid_skene")
    assert ds.n_votes[0] == 2 and np.isclose(ds.probs[0].sum(), 1.0)


def test_all_abstain_rows_get_no_label_under_both_models() -> None:
    votes = np.array([[0, 0], [A, A], [1, 1], [A, A], [0, A]])
    for method in ("majority_vote", "dawid_skene"):
        out = combine(votes, LABELS[:2], method=method)
        assert out.label[1] is None and out.label[3] is None
        assert out.trust_weight[1] == 0.0 and np.isnan(out.probability[3])
        assert out.label[0] == "a" and out.label[2] == "b"
    empty = combine(np.full((3, 2), A), LABELS, method="dawid_skene")
    assert empty.label == [None, None, None]


def test_bad_votes_are_rejected() -> None:
    with pytest.raises(ValueError, match="outside -1..2"):
        combine([[0, 3]], LABELS)
    with pytest.raises(ValueError, match="sum to 1"):
        combine(np.full((1, 1, 3), 0.5), LABELS)
    with pytest.raises(ValueError, match="method"):
        combine([[0]], LABELS, method="snorkel")


def test_dawid_skene_beats_majority_vote_with_one_accurate_and_two_noisy_labellers() -> None:
    # Independent errors: the model's assumption holds, and it learns to let the accurate
    # labeller outvote two noisy ones that agree on a wrong label.
    for seed in range(3):
        rng = np.random.default_rng(seed)
        truth = rng.integers(0, 3, 400)
        votes = np.stack([noisy_votes(rng, truth, acc) for acc in (0.9, 0.6, 0.6)], axis=1)
        votes[rng.random(400) < 0.2, 0] = A  # the accurate one sometimes abstains
        mv = combine(votes, LABELS, method="majority_vote")
        ds = combine(votes, LABELS, method="dawid_skene")
        assert accuracy(ds, truth) > accuracy(mv, truth) + 0.05
        diagonal = np.einsum("jcc->jc", ds.confusion).mean(axis=1)
        assert diagonal.argmax() == 0  # it finds the accurate labeller


def test_dawid_skene_gains_nothing_when_the_noisy_labellers_copy_each_other() -> None:
    # Two noisy labellers with the same errors break conditional independence: the model
    # sees a pair that always agrees, believes it, and follows it, as majority vote does.
    # It does not beat majority vote here (it ties), which choose_label_model resolves
    # in favour of majority vote.
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 300)
    noisy = noisy_votes(rng, truth, 0.6)
    votes = np.stack([noisy_votes(rng, truth, 0.9), noisy, noisy], axis=1)
    mv = combine(votes, LABELS, method="majority_vote")
    ds = combine(votes, LABELS, method="dawid_skene")
    assert accuracy(ds, truth) == pytest.approx(accuracy(mv, truth))
    choice = choose_label_model(votes, truth, LABELS)
    assert choice.method == "majority_vote"
    assert choice.accuracies["majority_vote"] == choice.accuracies["dawid_skene"]


def correlated_pair_and_three_independent(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A copied weak pair (0.55) plus three independent labellers (0.7): Dawid-Skene trusts
    the pair that always agrees and loses to majority vote."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 300)
    pair = noisy_votes(rng, truth, 0.55)
    others = [noisy_votes(rng, truth, 0.7) for _ in range(3)]
    return np.stack([pair, pair, *others], axis=1), truth


def test_choose_label_model_picks_the_better_model_on_the_dev_records() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 300)
    votes = np.stack([noisy_votes(rng, truth, acc) for acc in (0.9, 0.6, 0.6)], axis=1)
    dev = np.full(300, A)
    dev[:60] = truth[:60]  # 60 labelled dev records; the rest unlabelled
    choice = choose_label_model(votes, dev, LABELS)
    assert choice.n_dev == 60 and choice.method == "dawid_skene"
    assert choice.accuracies["dawid_skene"] > choice.accuracies["majority_vote"]
    assert choice.output.method == "dawid_skene" and len(choice.output.index) == 300

    votes, truth = correlated_pair_and_three_independent(2)
    dev = np.where(np.arange(300) < 60, truth, A)
    choice = choose_label_model(votes, dev, LABELS)
    assert choice.method == "majority_vote"
    assert choice.accuracies["majority_vote"] > choice.accuracies["dawid_skene"] + 0.05


def test_em_never_lowers_the_penalised_log_likelihood_even_with_soft_votes() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, 200)
    hard = np.stack([noisy_votes(rng, truth, acc) for acc in (0.8, 0.6, 0.5)], axis=1)
    dist = vote_distributions(hard, 3)
    dist[:, 0] = 0.7 * dist[:, 0] + 0.1  # labeller 0 soft: 0.8 on its vote, 0.1 elsewhere
    dist[rng.random(200) < 0.3, 1] = 0.0  # labeller 1 abstains on some
    fit = dawid_skene(dist, smoothing=0.5, max_iter=60, tol=-np.inf)
    assert fit.iterations == 60
    assert np.diff(fit.log_likelihood).min() > -1e-8
    np.testing.assert_allclose(fit.probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(fit.confusion.sum(axis=2), 1.0)


def test_dawid_skene_matches_crowd_kit_on_hard_votes() -> None:
    # An independent implementation (Toloka's crowd-kit) of the same EM, started the same
    # way (majority-vote shares), after the same number of iterations.
    pd = pytest.importorskip("pandas")
    crowdkit = pytest.importorskip("crowdkit.aggregation")
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 120)
    votes = np.stack([noisy_votes(rng, truth, acc) for acc in (0.85, 0.7, 0.6, 0.5)], axis=1)
    votes[rng.random(votes.shape) < 0.25] = A
    rows = [(i, j, int(v)) for (i, j), v in np.ndenumerate(votes) if v != A]
    frame = pd.DataFrame(rows, columns=["task", "worker", "label"])
    with warnings.catch_warnings():  # crowd-kit's pandas deprecation warnings
        warnings.simplefilter("ignore")
        reference = crowdkit.DawidSkene(n_iter=20, tol=-np.inf).fit(frame)
    expected = reference.probas_.reindex(index=range(120), columns=range(3)).to_numpy()
    fit = dawid_skene(vote_distributions(votes, 3), smoothing=0.0, max_iter=20, tol=-np.inf)
    np.testing.assert_allclose(fit.probs, expected, atol=1e-8)


def test_trust_can_be_the_posterior_probability() -> None:
    votes, _ = correlated_pair_and_three_independent(0)
    out = combine(votes, LABELS, method="dawid_skene", trust="probability")
    chosen = out.index != A
    np.testing.assert_allclose(out.trust_weight[chosen], out.probability[chosen])
    assert ((out.trust_weight >= 0) & (out.trust_weight <= 1)).all()


def test_labeller_stats_coverage_overlap_conflict_and_accuracy() -> None:
    votes = [
        [0, 0, A],
        [0, 1, A],
        [A, 1, A],
        [1, A, 2],
    ]
    dev = [0, 1, A, 2]
    stats = labeller_stats(votes, 3, names=["x", "y", "z"], dev_labels=dev)
    x, y, z = stats
    assert (x.name, x.polarity) == ("x", (0, 1))
    assert (x.coverage, x.overlap, x.conflict) == (0.75, 0.75, 0.5)
    assert (y.coverage, y.overlap, y.conflict) == (0.75, 0.5, 0.25)
    assert (z.coverage, z.overlap, z.conflict) == (0.25, 0.25, 0.25)
    assert (x.accuracy, x.dev_votes) == (pytest.approx(1 / 3), 3)
    assert (y.accuracy, y.dev_votes) == (1.0, 2)
    assert (z.accuracy, z.dev_votes) == (1.0, 1)
    assert labeller_stats(votes, 3)[0].accuracy is None
