"""TarGEN step 4: generate one instance under its label constraint.

Gupta et al., arXiv 2310.17876, section 3 ("Instance generation"): the prompt gives the
context, the instance seed and the label constraint; the model writes one instance
that satisfies the constraint. Answers that fail validation are retried with a new
sampler seed, then the record is rejected with the reason.

Two output formats:

- ``text`` (default): the answer is the instance itself, validated as text. On the
  embedded model this decodes about 2.4x faster than grammar-constrained JSON
  (measured on Qwen2.5-Coder-0.5B: about 50 vs 21 tokens/s), because llama-cpp-python
  applies the JSON grammar to the whole 151k-token vocabulary at every step.
- ``json``: the answer is constrained to ``{"text": string}`` by a JSON schema.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_structured, chat_validated
from synthloom.operators.base import Operator, derived_seed, identity_provenance, with_step
from synthloom.operators.plan.coverage import plan_lines
from synthloom.operators.targen.seed_situations import seed_example_id
from synthloom.records import Record

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")
_PREAMBLE = re.compile(r"^(sure|here is|here's|certainly)[^:\n]*:\s*", re.IGNORECASE)


def prompt_echo(text: str, templates: Iterable[str], min_words: int = 4) -> str | None:
    """The first fixed phrase of the prompt templates (at least ``min_words`` words, between
    fields and sentence marks) that ``text`` repeats, or None.

    A small model sometimes copies its instructions into the answer ("It is about this:
    ...", "Its label must clearly be negative."); such a text teaches a student the prompt.
    """
    low = " ".join(text.lower().split())
    for template in templates:
        for literal, *_ in string.Formatter().parse(template):
            for piece in re.split(r"[\n.:;?!()]", literal):
                piece = " ".join(piece.lower().split())
                if len(piece.split()) >= min_words and piece in low:
                    return piece
    return None


class GeneratedInstance(BaseModel):
    """Answer schema in ``json`` format (and the validated value in both formats)."""

    text: str = Field(min_length=1, max_length=4000)


def clean_text(
    raw: str, finish_reason: str, min_words: int, max_chars: int
) -> tuple[str | None, str | None]:  # noqa: E501
    """Normalise a generated text; returns ``(text, None)`` or ``(None, reason)``.

    Strips a chatty preamble ("Here is ...:"), surrounding quotes and extra whitespace;
    a text cut off at ``max_tokens`` is trimmed back to its last full sentence.
    """
    text = _PREAMBLE.sub("", raw.strip())
    text = " ".join(text.split()).strip().strip('"').strip()
    if finish_reason == "length":
        ends = list(_SENTENCE_END.finditer(text))
        if not ends:
            return None, "cut off at max_tokens with no complete sentence"
        text = text[: ends[-1].end()]
    if len(text.split()) < min_words:
        return None, f"too short: {len(text.split())} words, need at least {min_words}"
    if len(text) > max_chars:
        return None, f"too long: {len(text)} characters, at most {max_chars}"
    return text, None


class InstanceGeneration(Operator):
    """Fill each draft record's ``inputs["text"]`` with an instance obeying its label constraint.

    The prompt names the task's unit of text ("tweet", "patient question") and its
    description, both from the recipe; it names no domain of its own.

    The prompt carries the label constraint and the instance seed; the context reaches
    the instance through its seed (which was written in that context), so a context
    with a strong topic of its own ("a football club") does not leak into every label.

    Args:
        backend: the LLM.
        description: the task description from the recipe.
        labels: label -> one-line description.
        max_words: asked length of an instance, in words.
        output_format: ``text`` or ``json`` (see module docstring).
        max_attempts: answers requested per draft before rejecting it.
        seed: master seed; sampler seeds derive from it, the plan id and the attempt.
        temperature, top_p: sampling values.
        meta_prompts: how many phrasings of the instruction to rotate over (1 to 3); each
            draft gets one, chosen from its plan id, and its number is recorded.
        unit: what one text is called in this task ("tweet", "legal clause").
        templates: overrides of :attr:`templates` (a recipe's ``templates`` section).
        seed_examples: the user's real seed examples, ``[{"id", "text", "label", "words"}]``
            (the ``seed_examples`` plan artifact); empty for none.
        style_examples: seed examples shown per draft as examples of form (0 = none).
            With labelled seeds only examples of the draft's target label are shown (none
            when the label has none); consecutive drafts of a label get consecutive
            windows of a fixed shuffle, so no two drafts in a row see the same set. Their
            ids go into ``provenance.seed_examples``.
        example_words: each shown example is cut to its first ``example_words`` words.
        length_from_seeds: ask each draft for the length (in words) of a seed example
            drawn for it, capped at ``max_words``, instead of ``max_words`` itself.
    """

    name = "targen.instance_generation"
    version = "6"
    templates = {
        "system": "You write realistic examples for a dataset. The texts: {description}",
        "user": (
            "{examples}Write one {unit} of about {max_words} words.\n"
            "Label: {label} ({label_description})\n"
            "It is about this: {instance_seed}{plan_lines}\n"
            "Its label must clearly be {label}. Write only the {unit} itself.{json_hint}"
        ),
        # Alternative phrasings ("meta-prompts", Simula's local diversification): used
        # when ``meta_prompts > 1``, one per draft, chosen from its plan id.
        "user_2": (
            "{examples}Label: {label} ({label_description})\n"
            "Situation: {instance_seed}{plan_lines}\n"
            "Write a {unit} of roughly {max_words} words about this situation that anyone "
            "would give the label {label}. Give only the {unit}.{json_hint}"
        ),
        "user_3": (
            "{examples}You are writing a {unit} with the label {label} ({label_description}).\n"
            "Starting point: {instance_seed}{plan_lines}\n"
            "Write it in about {max_words} words, so that its label is plainly {label}. "
            "Only the {unit}, no title.{json_hint}"
        ),
        # Real seed examples (issue 10), when the recipe has seed data and the generate
        # step shows some: ``{examples}`` in the user templates is this, or empty.
        "examples": (
            "Real {unit}s written by people, shown only for their form, tone and length "
            "(do not copy them, and write about the situation below):\n{examples}\n\n"
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str],
        *,
        max_words: int = 45,
        output_format: Literal["text", "json"] = "text",
        max_attempts: int = 3,
        seed: int = 0,
        temperature: float = 0.9,
        top_p: float = 0.95,
        meta_prompts: int = 1,
        unit: str = "text",
        templates: Mapping[str, str] | None = None,
        seed_examples: Sequence[Mapping[str, Any]] = (),
        style_examples: int = 0,
        example_words: int = 80,
        length_from_seeds: bool = False,
    ) -> None:
        self.unit = unit
        self.use_templates(templates)
        self.seed_examples = [dict(e) for e in seed_examples]
        self.style_examples, self.example_words = style_examples, example_words
        self.length_from_seeds = length_from_seeds and bool(self.seed_examples)
        if not 1 <= meta_prompts <= 3:
            raise ValueError(f"meta_prompts must be 1, 2 or 3, got {meta_prompts}")
        self.meta_prompts = meta_prompts
        self.backend, self.description, self.labels = backend, description, labels
        self.max_words, self.output_format, self.max_attempts = (
            max_words,
            output_format,
            max_attempts,
        )
        self.seed, self.temperature, self.top_p = seed, temperature, top_p
        # with lengths drawn from the seeds, a draft may be asked for far fewer words
        self.min_words = 3 if self.length_from_seeds else max(3, max_words // 4)
        self.max_chars = max_words * 12

    def template_name(self, draft: Record) -> str:
        """The user template for ``draft``: ``user``, or one of ``meta_prompts`` phrasings."""
        if self.meta_prompts == 1:
            return "user"
        k = derived_seed(self.name, "meta", draft.provenance.plan.id) % self.meta_prompts
        return "user" if k == 0 else f"user_{k + 1}"

    def examples_for(self, draft: Record) -> list[dict[str, Any]]:
        """The seed examples shown to ``draft`` (see ``style_examples``)."""
        if not self.style_examples or not self.seed_examples:
            return []
        label = draft.provenance.target_label
        labelled = any(e.get("label") is not None for e in self.seed_examples)
        # examples of another label would pull the text toward that label: none instead
        pool = ([e for e in self.seed_examples if e.get("label") == label] if labelled
                else self.seed_examples)
        if not pool:
            return []
        order = sorted(pool, key=lambda e: derived_seed(self.name, self.seed, "order", e["id"]))
        planned = draft.provenance.operators[0].detail if draft.provenance.operators else {}
        position = int(planned.get("label_index", planned.get("index", 0)))
        k = min(self.style_examples, len(order))
        shown = [order[(position * k + j) % len(order)] for j in range(k)]
        error = planned.get("error_example")  # an S3 round's draft: its example comes first
        first = [e for e in self.seed_examples if e["id"] == error]
        return (first + [e for e in shown if e["id"] != error])[:k] if first else shown

    def words_for(self, draft: Record) -> int:
        """The asked length of ``draft``, in words."""
        if not self.length_from_seeds:
            return self.max_words
        drawn = self.seed_examples[
            derived_seed(self.name, self.seed, "length", draft.provenance.plan.id)
            % len(self.seed_examples)]
        return max(5, min(self.max_words, int(drawn.get("words", self.max_words))))

    def _examples_block(self, shown: list[dict[str, Any]]) -> str:
        if not shown:
            return ""
        excerpts = []
        for e in shown:
            words = str(e["text"]).split()
            cut = " ".join(words[: self.example_words]) + (" ..." if len(words) >
                                                           self.example_words else "")
            excerpts.append(f"---\n{cut}")
        return self.templates["examples"].format(unit=self.unit, examples="\n".join(excerpts))

    def _request(self, draft: Record, attempt: int):
        p = draft.provenance
        json_hint = ' Answer as JSON: {"text": "..."}' if self.output_format == "json" else ""
        words = self.words_for(draft)
        user = self.templates[self.template_name(draft)].format(
            examples=self._examples_block(self.examples_for(draft)),
            max_words=words,
            unit=self.unit,
            label=p.target_label,
            label_description=self.labels[p.target_label],
            instance_seed=p.instance_seed,
            plan_lines=plan_lines(draft),
            json_hint=json_hint,
        )
        return self.request(
            self.templates["system"].format(description=self.description),
            user,
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=int(words * 2.2) + 20,
            seed=derived_seed(self.name, self.seed, p.plan.id, attempt),
        )

    def _parse(self, response: ChatResponse) -> tuple[GeneratedInstance | None, str | None]:
        raw = response.text
        if self.output_format == "json":
            try:
                raw = GeneratedInstance.model_validate_json(raw).text
            except ValueError:
                return None, 'answer is not JSON of the form {"text": ...}'
        text, reason = clean_text(raw, response.finish_reason, self.min_words, self.max_chars)
        if text and (echo := prompt_echo(text, self.templates.values())):
            return None, f"repeats the prompt ({echo!r})"
        return (GeneratedInstance(text=text), None) if text else (None, reason)

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """Returns the drafts with ``inputs["text"]`` set, or marked rejected with the reason.

        ``attempt`` (0 = first) changes the sampler seeds, so a regeneration is a new text.
        """
        requests = [self._request(r, attempt) for r in records]
        if self.output_format == "json":
            results = chat_structured(
                self.backend, requests, GeneratedInstance, max_attempts=self.max_attempts
            )
        else:
            results = chat_validated(
                self.backend, requests, self._parse, max_attempts=self.max_attempts
            )
        out = []
        ident = identity_provenance(self.backend.identity)
        for record, result in zip(records, results, strict=True):
            sampling = requests[0].sampling.model_dump(exclude={"seed"})
            detail = {"attempt": attempt, "answers": len(result.responses)}
            if self.meta_prompts > 1:
                detail["template"] = self.template_name(record)
            if result.value is None:
                step = self.step("rejected", reason=result.error, **detail)
                out.append(with_step(record, step, **ident).reject(self.name, str(result.error)))
                continue
            if self.output_format == "json":
                text, _ = clean_text(result.value.text, "stop", 0, 10**9)
            else:
                text = result.value.text
            shown = [e["id"] for e in self.examples_for(record)]
            source = seed_example_id(record.provenance.plan.context)
            if source and source not in shown:
                shown.append(source)  # the example its instance seed was drawn from
            if self.length_from_seeds:
                detail["words_asked"] = self.words_for(record)
            updated = with_step(
                record, self.step("generated", **detail), sampling=sampling, **ident,
                **({"seed_examples": shown} if shown else {}),
            )
            out.append(updated.model_copy(update={"inputs": {"text": text}}))
        return out
