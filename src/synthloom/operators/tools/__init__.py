"""The tool layer of the ``tool_dialogue`` kind (ToolFlow, arXiv 2410.18447): a registry of
function-calling tools with result schemas, the tool graph built from their fields, graph
sampling, and a shipped tool set of six domains (``data/*.json``)."""

from synthloom.operators.tools.graph import (
    DEFAULT_THRESHOLD,
    TextEmbedder,
    ToolEdge,
    ToolField,
    ToolGraph,
    field_words,
    tool_fields,
)
from synthloom.operators.tools.openapi import tools_from_openapi
from synthloom.operators.tools.registry import (
    Tool,
    ToolRegistry,
    ToolSchemaError,
    builtin,
    load_tool_document,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "TextEmbedder",
    "Tool",
    "ToolEdge",
    "ToolField",
    "ToolGraph",
    "ToolRegistry",
    "ToolSchemaError",
    "builtin",
    "field_words",
    "load_tool_document",
    "tool_fields",
    "tools_from_openapi",
]
