"""ToolFlow's planned generation and its three agents (Wang et al., arXiv 2410.18447,
steps 3-4): the LLM writes a turn-by-turn plan over a sampled tool set, then a user agent,
an assistant agent (which calls tools through the backend's tool-call support) and a tool
simulator follow it.

Per planned turn:

1. the **user agent** writes the user's message for the turn's request (for a
   ``clarification`` turn it leaves out a detail, the assistant asks, and the user answers);
2. the **assistant agent** answers with the tools offered; in a ``tool`` turn that makes
   no call it is asked once more with the planned tool forced (``tool_choice``);
3. every call is validated against its tool's parameter schema (``jsonschema``); an
   invalid call is sent back once with the errors (repair), and a call still invalid ends
   the dialogue before this turn, recorded with the reason;
4. the **tool simulator** returns each call's result, constrained to and validated against
   the tool's ``returns`` schema;
5. the assistant may call again with the results in view (a chain), up to
   ``max_call_rounds``, then writes its reply with no tools offered, from the
   conversation written out as text (:func:`reply_messages`).

Each dialogue is a generator that yields one :class:`ChatRequest` at a time and receives
its answer; :func:`run_dialogues` advances all of them together, so each backend call
carries one request per live dialogue (the embedded backend decodes them as one batch).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from synthloom.llm.base import BackendError, ChatBackend, ChatRequest, ChatResponse, SamplingParams
from synthloom.operators.base import derived_seed
from synthloom.operators.tools.plan import (
    GRAMMAR_MAX_ITEMS,
    PLAN_TOKENS,
    TOOL_DIALOGUE_CRITERIA,
    DialoguePlan,
    PlanTurn,
    check_plan,
    grammar_schema,
    plan_messages,
    plan_schema,
    tool_line,
)
from synthloom.operators.tools.registry import Tool, ToolRegistry


@dataclass
class DialogueResult:
    """What one simulated dialogue produced.

    Attributes:
        messages: OpenAI chat messages (no system message).
        plan: the plan followed (list of :class:`PlanTurn` dicts), or None.
        rejected: why the whole dialogue failed (None when it has at least one finished
            turn with a valid tool call).
        stats: ``{"turns_planned", "turns_done", "calls", "calls_valid_first",
            "calls_repaired", "calls_invalid", "forced_calls", "results_invalid",
            "llm_calls", "turn_outcomes": [{"turn", "kind", "outcome", "reason"}]}``.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    plan: list[dict[str, Any]] | None = None
    rejected: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class AgentSettings:
    """Sampling of the agents. ``temperature`` for the plan, user and assistant;
    ``tool_temperature`` for the simulator; tokens per answer; calls per turn."""

    temperature: float = 0.7
    tool_temperature: float = 0.3
    max_tokens: int = 320
    max_call_rounds: int = 2


def _transcript(messages: Sequence[dict[str, Any]]) -> str:
    lines = []
    for m in messages:
        if m["role"] == "user":
            lines.append(f"You: {m['content']}")
        elif m["role"] == "assistant" and m.get("content"):
            lines.append(f"Assistant: {m['content']}")
    return "\n".join(lines[-8:]) or "(the conversation starts now)"


def reply_messages(history: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """The assistant's prompt when it must reply in words: the conversation written out as
    text, calls and results included (``Assistant called name({...})``, ``Result of name:
    {...}``). Given the raw chat with tool messages, a small model copies the call and
    result JSON instead of replying."""
    lines = []
    for m in history:
        if m["role"] == "user":
            lines.append(f"Person: {m['content']}")
        elif m["role"] == "tool":
            lines.append(f"Result of {m.get('name')}: {m['content']}")
        else:
            lines += [f"Assistant called {c['function']['name']}({c['function']['arguments']})"
                      for c in m.get("tool_calls") or []]
            if m.get("content"):
                lines.append(f"Assistant: {m['content']}")
    return [{"role": "system", "content": REPLY_SYSTEM},
            {"role": "user", "content": "Conversation so far:\n" + "\n".join(lines[-12:])
             + "\n\nWrite the assistant's next reply to the person, speaking to them "
             "directly in the first person: one to three plain sentences that use the "
             "results above. Reply with the sentences only."}]


_USER_HOW = {"ask": "The message asks for this.",
             "vague": "The message asks for this but leaves out one detail the assistant "
                      "will need (a date, a name, an amount or an id).",
             "answer": "The assistant has just asked a question: the message answers it "
                       "with the missing detail."}


def user_text(answer: str) -> str:
    """The user's message from the user agent's answer: :func:`spoken_text`, without the
    prompt's own instruction sentences when the model echoed them."""
    text = spoken_text(answer)
    for echoed in _USER_HOW.values():
        text = text.replace(echoed, "")
    return text.strip()


def user_messages(history: Sequence[dict[str, Any]], request: str,
                  mode: Literal["ask", "vague", "answer"]) -> list[dict[str, str]]:
    """The user agent's prompt, framed as writing the user's message (a small model told
    to "play the user" answers as the assistant): the conversation so far (user and
    assistant text only) and what the user wants now; ``vague`` leaves out a detail,
    ``answer`` gives it."""
    how = _USER_HOW[mode]
    return [
        {"role": "system", "content": "You write the messages that a person types to an AI "
         "assistant. You write only the person's message, never the assistant's reply."},
        {"role": "user", "content": f"Conversation so far:\n{_transcript(history)}\n\n"
         f"What the person wants now: {request}\n{how}\nWrite the person's next message, in "
         "the first person (for example \"Can you...\", \"I need...\"), one or two "
         "sentences, with no function names. Reply with the message only."}]


ASSISTANT_SYSTEM = ("You are a helpful assistant that can call tools. Call a tool when the "
                    "user's request needs one, with arguments taken from the conversation; "
                    "ask a short question when a required detail is missing; otherwise "
                    "answer directly.")
#: the assistant's instruction when it must reply in words (no tools offered)
REPLY_SYSTEM = ("You are a helpful assistant. Reply to the user directly, in the first "
                "person (\"I have booked...\", \"Your order...\"), in one to three plain "
                "sentences, using the tool results above where they answer the request. "
                "Do not write JSON, code or tool calls.")


_LABELS = r"(?:person|assistant|user|you|customer|ai)"
_COLON = r"(?::\**|\**\s*:)"  # "Name:", "**Name**:" or "**Name:**"
_LEADING_LABEL = re.compile(rf"^\s*\**{_LABELS}{_COLON}\s*", re.IGNORECASE)
_NEXT_SPEAKER = re.compile(rf"\n\s*\**(?:{_LABELS}|result of [\w.-]+){_COLON}|\n\s*assistant "
                           r"called ", re.IGNORECASE)


def spoken_text(text: str) -> str:
    """One speaker's words from an answer written in the prompts' transcript format:
    leading speaker labels removed (``"Person: Assistant: Hi"`` -> ``"Hi"``) and the text
    cut where a line starts another speaker (``"Assistant:"``, ``"Person:"``, ``"Result
    of name:"``, ``"Assistant called"``): a small model continues the transcript it was
    shown. Quotes around the whole reply are removed. ``""`` when nothing is left."""
    text = text.strip()
    while (label := _LEADING_LABEL.match(text)) is not None:
        text = text[label.end():]
    cut = _NEXT_SPEAKER.search(text)
    text = (text[: cut.start()] if cut else text).strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":  # a quoted reply
        text = text[1:-1].strip()
    return text


def looks_like_call(text: str) -> bool:
    """True when a reply is JSON or a written-out tool call rather than words."""
    head = text.lstrip().lstrip("`").removeprefix("json").lstrip()
    return head.startswith(("{", "[")) or '"arguments"' in text or "<tool_call>" in text


def simulator_messages(tool: Tool, arguments: dict[str, Any]) -> list[dict[str, str]]:
    """The tool simulator's prompt: the tool, its call's arguments; a JSON result wanted."""
    return [
        {"role": "system", "content": f"You simulate the tool `{tool.name}`: "
         f"{tool.description} Reply with the tool's result as JSON only: realistic values, "
         "consistent with the arguments."},
        {"role": "user", "content": f"Arguments: {json.dumps(arguments, ensure_ascii=False)}"}]


def _arguments(call: dict[str, Any]) -> dict[str, Any]:
    raw = (call.get("function") or {}).get("arguments")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


Answer = ChatResponse | BackendError
Conversation = Generator[ChatRequest, Answer, DialogueResult]


class ToolFlowDialogue:
    """One dialogue's agents over a tool set (see the module docstring).

    Args:
        registry: the tools (for schemas and validation).
        tools: the sampled tool names offered in this dialogue.
        description: the assistant's job (the task description).
        key: a stable key of the dialogue; every request's seed derives from it, ``seed``
            and the request's position, so a rerun asks the cache the same questions.
        turns: turns to plan (2..6).
        settings: :class:`AgentSettings`.
    """

    def __init__(self, registry: ToolRegistry, tools: Sequence[str], description: str,
                 key: str, seed: int, turns: int = 3,
                 settings: AgentSettings | None = None) -> None:
        self.registry, self.names = registry, list(tools)
        self.tools = [registry[n] for n in self.names]
        self.specs = tuple(t.openai_spec() for t in self.tools)
        self.description, self.key, self.seed, self.turns = description, key, seed, turns
        self.settings = settings or AgentSettings()
        self._asked = 0
        self.result = DialogueResult(stats={
            "turns_planned": 0, "turns_done": 0, "calls": 0, "calls_valid_first": 0,
            "calls_repaired": 0, "calls_invalid": 0, "forced_calls": 0, "results_invalid": 0,
            "user_repeats": 0,
            "llm_calls": 0, "turn_outcomes": []})

    def _request(self, messages: Sequence[dict[str, Any]], *, temperature: float | None = None,
                 json_schema: dict[str, Any] | None = None, tools: bool = False,
                 tool_choice: str | dict[str, Any] | None = None,
                 max_tokens: int | None = None) -> ChatRequest:
        self._asked += 1
        self.result.stats["llm_calls"] += 1
        s = self.settings
        return ChatRequest(
            messages=tuple(messages), json_schema=json_schema,
            tools=self.specs if tools else None, tool_choice=tool_choice,
            sampling=SamplingParams(
                temperature=s.temperature if temperature is None else temperature,
                max_tokens=max_tokens or s.max_tokens,
                seed=derived_seed("toolflow", self.seed, self.key, self._asked)))

    def _fail(self, reason: str) -> DialogueResult:
        self.result.rejected = reason
        return self.result

    def run(self) -> Conversation:
        """The dialogue as a generator of requests (driven by :func:`run_dialogues`)."""
        answer = yield self._request(plan_messages(self.description, self.tools, self.turns),
                                     json_schema=plan_schema(self.names),
                                     max_tokens=max(PLAN_TOKENS, self.settings.max_tokens))
        if isinstance(answer, BackendError):
            return self._fail(f"plan: {answer}")
        try:
            plan = DialoguePlan.model_validate_json(answer.text or "")
        except ValidationError as e:
            return self._fail(f"plan: not a valid plan ({e.errors()[0]['msg']})")
        why = check_plan(plan, self.names)
        if why:
            return self._fail(f"plan: {why}")
        for turn in plan.turns:  # small talk calls nothing, whatever the plan listed
            if turn.kind == "chit_chat":
                turn.tools = []
        self.result.plan = [t.model_dump() for t in plan.turns]
        self.result.stats["turns_planned"] = len(plan.turns)
        for index, turn in enumerate(plan.turns):
            kept = len(self.result.messages)
            reason = yield from self._turn(turn)
            outcomes = self.result.stats["turn_outcomes"]
            if reason is not None:
                del self.result.messages[kept:]
                outcomes.append({"turn": index, "kind": turn.kind, "outcome": "rejected",
                                 "reason": reason})
                break
            outcomes.append({"turn": index, "kind": turn.kind, "outcome": "done"})
            self.result.stats["turns_done"] += 1
        if not any(m.get("tool_calls") for m in self.result.messages):
            first = next((o["reason"] for o in self.result.stats["turn_outcomes"]
                          if o["outcome"] == "rejected"), "no tool was called")
            return self._fail(f"no finished turn with a valid tool call ({first})")
        return self.result

    def _say(self, request: str, mode: Literal["ask", "vague", "answer"]
             ) -> Generator[ChatRequest, Answer, str | None]:
        said = {m["content"].casefold() for m in self.result.messages if m["role"] == "user"}
        for attempt in range(2):  # a message the user already sent is asked for once more
            answer = yield self._request(user_messages(self.result.messages, request, mode),
                                         temperature=None if attempt == 0 else 1.0)
            if isinstance(answer, BackendError) or not user_text(answer.text or ""):
                return f"user agent: {answer if isinstance(answer, BackendError) else 'empty'}"
            text = user_text(answer.text)
            if text.casefold() not in said:
                break
            self.result.stats["user_repeats"] += 1
        else:
            return "user agent repeated an earlier message"
        self.result.messages.append({"role": "user", "content": text})
        return None

    def _turn(self, turn: PlanTurn) -> Generator[ChatRequest, Answer, str | None]:
        """One planned turn; the reason it failed, or None."""
        failed = yield from self._say(turn.request, "vague" if turn.kind == "clarification"
                                      else "ask")
        if failed:
            return failed
        must_call = turn.kind == "tool"
        for call_round in range(self.settings.max_call_rounds + 1):
            last = call_round == self.settings.max_call_rounds
            answer = yield self._request(
                reply_messages(self.result.messages) if last else
                [{"role": "system", "content": ASSISTANT_SYSTEM}, *self.result.messages],
                tools=not last)
            if isinstance(answer, BackendError):
                return f"assistant: {answer}"
            if not answer.tool_calls and looks_like_call(answer.text or ""):
                answer = yield self._request(reply_messages(self.result.messages))
                if isinstance(answer, BackendError) or looks_like_call(answer.text or ""):
                    return "assistant replied with JSON or a written-out call, not words"
            calls = answer.tool_calls or []
            if not calls and must_call and turn.tools:
                self.result.stats["forced_calls"] += 1
                answer = yield self._request(
                    [{"role": "system", "content": ASSISTANT_SYSTEM}, *self.result.messages],
                    tools=True, tool_choice={"type": "function",
                                             "function": {"name": turn.tools[0]}})
                if isinstance(answer, BackendError):
                    return f"assistant: {answer}"
                calls = answer.tool_calls or []
                if not calls:
                    return "assistant made no tool call in a tool turn"
            if not calls:
                text = spoken_text(answer.text or "")
                if not text:
                    return "assistant: empty reply"
                self.result.messages.append({"role": "assistant", "content": text})
                if turn.kind == "clarification" and call_round == 0:
                    failed = yield from self._say(turn.request, "answer")
                    if failed:
                        return failed
                    must_call = True
                    continue
                return None
            failed = yield from self._calls(calls, answer.text)
            if failed:
                return failed
            must_call = False
        # the rounds ran out on a tool result: the assistant's reply, with no tools offered
        answer = yield self._request(reply_messages(self.result.messages))
        if isinstance(answer, BackendError) or not spoken_text(answer.text or ""):
            return "assistant: no reply after the tool results"
        if looks_like_call(answer.text):
            return "assistant replied with JSON or a written-out call, not words"
        self.result.messages.append({"role": "assistant", "content": spoken_text(answer.text)})
        return None

    def _calls(self, calls: list[dict[str, Any]], text: str | None
               ) -> Generator[ChatRequest, Answer, str | None]:
        """Validate (repairing once), append the calls, simulate their results."""
        stats = self.result.stats
        stats["calls"] += len(calls)
        errors = [e for c in calls for e in self.registry.validate_call(c)]
        if errors:
            repair = [{"role": "system", "content": ASSISTANT_SYSTEM}, *self.result.messages,
                      {"role": "assistant", "content": text or "", "tool_calls": calls},
                      {"role": "user", "content": "Those tool calls are invalid: "
                       + "; ".join(errors[:4]) + ". Call the tool again with arguments "
                       "that fit its parameters."}]
            name = (calls[0].get("function") or {}).get("name")
            choice = ({"type": "function", "function": {"name": name}}
                      if name in self.names else None)
            answer = yield self._request(repair, tools=True, tool_choice=choice)
            again = [] if isinstance(answer, BackendError) else (answer.tool_calls or [])
            still = [e for c in again for e in self.registry.validate_call(c)]
            if not again or still:
                stats["calls_invalid"] += len(calls)
                return "invalid tool call after one repair: " + "; ".join((still or errors)[:3])
            stats["calls_repaired"] += len(again)
            calls, text = again, answer.text
        else:
            stats["calls_valid_first"] += len(calls)
        calls = [{"id": c.get("id") or f"call_{self.key[-6:]}_{i}_{self._asked}",
                  "type": "function", "function": {
                      "name": c["function"]["name"],
                      "arguments": json.dumps(_arguments(c), ensure_ascii=False)}}
                 for i, c in enumerate(calls)]
        self.result.messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        for call in calls:
            tool = self.registry[call["function"]["name"]]
            result = None
            for _attempt in range(2):
                answer = yield self._request(simulator_messages(tool, _arguments(call)),
                                             temperature=self.settings.tool_temperature,
                                             json_schema=grammar_schema(
                                                 tool.returns or {"type": "object"}))
                if isinstance(answer, BackendError):
                    continue
                if not self.registry.validate_result(tool.name, answer.text or ""):
                    result = json.dumps(json.loads(answer.text), ensure_ascii=False)
                    break
                stats["results_invalid"] += 1
            if result is None:
                return f"tool simulator: no valid result for {tool.name}"
            self.result.messages.append({"role": "tool", "tool_call_id": call["id"],
                                         "name": tool.name, "content": result})
        return None


def run_dialogues(backend: ChatBackend, dialogues: Sequence[ToolFlowDialogue]
                  ) -> list[DialogueResult]:
    """Drive every dialogue to its end, one request per live dialogue per backend call.

    Returns:
        one :class:`DialogueResult` per dialogue, in order (a failed one has ``rejected``).
    """
    runs = [d.run() for d in dialogues]
    results: list[DialogueResult | None] = [None] * len(runs)
    pending: dict[int, ChatRequest] = {}
    for i, run in enumerate(runs):
        try:
            pending[i] = next(run)
        except StopIteration as stop:
            results[i] = stop.value
    while pending:
        order = sorted(pending)
        answers = backend.chat([pending[i] for i in order])
        pending = {}
        for i, answer in zip(order, answers, strict=True):
            try:
                pending[i] = runs[i].send(answer)
            except StopIteration as stop:
                results[i] = stop.value
    return [r if r is not None else DialogueResult(rejected="did not finish") for r in results]


__all__ = ["GRAMMAR_MAX_ITEMS", "REPLY_SYSTEM", "TOOL_DIALOGUE_CRITERIA", "AgentSettings",
           "DialoguePlan", "DialogueResult", "PlanTurn", "ToolFlowDialogue", "check_plan",
           "grammar_schema", "looks_like_call", "plan_messages", "plan_schema", "spoken_text",
           "reply_messages", "run_dialogues", "simulator_messages", "tool_line", "user_messages",
           "user_text"]
