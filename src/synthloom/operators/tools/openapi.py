"""OpenAPI 3 documents as tools: each operation becomes one :class:`Tool`.

Used by :meth:`~synthloom.operators.tools.registry.ToolRegistry.from_path` for a file whose
top level has an ``"openapi"`` key (JSON or YAML). Only local ``$ref``
("#/components/schemas/X") are resolved; Swagger 2.0 is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from synthloom.operators.tools.registry import Tool, ToolSchemaError, one_line, tool_label

_HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_SUCCESS_STATUSES = ("200", "201")


def _resolve(node: Any, document: dict[str, Any], file: str, stack: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` ("#/components/schemas/X") replaced by a copy of
    its target; a reference back into itself becomes ``{}`` (any value)."""
    if isinstance(node, list):
        return [_resolve(item, document, file, stack) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return {key: _resolve(value, document, file, stack) for key, value in node.items()}
    if not ref.startswith("#/"):
        raise ToolSchemaError(one_line(f"{file}: only local $ref ('#/...') are resolved, "
                                       f"got {ref!r}"))
    if ref in stack:
        return {}
    target: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(target, dict) or part not in target:
            raise ToolSchemaError(one_line(f"{file}: $ref {ref!r} points to nothing"))
        target = target[part]
    resolved = _resolve(target, document, file, (*stack, ref))
    siblings = {key: value for key, value in node.items() if key != "$ref"}
    if siblings and isinstance(resolved, dict):  # OpenAPI 3.1 allows e.g. a description
        resolved = {**resolved, **_resolve(siblings, document, file, stack)}
    return resolved


def _json_schema_of(content: Any) -> dict[str, Any] | None:
    """The schema of a ``content`` map's JSON media type (application/json first)."""
    if not isinstance(content, dict):
        return None
    types = sorted(content, key=lambda media: (media != "application/json", media))
    for media in types:
        if "json" in media and isinstance(content[media], dict):
            schema = content[media].get("schema")
            if isinstance(schema, dict):
                return schema
    return None


def tools_from_openapi(document: dict[str, Any], source: str, domain: str) -> list[Tool]:
    """One tool per operation of an OpenAPI 3 document, local ``$ref`` resolved.

    name: ``operationId``, else ``<method> <path>``, each run of characters outside
    ``[A-Za-z0-9_-]`` replaced by one ``_`` (``get /pets/{petId}`` -> ``get_pets_petId``);
    description: ``summary``, else ``description``, else
    ``"<METHOD> <path>"``; parameters: the path and query parameters (path-level ones too;
    header and cookie parameters are left out) plus the JSON request body's properties (a
    body that is not an object becomes one argument ``body``; a body property named like a
    parameter becomes ``body_<name>``), with ``required``; returns: the JSON schema of the
    200 (else 201) response, or None.

    Raises:
        ToolSchemaError: no ``paths``, a ``$ref`` that is not local or points to nothing, or
            a bad tool.
    """
    file = Path(source).name
    paths = document.get("paths")
    if not isinstance(paths, dict):
        raise ToolSchemaError(f"{file}: the OpenAPI document has no 'paths' object")
    tools = []
    for path, item in _resolve(paths, document, file).items():
        if not isinstance(item, dict):
            continue
        for method in _HTTP_METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                tools.append(_operation_tool(method, str(path), operation,
                                             item.get("parameters") or [], source, domain))
    return tools


def _operation_tool(method: str, path: str, operation: dict[str, Any], shared: list[Any],
                    source: str, domain: str) -> Tool:
    raw_name = str(operation.get("operationId") or f"{method} {path}")  # "get /pets/{id}"
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", raw_name).strip("_")[:64]  # "get_pets_id"
    description = (operation.get("summary") or operation.get("description")
                   or f"{method.upper()} {path}")
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    for parameter in [*shared, *(operation.get("parameters") or [])]:  # operation's win
        if isinstance(parameter, dict) and parameter.get("in") in ("path", "query"):
            if not isinstance(parameter.get("name"), str):
                raise ToolSchemaError(f"{tool_label(name, source)}: a parameter has no name")
            by_key[(parameter["in"], parameter["name"])] = parameter
    properties: dict[str, Any] = {}
    required: list[str] = []
    for (place, key), parameter in by_key.items():
        schema = dict(parameter.get("schema") or {})
        if parameter.get("description") and "description" not in schema:
            schema["description"] = parameter["description"]
        properties[key] = schema
        if place == "path" or parameter.get("required"):
            required.append(key)
    body = operation.get("requestBody")
    body_schema = _json_schema_of(body.get("content")) if isinstance(body, dict) else None
    if body_schema is not None and isinstance(body, dict):
        if isinstance(body_schema.get("properties"), dict):
            body_required = body_schema.get("required") or []
            for key, schema in body_schema["properties"].items():
                target = f"body_{key}" if key in properties else key
                properties[target] = schema
                if key in body_required:
                    required.append(target)
        else:
            properties["body"] = body_schema
            if body.get("required"):
                required.append("body")
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = list(dict.fromkeys(required))
    responses = operation.get("responses") or {}
    returns = None
    for status in _SUCCESS_STATUSES:
        response = responses.get(status, responses.get(int(status)))
        if isinstance(response, dict):
            returns = _json_schema_of(response.get("content"))
            if returns is not None:
                break
    return Tool(name=name, description=str(description), parameters=parameters,
                returns=returns, domain=domain, source=source)
