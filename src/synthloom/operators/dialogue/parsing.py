"""Parsing DiaSynth answers (arXiv 2409.19020): numbered lists, speaker names, and the
``<cot>`` and ``<dialogue>`` parts of a written dialogue.

Small models wrap answers in markdown, drop or mistype tags, change a speaker's case or
write a turn over two lines; the parsers here accept all of that and say what they did
(``notes``), and reject only what cannot be a two-speaker dialogue (``reason``).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from synthloom.operators.base import derived_seed

#: first names given to speakers whose persona does not start with one (and to speakers
#: without personas); generic, from many languages
NAMES = ("Alex", "Sam", "Maya", "Tom", "Priya", "Leo", "Nadia", "Omar", "Grace", "Ivan",
         "Lucia", "Ken", "Amara", "Felix", "Hana", "Diego", "Zoe", "Yusuf", "Elena", "Kofi")

#: DiaSynth's characteristics as the parser files them: canonical name -> label pattern
CHARACTERISTIC_LABELS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in (
        ("age", r"\bages?\b"),
        ("gender", r"\bgenders?\b|\bsex\b"),
        ("familiarity", r"familiar|relationship"),
        ("emotional_states", r"emotion|mood|feeling"),
        ("formality", r"formal|register|tone"),
        ("duration", r"duration|length|how long"),
        ("medium", r"medium|channel|communication"),
        ("topic", r"^(main )?(topic|subject)"),
        ("location", r"location|place|where|setting"),
        ("agreement", r"agree"),
        ("speech_features", r"natural|speech|filler|slang|pause"),
    ))

_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.):]|[-*\u2022+])\s+")
_MARKDOWN = re.compile(r"\*\*|__|`")
_HEADER = re.compile(r"^(topic|subjects?|subtopics?|people|personas?|persons?|examples?)\s*:",
                     re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019"}
_NAME = re.compile(r"^([A-Z][a-z]+(?:[ -][A-Z][a-z]+)?)\s*(?:,|:|\s[-\u2013\u2014]\s|\s\()")
_NOT_NAMES = frozenset({"A", "An", "The", "This", "That", "He", "She", "They", "Mr", "Mrs",
                        "Ms", "Dr", "Retired", "Young", "Old", "Person", "Speaker"})
_COT = re.compile(r"<\s*cot\s*>(.*?)(?:<\s*/\s*cot\s*>|(?=<\s*dialogue\s*>)|$)",
                  re.IGNORECASE | re.DOTALL)
_DIALOGUE = re.compile(r"<\s*dialogue\s*>(.*?)(<\s*/\s*dialogue\s*>|$)",
                       re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<\s*/?\s*(?:cot|dialogue)\s*>", re.IGNORECASE)
_TURN = re.compile(r"^[\"'\u201c]?(#?[A-Za-z][\w.' #-]{0,30}?)[\"'\u201d]?\s*(?:\([^)]{0,60}\))?"
                   r"\s*:\s*(.*)$")
_GENERIC = re.compile(r"^#?\s*(?:speaker|person|persona)?\s*#?\s*([ab12])\s*#?$",
                      re.IGNORECASE)
_FEATURE = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])?\s*([A-Za-z][A-Za-z /&_()'-]{1,50}?)"
                      r"\s*[:=]\s*(.+?)\s*$")


def _unquote(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        text = text[1:-1].strip()
    return text


def parse_list(text: str, *, max_words: int, min_words: int = 1, cut_off: bool = False
               ) -> tuple[list[str], Counter[str]]:
    """The items of a numbered or bulleted list answer, in order.

    Markdown, numbering, bullets, quotes and header lines (``Subtopics:``, any line ending
    in ``:``) are removed. When two or more lines carry a list marker, unmarked lines
    (preamble, comments) are skipped; otherwise every line is an item.

    Args:
        text: the answer.
        max_words, min_words: items outside this length in words are dropped.
        cut_off: the answer stopped at ``max_tokens``: its last item is dropped.

    Returns:
        ``(items, removed)``; ``removed`` counts dropped lines by reason (``cut_off``,
        ``too_long``, ``too_short``).
    """
    removed: Counter[str] = Counter()
    lines = [line for line in text.splitlines() if line.strip()
             and not line.strip().startswith("```")]
    if cut_off and lines:
        lines.pop()
        removed["cut_off"] += 1
    marked = sum(bool(_MARKER.match(_MARKDOWN.sub("", line))) for line in lines) >= 2
    items = []
    for line in lines:
        line = _MARKDOWN.sub("", line).strip().lstrip("#").strip()
        has_marker = bool(_MARKER.match(line))
        if marked and not has_marker:
            continue
        line = _unquote(_MARKER.sub("", line, count=1)).rstrip(" ;,")
        if not line or line.endswith(":") or _HEADER.match(line):
            continue
        words = len(line.split())
        if words > max_words:
            removed["too_long"] += 1
        elif words < min_words:
            removed["too_short"] += 1
        else:
            items.append(line)
    return items, removed


def speaker_name(persona: str | None) -> str | None:
    """The first name a persona starts with ("Maya, a 34-year-old nurse..." -> "Maya"),
    or None."""
    match = _NAME.match(_MARKDOWN.sub("", persona or "").strip())
    if match is None or match.group(1).split()[0] in _NOT_NAMES:
        return None
    return match.group(1)


def drawn_name(uses: Counter[str], *seed_parts: object) -> str:
    """A name from :data:`NAMES` for a speaker: the first, in an order shuffled with a seed
    derived from ``seed_parts``, of the least used ones (``uses``: case-folded name ->
    times used)."""
    order = list(NAMES)
    random.Random(derived_seed(*seed_parts)).shuffle(order)
    return min(order, key=lambda n: uses[n.casefold()])


def speaker_names(personas: tuple[str, str] | None, *key: object) -> tuple[str, str]:
    """Two distinct speaker names: each persona's own first name when it starts with one,
    else a name from :data:`NAMES` drawn with a seed derived from the persona and ``key``
    (so a persona keeps its name across pairs; without personas, from the speaker's
    position and ``key``). A name its partner already has is replaced the same way."""
    found = [speaker_name(p) for p in personas] if personas else [None, None]
    names: list[str] = []
    for i, name in enumerate(found):
        taken = {n.casefold() for n in [*names, *filter(None, found[:i])]}
        if name is None or name.casefold() in taken:
            taken |= {n.casefold() for n in filter(None, found)}
            # the persona's own order of names: stable across pairs
            name = drawn_name(Counter(taken), "dialogue.speakers",
                              personas[i] if personas else i, *key)
        names.append(name)
    return names[0], names[1]


def parse_characteristics(text: str) -> dict[str, str]:
    """DiaSynth's characteristics read off a chain of thought, best effort: each
    ``name: value`` line whose name matches one (:data:`CHARACTERISTIC_LABELS`), the first
    value of each kept (at most 200 characters)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _FEATURE.match(_MARKDOWN.sub("", line))
        if not match:
            continue
        label, value = match.group(1).strip().lower(), _unquote(match.group(2))
        for name, pattern in CHARACTERISTIC_LABELS:
            if pattern.search(label) and value:
                found.setdefault(name, value[:200])
                break
    return found


@dataclass
class ParsedDialogue:
    """A written dialogue, parsed.

    Attributes:
        turns: ``(speaker, text)`` pairs, speaker 0 (A) or 1 (B), consecutive turns of one
            speaker merged.
        reasoning: the chain of thought (``<cot>`` part; '' when there is none).
        characteristics: characteristic -> value read off the reasoning.
        reason: why this is not a usable dialogue (None: it is).
        notes: what the parser repaired (missing tags, merged turns, a dropped cut turn).
    """

    turns: list[tuple[int, str]]
    reasoning: str = ""
    characteristics: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    notes: list[str] = field(default_factory=list)


def _speaker(label: str, names: tuple[str, str]) -> int | None:
    """Which speaker a line label names (case and surname ignored; ``Speaker A``/``1``
    and ``#Person2#`` accepted), or None."""
    key = " ".join(label.replace("#", " ").split()).casefold()
    for i, name in enumerate(names):
        full = name.casefold()
        if key == full or key.split()[0] == full.split()[0]:
            return i
    generic = _GENERIC.match(key.replace(" ", ""))
    if generic:
        return 0 if generic.group(1) in "a1" else 1
    return None


def _parts(text: str) -> tuple[str | None, str, list[str]]:
    """``(reasoning, dialogue body, notes)`` of an answer; reasoning None when the answer
    has no closed ``<cot>`` part and no ``<dialogue>`` tag (it is then what comes before
    the first turn)."""
    notes: list[str] = []
    cot = _COT.search(text)
    dialogue = _DIALOGUE.search(text)
    if dialogue:
        if not dialogue.group(2):
            notes.append("no </dialogue> tag")
        reasoning = cot.group(1) if cot else text[:dialogue.start()]
        return reasoning.strip(), _TAG.sub("", dialogue.group(1)), notes
    notes.append("no <dialogue> tag")
    if cot and cot.end() < len(text):  # a closed <cot>: the dialogue follows it
        return cot.group(1).strip(), _TAG.sub("", text[cot.end():]), notes
    return None, _TAG.sub("", text), notes


def parse_dialogue(text: str, names: tuple[str, str], *, min_turns: int = 4,
                   cut_off: bool = False) -> ParsedDialogue:
    """A two-speaker dialogue from an answer of the DiaSynth prompt.

    The dialogue is the ``<dialogue>`` part (else what follows ``</cot>``, else the whole
    answer); each line ``Name: text`` (``**Name:**``, ``Name (smiling):``, any case, the
    first name alone, ``Speaker A``) starts a turn of that speaker, and a line without a
    known speaker continues the turn before it. Lines before the first turn are skipped
    (without tags they are the reasoning). Consecutive turns of one speaker are merged.
    When the answer was cut at ``max_tokens`` before ``</dialogue>``, its last turn is
    dropped.

    Args:
        text: the answer.
        names: speaker A's and speaker B's names.
        min_turns: turns a usable dialogue has at least.
        cut_off: the answer stopped at ``max_tokens``.

    Returns:
        A :class:`ParsedDialogue`; ``reason`` is set when there are no turns, only one
        speaker, or fewer than ``min_turns`` turns.
    """
    text = "\n".join(line for line in text.splitlines() if not line.strip().startswith("```"))
    reasoning, body, notes = _parts(text)
    raw: list[list] = []
    before: list[str] = []
    for line in body.splitlines():
        line = _MARKDOWN.sub("", line).strip()
        line = re.sub(r"^(?:[-*>\u2022]|\d{1,3}[.)])\s+", "", line)
        if not line:
            continue
        match = _TURN.match(line)
        who = _speaker(match.group(1), names) if match else None
        if who is not None and match is not None:
            raw.append([who, match.group(2).strip()])
        elif raw:
            raw[-1][1] = f"{raw[-1][1]} {line}".strip()
        else:
            before.append(line)
    if reasoning is None:
        reasoning = "\n".join(before)
    if cut_off and raw and not re.search(r"<\s*/\s*dialogue\s*>", text, re.IGNORECASE):
        raw.pop()
        notes.append("last turn cut off at max_tokens: dropped")
    turns: list[tuple[int, str]] = []
    for who, said in raw:
        said = " ".join(_unquote(said).split())
        if not said:
            continue
        if turns and turns[-1][0] == who:
            turns[-1] = (who, f"{turns[-1][1]} {said}")
            notes.append("merged consecutive turns")
        else:
            turns.append((who, said))
    parsed = ParsedDialogue(turns, reasoning, parse_characteristics(reasoning), None,
                            list(dict.fromkeys(notes)))
    speakers = {who for who, _ in turns}
    if not turns:
        parsed.reason = (f"no dialogue: no line of the form 'Name: text' for {names[0]} or "
                         f"{names[1]}")
    elif len(speakers) == 1:
        parsed.reason = (f"only one speaker ({names[next(iter(speakers))]}) in "
                         f"{len(turns)} turn(s)")
    elif len(turns) < min_turns:
        parsed.reason = f"too short: {len(turns)} turns (at least {min_turns})"
    return parsed


__all__ = ["CHARACTERISTIC_LABELS", "NAMES", "ParsedDialogue", "parse_characteristics",
           "parse_dialogue", "parse_list", "speaker_name", "speaker_names"]
