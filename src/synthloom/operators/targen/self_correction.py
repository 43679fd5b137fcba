"""TarGEN step 5: self-correction, the model relabels each instance without seeing its target.

Gupta et al., arXiv 2310.17876, section 3 ("Self-correction"): a zero-shot prompt
re-checks each generated instance's label. Here the check is blind: the model is shown
the instance and the label set, never the target, and its answer is constrained to the
label set by a JSON schema. Agreement keeps the instance; the caller regenerates on
disagreement and rejects after its budget is spent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, create_model

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed, with_step
from synthloom.records import Record, Verdict


def label_answer_model(labels: list[str]) -> type[BaseModel]:
    """A pydantic model ``{"label": one of labels}`` (an enum in its JSON schema)."""
    return create_model("LabelAnswer", label=(Literal[tuple(labels)], ...))


class SelfCorrection(Operator):
    """Blind relabelling of generated instances.

    Appends a ``self_consistency`` verdict (detail ``{"predicted", "target", "agreed",
    "attempt"}``) and an ``agreed`` / ``disagreed`` / ``unlabelled`` step.
    Labelling is greedy (temperature 0).

    Args:
        backend: the LLM.
        description: the task description from the recipe.
        labels: label -> one-line description.
        max_attempts: answers requested per instance before marking it unlabelled.
        seed: master seed.
        with_descriptions: also show each label's description. On the embedded
            Qwen2.5-Coder-0.5B this made each check about 0.6 s slower with no gain
            (labelling 40 real BBC snippets: 0.70 with, 0.68 without).
        templates: overrides of :attr:`templates`.
    """

    name = "targen.self_correction"
    version = "4"
    templates = {
        "system": "You label texts. The texts: {description}",
        "user": (
            "Text: {text}\n\n"
            "{label_lines}"
            "Which label fits this text best: {label_names}? "
            'Answer as JSON: {{"label": "..."}}'
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str],
        *,
        max_attempts: int = 2,
        seed: int = 0,
        with_descriptions: bool = False,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.use_templates(templates)
        self.backend, self.description, self.labels = backend, description, labels
        self.with_descriptions = with_descriptions
        self.max_attempts, self.seed = max_attempts, seed
        self.answer_model = label_answer_model(list(labels))

    def classify_requests(self, texts: list[str], keys: list[str]):
        """Blind labelling requests for ``texts`` (``keys`` make the sampler seeds stable)."""
        label_lines = ""
        if self.with_descriptions:
            label_lines = "Labels:\n" + "".join(f"- {k}: {v}\n" for k, v in self.labels.items())
            label_lines += "\n"
        names = list(self.labels)
        label_names = ", ".join(names[:-1]) + f" or {names[-1]}"
        return [
            self.request(
                self.templates["system"].format(description=self.description),
                self.templates["user"].format(
                    label_lines=label_lines,
                    text=text,
                    label_names=label_names,
                ),
                temperature=0.0,
                top_p=1.0,
                max_tokens=24,
                seed=derived_seed(self.name, self.seed, key),
            )
            for text, key in zip(texts, keys, strict=True)
        ]

    def classify(self, texts: list[str], keys: list[str] | None = None) -> list[str | None]:
        """The model's label for each text (None when no valid answer came back)."""
        keys = keys or [str(i) for i in range(len(texts))]
        results = chat_structured(
            self.backend,
            self.classify_requests(texts, keys),
            self.answer_model,
            max_attempts=self.max_attempts,
        )
        return [r.value.label if r.value else None for r in results]

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """Returns the records, each with a ``self_consistency`` verdict appended (passed when
        the blind label equals the target) and one operator step; none are dropped."""
        predicted = self.classify([r.text for r in records], [r.text for r in records])
        by = f"{self.name}/{self.backend.identity.model}"
        out = []
        for record, label in zip(records, predicted, strict=True):
            target = record.provenance.target_label
            agreed = label == target
            verdict = "agreed" if agreed else ("unlabelled" if label is None else "disagreed")
            detail = {"predicted": label, "target": target, "agreed": agreed, "attempt": attempt}
            updated = with_step(record, self.step(verdict, predicted=label, attempt=attempt))
            out.append(updated.with_verdict(
                Verdict(check="self_consistency", by=by, passed=agreed, detail=detail)))
        return out
