"""The ``instruction`` kind: an instruction (with an optional input) and the response to it,
as a chat a supervised fine-tuning trainer reads.

The recipes that built most open instruction datasets fill it: Self-Instruct (Wang et al.,
arXiv 2212.10560), Evol-Instruct (Xu et al., arXiv 2304.12244), Magpie (Xu et al., arXiv
2406.08464) and persona-driven prompts (Persona Hub, Ge et al., arXiv 2406.20094).

Export layouts (``synthloom export RUN --layout NAME``) live next to the kind, in
:data:`InstructionTask.layouts`: ``messages`` (the chat, TRL's conversational layout for
its ``SFTTrainer``), ``alpaca`` (``instruction``/``input``/``output``) and ``sharegpt``
(``conversations`` of ``from``/``value`` turns).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind


def user_text(instruction: str, input_text: str | None = None) -> str:
    """The first user turn: the instruction, then its input after a blank line (if any)."""
    instruction = instruction.strip()
    return f"{instruction}\n\n{input_text.strip()}" if input_text and input_text.strip() \
        else instruction


def conversation(record: Record) -> list[dict[str, str]]:
    """The record's chat: ``[{"role": "user"|"assistant", "content": str}, ...]``.

    ``outputs["messages"]`` when the generator wrote the whole chat (several turns), else
    one user turn (:func:`user_text` of ``instruction`` and ``input``) and one assistant turn
    (``response``).

    Raises:
        ValueError: the record has no instruction or no response.
    """
    messages = record.outputs.get("messages")
    if messages:
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    instruction, response = record.inputs.get("instruction"), record.outputs.get("response")
    if not instruction or not response:
        raise ValueError(f"record {record.id} is not an instruction record (it needs an "
                         "instruction and a response)")
    return [{"role": "user", "content": user_text(str(instruction), record.inputs.get("input"))},
            {"role": "assistant", "content": str(response)}]


def messages_row(record: Record) -> dict[str, Any]:
    """TRL's conversational language-modeling layout: ``{"messages": [{"role", "content"},
    ...], "id": str}`` (``SFTTrainer`` applies the model's chat template to it).

    Raises:
        ValueError: not a finished instruction record.
    """
    return {"messages": conversation(record), "id": record.id}


def alpaca_row(record: Record) -> dict[str, Any]:
    """The Alpaca layout: ``{"instruction": str, "input": str, "output": str, "id": str}``
    (Taori et al. 2023). A chat of several turns keeps its first exchange only.

    Raises:
        ValueError: not a finished instruction record.
    """
    chat = conversation(record)
    instruction = record.inputs.get("instruction") or chat[0]["content"]
    return {"instruction": str(instruction), "input": str(record.inputs.get("input") or ""),
            "output": chat[1]["content"], "id": record.id}


def sharegpt_row(record: Record) -> dict[str, Any]:
    """The ShareGPT layout: ``{"conversations": [{"from": "human"|"gpt", "value": str}, ...],
    "id": str}``.

    Raises:
        ValueError: not a finished instruction record.
    """
    speaker = {"user": "human", "assistant": "gpt", "system": "system"}
    return {"conversations": [{"from": speaker[m["role"]], "value": m["content"]}
                              for m in conversation(record)], "id": record.id}


@register_kind
class InstructionTask(TaskSpec):
    """Instructions an assistant is asked to follow, with its responses.

    ``description`` says what the instructions are about (and so what a good response
    is); ``unit`` what one instruction is called ("task for an assistant", "question from
    a student").

    Record fields: ``inputs`` ``{"instruction": str, "input": str}`` (``input`` optional:
    the data the instruction works on) and ``outputs``::

        {"response": str,                  # the first assistant answer
         "messages": [{"role", "content"}] # only for a chat of more than one exchange
        }

    How each instruction was made is in provenance: ``parents`` (the instructions it was
    evolved from or shown with) and the operator trail (``method``, ``operation``,
    ``generation``); the persona, when one was used, in ``plan.persona``.

    One stratum (``"all"``): quotas count instructions.
    """

    kind: Literal["instruction"] = "instruction"

    input_fields = ("instruction",)
    output_fields = ("response",)
    stratum_name = "instruction"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {
        "messages": messages_row, "alpaca": alpaca_row, "sharegpt": sharegpt_row}

    def text_of(self, record: Record) -> str:
        """The text filters and diversity measures look at: the first user turn."""
        return user_text(str(record.inputs.get("instruction") or ""), record.inputs.get("input"))
