"""Human review of a run: a local web page to look at, correct and rate synthetic data.

``synthloom review DIR`` serves the page (:mod:`synthloom.review.server`, 127.0.0.1 only,
a random token in its URL). Every action a person takes is appended to ``DIR/reviews.jsonl``
(:mod:`synthloom.review.log`); ``data.jsonl`` and ``rejected.jsonl`` are never rewritten.
``synthloom export DIR --with-reviews`` folds the actions into the records
(:mod:`synthloom.review.apply`), each reviewed field marked as set by a person in provenance.

The calibration mode (:mod:`synthloom.review.calibrate`) asks a person to rate a stratified
sample blind and measures how far the run's judges agree with that person.

This package sits with the CLI, over the layers below it: records, tasks, the recipe a run
was made with, and :mod:`synthloom.evaluate.calibration`'s agreement statistics.
"""

from synthloom.review.apply import ActionRefused, apply_reviews, check_edit, review_states
from synthloom.review.log import ReviewAction, ReviewLog
from synthloom.review.run import ReviewRun, load_review_run

__all__ = [
    "ActionRefused", "ReviewAction", "ReviewLog", "ReviewRun", "apply_reviews", "check_edit",
    "load_review_run", "review_states",
]
