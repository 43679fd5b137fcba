"""Evol-Instruct in-depth evolving, applied to generated instances (arXiv 2304.12244).

Evol-Instruct (Xu et al.) rewrites an instruction into a harder one with one of five
in-depth operations: add constraints, deepen, concretize, increase reasoning steps,
complicate the input. Here the evolved object is a generated classification instance: a
configurable fraction of instances is rewritten with one operation, chosen per record, and
the label constraint is restated so the rewrite stays on its label (self-correction then
checks it blind, as for any instance). The operation goes into provenance.

The operations are Evol-Instruct's in-depth set (:data:`~synthloom.operators.instruct.
evol_instruct.IN_DEPTH`, which :class:`~synthloom.operators.instruct.evol_instruct.
EvolInstruct` applies to instructions); each is phrased here for a labelled text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_validated
from synthloom.operators.base import Operator, derived_seed, with_step
from synthloom.operators.instruct.evol_instruct import IN_DEPTH
from synthloom.operators.targen.instance_generation import clean_text
from synthloom.records import Record

#: the in-depth operations of :data:`~synthloom.operators.instruct.evol_instruct.IN_DEPTH`
#: (the same names, one set of operations), each phrased for a labelled text: Evol-Instruct's
#: sentences talk about a prompt's requirements and inputs, which a tweet does not have
OPERATIONS: dict[str, str] = {
    "add_constraints": "add one more specific condition or detail that the text must include",
    "deepen": "go deeper into one aspect of the text: its causes or consequences",
    "concretize": "replace general words with concrete names, numbers, places and dates",
    "increase_reasoning": "make it take connecting two facts to see which label it has",
    "complicate_input": "mention a second, minor subject in passing, keeping the main one",
}
assert set(OPERATIONS) == set(IN_DEPTH), "evol.complexify must use Evol-Instruct's operations"


class EvolComplexify(Operator):
    """Rewrite a fraction of instances harder with one Evol-Instruct in-depth operation.

    Args:
        backend: the LLM.
        labels: label -> one-line description.
        fraction: share of instances rewritten, in [0, 1] (chosen per record id).
        operations: names from :data:`OPERATIONS`.
        max_words: asked length of the rewrite, in words.
        seed, temperature, top_p: sampling.
        description: the task description; unit: what one text is called.
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``fraction`` outside [0, 1] or an unknown operation.
    """

    name = "evol.complexify"
    version = "2"
    templates = {
        "system": "You rewrite texts for a dataset. The texts: {description}",
        "user": (
            "Rewrite this {unit} to make it richer and harder: {operation}.\n"
            "Its label must still clearly be {label} ({label_description}). "
            "Keep it to about {max_words} words. Write only the new {unit}.\n\n"
            "Text: {text}"
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        labels: dict[str, str],
        fraction: float = 0.3,
        operations: list[str] | None = None,
        *,
        max_words: int = 45,
        seed: int = 0,
        temperature: float = 0.9,
        top_p: float = 0.95,
        description: str = "",
        unit: str = "text",
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.description, self.unit = description, unit
        self.use_templates(templates)
        operations = list(operations or OPERATIONS)
        unknown = sorted(set(operations) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"unknown Evol operations {unknown}; known: {sorted(OPERATIONS)}")
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        self.backend, self.labels, self.fraction, self.operations = (
            backend, labels, fraction, operations,
        )
        self.max_words, self.seed = max_words, seed
        self.temperature, self.top_p = temperature, top_p

    def chosen(self, record: Record) -> str | None:
        """The operation for ``record``, or None if it is not among the rewritten fraction."""
        rng = random.Random(derived_seed(self.name, self.seed, record.provenance.plan.id))
        return rng.choice(self.operations) if rng.random() < self.fraction else None

    def _parse(self, response: ChatResponse):
        text, reason = clean_text(response.text, response.finish_reason,
                                  max(3, self.max_words // 4), self.max_words * 12)
        return (text, None) if text else (None, reason)

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """Records in order, each with one more operator step: ``evolved`` (rewritten text),
        ``kept original`` (a failed rewrite, with the reason) or ``skipped`` (not among the
        chosen fraction)."""
        picks = [(i, op) for i, r in enumerate(records) if (op := self.chosen(r))]
        requests = []
        for i, op in picks:
            r = records[i]
            label = r.provenance.target_label
            requests.append(self.request(
                self.templates["system"].format(description=self.description),
                self.templates["user"].format(
                    operation=OPERATIONS[op], label=label, unit=self.unit,
                    label_description=self.labels[label], max_words=self.max_words,
                    text=r.text,
                ),
                temperature=self.temperature, top_p=self.top_p,
                max_tokens=int(self.max_words * 2.2) + 20,
                seed=derived_seed(self.name, self.seed, r.provenance.plan.id, attempt),
            ))
        results = chat_validated(self.backend, requests, self._parse) if requests else []
        out = [with_step(r, self.step("skipped")) for r in records]
        for (i, op), result in zip(picks, results, strict=True):
            r = records[i]
            if result.value is None:
                out[i] = with_step(r, self.step("kept original", operation=op,
                                                reason=result.error))
                continue
            inputs = {**r.inputs, "text": result.value}
            out[i] = with_step(r, self.step("evolved", operation=op)).model_copy(
                update={"inputs": inputs}
            )
        return out
