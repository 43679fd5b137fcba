"""Curate steps: whole-set judgements after every record is made (label noise, realism).

A curate step sees the finished synthetic set at once, which a streaming filter cannot:
confident learning needs every record's out-of-fold probabilities, a discriminator needs
the whole set against the real seeds. Its runtime object is ``curate(records) -> records``
(the same records, each with a verdict, a trust weight and, when dropped, a rejection);
:mod:`synthloom.pipeline.curation` applies it to a run's files once, so a resumed run
neither curates twice nor generates more.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

import numpy as np
from pydantic import Field

from synthloom.operators.filter.label_noise import find_label_issues
from synthloom.operators.filter.realism import realism_scores
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import Record, Verdict

Features = Literal["tfidf", "embedding"]


def _embeddings(texts: list[str], features: str) -> np.ndarray | None:
    if features != "embedding":
        return None
    from synthloom.llm.embeddings import default_embedder

    return default_embedder().embed(texts)


class _LabelNoise:
    def __init__(self, config: LabelNoiseStep, ctx: StepContext) -> None:
        self.config, self.name = config, config.type
        self.labels = list(ctx.recipe.task.labels)
        self.seed = ctx.recipe.seed
        self.anchor = [s for s in ctx.artifacts.get("seed_examples") or []
                       if s.get("label") in self.labels]

    def curate(self, records: list[Record]) -> list[Record]:
        c = self.config
        counts = Counter(r.label for r in records if r.label in self.labels)
        # a label needs 2 records to be judged out of fold; the others get no verdict
        judged = [r for r in records if counts.get(r.label, 0) >= 2]
        if len({r.label for r in judged}) < 2:
            return records
        texts = [r.text for r in judged]
        anchor_texts = [str(s["text"]) for s in self.anchor]
        evidence = find_label_issues(
            texts, [str(r.label) for r in judged], self.labels, anchor_texts=anchor_texts,
            anchor_labels=[str(s["label"]) for s in self.anchor],
            embeddings=_embeddings(texts + anchor_texts, c.features), folds=c.folds,
            anchor_weight=c.anchor_weight, seed=self.seed)
        by_id = {r.id: e for r, e in zip(judged, evidence, strict=True)}
        out = []
        for r in records:
            e = by_id.get(r.id)
            if e is None:
                out.append(r)
                continue
            r = r.with_verdict(Verdict(
                check="label_noise", by=self.name, passed=not e.issue,
                score=e.given_probability,
                detail={"predicted": e.predicted, "predicted_probability":
                        e.predicted_probability, "features": c.features,
                        "anchor_examples": len(self.anchor)}))
            if e.issue and c.action == "drop":
                r = r.reject(self.name, f"label {r.label!r} contradicted: out-of-fold "
                             f"probability {e.given_probability:.2f}, {e.predicted!r} "
                             f"{e.predicted_probability:.2f}")
            elif e.issue:
                r = r.model_copy(update={"trust_weight": min(r.trust_weight,
                                                             c.flagged_trust_weight)})
            out.append(r)
        return out


@register_step
class LabelNoiseStep(StepConfig):
    """Find synthetic records whose label the evidence contradicts, by confident learning
    (arXiv 1911.00068, ``cleanlab``) with the labelled real seed examples in every training
    fold (see :mod:`synthloom.operators.filter.label_noise`). Without seed data it judges
    the synthetic set by itself (each verdict's ``anchor_examples`` is then 0). Labels with
    fewer than 2 records, or fewer than 2 such labels, are not judged.

    Attributes:
        action: ``drop`` (reject the record) or ``weight`` (keep it at
            ``flagged_trust_weight``).
        flagged_trust_weight: trust weight of a kept flagged record.
        features: ``tfidf`` (word and bigram) or ``embedding`` (MiniLM).
        anchor_weight: sample weight of each real seed example (synthetic records weigh 1).
        folds: out-of-fold folds.
    """

    type: Literal["curate.label_noise"] = "curate.label_noise"
    action: Literal["drop", "weight"] = "drop"
    flagged_trust_weight: float = Field(default=0.5, ge=0.0, le=1.0)
    features: Features = "tfidf"
    anchor_weight: float = Field(default=1.0, gt=0.0, le=100.0)
    folds: int = Field(default=5, ge=2, le=20, strict=True)
    role = "curate"
    reads = frozenset({"text"})
    kinds = frozenset({"classification"})

    def build(self, ctx: StepContext) -> Any:
        return _LabelNoise(self, ctx)


class _Realism:
    def __init__(self, config: RealismStep, ctx: StepContext) -> None:
        self.config, self.name = config, config.type
        self.seed = ctx.recipe.seed
        self.real = [str(s["text"]) for s in ctx.artifacts.get("seed_examples") or []]

    def curate(self, records: list[Record]) -> list[Record]:
        c = self.config
        if len(records) < 2 or len(self.real) < 2:
            return records
        texts = [r.text for r in records]
        scores = realism_scores(texts, self.real, embeddings=_embeddings(texts + self.real,
                                                                          c.features),
                                folds=c.folds, seed=self.seed)
        rank = np.argsort(np.argsort(scores, kind="stable"), kind="stable")  # 0 = least real
        dropped = int(round(c.drop_fraction * len(records))) if c.action == "drop" else 0
        out = []
        for r, score, position in zip(records, scores, rank, strict=True):
            least = bool(position < dropped)
            r = r.with_verdict(Verdict(
                check="realism", by=self.name, passed=None if c.action != "drop" else not least,
                score=round(float(score), 4),
                detail={"rank": int(position) + 1, "of": len(records), "features": c.features,
                        "real_examples": len(self.real)}))
            if least:
                r = r.reject(self.name, f"among the {c.drop_fraction:.0%} least real-looking "
                             f"records (probability of real {score:.2f})")
            elif c.action == "weight":
                share = (int(position) + 1) / len(records)
                r = r.model_copy(update={"trust_weight": min(
                    r.trust_weight, max(c.min_trust_weight, share))})
            out.append(r)
        return out


@register_step
class RealismStep(StepConfig):
    """A realism score per synthetic record: the out-of-fold probability that a
    discriminator trained on the real seed examples against the synthetic set calls it
    real (see :mod:`synthloom.operators.filter.realism`), recorded as a ``realism`` verdict.

    Attributes:
        action: ``score`` (record only), ``drop`` (reject the ``drop_fraction`` least real
            records) or ``weight`` (trust weight = the record's realism rank / n, at least
            ``min_trust_weight``).
        drop_fraction: share of records dropped by ``drop``.
        min_trust_weight: the least trust weight ``weight`` gives.
        features: ``tfidf`` (word and bigram) or ``embedding`` (MiniLM).
        folds: out-of-fold folds over the synthetic records.
    """

    type: Literal["curate.realism"] = "curate.realism"
    action: Literal["score", "drop", "weight"] = "drop"
    drop_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    min_trust_weight: float = Field(default=0.1, ge=0.0, le=1.0)
    features: Features = "tfidf"
    folds: int = Field(default=5, ge=2, le=20, strict=True)
    role = "curate"
    reads = frozenset({"text", "seed_examples"})
    kinds = frozenset({"classification"})

    def build(self, ctx: StepContext) -> Any:
        return _Realism(self, ctx)
