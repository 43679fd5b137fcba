"""The ``tool_dialogue`` kind: a conversation in which an assistant calls tools, as OpenAI
chat messages with ``tool_calls`` (ToolFlow, Wang et al., arXiv 2410.18447).

Export layout ``messages``: ``{"messages": [...], "tools": "<JSON list of OpenAI function
specs>", "id"}``, the shape chat trainers with tool support read (TRL's ``SFTTrainer``
passes ``tools`` to the chat template). The tools are a JSON string, not nested objects:
JSON Schemas differ from tool to tool, and Arrow (Hugging Face ``datasets``) needs one type
per column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind


def chat_messages(record: Record) -> list[dict[str, Any]]:
    """The record's conversation with every message in one shape: ``{"role", "content"
    (str), "tool_calls" (list or None), "tool_call_id" (str or None), "name" (str or
    None)}``, so the rows of a dataset share one schema; a call's ``arguments`` is a JSON
    string.

    Raises:
        ValueError: the record has no messages.
    """
    messages = record.outputs.get("messages")
    if not messages:
        raise ValueError(f"record {record.id} is not a tool dialogue (it has no messages)")
    out = []
    for m in messages:
        calls = m.get("tool_calls") or None
        if calls:
            calls = [{"id": str(c.get("id", "")), "type": "function", "function": {
                "name": str(c["function"]["name"]),
                "arguments": c["function"]["arguments"]
                if isinstance(c["function"]["arguments"], str)
                else json.dumps(c["function"]["arguments"], ensure_ascii=False)}}
                for c in calls]
        out.append({"role": str(m["role"]), "content": str(m.get("content") or ""),
                    "tool_calls": calls, "tool_call_id": m.get("tool_call_id"),
                    "name": m.get("name")})
    return out


def messages_row(record: Record) -> dict[str, Any]:
    """``{"messages": chat_messages(record), "tools": JSON string of the OpenAI function
    specs offered, "id": str}``.

    Raises:
        ValueError: the record has no messages.
    """
    return {"messages": chat_messages(record),
            "tools": json.dumps(record.inputs.get("tool_specs") or [], ensure_ascii=False),
            "id": record.id}


def dialogue_text(record: Record) -> str:
    """The conversation as plain text, one line per message (``user: ...``, ``assistant
    calls name({...})``, ``tool name: {...}``), for filters, judges and diversity measures."""
    lines = []
    for m in record.outputs.get("messages") or []:
        for call in m.get("tool_calls") or []:
            args = call["function"]["arguments"]
            args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            lines.append(f"assistant calls {call['function']['name']}({args})")
        if m.get("content"):
            who = f"tool {m.get('name')}" if m.get("role") == "tool" else m.get("role")
            lines.append(f"{who}: {m['content']}")
    return "\n".join(lines)


@register_kind
class ToolDialogueTask(TaskSpec):
    """Conversations between a user and an assistant that calls tools.

    ``description`` says what the conversations are for (the assistant's job); the tools
    come from the recipe's ``tools.sample`` step (a folder of JSON Schema function specs,
    an OpenAPI file, or the shipped set).

    Record fields: ``inputs`` ``{"tools": [name, ...], "tool_specs": [OpenAI function spec,
    ...], "sampling": "graph"|"uniform", "chain": bool (the set holds an output -> input
    link), "plan": [{"kind": "tool"|"clarification"|"chit_chat", "request": str, "tools":
    [name, ...]}, ...]}`` and ``outputs`` ``{"messages": [OpenAI chat messages: user,
    assistant (``content`` and/or ``tool_calls``), tool (``tool_call_id``, ``name``,
    ``content`` = the simulated result as JSON)]}``. Every kept call passed its tool's
    parameter schema; per-turn outcomes (repairs, rejected turns) are in the generate
    step's provenance ``detail``.

    One stratum (``"all"``): quotas count dialogues.
    """

    kind: Literal["tool_dialogue"] = "tool_dialogue"

    input_fields = ("tools",)
    output_fields = ("messages",)
    stratum_name = "dialogue"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {
        "messages": messages_row}

    def text_of(self, record: Record) -> str:
        """The conversation as text (:func:`dialogue_text`)."""
        return dialogue_text(record)

    def judge_text(self, record: Record) -> str:
        """What a judge reads: the tools offered (name and description) and the
        conversation with its calls and results."""
        tools = [f"- {(s.get('function') or {}).get('name')}: "
                 f"{(s.get('function') or {}).get('description', '')}"
                 for s in record.inputs.get("tool_specs") or []]
        return "\n".join(["Tools offered:", *tools, "Conversation:", dialogue_text(record)])
