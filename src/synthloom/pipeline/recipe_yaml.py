"""Reading a recipe file: UTF-8 text, YAML that cannot explode, no key given twice.

A recipe is a small configuration, so the checks here are cheap and strict: the file
must be UTF-8 (an error names the first bad byte), YAML aliases may not expand past
:data:`MAX_YAML_NODES` nodes (a "billion laughs" file is refused in the time it takes to
read it, not expanded), and a key given twice in one mapping is an error with its line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from synthloom.errors import UserInputError

MAX_YAML_NODES = 100_000
"""YAML nodes a recipe file may hold once its aliases are expanded (a "billion laughs"
file of a few hundred bytes expands to billions; a real recipe holds a few hundred)."""


def read_recipe_yaml(path: Path) -> tuple[yaml.MappingNode, dict[str, Any]]:
    """The composed YAML node (for line numbers) and the loaded mapping of a recipe file.

    Raises:
        UserInputError: a missing file or a folder, a file that is not UTF-8, bad YAML, an
            empty file or one that is not a mapping, aliases that expand past
            :data:`MAX_YAML_NODES` nodes or refer to themselves, or a key given twice (the
            message names the file and the line).
    """
    text = _read_text(path)
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        raise _yaml_error(path, text, e) from e
    except RecursionError as e:
        raise UserInputError(f"{path}: not valid YAML (nested too deeply)") from e
    if node is None:
        raise UserInputError(f"{path}: the file is empty; a recipe is a YAML mapping of fields "
                             "(task, n, steps...)")
    if not isinstance(node, yaml.MappingNode):
        what = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
        raise UserInputError(f"{path}: a recipe is a YAML mapping of fields (task, n, "
                             f"steps...), not {what}")
    size = _expanded_size(node)
    if size is None:
        raise UserInputError(f"{path}: a YAML alias refers to a node that contains it")
    if size > MAX_YAML_NODES:
        raise UserInputError(f"{path}: its YAML aliases expand to {size:,} nodes, more than "
                             f"the {MAX_YAML_NODES:,} a recipe may hold")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _yaml_error(path, text, e) from e
    except (ValueError, TypeError, OverflowError, RecursionError) as e:  # e.g. 2021-02-30
        raise UserInputError(f"{path}: not valid YAML ({type(e).__name__}: {e})") from e
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a recipe is a YAML mapping of fields")
    duplicate = _duplicate_key(node)
    if duplicate:
        key, line = duplicate
        raise UserInputError(f"{path} line {line}: {key}: given twice")
    return node, data


def line_of(node: Any, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at pydantic location ``loc``, as deep as it goes."""
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for k, v in node.value:
                if k.value == str(key):
                    found = (k, v)
                    break
            if found is None:
                break
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _duplicate_key(node: Any, prefix: str = "", visited: set[int] | None = None
                   ) -> tuple[str, int] | None:
    """The first key given twice in one YAML mapping, with the line of its second copy.

    Each node is visited once: an alias shares its anchor's node, which is walked at its
    first appearance only (so nested aliases cost their size in the file, not expanded).
    """
    visited = set() if visited is None else visited
    if id(node) in visited:
        return None
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):
                continue  # a list or mapping as a key: the schema refuses it
            name = f"{prefix}{k.value}"
            if k.value in seen:
                return name, k.start_mark.line + 1
            seen.add(k.value)
            found = _duplicate_key(v, name + ".", visited)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            found = _duplicate_key(v, f"{prefix}{i}.", visited)
            if found:
                return found
    return None


def _expanded_size(root: Any) -> int | None:
    """Nodes of a composed YAML document once its aliases are expanded (each node counted
    as often as it is reached), or None when an alias refers to a node that contains it.

    Iterative, memoised by node: the time is the size of the file, not of the expansion.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: the current path from the root
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if isinstance(node, yaml.MappingNode):
            children = [c for pair in node.value for c in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            return None
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children)
    return sizes[id(root)]


def _read_text(path: Path) -> str:
    """The recipe file's text.

    Raises:
        UserInputError: the path is missing, a folder or unreadable, or the file is not
            UTF-8 (the message gives the first bad byte, its offset and line).
    """
    if path.is_dir():
        raise UserInputError(f"{path}: is a folder, not a recipe file")
    if not path.is_file():
        raise UserInputError(f"{path}: recipe file not found")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserInputError(f"{path}: cannot read the recipe ({e.strerror or e})") from e
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise UserInputError(f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} at offset "
                             f"{e.start}, line {line}); save the recipe as UTF-8") from e


def _yaml_error(path: Path, text: str, e: yaml.YAMLError) -> UserInputError:
    """A one-line error for a YAML error, with its line when known."""
    if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, e.position) + 1
        return UserInputError(f"{path} line {line}: not valid YAML (character "
                              f"#x{e.character:04x} at offset {e.position} is not allowed)")
    mark = getattr(e, "context_mark", None) or getattr(e, "problem_mark", None)
    where = f" line {mark.line + 1}" if mark else ""
    problem = getattr(e, "problem", None) or str(e)
    return UserInputError(f"{path}{where}: not valid YAML ({' '.join(problem.split())})")
