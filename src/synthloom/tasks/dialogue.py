"""The ``dialogue`` kind: a two-speaker conversation about a topic, between two personas.

DiaSynth (Suresh et al., arXiv 2409.19020) spreads dialogues over layers: topics from the
user, subtopics of each topic, personas for each subtopic, one dialogue per persona pair,
written after a chain of thought about the conversation's characteristics (age, gender,
familiarity, emotional states, formality, duration, medium, topic, location, agreement,
natural speech features); a summary may follow. The steps live in
:mod:`synthloom.pipeline.steps.dialogue`.

Export layouts (``synthloom export RUN --layout NAME``) live next to the kind, in
:data:`DialogueTask.layouts`: ``messages`` (TRL's conversational layout: speaker A is the
``user``, speaker B the ``assistant``), ``sharegpt`` (``conversations`` of ``from``/
``value`` turns: ``human`` for A, ``gpt`` for B) and ``dialogsum`` (``dialogue`` as
``Name: text`` lines and its ``summary``, for training summarisers as in the paper). Every
layout keeps the speaker names in ``speakers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind

#: role of speaker A and speaker B in the chat layouts
ROLES = ("user", "assistant")


def dialogue_turns(record: Record) -> list[tuple[str, str]]:
    """The record's turns as ``(speaker name, text)``, in order.

    Raises:
        ValueError: the record has no messages (not a finished dialogue record).
    """
    messages = record.outputs.get("messages")
    if not messages:
        raise ValueError(f"record {record.id} is not a dialogue record (it has no messages)")
    names = list(record.outputs.get("speakers") or ["Speaker A", "Speaker B"])
    return [(str(names[ROLES.index(m["role"])] if m["role"] in ROLES else m["role"]),
             str(m["content"])) for m in messages]


def transcript(record: Record) -> str:
    """The dialogue as ``Name: text`` lines (DialogSum/SAMSum's form).

    Raises:
        ValueError: not a finished dialogue record.
    """
    return "\n".join(f"{name}: {text}" for name, text in dialogue_turns(record))


def messages_row(record: Record) -> dict[str, Any]:
    """TRL's conversational layout: ``{"messages": [{"role": "user"|"assistant",
    "content": str}, ...], "speakers": [A, B], "id": str}`` (A is the user). A dialogue
    may start with either role and has no system turn.

    Raises:
        ValueError: not a finished dialogue record.
    """
    dialogue_turns(record)  # the check
    return {"messages": [{"role": str(m["role"]), "content": str(m["content"])}
                         for m in record.outputs["messages"]],
            "speakers": list(record.outputs.get("speakers") or []), "id": record.id}


def sharegpt_row(record: Record) -> dict[str, Any]:
    """The ShareGPT layout: ``{"conversations": [{"from": "human"|"gpt", "value": str},
    ...], "speakers": [A, B], "id": str}`` (A is ``human``).

    Raises:
        ValueError: not a finished dialogue record.
    """
    row = messages_row(record)
    side = {"user": "human", "assistant": "gpt"}
    return {"conversations": [{"from": side[m["role"]], "value": m["content"]}
                              for m in row["messages"]],
            "speakers": row["speakers"], "id": record.id}


def dialogsum_row(record: Record) -> dict[str, Any]:
    """The summarisation layout of DialogSum and SAMSum: ``{"dialogue": "Name: text"
    lines, "summary": str, "topic": str, "speakers": [A, B], "id": str}``.

    Raises:
        ValueError: not a finished dialogue record, or one without a summary (add a
            ``dialogue.summary`` step).
    """
    summary = record.outputs.get("summary")
    if not summary:
        raise ValueError(f"record {record.id} has no summary (add a dialogue.summary step)")
    return {"dialogue": transcript(record), "summary": str(summary),
            "topic": str(record.inputs.get("topic") or ""),
            "speakers": list(record.outputs.get("speakers") or []), "id": record.id}


@register_kind
class DialogueTask(TaskSpec):
    """Two-speaker dialogues about the recipe's topics.

    Attributes:
        topics: the topics dialogues are about (DiaSynth's user-supplied topics), each one
            stratum; None uses ``description`` as the only topic.

    Record fields: ``inputs``::

        {"topic": str,
         "subtopic": str,                  # absent without a dialogue.subtopics step
         "personas": [str, str],           # speaker A's and B's; absent without personas
         "characteristics": {name: value}} # read off the chain of thought (best effort);
                                           # absent when characteristics are switched off

    and ``outputs``::

        {"messages": [{"role": "user"|"assistant", "content": str}, ...],  # A is the user
         "speakers": [str, str],  # A's and B's names
         "reasoning": str,        # the chain of thought ('' when switched off)
         "summary": str}          # only after a dialogue.summary step

    The characteristics are also in ``provenance.plan.characteristics``, and the
    topic and subtopic in ``provenance.plan.taxonomy_path``.

    Strata: the topics; quotas count dialogues per topic.
    """

    kind: Literal["dialogue"] = "dialogue"
    topics: list[str] | None = Field(default=None, min_length=1, max_length=500)

    input_fields = ("topic",)
    output_fields = ("messages", "speakers")
    stratum_name = "topic"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {
        "messages": messages_row, "sharegpt": sharegpt_row, "dialogsum": dialogsum_row}

    @field_validator("topics")
    @classmethod
    def _distinct(cls, v: list[str] | None) -> list[str] | None:
        """Topics without surrounding spaces, non-empty, at most 200 characters, distinct
        (case-insensitively)."""
        if v is None:
            return v
        out: list[str] = []
        for topic in v:
            topic = " ".join(str(topic).split())
            if not topic or len(topic) > 200:
                raise ValueError(f"a topic must have 1 to 200 characters, got {topic!r}")
            if any(topic.casefold() == t.casefold() for t in out):
                raise ValueError(f"topic {topic!r} is given twice")
            out.append(topic)
        return out

    def topic_list(self) -> list[str]:
        """The topics: ``topics``, else the description as the one topic."""
        return list(self.topics) if self.topics else [" ".join(self.description.split())]

    def strata(self) -> list[str]:
        """The topics (quotas count dialogues per topic)."""
        return self.topic_list()

    def stratum_of(self, record: Record) -> str:
        """The record's topic."""
        return str(record.inputs.get("topic") or "")

    def text_of(self, record: Record) -> str:
        """The dialogue as ``Name: text`` lines ('' for a record without messages)."""
        return transcript(record) if record.outputs.get("messages") else ""

    def judge_text(self, record: Record) -> str:
        """What a judge should read for a rubric of coherence and persona consistency:
        the subtopic, each speaker's persona and the dialogue."""
        names = list(record.outputs.get("speakers") or ["Speaker A", "Speaker B"])
        personas = list(record.inputs.get("personas") or [])
        lines = [f"Topic: {record.inputs.get('subtopic') or record.inputs.get('topic')}"]
        lines += [f"Persona of {name}: {persona}"
                  for name, persona in zip(names, personas, strict=False)]
        return "\n".join([*lines, "Conversation:", self.text_of(record)])

    def known_fields(self) -> set[str]:
        """The task's fields, plus ``topics`` (given, or the description)."""
        return super().known_fields() | {"topics"}

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "topics": self.topic_list()}
