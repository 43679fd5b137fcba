"""DiaSynth's dialogue and summary prompts (Suresh et al., arXiv 2409.19020, steps 4-5).

Step 4 writes one dialogue per persona pair and subtopic at temperature 0.2. The prompt
holds example dialogues (the paper: 4 real DialogSum/SAMSum dialogues; here the user's own
file, or one short example written for synthloom), the two personas, the list of
conversation characteristics, and a chain-of-thought instruction: reason about each
characteristic's value and how they interact inside ``<cot>``, then write the two-speaker
dialogue inside ``<dialogue>``. Step 5 summarises a dialogue with a 2-shot prompt at
temperature 0.3.

Every prompt here is domain-free: what a dialogue is about comes from the recipe's topics.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from synthloom.errors import UserInputError
from synthloom.llm.base import BackendError, ChatBackend, ChatRequest, SamplingParams
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.dialogue.parsing import ParsedDialogue, parse_dialogue
from synthloom.operators.judge.pointwise import Criterion

#: DiaSynth's characteristics (its code lists 10; "11" counts age and gender apart):
#: name as the prompt shows it -> what it covers
CHARACTERISTICS: dict[str, str] = {
    "age": "how old each speaker is",
    "gender": "each speaker's gender",
    "familiarity between speakers": "strangers, acquaintances, colleagues, friends or family",
    "emotional states": "how each speaker feels, and whether it changes",
    "formality": "formal, neutral or casual language",
    "duration": "how long the conversation lasts",
    "communication medium": "in person, by phone, by video call or by text messages",
    "topic": "what exactly they talk about",
    "location": "where each speaker is",
    "agreement or disagreement": "whether they agree, disagree or negotiate",
    "natural speech features": "fillers, pauses, hesitations, slang, interruptions",
}

#: the example dialogue shown when the recipe gives no file (written for synthloom)
BUILTIN_EXAMPLE = """\
Ana: Hi Ben, do you still have my ladder from last weekend?
Ben: Oh no, yes, it's in the garage. Sorry, I totally forgot.
Ana: No worries. I just need it to clean the gutters on Saturday.
Ben: I'll bring it over tonight. Um, should I bring the paint roller too?
Ana: Ha, keep the roller, I won't be painting anything soon.
Ben: Deal. See you around seven, then."""

#: a judge rubric for dialogues (``judge.pointwise``'s ``criteria``): coherence and
#: persona consistency, on anchored levels 1, 3 and 5
DIALOGUE_CRITERIA: tuple[Criterion, ...] = (
    Criterion(name="coherence", question="Does the {unit} hang together, each turn "
              "following from the ones before?",
              levels={1: "disjointed, contradictory or repetitive",
                      3: "mostly coherent, with odd or generic turns",
                      5: "natural and coherent from start to end"}),
    Criterion(name="persona_consistency", question="Does each speaker talk the way their "
              "persona would, all through the {unit}?",
              levels={1: "ignores the personas or swaps them",
                      3: "partly in character",
                      5: "both speakers stay in character throughout"}),
)

#: tokens of the reasoning call (the dialogue call has ``max_tokens`` of its own)
REASONING_MAX_TOKENS = 320
_TAGS = re.compile(r"<\s*/?\s*(?:cot|dialogue)\s*>", re.IGNORECASE)
_COT_PART = re.compile(r"<\s*cot\s*>.*?<\s*/\s*cot\s*>", re.IGNORECASE | re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?=\s|$)")
_SUMMARY_LABEL = re.compile(r"^\s*\**\s*summary\s*\**\s*:\s*\**", re.IGNORECASE)


def read_example_dialogues(path: Path | str) -> list[str]:
    """Example dialogues from a file: ``.txt`` (dialogues separated by blank lines, one
    ``Name: text`` turn per line) or ``.jsonl`` (``{"dialogue": str}`` per line).

    Raises:
        UserInputError: a missing or unreadable file, another suffix, a JSONL line without
            a non-empty string ``dialogue``, or no dialogue at all (naming file and line).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise UserInputError(f"{path}: an example dialogue file is .txt or .jsonl")
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except FileNotFoundError as e:
        raise UserInputError(f"{path}: example dialogue file not found") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UserInputError(f"{path}: cannot read example dialogue file ({e})") from e
    if suffix == ".txt":
        found = [block.strip() for block in re.split(r"\n\s*\n", text)]
    else:
        found = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise UserInputError(f"{path}:{number}: not valid JSON ({e})") from e
            value = row.get("dialogue") if isinstance(row, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise UserInputError(f'{path}:{number}: needs a non-empty string "dialogue"')
            found.append(value.strip())
    dialogues = [d for d in found if d]
    if not dialogues:
        raise UserInputError(f"{path}: no example dialogues in the file")
    return dialogues


@dataclass
class DialogueSpec:
    """What one dialogue is written under.

    Attributes:
        key: the draft's plan id (seeds the sampler).
        topic: the recipe's topic.
        subtopic: its subtopic (None: the topic alone).
        names: speaker A's and B's names.
        personas: speaker A's and B's personas (None: no personas).
        examples: example dialogues for the system prompt.
    """

    key: str
    topic: str
    subtopic: str | None
    names: tuple[str, str]
    personas: tuple[str, str] | None = None
    examples: Sequence[str] = ()


@dataclass
class WrittenDialogue:
    """One dialogue's outcome: the parsed dialogue (None when every try failed), why the
    last try failed, and the reason of each failed try."""

    parsed: ParsedDialogue | None
    reason: str | None = None
    failed_tries: list[str] = field(default_factory=list)


class _Sampled(Operator):
    """An operator with ``temperature``, ``top_p``, ``max_tokens`` and ``max_attempts``."""

    temperature: float
    top_p: float
    max_tokens: int
    max_attempts: int

    def sampling(self) -> dict[str, object]:
        """Sampling values for provenance (seeds derive per dialogue and try)."""
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "max_attempts": self.max_attempts}


class DialogueWriter(_Sampled):
    """DiaSynth step 4: a two-speaker dialogue per :class:`DialogueSpec`, parsed with
    :func:`~synthloom.operators.dialogue.parsing.parse_dialogue`.

    Args:
        backend: the generator LLM.
        characteristics: show :data:`CHARACTERISTICS` and ask for the chain of thought
            (``<cot>``) first, in a call of its own (at most ``REASONING_MAX_TOKENS``
            tokens, each line kept once), whose reasoning the dialogue's call then shows as
            notes; False asks for the dialogue only (the ablation without characteristics
            and CoT). The paper asks for both in one answer; on the 0.5B model the
            reasoning then ran on in repeated lines until ``max_tokens`` in 9 of 9
            dialogues, leaving no dialogue.
        min_turns: turns a dialogue needs (fewer is rejected).
        max_tokens: the answer's cap, in tokens.
        temperature, top_p: sampling (the paper: temperature 0.2).
        max_attempts: tries per dialogue (a new sampler seed each) before rejecting it.
        seed: master seed.
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``min_turns`` < 2 or ``max_attempts`` < 1.
    """

    name = "diasynth.dialogue"
    version = "3"
    templates = {
        "system": "You write realistic conversations between two people, the way people "
                  "really talk.{examples}",
        "examples": "\n\nExample conversations:\n\n{dialogues}",
        "user": "{people}\nWhat they talk about: {subject}\n\n{notes}{instructions}",
        "people_personas": "The two speakers:\n- {name_a}: {persona_a}\n- {name_b}: {persona_b}",
        "people_plain": "The two speakers are {name_a} and {name_b}.",
        "subject": "{subtopic} (part of the topic \"{topic}\")",
        "with_cot": (
            "A conversation has these characteristics:\n{characteristics}\n\n"
            "Before the conversation is written, think step by step, inside <cot> and "
            "</cot>: write one short line per characteristic, \"characteristic: value\", "
            "the value in a few words, as it is in this conversation given the two speakers "
            "and what they talk about; then say in one or two sentences how these values "
            "interact. Write only the <cot> part."),
        "notes": "How this conversation goes (characteristics and how they interact):\n"
                 "{reasoning}\n\n",
        "without_cot": (
            "Inside <dialogue> and </dialogue>, write the conversation: at least {min_turns} "
            "turns, one turn per line, each line starting with the speaker's name and a "
            "colon (\"{name_a}: ...\" or \"{name_b}: ...\"), only these two names. The "
            "first turn starts \"{name_a}:\"."),
    }

    def __init__(self, backend: ChatBackend, *, characteristics: bool = True,
                 min_turns: int = 4, max_tokens: int = 700, temperature: float = 0.2,
                 top_p: float = 0.95, max_attempts: int = 2, seed: int = 0,
                 templates: Mapping[str, str] | None = None) -> None:
        if min_turns < 2:
            raise ValueError(f"min_turns must be at least 2, got {min_turns}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.use_templates(templates)
        self.backend, self.characteristics = backend, characteristics
        self.min_turns, self.max_tokens, self.max_attempts = min_turns, max_tokens, max_attempts
        self.temperature, self.top_p, self.seed = temperature, top_p, seed

    def messages(self, spec: DialogueSpec, reasoning: str | None = None
                 ) -> tuple[str, str]:
        """The ``(system, user)`` prompt of one dialogue: with ``characteristics`` and no
        ``reasoning``, the prompt of the reasoning (the first call); else the dialogue's,
        with ``reasoning`` shown as notes when given."""
        t = self.templates
        examples = t["examples"].format(dialogues="\n\n".join(spec.examples)) \
            if spec.examples else ""
        a, b = spec.names
        people = t["people_personas"].format(name_a=a, persona_a=spec.personas[0], name_b=b,
                                             persona_b=spec.personas[1]) \
            if spec.personas else t["people_plain"].format(name_a=a, name_b=b)
        subject = t["subject"].format(subtopic=spec.subtopic.rstrip(". "), topic=spec.topic) \
            if spec.subtopic else spec.topic.rstrip(". ")
        listed = "\n".join(f"- {k}: {v}" for k, v in CHARACTERISTICS.items())
        if self.characteristics and reasoning is None:
            instructions = t["with_cot"].format(characteristics=listed)
            return (t["system"].format(examples=""),
                    t["user"].format(people=people, subject=subject, notes="",
                                     instructions=instructions))
        notes = t["notes"].format(reasoning=reasoning) if reasoning else ""
        instructions = t["without_cot"].format(min_turns=self.min_turns, name_a=a, name_b=b)
        return (t["system"].format(examples=examples),
                t["user"].format(people=people, subject=subject, notes=notes,
                                 instructions=instructions))

    def _reasonings(self, specs: Sequence[DialogueSpec], attempt: int) -> list[str]:
        """The chain of thought of each dialogue (the first call): the answer without tags,
        each line once (a small model repeats lines until ``max_tokens``), at most 16
        lines, a line cut off at ``max_tokens`` dropped."""
        requests = [self.request(
            *self.messages(spec), temperature=self.temperature, top_p=self.top_p,
            max_tokens=min(self.max_tokens, REASONING_MAX_TOKENS),
            seed=derived_seed(self.name, self.seed, spec.key, attempt, "cot"))
            for spec in specs]
        out = []
        for answer in self.backend.chat(requests):
            if isinstance(answer, BackendError):
                raise answer
            lines = _TAGS.sub("\n", answer.text).splitlines()
            if answer.finish_reason == "length" and lines:
                lines = lines[:-1]
            seen: set[str] = set()
            kept = []
            for line in (x.strip() for x in lines):
                if line and line.casefold() not in seen:
                    seen.add(line.casefold())
                    kept.append(line)
            out.append("\n".join(kept[:16]))
        return out

    def _parse(self, spec: DialogueSpec, text: str, cut_off: bool,
               reasoning: str) -> ParsedDialogue:
        if self.characteristics:  # the first call's reasoning, filed with the dialogue
            text = f"<cot>\n{reasoning}\n</cot>\n{_COT_PART.sub('', text)}"
        parsed = parse_dialogue(text, spec.names, min_turns=self.min_turns, cut_off=cut_off)
        if not self.characteristics:  # nothing was asked: what precedes the dialogue is noise
            parsed.reasoning, parsed.characteristics = "", {}
        return parsed

    def run(self, specs: Sequence[DialogueSpec], attempt: int = 0) -> list[WrittenDialogue]:
        """One dialogue per spec, every try of a round in one batch; a try whose answer
        does not parse into a usable dialogue is asked again with a new sampler seed, up
        to ``max_attempts`` tries.

        Args:
            specs: the dialogues to write.
            attempt: the engine's regeneration attempt (enters the sampler seeds).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        out = [WrittenDialogue(None) for _ in specs]
        reasonings = self._reasonings(specs, attempt) if self.characteristics \
            else [""] * len(specs)
        prompts = [self.messages(s, r or None) for s, r in zip(specs, reasonings, strict=True)]
        pending = list(range(len(specs)))
        for attempt_try in range(self.max_attempts):
            if not pending:
                break
            requests = [self.request(
                *prompts[i], temperature=self.temperature, top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=derived_seed(self.name, self.seed, specs[i].key, attempt, attempt_try))
                for i in pending]
            still = []
            for i, answer in zip(pending, self.backend.chat(requests), strict=True):
                if isinstance(answer, BackendError):
                    raise answer
                parsed = self._parse(specs[i], answer.text, answer.finish_reason == "length",
                                     reasonings[i])
                if parsed.reason is None:
                    out[i].parsed, out[i].reason = parsed, None
                else:
                    out[i].reason = parsed.reason
                    out[i].failed_tries.append(parsed.reason)
                    still.append(i)
            pending = still
        return out



class DialogueSummary(_Sampled):
    """DiaSynth step 5: a summary of each dialogue from a 2-shot prompt (the two example
    dialogues and their summaries as earlier chat turns), temperature 0.3.

    Args:
        backend: the LLM.
        max_tokens: the summary's cap, in tokens; a summary cut there is trimmed to its
            last full sentence (none: the try fails).
        temperature, top_p: sampling.
        max_attempts: tries per dialogue (a new sampler seed each).
        seed: master seed.
        templates: overrides of :attr:`templates` (the shots included).

    Raises:
        ValueError: ``max_attempts`` < 1.
    """

    name = "diasynth.summary"
    version = "1"
    templates = {
        "system": "You summarise conversations in one to three sentences, accurately and "
                  "in the third person.",
        "user": "Summarise this conversation:\n\n{dialogue}",
        "example_1": BUILTIN_EXAMPLE,
        "summary_1": ("Ben still has Ana's ladder and will bring it back tonight at about "
                      "seven so she can clean the gutters on Saturday; he keeps her paint "
                      "roller."),
        "example_2": ("Kim: Are we still on for the run tomorrow morning?\n"
                      "Raj: I think so, but my knee has been sore since Tuesday.\n"
                      "Kim: Then let's walk the lake path instead. It's flat.\n"
                      "Raj: Good idea. Seven thirty at the gate?\n"
                      "Kim: Perfect, I'll bring coffee."),
        "summary_2": ("Because Raj's knee is sore, he and Kim will walk the flat lake path "
                      "tomorrow instead of running; they meet at the gate at 7:30 and Kim "
                      "brings coffee."),
    }

    def __init__(self, backend: ChatBackend, *, max_tokens: int = 160,
                 temperature: float = 0.3, top_p: float = 0.95, max_attempts: int = 2,
                 seed: int = 0, templates: Mapping[str, str] | None = None) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
        self.use_templates(templates)
        self.backend, self.max_tokens, self.max_attempts = backend, max_tokens, max_attempts
        self.temperature, self.top_p, self.seed = temperature, top_p, seed

    def _request(self, key: str, dialogue: str, attempt: int, attempt_try: int) -> ChatRequest:
        t = self.templates
        shots = []
        for i in (1, 2):
            shots += [{"role": "user", "content": t["user"].format(dialogue=t[f"example_{i}"])},
                      {"role": "assistant", "content": t[f"summary_{i}"]}]
        return ChatRequest(
            messages=({"role": "system", "content": t["system"]}, *shots,
                      {"role": "user", "content": t["user"].format(dialogue=dialogue)}),
            sampling=SamplingParams(
                temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                seed=derived_seed(self.name, self.seed, key, attempt, attempt_try)))

    @staticmethod
    def clean(text: str, cut_off: bool) -> tuple[str | None, str | None]:
        """``(summary, None)`` or ``(None, reason)``: a ``Summary:`` label and line breaks
        removed; a cut-off answer trimmed to its last full sentence."""
        text = " ".join(_SUMMARY_LABEL.sub("", text.strip()).split())
        if cut_off:
            ends = list(_SENTENCE_END.finditer(text))
            if not ends:
                return None, "summary cut off at max_tokens"
            text = text[:ends[-1].end()]
        return (text, None) if text else (None, "empty summary")

    def run(self, items: Sequence[tuple[str, str]], attempt: int = 0
            ) -> list[tuple[str | None, str | None]]:
        """``(summary, None)`` or ``(None, reason)`` for each ``(key, dialogue text)``.

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        out: list[tuple[str | None, str | None]] = [(None, "not asked")] * len(items)
        pending = list(range(len(items)))
        for attempt_try in range(self.max_attempts):
            if not pending:
                break
            answers = self.backend.chat([self._request(*items[i], attempt, attempt_try)
                                         for i in pending])
            still = []
            for i, answer in zip(pending, answers, strict=True):
                if isinstance(answer, BackendError):
                    raise answer
                out[i] = self.clean(answer.text, answer.finish_reason == "length")
                if out[i][0] is None:
                    still.append(i)
            pending = still
        return out



__all__ = ["BUILTIN_EXAMPLE", "CHARACTERISTICS", "DIALOGUE_CRITERIA", "DialogueSpec",
           "DialogueSummary", "DialogueWriter", "WrittenDialogue", "read_example_dialogues"]
