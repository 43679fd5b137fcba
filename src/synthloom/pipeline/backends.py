"""Build the cached LLM backend a recipe asks for."""

from __future__ import annotations

from pathlib import Path

from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.recipe import BackendConfig


def make_backend(config: BackendConfig, cache_path: Path | str) -> CachedBackend:
    """A backend for ``config`` wrapped in the SQLite response cache at ``cache_path``.

    Raises:
        UserInputError: unknown or missing embedded model, or a weights sha256 mismatch.
    """
    if config.kind == "llamacpp":
        from synthloom.llm.llamacpp import LlamaCppBackend

        backend = LlamaCppBackend.embedded(config.model, n_ctx=config.n_ctx)
    else:
        from synthloom.llm.openai_http import OpenAIHTTPBackend

        backend = OpenAIHTTPBackend(
            config.base_url, config.model, max_concurrency=config.max_concurrency
        )
    return CachedBackend(backend, ResponseCache(cache_path))
