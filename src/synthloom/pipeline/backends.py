"""Build the cached LLM backend a recipe asks for."""

from __future__ import annotations

import warnings
from pathlib import Path

from synthloom.errors import UserInputError
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.recipe import BackendConfig


def check_backend(config: BackendConfig) -> None:
    """Fail early, before a run writes anything, on a backend that cannot exist: an
    embedded model that is unknown or not installed. (An HTTP server's address was
    checked when the recipe loaded; whether it answers is found out at the first call.)

    Raises:
        UserInputError: unknown or not installed embedded model (the message says how to
            install it).
    """
    if config.kind == "llamacpp":
        from synthloom.llm.models import get_model, install_hint, installed

        model = get_model(config.model)
        if not installed(model):
            raise UserInputError(f"model {config.model} is not installed; install it with: "
                                 f"{install_hint(model)}")


def make_backend(config: BackendConfig, cache_path: Path | str) -> CachedBackend:
    """A backend for ``config`` wrapped in the SQLite response cache at ``cache_path``.

    For llamacpp, warns (``RuntimeWarning``) when other processes keep half a core or
    more busy as the model loads. For openai_http, asks the server for its parallel slots
    (llama.cpp's server says) and warns when it has fewer than ``max_concurrency``; the
    backend's ``effective_concurrency`` is the smaller of the two.

    Raises:
        UserInputError: unknown or missing embedded model, or a weights sha256 mismatch.
    """
    if config.kind == "llamacpp":
        from synthloom.llm.llamacpp import LlamaCppBackend, busy_cores_elsewhere, decode_threads

        threads = config.n_threads or decode_threads()
        busy = busy_cores_elsewhere()
        if busy is not None and busy >= 0.5:
            warnings.warn(
                f"other processes keep {busy:.1f} of this machine's cores busy; llama.cpp's "
                f"{threads} decode threads slow down sharply when they share cores "
                "(set backend.n_threads lower, or stop the other work)",
                RuntimeWarning, stacklevel=2)
        backend = LlamaCppBackend.embedded(
            config.model, n_ctx=config.n_ctx, n_threads=threads, parallel=config.parallel)
    else:
        from synthloom.llm.openai_http import OpenAIHTTPBackend

        backend = OpenAIHTTPBackend(
            config.base_url, config.model, max_concurrency=config.max_concurrency,
            timeout_seconds=config.timeout_seconds, max_retries=config.max_retries,
        )
        slots = backend.server_slots()
        backend.effective_concurrency = min(config.max_concurrency, slots or config.max_concurrency)
        if slots is not None and slots < config.max_concurrency:
            warnings.warn(
                f"the server at {config.base_url} has {slots} parallel slots, fewer than "
                f"backend.max_concurrency {config.max_concurrency}: the other requests wait "
                f"in its queue (effective concurrency {slots})", RuntimeWarning, stacklevel=2)
    return CachedBackend(backend, ResponseCache(cache_path))
