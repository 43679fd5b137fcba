"""The ``curate.label_model`` step of the ``teacher_label`` kind: every record's votes
combined into its label, label probabilities, agreement and trust weight.

Majority vote or Dawid-Skene (:mod:`synthloom.operators.label.label_model`) over the votes
the ``teacher_label.vote`` step stored (an LLM labeller's label probabilities, a rule's one
label); ``auto`` chooses between them on the dev share of the source's human labels
(:func:`~synthloom.pipeline.steps.teacher_label.human_labels`), majority vote on equal
accuracy. A record the model gives no label (a tie, fewer votes than ``min_votes``) is
rejected with the reason.

Majority vote sums the soft votes (label probabilities); Dawid-Skene gets each vote's most
probable label (the 1979 model's hard votes). Measured on a scripted run (400 BBC train
articles, two LLM labellers right 75% of the time, each putting 0.6 on its answer and 0.3
on a random other label, and two keyword rules): Dawid-Skene over the soft votes as
fractional counts collapsed to one class (accuracy 0.25: every labeller's random second
label made its confusion matrix look uninformative); over the hard votes it scored 0.80,
majority vote over the soft votes 0.76 (18% ties, given no label).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field

from synthloom.operators.label.batch_calibration import batch_calibrate
from synthloom.operators.label.label_model import ABSTAIN, METHODS, combine, dev_accuracy
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.pipeline.steps.teacher_label import (
    find_step,
    human_labels,
    labeller_names,
    row_of,
)
from synthloom.records import Record, Verdict


def vote_vector(vote: dict[str, Any], labels: list[str]) -> np.ndarray:
    """One stored vote as a distribution over ``labels``: its ``probs`` (renormalised),
    else one-hot on its ``label``, else zeros (abstained)."""
    probs = vote.get("probs")
    if probs:
        v = np.array([float(probs.get(k, 0.0)) for k in labels])
        return v / v.sum() if v.sum() > 0 else v
    out = np.zeros(len(labels))
    if vote.get("label") in labels:
        out[labels.index(vote["label"])] = 1.0
    return out


class _LabelModel:
    def __init__(self, config: LabelModelStep, ctx: StepContext) -> None:
        self.config, self.name = config, config.type
        self.labels = list(ctx.recipe.task.labels)
        vote = find_step(ctx.recipe.steps, "teacher_label.vote")
        self.names = labeller_names(vote.labellers) if vote is not None else []
        self.recipe = ctx.recipe

    def curate(self, records: list[Record]) -> list[Record]:
        if not records:
            return records
        c, k = self.config, len(self.labels)
        dist = np.zeros((len(records), len(self.names), k))
        soft = np.zeros((len(records), len(self.names)), dtype=bool)
        for i, r in enumerate(records):
            votes = r.outputs.get("votes") or {}
            for j, name in enumerate(self.names):
                if name in votes:
                    dist[i, j] = vote_vector(votes[name], self.labels)
                    soft[i, j] = bool(votes[name].get("probs"))
        calibrated: dict[str, list[float]] = {}
        if c.calibration == "batch":  # the stored votes stay as the labellers gave them
            dist, priors = batch_calibrate(dist, soft, c.calibration_min_records)
            calibrated = {self.names[j]: prior for j, prior in priors.items()}
        hard = np.zeros_like(dist)  # each vote's most probable label, for Dawid-Skene
        i, j = np.nonzero(dist.sum(axis=2) > 0)
        hard[i, j, dist[i, j].argmax(axis=1)] = 1.0

        def fit(method: str) -> Any:
            votes = dist if method == "majority_vote" else hard
            return combine(votes, self.labels, method=method, trust=c.trust, min_votes=c.min_votes)

        chosen = None
        dev, _ = human_labels(self.recipe) if c.method == "auto" else ({}, {})
        gold = np.array(
            [
                self.labels.index(dev[row]) if dev.get(row) in self.labels else ABSTAIN
                for row in map(row_of, records)
            ]
        )
        if c.method == "auto" and (gold != ABSTAIN).any():  # majority vote wins a tie
            outs = {m: fit(m) for m in METHODS}
            accuracies = {m: dev_accuracy(outs[m].index, gold) for m in METHODS}
            method = max(METHODS, key=lambda m: (accuracies[m], m == "majority_vote"))
            out = outs[method]
            chosen = {"dev_records": int((gold != ABSTAIN).sum()), "accuracies": accuracies}
        else:
            method = "majority_vote" if c.method == "auto" else c.method
            out = fit(method)
        result = []
        for i, r in enumerate(records):
            index = int(out.index[i])
            detail = {
                "method": method,
                "n_votes": int(out.n_votes[i]),
                **({"calibrated": sorted(calibrated)} if calibrated else {}),
                **({"chosen_on_dev": chosen} if chosen else {}),
            }
            if index == ABSTAIN:
                reason = self._why(out.probs[i], int(out.n_votes[i]), method)
                result.append(
                    r.with_verdict(
                        Verdict(check="label_model", by=self.name, passed=False, detail=detail)
                    ).reject(self.name, reason)
                )
                continue
            probs = {k: round(float(p), 6) for k, p in zip(self.labels, out.probs[i], strict=True)}
            agreement = round(float(out.agreement[i]), 6)
            r = r.model_copy(
                update={
                    "label": self.labels[index],
                    "trust_weight": float(out.trust_weight[i]),
                    "outputs": {
                        **r.outputs,
                        "label_probs": probs,
                        "agreement": agreement,
                        "label_model": method,
                    },
                }
            )
            result.append(
                r.with_verdict(
                    Verdict(
                        check="label_model",
                        by=self.name,
                        passed=True,
                        score=round(float(out.probability[i]), 6),
                        detail=detail,
                    )
                )
            )
        return result

    def _why(self, probs: np.ndarray, n_votes: int, method: str) -> str:
        if n_votes == 0:
            return "no labeller voted"
        if n_votes < self.config.min_votes:
            return f"{n_votes} vote(s), fewer than min_votes {self.config.min_votes}"
        top = np.argsort(-probs, kind="stable")[:2]
        return (
            f"{method} tie between {self.labels[top[0]]!r} and {self.labels[top[1]]!r} "
            f"({probs[top[0]]:.2f} each)"
        )


@register_step
class LabelModelStep(StepConfig):
    """Combine every record's votes into its label, label probabilities, agreement and
    trust weight (:func:`~synthloom.operators.label.label_model.combine`).

    Attributes:
        method: ``majority_vote`` (over the soft votes), ``dawid_skene`` (over each
            vote's most probable label; needs at least three labellers: it learns each
            one's error rates from their disagreements), or ``auto``: with
            human labels (``test_labels``) and at least three labellers, whichever of the
            two labels a ``dev_fraction`` share of them better (majority vote on a tie);
            otherwise majority vote.
        trust: the trust weight of a labelled record: ``agreement`` (the share of its
            voting labellers that voted its label; for soft votes their mean probability
            of it) or ``probability`` (the label model's probability of it).
        min_votes: a record with fewer voting labellers gets no label (rejected).
        dev_fraction: the share of the human labels ``auto`` chooses on (never scored on).
        calibration: ``batch`` (default): each LLM labeller's label probabilities are
            divided by its mean over all the run's texts before they are combined (batch
            calibration, arXiv 2309.17249: removes a prompt's lean towards some labels
            whatever the text; no human label is used;
            :func:`~synthloom.operators.label.batch_calibration.batch_calibrate`);
            ``none`` combines them as given. The stored votes are never changed; a
            labeller with fewer than ``calibration_min_records`` soft votes is not
            calibrated. Each verdict lists the calibrated labellers.
        calibration_min_records: soft votes a labeller needs to be calibrated.

    A tie gives no label: the record is rejected with the tied labels.
    """

    type: Literal["curate.label_model"] = "curate.label_model"
    method: Literal["auto", "majority_vote", "dawid_skene"] = "auto"
    trust: Literal["agreement", "probability"] = "agreement"
    min_votes: int = Field(default=1, ge=1, strict=True)
    dev_fraction: float = Field(default=0.5, gt=0.0, lt=1.0)
    calibration: Literal["batch", "none"] = "batch"
    calibration_min_records: int = Field(default=20, ge=1, strict=True)
    role = "curate"
    reads = frozenset({"votes"})
    writes = frozenset({"label"})
    kinds = frozenset({"teacher_label"})

    def check_steps(self, index: int, steps: Sequence[StepConfig]) -> None:
        """Dawid-Skene needs three labellers; ``min_votes`` at most the labellers.

        Raises:
            ValueError: naming the problem.
        """
        vote = find_step(steps, "teacher_label.vote")
        m = len(vote.labellers) if vote is not None else 0
        if self.method == "dawid_skene" and m < 3:
            raise ValueError(
                f"dawid_skene needs at least 3 labellers to tell their error "
                f"rates apart, the vote step has {m}; use majority_vote"
            )
        if self.min_votes > m:
            raise ValueError(f"min_votes {self.min_votes} is more than the {m} labellers")

    def build(self, ctx: StepContext) -> Any:
        return _LabelModel(self, ctx)
