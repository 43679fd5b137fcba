"""Persona-driven instructions (Persona Hub, Ge et al. 2024, arXiv 2406.20094).

Persona Hub scales prompt diversity by writing one prompt per persona: the same request
("guess a prompt that this persona may ask") asked of a million personas gives a million
different prompts. It finds personas with "text-to-persona" (who is likely to read, write
or like a text?) and "persona-to-persona" (who is close to a persona?). Here:

- :func:`read_personas` reads a user's persona pool (``.txt`` or ``.jsonl``);
- :func:`sampled_personas` builds personas from synthloom's sampled persona variables
  (:mod:`synthloom.operators.plan.personas`);
- :class:`PersonaGeneration` adapts text-to-persona to a task description: "who is likely
  to ask an assistant for help with <the task>?";
- :class:`PersonaInstructions` is the persona-driven prompt synthesis, one instruction per
  persona, into the shared instruction pool (:class:`~synthloom.operators.instruct.pool.
  PoolItem`, ``method="persona"``).

The prompts name no domain of their own: the task area comes from ``description``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from synthloom.errors import UserInputError
from synthloom.llm.base import BackendError, ChatBackend, ChatResponse
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.instruct.pool import PoolItem, PoolResult
from synthloom.operators.plan.personas import describe_persona, persona
from synthloom.operators.targen.instance_generation import prompt_echo

_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")
# a preamble is stripped only when it announces the answer ("Sure! Here is a prompt:"),
# never a person's own words ("Here is my code: ...", "Okay so my landlord says: ...")
_PREAMBLE = re.compile(r"^((sure|certainly|okay|ok)[,.!]?\s*)?(here is|here's)\s+((the|a|an)"
                       r"\s+([\w-]+\s+){0,2}(prompt|instruction|request|persona|description|"
                       r"person|example)\b[^:\n]*|one|it)\s*:\s*|^(sure|certainly)[,.!]\s+",
                       re.IGNORECASE)
_PROMPT_HEADER = re.compile(r"^[\s*#>_-]*(prompt|instruction|request)\s*\**\s*:\s*\**\s*",
                            re.IGNORECASE)
_PERSONA_HEADER = re.compile(r"^[\s*#>_-]*(persona|person)\s*\**\s*:\s*\**\s*",
                             re.IGNORECASE)
# a label left in an instruction, at its start or a sentence's ("... nurse. Prompt: ...")
_LABEL = re.compile(r"(?:^|[.!?]\s+)[*#\s]*(prompt|instruction|persona)\s*\**\s*:",
                    re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "`": "`"}
_WORD = re.compile(r"\w+")


def _key(text: str) -> str:
    """Case- and whitespace-insensitive form of ``text`` (exact-repeat checks)."""
    return " ".join(text.lower().split())


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the lower-cased word sets of ``a`` and ``b``, in [0, 1]."""
    x, y = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(x & y) / len(x | y) if x | y else 1.0


def read_personas(path: Path | str) -> list[str]:
    """Read a persona pool: ``.txt`` (one persona a line) or ``.jsonl`` (``{"persona": str}``
    a line). Blank lines are skipped, whitespace collapsed, case-insensitive repeats dropped.

    Returns:
        The personas in file order.

    Raises:
        UserInputError: missing or unreadable file, another extension, a ``.jsonl`` line
            that is not a JSON object with a non-empty string ``"persona"``, or no persona
            at all; the message names the file (and the line).
    """
    path = Path(path)
    if path.suffix.lower() not in (".txt", ".jsonl"):
        raise UserInputError(f"{path}: a persona file must be .txt or .jsonl")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise UserInputError(f"{path}: persona file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path}: cannot read persona file ({e})") from e
    out: list[str] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        text = line
        if path.suffix.lower() == ".jsonl":
            try:
                value = json.loads(line)
            except ValueError as e:
                raise UserInputError(f"{path}:{number}: not valid JSON ({e.msg})") from e
            text = value.get("persona") if isinstance(value, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise UserInputError(f"{path}:{number}: needs a non-empty string \"persona\"")
        text = " ".join(text.split())
        if _key(text) not in seen:
            seen.add(_key(text))
            out.append(text)
    if not out:
        raise UserInputError(f"{path}: no personas in the file")
    return out


def sampled_personas(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct personas described from sampled variables (occupation, expertise,
    age band, two Big Five traits; :func:`~synthloom.operators.plan.personas.persona`).

    Persona numbers 0, 1, 2... are described in turn and repeats skipped, so the list is
    the same for the same ``seed``; fewer than ``count`` only if 20 x ``count`` numbers
    gave no more distinct ones.

    Raises:
        ValueError: ``count`` < 0.
    """
    if count < 0:
        raise ValueError(f"count must be at least 0, got {count}")
    out: list[str] = []
    seen: set[str] = set()
    for i in range(20 * count):
        if len(out) == count:
            break
        text = describe_persona(persona(i, seed))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def _unquote(text: str) -> str:
    """``text`` without pairs of quotes around all of it."""
    text = text.strip()
    while len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def _clean(response: ChatResponse, header: re.Pattern[str]) -> tuple[str | None, str | None]:
    """An answer without preamble, ``header``, surrounding quotes or line breaks;
    ``(None, reason)`` for an empty answer (``"empty"``) or one cut off at ``max_tokens``
    with no full sentence (``"cut_off"``; one with a full sentence is trimmed back to it)."""
    text = " ".join(response.text.split())
    for _ in range(2):  # "Sure! Here is one: **Prompt:** ..."
        text = _unquote(header.sub("", _PREAMBLE.sub("", text)))
    if response.finish_reason == "length":
        ends = list(_SENTENCE_END.finditer(text))
        if not ends:
            return None, "cut_off" if text else "empty"
        text = _unquote(text[: ends[-1].end()])
    return (text, None) if text else (None, "empty")


class PersonaGeneration(Operator):
    """Write ``count`` personas likely to need help with a task (text-to-persona, adapted).

    One request per persona, all in one batch, differing by sampler seed only
    (``derived_seed(name, seed, i)``); answers are cleaned, then exact or case-only repeats
    and near repeats (word-set Jaccard >= ``jaccard`` with an earlier persona) dropped.

    Args:
        backend: the generator LLM.
        description: the task area ("questions about setting up a home network").
        count: personas asked for, >= 1.
        seed: master seed.
        temperature, top_p: sampling values (temperature 1.0: variety).
        max_words: asked length of one persona, in words.
        jaccard: near-repeat threshold in (0, 1].
        templates: overrides of :attr:`templates`.

    Attributes:
        removed: after :meth:`run`, reason -> answers dropped (``empty``, ``cut_off``,
            ``duplicate``, ``near_duplicate``).

    Raises:
        ValueError: ``count`` < 1 or ``jaccard`` outside (0, 1].
    """

    name = "instruct.persona_generation"
    version = "2"
    templates = {
        "system": "You imagine realistic, specific people.",
        "user": ("Describe one specific person who might need help with this: {description}\n"
                 "Give their age, what they do and their situation, in one sentence of at "
                 "most {max_words} words. Start with \"A\" or \"An\". Do not mention "
                 "assistants or AI. Write only that sentence."),
    }

    def __init__(self, backend: ChatBackend, description: str, *, count: int = 20,
                 seed: int = 0, temperature: float = 1.0, top_p: float = 0.95,
                 max_words: int = 40, jaccard: float = 0.8,
                 templates: Mapping[str, str] | None = None) -> None:
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if not 0.0 < jaccard <= 1.0:
            raise ValueError(f"jaccard must be in (0, 1], got {jaccard}")
        self.use_templates(templates)
        self.backend, self.description, self.count, self.seed = (backend, description,
                                                                  count, seed)
        self.temperature, self.top_p, self.max_words = temperature, top_p, max_words
        self.jaccard = jaccard
        self.removed: Counter[str] = Counter()

    def run(self) -> list[str]:
        """The personas written, in request order, without repeats (possibly fewer than
        ``count``).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        system = self.templates["system"]
        user = self.templates["user"].format(description=self.description,
                                             max_words=self.max_words)
        requests = [self.request(system, user, temperature=self.temperature, top_p=self.top_p,
                                 max_tokens=int(self.max_words * 2.2) + 20,
                                 seed=derived_seed(self.name, self.seed, i))
                    for i in range(self.count)]
        self.removed = Counter()
        out: list[str] = []
        for answer in self.backend.chat(requests):
            if isinstance(answer, BackendError):
                raise answer
            text, reason = _clean(answer, _PERSONA_HEADER)
            if text is not None and any(_key(text) == _key(p) for p in out):
                reason = "duplicate"
            elif text is not None and any(jaccard(text, p) >= self.jaccard for p in out):
                reason = "near_duplicate"
            if reason is not None:
                self.removed[reason] += 1
                continue
            out.append(text)
        return out


class PersonaInstructions(Operator):
    """Write one instruction per persona (Persona Hub's persona-driven prompt synthesis).

    All requests go in one batch; request ``n`` (persona ``n - start_index``) is seeded
    with ``derived_seed(name, seed, n, persona)``. Answers are cleaned of a preamble
    ("Sure, here is ...:"), ``Prompt:``/``Instruction:`` headers, quotes and line breaks.
    Removed (counted in :attr:`PoolResult.removed`): ``empty``, ``cut_off`` (cut at
    ``max_tokens`` before a full sentence), ``template_echo`` (the answer repeats the
    persona sentence, a fixed phrase of the prompt, or still holds a ``Prompt:``/
    ``Persona:`` label), ``duplicate`` (case-insensitive repeat of a kept instruction).

    Args:
        backend: the generator LLM.
        description: the task area the instructions belong to.
        unit: what one instruction is called ("request", "question").
        seed: master seed.
        temperature, top_p: sampling values.
        max_words: asked length of one instruction, in words.
        templates: overrides of :attr:`templates`.
    """

    name = "instruct.persona_instructions"
    version = "2"
    templates = {
        "system": "You write realistic {unit}s that people send to an AI assistant.",
        "user": ("Guess a prompt (i.e., an instruction) that the following persona may ask an "
                 "AI assistant to do: {persona}\n\nThe prompt is a {unit} in this area: "
                 "{description}. It asks for something this person needs for their own "
                 "situation. Write only the {unit} itself, in their words (first person), in "
                 "at most {max_words} words."),
    }

    def __init__(self, backend: ChatBackend, description: str, *, unit: str = "request",
                 seed: int = 0, temperature: float = 1.0, top_p: float = 0.95,
                 max_words: int = 80, templates: Mapping[str, str] | None = None) -> None:
        self.use_templates(templates)
        self.backend, self.description, self.unit, self.seed = (backend, description, unit,
                                                                seed)
        self.temperature, self.top_p, self.max_words = temperature, top_p, max_words

    def _echo(self, text: str, persona: str) -> bool:
        low = _key(text)
        if len(persona.split()) >= 6 and _key(persona).strip(" .") in low:
            return True
        return bool(_LABEL.search(text)) or prompt_echo(text, self.templates.values()) is not None

    def run(self, personas: Sequence[str], start_index: int = 0) -> PoolResult:
        """One instruction per persona, as pool items ``persona-{start_index + i}``.

        Returns:
            A :class:`PoolResult`: kept items in persona order (``method="persona"``,
            ``persona`` set) and removed counts by reason.

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        system = self.templates["system"].format(unit=self.unit)
        requests = [self.request(
            system, self.templates["user"].format(persona=p, unit=self.unit,
                                                  description=self.description,
                                                  max_words=self.max_words),
            temperature=self.temperature, top_p=self.top_p,
            max_tokens=int(self.max_words * 2.2) + 40,
            seed=derived_seed(self.name, self.seed, start_index + i, p))
            for i, p in enumerate(personas)]
        answers = self.backend.chat(requests) if requests else []
        result = PoolResult()
        seen: set[str] = set()
        for i, (p, answer) in enumerate(zip(personas, answers, strict=True)):
            if isinstance(answer, BackendError):
                raise answer
            text, reason = _clean(answer, _PROMPT_HEADER)
            if text is not None and self._echo(text, p):
                reason = "template_echo"
            elif text is not None and _key(text) in seen:
                reason = "duplicate"
            if reason is not None:
                result.remove(reason)
                continue
            seen.add(_key(text))
            result.keep(PoolItem(id=f"persona-{start_index + i}", instruction=text,
                                 method="persona", persona=p))
        return result


__all__ = ["PersonaGeneration", "PersonaInstructions", "jaccard", "read_personas",
           "sampled_personas"]
