"""Function-calling tools: load them from JSON specs or an OpenAPI 3 file, validate them,
and check a model's tool calls against them.

A tool is what an OpenAI-style model is offered (``name``, ``description``, ``parameters``
as a JSON Schema object) plus ``returns``, the JSON Schema of its result. The result schema
is not offered to the model; ToolFlow (Wang et al., arXiv 2410.18447) needs it to join one
tool's output to another's input in its tool graph, and the tool simulator's output is
checked against it. Tool files carry it as an extra key ``"returns"`` next to
``"parameters"``.

Every problem in a tool file raises :class:`ToolSchemaError` (a
:class:`~synthloom.errors.UserInputError`) with one line naming the tool and its file, e.g.
``tool 'get_weather' (weather.json): parameters is not valid JSON Schema: 'strng' is not
valid under any of the given schemas (at properties/city/type)``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.validators import validator_for

from synthloom.errors import UserInputError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""OpenAI's rule for function names: 1-64 letters, digits, underscores or hyphens."""

MAX_MESSAGE_CHARS = 240


class ToolSchemaError(UserInputError):
    """A tool spec cannot be used. Its message is one line naming the tool and its file."""


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with all whitespace runs collapsed to one space, cut to ``limit`` characters
    (ending in "...") so that it fits a one-line error message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type ("object", "array", "string"...)."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "number" if isinstance(value, int | float) else type(value).__name__


def tool_label(name: Any, source: str) -> str:
    """``"tool '<name>' (<file name>)"``, how errors name a tool."""
    file = f" ({Path(source).name})" if source else ""
    return f"tool {name!r}{file}"


def _schema_problem(schema: Any) -> str | None:
    """Why ``schema`` is not a usable JSON Schema (one line), or None when it is."""
    if not isinstance(schema, dict):
        return f"must be a JSON object, got {json_type(schema)}"
    try:
        validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        return f"is not valid JSON Schema: {error.message}" + (f" (at {where})" if where else "")
    return None


def _empty_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class Tool:
    """One function-calling tool.

    Attributes:
        name: 1-64 letters, digits, ``_`` or ``-`` (:data:`NAME_PATTERN`); unique in a
            registry.
        description: what the tool does, as the model reads it; not empty.
        parameters: JSON Schema of the arguments, ``"type": "object"``.
        returns: JSON Schema of the result, or None when unknown. Not offered to the model.
        domain: the group the tool belongs to (its file's stem unless the spec has a
            ``"domain"`` key), e.g. ``"travel"``.
        source: the file it came from ("" when built in code).

    The schemas are plain dicts: do not change them. Tools hash by name, description,
    domain and source.

    Raises:
        ToolSchemaError: on construction, for a bad name, an empty description, a
            ``parameters`` that is not an object JSON Schema or a ``returns`` that is not a
            JSON Schema.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=_empty_parameters, hash=False)
    returns: dict[str, Any] | None = field(default=None, hash=False)
    domain: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        label = tool_label(self.name, self.source)
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            raise ToolSchemaError(
                f"{label}: name must be 1-64 letters, digits, '_' or '-'")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ToolSchemaError(f"{label}: description is missing or empty")
        problem = _schema_problem(self.parameters)
        if problem:
            raise ToolSchemaError(one_line(f"{label}: parameters {problem}"))
        if self.parameters.get("type") != "object":
            raise ToolSchemaError(
                f"{label}: parameters must have \"type\": \"object\", "
                f"got {self.parameters.get('type')!r}")
        if self.returns is not None:
            problem = _schema_problem(self.returns)
            if problem:
                raise ToolSchemaError(one_line(f"{label}: returns {problem}"))

    def openai_spec(self) -> dict[str, Any]:
        """What a model is offered: ``{"type": "function", "function": {"name",
        "description", "parameters"}}`` (without ``returns``)."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters}}


def _errors_against(schema: dict[str, Any], instance: Any, prefix: str) -> list[str]:
    """One line per way ``instance`` breaks ``schema``, sorted by JSON path: ``"<prefix>
    $.path: message"``. Formats (``date``, ``email``...) are checked where jsonschema can."""
    validator_class = validator_for(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance),
                    key=lambda e: (tuple(str(p) for p in e.absolute_path), e.message))
    return [one_line(f"{prefix} {error.json_path}: {error.message}") for error in errors]


def _parse_json_text(text: str) -> tuple[Any, str | None]:
    """``(value, None)`` or ``(None, one-line reason)`` for a JSON text."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"{error.msg} at line {error.lineno} column {error.colno}"


class ToolRegistry:
    """Tools by name, in load order.

    Args:
        tools: the tools; names must be unique.

    Raises:
        ToolSchemaError: two tools share a name (the message names both files).
    """

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            first = self._tools.get(tool.name)
            if first is not None:
                raise ToolSchemaError(
                    f"{tool_label(tool.name, tool.source)}: duplicate tool name, also defined in "
                    f"{Path(first.source).name or 'code'}")
            self._tools[tool.name] = tool

    @classmethod
    def from_path(cls, path: str | Path) -> ToolRegistry:
        """Tools from a folder of ``*.json`` tool files, or from one file.

        A tool file holds one function spec or a list of them, each OpenAI style
        (``{"type": "function", "function": {...}}``) or bare (``{"name", "description",
        "parameters"[, "returns"][, "domain"]}``). A file whose top level has an ``"openapi"``
        key is an OpenAPI 3 document (``.json``, ``.yaml`` or ``.yml``): each operation
        becomes a tool (see
        :func:`synthloom.operators.tools.openapi.tools_from_openapi`).

        Raises:
            ToolSchemaError: no such path, an empty folder, a file that is not JSON/YAML or
                any bad tool in it.
        """
        path = Path(path)
        if path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise ToolSchemaError(f"{path}: no *.json tool files in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise ToolSchemaError(f"{path}: no such file or folder")
        tools: list[Tool] = []
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ToolSchemaError(one_line(f"{file.name}: cannot read: {error}")) from None
            tools += load_tool_document(text, str(file), file.stem)
        return cls(tools)

    @classmethod
    def builtin(cls) -> ToolRegistry:
        """The tool set shipped in ``synthloom/operators/tools/data/`` (one file per
        domain, domain = file stem)."""
        folder = resources.files("synthloom.operators.tools") / "data"
        tools: list[Tool] = []
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".json"):
                text = entry.read_text(encoding="utf-8")
                tools += load_tool_document(text, str(entry), entry.name.removesuffix(".json"))
        return cls(tools)

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    @property
    def names(self) -> list[str]:
        """Tool names in load order."""
        return list(self._tools)

    @property
    def domains(self) -> list[str]:
        """Distinct domains, sorted."""
        return sorted({tool.domain for tool in self._tools.values()})

    def in_domain(self, domain: str) -> list[Tool]:
        """The tools of one domain, in load order."""
        return [tool for tool in self._tools.values() if tool.domain == domain]

    def openai_tools(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """OpenAI ``tools`` list for ``names`` (all tools when None), in the given order.

        Raises:
            KeyError: a name is not in the registry.
        """
        chosen = self.names if names is None else list(names)
        missing = [name for name in chosen if name not in self._tools]
        if missing:
            raise KeyError(f"unknown tools: {', '.join(map(repr, missing))}")
        return [self._tools[name].openai_spec() for name in chosen]

    def validate_call(self, call: Any) -> list[str]:
        """Check one OpenAI tool call, ``{"id", "type": "function", "function": {"name",
        "arguments"}}``, where ``arguments`` is a JSON text or an already parsed dict
        (missing or "" means ``{}``).

        Returns:
            One-line error strings, empty when the call is valid: an unknown tool (with the
            closest names), arguments that are not JSON or not an object, then each JSON
            Schema violation of ``parameters`` (wrong type, missing required, not in enum,
            bad format...) sorted by JSON path, e.g. ``"tool 'book_flight': argument
            $.passengers: 'two' is not of type 'integer'"``.
        """
        if not isinstance(call, Mapping):
            return [f"tool call must be a JSON object, got {json_type(call)}"]
        if call.get("type", "function") != "function":
            return [one_line(f"tool call type must be 'function', got {call.get('type')!r}")]
        function = call.get("function")
        if not isinstance(function, Mapping):
            return ["tool call has no 'function' object"]
        name = function.get("name")
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            close = difflib.get_close_matches(str(name), self.names, n=3) if name else []
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            return [one_line(f"unknown tool {name!r}{hint}")]
        arguments = function.get("arguments")
        if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
            arguments = {}
        elif isinstance(arguments, str):
            arguments, reason = _parse_json_text(arguments)
            if reason:
                return [one_line(f"tool {name!r}: arguments are not valid JSON: {reason}")]
        if not isinstance(arguments, Mapping):
            return [f"tool {name!r}: arguments must be a JSON object, got "
                    f"{json_type(arguments)}"]
        return _errors_against(tool.parameters, dict(arguments), f"tool {name!r}: argument")

    def validate_result(self, tool_name: str, result: Any) -> list[str]:
        """Check a tool's result (e.g. the tool simulator's output) against its ``returns``.

        Args:
            tool_name: the tool that produced it.
            result: the parsed JSON value, or its JSON text (a str is always parsed).

        Returns:
            One-line error strings as :meth:`validate_call`'s (``"tool 'x': result $.path:
            ..."``); empty when valid or when the tool has no ``returns`` schema.
        """
        tool = self._tools.get(tool_name)
        if tool is None:
            return [one_line(f"unknown tool {tool_name!r}")]
        if isinstance(result, str):
            result, reason = _parse_json_text(result)
            if reason:
                return [one_line(f"tool {tool_name!r}: result is not valid JSON: {reason}")]
        if tool.returns is None:
            return []
        return _errors_against(tool.returns, result, f"tool {tool_name!r}: result")


def builtin() -> ToolRegistry:
    """The shipped tool set (same as :meth:`ToolRegistry.builtin`)."""
    return ToolRegistry.builtin()


def load_tool_document(text: str, source: str, domain: str) -> list[Tool]:
    """Tools from one file's text: an OpenAPI 3 document, or one tool spec or a list of them.

    Args:
        text: JSON, or YAML when ``source`` ends in ``.yaml``/``.yml``.
        source: the file path, named in errors and kept in ``Tool.source``.
        domain: the domain of tools whose spec has no ``"domain"`` key.

    Raises:
        ToolSchemaError: the text does not parse, or a tool in it is bad.
    """
    file = Path(source).name
    if source.endswith((".yaml", ".yml")):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ToolSchemaError(one_line(f"{file}: not valid YAML: {error}")) from None
    else:
        data, reason = _parse_json_text(text)
        if reason:
            raise ToolSchemaError(one_line(f"{file}: not valid JSON: {reason}"))
    if isinstance(data, dict) and "swagger" in data:
        raise ToolSchemaError(f"{file}: Swagger 2.0 is not supported; convert it to OpenAPI 3")
    if isinstance(data, dict) and "openapi" in data:
        from synthloom.operators.tools.openapi import tools_from_openapi

        return tools_from_openapi(data, source, domain)
    entries = data if isinstance(data, list) else [data]
    return [_tool_from_spec(entry, source, domain, index)
            for index, entry in enumerate(entries, 1)]


def _tool_from_spec(entry: Any, source: str, domain: str, index: int) -> Tool:
    where = f"tool #{index} ({Path(source).name})"
    if not isinstance(entry, dict):
        raise ToolSchemaError(f"{where}: a tool spec must be a JSON object, got "
                              f"{json_type(entry)}")
    spec = entry
    if entry.get("type") == "function" or "function" in entry:
        spec = entry.get("function")
        if not isinstance(spec, dict):
            raise ToolSchemaError(f"{where}: 'function' must be a JSON object")
    name = spec.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ToolSchemaError(f"{where}: the tool has no name")
    return Tool(name=name, description=spec.get("description"),  # checked by Tool
                parameters=spec.get("parameters", _empty_parameters()),
                returns=spec.get("returns"),
                domain=str(spec.get("domain") or entry.get("domain") or domain),
                source=source)
