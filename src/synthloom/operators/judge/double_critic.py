"""Double critic: two independent judgements of whether a record's label is correct.

Simula (Davidson et al., arXiv 2603.29791) checks labels with a "double critic": two
critics judge each example separately, which counters a single judge's sycophancy (the
tendency to agree with whatever label it is shown). The paper does not publish the exact
protocol; ours is:

- critic ``confirm`` is asked whether the label fits the text; its answer schema lists the
  options in the order ``yes``, ``no``;
- critic ``refute`` is asked, with other wording and another system prompt, whether the
  label is WRONG for the text; its schema lists ``no``, ``yes`` (so a yes-bias and a
  first-option bias pull the two critics in opposite directions);
- both are greedy (temperature 0), structured (a JSON schema with an enum, validated with
  pydantic), and sent in one batch, so a batched backend decodes them together;
- each critic's *view* is whether it judges the label correct: ``True``, ``False``, or
  ``None`` when it gave no valid answer after ``max_attempts`` (never coerced);
- the record passes only when both views are ``True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ValidationError

from synthloom.llm.base import ChatBackend, ChatRequest, ChatResponse
from synthloom.llm.structured import chat_validated, schema_of
from synthloom.operators.base import Operator, derived_seed, with_step
from synthloom.records import Record, Verdict

CRITICS = ("confirm", "refute")
_FIELDS = frozenset({"unit", "description", "text", "label", "label_description",
                     "label_names"})


class ConfirmAnswer(BaseModel):
    """Critic ``confirm``'s answer: does the label fit? (enum order: yes, no)."""

    answer: Literal["yes", "no"]


class RefuteAnswer(BaseModel):
    """Critic ``refute``'s answer: is the label wrong? (enum order: no, yes)."""

    answer: Literal["no", "yes"]


def _parse(response: ChatResponse) -> tuple[str | None, str | None]:
    """``("yes" | "no", None)`` from either critic's JSON answer, else ``(None, reason)``."""
    try:
        return ConfirmAnswer.model_validate_json(response.text).answer, None
    except ValidationError as e:
        first = e.errors()[0]
        cut = " (cut off at max_tokens)" if response.finish_reason == "length" else ""
        return None, f"invalid answer{cut}: {first.get('msg')}"


def label_names(labels: Mapping[str, str]) -> str:
    """``"a, b or c"`` for the label set."""
    names = list(labels)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" or {names[-1]}"


class DoubleCritic(Operator):
    """Two critics judge each record's label (see the module docstring for the protocol).

    Args:
        backend: the judge LLM (both critics ask it).
        description: the task description.
        labels: label -> one-line description.
        unit: what one text of the task is called ("tweet", "support ticket").
        max_attempts: answers requested per critic before its view is None.
        seed: master seed (sampler seeds derive from it, the critic, text and label).
        same_model_as_generator: whether ``backend`` is the generator's own model
            (recorded in the verdict).
        templates: overrides of :attr:`templates`.

    ``__call__(records, attempt=0)`` returns the records (none dropped), each with a
    ``double_critic`` verdict and one operator step. The label judged is
    ``provenance.target_label`` (else ``label``); a record without one gets views None
    and no request.

    Raises:
        BackendError: the backend failed a request after its own retries.
        UserInputError: a template override names an unknown key or field.
    """

    name = "judge.double_critic"
    version = "1"
    templates = {
        "confirm_system": "You check the labels of a dataset. Its {unit}s: {description}",
        "confirm_user": (
            "{unit}: {text}\n\n"
            "Possible labels: {label_names}.\n"
            "Given label: {label} ({label_description})\n"
            "Does the label {label} fit this {unit}? "
            'Answer as JSON: {{"answer": "yes"}} or {{"answer": "no"}}'
        ),
        "refute_system": (
            "You check labelled data and point out wrong labels. The data: {description}"
        ),
        "refute_user": (
            "Someone labelled the {unit} below as {label} ({label_description}). "
            "The labels to choose from: {label_names}.\n\n"
            "{unit}: {text}\n\n"
            "Is the label {label} wrong for this {unit}? "
            'Answer as JSON: {{"answer": "no"}} if it is right, {{"answer": "yes"}} if it '
            "is wrong"
        ),
    }

    #: every template is filled with every field
    extra_template_fields = {k: _FIELDS for k in templates}

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str],
        *,
        unit: str = "text",
        max_attempts: int = 3,
        seed: int = 0,
        same_model_as_generator: bool = False,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.use_templates(templates)
        self.backend, self.description, self.labels = backend, description, labels
        self.unit, self.max_attempts, self.seed = unit, max_attempts, seed
        self.same_model_as_generator = same_model_as_generator

    def critic_request(self, critic: str, text: str, label: str) -> ChatRequest:
        """Critic ``critic``'s greedy, schema-constrained request about ``label`` on ``text``.

        Raises:
            KeyError: ``critic`` is not ``confirm`` or ``refute``.
        """
        fields = {"unit": self.unit, "description": self.description, "text": text,
                  "label": label, "label_description": self.labels.get(label, ""),
                  "label_names": label_names(self.labels)}
        request = self.request(
            self.templates[f"{critic}_system"].format(**fields),
            self.templates[f"{critic}_user"].format(**fields),
            temperature=0.0, top_p=1.0, max_tokens=16,
            seed=derived_seed(self.name, self.seed, critic, text, label))
        model = {"confirm": ConfirmAnswer, "refute": RefuteAnswer}[critic]
        return request.model_copy(update={"json_schema": schema_of(model)})

    def views(self, items: list[tuple[str, str]]) -> list[dict[str, bool | None]]:
        """Each critic's view of each ``(text, label)``: True (the label is correct), False,
        or None (no valid answer). Every request goes to the backend in one batch."""
        requests = [self.critic_request(c, text, label) for text, label in items
                    for c in CRITICS]
        results = chat_validated(self.backend, requests, _parse,
                                 max_attempts=self.max_attempts) if requests else []
        out = []
        for i in range(len(items)):
            confirm, refute = (r.value for r in results[2 * i: 2 * i + 2])
            out.append({"confirm": None if confirm is None else confirm == "yes",
                        "refute": None if refute is None else refute == "no"})
        return out

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """Records with a ``double_critic`` verdict and one step each (none dropped)."""
        labels = [r.provenance.target_label or r.label for r in records]
        asked = [i for i, label in enumerate(labels) if label is not None]
        found = dict(zip(asked, self.views([(records[i].text, str(labels[i]))
                                            for i in asked]), strict=True))
        by = f"{self.name}/{self.backend.identity.model}"
        out = []
        for i, record in enumerate(records):
            views = found.get(i, {"confirm": None, "refute": None})
            passed = views["confirm"] is True and views["refute"] is True
            judged = None not in views.values()
            agree = judged and views["confirm"] == views["refute"]
            step = "passed" if passed else ("failed" if judged else "unjudged")
            detail = {"label": labels[i], "critics": dict(views), "agree": agree,
                      "same_model_as_generator": self.same_model_as_generator}
            updated = with_step(record, self.step(step, **views, attempt=attempt))
            out.append(updated.with_verdict(
                Verdict(check="double_critic", by=by, passed=passed, detail=detail)))
        return out
