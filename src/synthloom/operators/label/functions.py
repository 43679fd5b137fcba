"""Labelling functions: labellers written as rules in the recipe or as Python functions.

A labelling function (Ratner et al., "Data Programming: Creating Large Training Sets,
Quickly", arXiv 1605.07723; Snorkel, arXiv 1711.10160) reads one text and votes one label
of the task or abstains. Their votes, with those of LLM labellers, go to a label model
(:mod:`synthloom.operators.label.label_model`). Three kinds, each a recipe entry
discriminated by ``type``:

* ``keywords``: ``{"type": "keywords", "label": "sport", "any": ["match", "goal"]}`` votes
  ``sport`` when any keyword occurs as a whole word (not inside another word),
  case-insensitively unless ``case_sensitive: true``;
* ``regex``: ``{"type": "regex", "label": "sport", "any": ["\\\\bgoals?\\\\b"]}`` votes
  ``sport`` when any pattern matches (``re.search``), case-insensitively unless
  ``case_sensitive: true``;
* ``python``: ``{"type": "python", "function": "mypkg.lfs:is_sport"}`` calls the named
  function with the text; it returns a label of the task or None to abstain.

Every labeller has a ``name`` (given, or ``<type>[<label or function>]``, with ``#2``,
``#3`` for repeats), which errors and per-labeller statistics use.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from synthloom.errors import UserInputError
from synthloom.operators.label.label_model import ABSTAIN
from synthloom.records import error_line

_Text = Annotated[str, StringConstraints(min_length=1)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _Text | None = None
    """How errors and statistics call this labeller (default ``<type>[<label>]``)."""


class KeywordsRule(_Spec):
    """Vote ``label`` when any of the keywords occurs as a whole word."""

    type: Literal["keywords"] = "keywords"
    label: _Text
    any: list[_Text] = Field(min_length=1)
    case_sensitive: bool = False


class RegexRule(_Spec):
    """Vote ``label`` when any of the regular expressions matches (``re.search``)."""

    type: Literal["regex"] = "regex"
    label: _Text
    any: list[_Text] = Field(min_length=1)
    case_sensitive: bool = False


class PythonLabeller(_Spec):
    """Call ``function`` ("module:function") with the text: a label, or None to abstain."""

    type: Literal["python"] = "python"
    function: _Text


LabellerSpec = Annotated[
    KeywordsRule | RegexRule | PythonLabeller,
    Field(discriminator="type"),
]
"""One labelling function of a recipe, discriminated by ``type``."""

_SPEC = TypeAdapter(LabellerSpec)


@dataclass(frozen=True)
class LabellingFunction:
    """A compiled labeller: ``vote(text)`` is a label of the task or None (abstain).

    Attributes:
        name: unique among the labellers built together.
        kind: ``keywords``, ``regex`` or ``python``.
        vote: the function from a text to a label or None.
    """

    name: str
    kind: str
    vote: Callable[[str], str | None]

    def __call__(self, text: str) -> str | None:
        return self.vote(text)


def _spec_error(where: str, error: ValidationError) -> UserInputError:
    """The first pydantic error as one line naming the field."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return UserInputError(f"{where}: {field + ': ' if field else ''}{first['msg']}")


def import_function(spec: str, who: str) -> Callable[..., Any]:
    """The callable ``module:function`` names (the pattern of the students'
    ``module:factory``, :mod:`synthloom.evaluate.students`).

    Args:
        spec: ``"package.module:function"``.
        who: how the error names the labeller.

    Raises:
        UserInputError: ``spec`` is not ``module:function``, the module cannot be imported
            (whatever its import raises), has no such attribute, or it is not callable.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UserInputError(f"{who}: give module:function, e.g. mypkg.lfs:is_sport, not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # a user's module may raise anything on import
        raise UserInputError(f"{who}: cannot import {module_name} ({error_line(e)})") from None
    function = getattr(module, attr, None)
    if function is None:
        raise UserInputError(f"{who}: module {module_name} has no {attr}")
    if not callable(function):
        raise UserInputError(f"{who}: {attr} is a {type(function).__name__}, not a function")
    return function


def _rule_vote(patterns: Sequence[re.Pattern[str]], label: str) -> Callable[[str], str | None]:
    return lambda text: label if any(p.search(text) for p in patterns) else None


def _python_vote(
    function: Callable[..., Any], who: str, labels: frozenset[str]
) -> Callable[[str], str | None]:
    def vote(text: str) -> str | None:
        try:
            answer = function(text)
        except Exception as e:  # a user's function may raise anything
            raise UserInputError(f"{who} raised on {text[:60]!r} ({error_line(e)})") from None
        if answer is None or answer in labels:
            return answer
        raise UserInputError(
            f"{who} returned {answer!r}, not one of the labels "
            f"({', '.join(sorted(labels))}) or None"
        )

    return vote


def build_labeller(
    spec: Mapping[str, Any] | KeywordsRule | RegexRule | PythonLabeller,
    labels: Sequence[str],
    where: str = "labeller",
) -> LabellingFunction:
    """Compile one labeller spec (a recipe mapping or a spec object).

    Args:
        spec: a ``keywords``, ``regex`` or ``python`` spec (see the module docstring).
        labels: the task's label set.
        where: how errors locate the spec (e.g. ``labellers[2]``).

    Raises:
        UserInputError: a malformed spec (unknown type or field, empty keyword list), a
            label outside ``labels``, a regex that does not compile, or a function that
            cannot be imported (see :func:`import_function`).
    """
    if not isinstance(spec, BaseModel):
        try:
            spec = _SPEC.validate_python(dict(spec))
        except ValidationError as e:
            raise _spec_error(where, e) from None
    label_set = frozenset(labels)
    if isinstance(spec, PythonLabeller):
        name = spec.name or f"python[{spec.function}]"
        who = f"labeller {name!r} ({where})"
        function = import_function(spec.function, who)
        return LabellingFunction(name, spec.type, _python_vote(function, who, label_set))
    name = spec.name or f"{spec.type}[{spec.label}]"
    who = f"labeller {name!r} ({where})"
    if spec.label not in label_set:
        raise UserInputError(f"{who}: unknown label {spec.label!r} (labels: {', '.join(labels)})")
    flags = 0 if spec.case_sensitive else re.IGNORECASE
    if isinstance(spec, KeywordsRule):
        words = "|".join(re.escape(w) for w in spec.any)
        return LabellingFunction(
            name,
            spec.type,
            _rule_vote([re.compile(rf"(?<!\w)(?:{words})(?!\w)", flags)], spec.label),
        )
    compiled = []  # one by one: joined, one pattern's group numbers would shift another's
    for pattern in spec.any:
        try:
            compiled.append(re.compile(pattern, flags))
        except re.error as e:
            raise UserInputError(f"{who}: bad regex {pattern!r} ({e})") from None
    return LabellingFunction(name, spec.type, _rule_vote(compiled, spec.label))


def build_labellers(
    specs: Sequence[Mapping[str, Any] | KeywordsRule | RegexRule | PythonLabeller],
    labels: Sequence[str],
) -> list[LabellingFunction]:
    """Compile a recipe's list of labeller specs; errors name ``labellers[i]``.

    Unnamed labellers of the same type and label get ``#2``, ``#3``... after their name.

    Raises:
        UserInputError: see :func:`build_labeller`; two labellers given the same ``name``.
    """
    built: list[LabellingFunction] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        lf = build_labeller(spec, labels, where=f"labellers[{i}]")
        explicit = (spec.get("name") if isinstance(spec, Mapping) else spec.name) is not None
        if lf.name in seen:
            if explicit:
                raise UserInputError(f"labellers[{i}]: name {lf.name!r} is used twice")
            seen[lf.name] += 1
            lf = LabellingFunction(f"{lf.name}#{seen[lf.name]}", lf.kind, lf.vote)
            if lf.name in seen:
                raise UserInputError(f"labellers[{i}]: name {lf.name!r} is used twice")
        seen.setdefault(lf.name, 1)
        built.append(lf)
    return built


def apply_labellers(
    labellers: Sequence[LabellingFunction], texts: Sequence[str], labels: Sequence[str]
) -> np.ndarray:
    """Every labeller's vote on every text.

    Args:
        labellers: m labellers.
        texts: n texts.
        labels: the k labels; a vote becomes its index in this order.

    Returns:
        ``(n, m)`` ints: the voted label's index, or :data:`ABSTAIN` (-1).

    Raises:
        UserInputError: a Python labeller raised or returned something other than a label
            or None.
    """
    index = {label: i for i, label in enumerate(labels)}
    votes = np.full((len(texts), len(labellers)), ABSTAIN, dtype=int)
    for j, lf in enumerate(labellers):
        for i, text in enumerate(texts):
            answer = lf(text)
            if answer is not None:
                if answer not in index:  # a LabellingFunction built for other labels
                    raise UserInputError(f"labeller {lf.name!r} voted unknown label {answer!r}")
                votes[i, j] = index[answer]
    return votes
