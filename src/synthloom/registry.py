"""Registries from a discriminator value to a pydantic class (task kinds, step types)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C")


def registrar(registry: dict[str, Any], field: str, what: str) -> Callable[[C], C]:
    """A class decorator that registers a pydantic model under the default of its ``field``
    (its discriminator literal) in ``registry``.

    Raises:
        ValueError: (when decorating) the value is registered twice for another class.
    """

    def register(cls: C) -> C:
        key = cls.model_fields[field].default  # type: ignore[attr-defined]
        if key in registry and registry[key] is not cls:
            raise ValueError(f"{what} {key!r} registered twice")
        registry[key] = cls
        return cls

    return register
