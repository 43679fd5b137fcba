"""Chat-template helpers: Magpie's pre-query prefix and tool calls written as text.

Pre-query prefix
    Magpie (Xu et al. 2024, arXiv 2406.08464) makes an aligned model write user
    queries by sending it, as a raw completion, only the part of its chat template
    that comes before a user message's text (the "pre-query template"), e.g. for
    ChatML models (Qwen2.5, SmolLM2), with ``\\n`` standing for a newline::

        <|im_start|>system\\nYou are Qwen, ...<|im_end|>\\n<|im_start|>user\\n

    :func:`pre_query_template` gives that prefix for a backend: rendered from the
    GGUF's own chat template for the in-process llama.cpp backend, or built from a
    small table of known ChatML models (by model name) for backends whose template
    cannot be read (HTTP servers).

Tool calls as text
    Qwen2.5's chat template (Hermes style) asks the model to answer a tool request
    with ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``.
    llama-cpp-python 0.3.36 renders ``tools`` into the prompt through the GGUF's
    template but returns that text as plain content unless ``tool_choice`` names one
    function (then it constrains the arguments by grammar and returns ``tool_calls``
    itself). :func:`parse_tool_call_tags` turns such text into OpenAI ``tool_calls``.
    Qwen2.5-Coder-0.5B with greedy decoding was seen to write the call's JSON without
    the tags (``{"name": "get_weather", "arguments": {"city": "Paris"}}``), which
    :func:`parse_bare_tool_calls` accepts when the name is one of the offered tools.
    :func:`chat_choice_fields` applies both to a chat answer of either backend, and
    :func:`messages_for_template` prepares messages carrying tool calls for a template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synthloom.llm.base import ChatRequest

CHATML_USER_PREFIX = "<|im_start|>user\n"
"""The ChatML opener of a user turn; generation of the query starts right after it."""

CHATML_END_OF_TURN = "<|im_end|>"
"""The ChatML end-of-turn marker: the stop string of a Magpie query or answer."""

# Model-name fragments (lower case) of known ChatML models, with the system message
# their chat template inserts when a conversation has none (copied from the GGUF
# templates; tests/e2e/test_llm_layer.py checks them against the embedded models).
KNOWN_CHATML_MODELS: dict[str, str] = {
    "qwen2.5": "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
    "smollm2": "You are a helpful AI assistant named SmolLM, trained by Hugging Face",
}

_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def chatml_pre_query_template(system: str | None) -> str:
    """The ChatML pre-query prefix: a system turn (if ``system``), then a user opener.

    Args:
        system: the system message, or None for no system turn at all.

    Returns:
        ``"<|im_start|>system\\n{system}<|im_end|>\\n<|im_start|>user\\n"`` or
        ``"<|im_start|>user\\n"``.
    """
    if system is None:
        return CHATML_USER_PREFIX
    return f"<|im_start|>system\n{system}{CHATML_END_OF_TURN}\n{CHATML_USER_PREFIX}"


def known_pre_query_template(model: str, system: str | None = None) -> str | None:
    """The pre-query prefix of a known ChatML model, found by its name.

    Args:
        model: a model name or id; matched case-insensitively against the fragments in
            :data:`KNOWN_CHATML_MODELS` (``"qwen2.5"``, ``"smollm2"``).
        system: the system message; None uses the one the model's template inserts
            when a conversation has none (so the prefix equals the rendered template).

    Returns:
        The prefix, or None when the model is not a known ChatML model.
    """
    name = model.lower()
    for fragment, default_system in KNOWN_CHATML_MODELS.items():
        if fragment in name:
            return chatml_pre_query_template(default_system if system is None else system)
    return None


def pre_query_template(backend: Any, system: str | None = None) -> str:
    """The text a chat template puts before a user message's content, for ``backend``.

    Send it (plus nothing) as a :class:`~synthloom.llm.base.CompletionRequest` and the
    model writes a user query, stopping at its end-of-turn marker (Magpie).

    Args:
        backend: any backend; wrappers exposing the wrapped backend as ``.backend``
            (:class:`~synthloom.llm.cache.CachedBackend`) are unwrapped. A backend with a
            ``pre_query_template(system)`` method (the in-process llama.cpp backend,
            which renders its GGUF chat template) is asked; otherwise the model name in
            ``backend.identity.model`` is looked up with :func:`known_pre_query_template`.
        system: the system message; None keeps the template's behaviour for a
            conversation without one (Qwen2.5 and SmolLM2 insert a default one).

    Returns:
        The prefix text, ending where the user's text would begin.

    Raises:
        ValueError: the backend cannot render its template and its model is not a
            known ChatML model.
    """
    inner = backend
    while not hasattr(inner, "pre_query_template") and hasattr(inner, "backend"):
        inner = inner.backend
    render = getattr(inner, "pre_query_template", None)
    if callable(render):
        return render(system)
    model = inner.identity.model
    prefix = known_pre_query_template(model, system)
    if prefix is None:
        raise ValueError(
            f"no pre-query template known for model {model!r} ({inner.identity.backend}); "
            f"known ChatML models: {', '.join(KNOWN_CHATML_MODELS)}"
        )
    return prefix


def _openai_call(index: int, call: Any) -> dict[str, Any] | None:
    """``{"name", "arguments"}`` (Hermes) as an OpenAI tool call, or None if not one."""
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None
    arguments = call.get("arguments", call.get("parameters", {}))
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {
        "id": f"call_{index}",
        "type": "function",
        "function": {"name": call["name"], "arguments": arguments},
    }


def parse_tool_call_tags(text: str) -> tuple[str, list[dict[str, Any]] | None]:
    """Split Hermes/Qwen2.5-style ``<tool_call>{...}</tool_call>`` blocks out of a reply.

    Each block must hold one JSON object ``{"name": str, "arguments": object | str}``.
    A block cut off by ``max_tokens`` (no closing tag) is accepted if its JSON is
    complete. Blocks whose JSON does not parse, or lacks a string ``name``, are left in
    the text and produce no call.

    Args:
        text: the model's reply.

    Returns:
        ``(rest, tool_calls)``: the reply without the parsed blocks (stripped), and the
        calls in OpenAI format ``[{"id": "call_<i>", "type": "function", "function":
        {"name": str, "arguments": <JSON text>}}]`` (``i`` counts from 0 in reply
        order, so ids are deterministic), or None when no block parsed.
    """
    calls: list[dict[str, Any]] = []
    kept: list[str] = []
    position = 0
    for match in _TOOL_CALL.finditer(text):
        try:
            call = _openai_call(len(calls), json.loads(match.group(1)))
        except ValueError:
            continue
        if call is None:
            continue
        calls.append(call)
        kept.append(text[position : match.start()])
        position = match.end()
    if not calls:
        return text, None
    kept.append(text[position:])
    return "".join(kept).strip(), calls


def parse_bare_tool_calls(
    text: str, tool_names: Sequence[str]
) -> list[dict[str, Any]] | None:
    """Tool calls written as bare JSON, without ``<tool_call>`` tags.

    Accepted only when the whole reply (whitespace aside) is one or more JSON objects
    ``{"name": <one of tool_names>, "arguments": ...}``, so ordinary JSON answers and
    prose are never taken for calls.

    Args:
        text: the model's reply.
        tool_names: names of the functions offered in the request.

    Returns:
        The calls in OpenAI format (ids ``call_<i>``), or None.
    """
    decoder = json.JSONDecoder()
    calls: list[dict[str, Any]] = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position == end:
            break
        try:
            value, position = decoder.raw_decode(text, position)
        except ValueError:
            return None
        call = _openai_call(len(calls), value)
        if call is None or call["function"]["name"] not in tool_names:
            return None
        calls.append(call)
    return calls or None


def messages_for_template(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as Hugging Face chat templates expect them (for in-process rendering).

    OpenAI sends tool-call ``arguments`` as JSON text; HF templates (Qwen2.5's among
    them) render ``arguments | tojson`` and so expect an object: arguments that parse
    as JSON are replaced by the parsed value. ``content: None`` (an assistant message
    carrying only tool calls) becomes ``""`` so templates do not print ``None``.
    The input is not modified.
    """
    out: list[dict[str, Any]] = []
    for message in messages:
        m = dict(message)
        if m.get("content") is None and ("content" in m or m.get("tool_calls")):
            m["content"] = ""
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                call = dict(call)
                function = dict(call.get("function") or {})
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    try:
                        function["arguments"] = json.loads(arguments)
                    except ValueError:
                        pass
                call["function"] = function
                calls.append(call)
            m["tool_calls"] = calls
        out.append(m)
    return out


def chat_choice_fields(choice: dict[str, Any], request: ChatRequest) -> dict[str, Any]:
    """``text``, ``finish_reason`` and ``tool_calls`` of one OpenAI chat ``choice``, and
    ``top_logprobs`` when the request asked for them.

    ``message.tool_calls`` is taken as is when present. Otherwise, when the request
    offered tools and did not set ``tool_choice="none"``, Hermes/Qwen-style
    ``<tool_call>`` blocks in the content (:func:`parse_tool_call_tags`), or else a
    content made only of bare call objects naming offered tools
    (:func:`parse_bare_tool_calls`), are parsed into calls; ``finish_reason`` then
    becomes ``"tool_calls"`` unless it was something other than ``"stop"``.

    Raises:
        KeyError, TypeError, AttributeError: ``choice`` is not a chat choice.
    """
    message = choice["message"]
    text = message.get("content") or ""
    finish_reason = choice.get("finish_reason") or "stop"
    tool_calls = message.get("tool_calls") or None
    if tool_calls is None and request.tools and request.tool_choice != "none":
        rest, parsed = parse_tool_call_tags(text)
        if not parsed:
            names = [(t.get("function") or {}).get("name") for t in request.tools]
            rest, parsed = "", parse_bare_tool_calls(text, names)
        if parsed:
            text, tool_calls = rest, parsed
            finish_reason = "tool_calls" if finish_reason == "stop" else finish_reason
    if tool_calls is not None:
        tool_calls = [dict(c) for c in tool_calls]
    fields = {"text": text, "finish_reason": finish_reason, "tool_calls": tool_calls}
    if request.top_logprobs:
        fields["top_logprobs"] = choice_top_logprobs(choice)
    return fields


def choice_top_logprobs(choice: dict[str, Any]) -> list[dict[str, float]] | None:
    """The per-token top log probabilities of an OpenAI chat ``choice``:
    ``choice["logprobs"]["content"][i]["top_logprobs"]`` (a list of ``{"token", "logprob"}``)
    as one ``{token: logprob}`` per generated token; None when the server sent none.

    Raises:
        TypeError, KeyError, AttributeError: ``logprobs`` has another shape.
    """
    content = (choice.get("logprobs") or {}).get("content")
    if not content:
        return None
    return [{str(t["token"]): float(t["logprob"]) for t in (item.get("top_logprobs") or [])}
            for item in content]
