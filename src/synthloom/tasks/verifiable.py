"""The ``verifiable`` kind: a problem whose solution a program can check, and a solution
that passed the check.

Where correctness can be checked, a verifier replaces the judge: a SAT assignment
satisfies every clause or names the clause it falsifies; code passes its unit tests or
names the failing one; a Game-of-24 expression reaches 24 with the four numbers or says
what it reached. The domains (problem generators, verifiers, solution search) live in
:mod:`synthloom.operators.verify`; this file only says what a record of the kind holds.

Export layouts (``synthloom export RUN --layout NAME``) write verified pairs as
instruction data, the ``instruction`` kind's layouts: ``messages``, ``alpaca``,
``sharegpt``, the problem as the user turn and the verified solution as the assistant's;
``records`` keeps the verifier's evidence (``verification``) and the search cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field

from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind
from synthloom.tasks.instruction import alpaca_row, messages_row, sharegpt_row


def as_instruction(record: Record) -> Record:
    """A verified record as an instruction record: ``instruction`` = the problem text,
    ``response`` = the verified solution (id, provenance and verdicts unchanged).

    Raises:
        ValueError: the record has no problem or no solution.
    """
    problem, solution = record.inputs.get("problem"), record.outputs.get("solution")
    if not problem or not solution:
        raise ValueError(f"record {record.id} is not a verified record (it needs a problem "
                         "and a solution)")
    return record.model_copy(update={"inputs": {"instruction": str(problem)},
                                     "outputs": {"response": str(solution)}})


def _layout(row: Callable[[Record], dict[str, Any]]) -> Callable[[Record], dict[str, Any]]:
    def write(record: Record) -> dict[str, Any]:
        out = row(as_instruction(record))
        out["verifier"] = [v.model_dump(mode="json") for v in record.verification
                           if v.check == "verifier"]
        return out

    write.__doc__ = f"{row.__name__} of the record as instruction data, plus ``verifier``."
    return write


@register_kind
class VerifiableTask(TaskSpec):
    """Problems of one verifiable domain, each with a solution that passed the verifier.

    Attributes:
        domain: the verifiable domain: ``sat``, ``arithmetic``, ``code``, ``game24`` (the
            registered domains of :mod:`synthloom.operators.verify`; checked when the
            recipe's problems step loads).

    Record fields: ``inputs`` ``{"problem": str, "domain": str, "spec": {...}}`` (``spec``:
    the structure the verifier checks against: clauses, tests, the four numbers, the
    arithmetic program and its answer) and ``outputs`` ``{"solution": str, "answer":
    str}`` (``solution``: the text a trainer learns from; ``answer``: the candidate the
    verifier accepted). The verifier's verdict (with its evidence) is in ``verification``;
    the search cost (LLM samples, or solver decisions/nodes) in the search step's
    provenance ``detail``. A real problem (HumanEval, the Game-of-24 puzzles) has
    ``field_origins`` ``{"problem": "real"}`` on a synthetic record.

    One stratum (``"all"``): quotas count verified problems.
    """

    kind: Literal["verifiable"] = "verifiable"
    domain: str = Field(pattern=r"^[a-z0-9_]+$")

    input_fields = ("problem", "spec")
    output_fields = ("solution",)
    stratum_name = "problem"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {
        "messages": _layout(messages_row), "alpaca": _layout(alpaca_row),
        "sharegpt": _layout(sharegpt_row)}

    def text_of(self, record: Record) -> str:
        """The text filters and diversity measures look at: the problem."""
        return str(record.inputs.get("problem") or "")

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "domain": self.domain}
