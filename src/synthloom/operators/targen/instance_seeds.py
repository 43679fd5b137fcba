"""TarGEN step 2: instance seeds, atomic elements set in a context (not task exemplars).

Gupta et al., arXiv 2310.17876, section 3 ("Generating instance seeds"): per context,
a zero-shot prompt asks for short sentences set there; each becomes the kernel of an
instance. For topic-like tasks, where the label *is* the subject matter, a seed that
ignores the label fights the label constraint (a small model follows the seed, and
self-correction then rejects the instance). So seeds are asked per (context, label)
pair: "situations a <unit> of <label> could be about, in <context>". The unit ("tweet",
"legal clause") comes from the recipe; nothing here names a domain. The answer is plain
text, one seed per line, validated line by line; this avoids JSON-grammar decoding, which
costs about 2.4x decode speed on the embedded model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_validated
from synthloom.operators.base import Operator, derived_seed

_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")


def parse_seed_lines(text: str, min_words: int = 4, max_words: int = 30) -> list[str]:
    """Seeds from a one-per-line answer: bullets and numbering stripped, lengths checked,
    case-insensitive duplicates dropped."""
    seeds: dict[str, str] = {}
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip().strip('"').strip()
        if min_words <= len(line.split()) <= max_words:
            seeds.setdefault(line.lower(), line)
    return list(seeds.values())


def seed_answer(response: ChatResponse, k: int) -> tuple[list[str] | None, str | None]:
    """``(the first k seeds, None)`` from a one-per-line answer, or ``(None, reason)``."""
    seeds = parse_seed_lines(response.text)
    if not seeds:
        return None, "no line of 4 to 30 words in the answer"
    return seeds[:k], None


class InstanceSeedGeneration(Operator):
    """For each (context, label) pair, ask for ``per_pair`` one-sentence instance seeds.

    Args:
        backend: the LLM (all requests go in one batch).
        description: the task description from the recipe.
        labels: label -> one-line description.
        per_pair: seeds wanted per (context, label) pair.
        unit: what one text is called in this task ("tweet", "legal clause").
        templates: overrides of :attr:`templates`.
        seed: master seed.
        temperature, top_p: sampling values.
    """

    name = "targen.instance_seeds"
    version = "4"
    templates = {
        "system": "You help plan a varied dataset. The texts: {description}",
        "user": (
            "Setting: {context}\n"
            "Label: {label} ({label_description})\n"
            "List {k} different concrete situations that a {unit} with this label could be "
            "about, in this setting. One situation per line, each a short sentence under 20 "
            "words naming concrete people, places, things or numbers. Write only the list."
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str],
        per_pair: int,
        *,
        unit: str = "text",
        seed: int = 0,
        temperature: float = 0.9,
        top_p: float = 0.95,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.backend, self.description, self.labels = backend, description, labels
        self.unit = unit
        self.use_templates(templates)
        self.per_pair, self.seed, self.temperature, self.top_p = per_pair, seed, temperature, top_p

    def _parse(self, response: ChatResponse) -> tuple[list[str] | None, str | None]:
        return seed_answer(response, self.per_pair)

    def _request(self, label: str, context: str, *again: str):
        """The request for one (label, context) pair; ``again`` changes its sampler seed."""
        return self.request(
            self.templates["system"].format(description=self.description),
            self.templates["user"].format(
                context=context, label=label, label_description=self.labels[label],
                k=self.per_pair, unit=self.unit,
            ),
            temperature=self.temperature,
            top_p=self.top_p,
            max_tokens=20 + 30 * self.per_pair,
            seed=derived_seed(self.name, self.seed, label, context, *again),
        )

    def run(self, contexts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        """Seeds for each label and each of that label's contexts.

        Args:
            contexts: ``{label: [context, ...]}`` (the same list for every label when
                contexts are label-agnostic).

        Returns:
            ``{label: {context: [seed, ...]}}``; failed pairs map to [].
        """
        pairs = [(label, c) for label in self.labels for c in contexts.get(label, [])]
        requests = [self._request(label, c) for label, c in pairs]
        results = chat_validated(self.backend, requests, self._parse, max_attempts=2)
        out: dict[str, dict[str, list[str]]] = {label: {} for label in self.labels}
        for (label, c), result in zip(pairs, results, strict=True):
            out[label][c] = result.value or []
        short = [(label, c) for label, c in pairs if len(out[label][c]) < -(-self.per_pair // 2)]
        if short:  # one more request for pairs that came back with under half their seeds
            again = [self._request(label, c, "again") for label, c in short]
            for (label, c), result in zip(short, chat_validated(self.backend, again, self._parse,
                                                                max_attempts=1), strict=True):
                merged = {s.lower(): s for s in out[label][c]}
                for extra in result.value or []:
                    merged.setdefault(extra.lower(), extra)
                out[label][c] = list(merged.values())[: self.per_pair]
        return out
