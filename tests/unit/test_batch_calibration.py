"""Batch calibration (arXiv 2309.17249) of LLM labellers' soft votes."""

from __future__ import annotations

import numpy as np
import pytest

from synthloom.operators.label.batch_calibration import batch_calibrate


def _biased(n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A labeller that leans to label 0 whatever the text: 0.7 + 0.2 on the true label."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, size=n)
    dist = np.zeros((n, 2, 3))
    for i, y in enumerate(truth):
        p = np.full(3, 0.05)
        p[0] += 0.6
        p[y] += 0.25
        dist[i, 0] = p / p.sum()
        dist[i, 1, y] = 1.0  # a rule's hard vote, always right
    soft = np.zeros((n, 2), dtype=bool)
    soft[:, 0] = True
    return dist, soft, truth


def test_the_lean_towards_a_label_is_divided_out_and_hard_votes_are_left_alone():
    dist, soft, truth = _biased()
    assert (dist[:, 0].argmax(axis=1) == truth).mean() < 0.5  # mostly label 0
    out, priors = batch_calibrate(dist, soft)
    assert (out[:, 0].argmax(axis=1) == truth).mean() == 1.0
    assert np.allclose(out[:, 0].sum(axis=1), 1.0)
    assert np.array_equal(out[:, 1], dist[:, 1]) and list(priors) == [0]
    assert priors[0] == pytest.approx(dist[:, 0].mean(axis=0), abs=1e-6)
    assert not np.shares_memory(out, dist)


def test_abstentions_stay_zero_and_few_votes_are_not_calibrated():
    dist, soft, _ = _biased()
    dist[3, 0] = 0.0  # abstained
    out, _ = batch_calibrate(dist, soft)
    assert out[3, 0].sum() == 0.0
    out, priors = batch_calibrate(dist[:10], soft[:10], min_records=20)
    assert priors == {} and np.array_equal(out, dist[:10])
    with pytest.raises(ValueError, match="need dist"):
        batch_calibrate(dist[:, 0], soft)
