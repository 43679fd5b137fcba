"""Hand-written runs for the review page's tests (no model): a judged classification run
and a tool-calling dialogue run, each with run.json, data.jsonl and rejected.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from synthloom.pipeline.recipe import load_recipe
from synthloom.records import (
    OperatorStep,
    Plan,
    Provenance,
    Record,
    Verdict,
    append_jsonl,
    record_id,
)

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("billing", "outage", "moving")
TEXTS = {
    "billing": ["I was charged twice for March, please refund one payment.",
                "Why did my invoice go up by ten pounds this month?",
                "My direct debit failed, how do I pay the bill by card?",
                "Please send a copy of last year's invoices for my accountant."],
    "outage": ["No internet since this morning, the router light is red.",
               "Speeds drop to nothing every evening around eight.",
               "The line keeps dropping every few minutes on video calls.",
               "Is there an outage in Leeds? Nothing loads at all."],
    "moving": ["We move house on the 3rd, can the service move with us?",
               "I am moving abroad and need to cancel my contract.",
               "Can I transfer my broadband to my new flat next month?",
               "Moving in with my partner, please merge our two accounts."],
}


def _write_run_json(out: Path, recipe_path: Path) -> None:
    recipe = load_recipe(recipe_path)
    (out / "run.json").write_text(json.dumps({
        "recipe_sha256": "0" * 64, "recipe": recipe.model_dump(mode="json"),
        "started_at": "2026-12-01T00:00:00+00:00"}), encoding="utf-8")


def _judge(scores: dict[str, int]) -> Verdict:
    mean = round(sum(scores.values()) / len(scores), 4)
    return Verdict(check="judge", by="judge.pointwise/test-model", score=mean,
                   detail={"scores": scores, "scale": [1, 5], "missing": []})


def classification_run(out: Path) -> Path:
    """12 accepted support tickets (4 per label; judge scores, self-consistency, trust
    weights 1 or 0.5, one perturbed) and 3 rejected (a judge cut, a copy guard, one with
    no text), for ``recipes/support_tickets_judged.yaml``. Returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _write_run_json(out, ROOT / "recipes" / "support_tickets_judged.yaml")
    accepted, rejected = [], []
    for li, label in enumerate(LABELS):
        for i, text in enumerate(TEXTS[label]):
            predicted = label if i != 3 else LABELS[(li + 1) % 3]
            scores = {"relevance": 5 - (i % 2) * 2, "naturalness": 5 - i, "label_fit": 5 - i,
                      "difficulty": 1 + i % 3}
            record = Record(
                id=record_id("support_tickets", {"text": text}, label), task="support_tickets",
                inputs={"text": text}, label=label, origin="synthetic",
                provenance=Provenance(
                    backend="llamacpp", model="test-model", instance_seed=f"seed {label} {i}",
                    target_label=label, plan=Plan(id=f"plan-{li}-{i}", context="a ticket"),
                    operators=[OperatorStep(operator="targen.generate", prompt_sha256="ab" * 32,
                                            verdict="generated")],
                    perturbation={"mode": "typos", "parent": "x"} if (li, i) == (0, 1) else None),
                verification=[Verdict(check="self_consistency", by="targen.self_correction/m",
                                      passed=predicted == label,
                                      detail={"predicted": predicted, "target": label}),
                              _judge(scores)],
                trust_weight=1.0 if predicted == label else 0.5)
            accepted.append(record)
    low = Record(id="rej-judge-0001", task="support_tickets", inputs={
        "text": "asdf asdf refund refund"}, label="billing", origin="synthetic",
        verification=[_judge({"relevance": 1, "naturalness": 1, "label_fit": 1,
                              "difficulty": 1})]).reject("judge.pointwise", "judge score 1.0 "
                                                         "under the cut")
    copy = Record(id="rej-copy-0002", task="support_tickets", inputs={
        "text": TEXTS["outage"][0]}, label="outage", origin="synthetic").reject(
        "filter.copy_guard", "near copy of a seed example", collided_with="seed-1",
        similarity=0.93)
    empty = Record(id="rej-empty-0003", task="support_tickets", inputs={}, label="moving",
                   origin="synthetic").reject("targen.instance_generation", "no text")
    rejected = [low, copy, empty]
    append_jsonl(out / "data.jsonl", accepted)
    append_jsonl(out / "rejected.jsonl", rejected)
    return out


TOOL_SPECS = [
    {"type": "function", "function": {
        "name": "find_flights", "description": "Find flights between two airports on a day.",
        "parameters": {"type": "object", "properties": {
            "origin": {"type": "string"}, "destination": {"type": "string"},
            "date": {"type": "string"}}, "required": ["origin", "destination", "date"]}}},
    {"type": "function", "function": {
        "name": "book_flight", "description": "Book a flight by its id for some passengers.",
        "parameters": {"type": "object", "properties": {
            "flight_id": {"type": "string"}, "passengers": {"type": "integer", "minimum": 1}},
            "required": ["flight_id", "passengers"]}}},
]


def tool_dialogue_run(out: Path) -> Path:
    """Two tool-calling conversations (find, then book a flight) for
    ``recipes/tool_dialogue_toolflow.yaml``. Returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _write_run_json(out, ROOT / "recipes" / "tool_dialogue_toolflow.yaml")
    records = []
    for i, (city, n) in enumerate((("Lisbon", 2), ("Oslo", 1))):
        messages = [
            {"role": "user", "content": f"Find me a flight from London to {city} on 3 May."},
            {"role": "assistant", "content": "", "tool_calls": [{
                "id": f"call_{i}a", "type": "function", "function": {
                    "name": "find_flights", "arguments": json.dumps({
                        "origin": "LHR", "destination": city, "date": "2027-05-03"})}}]},
            {"role": "tool", "tool_call_id": f"call_{i}a", "name": "find_flights",
             "content": json.dumps({"flights": [{"id": f"FL{i}00", "price": 120}]})},
            {"role": "assistant", "content": f"Flight FL{i}00 costs 120 pounds. Book it?"},
            {"role": "user", "content": f"Yes, for {n} people."},
            {"role": "assistant", "content": "", "tool_calls": [{
                "id": f"call_{i}b", "type": "function", "function": {
                    "name": "book_flight", "arguments": json.dumps({
                        "flight_id": f"FL{i}00", "passengers": n})}}]},
            {"role": "tool", "tool_call_id": f"call_{i}b", "name": "book_flight",
             "content": json.dumps({"booking": f"BK{i}", "status": "confirmed"})},
            {"role": "assistant", "content": f"Booked: reference BK{i}."},
        ]
        inputs = {"tools": ["find_flights", "book_flight"], "tool_specs": TOOL_SPECS,
                  "sampling": "graph", "chain": True, "plan": []}
        outputs = {"messages": messages}
        records.append(Record(
            id=record_id("tool_assistant", inputs, None, outputs), task="tool_assistant",
            kind="tool_dialogue", inputs=inputs, outputs=outputs, origin="synthetic"))
    append_jsonl(out / "data.jsonl", records)
    return out
