"""Magpie: user queries written by an aligned model from its chat template alone.

Xu et al. 2024, "Magpie: Alignment Data Synthesis from Scratch by Prompting Aligned LLMs
with Nothing", arXiv 2406.08464. An aligned model sent only the part of its chat template
that comes before a user message's text (the "pre-query template",
:func:`synthloom.llm.templates.pre_query_template`) continues it by writing a plausible
user query, because that is what follows in every conversation it was tuned on. The query
is then answered as an ordinary chat. The paper also builds multi-turn conversations by
sending the whole conversation so far plus the next user opener; :class:`Magpie` does so
for ChatML templates (``turns > 1``). A system message steers the queries (the paper's
domain-specific variant); here a per-item persona changes it
(``templates["persona_system"]``), an extension that is not in the paper.

What is checked here (unit tests with a scripted backend, no LLM): the query request is a
:class:`~synthloom.llm.base.CompletionRequest` whose prompt is exactly the pre-query
prefix and whose stop string is the template's end-of-turn marker; the second turn's
prompt is the exact ChatML conversation; each echo form, a cut-off query, a short query
and an empty answer are rejected with a reason; all queries of a turn go in one
``complete`` batch and all answers in one ``chat`` batch. Whether a given model writes
good queries this way is not checked here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from synthloom.errors import UserInputError
from synthloom.llm.base import (
    BackendError,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    SamplingParams,
)
from synthloom.llm.templates import CHATML_END_OF_TURN, CHATML_USER_PREFIX, pre_query_template
from synthloom.operators.base import Operator, derived_seed

#: ChatML text between a user query and the assistant's answer, and after the answer
CHATML_ASSISTANT_OPENER = f"{CHATML_END_OF_TURN}\n<|im_start|>assistant\n"
CHATML_NEXT_USER = f"{CHATML_END_OF_TURN}\n{CHATML_USER_PREFIX}"

#: chat-template markup that never belongs in a query or an answer (ChatML, Llama 2/3,
#: Gemma, Phi-3/Zephyr, and the common BOS/EOS texts)
TEMPLATE_MARKUP: tuple[str, ...] = (
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|user|>", "<|assistant|>",
    "<|system|>", "<|end|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|begin_of_text|>", "<start_of_turn>", "<end_of_turn>", "[INST]", "[/INST]",
    "<<SYS>>", "<</SYS>>",
)  # not "<s>"/"</s>": text about HTML strikethrough has them

# (text marking a template family in the prefix, its end-of-turn marker); the first match
# wins. Only ChatML is checked against real models in this project (tests/e2e).
_END_OF_TURN: tuple[tuple[str, str], ...] = (
    ("<|im_start|>", CHATML_END_OF_TURN),
    ("<|start_header_id|>", "<|eot_id|>"),
    ("<start_of_turn>", "<end_of_turn>"),
    ("<|user|>", "<|end|>"),
    ("[INST]", "[/INST]"),
)
_ROLE = re.compile(r"(?<![a-z])(system|user|human|assistant|model|gpt|bot)(?![a-z])",
                   re.IGNORECASE)
_MARKUP_ONLY = re.compile(r"^(?:<[^<>\n]*>|[\s:|>\]])*$")
_ROLE_LINE = re.compile(r"^\s*(system|assistant|user|human)\s*(?::|\n|$)", re.IGNORECASE)
_CHATML_SYSTEM = re.compile(r"<\|im_start\|>system\n(.*?)<\|im_end\|>", re.DOTALL)


def end_of_turn(prefix: str) -> str | None:
    """The end-of-turn marker of the template ``prefix`` comes from, or None (unknown
    template: generation then stops at the model's EOS token)."""
    for marker, end in _END_OF_TURN:
        if marker in prefix:
            return end
    return None


def user_turn_opens(prefix: str) -> bool:
    """Whether ``prefix`` ends where a user message's text begins.

    True when the last role name in the prefix (``user``/``human``, not ``system``,
    ``assistant``...) is followed only by markup, whitespace or a colon, or when a Llama 2
    ``[INST]`` block is open; False for an empty prefix, one ending with an end-of-turn
    marker, or one ending with an assistant opener.
    """
    if not prefix.strip():
        return False
    if prefix.rfind("[INST]") > prefix.rfind("[/INST]"):
        return not prefix.rstrip().endswith(("</s>", "[/INST]"))
    roles = list(_ROLE.finditer(prefix))
    if not roles:
        return False
    last = roles[-1]
    return (last.group(1).lower() in ("user", "human")
            and bool(_MARKUP_ONLY.match(prefix[last.end():]))
            and not prefix.rstrip().endswith(tuple(end for _, end in _END_OF_TURN)))


def prefix_system(prefix: str) -> str | None:
    """The system message written in a ChatML ``prefix`` (e.g. a template's default one),
    or None."""
    found = _CHATML_SYSTEM.search(prefix)
    return found.group(1) if found else None


def _normal(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!?\"'")


def template_echo(text: str, system: str | None) -> str | None:
    """What of the chat template ``text`` repeats, or None.

    Echoes: any :data:`TEMPLATE_MARKUP` string; a first line that is a role name
    (``system``, ``assistant``, ``user``, ``human``, then a colon or line end); the system
    message (``text`` contains it, or is a part of it of at least 3 words). Magpie checks
    the system message it sent, or else the default one a ChatML prefix holds
    (:func:`prefix_system`).
    """
    for markup in TEMPLATE_MARKUP:
        if markup in text:
            return f"markup {markup!r}"
    role = _ROLE_LINE.match(text)
    if role:
        return f"role line {role.group(1)!r}"
    if system and _normal(system):
        said, sys_text = _normal(text), _normal(system)
        if sys_text in said or (len(said.split()) >= 3 and said in sys_text):
            return "the system message"
    return None


@dataclass
class MagpieResult:
    """One Magpie conversation, or why it was rejected.

    Attributes:
        messages: ``[{"role": "user", "content": str}, {"role": "assistant", ...}, ...]``,
            alternating, ``turns`` pairs; None when rejected.
        reason: why it was rejected (``"template echoed: markup '<|im_end|>'"``,
            ``"query cut off at max_tokens (160)"``...; `` (turn 2)`` appended after
            the first turn); None when kept.
        query_tokens: tokens generated for its queries (all turns tried).
        response_tokens: tokens generated for its answers.
        system: the system message used (None: the template's default, if any).
        persona: the persona it was written for, or None.
    """

    messages: list[dict[str, Any]] | None = None
    reason: str | None = None
    query_tokens: int = 0
    response_tokens: int = 0
    system: str | None = None
    persona: str | None = None


class Magpie(Operator):
    """Write conversations Magpie's way: raw-completed queries, chat-answered responses.

    For each key, turn ``t`` sends the pre-query prefix (plus the conversation so far, in
    ChatML, for ``t > 0``) as a raw completion stopping at the template's end-of-turn
    marker, then answers the cleaned query as a chat (system message first when one is
    used). Seeds: ``derived_seed(name, seed, key, turn, attempt, "query"|"response")``.

    Args:
        backend: a backend with ``complete()`` (wrappers exposing ``.backend``, like
            :class:`~synthloom.llm.cache.CachedBackend`, are unwrapped for the check; calls
            go to the outer one, so the cache is used).
        system: the system message; None keeps the template's behaviour without one
            (Qwen2.5 and SmolLM2 insert a default system message).
        turns: user/assistant pairs per conversation, >= 1; more than 1 needs ChatML.
        seed: master seed.
        query_temperature, query_top_p: sampling of queries.
        response_temperature, response_top_p: sampling of answers.
        max_query_tokens, max_response_tokens: token caps (a query or answer reaching its
            cap is rejected as cut off).
        templates: overrides of :attr:`templates` (``persona_system`` uses
            ``{system}``: the ``system`` argument, or "You are a helpful assistant.").

    Raises:
        ValueError: ``turns`` or a token cap < 1.
        UserInputError: the backend cannot run raw completions; no pre-query template is
            known for its model; the prefix is empty or does not end where a user turn
            begins; ``turns > 1`` with a non-ChatML template. Messages name the model.
    """

    name = "instruct.magpie"
    version = "1"
    templates = {"persona_system": "{system} The user is {persona}."}

    def __init__(self, backend: Any, *, system: str | None = None, turns: int = 1,
                 seed: int = 0, query_temperature: float = 1.0, query_top_p: float = 1.0,
                 response_temperature: float = 0.7, response_top_p: float = 0.95,
                 max_query_tokens: int = 160, max_response_tokens: int = 512,
                 templates: Mapping[str, str] | None = None) -> None:
        if turns < 1:
            raise ValueError(f"turns must be at least 1, got {turns}")
        if max_query_tokens < 1 or max_response_tokens < 1:
            raise ValueError(f"token caps must be at least 1, got {max_query_tokens} and "
                             f"{max_response_tokens}")
        self.use_templates(templates)
        self.backend, self.system, self.turns, self.seed = backend, system, turns, seed
        self.model = f"{backend.identity.backend} model {backend.identity.model!r}"
        inner = backend
        while True:
            if not callable(getattr(inner, "complete", None)):
                raise UserInputError(f"{self.model} cannot continue raw text (no /completions);"
                                     " Magpie needs it")
            if not hasattr(inner, "backend"):
                break
            inner = inner.backend
        self.query_sampling = dict(temperature=query_temperature, top_p=query_top_p,
                                   max_tokens=max_query_tokens)
        self.response_sampling = dict(temperature=response_temperature,
                                      top_p=response_top_p, max_tokens=max_response_tokens)
        self._prefixes: dict[str | None, str] = {}
        self.prefix = self.prefix_for(system)

    def prefix_for(self, system: str | None) -> str:
        """The checked pre-query prefix for ``system`` (computed once per system message).

        Raises:
            UserInputError: as for the constructor.
        """
        if system in self._prefixes:
            return self._prefixes[system]
        try:
            prefix = pre_query_template(self.backend, system)
        except ValueError as e:
            raise UserInputError(f"no usable pre-query template for Magpie: {e}") from e
        if not user_turn_opens(prefix):
            raise UserInputError(f"no usable pre-query template for Magpie: the prefix of "
                                 f"{self.model} does not end where a user turn begins: "
                                 f"{prefix[-80:]!r}")
        if self.turns > 1 and not prefix.endswith(CHATML_USER_PREFIX):
            raise UserInputError(f"Magpie turns={self.turns} needs a ChatML template; "
                                 f"{self.model} has prefix {prefix[-80:]!r}")
        self._prefixes[system] = prefix
        return prefix

    def system_for(self, persona: str | None) -> str | None:
        """The system message of an item written for ``persona`` (None: no persona)."""
        if persona is None:
            return self.system
        return self.templates["persona_system"].format(
            persona=persona, system=self.system or "You are a helpful assistant.").strip()

    def _check(self, response: ChatResponse, what: str, system: str | None,
               cap: int) -> tuple[str | None, str | None]:
        text = response.text.strip()
        if not text:
            return None, f"empty {what}"
        if what == "query" and response.finish_reason == "length":
            return None, f"query cut off at max_tokens ({cap})"
        echo = template_echo(text, system)
        if echo:
            return None, f"template echoed: {echo}"
        words = len(text.split())
        if what == "query" and words < 3:
            return None, f"query too short ({words} word{'s' if words > 1 else ''})"
        if response.finish_reason == "length":
            return None, f"{what} cut off at max_tokens ({cap})"
        return text, None

    def run(self, keys: Sequence[str], attempt: int = 0,
            personas: Sequence[str | None] | None = None) -> list[MagpieResult]:
        """One conversation (or rejection) per key, in order.

        Args:
            keys: item keys (plan ids); each seeds its own samplers.
            attempt: retry number, part of every seed.
            personas: one persona (or None) per key; None for no personas.

        Returns:
            One :class:`MagpieResult` per key. A rejected item stops at the turn that
            failed (``messages`` None, ``reason`` set); model answers never raise.

        Raises:
            ValueError: ``personas`` is not as long as ``keys``.
            UserInputError: a persona's prefix is unusable (see the constructor).
            BackendError: the backend failed a request after its own retries.
        """
        if personas is not None and len(personas) != len(keys):
            raise ValueError(f"{len(personas)} personas for {len(keys)} keys")
        results, prompts, echoes = [], [], []
        for i in range(len(keys)):
            persona = personas[i] if personas is not None else None
            system = self.system_for(persona)
            results.append(MagpieResult(messages=[], system=system, persona=persona))
            prompts.append(self.prefix_for(system))
            echoes.append(system if system is not None else prefix_system(prompts[-1]))
        active = list(range(len(keys)))
        for turn in range(self.turns):
            if not active:
                break
            where = f" (turn {turn + 1})" if turn else ""
            queries = self.backend.complete([CompletionRequest(
                prompt=prompts[i], sampling=self._sampling(self.query_sampling, keys[i], turn,
                                                           attempt, "query", prompts[i]))
                for i in active])
            asked = []
            for i, answer in zip(active, queries, strict=True):
                item = results[i]
                if isinstance(answer, BackendError):
                    raise answer
                item.query_tokens += answer.tokens_out
                query, item.reason = self._check(answer, "query", echoes[i],
                                                 self.query_sampling["max_tokens"])
                if query is None:
                    item.reason = f"{item.reason}{where}"
                    continue
                item.messages.append({"role": "user", "content": query})
                asked.append(i)
            answers = self.backend.chat([self._chat_request(results[i], keys[i], turn, attempt)
                                         for i in asked]) if asked else []
            active = []
            for i, answer in zip(asked, answers, strict=True):
                item = results[i]
                if isinstance(answer, BackendError):
                    raise answer
                item.response_tokens += answer.tokens_out
                text, reason = self._check(answer, "response", echoes[i],
                                           self.response_sampling["max_tokens"])
                if text is None:
                    item.reason = f"{reason}{where}"
                    continue
                item.messages.append({"role": "assistant", "content": text})
                prompts[i] += (f"{item.messages[-2]['content']}{CHATML_ASSISTANT_OPENER}"
                               f"{text}{CHATML_NEXT_USER}")
                active.append(i)
        for item in results:
            if item.reason is not None:
                item.messages = None
        return results

    def _sampling(self, values: dict[str, Any], key: str, turn: int, attempt: int,
                  kind: str, prompt: str | None = None) -> SamplingParams:
        end = end_of_turn(prompt) if prompt is not None else None
        return SamplingParams(**values, stop=(end,) if end else (),
                              seed=derived_seed(self.name, self.seed, key, turn, attempt, kind))

    def _chat_request(self, item: MagpieResult, key: str, turn: int,
                      attempt: int) -> ChatRequest:
        system = [{"role": "system", "content": item.system}] if item.system is not None else []
        return ChatRequest(messages=tuple(system + list(item.messages or [])),
                           sampling=self._sampling(self.response_sampling, key, turn,
                                                   attempt, "response"))

    def sampling(self) -> dict[str, Any]:
        """Sampling values for provenance (seeds derive per key, turn and attempt)."""
        return {"query": dict(self.query_sampling), "response": dict(self.response_sampling),
                "turns": self.turns, "stop": end_of_turn(self.prefix)}


__all__ = ["Magpie", "MagpieResult", "TEMPLATE_MARKUP", "end_of_turn", "prefix_system",
           "template_echo", "user_turn_opens"]
