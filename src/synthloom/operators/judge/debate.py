"""Debate as a label verifier.

Irving et al., "AI safety via debate" (arXiv 1805.00899): two agents argue opposite sides
before a judge, on the idea that a false claim is harder to defend than to refute. Du et
al. (arXiv 2305.14325) use rounds of multi-agent debate, each agent reading the others'
answers, to improve factuality and reasoning. Here the claim is "the label fits this
text":

- a ``for`` debater argues that it does, an ``against`` debater that it does not, for
  ``rounds`` rounds (1 or 2); each turn reads the transcript so far (``for`` speaks first
  in each round, so ``against`` answers it);
- turns are plain text, greedy (temperature 0), at most :attr:`Debate.max_turn_tokens`
  tokens; an empty turn is asked again with a new seed, up to ``max_attempts`` times;
- then a judge reads the text, the claim and the transcript and decides with structured
  output ``{"verdict": "correct" | "incorrect"}``; no valid decision after
  ``max_attempts`` is recorded as None (never coerced).

Records are batched: every record's round-1 ``for`` turn goes to the backend in one call,
then every ``against`` turn, and so on; the judge's requests in one last call. Without
retries a record costs ``2 * rounds + 1`` requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from synthloom.llm.base import ChatBackend, ChatResponse
from synthloom.llm.structured import chat_structured, chat_validated
from synthloom.operators.base import Operator, derived_seed, with_step
from synthloom.operators.judge.double_critic import label_names
from synthloom.records import Record, Verdict

SIDES = ("for", "against")


_CLAIM = ("{unit}: {text}\n\nPossible labels: {label_names}.\n"
          "Claim: the label {label} ({label_description}) fits this {unit}.\n")


_FIELDS = frozenset({"unit", "description", "text", "label", "label_description",
                     "label_names", "transcript"})


class DebateDecision(BaseModel):
    """The judge's answer: is the claimed label correct?"""

    verdict: Literal["correct", "incorrect"]


def _turn(response: ChatResponse) -> tuple[str | None, str | None]:
    """A debater's argument (stripped), or ``(None, reason)`` when the answer is empty."""
    text = " ".join(response.text.split())
    return (text, None) if text else (None, "empty argument")


def format_transcript(turns: list[dict[str, str]]) -> str:
    """``"For: ...\\nAgainst: ...\\n"`` for the turns so far."""
    return "".join(f"{t['side'].capitalize()}: {t['text']}\n" for t in turns)


class Debate(Operator):
    """Two debaters argue about each record's label, then a judge decides.

    Args:
        backend: the judge LLM (debaters and judge alike).
        description: the task description.
        labels: label -> one-line description.
        unit: what one text of the task is called ("tweet", "support ticket").
        rounds: debate rounds, 1 or 2 (each: a ``for`` turn, then an ``against`` turn).
        max_attempts: answers requested per turn or decision before giving up.
        seed: master seed (sampler seeds derive from it, the turn, text and label).
        templates: overrides of :attr:`templates`.

    ``__call__(records, attempt=0)`` returns the records (none dropped), each with a
    ``debate`` verdict and one operator step. The label debated is
    ``provenance.target_label`` (else ``label``); a record without one is not debated.

    Raises:
        ValueError: ``rounds`` is not 1 or 2.
        BackendError: the backend failed a request after its own retries.
        UserInputError: a template override names an unknown key or field.
    """

    name = "judge.debate"
    version = "1"
    max_turn_tokens = 80
    templates = {
        "debater_system": ("You argue one side of a debate about the label of a {unit}. "
                           "The {unit}s: {description}"),
        "for_user": _CLAIM + (
            "{transcript}You argue FOR the claim: say why the label {label} fits this "
            "{unit}, in at most two sentences."),
        "against_user": _CLAIM + (
            "{transcript}You argue AGAINST the claim: say why the label {label} does not "
            "fit this {unit}, in at most two sentences."),
        "judge_system": "You judge debates about the labels of a dataset. The {unit}s: "
                        "{description}",
        "judge_user": _CLAIM + (
            "\nDebate:\n{transcript}\nRead the {unit} itself: a debater may be wrong. Is "
            'the claim correct? Answer as JSON: {{"verdict": "correct"}} or '
            '{{"verdict": "incorrect"}}'),
    }
    #: every template is filled with every field
    extra_template_fields = {k: _FIELDS for k in templates}

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: dict[str, str],
        *,
        unit: str = "text",
        rounds: int = 1,
        max_attempts: int = 3,
        seed: int = 0,
        templates: Mapping[str, str] | None = None,
    ) -> None:
        if rounds not in (1, 2):
            raise ValueError(f"rounds must be 1 or 2, got {rounds}")
        self.use_templates(templates)
        self.backend, self.description, self.labels = backend, description, labels
        self.unit, self.rounds = unit, rounds
        self.max_attempts, self.seed = max_attempts, seed

    def _fields(self, text: str, label: str, transcript: str) -> dict[str, Any]:
        return {"unit": self.unit, "description": self.description, "text": text,
                "label": label, "label_description": self.labels.get(label, ""),
                "label_names": label_names(self.labels), "transcript": transcript}

    def debate(self, items: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Debate each ``(text, label)``: ``{"transcript", "decision", "calls"}`` each
        (decision ``"correct"``, ``"incorrect"`` or None)."""
        out: list[dict[str, Any]] = [{"transcript": [], "decision": None, "calls": 0}
                                     for _ in items]
        if not items:
            return out
        for rnd in range(1, self.rounds + 1):
            for side in SIDES:
                requests = []
                for (text, label), o in zip(items, out, strict=True):
                    so_far = format_transcript(o["transcript"])
                    f = self._fields(text, label,
                                     f"Debate so far:\n{so_far}\n" if so_far else "")
                    requests.append(self.request(
                        self.templates["debater_system"].format(**f),
                        self.templates[f"{side}_user"].format(**f),
                        temperature=0.0, top_p=1.0, max_tokens=self.max_turn_tokens,
                        seed=derived_seed(self.name, self.seed, side, rnd, text, label)))
                results = chat_validated(self.backend, requests, _turn,
                                         max_attempts=self.max_attempts)
                for o, r in zip(out, results, strict=True):
                    o["transcript"].append({"side": side, "text": r.value or ""})
                    o["calls"] += r.attempts
        requests = []
        for (text, label), o in zip(items, out, strict=True):
            f = self._fields(text, label, format_transcript(o["transcript"]))
            requests.append(self.request(
                self.templates["judge_system"].format(**f),
                self.templates["judge_user"].format(**f),
                temperature=0.0, top_p=1.0, max_tokens=16,
                seed=derived_seed(self.name, self.seed, "judge", text, label)))
        results = chat_structured(self.backend, requests, DebateDecision,
                                  max_attempts=self.max_attempts)
        for o, r in zip(out, results, strict=True):
            o["decision"] = r.value.verdict if r.value else None
            o["calls"] += r.attempts
        return out

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """Records with a ``debate`` verdict and one step each (none dropped)."""
        labels = [r.provenance.target_label or r.label for r in records]
        asked = [i for i, label in enumerate(labels) if label is not None]
        found = dict(zip(asked, self.debate([(records[i].text, str(labels[i]))
                                             for i in asked]), strict=True))
        by = f"{self.name}/{self.backend.identity.model}"
        out = []
        for i, record in enumerate(records):
            d = found.get(i, {"transcript": [], "decision": None, "calls": 0})
            decision = d["decision"]
            passed = None if decision is None else decision == "correct"
            detail = {"label": labels[i], "rounds": self.rounds, "transcript": d["transcript"],
                      "decision": decision, "calls": d["calls"]}
            updated = with_step(record, self.step(decision or "undecided", calls=d["calls"],
                                                  attempt=attempt))
            out.append(updated.with_verdict(
                Verdict(check="debate", by=by, passed=passed, detail=detail)))
        return out
