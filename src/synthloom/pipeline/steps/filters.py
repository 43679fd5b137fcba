"""Filter steps: streaming rejection over accepted records."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from synthloom.operators.filter.near_duplicates import NearDuplicateFilter
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import Record


class _NearDuplicates:
    """Runtime filter: ``index(records)`` for a resumed run, ``filter(records)`` ->
    ``(kept, rejected)``; each rejection names the record it collided with."""

    def __init__(self, near: NearDuplicateFilter, text_of: Any) -> None:
        self.near, self.text_of = near, text_of
        self.name = near.name

    def index(self, records: list[Record]) -> None:
        if records:
            self.near.check([self.text_of(r) for r in records], [r.id for r in records])

    def filter(self, records: list[Record]) -> tuple[list[Record], list[Record]]:
        if not records:
            return [], []
        hits = self.near.check([self.text_of(r) for r in records], [r.id for r in records])
        kept, rejected = [], []
        for r, hit in zip(records, hits, strict=True):
            if hit is None:
                kept.append(r)
            else:
                rejected.append(r.reject(
                    self.name,
                    f"near-duplicate ({hit.stage} similarity {hit.similarity:.3f}) of record "
                    f"{hit.key}",
                    collided_with=hit.key, similarity=round(hit.similarity, 4)))
        return kept, rejected


@register_step
class NearDuplicatesStep(StepConfig):
    """Reject near-duplicates as they are accepted: MinHash LSH, then embedding cosine.

    Compares the task's text (``text`` for classification, the first user turn for
    ``instruction``, the prompt for ``preference``: ``TaskSpec.text_of``).

    Attributes:
        jaccard: reject at or above this estimated Jaccard similarity of word 3-shingles.
        cosine: reject at or above this MiniLM embedding cosine.
        num_perm: MinHash permutations; bands: LSH bands (default: from the threshold).
    """

    type: Literal["filter.near_duplicates"] = "filter.near_duplicates"
    jaccard: float | None = Field(default=None, ge=0.0, le=1.0)
    cosine: float | None = Field(default=None, ge=0.0, le=1.0)
    num_perm: int = Field(default=128, ge=16, le=1024, strict=True)
    bands: int | None = Field(default=None, ge=1, strict=True)
    role = "filter"

    @model_validator(mode="after")
    def _check(self) -> NearDuplicatesStep:
        if self.jaccard is None and self.cosine is None:
            raise ValueError("give jaccard, cosine or both")
        if self.bands is not None and self.num_perm % self.bands:
            raise ValueError(f"num_perm {self.num_perm} is not divisible by bands {self.bands}")
        return self

    def build(self, ctx: StepContext) -> Any:
        return _NearDuplicates(NearDuplicateFilter(
            jaccard=self.jaccard, cosine=self.cosine, num_perm=self.num_perm, bands=self.bands,
            seed=ctx.recipe.seed), ctx.recipe.task.text_of)
