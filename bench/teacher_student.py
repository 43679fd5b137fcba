"""Benchmark: can a student trained on enough teacher-labelled real texts beat its teacher?

Shang et al. (Walmart), "Student Beats Teacher", arXiv 2505.07105: small students trained
on an LLM teacher's labels of real, unlabelled inputs matched or beat the teacher once they
had enough of them. This reproduces
the comparison with synthloom's teacher (``synthloom label``: LLM prompts and rules voting,
a label model combining the votes; :mod:`synthloom.labelling`) and its students (TF-IDF or
MiniLM + logistic regression; :mod:`synthloom.evaluate.students`), scored on held-out HUMAN
labels. Issue 16.

Run by hand, one domain at a time, never beside another LLM job (a rerun reads every
answer from the run folders' caches, so an interrupted run continues where it stopped)::

    nice .venv/bin/python bench/teacher_student.py --domain bbc      # BBC News, 5 topics
    nice .venv/bin/python bench/teacher_student.py --domain vader    # VADER tweets, +/-
    .venv/bin/python bench/teacher_student.py --domain bbc --scripted   # no LLM, seconds

Options: ``--base N`` (default: bbc 20, vader 50), ``--multipliers 1,4,16``, ``--seeds 3``,
``--test-size N`` (default: bbc 160, vader 400; 0: the whole test split), ``--test-fraction
0.3``, ``--dev N`` (40), ``--pool N`` (texts the teacher labels; default: the largest
size), ``--students tfidf-lr,embedding-lr``, ``--model M`` / ``--base-url URL`` (the
teacher's LLM), ``--recipe R``, ``--max-records N`` (a stratified subsample of the domain,
for quick checks), ``--resamples 1000``, ``--seed 13``, ``-o out/bench/teacher_student``;
``--scripted`` (alias ``--dry-run``) with ``--oracle-accuracy P``.

Domains:

- ``bbc``: BBC News, 5 topics (2,127 articles once duplicates are dropped;
  :func:`synthloom.datasets.load_bbc_news`), ``recipes/teacher_label_bbc.yaml`` (two LLM
  prompts, two keyword rules).
- ``vader``: VADER's tweets (Hutto & Gilbert, ICWSM 2014; 3,432 tweets whose mean rating of
  about 20 people is at least +0.5, ``positive``, or at most -0.5, ``negative``; 2,345 /
  1,087; :func:`synthloom.vader.load_vader`), ``recipes/teacher_label_vader.yaml`` (two LLM
  prompts worded from the task description, two emoticon/word rules). The tweets rather
  than the largest set (10,070 film-review sentences) because they are the short,
  informal texts the description was written for, and their prompts are the cheapest;
  the pool (2,402 tweets) is larger than any default size.

Steps:

1. **Splits** (seeded, :func:`synthloom.datasets.stratified_split`): a human-labelled TEST
   split (``--test-fraction``, stratified), of which a stratified ``--test-size`` sample is
   kept (the teacher labels every test text, so its size is LLM time); the rest is the
   POOL, in a seeded random order, whose labels the teacher never sees. The first
   ``--pool`` pool texts are teacher-labelled (the LABELLED POOL); the first ``--dev`` of
   those carry their human label in a ``dev_label`` column, which the label run reads as
   ``--test-labels``: with ``method: auto`` and at least three labellers, half of them
   (the recipe's ``dev_fraction``) choose majority vote or Dawid-Skene and the other half
   score the teacher in the pool run's manifest (reported as ``teacher on dev``).
2. **Teacher on the pool**: :func:`synthloom.labelling.label` (the code path of
   ``synthloom label``) over ``data/pool-*.jsonl`` with ``limit`` = the labelled pool, in
   ``runs/<model>/pool-*``, resumed on every rerun.
3. **Teacher on TEST**: a second label run over the test texts alone (no label column in
   the file), with the label model the pool run chose (``auto`` replaced by it, so no test
   label can choose it). Its labels are the teacher's predictions: accuracy and macro-F1
   with bootstrap 95% intervals; a text given no label counts as wrong. Each labeller's
   own votes are scored the same way.
4. **Students**: for each seed a random permutation of the labelled pool; the student at
   size n trains on its first n texts (nested subsets), sizes ``--base`` x each
   multiplier, capped at the labelled pool (said in the output). Five training sets per
   (student, size, seed): the label model's labels with trust weights and without, the
   first LLM labeller's labels alone with its probability of them as weight and without
   (the effect of the label model), and the same texts' HUMAN labels (the upper
   reference). A text the teacher gave no label is left out of its set. Scores on TEST:
   the mean over seeds with a bootstrap 95% interval over test texts
   (:func:`synthloom.evaluate.bootstrap.runs_ci`), the seeds' range, and the paired
   difference with the student's own teacher (the label model, or the first LLM labeller
   for its arm; the label model for the human arm). Baseline: the majority class of the
   pool's human labels.
5. **Crossing**: the smallest size whose paired student - teacher interval lies above 0
   (on accuracy and on macro-F1), or "not crossed". The interval covers the test sample
   given the fitted students, not another draw of the pool; at the largest size every
   seed trains on the whole labelled pool (seeds differ only in the student's seed, which
   leaves the logistic regressions unchanged) unless ``--pool`` is larger.

Output: markdown tables on stdout and in ``<out>/<domain>/results-<model>.md``, everything
with the settings in ``results-<model>.json``; pool and test files in ``<out>/<domain>/data``,
label runs in ``<out>/<domain>/runs/<model>/``. A run reuses the answers its sibling run
folders' caches hold for identical requests (:class:`SiblingAnswers`), so changing
``--base``, ``--pool`` or ``--dev`` asks the LLM only about the new texts.

**Scripted mode** (``--scripted``/``--dry-run``): the LLM is replaced by
:class:`OracleBackend`, a deterministic noisy ORACLE that is NOT an LLM: each LLM labeller
answers the true label with probability ``--oracle-accuracy`` (default 0.8) and otherwise a
uniformly drawn other label, independently per labeller and text, with a made-up confidence
(0.55-0.95 on its answer) as token log-probabilities. It tests the script's logic end to
end in seconds; its numbers say nothing about an LLM, and every table says so.

**Cost on the embedded Qwen2.5-Coder-0.5B (2 cores).** LLM calls = (labelled pool + test
texts) x LLM labellers (2 in both recipes) x (1 + the share of answers that are not a label
and are asked again; expected under 10%). A call's prompt is the system prompt (task
description), the label list, the text cut to ``max_words`` and the question; the part
before the text is the same for every request of a labeller, and the batched decoder
copies it between sequences (llama.cpp KV cache) instead of evaluating it again, so each
call evaluates mostly its text and question, at ~100-150 prompt tokens/s, then generates
1-3 tokens (~0.1-0.2 s per call at ``parallel`` 8). Prompt sizes counted with the model's
own tokenizer (vocabulary only, no inference; 100 random texts, chat template ~15 tokens):

=======  ===========================  ===============  ===============  ==============
domain   labeller                     prompt tokens    shared prefix    evaluated
=======  ===========================  ===============  ===============  ==============
bbc      topic (labels described)     358 (324-405)    ~137             ~221
bbc      section (names only)         288 (254-335)    ~63              ~225
vader    sentiment (labels described) 138 (122-160)    ~96              ~42
vader    feeling (names only)         101 (85-123)     ~54              ~47
=======  ===========================  ===============  ===============  ==============

- bbc: ~1.6-2.5 s per call. Defaults (base 20: sizes 20, 80, 320; 160 test): 480 articles,
  960 calls (+ retries): ~26-40 min, ~33 at 125 tokens/s.
- vader: ~0.4-0.7 s per call (~0.8-1.3 s if no prefix were shared). Defaults (base 50:
  sizes 50, 200, 800; 400 test): 1,200 tweets, 2,400 calls (+ retries): ~16-28 min
  (~32-52 min without prefix sharing: check ``prompt_tokens_evaluated`` in the runs).

Machines of one kind differ by up to 2x from day to day (DESIGN.md): compare the
``wall_seconds_per_call`` the output reports with these figures before a longer run.
Students and bootstrap then take a minute or two (MiniLM embeds each text once; its
vectors are cached on disk).

Raises (as a command: one line, exit 2): unknown domain or student, a recipe that is not
``teacher_label`` or has no LLM labeller, human labels outside the recipe's labels,
``--dev`` not below the labelled pool, a run folder holding another recipe's run (use
another ``-o`` or delete the folder). An LLM failure exits 1 and Ctrl-C 130, each with one
line; finished records and answers stay in the run folders for the rerun.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthloom.datasets import load_real, stratified_sample, stratified_split
from synthloom.errors import GenerationError, UserInputError
from synthloom.evaluate.bootstrap import runs_ci
from synthloom.evaluate.distillation import teacher_training_rows
from synthloom.evaluate.students import fit_student, make_student
from synthloom.labelling import label
from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    TokenUsage,
)
from synthloom.llm.cache import cache_key
from synthloom.operators.base import derived_seed
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.pipeline.steps.label_model import vote_vector
from synthloom.pipeline.steps.teacher_label import labeller_names
from synthloom.records import Record, read_jsonl

ROOT = Path(__file__).resolve().parents[1]
OUT = Path("out/bench/teacher_student")
NOT_AN_LLM = "scripted oracle, NOT an LLM"
DEV_COLUMN = "dev_label"


@dataclass(frozen=True)
class Domain:
    """One benchmark domain.

    Attributes:
        source: the named real source (:func:`synthloom.datasets.load_real`).
        recipe: its ``teacher_label`` recipe.
        base, test_size, dev: default ``--base``, ``--test-size``, ``--dev`` (fit ~30-40
            minutes of the embedded 0.5B model; module docstring).
    """

    source: str
    recipe: Path
    base: int
    test_size: int
    dev: int


DOMAINS: dict[str, Domain] = {
    "bbc": Domain("bbc_news", ROOT / "recipes" / "teacher_label_bbc.yaml", 20, 160, 40),
    "vader": Domain("vader_tweets", ROOT / "recipes" / "teacher_label_vader.yaml", 50, 400, 40),
}
"""``--domain`` -> :class:`Domain`."""


# ------------------------------------------------------------------ the scripted oracle


class OracleBackend:
    """A deterministic noisy ORACLE labeller in place of the LLM (NOT an LLM).

    Finds the text of a labelling request in its user message (the labeller shows it cut to
    ``max_words`` words; the longest known text whose first words appear there wins), then
    answers its true label with probability ``accuracy`` and otherwise a uniformly drawn
    other label. The draw depends on the request's sampler seed (each labeller has its
    own) and the text, so labellers err independently and a rerun answers the same. The
    answer's first token gets a confidence drawn from 0.55-0.95, the other labels share the
    rest (``top_logprobs``, natural logs), whether the answer is right or not.

    Args:
        gold: text -> true label (every text a request may show).
        labels: the label set.
        accuracy: probability of the true label, 0..1.
        seed: mixed into every draw.

    Attributes:
        identity: ``backend="scripted-oracle"``, ``model="oracle-p<accuracy>"`` (part of
            cache keys: another accuracy never reuses an answer).
        usage: calls and words (``tokens_in``: words of the messages).
        not_found: requests whose text was not found (answered with a non-label: the
            labeller asks again, then abstains).
    """

    def __init__(
        self, gold: Mapping[str, str], labels: Sequence[str], accuracy: float, seed: int = 0
    ) -> None:
        if not 0.0 <= accuracy <= 1.0:
            raise UserInputError(f"--oracle-accuracy must be in [0, 1], got {accuracy}")
        self.labels, self.accuracy, self.seed = list(labels), accuracy, seed
        self.identity = BackendIdentity(backend="scripted-oracle", model=f"oracle-p{accuracy:g}")
        self.usage = TokenUsage()
        self.preferred_batch = 32
        self.not_found = 0
        self._by_first: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for text, label_ in gold.items():
            words = tuple(text.split())
            if words:
                self._by_first.setdefault(words[0], []).append((words, text, label_))

    def find(self, content: str) -> tuple[str, str] | None:
        """``(text, true label)`` of the known text shown in ``content``, or None."""
        words = content.split()
        best: tuple[int, bool, str, str] | None = None
        for i, word in enumerate(words):
            for cand, text, label_ in self._by_first.get(word, ()):
                k = 0
                while k < len(cand) and i + k < len(words) and words[i + k] == cand[k]:
                    k += 1
                whole = k == len(cand)
                if (whole or k >= 5) and (best is None or (k, whole) > best[:2]):
                    best = (k, whole, text, label_)
        return None if best is None else (best[2], best[3])

    def _answer(self, request: ChatRequest) -> ChatResponse:
        content = request.messages[-1].get("content") or ""
        found = self.find(content)
        words = sum(len((m.get("content") or "").split()) for m in request.messages)
        if found is None:
            self.not_found += 1
            return ChatResponse(text="(oracle: text not found)", tokens_in=words, tokens_out=4)
        text, gold = found
        rng = random.Random(f"{self.seed}|{request.sampling.seed}|{text}")
        others = [x for x in self.labels if x != gold]
        answer = gold if rng.random() < self.accuracy or not others else rng.choice(others)
        confidence = 0.55 + 0.4 * rng.random()
        rest = (1.0 - confidence) / max(1, len(self.labels) - 1)
        top = {answer: math.log(confidence)} | {
            x: math.log(rest) for x in self.labels if x != answer
        }
        return ChatResponse(text=answer, tokens_in=words, tokens_out=1, top_logprobs=[top])

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One answer per request (module and class docstrings)."""
        out = []
        for request in requests:
            answer = self._answer(request)
            self.usage.add(answer)
            out.append(answer)
        return out

    def close(self) -> None:
        """Nothing to release."""


# ------------------------------------------------------------------ splits and files


@dataclass
class Splits:
    """The seeded splits of one domain.

    Attributes:
        test: the human-labelled test texts (records, labels known to the bench only).
        pool: the other records, in a seeded random order (labels hidden from the teacher).
        labelled: M, the first M pool records the teacher labels.
        dev: D, the first D pool records whose human label goes to the pool run.
        test_split: the test split's size before the ``--test-size`` sample.
        records: records of the domain used (after ``--max-records``).
    """

    test: list[Record]
    pool: list[Record]
    labelled: int
    dev: int
    test_split: int
    records: int


def make_splits(
    records: Sequence[Record],
    *,
    test_fraction: float,
    test_size: int,
    pool_size: int,
    dev: int,
    seed: int,
) -> Splits:
    """Split ``records`` (step 1 of the module docstring).

    Args:
        records: labelled real records, unique texts.
        test_fraction: share of the records in the stratified test split, (0, 1).
        test_size: keep a stratified sample of this many test records (0: all).
        pool_size: M, pool records to teacher-label (capped at the pool).
        dev: D < M pool records with human labels for the label model's choice (0: none).
        seed: seed of the split, the sample and the pool order.

    Raises:
        UserInputError: as :func:`~synthloom.datasets.stratified_split`; ``dev`` not
            below the labelled pool.
    """
    rest, test = stratified_split(list(records), test_fraction=test_fraction, seed=seed)
    split_size = len(test)
    if 0 < test_size < len(test):
        test = stratified_sample(test, test_size, seed)
    pool = random.Random(seed).sample(rest, len(rest))
    labelled = min(pool_size, len(pool))
    if dev >= labelled:
        raise UserInputError(f"--dev {dev} must be below the labelled pool ({labelled} texts)")
    return Splits(test, pool, labelled, dev, split_size, len(records))


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``rows`` unless the file already holds exactly them (its content is part of
    the label runs' recipe fingerprint: rewriting the same bytes keeps them resumable)."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class SiblingAnswers:
    """A backend wrapper that answers a request from sibling run folders' response caches
    when one holds it, and asks the wrapped backend otherwise.

    Answers are keyed by everything that can change them (:func:`synthloom.llm.cache.
    cache_key`), so only an identical request (same backend identity, messages, sampling,
    seed) reuses one: changing ``--base`` or ``--dev`` asks only the new texts. Wrapped in
    the run's own :class:`~synthloom.llm.cache.CachedBackend`, a reused answer is stored
    in the run's cache with its original cost, so the run's manifest counts what its texts
    cost and nothing it did not use. Other attributes are the wrapped backend's.

    Args:
        backend: the LLM (or the scripted oracle).
        siblings: ``cache.sqlite`` files of other runs (read only by SELECT).

    Attributes:
        reused: answers served from a sibling's cache.
    """

    def __init__(self, backend: Any, siblings: Sequence[Path]) -> None:
        self.backend = backend
        self.identity = backend.identity
        self.usage = backend.usage
        self.preferred_batch = getattr(backend, "preferred_batch", 1)
        self.reused = 0
        self._dbs = [sqlite3.connect(path, check_same_thread=False) for path in siblings]

    def __getattr__(self, name: str) -> Any:
        if name == "backend":  # not set yet (e.g. while copying): no recursion
            raise AttributeError(name)
        return getattr(self.backend, name)

    def _stored(self, key: str) -> ChatResponse | None:
        for db in self._dbs:
            try:
                row = db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    return ChatResponse.model_validate_json(row[0])
            except (sqlite3.DatabaseError, ValueError):  # a damaged sibling: ask instead
                continue
        return None

    def chat(self, requests: Sequence[ChatRequest]) -> list[Any]:
        """Stored answers where a sibling has them; the backend answers the rest."""
        answers: list[Any] = [self._stored(cache_key(self.identity, r)) for r in requests]
        missing = [i for i, a in enumerate(answers) if a is None]
        self.reused += len(requests) - len(missing)
        if missing:
            for i, answer in zip(
                missing, self.backend.chat([requests[i] for i in missing]), strict=True
            ):
                answers[i] = answer
        return answers

    def close(self) -> None:
        """Close the sibling caches and the backend."""
        for db in self._dbs:
            db.close()
        self.backend.close()


# ------------------------------------------------------------------ label runs


def _with_method(recipe: Recipe, method: str) -> Recipe:
    """The recipe with its ``curate.label_model`` method replaced."""
    data = recipe.model_dump(mode="json")
    for step in data["steps"]:
        if step["type"] == "curate.label_model":
            step["method"] = method
    return Recipe.model_validate(data)


def label_run(
    recipe: Recipe,
    source: Path,
    run_dir: Path,
    *,
    limit: int | None,
    test_labels: str | None,
    model: str | None,
    base_url: str | None,
    oracle: Callable[[], Any] | None,
    say: Callable[[str], None],
) -> tuple[dict[str, Any], dict[str, Record]]:
    """One resumable ``synthloom label`` run; returns its manifest and ``{text: record}``
    (accepted records win over rejected ones).

    The backend is the recipe's LLM (``model``/``base_url`` replacing it) or, in scripted
    mode, ``oracle()``; either answers only what neither the run's own cache nor a sibling
    run's holds (:class:`SiblingAnswers`).
    """
    from synthloom.llm.cache import CachedBackend, ResponseCache
    from synthloom.pipeline.backends import make_backend
    from synthloom.pipeline.recipe import with_backend

    siblings = [
        path
        for path in sorted(run_dir.parent.glob("*/cache.sqlite"))
        if path.parent.resolve() != run_dir.resolve()
    ]
    if oracle is not None:
        own = CachedBackend(oracle(), ResponseCache(run_dir / "cache.sqlite"))
    else:
        config = with_backend(recipe, model=model, base_url=base_url).backend
        own = make_backend(config, run_dir / "cache.sqlite")
    reuse = SiblingAnswers(own.backend, siblings)
    backend = CachedBackend(reuse, own.cache)
    shown = [0.0]

    def progress(done: int, wanted: int, stats: dict) -> None:
        finished = stats.get("accepted", 0) + stats.get("rejected", 0)
        if wanted and (finished == wanted or time.monotonic() - shown[0] > 30):
            shown[0] = time.monotonic()
            say(f"  {run_dir.name}: {finished}/{wanted} texts")

    try:
        manifest = label(
            recipe,
            source,
            run_dir,
            limit=limit,
            test_labels=test_labels,
            model=model,
            base_url=base_url,
            resume=True,
            backend=backend,
            on_progress=progress,
        )
    finally:
        backend.close()
    if reuse.reused:
        say(f"  {run_dir.name}: {reuse.reused} answers reused from sibling runs' caches")
    by_text: dict[str, Record] = {}
    for name in ("rejected.jsonl", "data.jsonl"):
        if (run_dir / name).exists():
            for r in read_jsonl(run_dir / name):
                by_text[r.text] = r
    return manifest, by_text


def vote_label(record: Record | None, name: str, labels: list[str]) -> tuple[str | None, float]:
    """A labeller's label of a record (the most probable of its vote) and its probability;
    ``(None, 0.0)`` when it abstained or the record is missing."""
    if record is None:
        return None, 0.0
    v = vote_vector((record.outputs.get("votes") or {}).get(name, {}), labels)
    if v.sum() <= 0:
        return None, 0.0
    return labels[int(v.argmax())], float(v.max())


def teacher_label(record: Record | None) -> str | None:
    """The label model's label of a record, None when it gave none (rejected, missing)."""
    return None if record is None or record.rejected is not None else record.label


def calls_needed(by_text: Mapping[str, Record]) -> int:
    """LLM calls the run's texts needed: every answer every LLM labeller got (retries too)."""
    return sum(
        len(v.get("answers") or [])
        for r in by_text.values()
        for v in (r.outputs.get("votes") or {}).values()
        if v.get("kind") == "llm"
    )


def run_summary(manifest: dict[str, Any], by_text: Mapping[str, Record]) -> dict[str, Any]:
    """What a label run cost and gave: texts, labelled, label model, calls, seconds.

    ``wall_seconds_per_call`` is the run's wall time (over all its sessions) over the LLM
    calls its texts needed: the figure to compare with the module docstring's estimates
    (too low when answers were reused from sibling runs; the answers' own ``seconds``
    overlap under batched decoding, so their mean is no rate).
    """
    needed = calls_needed(by_text)
    wall = manifest.get("wall_seconds")
    return {
        "texts": manifest.get("texts"),
        "labelled": manifest.get("labelled"),
        "no_label": manifest.get("abstained"),
        "label_model": manifest.get("label_model"),
        "mean_trust_weight": manifest.get("mean_trust_weight"),
        "llm_calls_needed": needed,
        "llm_calls_this_session": (manifest.get("this_session") or {}).get("llm_calls"),
        "cache_hits_this_session": (manifest.get("this_session") or {}).get("cache_hits"),
        "wall_seconds_per_call": round(wall / needed, 3) if wall and needed else None,
        "prompt_tokens_sent": manifest.get("tokens_in"),
        "prompt_tokens_evaluated": manifest.get("prompt_tokens_evaluated"),
        "wall_seconds": manifest.get("wall_seconds"),
        "labellers": manifest.get("labellers"),
        "teacher_on_dev": manifest.get("teacher_test"),
        "human_labels": manifest.get("human_labels"),
    }


# ------------------------------------------------------------------ students


ARMS = (
    ("label model", True),
    ("label model", False),
    ("llm1", True),
    ("llm1", False),
    ("human", False),
)
"""Training sets per (student, size, seed): (labels, trust-weighted)."""


def sizes_of(base: int, multipliers: Sequence[int], labelled: int) -> tuple[list[int], list[str]]:
    """Sizes ``base * m`` capped at the labelled pool (duplicates dropped), and a note per cap.

    Raises:
        UserInputError: ``base`` or a multiplier below 1.
    """
    if base < 1 or any(m < 1 for m in multipliers):
        raise UserInputError("--base and every multiplier must be at least 1")
    sizes, notes = [], []
    for m in multipliers:
        n = base * m
        if n > labelled:
            notes.append(f"{m}x base = {n} capped at the labelled pool, {labelled} texts")
            n = labelled
        if n not in sizes:
            sizes.append(n)
    return sizes, notes


def training_set(
    arm: tuple[str, bool],
    texts: Sequence[str],
    pool: Mapping[str, Record | None],
    human: Mapping[str, str],
    llm1: str,
    labels: list[str],
) -> tuple[list[str], list[str], list[float] | None]:
    """``(texts, labels, weights or None)`` of one arm (:data:`ARMS`) on the given pool texts.

    ``label model``: :func:`~synthloom.evaluate.distillation.teacher_training_rows` of the
    accepted records (weights: trust weights); ``llm1``: the first LLM labeller's label
    (weights: its probability of it); ``human``: the human labels. Texts the arm's labeller
    gave no label are left out.
    """
    source, weighted = arm
    if source == "label model":
        records = [r for t in texts if (r := pool.get(t)) is not None and r.rejected is None]
        return teacher_training_rows(records, weighted=weighted)
    if source == "human":
        return list(texts), [human[t] for t in texts], None
    rows = [(t, *vote_label(pool.get(t), llm1, labels)) for t in texts]
    rows = [(t, lab, p) for t, lab, p in rows if lab is not None]
    return (
        [t for t, _, _ in rows],
        [lab for _, lab, _ in rows],
        [p for _, _, p in rows] if weighted else None,
    )


def _arm_name(arm: tuple[str, bool], llm1: str) -> tuple[str, str]:
    source, weighted = arm
    name = f"LLM-1 alone ({llm1})" if source == "llm1" else source
    return name, ("-" if source == "human" else "yes" if weighted else "no")


def _rounded(ci: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {m: {k: round(v, 4) for k, v in d.items()} for m, d in ci.items()}


def train_students(
    students: Sequence[str],
    sizes: Sequence[int],
    seeds: int,
    seed: int,
    splits: Splits,
    pool: Mapping[str, Record | None],
    test_teacher: Mapping[str, list[str | None]],
    llm1: str,
    labels: list[str],
    resamples: int,
    say: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Every (student, arm, size) row of step 4: scores over seeds and against the teacher.

    Args:
        test_teacher: ``{"label model": predictions, "llm1": predictions}`` on the test
            texts (None: no label).

    Returns:
        One dict per row: ``student``, ``labels``, ``weighted``, ``n``, ``seeds`` (fitted),
        ``skipped`` (seeds not fitted: one class, no weight, or the fit failed),
        ``trained_on`` (mean rows), ``accuracy`` and ``macro_f1`` (``{"value", "low",
        "high"}``), ``seed_accuracy``, ``seed_macro_f1``, ``minus_teacher`` (paired
        differences), ``teacher`` (which), ``predictions`` (per seed; dropped from the JSON).

    BLAS runs on one thread during fits, as in :mod:`synthloom.evaluate.fitting`: measured
    here with another process busy on both cores, one TF-IDF fit on 160 BBC articles took
    3.8 s with the default threads and 0.15 s with one.
    """
    from threadpoolctl import threadpool_limits

    labelled = splits.pool[: splits.labelled]
    texts = [r.text for r in labelled]
    human = {r.text: str(r.label) for r in labelled}
    test_texts = [r.text for r in splits.test]
    y = [str(r.label) for r in splits.test]
    perms = [np.random.default_rng(derived_seed("teacher_student", seed, s)) for s in range(seeds)]
    orders = [list(rng.permutation(len(texts))) for rng in perms]
    rows = []
    for student in students:
        started = time.perf_counter()
        for arm in ARMS:
            name, weighted = _arm_name(arm, llm1)
            teacher_key = "llm1" if arm[0] == "llm1" else "label model"
            for n in sizes:
                preds, trained, skipped = [], [], 0
                for s, order in enumerate(orders):
                    subset = [texts[i] for i in order[:n]]
                    x, lab, w = training_set(arm, subset, pool, human, llm1, labels)
                    if len(set(lab)) < 2 or (w is not None and not any(v > 0 for v in w)):
                        skipped += 1
                        continue
                    with threadpool_limits(limits=1, user_api="blas"):  # see the docstring
                        try:
                            model = fit_student(make_student(student, seed + s), x, lab, w)
                        except ValueError as e:  # e.g. no term left on a tiny training set
                            skipped += 1
                            say(f"  {student}, {name}, n={n}, seed {s}: not fitted ({e})")
                            continue
                        preds.append([str(p) for p in model.predict(test_texts)])
                    trained.append(len(set(x)))
                row: dict[str, Any] = {
                    "student": student,
                    "labels": name,
                    "weighted": weighted,
                    "n": n,
                    "seeds": len(preds),
                    "skipped": skipped,
                    "trained_on": round(float(np.mean(trained)), 1) if trained else 0,
                    "teacher": teacher_key,
                }
                if preds:
                    row.update(_rounded(runs_ci(y, preds, labels, n_resamples=resamples)))
                    row["seed_accuracy"] = [round(_acc(y, p), 4) for p in preds]
                    row["seed_macro_f1"] = [round(_f1(y, p, labels), 4) for p in preds]
                    row["minus_teacher"] = _rounded(
                        runs_ci(
                            y,
                            preds,
                            labels,
                            base_runs=[test_teacher[teacher_key]],
                            n_resamples=resamples,
                        )
                    )
                    row["predictions"] = preds
                rows.append(row)
        say(f"  {student}: {time.perf_counter() - started:.1f} s")
    return rows


def _acc(y: Sequence[str], p: Sequence[str | None]) -> float:
    return sum(a == b for a, b in zip(y, p, strict=True)) / len(y)


def _voted_accuracy(y: Sequence[str], p: Sequence[str | None]) -> float | None:
    """Accuracy over the texts given a label (None when none was)."""
    voted = [(a, b) for a, b in zip(y, p, strict=True) if b is not None]
    return round(sum(a == b for a, b in voted) / len(voted), 3) if voted else None


def _f1(y: Sequence[str], p: Sequence[str | None], labels: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    filled = [x if x is not None else "\0none" for x in p]
    return float(f1_score(y, filled, labels=list(labels), average="macro", zero_division=0))


def effects(
    rows: Sequence[dict[str, Any]], y: Sequence[str], labels: list[str], llm1: str, resamples: int
) -> list[dict[str, Any]]:
    """Paired differences between arms per (student, size): the label model against the
    first LLM labeller alone (both unweighted), trust weights (label model, weighted -
    unweighted), and human labels against the weighted label model."""
    key = {(r["student"], r["labels"], r["weighted"], r["n"]): r for r in rows}
    lm, one = "label model", f"LLM-1 alone ({llm1})"
    pairs = (
        ("label model - LLM-1 alone", (lm, "no"), (one, "no")),
        ("trust weights (label model)", (lm, "yes"), (lm, "no")),
        ("human - label model", ("human", "-"), (lm, "yes")),
    )
    out = []
    for student, n in dict.fromkeys((r["student"], r["n"]) for r in rows):
        row: dict[str, Any] = {"student": student, "n": n}
        for name, new, base in pairs:
            a, b = key.get((student, *new, n)), key.get((student, *base, n))
            if a and b and a.get("predictions") and b.get("predictions"):
                row[name] = _rounded(
                    runs_ci(
                        y,
                        a["predictions"],
                        labels,
                        base_runs=b["predictions"],
                        n_resamples=resamples,
                    )
                )
            else:
                row[name] = None
        out.append(row)
    return out


def crossings(rows: Sequence[dict[str, Any]], teacher: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per (student, labels, weighted): the smallest size whose paired student - teacher
    interval is above 0, on accuracy and on macro-F1 (None: not crossed)."""
    out = []
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["student"], r["labels"], r["weighted"]), []).append(r)
    for (student, labels, weighted), group in groups.items():
        group = sorted(group, key=lambda r: r["n"])
        entry: dict[str, Any] = {
            "student": student,
            "labels": labels,
            "weighted": weighted,
            "teacher": group[0]["teacher"],
            "teacher_accuracy": teacher[group[0]["teacher"]]["accuracy"]["value"],
        }
        for metric in ("accuracy", "macro_f1"):
            hit = next(
                (
                    r["n"]
                    for r in group
                    if r.get("minus_teacher", {}).get(metric, {}).get("low", -1) > 0
                ),
                None,
            )
            entry[f"crossed_{metric}_at"] = hit
            scored = [r for r in group if r.get("minus_teacher")]
            best = max(scored, key=lambda r: r["minus_teacher"][metric]["value"], default=None)
            entry[f"best_{metric}_difference"] = (
                {"n": best["n"], **best["minus_teacher"][metric]} if best else None
            )
        out.append(entry)
    return out


# ------------------------------------------------------------------ tables


def _ci(m: dict[str, float] | None, signed: bool = False) -> str:
    if not m:
        return "-"
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(m['value'])} ({f.format(m['low'])} to {f.format(m['high'])})"


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: dict[str, Any]) -> str:
    """The report's markdown: data and runs, teacher, students, crossing, effects."""
    d, s = results["data"], results["settings"]
    who = results["labeller"]
    out = [
        f"# Teacher vs student: {s['domain']} ({d['source']})",
        "",
        f"Teacher's LLM: **{who['description']}**"
        + (" (numbers below say nothing about an LLM)" if who["kind"] != "llm" else ""),
        "",
        table(
            ["measure", "value"],
            [
                ["records", d["records"]],
                ["test split / TEST texts scored", f"{d['test_split']} / {d['test']}"],
                [
                    "pool / teacher-labelled / human dev",
                    f"{d['pool']} / {d['labelled']} / {d['dev']}",
                ],
                ["sizes (seeds each)", f"{', '.join(map(str, d['sizes']))} ({s['seeds']})"],
                ["capped", "; ".join(d["capped"]) or "no"],
                ["label model (chosen on the pool run)", results["runs"]["pool"]["label_model"]],
                *[
                    row
                    for k, v in results["runs"].items()
                    for row in (
                        [
                            f"{k} run: texts / labelled / no label (by step)",
                            f"{v['texts']} / {v['labelled']} / {json.dumps(v['no_label'])}",
                        ],
                        [f"{k} run: LLM calls needed / this session / wall s per call", _calls(v)],
                        [
                            f"{k} run: prompt tokens sent / evaluated; wall s",
                            f"{v['prompt_tokens_sent']} / {v['prompt_tokens_evaluated']}; "
                            f"{v['wall_seconds']}",
                        ],
                    )
                ],
                ["seconds (whole bench, this session)", results["seconds"]],
            ],
        ),
        "",
        f"## Teacher on the TEST split ({d['test']} human labels; no label = wrong)",
        "",
        table(
            [
                "labeller",
                "accuracy (95% CI)",
                "macro-F1 (95% CI)",
                "coverage",
                "accuracy where it voted",
            ],
            [
                [
                    t["name"],
                    _ci(t["accuracy"]),
                    _ci(t["macro_f1"]),
                    t["coverage"],
                    t["accuracy_where_voted"],
                ]
                for t in results["teacher_table"]
            ],
        ),
        "",
        "## Labellers' answers in the runs (soft: label probabilities read off the first token)",
        "",
        table(
            ["run", "labeller", "voted", "abstained", "soft from logprobs", "soft fell back"],
            [
                [
                    k,
                    name,
                    row.get("voted"),
                    row.get("abstained"),
                    row.get("soft_from_logprobs"),
                    row.get("soft_fell_back"),
                ]
                for k, v in results["runs"].items()
                for name, row in (v.get("labellers") or {}).items()
            ],
        ),
        "",
        "## Students on the TEST split (mean over seeds; CI over test texts)",
        "",
        table(
            [
                "student",
                "labels",
                "trust weights",
                "n",
                "trained on",
                "accuracy (95% CI)",
                "macro-F1 (95% CI)",
                "accuracy - its teacher",
                "macro-F1 - its teacher",
                "seeds' accuracy",
            ],
            [
                [
                    r["student"],
                    r["labels"],
                    r["weighted"],
                    r["n"],
                    r["trained_on"],
                    _ci(r.get("accuracy")),
                    _ci(r.get("macro_f1")),
                    _ci((r.get("minus_teacher") or {}).get("accuracy"), True),
                    _ci((r.get("minus_teacher") or {}).get("macro_f1"), True),
                    _range(r.get("seed_accuracy"))
                    + (f"; {r['skipped']} skipped" if r["skipped"] else ""),
                ]
                for r in results["students"]
            ],
        ),
        "",
        "## Does the student beat its teacher? (smallest n whose paired CI is above 0)",
        "",
        table(
            [
                "student",
                "labels",
                "trust weights",
                "its teacher's accuracy",
                "crossed on accuracy at",
                "crossed on macro-F1 at",
                "best accuracy difference",
            ],
            [
                [
                    c["student"],
                    c["labels"],
                    c["weighted"],
                    f"{c['teacher_accuracy']:.3f}",
                    c["crossed_accuracy_at"] or "not crossed",
                    c["crossed_macro_f1_at"] or "not crossed",
                    (
                        f"n={c['best_accuracy_difference']['n']}: "
                        + _ci(c["best_accuracy_difference"], True)
                    )
                    if c["best_accuracy_difference"]
                    else "-",
                ]
                for c in results["crossing"]
            ],
        ),
        "",
        "## Effects (paired differences in accuracy; mean over seeds)",
        "",
        table(
            ["student", "n", *EFFECTS],
            [
                [
                    e["student"],
                    e["n"],
                    *[_ci((e.get(k) or {}).get("accuracy"), True) for k in EFFECTS],
                ]
                for e in results["effects"]
            ],
        ),
        "",
    ]
    return "\n".join(out)


EFFECTS = ("label model - LLM-1 alone", "trust weights (label model)", "human - label model")


def _calls(run: dict[str, Any]) -> str:
    return (
        f"{run['llm_calls_needed']} / {run['llm_calls_this_session']} / "
        f"{run['wall_seconds_per_call'] if run['wall_seconds_per_call'] is not None else '-'}"
    )


def _range(values: list[float] | None) -> str:
    return f"{min(values):.3f}-{max(values):.3f}" if values else "-"


# ------------------------------------------------------------------ main


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--domain", choices=sorted(DOMAINS), required=True)
    parser.add_argument("--base", type=int, default=None, help="base size (default per domain)")
    parser.add_argument("--multipliers", default="1,4,16")
    parser.add_argument("--seeds", type=int, default=3, help="subsets (and student seeds) per size")
    parser.add_argument("--test-fraction", type=float, default=0.3)
    parser.add_argument("--test-size", type=int, default=None, help="0: the whole test split")
    parser.add_argument("--dev", type=int, default=None, help="human dev labels for auto")
    parser.add_argument("--pool", type=int, default=None, help="texts the teacher labels")
    parser.add_argument("--students", default="tfidf-lr,embedding-lr")
    parser.add_argument("--recipe", type=Path, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--scripted", "--dry-run", action="store_true", dest="scripted")
    parser.add_argument("--oracle-accuracy", type=float, default=0.8)
    parser.add_argument("--max-records", type=int, default=None)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    return parser.parse_args(argv)


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    """The whole benchmark for ``args`` (see :func:`parse`); returns the results dict and
    writes ``results-<model>.json`` / ``.md``.

    Raises:
        UserInputError: bad settings, recipe or run folder (module docstring).
    """
    started = time.perf_counter()
    domain = DOMAINS[args.domain]
    base = args.base or domain.base
    test_size = domain.test_size if args.test_size is None else args.test_size
    dev = domain.dev if args.dev is None else args.dev
    multipliers = [int(m) for m in str(args.multipliers).split(",") if m.strip()]
    students = [s.strip() for s in args.students.split(",") if s.strip()]
    for student in students:
        make_student(student)  # an unknown student fails before any LLM call
    if args.seeds < 1:
        raise UserInputError("--seeds must be at least 1")
    recipe = load_recipe(args.recipe or domain.recipe)
    if recipe.task.kind != "teacher_label":
        raise UserInputError(f"{args.recipe}: not a teacher_label recipe")
    labels = list(recipe.task.labels)
    vote = next((s for s in recipe.steps if s.type == "teacher_label.vote"), None)
    if vote is None:
        raise UserInputError("the recipe has no teacher_label.vote step")
    names = labeller_names(vote.labellers)
    llm_names = [n for n, spec in zip(names, vote.labellers, strict=True) if spec.type == "llm"]
    if not llm_names:
        raise UserInputError("the recipe has no LLM labeller: nothing to distil")
    llm1 = llm_names[0]

    records = load_real(domain.source)
    if args.max_records and args.max_records < len(records):
        records = stratified_sample(records, args.max_records, args.seed)
    unknown = sorted({str(r.label) for r in records} - set(labels))
    if unknown:
        raise UserInputError(f"human labels {unknown} are not in the recipe's labels {labels}")
    pool_wanted = args.pool or base * max(multipliers)
    splits = make_splits(
        records,
        test_fraction=args.test_fraction,
        test_size=test_size,
        pool_size=pool_wanted,
        dev=dev,
        seed=args.seed,
    )
    sizes, capped = sizes_of(base, multipliers, splits.labelled)
    if pool_wanted > splits.labelled:
        capped.insert(0, f"labelled pool {pool_wanted} capped at the pool, {splits.labelled}")

    folder = args.output / args.domain
    key = f"s{args.seed}-t{args.test_fraction:g}" + (
        f"-m{args.max_records}" if args.max_records else ""
    )
    pool_file = folder / "data" / f"pool-{key}-dev{dev}.jsonl"
    test_file = folder / "data" / f"test-{key}-n{len(splits.test)}.jsonl"
    _write_jsonl(
        pool_file,
        [
            {"text": r.text, **({DEV_COLUMN: r.label} if i < dev else {})}
            for i, r in enumerate(splits.pool)
        ],
    )
    _write_jsonl(test_file, [{"text": r.text} for r in splits.test])

    oracles: list[OracleBackend] = []
    if args.scripted:
        gold = {r.text: str(r.label) for r in records}
        tag = f"oracle-p{args.oracle_accuracy:g}"
        labeller = {
            "kind": "scripted",
            "description": f"{NOT_AN_LLM}: true label with probability {args.oracle_accuracy}",
            "accuracy": args.oracle_accuracy,
        }

        def oracle() -> OracleBackend:
            made = OracleBackend(gold, labels, args.oracle_accuracy, seed=args.seed)
            oracles.append(made)
            return made

    else:
        tag = (args.model or recipe.backend.model or "model").replace("/", "_")
        tag += "-http" if args.base_url else ""
        labeller = {
            "kind": "llm",
            "description": f"{tag}"
            + (f" at {args.base_url}" if args.base_url else " (in process)"),
            "model": tag,
        }
        oracle = None  # type: ignore[assignment]
    runs = folder / "runs" / tag
    say(
        f"{args.domain}: {splits.records} records; TEST {len(splits.test)} of "
        f"{splits.test_split}; pool {len(splits.pool)}, teacher labels {splits.labelled} "
        f"(dev {dev}); sizes {sizes}; labeller: {labeller['description']}"
    )

    say("teacher on the pool")
    pool_manifest, pool_records = label_run(
        recipe,
        pool_file,
        runs / f"pool-{key}-n{splits.labelled}-dev{dev}",
        limit=splits.labelled,
        test_labels=DEV_COLUMN if dev else None,
        model=args.model,
        base_url=args.base_url,
        oracle=oracle,
        say=say,
    )
    method = pool_manifest.get("label_model")
    if method is None:
        raise UserInputError("the teacher labelled no pool text; see the pool run's rejected.jsonl")
    say(f"teacher on TEST ({method})")
    test_manifest, test_records = label_run(
        _with_method(recipe, method),
        test_file,
        runs / f"test-{key}-n{len(splits.test)}-{method}",
        limit=None,
        test_labels=None,
        model=args.model,
        base_url=args.base_url,
        oracle=oracle,
        say=say,
    )

    y = [str(r.label) for r in splits.test]
    test_texts = [r.text for r in splits.test]
    teacher_preds = {
        "label model": [teacher_label(test_records.get(t)) for t in test_texts],
        "llm1": [vote_label(test_records.get(t), llm1, labels)[0] for t in test_texts],
    }
    teacher_rows = []
    for name, preds in (
        (f"teacher: label model ({method})", teacher_preds["label model"]),
        *[
            (f"labeller: {n}", [vote_label(test_records.get(t), n, labels)[0] for t in test_texts])
            for n in names
        ],
    ):
        teacher_rows.append(
            {
                "name": name,
                **_rounded(runs_ci(y, [preds], labels, n_resamples=args.resamples)),
                "coverage": round(sum(p is not None for p in preds) / len(preds), 3),
                "accuracy_where_voted": _voted_accuracy(y, preds),
            }
        )
    majority = Counter(str(r.label) for r in splits.pool).most_common(1)[0][0]
    baseline = {
        "name": f"baseline: majority class ({majority}, pool's human labels)",
        **_rounded(runs_ci(y, [[majority] * len(y)], labels, n_resamples=args.resamples)),
        "coverage": 1.0,
        "accuracy_where_voted": _voted_accuracy(y, [majority] * len(y)),
    }
    teacher_rows.append(baseline)
    teacher = {
        "label model": teacher_rows[0],
        "llm1": next(t for t in teacher_rows if t["name"] == f"labeller: {llm1}"),
    }

    say("students")
    pool_by_text = {r.text: pool_records.get(r.text) for r in splits.pool[: splits.labelled]}
    rows = train_students(
        students,
        sizes,
        args.seeds,
        args.seed,
        splits,
        pool_by_text,
        teacher_preds,
        llm1,
        labels,
        args.resamples,
        say,
    )
    results: dict[str, Any] = {
        "bench": "teacher_student",
        "issue": 16,
        "sources": {
            "student beats teacher": "arXiv 2505.07105",
            "soft targets": "arXiv 1503.02531",
        },
        "labeller": labeller,
        "settings": {
            **{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "base": base,
            "test_size": test_size,
            "dev": dev,
            "multipliers": multipliers,
            "students": students,
            "recipe": str(args.recipe or domain.recipe),
            "recipe_sha256": recipe.sha256(),
        },
        "data": {
            "source": domain.source,
            "labels": labels,
            "records": splits.records,
            "test_split": splits.test_split,
            "test": len(splits.test),
            "test_counts": dict(sorted(Counter(y).items())),
            "pool": len(splits.pool),
            "labelled": splits.labelled,
            "dev": dev,
            "sizes": sizes,
            "capped": capped,
            "pool_file": str(pool_file),
            "test_file": str(test_file),
        },
        "runs": {
            "pool": {
                "dir": str(runs / f"pool-{key}-n{splits.labelled}-dev{dev}"),
                **run_summary(pool_manifest, pool_records),
            },
            "test": {
                "dir": str(runs / f"test-{key}-n{len(splits.test)}-{method}"),
                **run_summary(test_manifest, test_records),
            },
        },
        "llm1": llm1,
        "teacher_table": teacher_rows,
        "baseline": baseline,
        "students": rows,
        "crossing": crossings(rows, teacher),
        "effects": effects(rows, y, labels, llm1, args.resamples),
    }
    if oracles:
        results["labeller"]["oracle_calls_this_session"] = sum(o.usage.calls for o in oracles)
        results["labeller"]["texts_not_found"] = sum(o.not_found for o in oracles)
    results["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(results)
    folder.mkdir(parents=True, exist_ok=True)
    for row in results["students"]:
        row.pop("predictions", None)
    (folder / f"results-{tag}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    (folder / f"results-{tag}.md").write_text(text, encoding="utf-8")
    results["markdown"] = text
    results["files"] = [str(folder / f"results-{tag}.json"), str(folder / f"results-{tag}.md")]
    return results


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Command line entry: prints the tables; one line and exit 2 on bad input."""
    args = parse(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        results = run(args, say)
    except UserInputError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except (BackendError, GenerationError) as e:
        print(
            f"error: {e}; finished records and answers are kept, rerun to continue", file=sys.stderr
        )
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to continue", file=sys.stderr)
        raise SystemExit(130) from None
    print(results["markdown"])
    say(f"wrote {' and '.join(results['files'])}")
    return results


if __name__ == "__main__":
    main()
