"""The coverage planner: attach a taxonomy mix, a persona and context characteristics to
each draft, deterministically from its draft number (so resumed runs plan the same)."""

from __future__ import annotations

from collections.abc import Sequence

from synthloom.operators.plan.mix_sampler import MixSampler
from synthloom.operators.plan.personas import characteristics, describe_persona, persona
from synthloom.operators.plan.taxonomy import Taxonomy
from synthloom.records import Record


class CoveragePlanner:
    """Annotates drafts' plans with what the instance prompt should vary.

    Args:
        taxonomies: taxonomies to mix over (empty: no mix).
        strategy: ``uniform``, ``weighted`` or ``quota`` (see
            :class:`~synthloom.operators.plan.mix_sampler.MixSampler`).
        personas: a writer persona per draft: sampled, or ``persona_pool[index % len]``
            when a pool is given (a ``personas.pool`` plan step's artifact).
        characteristic_names: context characteristics to sample per draft.
        seed: master seed.
        persona_pool: persona descriptions to take in turn instead of sampling.
    """

    def __init__(
        self,
        taxonomies: Sequence[Taxonomy] = (),
        strategy: str = "quota",
        personas: bool = False,
        characteristic_names: Sequence[str] = (),
        seed: int = 0,
        persona_pool: Sequence[str] | None = None,
    ) -> None:
        self.sampler = MixSampler(taxonomies, strategy, seed) if taxonomies else None  # type: ignore[arg-type]
        self.personas, self.names, self.seed = personas, list(characteristic_names), seed
        self.pool = [str(p) for p in persona_pool or []]

    @property
    def active(self) -> bool:
        return bool(self.sampler or self.personas or self.names)

    def annotate(self, draft: Record, index: int, label_index: int | None = None) -> Record:
        """``draft`` with plan ``mix``, ``taxonomy_path``, ``persona``, ``characteristics``.

        ``label_index`` (the draft's number within its target label) keeps a label-keyed
        taxonomy's quota cycling through that label's leaves."""
        update: dict = {}
        if self.sampler is not None:
            mix = self.sampler.mix(index, draft.provenance.target_label, label_index)
            update["mix"] = {k: list(v) for k, v in mix.items()}
            update["taxonomy_path"] = list(next(iter(mix.values())))
        if self.personas:
            update["persona"] = self.pool[index % len(self.pool)] if self.pool else \
                describe_persona(persona(index, self.seed))
        if self.names:
            update["characteristics"] = characteristics(index, self.names, self.seed)
        if not update:
            return draft
        plan = draft.provenance.plan.model_copy(update=update)
        return draft.model_copy(
            update={"provenance": draft.provenance.model_copy(update={"plan": plan})}
        )


def plan_lines(record: Record) -> str:
    """Prompt lines for a draft's mix, persona and characteristics ("" when it has none)."""
    plan = record.provenance.plan
    lines = [f"Angle ({factor}): {' > '.join(path)}" for factor, path in plan.mix.items()]
    if plan.persona:
        lines.append(f"Written by: {plan.persona}")
    lines += [f"{name.replace('_', ' ').capitalize()}: {value}"
              for name, value in plan.characteristics.items()]
    return "".join(f"\n{line}" for line in lines)
