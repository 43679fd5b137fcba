"""TarGEN step 3: label constraints, the target label each instance must carry.

Gupta et al., arXiv 2310.17876, section 3: the label is sampled before the instance
is written, which keeps classes balanced (or at a chosen distribution) by construction.
Here the planner pairs each target label with a context and one of that label's
instance seeds, producing draft records that the instance generator fills in.
"""

from __future__ import annotations

import random

from synthloom.operators.base import Operator, derived_seed
from synthloom.records import Origin, Plan, Provenance, Record


class LabelConstraintPlanner(Operator):
    """Turns instance seeds and label quotas into draft records.

    The ``j``-th draft of a label always gets the same (context, seed) pair for a given
    master seed, so a resumed run re-plans identically. Target labels go to the labels
    furthest below their quota, so rejections are made up where they happen.

    Args:
        task: task name.
        labels: label -> one-line description.
        seeds: ``{label: {context: [instance seed, ...]}}`` from step 2.
        seed: master seed.
        recipe_sha256: recorded in each draft's provenance.

    Raises:
        ValueError: a label has no instance seed at all.
    """

    name = "targen.label_constraints"
    version = "2"
    templates = {"constraint": "The text's label must be '{label}': {description}"}

    def __init__(
        self,
        task: str,
        labels: dict[str, str],
        seeds: dict[str, dict[str, list[str]]],
        *,
        seed: int = 0,
        recipe_sha256: str | None = None,
    ) -> None:
        self.task, self.labels, self.seed = task, labels, seed
        self.recipe_sha256 = recipe_sha256
        self.pairs: dict[str, list[tuple[str, str]]] = {}
        for label in labels:
            pairs = [(c, s) for c, items in seeds.get(label, {}).items() for s in items]
            if not pairs:
                raise ValueError(f"no instance seed for label {label!r} (every request failed)")
            random.Random(derived_seed(self.name, seed, label)).shuffle(pairs)
            self.pairs[label] = pairs

    @staticmethod
    def next_labels(quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        """Up to ``k`` target labels, each to whichever label is furthest below its quota.

        ``counts`` holds records accepted per label; it is not modified. Ties go to the
        label listed first.
        """
        counts = dict(counts)
        order = list(quotas)
        out: list[str] = []
        for _ in range(k):
            label = max(order, key=lambda x: (quotas[x] - counts.get(x, 0), -order.index(x)))
            if quotas[label] - counts.get(label, 0) <= 0:
                break
            counts[label] = counts.get(label, 0) + 1
            out.append(label)
        return out

    def draft(self, index: int, label: str, label_index: int) -> Record:
        """Draft number ``index``, the ``label_index``-th of ``label`` (no inputs yet)."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}")
        pairs = self.pairs[label]
        context, instance_seed = pairs[label_index % len(pairs)]
        plan_id = f"plan-{derived_seed(self.recipe_sha256, self.seed, index):010d}-{index}"
        constraint = self.templates["constraint"].format(
            label=label, description=self.labels[label]
        )
        return Record(
            id=plan_id,
            task=self.task,
            origin=Origin.synthetic,
            provenance=Provenance(
                recipe_sha256=self.recipe_sha256,
                plan=Plan(id=plan_id, context=context),
                instance_seed=instance_seed,
                target_label=label,
                label_constraint=constraint,
                operators=[self.step("planned", index=index, label_index=label_index)],
            ),
        )
