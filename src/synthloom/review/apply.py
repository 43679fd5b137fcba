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
from dataclasses import dataclass, field
from typing import Any

from synthloom.records import OperatorStep, Record, Verdict, record_id
from synthloom.review.log import ReviewAction
from synthloom.review.run import ReviewRun

EDITABLE_TOP = ("label", "trust_weight")


class EditRefused(ValueError):
    """An action the record cannot take: the message says why in one line (an edit that
    breaks the kind's schema, an unknown field, a label the task does not have...)."""


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
    """

    record: Record
    included: bool
    decision: str | None = None
    actions: list[ReviewAction] = field(default_factory=list)

    @property
    def edited_fields(self) -> list[str]:
        """The fields a person edited, in first-edit order."""
        return list(dict.fromkeys(a.field for a in self.actions if a.action == "edit"
                                  and a.field))


def get_field(record: Record, path: str) -> Any:
    """The value of ``path`` (``label``, ``trust_weight``, ``inputs.<k>``, ``outputs.<k>``).

    Raises:
        EditRefused: ``path`` names no editable field of the record.
    """
    if path in EDITABLE_TOP:
        return getattr(record, path)
    part, _, key = path.partition(".")
    if part in ("inputs", "outputs") and key:
        holder = getattr(record, part)
        if key in holder:
            return holder[key]
    raise EditRefused(f"{path!r} is not a field of record {record.id}; editable: label, "
                      "trust_weight, inputs.<name>, outputs.<name> (of the record's own fields)")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def check_edit(run: ReviewRun, record: Record, path: str, value: Any) -> Record:
    """``record`` with ``path`` set to ``value``, if the result is still a record of the
    run's kind.

    Checks, in order: the field exists; the new value has the old one's JSON type (a text
    stays a text, a list of messages a list); a label is one of the task's labels; a trust
    weight is in 0..1; the edited record is a valid :class:`Record`, lacks none of the kind's
    fields, fits every export layout of its kind, and (``tool_dialogue``) each tool call
    still fits its tool's JSON Schema.

    Raises:
        EditRefused: the first check that fails, in one line.
    """
    from synthloom.tasks import TASK_KINDS

    before = get_field(record, path)
    if before is not None and _json_type(value) != _json_type(before):
        raise EditRefused(f"{path} must stay a {_json_type(before)}, got a {_json_type(value)}")
    if path == "label" and run.labels and value not in run.labels:
        raise EditRefused(f"label {value!r} is not one of the task's labels: "
                          f"{', '.join(run.labels)}")
    if path == "trust_weight" and not 0.0 <= float(value) <= 1.0:
        raise EditRefused(f"trust_weight must be within 0..1, got {value}")
    if isinstance(value, str) and not value.strip() and path != "label":
        raise EditRefused(f"{path} may not be empty")
    data = record.model_dump(mode="json")
    part, _, key = path.partition(".")
    if key:
        data[part][key] = copy.deepcopy(value)
    else:
        data[part] = value
    try:
        edited = Record.model_validate(data)
    except ValueError as e:
        raise EditRefused(f"{path}: {str(e).splitlines()[-1].strip()[:200]}") from None
    if run.task is not None and (missing := run.task.missing_fields(edited)):
        raise EditRefused(f"the edit leaves the record without {', '.join(missing)}")
    for name, layout in getattr(TASK_KINDS.get(edited.kind), "layouts", {}).items():
        try:
            layout(edited)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
            raise EditRefused(f"the edit breaks the {edited.kind} record (its {name} "
                              f"layout: {type(e).__name__}: {str(e)[:160]})") from None
    if edited.kind == "tool_dialogue":
        _check_tool_calls(edited)
    return edited


def _check_tool_calls(record: Record) -> None:
    from synthloom.operators.tools.registry import Tool, ToolRegistry, ToolSchemaError

    try:
        registry = ToolRegistry(
            Tool(name=s["function"]["name"], description=s["function"].get("description", ""),
                 parameters=s["function"].get("parameters") or {"type": "object"})
            for s in record.inputs.get("tool_specs") or [])
    except (ToolSchemaError, KeyError, TypeError) as e:
        raise EditRefused(f"the record's tool_specs are not tools: {e}") from None
    for message in record.outputs.get("messages") or []:
        for call in message.get("tool_calls") or []:
            if errors := registry.validate_call(call):
                raise EditRefused(f"tool call does not fit its tool: {errors[0]}")


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
            record=original, included=run.status[action.record] == "accepted"))
        state.actions.append(action)
        if action.action in ("accept", "rescue"):
            state.included = True
            state.decision = "rescued" if run.status[action.record] == "rejected" else "accepted"
        elif action.action == "reject":
            state.included, state.decision = False, "rejected"
        elif action.action == "edit" and action.field:
            try:
                state.record = check_edit(run, state.record, action.field, action.after)
            except EditRefused:
                continue
    return states


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
    new_id = record.id
    if state.edited_fields:
        new_id = record_id(record.task, record.inputs, record.label, record.outputs)
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
    for rid, record in run.records.items():
        state = states.get(rid)
        if state is None:
            if run.status[rid] == "accepted":
                out.append(record)
        elif state.included:
            out.append(_human_provenance(state))
    return out
