"""Self-Instruct: a pool of instructions bootstrapped from a few seed tasks.

Wang et al., "Self-Instruct: Aligning Language Models with Self-Generated Instructions"
(arXiv 2212.10560). Each request shows the model 8 instructions from the pool (6 seed
tasks, 2 machine-generated ones once there are two) as a numbered list and asks it to
continue the list. New instructions pass the paper's filters (length, keywords a text model
cannot act on, leading punctuation or non-ASCII, "Write a program"), then must have ROUGE-L
below 0.7 against every instruction kept so far (seeds included; checked through
:class:`~synthloom.operators.instruct.rouge_index.RougeLIndex`, not a scan). Each kept one
is asked whether it is a classification task and gets one instance: input-first for
ordinary tasks, output-first (class label, then an input of that class) for classification
tasks, so that inputs do not all fall into one class (section 2.3 of the paper).

:func:`read_seed_tasks` reads a seed pool; :func:`shipped_seed_tasks` loads the 40 tasks
written for synthloom (``data/seed_tasks.jsonl``, Self-Instruct's seed format, about 10 of
them classification tasks).
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from synthloom.errors import UserInputError
from synthloom.llm.base import ChatBackend, ChatRequest, ChatResponse
from synthloom.llm.structured import chat_structured, chat_validated
from synthloom.operators.base import Operator, derived_seed
from synthloom.operators.instruct.pool import PoolItem, PoolResult
from synthloom.operators.instruct.rouge_index import RougeLIndex

#: words whose instructions a text-only model cannot carry out (Self-Instruct's list)
KEYWORDS: tuple[str, ...] = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map",
    "maps", "draw", "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)
_KEYWORD = re.compile(r"\b(" + "|".join(re.escape(k) for k in KEYWORDS) + r")\b", re.IGNORECASE)
_TASK = re.compile(r"^[\s>#*_-]*Task\s*(\d+)\s*[:.)\-]*\**\s*", re.IGNORECASE | re.MULTILINE)
_NUMBERED = re.compile(r"^[\s*]*(\d+)[.)]\**\s+", re.MULTILINE)


class _Classification(BaseModel):
    answer: Literal["yes", "no"]


class _InputFirst(BaseModel):
    input: str
    output: str


class _OutputFirst(BaseModel):
    class_label: str  # first: the label is chosen before the input (output-first)
    input: str


def _fail(where: str, what: str) -> UserInputError:
    return UserInputError(f"{where}: {what}")


def _parse_seed_text(text: str, name: str, txt: bool, method: str) -> list[PoolItem]:
    items: list[PoolItem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}, line {number}"
        if txt:
            items.append(PoolItem(id=f"seed-{len(items)}", instruction=line.strip(),
                                  method=method))
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            raise _fail(where, f"not JSON ({e.msg})") from None
        if not isinstance(value, dict):
            raise _fail(where, "not a JSON object")
        instruction = value.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise _fail(where, 'no "instruction" text')
        instances = value.get("instances")
        first = instances[0] if isinstance(instances, list) and instances else value
        if not isinstance(first, dict):
            raise _fail(where, '"instances" holds something other than JSON objects')
        given, output = first.get("input") or "", first.get("output")
        if not isinstance(given, str) or not (output is None or isinstance(output, str)):
            raise _fail(where, '"input" and "output" must be text')
        label = value.get("is_classification")
        items.append(PoolItem(
            id=f"seed-{len(items)}", instruction=instruction.strip(), input=given,
            output=output, method=method,
            classification=label if isinstance(label, bool) else None))
    if not items:
        raise _fail(name, "no instruction in the file")
    return items


def read_seed_tasks(path: str | Path, *, method: str = "file") -> list[PoolItem]:
    """Read a seed pool: ids ``seed-0``, ``seed-1``... in file order, ``method`` as given.

    Formats: ``.txt``, one instruction per line; anything else JSON Lines, one object per
    line, either Self-Instruct's seed format ``{"instruction": str, "instances": [{"input":
    str, "output": str}, ...], "is_classification": bool, ...}`` (the first instance is kept)
    or ``{"instruction": str, "input"?: str, "output"?: str}``. Blank lines are skipped.

    Raises:
        UserInputError: a missing file, one without instructions, text that is not UTF-8,
            a line that is not a JSON object or has no instruction; the one-line message
            names the file (and the line).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _fail(str(path), "no such file") from None
    except OSError as e:
        raise _fail(str(path), f"cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise _fail(f"{path}, line {line}", "not UTF-8 text") from None
    return _parse_seed_text(text, str(path), path.suffix.lower() == ".txt", method)


def shipped_seed_tasks() -> list[PoolItem]:
    """The 40 seed tasks shipped with synthloom (``method="seed"``; 10 classification)."""
    source = resources.files("synthloom.operators.instruct") / "data" / "seed_tasks.jsonl"
    return _parse_seed_text(source.read_text(encoding="utf-8"), "seed_tasks.jsonl", False,
                            "seed")


def filter_reason(instruction: str) -> str | None:
    """Why Self-Instruct's heuristic filters drop ``instruction``, or None to keep it.

    In the paper's order: ``length`` (<= 3 or > 150 words), ``keyword`` (one of
    :data:`KEYWORDS` as a whole word, any case), ``program`` (starts with "Write a
    program"), ``punctuation`` (starts with an ASCII punctuation mark), ``non_ascii``
    (starts with a non-ASCII character).
    """
    words = len(instruction.split())
    if words <= 3 or words > 150:
        return "length"
    if _KEYWORD.search(instruction):
        return "keyword"
    if instruction.lower().startswith("write a program"):
        return "program"
    if instruction[0] in string.punctuation:
        return "punctuation"
    if not instruction[0].isascii():
        return "non_ascii"
    return None


def parse_tasks(response: ChatResponse, first: int) -> tuple[list[str] | None, str | None]:
    """The new tasks of a numbered-list answer: the ``Task n: ...`` blocks (or, when there
    is none, ``n. ...`` / ``n) ...`` lines) with ``n >= first``, whitespace collapsed and
    wrapping quotes or bold marks removed. Text before the first block (a preamble) and
    repeats of the shown list (``n < first``) are skipped; when the answer was cut at
    ``max_tokens`` its last block is dropped (it may be unfinished). ``(None, reason)``
    when no new task is found."""
    text = response.text
    marks = list(_TASK.finditer(text)) or list(_NUMBERED.finditer(text))
    blocks = [(int(mark.group(1)), text[mark.end():marks[k + 1].start() if k + 1 < len(marks)
                                        else len(text)]) for k, mark in enumerate(marks)]
    if response.finish_reason == "length" and blocks:
        blocks.pop()
    tasks = [" ".join(body.split()).strip('"*').strip() for n, body in blocks if n >= first]
    tasks = [t for t in tasks if t]
    return (tasks, None) if tasks else (None, "no new task in the answer")


class SelfInstruct(Operator):
    """Self-Instruct's bootstrap (arXiv 2212.10560) over a seed pool.

    Each round sends ``requests_per_round`` requests as one batch; request ``i`` of round
    ``r`` shows ``in_context`` instructions in shuffled order: ``in_context -
    seed_in_context`` drawn from the machine-generated ones kept so far (none while fewer
    than that many exist) and the rest from the seeds, chosen by
    ``random.Random(derived_seed(name, seed, "context", r, i))``, and is sampled with seed
    ``derived_seed(name, seed, r, i)``. Its new tasks are filtered (:func:`filter_reason`,
    then ROUGE-L against every kept instruction, seeds included), asked whether they are
    classification tasks (greedy, one structured yes/no request each; a failed answer counts
    as "no") and given one instance each; a task whose instance fails, has an empty output
    or an output equal to its input is removed (``no_instance``) and leaves the index.

    Args:
        backend: the generator LLM.
        seed_tasks: the seed pool (their ``classification`` values, where known, become
            examples for classification identification).
        description: the task area, "" for none; it is the only topic the prompts name.
        unit: what one instruction is called ("task").
        per_request_new: new tasks asked for per request.
        in_context: instructions shown per request.
        seed_in_context: how many of them are seeds once machine tasks exist.
        rouge_threshold: ROUGE-L F at or above which a new instruction is a repeat.
        requests_per_round: requests per round (one backend batch).
        max_rounds: rounds before :meth:`run` stops short of ``count``.
        seed: master seed.
        temperature, top_p: sampling values of task and instance requests.
        templates: overrides of :attr:`templates`.

    Attributes:
        index: the :class:`RougeLIndex` of kept instructions (``exact_comparisons``,
            ``queries`` for reports); its keys are the seeds' ids and ``round-<r>-<j>`` for
            generated ones (their final ``si-<n>`` id is known only after instances).

    Raises:
        ValueError: no seed task, ``seed_in_context`` outside [1, ``in_context``], or a
            count argument < 1.
    """

    name = "instruct.self_instruct"
    version = "1"
    templates = {
        "system": ("You help build a varied set of {unit}s: instructions a person gives an "
                   "AI assistant.{area}"),
        "area": " Every {unit} belongs to this area: {description}",
        "shot": "Task {number}: {instruction}",
        "generate": (
            "Come up with a series of {unit}s.\n\n{tasks}\n\nContinue the list with {new} new "
            "{unit}s, numbered from Task {next} to Task {last}. Make them differ from the ones "
            "above and from each other in topic, wording, length and kind of answer. Each is "
            "one self-contained instruction a person could type. "
            "Write only the list, one \"Task <number>: <instruction>\" per line."),
        "classify_system": "You sort {unit}s by the kind of answer they need.",
        "classify": (
            "Can the {unit} below be regarded as a classification task, one whose answer is "
            "one of a small, fixed set of labels? Answer yes or no.\n\n{examples}"
            "Task: {instruction}\nClassification:"),
        "classify_example": "Task: {instruction}\nClassification: {answer}\n\n",
        "instance_system": ("You write one worked example of a {unit}: an input and the "
                            "correct output.{area}"),
        "input_first": (
            "Task: {instruction}\n\nFirst write an input for this task: the data it works on "
            "(a text, numbers, a list, a question...). Leave the input empty if the task needs "
            "none. Then write the output: a correct, complete response to the task for that "
            "input. Answer in JSON with the fields input and output, in that order."),
        "output_first": (
            "Task: {instruction}\n\nThis task puts its input into one of a fixed set of "
            "class labels. First choose one class label the task can output, then write an "
            "input that belongs to that class. Answer in JSON with the fields class_label and "
            "input, in that order."),
    }

    def __init__(self, backend: ChatBackend, seed_tasks: Sequence[PoolItem], *,
                 description: str = "", unit: str = "task", per_request_new: int = 8,
                 in_context: int = 8, seed_in_context: int = 6, rouge_threshold: float = 0.7,
                 requests_per_round: int = 8, max_rounds: int = 50, seed: int = 0,
                 temperature: float = 0.7, top_p: float = 0.95,
                 templates: Mapping[str, str] | None = None) -> None:
        if not seed_tasks:
            raise ValueError("Self-Instruct needs at least one seed task")
        if not 1 <= seed_in_context <= in_context:
            raise ValueError(f"seed_in_context must be in [1, in_context={in_context}], "
                             f"got {seed_in_context}")
        for label, value in (("per_request_new", per_request_new),
                             ("requests_per_round", requests_per_round),
                             ("max_rounds", max_rounds)):
            if value < 1:
                raise ValueError(f"{label} must be at least 1, got {value}")
        self.use_templates(templates)
        self.backend, self.seeds = backend, list(seed_tasks)
        self.description, self.unit = description.strip(), unit
        self.per_request_new, self.in_context = per_request_new, in_context
        self.seed_in_context, self.requests_per_round = seed_in_context, requests_per_round
        self.max_rounds, self.seed = max_rounds, seed
        self.temperature, self.top_p = temperature, top_p
        self.index = RougeLIndex(rouge_threshold, seed=seed)
        for item in self.seeds:
            self.index.add(item.id, item.instruction)

    def _area(self) -> str:
        return (self.templates["area"].format(unit=self.unit, description=self.description)
                if self.description else "")

    def shown(self, machine: Sequence[PoolItem], round_: int,
              i: int) -> tuple[list[PoolItem], tuple[str, ...]]:
        """The in-context instructions of request ``i`` of round ``round_``, in prompt
        order, and the ids of those drawn from ``machine`` (the machine-generated items
        kept so far)."""
        rng = random.Random(derived_seed(self.name, self.seed, "context", round_, i))
        n_machine = self.in_context - self.seed_in_context
        # as the reference code: min(2, available) machine tasks, the rest seeds
        picked = rng.sample(list(machine), min(n_machine, len(machine)))
        parents = tuple(p.id for p in picked)
        picked += rng.sample(self.seeds, min(len(self.seeds), self.in_context - len(picked)))
        rng.shuffle(picked)
        return picked, parents

    def _generate_request(self, shown: Sequence[PoolItem], round_: int, i: int) -> ChatRequest:
        tasks = "\n".join(self.templates["shot"].format(number=k + 1, instruction=item.instruction)
                          for k, item in enumerate(shown))
        first, last = len(shown) + 1, len(shown) + self.per_request_new
        request = self.request(
            self.templates["system"].format(unit=self.unit, area=self._area()),
            self.templates["generate"].format(unit=self.unit, tasks=tasks, new=self.per_request_new,
                                              next=first, last=last),
            temperature=self.temperature, top_p=self.top_p,
            max_tokens=96 * self.per_request_new + 32,
            seed=derived_seed(self.name, self.seed, round_, i))
        stop = self.templates["shot"].format(number=last + 1, instruction="").strip()
        return request.model_copy(update={"sampling": request.sampling.model_copy(
            update={"stop": (stop,)})})

    def _classify(self, instructions: list[str], round_: int) -> list[bool]:
        examples = [s for s in self.seeds if s.classification is not None]
        shots = ([s for s in examples if s.classification][:3]
                 + [s for s in examples if not s.classification][:3])
        text = "".join(self.templates["classify_example"].format(
            instruction=s.instruction, answer="yes" if s.classification else "no")
            for s in sorted(shots, key=self.seeds.index))
        system = self.templates["classify_system"].format(unit=self.unit)
        requests = [self.request(system, self.templates["classify"].format(
            unit=self.unit, examples=text, instruction=instruction), temperature=0.0,
            top_p=1.0, max_tokens=24, seed=derived_seed(self.name, self.seed, round_,
                                                        "classify", j))
            for j, instruction in enumerate(instructions)]
        results = chat_structured(self.backend, requests, _Classification, max_attempts=2)
        return [r.value is not None and r.value.answer == "yes" for r in results]

    def _instances(self, instructions: list[str], labels: list[bool],
                   round_: int) -> list[tuple[str, str] | None]:
        system = self.templates["instance_system"].format(unit=self.unit, area=self._area())
        jobs: dict[bool, list[int]] = {False: [], True: []}
        for j, label in enumerate(labels):
            jobs[label].append(j)
        out: list[tuple[str, str] | None] = [None] * len(instructions)
        for label, model, key in ((False, _InputFirst, "input_first"),
                                  (True, _OutputFirst, "output_first")):
            requests = [self.request(system, self.templates[key].format(
                instruction=instructions[j]), temperature=self.temperature, top_p=self.top_p,
                max_tokens=768, seed=derived_seed(self.name, self.seed, round_, "instance", j))
                for j in jobs[label]]
            results = chat_structured(self.backend, requests, model, max_attempts=2)
            for j, result in zip(jobs[label], results, strict=True):
                value: Any = result.value
                if value is None:
                    continue
                given = value.input.strip()
                output = (value.class_label if label else value.output).strip()
                if output and output != given:
                    out[j] = (given, output)
        return out

    def run(self, count: int,
            on_progress: Callable[[int, int], None] | None = None) -> PoolResult:
        """Bootstrap until ``count`` new instructions are kept or ``max_rounds`` rounds ran.

        Returns:
            A :class:`PoolResult` with the new items only (``method="self_instruct"``, ids
            ``si-<n>`` from 0, ``parents`` = ids of the machine-generated instructions shown
            with it) and the removals by reason (``length``, ``keyword``, ``program``,
            ``punctuation``, ``non_ascii``, ``rouge_l``, ``no_instance``, and
            ``unparsable`` per answer without any task). Candidates after the last one
            needed in the final round are not looked at.

        Raises:
            ValueError: ``count`` < 1.
            BackendError: the backend failed a request after its own retries.
        """
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        result = PoolResult()
        for round_ in range(self.max_rounds):
            if len(result.items) >= count:
                break
            drawn = [self.shown(result.items, round_, i)
                     for i in range(self.requests_per_round)]
            requests = [self._generate_request(s, round_, i) for i, (s, _) in enumerate(drawn)]
            first = len(drawn[0][0]) + 1  # every request of a round shows as many
            answers = chat_validated(self.backend, requests,
                                     partial(parse_tasks, first=first), max_attempts=1)
            taken: list[tuple[str, tuple[str, ...]]] = []  # (instruction, parents)
            need = count - len(result.items)
            for (_, parents), answer in zip(drawn, answers, strict=True):
                if len(taken) >= need:
                    break
                if answer.value is None:
                    result.remove("unparsable")
                    continue
                for instruction in answer.value:
                    if len(taken) >= need:
                        break
                    reason = filter_reason(instruction)
                    if reason is None and self.index.find(instruction) is not None:
                        reason = "rouge_l"
                    if reason is not None:
                        result.remove(reason)
                        continue
                    self.index.add(f"round-{round_}-{len(taken)}", instruction)
                    taken.append((instruction, parents))
            texts = [t for t, _ in taken]
            labels = self._classify(texts, round_) if texts else []
            instances = self._instances(texts, labels, round_) if texts else []
            for j, ((text, parents), label, instance) in enumerate(
                    zip(taken, labels, instances, strict=True)):
                if instance is None:
                    result.remove("no_instance")
                    self.index.remove(f"round-{round_}-{j}")
                    continue
                result.keep(PoolItem(
                    id=f"si-{len(result.items)}", instruction=text, input=instance[0],
                    output=instance[1], method="self_instruct", parents=parents,
                    classification=label))
            if on_progress is not None:
                on_progress(len(result.items), count)
        return result


__all__ = ["KEYWORDS", "SelfInstruct", "filter_reason", "parse_tasks", "read_seed_tasks",
           "shipped_seed_tasks"]
