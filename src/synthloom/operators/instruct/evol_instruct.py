"""Evol-Instruct: evolve a pool of instructions into harder and rarer ones (arXiv 2304.12244).

Xu et al. ("WizardLM: Empowering Large Language Models to Follow Complex Instructions",
section 3) rewrite each instruction of a pool, generation after generation, with one of
six operations: five *in-depth* ones that make it harder (add constraints, deepen,
concretize, increase reasoning steps, complicate the input) and one *in-breadth* mutation
that writes a brand new, rarer instruction of the same domain. An LLM answers every
evolved instruction, and four rules eliminate failed evolutions (section 3.3): no
information gain over the parent (asked of an LLM), a refusal-like response, a response
of punctuation and stop words only, and an instruction that copies words of the evolving
prompt. A failed instruction returns to the pool and is evolved again next generation.

The operations are defined here once, in :data:`IN_DEPTH` and :data:`BREADTH` (adapted
from the paper's appendix prompts: each method sentence says ``{given}`` where it names
the thing being rewritten). :class:`~synthloom.operators.generate.evol_complexify.
EvolComplexify`, which rewrites classification texts while keeping their label, uses the
same in-depth definitions.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache

from pydantic import BaseModel

from synthloom.llm.base import ChatBackend, ChatRequest, ChatResponse, SamplingParams
from synthloom.llm.structured import chat_structured, chat_validated
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.instruct.pool import PoolItem, PoolResult

#: in-depth operations (paper section 3.1 and appendix): name -> method sentence, where
#: ``{given}`` names what is rewritten ("#The Given Prompt#", "the given text")
IN_DEPTH: dict[str, str] = {
    "add_constraints": "Please add one more constraint, requirement or specific detail "
                       "into {given}.",
    "deepen": "If {given} contains inquiries about certain issues, or discusses them, the "
              "depth and breadth of the inquiry or discussion can be increased.",
    "concretize": "Please replace general concepts in {given} with more specific concepts: "
                  "concrete names, numbers, places and dates.",
    "increase_reasoning": "If {given} can be answered or understood with just a few simple "
                          "thinking processes, rewrite it so that it takes multiple-step "
                          "reasoning.",
    "complicate_input": "Please complicate the input of {given}: add data it must work with "
                        "(a table, code, a formula or structured records) or a second, minor "
                        "subject in passing, keeping everything it already contains.",
}

#: the in-breadth mutation (paper section 3.2): name -> method sentence
BREADTH: dict[str, str] = {
    "breadth": "Your goal is to draw inspiration from {given} to create a brand new prompt. "
               "This new prompt should belong to the same domain as {given} but be even "
               "more rare.",
}

#: every operation name, in-depth ones first
OPERATIONS: tuple[str, ...] = (*IN_DEPTH, *BREADTH)

#: how the rewriting prompts name the prompt being evolved (the paper's markers)
GIVEN_DEPTH, GIVEN_BREADTH = "#The Given Prompt#", "#Given Prompt#"

#: words of the evolving prompts an evolved instruction must not copy (case-insensitive)
TEMPLATE_WORDS: tuple[str, ...] = ("#The Given Prompt#", "#Rewritten Prompt#", "given prompt",
                                   "rewritten prompt", "#Created Prompt#", "created prompt")

#: a response with "sorry" and fewer words than this is refusal-like (paper: 80)
REFUSAL_MAX_WORDS = 80

# a preamble is stripped only when it announces the rewrite ("Here is the rewritten
# prompt:"), never a user's own words ("Here is my code: ...")
_PREAMBLE = re.compile(r"^(sure|certainly|okay|ok)?[,.!]?\s*(here is|here's)\s+(the|a|an|your)"
                       r"\s+([\w-]+\s+){0,3}(prompt|instruction|version|rewrite|task)\b"
                       r"[^:\n]*:\s*", re.IGNORECASE)
_HEADER = re.compile(r"^#*\s*(the\s+)?(rewritten|created|new|evolved)\s+prompt\s*#*\s*:?\s*",
                     re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def method_sentence(operation: str, given: str = GIVEN_DEPTH) -> str:
    """The method sentence of ``operation`` with ``{given}`` filled in.

    Raises:
        KeyError: ``operation`` is neither in :data:`IN_DEPTH` nor in :data:`BREADTH`.
    """
    return {**IN_DEPTH, **BREADTH}[operation].format(given=given)


def copies_template(instruction: str) -> bool:
    """Rule 4: ``instruction`` contains a word of the evolving prompt (:data:`TEMPLATE_WORDS`,
    case-insensitive)."""
    low = instruction.lower()
    return any(w.lower() in low for w in TEMPLATE_WORDS)


def is_refusal(response: str) -> bool:
    """Rule 2: ``response`` contains "sorry" (any case) and has fewer than
    :data:`REFUSAL_MAX_WORDS` words."""
    return "sorry" in response.lower() and len(response.split()) < REFUSAL_MAX_WORDS


@cache
def _stop_words() -> frozenset[str]:
    # imported on first use: scikit-learn takes about a second to import
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def stopwords_only(response: str) -> bool:
    """Rule 3: ``response`` holds only punctuation and English stop words (scikit-learn's
    ``ENGLISH_STOP_WORDS``, 318 words; nltk's list needs a download, so it is not used)."""
    stop = _stop_words()
    return all(w in stop for w in _WORD.findall(response.lower()))


def rewrite_failure(rewrite: str | None) -> str | None:
    """Why a cleaned rewrite fails before it is answered: ``unparsable`` (None or blank) or
    ``copied_template``; None when it passes."""
    if rewrite is None or not rewrite.strip():
        return "unparsable"
    return "copied_template" if copies_template(rewrite) else None


def response_failure(response: str | None) -> str | None:
    """Why a response fails: ``empty_response`` (None or blank), ``refusal`` or
    ``stopwords_only``; None when it passes."""
    if response is None or not response.strip():
        return "empty_response"
    if is_refusal(response):
        return "refusal"
    return "stopwords_only" if stopwords_only(response) else None


def elimination_reason(rewrite: str | None, response: str | None, equal: bool) -> str | None:
    """Why an evolution failed (paper section 3.3), or None when it survives.

    Args:
        rewrite: the cleaned evolved instruction (None when nothing usable came back).
        response: the response to it (None when none came back).
        equal: the judge found it equal to its parent (no information gain).

    Returns:
        The first that applies of ``unparsable``, ``copied_template``, ``empty_response``,
        ``refusal``, ``stopwords_only``, ``no_information_gain``; or None.
    """
    reason = rewrite_failure(rewrite) or response_failure(response)
    return reason or ("no_information_gain" if equal else None)


def clean_rewrite(response: ChatResponse) -> tuple[str | None, str | None]:
    """A rewrite without a "Here is ...:" preamble, a "#Rewritten Prompt#:" style header or
    surrounding quotes (inner line breaks kept: it may hold a table or code).
    ``(None, reason)`` when it is blank or was cut off at ``max_tokens``."""
    if response.finish_reason == "length":
        return None, "cut off at max_tokens"
    text = response.text.strip()
    for pattern in (_PREAMBLE, _HEADER, _PREAMBLE):
        text = pattern.sub("", text, count=1).strip()
    text = text.strip('"').strip()
    return (text, None) if text else (None, "empty rewrite")


def clean_response(response: ChatResponse) -> tuple[str | None, str | None]:
    """A response with outer whitespace removed. ``(None, reason)`` when nothing is left or
    it was cut off at ``max_tokens`` (a list or code cut mid-way is not a training answer;
    the evolution is then eliminated as ``empty_response``)."""
    if response.finish_reason == "length":
        return None, "response cut off at max_tokens"
    text = response.text.strip()
    return (text, None) if text else (None, "empty response")


class EqualAnswer(BaseModel):
    """The judge's answer: are the two instructions equal (no information gain)?"""

    equal: bool


def _prompt(item: PoolItem) -> str:
    """The prompt an item is evolved from: its instruction, then its input (if any)."""
    return f"{item.instruction}\n\n{item.input}" if item.input.strip() else item.instruction


class EvolInstruct(Operator):
    """Evolve a pool of instructions over ``generations`` rounds (arXiv 2304.12244).

    In round ``g`` each item of the frontier (at first the input pool) is evolved once,
    with an operation chosen by ``random.Random(derived_seed(name, seed, item.id, g))``;
    the rewrites of a round go to ``backend`` in one batch, then the responses to the
    rewrites that pass :func:`rewrite_failure`, in one batch, then the equality judgements
    of those whose response passes :func:`response_failure`, in one batch on ``judge`` (a
    rewrite identical to its parent, ignoring case and spacing, counts as equal without
    asking). Every request has its own sampler seed. An evolved item's prompt joins the
    parent's instruction and input (the paper's rewrite keeps the input), so the new item's
    ``input`` is "".

    A survivor becomes a :class:`PoolItem` (``id`` ``evol-<g>-<n>``, n counting the
    survivors of round g from 0; ``method`` ``evol_instruct``; ``parents`` the parent's id;
    ``operation``; ``generation`` the parent's plus one; the parent's persona; the response
    as ``output``) and replaces its parent in the frontier; a parent whose evolution failed
    stays in the frontier and is evolved again next round.

    Args:
        backend: the LLM that evolves and answers.
        generations: rounds of evolution, >= 1.
        operations: names from :data:`OPERATIONS`; None for all (five in-depth + breadth).
        judge: the LLM asked whether an evolution gained information; None uses ``backend``.
        description: what the instructions are about ("" for nothing).
        unit: what one instruction is called.
        max_response_words: asked length of a response, in words (``max_tokens`` is about
            2.2 tokens a word, plus 40).
        seed: master seed.
        temperature, top_p: sampling values of rewrites and responses (the judge samples
            at temperature 0).
        templates: overrides of :attr:`templates`.

    Raises:
        ValueError: ``generations`` < 1, an unknown or no operation, or
            ``max_response_words`` < 1.
    """

    name = "instruct.evol_instruct"
    version = "1"
    templates = {
        "system": "You write {unit}s for a dataset. {description}",
        "depth": (
            "I want you to act as a Prompt Rewriter.\n"
            "Your objective is to rewrite a given prompt into a more complex version to make "
            "capable AI assistants a bit harder to handle.\n"
            "But the rewritten prompt must be reasonable and must be understood and responded "
            "by humans.\n"
            "Your rewriting cannot omit the non-text parts such as the table and code in "
            "#The Given Prompt#. Also, please do not omit the input in #The Given Prompt#.\n"
            "You SHOULD complicate the given prompt using the following method:\n{method}\n"
            "You should try your best not to make the #Rewritten Prompt# become verbose, "
            "#Rewritten Prompt# can only add 10 to 20 words into #The Given Prompt#.\n"
            "'#The Given Prompt#', '#Rewritten Prompt#', 'given prompt' and 'rewritten "
            "prompt' are not allowed to appear in #Rewritten Prompt#.\n\n"
            "#The Given Prompt#:\n{prompt}\n\n#Rewritten Prompt#:\n"
        ),
        "breadth": (
            "I want you to act as a Prompt Creator.\n{method}\n"
            "The LENGTH and complexity of the #Created Prompt# should be similar to that of "
            "the #Given Prompt#.\n"
            "The #Created Prompt# must be reasonable and must be understood and responded by "
            "humans.\n"
            "'#Given Prompt#', '#Created Prompt#', 'given prompt' and 'created prompt' are not "
            "allowed to appear in #Created Prompt#.\n\n"
            "#Given Prompt#:\n{prompt}\n\n#Created Prompt#:\n"
        ),
        "judge_system": "You compare two {unit}s.",
        "judge": (
            "Are these two {unit}s equal to each other: do they have the same constraints and "
            "requirements, and the same depth and breadth of inquiry?\n\n"
            "First: {first}\n\nSecond: {second}\n\n"
            'Answer with JSON: {{"equal": true}} or {{"equal": false}}.'
        ),
    }

    def __init__(self, backend: ChatBackend, *, generations: int = 3,
                 operations: Sequence[str] | None = None, judge: ChatBackend | None = None,
                 description: str = "", unit: str = "instruction", max_response_words: int = 200,
                 seed: int = 0, temperature: float = 0.7, top_p: float = 0.95,
                 templates: Mapping[str, str] | None = None) -> None:
        if generations < 1:
            raise ValueError(f"generations must be at least 1, got {generations}")
        operations = list(OPERATIONS if operations is None else operations)
        unknown = sorted(set(operations) - set(OPERATIONS))
        if unknown or not operations:
            raise ValueError(f"unknown or no Evol-Instruct operations {unknown or operations}; "
                             f"known: {list(OPERATIONS)}")
        if max_response_words < 1:
            raise ValueError(f"max_response_words must be at least 1, got {max_response_words}")
        self.use_templates(templates)
        self.backend, self.judge = backend, judge if judge is not None else backend
        self.generations, self.operations = generations, operations
        self.description, self.unit, self.max_response_words = description, unit, \
            max_response_words
        self.seed, self.temperature, self.top_p = seed, temperature, top_p

    def chosen(self, item: PoolItem, generation: int) -> str:
        """The operation ``item`` is evolved with in round ``generation``."""
        rng = random.Random(derived_seed(self.name, self.seed, item.id, generation))
        return rng.choice(self.operations)

    def _system(self, key: str) -> str:
        return self.templates[key].format(unit=self.unit, description=self.description).strip()

    def _evolve_request(self, item: PoolItem, operation: str, generation: int):
        prompt = _prompt(item)
        if operation in BREADTH:
            user = self.templates["breadth"].format(
                method=method_sentence(operation, "the " + GIVEN_BREADTH), prompt=prompt)
        else:
            user = self.templates["depth"].format(method=method_sentence(operation),
                                                  prompt=prompt)
        return self.request(self._system("system"), user, temperature=self.temperature,
                            top_p=self.top_p, max_tokens=int(2.2 * (len(prompt.split()) + 60))
                            + 40, seed=derived_seed(self.name, self.seed, item.id, generation,
                                                    "evolve"))

    def _respond_request(self, item: PoolItem, rewrite: str, generation: int) -> ChatRequest:
        """The evolved instruction alone as the user turn, no system message of ours: the
        answer is the response a trainer will see paired with exactly that turn."""
        return ChatRequest(
            messages=({"role": "user", "content": rewrite},),
            sampling=SamplingParams(
                temperature=self.temperature, top_p=self.top_p,
                max_tokens=int(self.max_response_words * 2.2) + 40,
                seed=derived_seed(self.name, self.seed, item.id, generation, "respond")))

    def _judge_request(self, item: PoolItem, rewrite: str, generation: int):
        return self.request(
            self._system("judge_system"),
            self.templates["judge"].format(unit=self.unit, first=_prompt(item), second=rewrite),
            temperature=0.0, top_p=1.0, max_tokens=20,
            seed=derived_seed(self.name, self.seed, item.id, generation, "judge"))

    def run(self, pool: Sequence[PoolItem],
            on_progress: Callable[[int, int, int], None] | None = None) -> PoolResult:
        """Evolve ``pool`` for :attr:`generations` rounds.

        Args:
            pool: the items to evolve (ids unique; any ``method``).
            on_progress: called after each round with ``(round, generations, survivors so
                far)``.

        Returns:
            A :class:`PoolResult` whose ``items`` are the survivors of every round, in order
            (the input pool is not among them) and whose ``removed`` counts eliminations by
            reason (see :func:`elimination_reason`).

        Raises:
            ValueError: two items of ``pool`` share an id.
            BackendError: a backend failed a request after its own retries.
        """
        ids = [item.id for item in pool]
        if len(set(ids)) != len(ids):
            raise ValueError(f"pool ids must be unique; repeated: "
                             f"{sorted({i for i in ids if ids.count(i) > 1})}")
        result, frontier = PoolResult(), list(pool)
        for generation in range(1, self.generations + 1):
            if frontier:
                frontier = self._round(frontier, generation, result)
            if on_progress:
                on_progress(generation, self.generations, len(result.items))
        return result

    def _round(self, frontier: list[PoolItem], generation: int,
               result: PoolResult) -> list[PoolItem]:
        """One round: evolve, answer, judge and eliminate; returns the next frontier."""
        operations = [self.chosen(item, generation) for item in frontier]
        evolved = chat_validated(self.backend, [
            self._evolve_request(item, op, generation)
            for item, op in zip(frontier, operations, strict=True)], clean_rewrite,
            max_attempts=1)
        rewrites = [r.value for r in evolved]
        reasons = [rewrite_failure(r) for r in rewrites]

        alive = [i for i, reason in enumerate(reasons) if reason is None]
        answered = chat_validated(self.backend, [
            self._respond_request(frontier[i], rewrites[i], generation) for i in alive],
            clean_response, max_attempts=1)
        responses: dict[int, str | None] = {}
        for i, answer in zip(alive, answered, strict=True):
            responses[i] = answer.value
            reasons[i] = response_failure(answer.value)

        alive = [i for i in alive if reasons[i] is None]
        same = {i for i in alive
                if " ".join(rewrites[i].lower().split())
                == " ".join(_prompt(frontier[i]).lower().split())}
        asked = [i for i in alive if i not in same]
        judged = chat_structured(self.judge, [
            self._judge_request(frontier[i], rewrites[i], generation) for i in asked],
            EqualAnswer, max_attempts=1)
        # an unanswered judgement counts as "not equal": the evolution is kept
        equal = {i: bool(j.value and j.value.equal) for i, j in zip(asked, judged, strict=True)}
        for i in alive:
            reasons[i] = elimination_reason(rewrites[i], responses[i], i in same or equal[i])

        out: list[PoolItem] = []
        n = 0
        for i, parent in enumerate(frontier):
            if reasons[i] is not None:
                result.remove(reasons[i])
                out.append(parent)
                continue
            child = PoolItem(id=f"evol-{generation}-{n}", instruction=rewrites[i],
                             output=responses[i], method="evol_instruct", parents=(parent.id,),
                             operation=operations[i], generation=parent.generation + 1,
                             persona=parent.persona)
            n += 1
            result.keep(child)
            out.append(child)
        return out



__all__ = ["BREADTH", "IN_DEPTH", "OPERATIONS", "TEMPLATE_WORDS", "EqualAnswer", "EvolInstruct",
           "clean_response", "clean_rewrite", "copies_template", "elimination_reason",
           "is_refusal", "method_sentence", "response_failure", "rewrite_failure",
           "stopwords_only"]
