"""Failure-mode injection: a labelled pass that makes a chosen fraction of records noisy.

Real inputs are messier than generated ones: typos, odd casing and spacing, cut-off text,
hedged or mixed-topic wording. A model trained only on clean synthetic text meets these for
the first time in production. This pass perturbs a fraction of records in one of those ways
while **keeping their label**, and marks each perturbed record in its provenance
(``provenance.perturbation = {"mode", "parent"}`` plus an operator step), so perturbed
records can be counted, weighted or removed later. The modes follow the character- and
word-level noise of robustness test suites such as CheckList (Ribeiro et al., arXiv
2005.04118) and NL-Augmenter (Dhole et al., arXiv 2112.02721).

Choices are deterministic: which records, which mode and which edits derive from the
record id and the seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from synthloom.operators.base import derived_seed, with_step
from synthloom.records import OperatorStep, Record, record_id

MODES = ("typos", "casing", "spacing", "truncation", "ambiguity")
_KEYBOARD_NEIGHBOURS = {
    c: n for c, n in zip(
        "qwertyuiopasdfghjklzxcvbnm",
        ["wa", "qes", "wrd", "etf", "ryg", "tuh", "yij", "uok", "ipl", "ol", "qsz", "awdx",
         "sefc", "drgv", "fthb", "gyjn", "hukm", "jil", "kop", "asx", "zdc", "xfv", "cgb",
         "vhn", "bjm", "nk"],
        strict=True,
    )
}


def typos(text: str, rng: random.Random, rate: float = 0.06) -> str:
    """Swap, drop, double or replace (by a keyboard neighbour) about ``rate`` of letters."""
    out: list[str] = []
    chars = list(text)
    i = 0
    while i < len(chars):
        c = chars[i]
        if c.isalpha() and rng.random() < rate:
            kind = rng.choice(("swap", "drop", "double", "neighbour"))
            if kind == "swap" and i + 1 < len(chars) and chars[i + 1].isalpha():
                out += [chars[i + 1], c]
                i += 2
                continue
            if kind == "drop":
                i += 1
                continue
            if kind == "double":
                out += [c, c]
            else:
                near = _KEYBOARD_NEIGHBOURS.get(c.lower(), c)
                out.append(rng.choice(near))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def casing(text: str, rng: random.Random) -> str:
    """All lower case, all upper case, or no capital letters after sentence ends."""
    kind = rng.choice(("lower", "upper", "flat"))
    if kind == "lower":
        return text.lower()
    if kind == "upper":
        return text.upper()
    return re.sub(r"(?<=[.!?] )([A-Z])", lambda m: m.group(1).lower(), text)


def spacing(text: str, rng: random.Random) -> str:
    """Doubled spaces, a dropped space and spaces before punctuation."""
    out: list[str] = []
    for word in text.split(" "):
        r = rng.random()
        if r < 0.08 and out:
            out[-1] += word  # a dropped space
        elif r < 0.23:
            out.append(word + " ")  # a doubled space
        else:
            out.append(word)
    joined = " ".join(out)
    return re.sub(r"([,.!?])", lambda m: " " + m.group(1) if rng.random() < 0.3 else m.group(1),
                  joined)


def truncation(text: str, rng: random.Random) -> str:
    """Cut the text after 40-80% of its words, mid-sentence, without a full stop."""
    words = text.split()
    keep = max(3, int(len(words) * rng.uniform(0.4, 0.8)))
    return " ".join(words[:keep]).rstrip(".!?,;:")


def ambiguity(text: str, rng: random.Random, other_topic: str) -> str:
    """Add a hedging sentence that points at another label's topic."""
    lead = rng.choice((
        "Some readers may also see a link to {t}.",
        "It is not only about this, though: {t} comes into it too.",
        "Others have tied the story to {t}.",
    ))
    return f"{text.rstrip()} {lead.format(t=other_topic)}"


class FailureModeInjector:
    """Perturb ``fraction`` of records with one of :data:`MODES`, keeping labels.

    Args:
        fraction: share of records perturbed, in [0, 1].
        modes: which of :data:`MODES` to use (each perturbed record gets one, uniformly).
        labels: label -> description; ``ambiguity`` hedges toward another label's name.
        seed: master seed.

    Raises:
        ValueError: ``fraction`` outside [0, 1], an unknown mode, or ``ambiguity`` without
            at least two labels.
    """

    name = "filter.failure_modes"
    version = "1"

    def __init__(
        self,
        fraction: float = 0.1,
        modes: Sequence[str] = MODES,
        labels: dict[str, str] | None = None,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        unknown = sorted(set(modes) - set(MODES))
        if unknown or not modes:
            raise ValueError(f"unknown failure modes {unknown or '(none given)'}; use {MODES}")
        if "ambiguity" in modes and len(labels or {}) < 2:
            raise ValueError("the ambiguity mode needs the label set (at least two labels)")
        self.fraction, self.modes, self.labels, self.seed = fraction, tuple(modes), labels, seed

    def _perturb(self, record: Record, rng: random.Random, mode: str) -> str:
        edits: dict[str, Callable[[str, random.Random], str]] = {
            "typos": typos, "casing": casing, "spacing": spacing, "truncation": truncation,
        }
        if mode == "ambiguity":
            others = [lab for lab in (self.labels or {}) if lab != record.label]
            return ambiguity(record.text, rng, rng.choice(others))
        return edits[mode](record.text, rng)

    def __call__(self, records: Sequence[Record]) -> list[Record]:
        """All records, in order; the chosen ones replaced by perturbed copies (new id,
        ``parents = [original id]``, ``provenance.perturbation`` set, label unchanged)."""
        out = []
        for record in records:
            rng = random.Random(derived_seed(self.name, self.seed, record.id))
            if rng.random() >= self.fraction:
                out.append(record)
                continue
            mode = rng.choice(self.modes)
            text = self._perturb(record, rng, mode)
            if text == record.text:  # e.g. casing of an already lower-case text
                text = typos(text, rng, rate=0.15)
            inputs = {**record.inputs, "text": text}
            step = OperatorStep(operator=self.name, version=self.version, verdict="perturbed",
                                detail={"mode": mode})
            perturbed = with_step(
                record, step,
                parents=[*record.provenance.parents, record.id],
                perturbation={"mode": mode, "parent": record.id},
            )
            out.append(perturbed.model_copy(update={
                "inputs": inputs, "id": record_id(record.task, inputs, record.label),
            }))
        return out
