"""ToolFlow's dialogue plan (Wang et al., arXiv 2410.18447, step 3): the LLM writes a
turn-by-turn plan over a sampled tool set, mixing tool requests, clarifications and small
talk, decoded under a schema and checked before the agents follow it
(:mod:`synthloom.operators.tools.agents`). Also the schema simplification every
constrained answer of the agents goes through, and the default judge rubric of tool
dialogues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from synthloom.operators.judge.pointwise import Criterion
from synthloom.operators.tools.registry import Tool

TurnKind = Literal["tool", "clarification", "chit_chat"]

#: the default judge rubric of tool dialogues (``judge.pointwise``): coherence,
#: naturalness of the user, and whether the calls fit the requests; anchored levels 1, 3, 5
TOOL_DIALOGUE_CRITERIA: tuple[Criterion, ...] = (
    Criterion(name="coherence", question="Does the {unit} hang together, each turn "
              "following from the ones before, the replies using the tool results?",
              levels={1: "disjointed, or replies that ignore the tool results",
                      3: "mostly coherent, with odd or generic turns",
                      5: "coherent from start to end, results used correctly"}),
    Criterion(name="naturalness", question="Does the user sound like a real person asking "
              "for help?", levels={1: "robotic or repeats the plan", 3: "plausible but stiff",
                                   5: "natural, like a real user"}),
    Criterion(name="tool_use", question="Are the right tools called, with arguments taken "
              "from the conversation?",
              levels={1: "wrong tools or invented arguments", 3: "partly right",
                      5: "the right calls with the user's own details"}),
)


class PlanTurn(BaseModel):
    """One planned turn: ``kind``, what the user wants (``request``) and, for tool and
    clarification turns, the tools that serve it."""

    kind: TurnKind
    request: str = Field(min_length=3, max_length=400)
    tools: list[str] = Field(default_factory=list, max_length=4)


class DialoguePlan(BaseModel):
    """The plan the LLM writes (constrained to this schema): 2 to 6 turns."""

    turns: list[PlanTurn] = Field(min_length=2, max_length=6)


#: the keywords dropped from a schema before it becomes a decoding grammar: llama.cpp
#: expands ``maxLength: 400`` into 400 optional repeats (a plan then took minutes per
#: answer), and ``pattern``/``format`` are checked after decoding anyway
_GRAMMAR_DROPS = frozenset({"minLength", "maxLength", "pattern", "format", "$schema"})
#: tokens the plan may take at least (six turns of JSON)
PLAN_TOKENS = 400
#: items per array in a constrained answer (a simulated result lists a few, not pages)
GRAMMAR_MAX_ITEMS = 3


def grammar_schema(schema: Any) -> Any:
    """A copy of a JSON Schema fit for constrained decoding: string length, pattern and
    format keywords removed, arrays capped at :data:`GRAMMAR_MAX_ITEMS` items (or their
    ``minItems``, when larger). The answer is still validated against the full schema."""
    if isinstance(schema, list):
        return [grammar_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: grammar_schema(v) for k, v in schema.items() if k not in _GRAMMAR_DROPS}
    if out.get("type") == "array" or "items" in out:
        low = int(out.get("minItems", 0) or 0)
        out["maxItems"] = max(low, min(int(out.get("maxItems", GRAMMAR_MAX_ITEMS)),
                                       GRAMMAR_MAX_ITEMS))
    return out


def plan_schema(names: Sequence[str]) -> dict[str, Any]:
    """The schema the plan is decoded under: 2-6 turns, each a ``kind``, a ``request`` and
    1-3 ``tools`` drawn from ``names`` (a chit-chat turn's are ignored; lengths are checked
    by :class:`DialoguePlan`)."""
    return {"type": "object", "required": ["turns"], "properties": {"turns": {
        "type": "array", "minItems": 2, "maxItems": 6, "items": {
            "type": "object", "required": ["kind", "request", "tools"], "properties": {
                "kind": {"enum": ["tool", "clarification", "chit_chat"]},
                "request": {"type": "string"},
                "tools": {"type": "array", "minItems": 1, "maxItems": 3,
                          "items": {"enum": list(names)}}}}}}}


def tool_line(tool: Tool) -> str:
    """``name(param: type, ...) -> field, ...: description`` for prompts."""
    props = (tool.parameters or {}).get("properties") or {}
    required = set((tool.parameters or {}).get("required") or [])
    params = ", ".join(f"{k}{'' if k in required else '?'}: {v.get('type', 'any')}"
                       for k, v in props.items())
    returns = ", ".join(((tool.returns or {}).get("properties") or {}).keys())
    return f"{tool.name}({params}) -> {returns or 'result'}: {tool.description}"


def plan_messages(description: str, tools: Sequence[Tool], turns: int) -> list[dict[str, str]]:
    """The planner's prompt: the assistant's job, the tool set, ``turns`` turns wanted."""
    listed = "\n".join(f"- {tool_line(t)}" for t in tools)
    return [
        {"role": "system", "content": "You plan realistic conversations between a user and "
         "an AI assistant that can call tools. Answer in JSON."},
        {"role": "user", "content":
         f"The assistant's job: {description}\n\nTools the assistant can call:\n{listed}\n\n"
         f"Plan a conversation of {turns} turns. Each turn is one thing the user wants:\n"
         "- kind \"tool\": a request the assistant serves by calling the tools named in "
         "\"tools\" (a later request may use the result of an earlier call);\n"
         "- kind \"clarification\": a request that lacks a detail a tool needs, so the "
         "assistant asks for it first; name the tools;\n"
         "- kind \"chit_chat\": small talk or a question answered without tools "
         "(\"tools\": []).\n"
         "Use at least two different tools, and make the turns follow from each other. "
         "Write each request in plain words, as what the person wants (for example "
         "\"find a flight from Lyon to Oslo on 3 May\"), with concrete values (names, "
         "dates, amounts), never a function call or a tool name."}]


def check_plan(plan: DialoguePlan, names: Sequence[str]) -> str | None:
    """Why a plan cannot be followed (None when it can): unknown tools, a tool turn
    without tools, no tool turn at all."""
    known = set(names)
    for i, turn in enumerate(plan.turns):
        unknown = [t for t in turn.tools if t not in known]
        if unknown:
            return f"turn {i} names tools not in the set: {unknown}"
        if turn.kind != "chit_chat" and not turn.tools:
            return f"turn {i} is a {turn.kind} turn with no tool"
    if not any(t.kind != "chit_chat" for t in plan.turns):
        return "no turn calls a tool"
    return None


__all__ = ["GRAMMAR_MAX_ITEMS", "PLAN_TOKENS", "TOOL_DIALOGUE_CRITERIA", "DialoguePlan",
           "PlanTurn", "TurnKind", "check_plan", "grammar_schema", "plan_messages",
           "plan_schema", "tool_line"]
