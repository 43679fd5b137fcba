"""Error-driven rounds: S3, "Synthesis Step by Step" (Wang, Zhou, Sachan, arXiv 2310.13671).

After the first synthesis, train a small student on the synthetic records so far, label
the user's real seed examples with it, and ask the LLM for new records like the seed
examples it gets wrong ("error extrapolation"); add them, retrain, repeat for a few rounds.
The seeds play the paper's small real validation set; the real test split is never used.

Here the student is TF-IDF + logistic regression (scikit-learn), fitted in well under a
second on a few hundred records; a round's new drafts are planned from the misclassified
examples in id order, each with an instance seed the LLM drew from that example
(:class:`~synthloom.operators.targen.seed_situations.SeedSituations`), so the drafts of a
round are the same on a resumed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthloom.operators.base import Operator, derived_seed
from synthloom.records import Origin, Plan, Provenance, Record


def student_errors(records: Sequence[Record], examples: Sequence[Mapping[str, Any]],
                   seed: int = 0) -> list[dict[str, Any]]:
    """The labelled ``examples`` (``{"id", "text", "label"}``) that a TF-IDF + logistic
    regression student trained on ``records`` labels wrong, each with ``"predicted"``;
    all labelled examples when ``records`` hold fewer than 2 labels (no student).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    labelled = [dict(e) for e in examples if e.get("label") is not None]
    labels = {str(r.label) for r in records if r.label is not None}
    if len(labels) < 2 or not labelled:
        return [{**e, "predicted": None} for e in labelled]
    student = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                            LogisticRegression(max_iter=1000, random_state=seed))
    kept = [r for r in records if r.label is not None]
    student.fit([r.text for r in kept], [str(r.label) for r in kept])
    predicted = student.predict([str(e["text"]) for e in labelled])
    return [{**e, "predicted": str(p)} for e, p in zip(labelled, predicted, strict=True)
            if str(p) != str(e["label"])]


class ErrorRoundPlanner(Operator):
    """Draft records for one S3 round from the misclassified seed examples.

    Args:
        task: task name.
        labels: the task's labels.
        per_error: drafts per misclassified example.
        seed: master seed.
        recipe_sha256: recorded in each draft's provenance.
    """

    name = "seed_data.error_rounds"
    version = "1"

    def __init__(self, task: str, labels: Mapping[str, str], per_error: int, *, seed: int = 0,
                 recipe_sha256: str | None = None) -> None:
        self.task, self.labels, self.per_error = task, dict(labels), per_error
        self.seed, self.recipe_sha256 = seed, recipe_sha256

    def drafts(self, round_number: int, errors: Sequence[Mapping[str, Any]],
               situations: Mapping[str, Sequence[str]], start: int) -> list[Record]:
        """Drafts numbered from ``start``: ``per_error`` per error, each with one of the
        situations drawn from that example (``{example id: [situation]}``), the example's
        label as its target, and ``{"round", "error_example", "predicted"}`` in its
        planning step. An error without situations gets none."""
        out = []
        for error in sorted(errors, key=lambda e: str(e["id"])):
            items = list(situations.get(str(error["id"])) or [])
            for j in range(min(self.per_error, len(items)) if items else 0):
                index = start + len(out)
                number = derived_seed(self.recipe_sha256, self.seed, "round", round_number, index)
                plan_id = f"plan-{number:010d}-r{round_number}-{index}"
                step = self.step("planned", index=index, label_index=index, round=round_number,
                                 error_example=str(error["id"]),
                                 predicted=error.get("predicted"))
                out.append(Record(
                    id=plan_id, task=self.task, origin=Origin.synthetic,
                    provenance=Provenance(
                        plan=Plan(id=plan_id, context=f"seed example {error['id']}"),
                        instance_seed=items[j], target_label=str(error["label"]),
                        recipe_sha256=self.recipe_sha256, operators=[step],
                        seed_examples=[str(error["id"])])))
        return out
