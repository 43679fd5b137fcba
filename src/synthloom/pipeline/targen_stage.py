"""The TarGEN stage graph for classification: plan, then generate-and-self-correct in chunks.

Builds the five TarGEN operators (arXiv 2310.17876) from a recipe and runs one chunk of
draft records through instance generation and self-correction, regenerating on
disagreement up to the recipe's budget and rejecting with the reason after it.
"""

from __future__ import annotations

from dataclasses import dataclass

from synthloom.errors import GenerationError
from synthloom.llm.base import ChatBackend
from synthloom.operators.generate.evol_complexify import EvolComplexify
from synthloom.operators.plan.coverage import CoveragePlanner
from synthloom.operators.plan.taxonomy import load_taxonomies
from synthloom.operators.targen import (
    ContextGeneration,
    InstanceGeneration,
    InstanceSeedGeneration,
    LabelConstraintPlanner,
    SelfCorrection,
)
from synthloom.pipeline.recipe import Recipe
from synthloom.records import Record, record_id


@dataclass
class ChunkResult:
    """Records that came out of one chunk: accepted ones and rejected ones (with reasons)."""

    accepted: list[Record]
    rejected: list[Record]


class TargenStages:
    """The TarGEN operators configured from one recipe and one backend.

    Args:
        recipe: the validated recipe.
        backend: the LLM (normally a cached backend).
    """

    def __init__(self, recipe: Recipe, backend: ChatBackend) -> None:
        self.recipe, self.backend = recipe, backend
        t, s = recipe.targen, recipe.sampling
        common = {"seed": recipe.seed}
        sampled = {**common, "temperature": s.temperature, "top_p": s.top_p}
        n_contexts = t.contexts if isinstance(t.contexts, int) else len(t.contexts)
        self.contexts = ContextGeneration(backend, recipe.description, n_contexts, **sampled)
        self.seeds = InstanceSeedGeneration(
            backend, recipe.description, recipe.labels, t.seeds_per_pair, **sampled
        )
        self.generate = InstanceGeneration(
            backend,
            recipe.description,
            recipe.labels,
            max_words=t.max_words,
            output_format=t.instance_format,
            max_attempts=t.max_attempts,
            meta_prompts=recipe.coverage.meta_prompts,
            **sampled,
        )
        c = recipe.coverage
        taxonomies = load_taxonomies(c.taxonomy) if c.taxonomy else []
        self.coverage = CoveragePlanner(taxonomies, c.strategy, c.personas, c.characteristics,
                                        seed=recipe.seed)
        self.complexify = (
            EvolComplexify(backend, recipe.labels, c.complexify_fraction,
                           c.complexify_operations or None, max_words=t.max_words, **sampled)
            if c.complexify_fraction > 0
            else None
        )
        self.self_correction = SelfCorrection(
            backend,
            recipe.description,
            recipe.labels,
            max_attempts=t.max_attempts,
            with_descriptions=t.self_correction_with_descriptions,
            **common,
        )

    def planner(self, seeds: dict[str, dict[str, list[str]]]) -> LabelConstraintPlanner:
        """Step 3's planner over the instance seeds of step 2.

        Raises:
            GenerationError: a label got no instance seed at all.
        """
        try:
            return self._planner(seeds)
        except ValueError as e:
            raise GenerationError(f"{e}; try another model or more contexts") from e

    def _planner(self, seeds: dict[str, dict[str, list[str]]]) -> LabelConstraintPlanner:
        return LabelConstraintPlanner(
            self.recipe.task,
            self.recipe.labels,
            seeds,
            seed=self.recipe.seed,
            recipe_sha256=self.recipe.sha256(),
        )

    def _accept(self, record: Record) -> Record:
        label = record.provenance.target_label
        return record.model_copy(
            update={"label": label, "id": record_id(record.task, record.inputs, label)}
        )

    def run_chunk(self, drafts: list[Record]) -> ChunkResult:
        """Generate, self-correct and regenerate one chunk of drafts (steps 4 and 5).

        With ``on_disagreement: keep`` nothing is regenerated: a disagreeing instance is
        kept with its verdict and a lower trust weight.
        """
        t = self.recipe.targen
        accepted: list[Record] = []
        rejected: list[Record] = []
        pending = drafts
        regenerate = t.self_correction and t.on_disagreement == "regenerate"
        rounds = 1 + t.max_regenerations if regenerate else 1
        for attempt in range(rounds):
            if not pending:
                break
            generated = self.generate(pending, attempt=attempt)
            ok = [r for r in generated if r.rejected is None]
            if self.complexify is not None:
                ok = self.complexify(ok, attempt=attempt)
            rejected += [r for r in generated if r.rejected is not None]
            if not t.self_correction:
                accepted += [self._accept(r) for r in ok]
                pending = []
                break
            checked = self.self_correction(ok, attempt=attempt)
            pending = []
            for r in checked:
                if r.verification.self_consistency["agreed"]:
                    accepted.append(self._accept(r))
                else:
                    pending.append(r)
        if t.on_disagreement == "keep":
            weight = t.disagreement_trust_weight
            accepted += [
                self._accept(r).model_copy(update={"trust_weight": weight}) for r in pending
            ]
            pending = []
        for r in pending:
            verdict = r.verification.self_consistency or {}
            reason = (
                f"self-correction labelled it {verdict.get('predicted')!r}, "
                f"target {verdict.get('target')!r}, after {rounds} generation(s)"
            )
            rejected.append(r.reject(self.self_correction.name, reason))
        return ChunkResult(accepted=accepted, rejected=rejected)
