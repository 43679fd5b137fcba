"""The ``preference`` kind: a prompt and a chosen and a rejected response to it.

For each prompt, k candidate responses are written and judged pairwise; one latent score
per candidate is fitted from the votes (zELO, Pipitone et al., arXiv 2509.12541) and the
best and worst candidates become the pair a DPO trainer learns from (Rafailov et al.,
arXiv 2305.18290). Scores, their intervals and the margin stay in the record, so a
trainer may weight or filter pairs by how clearly the judge preferred one response.

Export layouts (``synthloom export RUN --layout NAME``) live next to the kind, in
:data:`PreferenceTask.layouts`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from synthloom.datasets import numbered_jsonl_rows
from synthloom.errors import UserInputError
from synthloom.records import Record
from synthloom.tasks.base import TaskSpec, register_kind


def dpo_row(record: Record) -> dict[str, Any]:
    """One preference record in TRL's conversational preference layout (what its
    ``DPOTrainer`` reads):

    ``{"prompt": [{"role": "user", "content": str}],
    "chosen": [{"role": "assistant", "content": str}],
    "rejected": [{"role": "assistant", "content": str}],
    "score_chosen": float, "score_rejected": float, "margin": float, "id": str}``.

    Scores are the fitted latent scores (Bradley-Terry logits or Thurstone probits) of the
    two responses; ``margin`` is their difference.

    Raises:
        ValueError: the record is not a finished preference record (no prompt, chosen or
            rejected response).
    """
    prompt = record.inputs.get("prompt")
    chosen, rejected = record.outputs.get("chosen"), record.outputs.get("rejected")
    if not (prompt and chosen and rejected):
        raise ValueError(f"record {record.id} is not a preference record (it needs a prompt, "
                         "a chosen and a rejected response)")
    scores = [float(s) for s in record.outputs.get("scores") or []]
    return {
        "prompt": [{"role": "user", "content": str(prompt)}],
        "chosen": [{"role": "assistant", "content": str(chosen)}],
        "rejected": [{"role": "assistant", "content": str(rejected)}],
        "score_chosen": max(scores) if scores else None,
        "score_rejected": min(scores) if scores else None,
        "margin": float(record.outputs.get("margin", 0.0)),
        "id": record.id,
    }


@register_kind
class PreferenceTask(TaskSpec):
    """Prompts with a preferred and a dispreferred response each.

    ``description`` says what the prompts are (and so what a good response is); ``unit``
    what one prompt is called ("question from a customer").

    Record fields: ``inputs["prompt"]`` (str) and ``outputs``::

        {"chosen": str, "rejected": str,
         "candidates": [{"text": str, "temperature": float, "score": float,
                         "low": float | None, "high": float | None}],
         "scores": [float],        # one per candidate, in candidate order
         "margin": float,          # score of chosen - score of rejected, >= 0
         "judge_calls": int}       # judge requests spent on this prompt, retries included

    One stratum (``"all"``): quotas count prompts.
    """

    kind: Literal["preference"] = "preference"

    input_fields = ("prompt",)
    output_fields = ("chosen", "rejected")
    stratum_name = "prompt"

    #: export layouts: name -> function of one accepted record to one JSON row
    layouts: ClassVar[dict[str, Callable[[Record], dict[str, Any]]]] = {"dpo": dpo_row}

    def text_of(self, record: Record) -> str:
        """The text filters and diversity measures look at: the prompt."""
        return str(record.inputs.get("prompt") or "")


def read_prompts(path: str | Path, column: str = "prompt") -> list[str]:
    """The prompts of a file, in file order, exact repeats dropped (first kept).

    ``.txt``: one prompt per line (blank lines skipped); ``.jsonl``: one JSON object per
    line, the prompt in ``column``; ``.csv``: a header row, the prompt in ``column``.
    Surrounding whitespace is removed; empty prompts are skipped.

    Raises:
        UserInputError: a missing file or a folder, another suffix, a file that is not
            UTF-8, a JSONL line that is not an object with ``column``, a CSV without
            ``column``, or no prompt at all (the message names the file and the line).
    """
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: prompts file not found" + (
            " (it is a folder)" if path.is_dir() else ""))
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv"):
        raise UserInputError(f"{path}: a prompts file is .txt (one prompt per line), .jsonl "
                             f"or .csv (with a {column!r} column), not {suffix or 'no suffix'}")
    try:
        text = path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    if suffix == ".txt":
        found = text.splitlines()
    elif suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if column not in (reader.fieldnames or []):
            raise UserInputError(f"{path}: no column {column!r} (columns: "
                                 f"{reader.fieldnames or []}); set prompt_column")
        found = [row.get(column) or "" for row in reader]
    else:
        found = []
        for i, row in numbered_jsonl_rows(path, text):
            if not isinstance(row.get(column), str):
                raise UserInputError(f"{path}: line {i} needs a string field {column!r}; "
                                     "set prompt_column")
            found.append(row[column])
    prompts = list(dict.fromkeys(p.strip() for p in found if p and p.strip()))
    if not prompts:
        raise UserInputError(f"{path}: no prompts in the file (it is empty)")
    return prompts
