"""The programs behind the ``arithmetic`` domain's word problems: a random structure of
2-6 steps over abstract quantities, its answer, and its dry statement (see
:mod:`synthloom.operators.verify.arithmetic` for how the LLM rewrites and how the text is
checked). Program-first construction as in GSM-Symbolic (Mirzadeh et al., arXiv 2410.05229).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from synthloom.operators.verify.expressions import format_number

#: largest value any step may reach
MAX_VALUE = 1000

# abstract units (singular, plural); a multiply step moves to the next one
_UNITS = (("item", "items"), ("part", "parts"), ("piece", "pieces"), ("unit", "units"),
          ("point", "points"), ("mark", "marks"), ("token", "tokens"))
# abstract containers (singular, plural); a problem uses two different kinds
_CONTAINERS = (("box", "boxes"), ("bag", "bags"), ("crate", "crates"), ("basket", "baskets"),
               ("tray", "trays"), ("pack", "packs"), ("row", "rows"), ("group", "groups"))


def evaluate_steps(steps: Sequence[dict[str, Any]], numbers: Sequence[int]) -> list[int]:
    """The value of each step of a program, recomputed from its operations.

    Args:
        steps: ``spec["steps"]``: dicts with ``op`` (add, subtract, multiply, divide),
            ``left`` and ``right`` operands (``{"given": i}``: ``numbers[i]``; ``{"step":
            j}``: the value of an earlier step ``j``, 0-based).
        numbers: ``spec["numbers"]``, the given numbers.

    Raises:
        ValueError: an unknown operation or operand, a later step referred to, or a value
            that is not a positive whole number (a remainder, a non-positive difference).
    """
    values: list[int] = []
    for index, step in enumerate(steps):
        operands = []
        for side in ("left", "right"):
            operand = step[side]
            if "given" in operand:
                operands.append(int(numbers[operand["given"]]))
            elif "step" in operand and 0 <= operand["step"] < index:
                operands.append(values[operand["step"]])
            else:
                raise ValueError(f"step {index}: bad {side} operand {operand!r}")
        left, right = operands
        operations = {"add": left + right, "subtract": left - right, "multiply": left * right,
                      "divide": Fraction(left, right) if right else Fraction(0)}
        if step["op"] not in operations:
            raise ValueError(f"step {index}: unknown operation {step['op']!r}")
        value = Fraction(operations[step["op"]])
        if value.denominator != 1 or value <= 0:
            raise ValueError(f"step {index}: {format_number(value)} is not a positive whole "
                             "number")
        values.append(int(value))
    return values


def draw_program(rng: random.Random, n_steps: int) -> dict[str, Any]:
    """One program of ``n_steps`` steps drawn with ``rng``: ``{"steps": [{"op", "left",
    "right", "value", "sentence"}, ...], "numbers": [int, ...], "answer": int, "question":
    str, "sentences": [str, ...]}`` (the dry statement, one sentence per step). Every value
    is a positive whole number <= :data:`MAX_VALUE`."""
    first, second = rng.sample(_CONTAINERS, 2)
    unit = 0
    numbers: list[int] = []
    steps: list[dict[str, Any]] = []
    sentences: list[str] = []
    start = rng.choice(["add", "subtract", "multiply", "divide"])
    units = _UNITS[unit][1]
    if start == "add":
        a, b = rng.randint(5, 40), rng.randint(2, 30)
        sentences.append(f"There are {a} {units} in one {first[0]} and {b} {units} in "
                         f"another {first[0]}.")
    elif start == "subtract":
        a = rng.randint(10, 60)
        b = rng.randint(2, a - 1)
        sentences.append(f"There are {a} {units}. Then {b} of them are taken away.")
    elif start == "multiply":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        sentences.append(f"There are {a} {first[1]}. Each {first[0]} holds {b} {units}.")
    else:
        b = rng.randint(2, 10)
        a = b * rng.randint(2, 12)
        sentences.append(f"There are {a} {units}. They are shared equally among {b} "
                         f"{first[1]}.")
    numbers += [a, b]
    value = {"add": a + b, "subtract": a - b, "multiply": a * b, "divide": a // b}[start]
    each = first if start == "divide" else None  # the container a quantity is "in each" of
    steps.append({"op": start, "left": {"given": 0}, "right": {"given": 1}, "value": value,
                  "sentence": sentences[-1]})
    for _ in range(n_steps - 1):
        units = _UNITS[unit][1]
        choices = (["add"] if value + 2 <= MAX_VALUE else []) + (["subtract"] if value >= 3
                                                                 else [])
        if unit + 1 < len(_UNITS) and value * 2 <= MAX_VALUE:
            choices.append("multiply")
        divisors = [d for d in range(2, 13) if value % d == 0 and value // d >= 2]
        if each is None and divisors:
            choices.append("divide")
        op = rng.choice(choices)
        where = f" to each {each[0]}" if each else ""
        if op == "add":
            b = rng.randint(2, min(30, MAX_VALUE - value))
            sentence = f"Then {b} more {units} are added{where}."
            value += b
        elif op == "subtract":
            b = rng.randint(2, min(value - 1, 30))
            sentence = (f"Then {b} {units} are taken out of each {each[0]}." if each
                        else f"Then {b} of the {units} are taken away.")
            value -= b
        elif op == "multiply":
            b = rng.randint(2, max(2, min(9, MAX_VALUE // value)))
            unit += 1
            sentence = f"Each {_UNITS[unit - 1][0]} has {b} {_UNITS[unit][1]}."
            value *= b
        else:
            b = rng.choice(divisors)
            each = second
            sentence = f"Then the {units} are shared equally among {b} {second[1]}."
            value //= b
        numbers.append(b)
        sentences.append(sentence)
        steps.append({"op": op, "left": {"step": len(steps) - 1},
                      "right": {"given": len(numbers) - 1}, "value": value,
                      "sentence": sentence})
    units = _UNITS[unit][1]
    question = (f"How many {units} are there in each {each[0]} now?" if each
                else f"How many {units} are there now?")
    return {"steps": steps, "numbers": numbers, "answer": value, "question": question,
            "sentences": sentences}


__all__ = ["MAX_VALUE", "draw_program", "evaluate_steps"]
