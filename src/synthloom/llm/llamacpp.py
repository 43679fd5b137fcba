"""In-process llama.cpp backend (llama-cpp-python) for the embedded GGUF models.

JSON-schema constrained output uses llama.cpp's grammar sampler: the schema is
compiled to a GBNF grammar (``response_format={"type": "json_object", "schema": S}``),
so every decoded token keeps the answer valid; finishing the JSON is not guaranteed,
so callers cap string lengths and leave ``max_tokens`` room.

Tools: ``ChatRequest.tools`` and ``tool_choice`` are passed to llama-cpp-python's
``create_chat_completion``. With the GGUF's own chat template (``chat_format=None``,
llama-cpp-python's ``Jinja2ChatFormatter``, version 0.3.36) the tools are rendered into
the prompt by the template (Qwen2.5's template lists them in the system turn and asks for
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``; SmolLM2's ignores them).
llama-cpp-python returns parsed ``tool_calls`` only when ``tool_choice`` names one
function (it then constrains the output to that function's ``parameters`` schema by
grammar, overriding any ``json_schema``); otherwise the model's ``<tool_call>`` text is
parsed here (:func:`synthloom.llm.templates.chat_choice_fields`). ``tool_choice``
``"required"`` is passed on but not enforced in-process.

Raw completions (:meth:`LlamaCppBackend.complete`) call ``create_completion``: the prompt
is tokenized with special tokens parsed, no chat template applied.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from synthloom.llm.base import (
    BackendError,
    BackendIdentity,
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    TokenUsage,
)
from synthloom.llm.batched import BatchedDecoder, DecodeJob, grammar_for_schema
from synthloom.llm.models import file_sha256, get_model, resolve_model_path
from synthloom.llm.templates import (
    chat_choice_fields,
    known_pre_query_template,
    messages_for_template,
)

R = TypeVar("R", ChatRequest, CompletionRequest)

# llama-cpp-python's chat handler and its server default to a repeat penalty of 1.1,
# its create_completion() to 1.0: raw completions use 1.1 too, so a prompt answers the
# same in-process and through the server.
_REPEAT_PENALTY = 1.1

# Stands for a user message's text when the chat template is rendered to find where
# that text begins (pre_query_template).
_QUERY_MARKER = "<<synthloom-query-marker>>"


class LlamaCppBackend:
    """A GGUF model run in this process by llama.cpp.

    With ``parallel > 1`` (the recipes' default is 8) a call's requests are decoded
    together by :class:`~synthloom.llm.batched.BatchedDecoder`: continuous batching over
    ``parallel`` sequences in one unified KV cache, prompt prefixes shared between
    sequences, per-request sampler chains, seeds, stop strings and JSON-schema grammars.
    With ``parallel == 1`` requests are answered one at a time by llama-cpp-python (which
    reuses the KV cache of the longest prompt prefix shared with the previous request).
    A lock makes the backend safe to share between threads.

    Answers: with one slot the batched path equals the sequential one token for token
    (tested); with more, greedy answers nearly always do, while sampled answers differ
    (other sequences in a batch change the floating-point sums) but stay the same for
    the same requests, order, seeds and ``parallel``.

    Args:
        model_path: path of a GGUF file.
        model_name: name recorded in provenance (defaults to the file name).
        model_sha256: sha256 of the file (computed if not given).
        n_ctx: context window of each sequence, in tokens.
        n_threads: CPU threads for decoding (default: the cores this process may run
            on, :func:`decode_threads`).
        chat_format: llama-cpp-python chat format; None uses the GGUF's own template.
        parallel: sequences decoded together (>= 1).
        batched: force the batched decoder on (True, e.g. with one slot to compare it
            with the sequential path) or off; None: on when ``parallel > 1``.

    Raises:
        ImportError: llama-cpp-python is not installed.
        ValueError: ``parallel`` < 1.
        RuntimeError: llama.cpp could not allocate the batched context.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        model_name: str | None = None,
        model_sha256: str | None = None,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        chat_format: str | None = None,
        parallel: int = 1,
        batched: bool | None = None,
    ) -> None:
        from llama_cpp import Llama

        if parallel < 1:
            raise ValueError(f"parallel must be >= 1, got {parallel}")
        n_threads = n_threads or decode_threads()

        path = Path(model_path)
        self.identity = BackendIdentity(
            backend="llamacpp",
            model=model_name or path.name,
            model_sha256=model_sha256 or file_sha256(path),
        )
        self.usage = TokenUsage()
        self.parallel = parallel
        self.n_threads = n_threads
        # Hand this backend whole chunks: the batched decoder keeps `parallel` sequences
        # busy only when it has more requests than slots.
        self.preferred_batch = 1 if parallel == 1 else 4 * parallel
        self._lock = threading.Lock()
        self._llm = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            chat_format=chat_format,
            verbose=False,
        )
        self._n_ctx = n_ctx
        self._decoder: BatchedDecoder | None = None
        if parallel > 1 if batched is None else batched:
            self._decoder = BatchedDecoder(self._llm, parallel, n_ctx, n_threads)

    @classmethod
    def embedded(cls, name: str, **kwargs) -> LlamaCppBackend:
        """Load embedded model ``name`` (see ``synthloom models``), sha256-verified.

        Raises:
            UserInputError: unknown model, not installed, or sha256 mismatch.
        """
        model = get_model(name)
        path = resolve_model_path(name)
        kwargs.setdefault("chat_format", model.chat_format)
        return cls(path, model_name=name, model_sha256=model.sha256, **kwargs)

    def _one(self, request: ChatRequest) -> ChatResponse:
        start = time.perf_counter()
        out = self._llm.create_chat_completion(**self._chat_kwargs(request))
        seconds = time.perf_counter() - start
        usage = out.get("usage") or {}
        return ChatResponse(
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            **chat_choice_fields(out["choices"][0], request),
        )

    @staticmethod
    def _chat_kwargs(request: ChatRequest) -> dict[str, Any]:
        """``create_chat_completion`` arguments for ``request``."""
        s = request.sampling
        kwargs: dict[str, Any] = {
            "messages": messages_for_template(request.messages),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop) or None,
        }
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if request.json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": request.json_schema}
        if request.tools is not None:
            kwargs["tools"] = [dict(t) for t in request.tools]
            if request.tool_choice is not None:
                kwargs["tool_choice"] = request.tool_choice
        return kwargs

    def _complete_one(self, request: CompletionRequest) -> ChatResponse:
        s = request.sampling
        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "stop": list(s.stop),
            "repeat_penalty": _REPEAT_PENALTY,
        }
        if s.seed is not None:
            kwargs["seed"] = s.seed
        if request.json_schema is not None:
            from llama_cpp import LlamaGrammar

            kwargs["grammar"] = LlamaGrammar.from_json_schema(
                json.dumps(request.json_schema), verbose=False
            )
        start = time.perf_counter()
        out = self._llm.create_completion(**kwargs)
        seconds = time.perf_counter() - start
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return ChatResponse(
            text=choice.get("text") or "",
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    def _run(
        self, requests: Sequence[R], one: Callable[[R], ChatResponse]
    ) -> list[ChatResponse | BackendError]:
        results: list[ChatResponse | BackendError] = []
        with self._lock:
            for request in requests:
                try:
                    response = one(request)
                except (ValueError, RuntimeError) as e:  # e.g. prompt longer than n_ctx
                    results.append(self._failed(e))
                    continue
                self.usage.add(response)
                results.append(response)
        return results

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResponse | BackendError]:
        """Answer each request; a request llama.cpp fails on yields a BackendError.

        With ``parallel > 1`` the requests are decoded together
        (:class:`~synthloom.llm.batched.BatchedDecoder`), except those whose
        ``tool_choice`` names a function, which run in turn after them. Tools are
        rendered by the chat template and tool calls returned in
        ``ChatResponse.tool_calls`` (see the module docstring). A request with
        ``top_logprobs`` needs the batched decoder, which is then made with one slot if
        ``parallel`` is 1 (its answers equal the sequential path's); a forced function
        call runs in turn and carries no logprobs.
        """
        if self._decoder is None and any(r.top_logprobs for r in requests):
            with self._lock:
                self._decoder = BatchedDecoder(self._llm, 1, self._n_ctx, self.n_threads)
        if self._decoder is None:
            return self._run(requests, self._one)
        return self._batched(requests, self._chat_job, self._one)

    def _chat_job(self, request: ChatRequest) -> DecodeJob | None:
        """The decode job llama-cpp-python's chat handler would run for ``request``, or
        None for a request it turns into a forced function call (run in turn)."""
        if isinstance(request.tool_choice, dict):
            return None
        captured = _capture_completion(self._llm, self._chat_kwargs(request))
        grammar = captured.get("grammar")
        s = request.sampling
        return DecodeJob(
            prompt=list(captured["prompt"]), max_tokens=s.max_tokens,
            temperature=s.temperature, top_p=s.top_p, seed=s.seed,
            stop=list(captured.get("stop") or []),
            grammar=(grammar._grammar, grammar._root) if grammar is not None else None,
            top_k=captured["top_k"], min_p=captured["min_p"],
            typical_p=captured["typical_p"], repeat_penalty=captured["repeat_penalty"],
            top_logprobs=request.top_logprobs or 0)

    def _complete_job(self, request: CompletionRequest) -> DecodeJob:
        """The decode job ``create_completion`` would run for a raw completion."""
        s = request.sampling
        prompt = (self._llm.tokenize(request.prompt.encode("utf-8"), special=True)
                  if request.prompt else [self._llm.token_bos()])
        grammar = None
        if request.json_schema is not None:
            grammar = grammar_for_schema(json.dumps(request.json_schema))
        return DecodeJob(
            prompt=prompt, max_tokens=s.max_tokens, temperature=s.temperature,
            top_p=s.top_p, seed=s.seed, stop=list(s.stop), grammar=grammar,
            repeat_penalty=_REPEAT_PENALTY)

    def _failed(self, error: Exception) -> BackendError:
        """Count a request llama.cpp refused; the error for its slot names the model."""
        self.usage.add_error()
        return BackendError(f"llama.cpp {self.identity.model}: {error}")

    def _batched(
        self,
        requests: Sequence[R],
        to_job: Callable[[R], DecodeJob | None],
        one: Callable[[R], ChatResponse],
    ) -> list[ChatResponse | BackendError]:
        results: list[ChatResponse | BackendError | None] = [None] * len(requests)
        jobs: list[DecodeJob] = []
        where: list[int] = []
        in_turn: list[int] = []
        with self._lock:
            for i, request in enumerate(requests):
                try:
                    job = to_job(request)
                except (ValueError, RuntimeError) as e:  # e.g. a schema with no grammar
                    results[i] = self._failed(e)
                    continue
                if job is None:
                    in_turn.append(i)
                else:
                    jobs.append(job)
                    where.append(i)
            done = self._decoder.run(jobs) if jobs else []
        for i, out in zip(where, done, strict=True):
            if isinstance(out, ValueError):
                results[i] = self._failed(out)
                continue
            fields: dict[str, Any] = {"text": out.text, "finish_reason": out.finish_reason}
            if isinstance(requests[i], ChatRequest):
                choice = {"message": {"role": "assistant", "content": out.text},
                          "finish_reason": out.finish_reason}
                fields = chat_choice_fields(choice, requests[i])
                fields["top_logprobs"] = out.top_logprobs
            response = ChatResponse(tokens_in=out.tokens_in, tokens_out=out.tokens_out,
                                    seconds=out.seconds, **fields)
            self.usage.add(response, evaluated=out.tokens_evaluated)
            results[i] = response
        if in_turn:
            for i, answer in zip(in_turn, self._run([requests[i] for i in in_turn], one),
                                 strict=True):
                results[i] = answer
        return results  # type: ignore[return-value]

    def complete(
        self, requests: Sequence[CompletionRequest]
    ) -> list[ChatResponse | BackendError]:
        """Continue each raw prompt in turn with ``create_completion`` (no chat template).

        Special tokens written in the prompt (``<|im_start|>``) are parsed as such. A
        JSON schema is compiled to a llama.cpp grammar. Sampling as for :meth:`chat`
        (repeat penalty 1.1, top_k 40, min_p 0.05: llama-cpp-python's chat defaults).

        Returns:
            One :class:`ChatResponse` (``tool_calls`` None) or one
            :class:`BackendError` (llama.cpp refused the prompt, e.g. longer than
            ``n_ctx``, or the schema) per request, in order.
        """
        if self._decoder is None:
            return self._run(requests, self._complete_one)
        return self._batched(requests, self._complete_job, self._complete_one)

    def pre_query_template(self, system: str | None = None) -> str:
        """The chat template's text before a user message's content (Magpie's prefix).

        Renders the GGUF's chat template (llama-cpp-python's ``Jinja2ChatFormatter``,
        no generation prompt) for ``[system?, user]`` with a marker as the user's text
        and keeps what comes before the marker. When the model runs with a named
        ``chat_format`` instead of its GGUF template, or has no template, the model name
        is looked up among known ChatML models.

        Args:
            system: the system message; None renders a conversation without one (Qwen2.5
                and SmolLM2 templates then insert their default system message).

        Returns:
            e.g. ``"<|im_start|>system\\nYou are Qwen, ...<|im_end|>\\n<|im_start|>user\\n"``.

        Raises:
            ValueError: the template cannot be rendered or does not place the user text,
                and the model is not a known ChatML model.
        """
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if template is not None and self._llm.chat_format == "chat_template.default":
            messages = [{"role": "user", "content": _QUERY_MARKER}]
            if system is not None:
                messages.insert(0, {"role": "system", "content": system})
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=self._token_text(self._llm.token_eos()),
                bos_token=self._token_text(self._llm.token_bos()),
                add_generation_prompt=False,
            )
            prompt = formatter(messages=messages).prompt
            if _QUERY_MARKER in prompt:
                return prompt.split(_QUERY_MARKER, 1)[0]
        prefix = known_pre_query_template(self.identity.model, system)
        if prefix is None:
            raise ValueError(
                f"cannot find the pre-query template of {self.identity.model}: its chat "
                "template does not render a user message, and it is not a known ChatML model"
            )
        return prefix

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def close(self) -> None:
        """Free the model."""
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            decoder.close()
        llm, self._llm = self._llm, None
        if llm is not None:
            llm.close()


class _Captured(Exception):
    """Carries the arguments a chat handler passed to ``create_completion``."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        super().__init__("captured")
        self.kwargs = kwargs


class _CaptureCompletion:
    """Stands in for a ``Llama`` in a llama-cpp-python chat handler: everything goes to
    the real model except ``create_completion``, whose arguments are captured."""

    def __init__(self, llm: Any) -> None:
        self._llm = llm

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, **kwargs: Any) -> Any:
        raise _Captured(kwargs)


def _capture_completion(llm: Any, chat_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What ``llm.create_chat_completion(**chat_kwargs)`` would pass to
    ``create_completion``: prompt token ids (chat template applied), stop strings, the
    grammar, and every sampling value (``create_chat_completion``'s repeat penalty is
    1.0, its handler's 1.1), taken from the model's own chat handler, so the batched path
    decodes exactly what the sequential path would."""
    try:  # through create_chat_completion itself: its defaults differ from the handler's
        type(llm).create_chat_completion(_CaptureCompletion(llm), **chat_kwargs)
    except _Captured as captured:
        return captured.kwargs
    raise RuntimeError("the chat handler did not call create_completion")


def decode_threads() -> int:
    """CPU threads for llama.cpp: the cores this process may run on
    (``os.sched_getaffinity``, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def busy_cores_elsewhere(seconds: float = 0.3) -> float | None:
    """Cores kept busy by other processes over ``seconds`` (from ``/proc/stat``, minus
    this process's own CPU time); None where ``/proc/stat`` does not exist.

    llama.cpp's decode threads spin-wait on one another, so when another process takes
    one of their cores each step waits for the slowest thread: with a second llama.cpp
    process on the same 2 cores one 60-token request took 74-117 s instead of 3.5 s.
    """
    def totals() -> tuple[float, float]:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
        return sum(fields) - idle, sum(fields)

    try:
        busy0, all0 = totals()
        own0 = sum(os.times()[:2])
        time.sleep(seconds)
        busy1, all1 = totals()
        own1 = sum(os.times()[:2])
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    cores = (all1 - all0) / ticks / seconds
    busy = (busy1 - busy0) / ticks - (own1 - own0)
    return max(0.0, busy / seconds) if cores > 0 else None
