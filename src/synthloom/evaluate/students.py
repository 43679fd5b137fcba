"""Student classifiers: the small models trained on synthetic (or real) data to score it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from synthloom.errors import UserInputError


def _tfidf_lr(seed: int) -> Any:
    """TF-IDF word 1-2 grams (sublinear tf, terms in >= 2 documents) + logistic regression.

    ``min_df=2`` drops terms seen in one training document only: on BBC News it cuts the
    vocabulary about 4x, speeds training 3-5x and does not lower accuracy (it raises it on
    small training sets).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(
                    sublinear_tf=True,
                    ngram_range=(1, 2),
                    min_df=2,
                    strip_accents="unicode",
                    lowercase=True,
                ),
            ),
            ("clf", LogisticRegression(C=10.0, max_iter=2000, random_state=seed)),
        ]
    )


STUDENTS: dict[str, Callable[[int], Any]] = {
    "tfidf-lr": _tfidf_lr,
}
"""Student name -> factory taking a seed and returning an unfitted scikit-learn estimator."""


def make_student(name: str = "tfidf-lr", seed: int = 0) -> Any:
    """Return a fresh, unfitted student classifier.

    Args:
        name: a key of :data:`STUDENTS` (``"tfidf-lr"``: TF-IDF 1-2 grams, ``min_df=2``, +
            multinomial logistic regression, C=10, lbfgs, ``max_iter=2000``).
        seed: random seed passed to the estimator.

    Returns:
        A scikit-learn estimator with ``fit(texts: list[str], labels: list[str])`` and
        ``predict(texts) -> ndarray[str]``.

    Raises:
        UserInputError: ``name`` is not a known student (the message lists the known ones).
    """
    try:
        factory = STUDENTS[name]
    except KeyError:
        raise UserInputError(
            f"unknown student '{name}'; known students: {', '.join(sorted(STUDENTS))}"
        ) from None
    return factory(seed)
