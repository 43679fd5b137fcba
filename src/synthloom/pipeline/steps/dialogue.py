"""Steps of the ``dialogue`` kind: DiaSynth (Suresh et al., arXiv 2409.19020) on the engine.

======================  =========  ==================================================
step                    role       what it does (artifact)
======================  =========  ==================================================
``dialogue.subtopics``  plan       m subtopics per topic, ROUGE-L filtered (subtopics)
``dialogue.personas``   plan       p personas per subtopic, same filter
                                   (dialogue_personas)
``dialogue.drafts``     draft      one draft per persona pair (C(p, 2)) per subtopic,
                                   by quota per topic
``dialogue.write``      generate   characteristics, chain of thought, the dialogue
``dialogue.summary``    transform  a 2-shot summary of each dialogue
======================  =========  ==================================================

The topics are the task's (``task.topics``, else its description). The ablation arms of
the paper are recipes without a step or with an option off: no ``dialogue.subtopics``
(dialogues straight from the topic), no ``dialogue.personas`` (two named speakers without
personas, ``per_subtopic`` dialogues each), ``dialogue.write`` with ``characteristics:
false`` (no characteristic list and no chain of thought).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, PrivateAttr

from synthloom.errors import GenerationError, UserInputError
from synthloom.operators.base import identity_provenance, with_step
from synthloom.operators.dialogue.diasynth import (
    BUILTIN_EXAMPLE,
    DialogueSpec,
    DialogueSummary,
    DialogueWriter,
    read_example_dialogues,
)
from synthloom.operators.dialogue.layers import (
    DialoguePersonas,
    ListSubject,
    SubtopicGeneration,
    distinct_names,
    persona_lists,
)
from synthloom.operators.dialogue.parsing import speaker_names
from synthloom.operators.dialogue.plan import DialoguePlanner
from synthloom.pipeline.steps.base import (
    PlanRun,
    StepConfig,
    StepContext,
    file_fingerprint,
    register_step,
)
from synthloom.records import Record
from synthloom.tasks import quotas
from synthloom.tasks.dialogue import ROLES, transcript

_KINDS = frozenset({"dialogue"})


def topics_of(ctx: StepContext) -> list[str]:
    """The recipe's topics (``task.topics``, else its description)."""
    task = ctx.recipe.task
    return task.topic_list() if hasattr(task, "topic_list") else [task.description]


@register_step
class SubtopicsStep(StepConfig):
    """DiaSynth step 2: ``count`` subtopics per topic from a few-shot list prompt, each kept
    only if its ROUGE-L F with every kept subtopic of its topic is below
    ``rouge_threshold``. A topic that gets none keeps itself as its one subtopic (listed
    in the artifact's ``fallback``).

    Attributes:
        count: subtopics per topic (m, at most 20).
        rouge_threshold: ROUGE-L F at or above which a subtopic repeats a kept one.
        rounds: requests per topic at most (later ones list the kept subtopics to avoid).
        temperature: sampling temperature (the paper: 0.1).

    The artifact ``plan/subtopics.json``: ``{"topics": {topic: [subtopic, ...]},
    "dropped": [{"list", "text", "duplicate_of", "rouge_l"}], "removed": {reason: count},
    "fallback": [topic, ...], "requests": int}``.
    """

    type: Literal["dialogue.subtopics"] = "dialogue.subtopics"
    count: int = Field(default=5, ge=1, le=20, strict=True)
    rouge_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    rounds: int = Field(default=2, ge=1, le=10, strict=True)
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    role = "plan"
    reads = frozenset({"topics"})
    writes = frozenset({"subtopics"})
    operators = (SubtopicGeneration,)
    kinds = _KINDS
    artifact = "subtopics"

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            topics = topics_of(ctx)
            op = SubtopicGeneration(
                ctx.backend, count=self.count, threshold=self.rouge_threshold,
                rounds=self.rounds, temperature=self.temperature,
                top_p=ctx.recipe.sampling.top_p, seed=ctx.recipe.seed,
                templates=ctx.templates(SubtopicGeneration))
            result = op.run([ListSubject((t,), t) for t in topics])
            fallback = [t for t in topics if not result.items[t]]
            return {"topics": {t: result.items[t] or [t] for t in topics},
                    "dropped": result.dropped, "removed": dict(sorted(result.removed.items())),
                    "fallback": fallback, "requests": result.requests}

        return PlanRun(run)


@register_step
class DialoguePersonasStep(StepConfig):
    """DiaSynth step 3: ``count`` personas per subtopic (per topic without a
    ``dialogue.subtopics`` step). ``generated``: a few-shot list prompt, each persona kept
    only if its ROUGE-L F with every kept one of its topic (``repeat_scope: topic``, the
    default: a person written for one subtopic is not written again for the next) or of its
    subtopic alone (``subtopic``, the paper's filter) is below ``rouge_threshold`` (a list
    short of two is filled with sampled personas, listed in ``fallback``);
    ``sampled``: from synthloom's persona variables (occupation, expertise, age band, Big
    Five traits; :func:`~synthloom.operators.instruct.persona_hub.sampled_personas`);
    ``pool``: drawn from the pool of a ``personas.pool`` step (a file of the user's).

    Attributes:
        source: ``generated``, ``sampled`` or ``pool``.
        count: personas per subtopic (p, 2..20): C(p, 2) pairs, one dialogue each.
        rouge_threshold, rounds, temperature: as for ``dialogue.subtopics``.
        repeat_scope: ``topic`` or ``subtopic``: which personas a new one is compared with.

    The artifact ``plan/dialogue_personas.json``: ``{"personas": {topic: {subtopic:
    [persona, ...]}}, "source", "dropped", "removed", "fallback": ["topic/subtopic", ...],
    "renamed": [{"from", "to"}, ...]}`` (``renamed``: generated personas whose first name
    their topic already used, :func:`~synthloom.operators.dialogue.layers.distinct_names`)
    (the inner key is the topic itself without subtopics).
    """

    type: Literal["dialogue.personas"] = "dialogue.personas"
    source: Literal["generated", "sampled", "pool"] = "generated"
    count: int = Field(default=4, ge=2, le=20, strict=True)
    rouge_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    rounds: int = Field(default=2, ge=1, le=10, strict=True)
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    repeat_scope: Literal["topic", "subtopic"] = "topic"
    role = "plan"
    reads = frozenset({"topics"})
    writes = frozenset({"dialogue_personas"})
    operators = (DialoguePersonas,)
    kinds = _KINDS
    artifact = "dialogue_personas"

    def needs(self) -> frozenset[str]:
        return self.reads | ({"personas"} if self.source == "pool" else set())

    def check_steps(self, index: int, steps: Sequence[StepConfig]) -> None:
        """The subtopics must exist before their personas are written."""
        if any(s.type == "dialogue.subtopics" for s in steps[index + 1:]):
            raise ValueError(f"steps.{index} (dialogue.personas): put dialogue.subtopics "
                             "before it (personas are written per subtopic)")

    def build(self, ctx: StepContext) -> Any:
        def run(artifacts: dict[str, Any]) -> dict[str, Any]:
            seed = ctx.recipe.seed
            subtopics = (artifacts.get("subtopics") or {}).get("topics")
            keys = [(t, s) for t in topics_of(ctx) for s in (subtopics or {}).get(t) or [t]]
            out: dict[str, Any] = {"source": self.source}
            found: dict[str, list[str]] = {}
            if self.source == "generated":
                op = DialoguePersonas(
                    ctx.backend, count=self.count, threshold=self.rouge_threshold,
                    rounds=self.rounds, temperature=self.temperature,
                    top_p=ctx.recipe.sampling.top_p, seed=seed,
                    templates=ctx.templates(DialoguePersonas),
                    scope=1 if self.repeat_scope == "topic" else None)
                result = op.run([ListSubject((t, s), s if s == t else f"{s} (topic: {t})")
                                 for t, s in keys])
                found = result.items
                out.update(dropped=result.dropped, requests=result.requests,
                           removed=dict(sorted(result.removed.items())))
            pool = [str(p) for p in artifacts.get("personas") or []]
            if self.source == "pool" and len(pool) < 2:
                raise GenerationError("the personas pool holds fewer than 2 personas")
            people, fallback = persona_lists(keys, self.source, self.count, seed,
                                             generated=found, pool=pool)
            if self.source == "generated":
                people, out["renamed"] = distinct_names(people, seed)
            return {**out, "personas": people, "fallback": fallback}

        return PlanRun(run)


class _DialogueDrafts:
    """The draft step's runtime object over a :class:`DialoguePlanner`."""

    def __init__(self, config: DialogueDraftsStep, ctx: StepContext) -> None:
        self.config, self.ctx = config, ctx
        self.topics = topics_of(ctx)
        self.planner: DialoguePlanner  # set by start()

    def start(self, artifacts: dict[str, Any]) -> None:
        """Lay out every topic's slots (GenerationError when there are none at all)."""
        r = self.ctx.recipe
        self.planner = DialoguePlanner(
            r.task.name, self.topics, (artifacts.get("subtopics") or {}).get("topics"),
            (artifacts.get("dialogue_personas") or {}).get("personas"),
            per_subtopic=self.config.per_subtopic, seed=r.seed, recipe_sha256=r.sha256(),
            operator=self.config.type)
        if not self.planner.size():
            raise GenerationError("no dialogue to draft: no topic has a slot")

    def quotas(self, n: int) -> dict[str, int]:
        return self.config.quotas(self.topics, n)

    def max_drafts(self, n: int) -> int:
        """``n * max_drafts_factor``, and at most one draft per slot."""
        return min(self.planner.size(), int(n * self.config.max_drafts_factor))

    def next_strata(self, quotas: dict[str, int], counts: dict[str, int], k: int) -> list[str]:
        return self.planner.next_topics(quotas, counts, k)

    def draft(self, index: int, stratum: str, stratum_index: int) -> Record:
        return self.planner.draft(index, stratum, stratum_index)

    @staticmethod
    def stratum_of_draft(draft: Record) -> str:
        return str(draft.inputs.get("topic") or "")


@register_step
class DialogueDraftsStep(StepConfig):
    """DiaSynth's dialogue plan: one draft per persona pair (C(p, 2)) per subtopic, a
    topic's slots taken round-robin over its subtopics, until the topic's quota of the
    recipe's ``n`` is met (so ``n`` caps the pairs). Without personas, ``per_subtopic``
    drafts per subtopic with two named speakers. Each draft's speaker names are the
    personas' own first names, else generic ones (deterministic).

    Attributes:
        per_subtopic: drafts per subtopic when there are no personas.
        max_drafts_factor: stop after ``n * factor`` drafts (or when the slots run out), so
            rejected dialogues are made up by later slots.
    """

    type: Literal["dialogue.drafts"] = "dialogue.drafts"
    per_subtopic: int = Field(default=6, ge=1, le=200, strict=True)
    max_drafts_factor: float = Field(default=1.5, ge=1.0)
    role = "draft"
    reads = frozenset({"topics"})
    writes = frozenset({"drafts", "topic", "subtopic", "personas"})
    kinds = _KINDS

    def quotas(self, strata: list[str], n: int) -> dict[str, int]:
        """Dialogues wanted per topic: ``n`` split evenly."""
        return quotas(strata, n)

    def build(self, ctx: StepContext) -> Any:
        return _DialogueDrafts(self, ctx)


class _Write:
    """The write step's runtime object."""

    def __init__(self, config: WriteStep, ctx: StepContext) -> None:
        r = ctx.recipe
        self.config, self.description = config, " ".join(r.task.description.split())
        self.op = DialogueWriter(
            ctx.backend, characteristics=config.characteristics, min_turns=config.min_turns,
            max_tokens=config.max_tokens, temperature=config.temperature,
            top_p=r.sampling.top_p, max_attempts=config.max_attempts, seed=r.seed,
            templates=ctx.templates(DialogueWriter))
        self.examples = config.example_dialogues()
        self.ident = identity_provenance(ctx.backend.identity)

    def _spec(self, record: Record) -> DialogueSpec:
        detail = record.provenance.operators[0].detail if record.provenance.operators else {}
        personas = record.inputs.get("personas")
        personas = (str(personas[0]), str(personas[1])) if personas and len(personas) == 2 \
            else None
        names = detail.get("speakers") or speaker_names(personas, record.provenance.plan.id)
        shown: list[str] = []
        if self.examples and self.config.examples:
            start = int(detail.get("index", 0)) * self.config.examples
            shown = [self.examples[(start + k) % len(self.examples)]
                     for k in range(min(self.config.examples, len(self.examples)))]
        return DialogueSpec(key=record.provenance.plan.id or record.id,
                            topic=str(record.inputs.get("topic") or self.description),
                            subtopic=record.inputs.get("subtopic"),
                            names=(str(names[0]), str(names[1])), personas=personas,
                            examples=shown)

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with their dialogue, or rejected with the reason."""
        out = list(records)
        todo = [i for i, r in enumerate(records) if not (
            r.provenance.operators and r.provenance.operators[0].detail.get("exhausted"))]
        for i in set(range(len(records))) - set(todo):
            r = with_step(records[i], self.op.step("rejected", attempt=attempt))
            out[i] = r.reject(self.op.name, f"topic {r.inputs.get('topic')!r} has no slot "
                              "left (every subtopic and persona pair is drafted)")
        specs = [self._spec(records[i]) for i in todo]
        for i, spec, result in zip(todo, specs, self.op.run(specs, attempt), strict=True):
            detail: dict[str, Any] = {"attempt": attempt}
            if result.failed_tries:
                detail["failed_tries"] = result.failed_tries
            parsed = result.parsed
            r = with_step(records[i], self.op.step(
                "rejected" if parsed is None else "generated",
                **detail, **({"turns": len(parsed.turns), "notes": parsed.notes}
                             if parsed else {})),
                sampling=self.op.sampling(), **self.ident)
            if parsed is None:
                out[i] = r.reject(self.op.name, f"{result.reason} (after "
                                  f"{len(result.failed_tries)} tries)")
                continue
            inputs = dict(r.inputs)
            if self.config.characteristics:
                inputs["characteristics"] = parsed.characteristics
            plan = r.provenance.plan.model_copy(update={
                "characteristics": parsed.characteristics})
            out[i] = r.model_copy(update={
                "inputs": inputs,
                "outputs": {"messages": [{"role": ROLES[who], "content": text}
                                         for who, text in parsed.turns],
                            "speakers": list(spec.names), "reasoning": parsed.reasoning},
                "provenance": r.provenance.model_copy(update={"plan": plan})})
        return out


@register_step
class WriteStep(StepConfig):
    """DiaSynth step 4: the dialogue of each draft. The prompt holds example dialogues,
    the two speakers (with their personas), the subtopic, DiaSynth's characteristic list
    and a chain-of-thought instruction (``<cot>``, then ``<dialogue>`` with ``Name: text``
    lines). Speaker A becomes the ``user`` of ``messages``, B the ``assistant``; the
    characteristics read off the chain of thought go to ``inputs.characteristics`` and
    ``plan.characteristics``. A dialogue with fewer than ``min_turns`` turns or one
    speaker is asked again (``max_attempts``), then rejected with the reason.

    Attributes:
        characteristics: show the characteristics and ask for the chain of thought; false
            asks for the dialogue only (the ablation without characteristics and CoT).
        min_turns: turns a dialogue has at least.
        max_tokens: the answer's cap, in tokens (the chain of thought included).
        temperature: sampling temperature (the paper: 0.2).
        max_attempts: tries per draft before rejecting it.
        file: example dialogues (``.txt``: separated by blank lines; ``.jsonl``:
            ``{"dialogue": str}``), read when the recipe loads; it enters the fingerprint
            by content. None shows one short example written for synthloom.
        examples: example dialogues shown per prompt (rotated over the file); 0: none.
    """

    type: Literal["dialogue.write"] = "dialogue.write"
    characteristics: bool = True
    min_turns: int = Field(default=4, ge=2, le=50, strict=True)
    max_tokens: int = Field(default=700, ge=64, le=8192, strict=True)
    temperature: float = Field(default=0.2, ge=0.0, le=2.0)
    max_attempts: int = Field(default=2, ge=1, le=5, strict=True)
    file: str | None = None
    examples: int = Field(default=1, ge=0, le=8, strict=True)
    role = "generate"
    reads = frozenset({"drafts", "topic"})
    writes = frozenset({"messages", "speakers", "reasoning", "characteristics"})
    operators = (DialogueWriter,)
    kinds = _KINDS

    _examples: list[str] | None = PrivateAttr(default=None)

    def check_task(self, task: Any) -> None:
        """Read the example file now: a bad file is a ValueError when the recipe loads."""
        if self.file is not None:
            try:
                self._examples = read_example_dialogues(self.file)
            except UserInputError as e:
                raise ValueError(str(e)) from None

    def example_dialogues(self) -> list[str]:
        """The example dialogues: the file's, else the built-in one."""
        if self.file is None:
            return [BUILTIN_EXAMPLE]
        if self._examples is None:
            self._examples = read_example_dialogues(self.file)
        return self._examples

    def fingerprint_data(self) -> dict[str, Any]:
        return file_fingerprint(self)

    def build(self, ctx: StepContext) -> Any:
        return _Write(self, ctx)


class _Summary:
    """The summary step's runtime object."""

    def __init__(self, config: SummaryStep, ctx: StepContext) -> None:
        self.op = DialogueSummary(ctx.backend, max_tokens=config.max_tokens,
                                  temperature=config.temperature,
                                  top_p=ctx.recipe.sampling.top_p,
                                  max_attempts=config.max_attempts, seed=ctx.recipe.seed,
                                  templates=ctx.templates(DialogueSummary))

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with ``outputs.summary``; a record whose summary failed is kept
        without one (the step's verdict ``no summary`` gives the reason)."""
        todo = [i for i, r in enumerate(records) if r.outputs.get("messages")]
        found = dict(zip(todo, self.op.run(
            [(records[i].provenance.plan.id or records[i].id, transcript(records[i]))
             for i in todo], attempt), strict=True))
        out = []
        for i, r in enumerate(records):
            summary, reason = found.get(i, (None, "no dialogue"))
            r = with_step(r, self.op.step("summarised" if summary else "no summary",
                                          attempt=attempt, **({"reason": reason}
                                                              if reason else {})))
            out.append(r.model_copy(update={"outputs": {**r.outputs, "summary": summary}})
                       if summary else r)
        return out


@register_step
class SummaryStep(StepConfig):
    """DiaSynth step 5: a summary of each dialogue, from a 2-shot summariser prompt
    (``outputs.summary``; the ``dialogsum`` export layout pairs it with the dialogue).

    Attributes:
        temperature: sampling temperature (the paper: 0.3).
        max_tokens: the summary's cap, in tokens.
        max_attempts: tries per dialogue before keeping it without a summary.
    """

    type: Literal["dialogue.summary"] = "dialogue.summary"
    temperature: float = Field(default=0.3, ge=0.0, le=2.0)
    max_tokens: int = Field(default=160, ge=16, le=2048, strict=True)
    max_attempts: int = Field(default=2, ge=1, le=5, strict=True)
    role = "transform"
    reads = frozenset({"messages"})
    writes = frozenset({"summary"})
    operators = (DialogueSummary,)
    kinds = _KINDS

    def build(self, ctx: StepContext) -> Any:
        return _Summary(self, ctx)
