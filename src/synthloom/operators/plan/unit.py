"""Derive a task's unit of text ("tweet", "legal clause") from its description, once.

Prompts name the unit instead of a domain, so one operator works for news, clinical notes
or commit messages alike. A recipe should give ``task.unit``; when it does not, this asks
the model once (greedy, schema-constrained) and the run records the answer in
``plan/unit.json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from synthloom.llm.base import ChatBackend
from synthloom.llm.structured import chat_structured
from synthloom.operators.base import Operator, derived_seed


class UnitAnswer(BaseModel):
    """Answer schema: the unit, 1 to 40 characters."""

    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class UnitDerivation(Operator):
    """Ask the model what one text of the task is called.

    Args:
        backend: the LLM.
        description: the task description.
        seed: master seed.
        templates: overrides of :attr:`templates`.

    ``run()`` returns the unit in lower case, or ``"text"`` when no valid answer came back.
    """

    name = "task.unit"
    version = "1"
    templates = {
        "system": "You are a helpful assistant. You answer in JSON.",
        "user": (
            "A dataset holds texts of this kind: {description}\n"
            "What is one such text called, in 1 to 4 words (for example: message, "
            "report, question, note, entry)?\n"
            'Answer as JSON: {{"unit": "..."}}'
        ),
    }

    def __init__(self, backend: ChatBackend, description: str, *, seed: int = 0,
                 templates: Mapping[str, str] | None = None) -> None:
        self.backend, self.description, self.seed = backend, description, seed
        self.use_templates(templates)

    def run(self) -> str:
        """The unit (lower case), or ``"text"`` if the model gave no valid answer."""
        request = self.request(
            self.templates["system"],
            self.templates["user"].format(description=self.description),
            temperature=0.0, top_p=1.0, max_tokens=30,
            seed=derived_seed(self.name, self.seed),
        )
        (result,) = chat_structured(self.backend, [request], UnitAnswer, max_attempts=2)
        if result.value is None or len(result.value.unit.split()) > 4:
            return "text"
        return result.value.unit.lower().rstrip(".")
