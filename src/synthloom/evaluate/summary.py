"""One evaluation of a synthetic set against real data, every measurement in one dict.

Order of work: check and split the data (:mod:`~synthloom.evaluate.splits`); embed every text
once; then per student TSTR, learning curves, mixing and the trust-weight sweep
(:mod:`~synthloom.evaluate.tstr`, :mod:`~synthloom.evaluate.curves`); distribution
(:mod:`~synthloom.evaluate.distribution`), diversity, leakage; optionally the generator's own
zero-shot accuracy (:mod:`~synthloom.evaluate.generator_check`); last, a verdict.
"""

from __future__ import annotations

import random
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from synthloom.errors import UserInputError
from synthloom.evaluate.curves import learning_curves, mixing, trust_weight_sweep
from synthloom.evaluate.discriminator import classifier_two_sample_test
from synthloom.evaluate.distribution import marginals, precision_recall_coverage, projection_2d
from synthloom.evaluate.diversity import diversity_report
from synthloom.evaluate.leakage import leakage_report
from synthloom.evaluate.splits import EvaluationData, prepare, with_seed_examples
from synthloom.evaluate.students import make_student
from synthloom.evaluate.tstr import tstr_scores
from synthloom.evaluate.verdict import verdict
from synthloom.llm.embeddings import default_embedder
from synthloom.records import Record

DEFAULT_STUDENTS = ("tfidf-lr", "embedding-lr")
DEFAULT_REAL_SEED_SIZE = 50
"""``real_seed_size`` when none is chosen (the CLI's ``--real-seed-size`` default)."""
GeneratorCheck = Callable[[EvaluationData], dict[str, Any]]


class _Timer:
    def __init__(self, on_step: Callable[[str], None] | None) -> None:
        self.seconds: dict[str, float] = {}
        self.on_step = on_step

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        if self.on_step:
            self.on_step(name)
        started = time.perf_counter()
        try:
            return fn()
        finally:
            self.seconds[name] = round(
                self.seconds.get(name, 0.0) + time.perf_counter() - started, 3
            )


def evaluate_synthetic(
    synthetic: Sequence[Record],
    real: Sequence[Record],
    *,
    students: Sequence[str] = DEFAULT_STUDENTS,
    test_fraction: float = 0.3,
    validation_fraction: float = 0.2,
    seed: int = 13,
    real_seed_size: int = DEFAULT_REAL_SEED_SIZE,
    leakage_n: int = 8,
    leakage_cosine: float = 0.95,
    leakage_threshold: float = 0.01,
    marginal_threshold: float = 2.0,
    n_bootstrap: int = 1000,
    generator_check: GeneratorCheck | None = None,
    on_step: Callable[[str], None] | None = None,
    seed_examples: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score a synthetic set against real data; returns the JSON-serialisable metrics.

    Args:
        synthetic: records with ``origin=synthetic`` (rejected and unlabelled are skipped).
        real: labelled records with ``origin=real``.
        students: student names (see :func:`~synthloom.evaluate.students.make_student`).
        test_fraction / validation_fraction / seed: the real splits (see
            :func:`~synthloom.evaluate.splits.prepare`).
        real_seed_size: real train records in the mixing and trust-weight experiments. When
            the real train split is smaller, the default (:data:`DEFAULT_REAL_SEED_SIZE`)
            becomes the split's size, with a ``RuntimeWarning``, and any other number is
            refused; ``metrics["data"]["real_seed_size"]`` is the number used.
        leakage_n / leakage_cosine / leakage_threshold: see
            :func:`~synthloom.evaluate.leakage.leakage_report`.
        marginal_threshold: flag a marginal whose standardized difference exceeds this.
        n_bootstrap: bootstrap resamples for 95% intervals.
        generator_check: called with the prepared data; returns the generator's zero-shot
            scores (see :func:`~synthloom.evaluate.generator_check.generator_zero_shot`).
        on_step: called with each step's name as it starts (for progress display).
        seed_examples: ids of the real examples the run was anchored in (its
            ``plan/seed_examples.json``); those found in the real train split are the real
            seed set of the mixing and trust-weight experiments (so "real alone" means the
            user's own seeds), and ``real_seed_size`` is ignored.

    Returns:
        ``{"data", "students": {name: {"tstr", "learning_curves", "mixing",
        "trust_weight"}}, "distribution", "marginals", "projection", "realism", "diversity",
        "leakage",
        "generator", "verdict", "seconds"}``; ``seconds`` is wall time per step.

    Raises:
        UserInputError: bad inputs (see :func:`~synthloom.evaluate.splits.prepare`), an
            unknown or unusable student (see
            :func:`~synthloom.evaluate.students.make_student`), data a student cannot be
            trained on, seed examples in the real validation or test split, or a
            ``real_seed_size`` other than the default above the real train split's size.
    """
    for name in students:
        make_student(name, seed)  # fail early on an unknown or unusable student
    timer = _Timer(on_step)
    data = timer("split", lambda: prepare(
        synthetic, real, test_fraction=test_fraction,
        validation_fraction=validation_fraction, seed=seed,
    ))
    seed_source = "drawn from real train"
    if seed_examples and (data := with_seed_examples(data, seed_examples, seed)).real_seed:
        real_seed_size, seed_source = len(data.real_seed), "the run's seed examples"
    elif real_seed_size > len(data.real_train):
        real_seed_size = _fit_seed_size(real_seed_size, len(data.real_train), len(real))
    syn_texts = [r.text for r in data.synthetic]
    test_texts = [r.text for r in data.real_test]
    real_sample = random.Random(seed).sample(
        data.real_train, min(len(data.synthetic), len(data.real_train))
    )
    embedder = default_embedder()
    embed = embedder.embed
    timer("embed", lambda: embed(
        syn_texts + [r.text for r in data.real_train + data.real_validation] + test_texts
    ))
    syn_emb, test_emb = embed(syn_texts), embed(test_texts)
    real_train_emb = embed([r.text for r in data.real_train])
    sample_emb = embed([r.text for r in real_sample])

    per_student: dict[str, Any] = {}
    for name in students:
        per_student[name] = {
            "tstr": timer(f"tstr {name}", lambda n=name: tstr_scores(data, n, seed, n_bootstrap)),
            "learning_curves": timer(
                f"learning curves {name}", lambda n=name: learning_curves(data, n, seed)
            ),
            "mixing": timer(f"mixing {name}", lambda n=name: mixing(
                data, n, real_seed_size, seed=seed, n_bootstrap=n_bootstrap)),
            "trust_weight": timer(
                f"trust weight {name}",
                lambda n=name: trust_weight_sweep(data, n, real_seed_size, seed=seed),
            ),
        }
    metrics: dict[str, Any] = {
        "data": {
            "n_synthetic": len(data.synthetic),
            "n_synthetic_skipped": data.n_synthetic_skipped,
            "n_real_train": len(data.real_train),
            "n_real_validation": len(data.real_validation),
            "n_real_test": len(data.real_test),
            "labels": data.labels,
            "missing_in_synthetic": data.missing_in_synthetic,
            "synthetic_label_counts": dict(sorted(Counter(
                str(r.label) for r in data.synthetic).items())),
            "seed": seed,
            "test_fraction": test_fraction,
            "validation_fraction": validation_fraction,
            "real_seed_size": real_seed_size,
            "real_seed_source": seed_source,
            "embedder": embedder.model_id,
            "embedding_window": {"real": embedder.window_cost(test_texts),
                                 "synthetic": embedder.window_cost(syn_texts)},
        },
        "students": per_student,
    }
    metrics["baselines"] = {"majority": majority_baseline(data)}
    metrics["distribution"] = timer(
        "distribution", lambda: precision_recall_coverage(real_train_emb, syn_emb, seed=seed)
    )
    metrics["marginals"] = timer("marginals", lambda: marginals(
        syn_texts, [r.text for r in data.real_validation], [r.text for r in data.real_train],
        threshold=marginal_threshold,
    ))
    metrics["projection"] = timer("projection", lambda: _projection(sample_emb, syn_emb, seed))
    metrics["realism"] = timer("realism", lambda: classifier_two_sample_test(
        [r.text for r in real_sample], syn_texts, sample_emb, syn_emb,
        folds=min(5, len(real_sample), len(syn_texts)), seed=seed))
    metrics["diversity"] = timer("diversity", lambda: {
        "synthetic": diversity_report(syn_texts, [str(r.label) for r in data.synthetic], syn_emb),
        "real": diversity_report(
            [r.text for r in real_sample], [str(r.label) for r in real_sample], sample_emb
        ),
    })
    metrics["leakage"] = timer("leakage", lambda: leakage_report(
        syn_texts, test_texts, syn_emb, test_emb, n=leakage_n,
        cosine_threshold=leakage_cosine, max_share=leakage_threshold,
        real_train_texts=[r.text for r in real_sample],
    ))
    metrics["generator"] = (
        timer("generator zero-shot", lambda: generator_check(data))
        if generator_check is not None
        else None
    )
    metrics["verdict"] = verdict(metrics)
    metrics["seconds"] = timer.seconds
    return metrics


def _fit_seed_size(asked: int, train: int, total: int) -> int:
    """The real seed set's size when ``asked`` is more than the ``train`` records of the real
    train split: ``train`` for the default size (with a warning).

    Raises:
        UserInputError: ``asked`` is not the default (the user chose it).
    """
    where = (f"the real train split has only {train} records (of {total} real records, "
             "after the test and validation splits)")
    if asked != DEFAULT_REAL_SEED_SIZE:
        raise UserInputError(f"--real-seed-size {asked} is more than the real data allows: "
                             f"{where}; give --real-seed-size {train} or less")
    warnings.warn(f"real seed size {asked}: {where}; using {train}", RuntimeWarning,
                  stacklevel=3)
    return train


def majority_baseline(data: Any) -> dict[str, Any]:
    """Scores of always answering the real train split's most common label, on the real
    test split: a student below this has learnt nothing useful (read it beside macro-F1).

    Returns ``{"label", "accuracy", "macro_f1"}``.
    """
    from sklearn.metrics import f1_score

    label = Counter(str(r.label) for r in data.real_train).most_common(1)[0][0]
    y_true = [str(r.label) for r in data.real_test]
    y_pred = [label] * len(y_true)
    accuracy = sum(t == label for t in y_true) / len(y_true)
    macro = f1_score(y_true, y_pred, labels=data.labels, average="macro", zero_division=0)
    return {"label": label, "accuracy": round(accuracy, 4), "macro_f1": round(float(macro), 4)}


def _projection(real: Any, synthetic: Any, seed: int, cap: int = 2000) -> dict[str, Any]:
    """PCA projection of at most ``cap`` points per set (enough to see the shape)."""
    rng = random.Random(seed)
    r = real[sorted(rng.sample(range(len(real)), min(cap, len(real))))]
    s = synthetic[sorted(rng.sample(range(len(synthetic)), min(cap, len(synthetic))))]
    return projection_2d(r, s, seed)
