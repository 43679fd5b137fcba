"""An LLM labeller: a teacher model names the label of a real text, and its token
probabilities give a soft label.

Teacher labelling is the first half of distillation on real inputs: a large model labels
the user's real, unlabelled texts and a small student is trained on those labels (Shang
et al., Walmart, "Student Beats Teacher", arXiv 2505.07105, where students trained on an
LLM's labels of real inputs matched or beat it). The soft label is the teacher's
probability of each label rather than its one answer, the soft targets of Hinton, Vinyals
& Dean, "Distilling the Knowledge in a Neural Network", arXiv 1503.02531: they carry how
sure the teacher was, which a label model or a weighted student can use.

How one text is labelled (:meth:`TeacherLabeller.label`):

1. The prompt is the task description, the label list (with descriptions unless switched
   off) and the text cut to ``max_words`` words; the answer is asked as the label name
   only, greedy (temperature 0), with ``top_logprobs=20`` (the 20 most likely tokens and
   their natural-log probabilities under the model's raw distribution, per token).
2. The answer is normalised (:func:`normalise`: case-folded, ``_`` and ``-`` as spaces,
   other punctuation dropped, spaces collapsed) and must then equal one normalised label
   name. An answer that is not a label is asked again ``retries`` times (default once)
   with a stricter prompt and another seed; if it is still not a label the labeller
   ABSTAINS on that text and says why (its answers): it is never forced to a label.
3. The soft label (:func:`soft_label`) is read off the top logprobs of the first
   generated token that is not only spaces or punctuation (a leading quote or ``**`` is
   skipped, at most :data:`MAX_SKIPPED` tokens): a token counts for a label when its
   normalised text is a non-empty prefix of exactly one normalised label name (``"Bus"``
   -> ``business``; a token that starts two labels counts for neither); each label's
   probability is the summed probability of its tokens, renormalised over the labels.
   When the matched mass is below ``min_label_mass`` (default :data:`MIN_LABEL_MASS`,
   0.5: most of the model's first-token probability went to tokens that name no label)
   or the backend gave no logprobs, the soft label falls back to the hard label of the
   answer (one-hot), and the vote records why.

The soft label may put most mass on another label than the answer when the answer's first
token was the most likely single token but another label's tokens together weigh more;
both are recorded, and the soft label is what a label model combines.

Labeller specs (:class:`LLMLabeller`, ``type: llm`` in a recipe's ``labellers``) sit next to
the rule specs of :mod:`synthloom.operators.label.functions`.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthloom.llm.base import BackendError, ChatBackend, ChatRequest, SamplingParams
from synthloom.operators.base import Operator, derived_seed, template_fields

TOP_LOGPROBS = 20
"""Most likely tokens asked per generated token (the most OpenAI and llama.cpp give)."""
MIN_LABEL_MASS = 0.5
"""Default least probability the first answer token must put on label names for the soft
label to be read from logprobs (below it: the hard label, one-hot)."""
MAX_SKIPPED = 3
"""Leading generated tokens of only spaces or punctuation skipped to find the first token."""
PROMPT_FIELDS = frozenset({"description", "label_lines", "label_names", "label_list", "text"})
"""Fields a labeller's ``prompt`` or ``system`` may use."""


class LLMLabeller(BaseModel):
    """One LLM labeller of a recipe (``type: llm``): a prompt and the model that answers it.

    Attributes:
        name: how votes, errors and statistics call it (default ``llm[<backend>]``, with
            ``#2``... for repeats).
        backend: ``generator`` (the recipe's ``backend``) or ``judge`` (the recipe's
            ``judge`` section: another model, the way judge steps name theirs).
        prompt: the user prompt template (default :attr:`TeacherLabeller.templates`
            ``user``); fields: ``{description}``, ``{label_lines}`` (``Labels:`` then one
            ``- name: description`` line each), ``{label_names}`` (``a, b or c``),
            ``{label_list}`` (``a, b, c``) and ``{text}`` (required).
        system: the system prompt template (same fields, ``{text}`` not required).
        descriptions: show each label's description in ``{label_lines}``.
        max_words: words of the text shown (a longer text is cut; prompts must fit the
            model's context, 2,048 tokens by default).
        max_tokens: tokens the answer may have.
        retries: stricter re-asks of an answer that is not a label, before abstaining.
        min_label_mass: see the module docstring (0..1).
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["llm"] = "llm"
    name: str | None = Field(default=None, min_length=1)
    backend: Literal["generator", "judge"] = "generator"
    prompt: str | None = Field(default=None, min_length=1)
    system: str | None = Field(default=None, min_length=1)
    descriptions: bool = True
    max_words: int = Field(default=250, ge=5, le=2000, strict=True)
    max_tokens: int = Field(default=12, ge=1, le=64, strict=True)
    retries: int = Field(default=1, ge=0, le=3, strict=True)
    min_label_mass: float = Field(default=MIN_LABEL_MASS, ge=0.0, le=1.0)

    @field_validator("prompt", "system")
    @classmethod
    def _known_fields(cls, v: str | None, info: Any) -> str | None:
        if v is None:
            return v
        try:
            used = template_fields(v)
        except ValueError as e:
            raise ValueError(f"not a valid template ({e})") from None
        unknown = sorted(used - PROMPT_FIELDS)
        if unknown:
            raise ValueError(f"unknown field {{{unknown[0]}}}; known: {sorted(PROMPT_FIELDS)}")
        if info.field_name == "prompt" and "text" not in used:
            raise ValueError("a labeller's prompt must show the text: add {text}")
        return v


def normalise(text: str) -> str:
    """Case-folded (NFKC), ``_`` and ``-`` as spaces, other punctuation dropped, spaces
    collapsed: ``" **Not_Spam.** "`` -> ``"not spam"``."""
    t = unicodedata.normalize("NFKC", text).casefold().replace("_", " ").replace("-", " ")
    t = "".join(c for c in t if c.isalnum() or c.isspace())
    return " ".join(t.split())


def answer_label(answer: str, labels: Sequence[str]) -> str | None:
    """The label ``answer`` names: its normalised whole text, or else its normalised first
    line, equal to one normalised label name; None otherwise."""
    keys = {normalise(label): label for label in labels}
    whole = normalise(answer)
    if whole in keys:
        return keys[whole]
    first = normalise(answer.strip().split("\n", 1)[0]) if answer.strip() else ""
    return keys.get(first)


def token_label(token: str, labels: Sequence[str]) -> str | None:
    """The one label whose normalised name starts with the normalised ``token``; None when
    the token normalises to nothing or starts no label or more than one."""
    t = normalise(token)
    if not t:
        return None
    hits = [label for label in labels if normalise(label).startswith(t)]
    return hits[0] if len(hits) == 1 else None


@dataclass(frozen=True)
class SoftLabel:
    """Label probabilities read from one token's top logprobs.

    Attributes:
        probs: label -> probability over every label (sums to 1), or None when no token
            matched a label.
        mass: total probability of the tokens matched to a label (0..1), before
            renormalising.
        position: index of the generated token read (0 unless leading tokens were only
            spaces or punctuation).
    """

    probs: dict[str, float] | None
    mass: float
    position: int


def soft_label(
    top_logprobs: Sequence[Mapping[str, float]] | None, labels: Sequence[str]
) -> SoftLabel:
    """The soft label of an answer from its per-token top logprobs (module docstring, 3).

    Args:
        top_logprobs: one ``{token text: natural-log probability}`` per generated token,
            most likely first (:attr:`~synthloom.llm.base.ChatResponse.top_logprobs`).
        labels: the label names.

    Returns:
        A :class:`SoftLabel`; ``probs`` is None (mass 0) without logprobs or a match.
    """
    if not top_logprobs:
        return SoftLabel(None, 0.0, 0)
    heads = top_logprobs[: MAX_SKIPPED + 1]
    position = next(
        (i for i, c in enumerate(heads) if c and normalise(next(iter(c)))), len(heads) - 1
    )
    candidates = top_logprobs[position] or {}
    mass = dict.fromkeys(labels, 0.0)
    for token, logprob in candidates.items():
        label = token_label(token, labels)
        if label is not None:
            mass[label] += math.exp(logprob)
    total = sum(mass.values())
    if total <= 0.0:
        return SoftLabel(None, 0.0, position)
    return SoftLabel({k: v / total for k, v in mass.items()}, min(total, 1.0), position)


@dataclass
class TeacherVote:
    """One LLM labeller's vote on one text.

    Attributes:
        label: the label the answer named, or None when the labeller abstained.
        probs: label -> probability over every label (the soft label; one-hot on the
            answer's label after a fallback), None when it abstained.
        soft: ``logprobs`` (read from token probabilities), ``answer`` (fell back to the
            answer's label; ``reason`` says why) or None (abstained).
        label_mass: probability the read token put on label names (None without logprobs).
        answers: the raw answers, one per attempt.
        reason: why it abstained, or why the soft label fell back; None otherwise.
    """

    label: str | None
    probs: dict[str, float] | None
    soft: str | None
    label_mass: float | None
    answers: list[str] = field(default_factory=list)
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as stored in a record's ``outputs["votes"]``."""
        return {
            "label": self.label,
            "probs": self.probs,
            "soft": self.soft,
            "label_mass": self.label_mass,
            "answers": list(self.answers),
            "reason": self.reason,
        }


class TeacherLabeller(Operator):
    """Ask an LLM for the label of each text; read a soft label off its token probabilities.

    Args:
        backend: the LLM (a backend that gives ``top_logprobs``; one that does not gives
            hard labels only, each vote saying so).
        description: the task description.
        labels: label -> one-line description ('' for none), in the recipe's order.
        spec: the labeller's options (:class:`LLMLabeller`).
        seed: master seed (sampler seeds derive from it, the labeller's name, the text
            key and the attempt).
        labeller: the labeller's name in the recipe (two labellers get other seeds).
        templates: overrides of :attr:`templates` (a recipe's ``templates`` section; the
            spec's ``prompt`` and ``system`` win over them).

    Raises:
        UserInputError: a bad template override (see :meth:`Operator.use_templates`).
    """

    name = "teacher_label.llm"
    version = "1"
    templates = {
        "system": "You label texts. The texts: {description}",
        "user": (
            "{label_lines}Text: {text}\n\n"
            "Which label fits this text best: {label_names}? "
            "Answer with the label name only."
        ),
        "retry": (
            "{label_lines}Text: {text}\n\n"
            "Reply with exactly one of these words and nothing else: {label_list}."
        ),
    }

    def __init__(
        self,
        backend: ChatBackend,
        description: str,
        labels: Mapping[str, str],
        spec: LLMLabeller | None = None,
        *,
        seed: int = 0,
        labeller: str = "llm",
        templates: Mapping[str, str] | None = None,
    ) -> None:
        self.use_templates(templates)
        self.spec = spec or LLMLabeller()
        if self.spec.prompt:
            self.templates = {**self.templates, "user": self.spec.prompt}
        if self.spec.system:
            self.templates = {**self.templates, "system": self.spec.system}
        self.backend, self.description = backend, description
        self.labels = dict(labels)
        self.seed, self.labeller = seed, labeller

    def _fields(self, text: str) -> dict[str, str]:
        names = list(self.labels)
        lines = "".join(
            f"- {k}: {v}\n" if self.spec.descriptions and str(v).strip() else f"- {k}\n"
            for k, v in self.labels.items()
        )
        return {
            "description": self.description,
            "label_lines": f"Labels:\n{lines}\n",
            "label_names": ", ".join(names[:-1]) + f" or {names[-1]}",
            "label_list": ", ".join(names),
            "text": " ".join(text.split()[: self.spec.max_words]),
        }

    def requests(
        self, texts: Sequence[str], keys: Sequence[str], attempt: int = 0
    ) -> list[ChatRequest]:
        """The labelling requests of ``texts`` at ``attempt`` (0: the prompt; later: the
        stricter ``retry`` prompt), greedy, with :data:`TOP_LOGPROBS` logprobs; ``keys``
        make the sampler seeds stable."""
        user = self.templates["user"] if attempt == 0 else self.templates["retry"]
        out = []
        for text, key in zip(texts, keys, strict=True):
            fields = self._fields(text)
            out.append(
                ChatRequest(
                    messages=(
                        {"role": "system", "content": self.templates["system"].format(**fields)},
                        {"role": "user", "content": user.format(**fields)},
                    ),
                    sampling=SamplingParams(
                        temperature=0.0,
                        top_p=1.0,
                        max_tokens=self.spec.max_tokens,
                        seed=derived_seed(self.name, self.labeller, self.seed, key, attempt),
                    ),
                    top_logprobs=TOP_LOGPROBS,
                )
            )
        return out

    def label(self, texts: Sequence[str], keys: Sequence[str] | None = None) -> list[TeacherVote]:
        """One vote per text (see the module docstring).

        Args:
            texts: the real texts.
            keys: stable keys of the texts (sampler seeds derive from them; default:
                the texts themselves).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        keys = list(keys) if keys is not None else list(texts)
        names = list(self.labels)
        answers: list[list[str]] = [[] for _ in texts]
        votes: list[TeacherVote | None] = [None] * len(texts)
        pending = list(range(len(texts)))
        for attempt in range(self.spec.retries + 1):
            if not pending:
                break
            requests = self.requests(
                [texts[i] for i in pending], [keys[i] for i in pending], attempt
            )
            still = []
            for i, response in zip(pending, self.backend.chat(requests), strict=True):
                if isinstance(response, BackendError):
                    raise response
                answers[i].append(response.text)
                label = answer_label(response.text, names)
                if label is None:
                    still.append(i)
                    continue
                votes[i] = self._vote(label, response.top_logprobs, answers[i])
            pending = still
        for i in pending:
            shown = ", then ".join(repr(a.strip()[:60]) for a in answers[i])
            votes[i] = TeacherVote(
                None,
                None,
                None,
                None,
                answers[i],
                reason=f"answered {shown}: not one of the labels ({', '.join(names)})",
            )
        return [v for v in votes if v is not None]

    def _vote(
        self, label: str, top_logprobs: list[dict[str, float]] | None, answers: list[str]
    ) -> TeacherVote:
        names = list(self.labels)
        hard = {k: float(k == label) for k in names}
        soft = soft_label(top_logprobs, names)
        if not top_logprobs:
            return TeacherVote(
                label, hard, "answer", None, answers, reason="the backend gave no logprobs"
            )
        mass = round(soft.mass, 6)
        if soft.probs is None or soft.mass < self.spec.min_label_mass:
            return TeacherVote(
                label,
                hard,
                "answer",
                mass,
                answers,
                reason=(
                    f"the answer's first token put {soft.mass:.2f} on label names, below "
                    f"min_label_mass {self.spec.min_label_mass}"
                ),
            )
        return TeacherVote(label, soft.probs, "logprobs", mass, answers)
