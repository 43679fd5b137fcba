"""The data of one evaluation: usable synthetic records and three disjoint real splits.

Real data is split once, deterministically for a seed: a **test** split that every score is
measured on and nothing is trained or tuned on; a **validation** split used only to choose
settings (the trust weight lambda); and a **train** split that real baselines, real seed sets
and learning curves draw from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from synthloom.datasets import real_splits, stratified_split
from synthloom.errors import UserInputError
from synthloom.records import Origin, Record

MIN_TEST_RECORDS = 20
"""A real test split smaller than this gives intervals too wide to read; refused."""
MIN_SYNTHETIC_RECORDS = 10
"""Fewer usable synthetic records than this cannot be scored (k-NN manifolds need k + 1)."""


@dataclass(frozen=True)
class EvaluationData:
    """Synthetic records to score and the real splits to score them on.

    Attributes:
        synthetic: usable synthetic records (labelled, not rejected), in input order.
        n_synthetic_skipped: synthetic records left out (rejected or unlabelled).
        real_train / real_validation / real_test: disjoint, label-stratified real splits.
        labels: the real label set, sorted.
        missing_in_synthetic: real labels with no synthetic record (reported, not an error).
        real_seed: the real seed set of the mixing and trust-weight experiments when the
            run was anchored in real seed examples (None: drawn from ``real_train``).
    """

    synthetic: list[Record]
    n_synthetic_skipped: int
    real_train: list[Record]
    real_validation: list[Record]
    real_test: list[Record]
    labels: list[str]
    missing_in_synthetic: list[str]
    real_seed: list[Record] | None = None


def prepare(
    synthetic: Sequence[Record],
    real: Sequence[Record],
    *,
    test_fraction: float = 0.3,
    validation_fraction: float = 0.2,
    seed: int = 13,
) -> EvaluationData:
    """Check the inputs and split the real records into train, validation and test.

    ``real`` is split ``test_fraction`` into test (the same split as
    :func:`~synthloom.datasets.stratified_split` gives for this seed), then the rest is split
    ``validation_fraction`` into validation.

    Raises:
        UserInputError: a synthetic record is not ``origin=synthetic`` or a real one not
            ``origin=real``; no real records, or real records without labels; no usable
            synthetic records or fewer than 2 synthetic labels; synthetic labels the real data
            does not have (the message lists both label sets); a label too rare to split; a
            real test split under :data:`MIN_TEST_RECORDS` records.
    """
    for given, origin, verb in ((synthetic, Origin.synthetic, "trains"),
                                (real, Origin.real, "tests")):
        wrong = [r for r in given if r.origin != origin]
        if wrong:
            raise UserInputError(
                f"{len(wrong)} of the records given as {origin.value} have origin "
                f"'{wrong[0].origin}' (first: id {wrong[0].id}); "
                f"evaluation only {verb} on origin={origin.value} records"
            )
    if not real:
        raise UserInputError("the real data is empty")
    unlabelled = sum(1 for r in real if r.label is None)
    if unlabelled:
        raise UserInputError(f"{unlabelled} of {len(real)} real records have no label")
    kept = [r for r in synthetic if r.rejected is None and r.label is not None]
    if not kept:
        raise UserInputError(
            f"no usable synthetic records: {len(synthetic)} given, none both labelled and "
            "not rejected"
        )
    if len(kept) < MIN_SYNTHETIC_RECORDS:
        raise UserInputError(
            f"only {len(kept)} usable synthetic records; need at least {MIN_SYNTHETIC_RECORDS}"
        )
    real_labels = sorted({str(r.label) for r in real})
    syn_counts = Counter(str(r.label) for r in kept)
    unknown = sorted(set(syn_counts) - set(real_labels))
    if unknown:
        raise UserInputError(
            f"synthetic labels not in the real data: {', '.join(unknown)} "
            f"(real labels: {', '.join(real_labels)})"
        )
    if len(syn_counts) < 2:
        raise UserInputError(
            f"synthetic data has only {len(syn_counts)} label ({', '.join(syn_counts)}); "
            "a student needs at least 2"
        )
    if not 0.0 < validation_fraction < 1.0:
        raise UserInputError(
            f"validation fraction must be between 0 and 1, got {validation_fraction}"
        )
    _, test = stratified_split(list(real), test_fraction=test_fraction, seed=seed)
    if len(test) < MIN_TEST_RECORDS:
        raise UserInputError(
            f"the real test split has {len(test)} records ({len(real)} real records at test "
            f"fraction {test_fraction}); need at least {MIN_TEST_RECORDS}"
        )
    train, validation, test = real_splits(real, test_fraction, validation_fraction, seed)
    return EvaluationData(
        synthetic=kept,
        n_synthetic_skipped=len(synthetic) - len(kept),
        real_train=train,
        real_validation=validation,
        real_test=test,
        labels=real_labels,
        missing_in_synthetic=sorted(set(real_labels) - set(syn_counts)),
    )


def with_seed_examples(data: EvaluationData, seed_ids: Sequence[str], seed: int
                       ) -> EvaluationData:
    """``data`` with ``real_seed`` set to the real train records among ``seed_ids`` (the
    examples a run was anchored in), or unchanged when none of them is in the real data.

    Raises:
        UserInputError: a seed example is in the real validation or test split: a score
            on it would reward copying the seed.
    """
    ids = set(seed_ids)
    held_out = [r for r in data.real_test + data.real_validation if r.id in ids]
    if held_out:
        raise UserInputError(
            f"{len(held_out)} of the run's {len(ids)} seed examples are in the real test or "
            f"validation split at seed {seed}; evaluate with the split seed they were drawn "
            "with (the recipe's seed_data split_seed)")
    own = [r for r in data.real_train if r.id in ids]
    return replace(data, real_seed=own) if own else data
