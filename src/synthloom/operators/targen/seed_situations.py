"""Instance seeds drawn from the user's real examples (issue 10), in place of TarGEN's
zero-shot contexts and instance seeds (arXiv 2310.17876, steps 1-2).

A small model asked for "situations a <label> text could be about" repeats itself and
drifts off the label (on BBC News its plans were the main source of run-to-run spread). Here
each labelled real example is shown with its label, and the model lists new situations of
the same kind of subject with other people, places, things and numbers: the synthetic set
follows the real topics without copying them (the copy guard rejects copies). The answer
has the shape of TarGEN step 2's, ``{label: {context: [seed, ...]}}``, with the context
``"seed example <id>"``, so label constraints and generation run unchanged and every draft
names the example its seed came from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_validated
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.targen.instance_seeds import seed_answer

SEED_CONTEXT_PREFIX = "seed example "
"""Context of an instance seed derived from a real example: this prefix and its id."""


def seed_example_id(context: str | None) -> str | None:
    """The real example id in a seed-derived context, else None."""
    if context and context.startswith(SEED_CONTEXT_PREFIX):
        return context[len(SEED_CONTEXT_PREFIX):]
    return None


class SeedSituations(Operator):
    """For each labelled seed example, ask for ``per_example`` situations like its own.

    Args:
        backend: the LLM (all requests in one batch).
        description: the task description.
        labels: label -> one-line description.
        per_example: situations asked per example.
        unit: what one text is called.
        example_words: the example is cut to its first ``example_words`` words.
        templates: overrides of :attr:`templates`.
        seed: master seed.
        temperature, top_p: sampling values.
    """

    name = "seed_data.situations"
    version = "1"
    templates = {
        "system": "You help plan a varied dataset. The texts: {description}",
        "user": (
            "A real {unit} with the label {label} ({label_description}):\n---\n{text}\n---\n"
            "List {k} different concrete situations that other {unit}s with this label could "
            "be about: the same kind of subject as this one, with other people, places, "
            "things and numbers. One situation per line, each a short sentence under 20 "
            "words. Write only the list."
        ),
    }

    def __init__(self, backend: ChatBackend, description: str, labels: Mapping[str, str],
                 per_example: int, *, unit: str = "text", example_words: int = 120,
                 seed: int = 0, temperature: float = 0.9, top_p: float = 0.95,
                 templates: Mapping[str, str] | None = None) -> None:
        self.backend, self.description, self.labels = backend, description, dict(labels)
        self.per_example, self.unit, self.example_words = per_example, unit, example_words
        self.seed, self.temperature, self.top_p = seed, temperature, top_p
        self.use_templates(templates)

    def _parse(self, response: ChatResponse) -> tuple[list[str] | None, str | None]:
        return seed_answer(response, self.per_example)

    def run(self, examples: Sequence[Mapping[str, Any]], *salt: Any
            ) -> dict[str, dict[str, list[str]]]:
        """``{label: {"seed example <id>": [situation, ...]}}`` for the labelled examples
        whose label the task has; an example whose answers all fail maps to []. ``salt``
        changes the sampler seeds (a later S3 round asks the same example again)."""
        usable = [e for e in examples if e.get("label") in self.labels]
        system = self.templates["system"].format(description=self.description)
        requests = [
            self.request(
                system,
                self.templates["user"].format(
                    unit=self.unit, label=e["label"], label_description=self.labels[e["label"]],
                    text=" ".join(str(e["text"]).split()[: self.example_words]),
                    k=self.per_example),
                temperature=self.temperature, top_p=self.top_p,
                max_tokens=20 + 30 * self.per_example,
                seed=derived_seed(self.name, self.seed, e["id"], *salt),
            )
            for e in usable
        ]
        out: dict[str, dict[str, list[str]]] = {label: {} for label in self.labels}
        for e, result in zip(usable, chat_validated(self.backend, requests, self._parse,
                                                    max_attempts=2), strict=True):
            out[e["label"]][SEED_CONTEXT_PREFIX + str(e["id"])] = result.value or []
        return out
