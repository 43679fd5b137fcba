"""Safe, exact evaluation of arithmetic expression text (numbers, + - * /, parentheses),
and reading the numbers written in a text.

Shared by the ``game24`` and ``arithmetic`` domains. The text is parsed with :mod:`ast`
(never ``eval``) and only number literals, the four binary operators, parentheses and
(optionally) unary minus are accepted; names, calls, attribute access, ``**``, ``%``,
``//``, comparisons, tuples and everything else are refused with the construct named.
Evaluation uses :class:`fractions.Fraction`, so ``8 / 3 * 3`` is exactly 8 and a division
by zero anywhere in the expression is reported, not rounded away.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction

#: longest expression text accepted (characters); keeps parse and big-number work bounded
MAX_EXPRESSION_CHARS = 500

#: typographic operators models write, mapped to the ASCII ones the parser reads
_OPERATOR_SPELLINGS = str.maketrans({"×": "*", "·": "*", "∗": "*", "÷": "/", "∕": "/",
                                     "−": "-", "–": "-", "—": "-"})

_BINARY_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}

_THOUSANDS_COMMA = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")

# a number as written in text: 1,250 / 12 / 2.5 / -3 (not the tail of another number)
_NUMBER = r"(?<![\d.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
_NUMBER_RE = re.compile(_NUMBER)
_FINAL_MARKERS = (re.compile(rf"the answer is\s*[:*$\s]*({_NUMBER})", re.IGNORECASE),
                  re.compile(rf"####\s*\$?\s*({_NUMBER})"),
                  re.compile(rf"answer\s*:\s*[*$\s]*({_NUMBER})", re.IGNORECASE),
                  re.compile(rf"\\boxed\{{\s*({_NUMBER})"))


class ExpressionError(ValueError):
    """The text is not an allowed arithmetic expression; the message is the reason
    (``"names are not allowed: x"``, ``"invalid syntax"``...)."""


class DivisionByZeroError(ExpressionError):
    """The expression divides by zero somewhere (exact evaluation, so ``1 / (3 - 3)``)."""


@dataclass(frozen=True)
class Evaluation:
    """The exact value of an expression and the number literals it is made of.

    Attributes:
        value: the exact value.
        numbers: every number literal in reading order (a number written twice is listed
            twice); decimals are exact (``2.5`` is ``Fraction(5, 2)``).
    """

    value: Fraction
    numbers: tuple[Fraction, ...]


def normalise_expression(text: str, *, drop_thousands_commas: bool = False) -> str:
    """``text`` with typographic operators (× · ÷ − –) replaced by ``* / -`` and the outer
    whitespace stripped; with ``drop_thousands_commas`` also ``1,250`` -> ``1250``."""
    cleaned = text.translate(_OPERATOR_SPELLINGS).strip()
    if drop_thousands_commas:
        cleaned = _THOUSANDS_COMMA.sub("", cleaned)
    return cleaned


def _literal(node: ast.Constant, allow_decimals: bool) -> Fraction:
    value = node.value
    if type(value) is int:
        return Fraction(value)
    if type(value) is float and allow_decimals:
        return Fraction(repr(value))
    if type(value) is float:
        raise ExpressionError(f"only whole numbers are allowed: {value!r}")
    raise ExpressionError(f"only numbers are allowed: {value!r}"[:120])


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"names are not allowed: {node.id}"
    if isinstance(node, ast.Call):
        return "function calls are not allowed"
    if isinstance(node, ast.Attribute):
        return f"attribute access is not allowed: .{node.attr}"
    if isinstance(node, ast.BinOp):
        symbol = {ast.Pow: "**", ast.Mod: "%", ast.FloorDiv: "//", ast.BitXor: "^",
                  ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|", ast.LShift: "<<",
                  ast.RShift: ">>"}.get(type(node.op), type(node.op).__name__)
        return f"operator {symbol} is not allowed (only + - * /)"
    if isinstance(node, ast.UnaryOp):
        return "unary operators are not allowed"
    if isinstance(node, ast.Compare):
        return "comparisons are not allowed"
    if isinstance(node, ast.Tuple):
        return "commas are not allowed (write 1250, not 1,250)"
    return f"{type(node).__name__} is not allowed"


def _evaluate(node: ast.AST, numbers: list[Fraction], allow_decimals: bool,
              allow_unary_minus: bool) -> Fraction:
    if isinstance(node, ast.Constant):
        number = _literal(node, allow_decimals)
        numbers.append(number)
        return number
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
        left = _evaluate(node.left, numbers, allow_decimals, allow_unary_minus)
        right = _evaluate(node.right, numbers, allow_decimals, allow_unary_minus)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            raise DivisionByZeroError("division by zero")
        return left / right
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
            and allow_unary_minus):
        return -_evaluate(node.operand, numbers, allow_decimals, allow_unary_minus)
    raise ExpressionError(_describe(node))


def evaluate_expression(text: str, *, allow_decimals: bool = False,
                        allow_unary_minus: bool = False) -> Evaluation:
    """The exact value of an arithmetic expression text and the numbers it uses.

    Accepted: number literals (whole numbers; decimals too with ``allow_decimals``), binary
    ``+ - * /``, parentheses, unary minus with ``allow_unary_minus``; typographic ``× ÷ −``
    are read as ``* / -``. The text is parsed with :mod:`ast`, never executed.

    Args:
        text: the expression, e.g. ``"(4 + 8) * (6 - 4)"``; at most
            :data:`MAX_EXPRESSION_CHARS` characters.

    Raises:
        DivisionByZeroError: a division by an exact zero.
        ExpressionError: anything else outside the allowed arithmetic (the message names
            the construct: a name, a call, ``**``, invalid syntax...).
    """
    cleaned = normalise_expression(text)
    if not cleaned:
        raise ExpressionError("empty expression")
    if len(cleaned) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(cleaned, mode="eval")
    except SyntaxError as error:
        raise ExpressionError(error.msg or "invalid syntax") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise ExpressionError(f"cannot parse: {type(error).__name__}") from None
    numbers: list[Fraction] = []
    try:
        value = _evaluate(tree.body, numbers, allow_decimals, allow_unary_minus)
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    return Evaluation(value=value, numbers=tuple(numbers))


def _as_number(written: str) -> Fraction:
    return Fraction(written.replace(",", ""))


def numbers_in(text: str) -> list[Fraction]:
    """Every number written in digits in ``text``, in order (``"1,250"`` is 1250, ``"2.5"``
    is 5/2, a ``-`` right before a number counts unless it follows a digit: ``12-4`` reads
    12 and 4)."""
    return [_as_number(m.group(0)) for m in _NUMBER_RE.finditer(text)]


def final_number(text: str) -> Fraction | None:
    """The final answer number of a solution text: the number after the last ``The answer
    is``, else after the last ``####`` (GSM8K, arXiv 2110.14168), else after the last
    ``Answer:``, else in the last ``\\boxed{}``, else the last number in the text; None
    when the text has no number. Markdown bold and ``$`` before the number are skipped."""
    for marker in _FINAL_MARKERS:
        found = marker.findall(text)
        if found:
            return _as_number(found[-1])
    numbers = numbers_in(text)
    return numbers[-1] if numbers else None


def format_number(number: Fraction) -> str:
    """``Fraction(24)`` -> ``"24"``, ``Fraction(7, 3)`` -> ``"7/3"`` (an exact string)."""
    return str(number)


__all__ = ["MAX_EXPRESSION_CHARS", "DivisionByZeroError", "Evaluation", "ExpressionError",
           "evaluate_expression", "final_number", "format_number", "normalise_expression",
           "numbers_in"]
