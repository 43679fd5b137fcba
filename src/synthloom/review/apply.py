"""Folding a run's review actions into its records: each record's state after review,
the checks an edit must pass, and the reviewed dataset ``export --with-reviews`` writes.

A person's work shows in provenance, never silently: an exported record a person touched
gets a ``human.review`` operator step (who, when, which actions), one ``Verdict(check=
"human")`` per rating, and ``provenance.human_fields`` naming each field a person set. An
edited record's content id changes (it is a hash of the content) and the original id is
kept in ``provenance.parents``.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

from synthloom.operators.tools.registry import json_type
from synthloom.records import OperatorStep, Record, Verdict, record_id
from synthloom.review.log import ReviewAction
from synthloom.review.run import ReviewRun


class ActionRefused(ValueError):
    """An action the record cannot take: the message says why in one line (an edit that
    breaks the kind's schema, an unknown field, a label the task does not have, a rescue
    of a record that lacks its kind's fields...)."""


@dataclass
class ReviewState:
    """One record after the review actions so far.

    Attributes:
        record: the record with every edit applied (the original when none).
        included: whether it is in the reviewed dataset (accepted and not rejected by a
            person, or rescued).
        decision: the person's last decision: ``accepted``, ``rejected``, ``rescued`` or
            None (no decision yet).
        actions: the record's actions, in order.
        record_id: the record's id in the run (``record.id`` changes with no edit; kept
            for the log).
    """

    record: Record
    included: bool
    decision: str | None = None
    actions: list[ReviewAction] = field(default_factory=list)
    record_id: str = ""

    @property
    def edited_fields(self) -> list[str]:
        """The fields a person edited, in first-edit order."""
        return list(dict.fromkeys(a.field for a in self.actions if a.action == "edit"
                                  and a.field))


def editable_fields(run: ReviewRun, record: Record) -> list[str]:
    """The fields a person may edit on ``record``: ``label`` (a labelled kind, or a record
    with a label), ``trust_weight``, then ``inputs.<name>`` and ``outputs.<name>`` for the
    record's own fields and the kind's declared ones it lacks (so a rejected record whose
    text was never written can be completed and rescued)."""
    fields = [*(["label"] if run.labels or record.label is not None else []), "trust_weight"]
    declared_in = tuple(getattr(run.task, "input_fields", ()))
    declared_out = tuple(f for f in getattr(run.task, "output_fields", ()) if f != "label")
    for part, declared in (("inputs", declared_in), ("outputs", declared_out)):
        names = list(dict.fromkeys([*getattr(record, part), *declared]))
        fields.extend(f"{part}.{name}" for name in names)
    return fields


def get_field(record: Record, path: str, run: ReviewRun | None = None) -> Any:
    """The value of ``path`` (``label``, ``trust_weight``, ``inputs.<name>``,
    ``outputs.<name>``); None for a field of the kind (see :func:`editable_fields`, when
    ``run`` is given) the record lacks.

    Raises:
        ActionRefused: ``path`` names no editable field of the record.
    """
    if path in ("label", "trust_weight"):
        return getattr(record, path)
    part, _, key = path.partition(".")
    if part in ("inputs", "outputs") and key:
        holder = getattr(record, part)
        if key in holder:
            return holder[key]
        if run is not None and path in editable_fields(run, record):
            return None
    raise ActionRefused(f"{path!r} is not a field of record {record.id}; editable: label, "
                        "trust_weight, inputs.<name>, outputs.<name> (the record's own and "
                        "its kind's)")


def check_edit(run: ReviewRun, record: Record, path: str, value: Any) -> Record:
    """``record`` with ``path`` set to ``value``, if the result is still a record of the
    run's kind.

    Args:
        run: the run (its task gives the labels and the kind's fields).
        record: the record as the earlier actions left it.
        path: ``label``, ``trust_weight``, ``inputs.<name>`` or ``outputs.<name>``.
        value: the new value, as JSON gives it (text, number, list, object).

    Checks, in order: the field exists; the new value has the old one's JSON type (a text
    stays a text, a list of messages a list); a label is one of the task's labels; a trust
    weight is in 0..1; the edited record is a valid :class:`Record`, lacks none of the kind's
    fields, fits every export layout of its kind, and (``tool_dialogue``) each tool call
    still fits its tool's JSON Schema.

    Raises:
        ActionRefused: the first check that fails, in one line.
    """
    from synthloom.tasks import TASK_KINDS

    before = get_field(record, path, run)
    if before is not None and json_type(value) != json_type(before):
        raise ActionRefused(f"{path} must stay a {json_type(before)}, got a {json_type(value)}")
    if path == "label" and not isinstance(value, str):
        raise ActionRefused(f"a label is a text, got a {json_type(value)}")
    if path == "label" and run.labels and value not in run.labels:
        raise ActionRefused(f"label {value!r} is not one of the task's labels: "
                            f"{', '.join(run.labels)}")
    if path == "trust_weight" and (json_type(value) != "number" or not math.isfinite(
            float(value)) or not 0.0 <= float(value) <= 1.0):
        raise ActionRefused(f"trust_weight must be a number within 0..1, got {value!r}"[:200])
    if isinstance(value, str) and not value.strip() and path != "label":
        raise ActionRefused(f"{path} may not be empty")
    data = record.model_dump(mode="json")
    part, _, key = path.partition(".")
    if key:
        data[part][key] = copy.deepcopy(value)
    else:
        data[part] = value
    try:
        edited = Record.model_validate(data)
    except ValueError as e:
        raise ActionRefused(f"{path}: {str(e).splitlines()[-1].strip()[:200]}") from None
    if run.task is not None and (missing := run.task.missing_fields(edited)):
        raise ActionRefused(f"the edit leaves the record without {', '.join(missing)}")
    for name, layout in getattr(TASK_KINDS.get(edited.kind), "layouts", {}).items():
        try:
            layout(edited)
        except Exception as e:  # noqa: BLE001 - any failure of the layout is the reason
            raise ActionRefused(f"the edit breaks the {edited.kind} record (its {name} "
                              f"layout: {type(e).__name__}: {str(e)[:160]})") from None
    if edited.kind in ("tool_dialogue", "dialogue"):
        _check_messages(edited)
    if edited.kind == "tool_dialogue":
        _check_tool_calls(edited)
    return edited


def _check_messages(record: Record) -> None:
    """Each message of a chat record is an object with a role, text content and, if any,
    a list of tool calls each naming a function."""
    for i, message in enumerate(record.outputs.get("messages") or []):
        where = f"outputs.messages[{i}]"
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ActionRefused(f"{where} must be an object with a role")
        if not isinstance(message.get("content") or "", str):
            raise ActionRefused(f"{where}.content must be a text")
        calls = message.get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(
                isinstance(c, dict) and isinstance(c.get("function"), dict)
                and isinstance(c["function"].get("name"), str) for c in calls)):
            raise ActionRefused(f"{where}.tool_calls must be a list of calls, each with a "
                                "function name")
    speakers = record.outputs.get("speakers")
    if speakers is not None and not all(isinstance(s, str) and s for s in speakers):
        raise ActionRefused("outputs.speakers must be names (texts)")


def _check_tool_calls(record: Record) -> None:
    from synthloom.operators.tools.registry import Tool, ToolRegistry, ToolSchemaError

    try:
        registry = ToolRegistry(
            Tool(name=s["function"]["name"], description=s["function"].get("description", ""),
                 parameters=s["function"].get("parameters") or {"type": "object"})
            for s in record.inputs.get("tool_specs") or [])
    except (ToolSchemaError, KeyError, TypeError) as e:
        raise ActionRefused(f"the record's tool_specs are not tools: {e}") from None
    for message in record.outputs.get("messages") or []:
        for call in message.get("tool_calls") or []:
            if errors := registry.validate_call(call):
                raise ActionRefused(f"tool call does not fit its tool: {errors[0]}")


def review_states(run: ReviewRun, actions: list[ReviewAction]) -> dict[str, ReviewState]:
    """Each reviewed record's state after ``actions`` (in ``seq`` order); records without an
    action are not in the result. Actions on ids the run lacks are ignored; an edit that no
    longer applies (the log edited by hand) is skipped."""
    states: dict[str, ReviewState] = {}
    for action in sorted(actions, key=lambda a: a.seq):
        original = run.records.get(action.record)
        if original is None:
            continue
        state = states.setdefault(action.record, ReviewState(
            record=original, included=run.status[action.record] == "accepted",
            record_id=action.record))
        state.actions.append(action)
        if action.action in ("accept", "rescue"):
            state.included = True
            state.decision = "rescued" if run.status[action.record] == "rejected" else "accepted"
        elif action.action == "reject":
            state.included, state.decision = False, "rejected"
        elif action.action == "edit" and action.field:
            try:
                state.record = check_edit(run, state.record, action.field, action.after)
            except ActionRefused as e:
                warnings.warn(f"reviews.jsonl action {action.seq} (edit of {action.field} "
                              f"on {action.record}) no longer applies, skipped: {e}",
                              RuntimeWarning, stacklevel=2)
    return states


def export_id(state: ReviewState) -> str:
    """The id a reviewed record is exported under: its content id (:func:`record_id`)
    when a person edited or rescued it (a rejected draft may carry a plan id), else its
    own."""
    record = state.record
    if state.edited_fields or state.decision == "rescued":
        return record_id(record.task, record.inputs, record.label, record.outputs)
    return record.id


def included_ids(run: ReviewRun, states: dict[str, ReviewState]) -> dict[str, str]:
    """Export id -> run record id of every record the reviewed dataset holds now."""
    out: dict[str, str] = {}
    for original_id, status in run.status.items():
        state = states.get(original_id)
        if state is None and status == "accepted":
            out.setdefault(original_id, original_id)
        elif state is not None and state.included:
            out.setdefault(export_id(state), original_id)
    return out


def _human_provenance(state: ReviewState) -> Record:
    """The state's record as exported: human steps, verdicts and fields in provenance."""
    original = state.record
    record = original
    reviewers = list(dict.fromkeys(a.who for a in state.actions))
    verdicts = [Verdict(check="human", by=f"human:{a.who}", passed=a.keep,
                        score=(round(sum(a.scores.values()) / len(a.scores), 4)
                               if a.scores else None),
                        detail={"scores": a.scores or {}, "label": a.label, "blind": a.blind,
                                "at": a.at.isoformat(), "seq": a.seq})
                for a in state.actions if a.action == "rate"]
    step = OperatorStep(operator="human.review", version="1", verdict=state.decision or (
        "edited" if state.edited_fields else "rated"), detail={
        "reviewers": reviewers, "actions": [a.action for a in state.actions],
        "seqs": [a.seq for a in state.actions], "fields": state.edited_fields,
        "reasons": [a.reason for a in state.actions if a.reason]})
    human_fields = {**record.provenance.human_fields, **{
        f: f"human:{a.who}" for a in state.actions if a.action == "edit" and (f := a.field)}}
    parents = record.provenance.parents
    new_id = export_id(state)
    if new_id != record.id and record.id not in parents:
        parents = [*parents, record.id]
    provenance = record.provenance.model_copy(update={
        "operators": [*record.provenance.operators, step], "human_fields": human_fields,
        "parents": parents})
    return record.model_copy(update={
        "id": new_id, "provenance": provenance, "rejected": None,
        "verification": [*record.verification, *verdicts]})


def apply_reviews(run: ReviewRun, actions: list[ReviewAction]) -> list[Record]:
    """The reviewed dataset: the run's accepted records and the rescued rejected ones, minus
    those a person rejected, with every edit applied and reviewed records marked in
    provenance (see the module docstring). Order: ``data.jsonl``'s, then rescued records in
    ``rejected.jsonl``'s order."""
    states = review_states(run, actions)
    out: list[Record] = []
    seen: dict[str, str] = {}
    for original_id, record in run.records.items():
        state = states.get(original_id)
        if state is None:
            if run.status[original_id] != "accepted":
                continue
            made = record
        elif state.included:
            made = _human_provenance(state)
        else:
            continue
        if made.id in seen:  # the page refuses this; a log edited by hand may not
            warnings.warn(f"record {original_id} is exported as {made.id}, which record "
                          f"{seen[made.id]} already is: left out", RuntimeWarning,
                          stacklevel=2)
            continue
        seen[made.id] = original_id
        out.append(made)
    return out
