"""Continuous batched decoding of many requests in one llama.cpp context.

Several sequences share one ``llama_decode`` per step: each step carries the next token
of every sequence that is generating, plus prompt tokens of sequences still reading
their prompt (up to ``n_batch`` tokens in all). A sequence that finishes frees its slot
at once and the next waiting request takes it (continuous batching, as llama.cpp's
server does with ``--parallel``; Yu et al. 2022, "Orca", OSDI, iteration-level
scheduling). On a CPU the weights are read from memory once per step for all sequences,
so aggregate generated tokens/s grows with the number of sequences.

Shared prompt prefixes: the KV cache is unified across sequences, so a new request
starts from the longest token prefix it shares with what any slot holds (a live
sequence, or a finished one whose cells are kept until its slot is reused): those cells
are shared by ``llama_memory_seq_cp``, not evaluated again. A request whose prompt shares
a longer prefix with another request still reading its prompt waits for that prefix to
be evaluated once. :attr:`BatchedDecoder.prompt_tokens_evaluated` counts prompt tokens
actually evaluated.

Sampling matches llama-cpp-python 0.3.36's ``Llama.create_completion`` per sequence
(its ``_init_sampler`` chain): repeat penalty over the last 64 generated tokens, then the
JSON-schema grammar if any, then greedy at temperature 0, else top-k 40, typical 1.0,
top-p, min-p 0.05, temperature and a seeded draw. With one slot, answers equal the
sequential path's; with more, each request's logits come from a batch whose
composition depends on the other requests, so an answer may differ in rare near-ties
from the one-slot answer, while staying the same for the same requests, order, seeds
and number of slots.
"""

from __future__ import annotations

import ctypes
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

# A request waits for another's prompt when it would share at least this many more
# tokens of it than it can share now.
_WAIT_FOR_PREFIX = 16
_PENALTY_LAST_N = 64  # llama-cpp-python's Llama(last_n_tokens_size=64)
# llama.cpp's llama_token_data: {int32 id; float logit; float p}
_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)])


@dataclass
class DecodeJob:
    """One request, tokenized, with its sampling values.

    Attributes:
        prompt: prompt token ids.
        max_tokens: cap on generated tokens (cut to fit the context, as llama-cpp-python).
        temperature, top_p, top_k, min_p, typical_p, repeat_penalty: sampling values.
        seed: sampler seed (``None``: llama.cpp's default seed).
        stop: stop strings (the text is cut before the first one found).
        grammar: GBNF grammar text and root rule, or None.
        top_logprobs: how many most likely tokens to report per generated token (0: none).
    """

    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: list[str] = field(default_factory=list)
    grammar: tuple[str, str] | None = None
    top_k: int = 40
    min_p: float = 0.05
    typical_p: float = 1.0
    repeat_penalty: float = 1.1
    top_logprobs: int = 0


@dataclass
class DecodeResult:
    """What one job produced: ``text``, ``finish_reason`` (``"stop"`` or ``"length"``),
    token counts, ``seconds`` from the job's start to its end (jobs overlap) and, when the
    job asked, ``top_logprobs``: one ``{token text: natural-log probability}`` per
    generated token, from the raw logits (before penalties, grammar and sampling)."""

    text: str
    finish_reason: str
    tokens_in: int
    tokens_out: int
    tokens_evaluated: int
    seconds: float
    top_logprobs: list[dict[str, float]] | None = None


@dataclass
class _Slot:
    seq: int
    kv: list[int] = field(default_factory=list)  # token ids whose KV this sequence holds
    job: DecodeJob | None = None
    index: int = -1  # position of the job in the caller's list
    sampler: Any = None
    fast: Any = None  # greedy jobs with a grammar: the same chain without the grammar
    grammar: Any = None  # the grammar sampler inside ``sampler``
    pending: list[int] = field(default_factory=list)  # prompt tokens still to evaluate
    waiting: bool = False
    next_token: int | None = None
    completion: list[int] = field(default_factory=list)
    logprobs: list[dict[str, float]] = field(default_factory=list)
    evaluated: int = 0
    started: float = 0.0


class BatchedDecoder:
    """Decodes many requests together in one llama.cpp context of ``slots`` sequences.

    Args:
        llm: a loaded ``llama_cpp.Llama`` (its model and tokenizer are shared; this class
            makes its own context).
        slots: sequences decoded together (>= 1).
        n_ctx_per_slot: context window of each sequence, in tokens.
        n_threads: CPU threads for decoding.

    Raises:
        RuntimeError: llama.cpp could not create the context.
    """

    def __init__(self, llm: Any, slots: int, n_ctx_per_slot: int, n_threads: int) -> None:
        import llama_cpp

        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        self._cpp = llama_cpp
        self._llm = llm
        self.slots = slots
        self.n_ctx_per_slot = n_ctx_per_slot
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)
        params.n_ctx = slots * n_ctx_per_slot
        params.n_seq_max = slots
        params.kv_unified = slots > 1  # one sequence: as llama-cpp-python
        params.n_threads = params.n_threads_batch = n_threads
        self.n_batch = int(params.n_batch)
        self._ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self._ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {params.n_ctx} tokens")
        self._mem = llama_cpp.llama_get_memory(self._ctx)
        self._vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._slots = [_Slot(seq=i) for i in range(slots)]
        self.prompt_tokens_evaluated = 0
        self.steps = 0
        self._n_vocab = int(llm.n_vocab())
        self._ids = np.arange(self._n_vocab, dtype=np.int32)
        self._candidates = np.zeros(self._n_vocab, dtype=_TOKEN_DATA)

    def run(self, jobs: Sequence[DecodeJob]) -> list[DecodeResult | ValueError]:
        """Decode every job; results in the jobs' order.

        A job whose prompt does not fit one sequence's context gets a ``ValueError``
        naming the sizes; the other jobs run.

        Raises:
            RuntimeError: ``llama_decode`` failed (the whole call fails: a bug or out of
                memory, not a property of one request).
        """
        results: list[DecodeResult | ValueError | None] = [None] * len(jobs)
        queue: deque[int] = deque()
        for i, job in enumerate(jobs):
            if not job.prompt:
                results[i] = ValueError("empty prompt: nothing to continue")
            elif len(job.prompt) >= self.n_ctx_per_slot:
                results[i] = ValueError(
                    f"Requested tokens ({len(job.prompt)}) exceed context window of "
                    f"{self.n_ctx_per_slot}")
            else:
                queue.append(i)
        try:
            self._decode(jobs, queue, results)
        except BaseException:
            # a failed call leaves no half-done job behind for the next one
            for slot in self._slots:
                if slot.job is not None:
                    self._release(slot)
                    self._cpp.llama_memory_seq_rm(self._mem, slot.seq, 0, -1)
                    slot.kv, slot.waiting, slot.next_token = [], False, None
            raise
        return results  # type: ignore[return-value]

    def _decode(self, jobs: Sequence[DecodeJob], queue: deque[int],
                results: list[DecodeResult | ValueError | None]) -> None:
        while queue or any(s.job is not None for s in self._slots):
            for slot in self._slots:
                if slot.job is None and queue:
                    i = queue.popleft()
                    self._assign(slot, jobs[i], i)
            for slot in self._slots:
                if slot.waiting:
                    self._start_prompt(slot)
            outputs = self._fill_batch()
            if self._batch.n_tokens == 0:
                raise RuntimeError("batched decoding stalled: no token to decode")
            status = self._cpp.llama_decode(self._ctx, self._batch)
            if status != 0:
                raise RuntimeError(f"llama_decode failed with status {status}")
            self.steps += 1
            for slot, batch_index in outputs:
                token = self._sample(slot, batch_index)
                done = self._accept(slot, token)
                if done is not None:
                    results[slot.index] = done
                    self._release(slot)

    # -- slots -----------------------------------------------------------------------

    def _assign(self, slot: _Slot, job: DecodeJob, index: int) -> None:
        slot.job, slot.index, slot.started = job, index, time.perf_counter()
        slot.completion, slot.next_token, slot.evaluated = [], None, 0
        slot.logprobs = []
        slot.sampler = self._sampler(job, with_grammar=True)
        if job.grammar is not None and job.temperature == 0.0:
            slot.fast = self._sampler(job, with_grammar=False)
            slot.grammar = self._cpp.llama_sampler_chain_get(slot.sampler, 1)
        slot.waiting = True
        self._start_prompt(slot)

    def _start_prompt(self, slot: _Slot) -> None:
        """Reuse the longest cached prefix, unless waiting for a longer one pays."""
        prompt = slot.job.prompt
        source, shared = slot, _common(slot.kv, prompt)
        for other in self._slots:
            if other is not slot:
                n = _common(other.kv, prompt)
                if n > shared:
                    source, shared = other, n
        for other in self._slots:
            if other is not slot and other.job is not None and other.pending:
                if _common(other.job.prompt, prompt) >= shared + _WAIT_FOR_PREFIX:
                    return  # that prefix is being evaluated: wait for it
        shared = min(shared, len(prompt) - 1)  # evaluate at least one token for logits
        if source is slot:
            self._cpp.llama_memory_seq_rm(self._mem, slot.seq, shared, -1)
        else:
            self._cpp.llama_memory_seq_rm(self._mem, slot.seq, 0, -1)
            self._cpp.llama_memory_seq_cp(self._mem, source.seq, slot.seq, 0, shared)
        slot.kv = prompt[:shared]
        slot.pending = prompt[shared:]
        slot.waiting = False

    def _fill_batch(self) -> list[tuple[_Slot, int]]:
        """Put next tokens, then prompt chunks, into the batch; returns the logit rows."""
        b, n, outputs = self._batch, 0, []
        for slot in self._slots:
            if slot.job is not None and slot.next_token is not None:
                self._put(n, slot.next_token, len(slot.kv), slot.seq, True)
                slot.kv.append(slot.next_token)
                slot.next_token = None
                outputs.append((slot, n))
                n += 1
        for slot in self._slots:
            if slot.job is None or slot.waiting or not slot.pending or n >= self.n_batch:
                continue
            take = slot.pending[: self.n_batch - n]
            slot.pending = slot.pending[len(take):]
            for j, token in enumerate(take):
                last = not slot.pending and j == len(take) - 1
                self._put(n, token, len(slot.kv), slot.seq, last)
                slot.kv.append(token)
                if last:
                    outputs.append((slot, n))
                n += 1
            slot.evaluated += len(take)
            self.prompt_tokens_evaluated += len(take)
        b.n_tokens = n
        return outputs

    def _put(self, i: int, token: int, pos: int, seq: int, logits: bool) -> None:
        b = self._batch
        b.token[i], b.pos[i], b.n_seq_id[i] = token, pos, 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits

    def _accept(self, slot: _Slot, token: int) -> DecodeResult | None:
        """Record a sampled token; a result when the job has finished."""
        job = slot.job
        if self._cpp.llama_vocab_is_eog(self._vocab, token):
            return self._result(slot, self._text(slot), "stop")
        slot.completion.append(token)
        text = self._text(slot)
        found = [s for s in job.stop if s in text]
        if found:
            return self._result(slot, text[: text.index(found[0])], "stop")
        limit = min(job.max_tokens, self.n_ctx_per_slot - len(job.prompt))
        if len(slot.completion) >= limit:
            return self._result(slot, text, "length")
        slot.next_token = token
        return None

    def _text(self, slot: _Slot) -> str:
        raw = self._llm.detokenize(slot.completion, prev_tokens=slot.job.prompt)
        return raw.decode("utf-8", errors="ignore")

    def _result(self, slot: _Slot, text: str, finish_reason: str) -> DecodeResult:
        return DecodeResult(
            text=text, finish_reason=finish_reason, tokens_in=len(slot.job.prompt),
            tokens_out=len(slot.completion), tokens_evaluated=slot.evaluated,
            seconds=time.perf_counter() - slot.started,
            top_logprobs=slot.logprobs[: len(slot.completion)] if slot.job.top_logprobs
            else None)

    def _release(self, slot: _Slot) -> None:
        """Free the slot; its KV cells stay as a prefix cache until the slot is reused."""
        self._cpp.llama_sampler_free(slot.sampler)
        if slot.fast is not None:
            self._cpp.llama_sampler_free(slot.fast)
        slot.sampler, slot.fast, slot.grammar = None, None, None
        slot.job, slot.index, slot.pending = None, -1, []

    def _sample(self, slot: _Slot, batch_index: int) -> int:
        """The next token of ``slot`` from the logits at ``batch_index``.

        A greedy job with a grammar first takes the unconstrained greedy token and asks
        the grammar about that one token; only if the grammar refuses it are all
        ~150,000 vocabulary entries run through the grammar (llama.cpp's own sampler does
        the same). For greedy decoding this is exact: the best token, when allowed, is
        also the best allowed token.
        """
        cpp = self._cpp
        if slot.job.top_logprobs:
            slot.logprobs.append(self._top_logprobs(batch_index, slot.job.top_logprobs))
        if slot.fast is None:
            return cpp.llama_sampler_sample(slot.sampler, self._ctx, batch_index)
        logits = np.ctypeslib.as_array(
            cpp.llama_get_logits_ith(self._ctx, batch_index), shape=(self._n_vocab,))
        token = self._apply(slot.fast, logits)
        one = np.zeros(1, dtype=_TOKEN_DATA)
        one["id"], one["logit"] = token, 1.0
        single = cpp.llama_token_data_array(
            data=one.ctypes.data_as(cpp.llama_token_data_p), size=1, selected=-1,
            sorted=False)
        cpp.llama_sampler_apply(slot.grammar, ctypes.byref(single))
        if not np.isfinite(one["logit"][0]):  # refused: constrain the whole vocabulary
            token = self._apply(slot.sampler, logits)
        cpp.llama_sampler_accept(slot.fast, token)
        cpp.llama_sampler_accept(slot.sampler, token)
        return token

    def _top_logprobs(self, batch_index: int, k: int) -> dict[str, float]:
        """The ``k`` most likely next tokens at ``batch_index`` and their natural-log
        probabilities (log-softmax of the raw logits), most likely first; tokens whose
        texts coincide keep the higher one."""
        logits = np.ctypeslib.as_array(
            self._cpp.llama_get_logits_ith(self._ctx, batch_index),
            shape=(self._n_vocab,)).astype(np.float64)
        top = np.argpartition(-logits, k)[:k]
        top = top[np.argsort(-logits[top], kind="stable")]
        peak = logits.max()
        log_total = peak + np.log(np.exp(logits - peak).sum())
        found: dict[str, float] = {}
        for token in top:
            text = self._llm.detokenize([int(token)]).decode("utf-8", errors="replace")
            found.setdefault(text, float(logits[token] - log_total))
        return found

    def _apply(self, chain: Any, logits: np.ndarray) -> int:
        """Run ``chain`` over every token's logit (without accepting); the selected id."""
        cpp, cand = self._cpp, self._candidates
        cand["id"], cand["logit"], cand["p"] = self._ids, logits, 0.0
        array = cpp.llama_token_data_array(
            data=cand.ctypes.data_as(cpp.llama_token_data_p), size=self._n_vocab,
            selected=-1, sorted=False)
        cpp.llama_sampler_apply(chain, ctypes.byref(array))
        return int(cand["id"][array.selected])

    def _sampler(self, job: DecodeJob, with_grammar: bool = True) -> Any:
        """The llama-cpp-python 0.3.36 ``_init_sampler`` chain for one job (the grammar,
        if any, second, as there)."""
        cpp = self._cpp
        chain = cpp.llama_sampler_chain_init(cpp.llama_sampler_chain_default_params())
        add = lambda s: cpp.llama_sampler_chain_add(chain, s)  # noqa: E731
        add(cpp.llama_sampler_init_penalties(
            self._n_vocab, _PENALTY_LAST_N, job.repeat_penalty, 0.0, 0.0))
        if job.grammar is not None and with_grammar:
            text, root = job.grammar
            add(cpp.llama_sampler_init_grammar(self._vocab, text.encode(), root.encode()))
        seed = cpp.LLAMA_DEFAULT_SEED if job.seed is None else job.seed
        if job.temperature == 0.0:
            add(cpp.llama_sampler_init_greedy())
        else:
            add(cpp.llama_sampler_init_top_k(job.top_k))
            add(cpp.llama_sampler_init_typical(job.typical_p, 1))
            add(cpp.llama_sampler_init_top_p(job.top_p, 1))
            add(cpp.llama_sampler_init_min_p(job.min_p, 1))
            add(cpp.llama_sampler_init_temp(job.temperature))
            add(cpp.llama_sampler_init_dist(seed))
        return chain

    def close(self) -> None:
        """Free the context and the batch."""
        if self._ctx:
            for slot in self._slots:
                if slot.sampler is not None:
                    self._release(slot)
            self._cpp.llama_batch_free(self._batch)
            self._cpp.llama_free(self._ctx)
            self._ctx = None


@lru_cache(maxsize=64)
def grammar_for_schema(schema_json: str) -> tuple[str, str]:
    """GBNF grammar text and root rule for a JSON schema (llama-cpp-python's converter).

    Raises:
        ValueError: the schema cannot be converted.
    """
    from llama_cpp import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(schema_json, verbose=False)
    return grammar._grammar, grammar._root


def schema_key(schema: dict[str, Any]) -> str:
    """The JSON text llama-cpp-python compiles for ``schema`` (key order kept)."""
    return json.dumps(schema)


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two token lists."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n

