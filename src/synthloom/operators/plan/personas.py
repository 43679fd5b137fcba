"""Layered conditioning: personas and context characteristics (DiaSynth, arXiv 2409.19020).

DiaSynth conditions each generated dialogue on a subtopic, on personas (who is speaking)
and on characteristics of the conversation's context (familiarity, emotional state,
formality, medium, location, agreement, natural speech features). Sampling these as
variables and writing them into the prompt spreads generations over voices and situations
that one prompt would collapse. Here they are sampled per draft, deterministically from the
draft number, and recorded in the record's plan.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from synthloom.operators.base import derived_seed

# Generic lists: a persona is who writes the text, whatever the task's domain. Nothing
# here may name a domain (tests/unit/test_domain_words.py checks it).
OCCUPATIONS = (
    "student", "retired teacher", "nurse", "software engineer", "small-business owner",
    "civil servant", "sports coach", "farmer", "lawyer", "shop assistant", "researcher",
    "parent at home", "taxi driver", "marketing manager", "pensioner", "electrician",
    "accountant", "chef", "social worker", "artist",
)
EXPERTISE = ("newcomer to the subject", "informed amateur", "specialist")
AGE_BANDS = ("18-24", "25-34", "35-49", "50-64", "65+")
BIG_FIVE = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")

CHARACTERISTICS: dict[str, tuple[str, ...]] = {
    "familiarity": ("writing for strangers", "writing for acquaintances",
                    "writing for colleagues", "writing for friends"),
    "emotional_state": ("calm", "excited", "worried", "annoyed", "hopeful", "sceptical"),
    "formality": ("formal", "neutral", "informal"),
    "medium": ("written on a phone", "written on a computer", "handwritten and typed up",
               "dictated", "written in a hurry", "carefully drafted"),
    "location": ("a big city", "a small town", "a rural area", "abroad", "at home",
                 "at work"),
    "agreement": ("neutral", "approving", "critical"),
    "speech_features": ("none", "a rhetorical question", "a direct quote",
                        "a colloquial phrase"),
}


def persona(i: int, seed: int = 0) -> dict[str, str]:
    """Persona number ``i``: occupation, expertise, age band and two salient Big Five traits
    (each high or low)."""
    rng = random.Random(derived_seed("persona", seed, i))
    traits = rng.sample(BIG_FIVE, 2)
    return {
        "occupation": rng.choice(OCCUPATIONS),
        "expertise": rng.choice(EXPERTISE),
        "age_band": rng.choice(AGE_BANDS),
        "traits": ", ".join(f"{rng.choice(('high', 'low'))} {t}" for t in traits),
    }


def characteristics(i: int, names: Sequence[str], seed: int = 0) -> dict[str, str]:
    """Context characteristics number ``i``, one value per name in ``names``.

    Raises:
        ValueError: an unknown characteristic name.
    """
    unknown = sorted(set(names) - set(CHARACTERISTICS))
    if unknown:
        raise ValueError(f"unknown context characteristics {unknown}; "
                         f"known: {sorted(CHARACTERISTICS)}")
    rng = random.Random(derived_seed("characteristics", seed, i))
    return {name: rng.choice(CHARACTERISTICS[name]) for name in names}


def describe_persona(p: dict[str, str]) -> str:
    """A persona as one prompt line."""
    return (f"a {p['occupation']} ({p['expertise']}, aged {p['age_band']}, "
            f"{p['traits']})")
