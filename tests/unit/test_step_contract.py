"""One contract for every registered step (in the spirit of scikit-learn's
``check_estimator``): deterministic for a seed, never mutates its input, appends exactly one
provenance step per record, and gives the same output on a resumed run (from the response
cache, with no new LLM call). A new step type fails here until it has an example below."""

from __future__ import annotations

import copy
import json
import re

import pytest

from synthloom.llm.base import ChatRequest, CompletionRequest
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.recipe import Recipe
from synthloom.pipeline.steps import STEP_TYPES, StepContext
from synthloom.records import Origin, Plan, Provenance, Record
from tests.unit.relevance_fixtures import contract_recipe, contract_records, write_corpus
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_coverage import TREE

LABELS = {"alpha": "about alpha", "beta": "about beta"}

#: one example config per registered step type
EXAMPLES: dict[str, dict] = {
    "task.unit": {},
    "targen.contexts": {"n": 2},
    "targen.instance_seeds": {"per_pair": 2},
    "targen.label_constraints": {},
    "coverage.plan": {"taxonomy": "TREE", "personas": True, "characteristics": ["formality"]},
    "targen.generate": {"max_words": 10, "style_examples": 1, "length": "seeds"},
    "evol.complexify": {"fraction": 0.5, "max_words": 10},
    "targen.self_correction": {},
    "filter.near_duplicates": {"jaccard": 0.5},
    "seed_data.sample": {"path": "vader_tweets", "n": 6},
    "filter.copy_guard": {"containment": 0.5},
    "seed_data.situations": {"per_example": 2},
    "seed_data.error_rounds": {"per_error": 2},
    "curate.label_noise": {"folds": 2},
    "curate.realism": {"folds": 2, "drop_fraction": 0.25},
    "judge.double_critic": {},
    "judge.debate": {"rounds": 2},
    "judge.pointwise": {"drop_quantile": 0.2},
    "preference.prompts": {"count": 3},
    "preference.drafts": {},
    "preference.candidates_and_judge": {"k": 3, "max_words": 10, "bootstrap": 5},
    "instruction.seed_pool": {},
    "instruction.self_instruct": {"count": 3, "requests_per_round": 2, "max_rounds": 3},
    "instruction.evol": {"generations": 2},
    "personas.pool": {"source": "generated", "count": 3},
    "instruction.persona_prompts": {},
    "instruction.drafts": {},
    "instruction.responses": {"best_of": 2, "max_words": 20},
    "instruction.magpie": {"turns": 2, "max_query_tokens": 40},
    "verifiable.problems": {"options": {"n_vars": 8}},
    "verifiable.search": {"samples": 2, "max_tokens": 40},
    "verifiable.verify": {},
    "verifiable.word_problem": {},
    "verifiable.text_check": {},
    "dialogue.subtopics": {"count": 3},
    "dialogue.personas": {"count": 3},
    "dialogue.drafts": {},
    "dialogue.write": {"max_tokens": 200},
    "dialogue.summary": {},
    "tools.sample": {"size": [2, 3]},
    "tool_dialogue.generate": {"turns": [2, 2]},
    "relevance.corpus": {"file": "CORPUS", "min_words": 5},
    "relevance.queries": {"personas": True},
    "relevance.candidates": {"k": 3},
    "relevance.judge": {"cycles": 1},
    "relevance.scores": {"bootstrap": 5},
    "teacher_label.source": {"file": "TEXTS"},
    "teacher_label.vote": {"labellers": [{"type": "llm"}, {"type": "keywords", "label": "alpha",
                                                          "any": ["alpha"]}]},
    "curate.label_model": {"method": "majority_vote"},
}

#: the verifiable steps run on a recipe of this domain
VERIFIABLE_DOMAINS = {"verifiable.problems": "sat", "verifiable.search": "game24",
                      "verifiable.verify": "game24", "verifiable.word_problem": "arithmetic",
                      "verifiable.text_check": "arithmetic"}


def respond(request: ChatRequest | CompletionRequest) -> str:
    """A deterministic model for every prompt the registered steps send."""
    seed = request.sampling.seed or 0
    if isinstance(request, CompletionRequest):  # Magpie: the model writes a user query
        return f"Please tell me about note number {seed % 1000} and its {seed % 7} parts."
    schema = json.dumps(request.json_schema or {})
    user = request.messages[-1]["content"]
    if '"turns"' in schema:  # a ToolFlow dialogue plan over the tools listed
        names = re.findall(r"^- (\w+)\(", user, re.M)
        return json.dumps({"turns": [
            {"kind": "tool", "request": f"use {names[seed % len(names)]} now",
             "tools": [names[seed % len(names)]]},
            {"kind": "chit_chat", "request": "say thanks", "tools": []}]})
    if '"answer"' in schema and "yes" in schema:  # Self-Instruct: a classification task?
        return json.dumps({"answer": "no"})
    if '"class_label"' in schema:
        return json.dumps({"class_label": "alpha", "input": f"note {seed % 100}"})
    if '"output"' in schema and '"input"' in schema:
        return json.dumps({"input": f"note {seed % 100}", "output": f"answer {seed % 1000}"})
    if '"equal"' in schema:  # Evol-Instruct: no information gain?
        return json.dumps({"equal": False})
    if '"response_quality"' in schema or '"quality"' in schema:  # pointwise judge
        return json.dumps({k: 1 + seed % 5 for k in request.json_schema["properties"]})
    if "Continue the list" in user:  # Self-Instruct: new tasks
        words = ["river", "planet", "violin", "garden", "rocket", "mirror", "candle", "forest"]
        return "\n".join(f"Task {9 + i}: Describe a {words[(seed + i) % 8]} number "
                         f"{(seed // 7 + i) % 997} to a child in {i + 2} short sentences."
                         for i in range(4))
    if "#Rewritten Prompt#:" in user or "#Created Prompt#" in user:  # Evol-Instruct
        return f"Explain note {seed % 1000} in exactly {seed % 5 + 2} steps, with an example."
    if "Describe one specific person" in user or "persona may ask" in user.lower():
        return f"A night-shift baker number {seed % 1000} who plans weekly budgets."
    if '"contexts"' in schema:
        return json.dumps({"contexts": [f"place {seed % 5}", f"hall {seed % 3}"]})
    if '"unit"' in schema:
        return json.dumps({"unit": "note"})
    if "Answer with one letter, A or B." in user:  # the pairwise relevance judge
        return "AB"[seed % 2]
    if '"better"' in schema:  # the pairwise judge
        return json.dumps({"better": "AB"[seed % 2]})
    if '"label"' in schema:
        return json.dumps({"label": "alpha" if "alpha" in user else "beta"})
    if "label name only" in user or "Reply with exactly one" in user:  # teacher labeller
        return "alpha" if "alpha" in user.split("Text: ")[-1] else "beta"
    if "concrete situations" in user:
        return "\n".join(f"situation {i} number {seed % 97} happens here" for i in range(3))
    dialogue = _dialogue_answer(user, seed)
    if dialogue is not None:
        return dialogue
    label = re.search(r"(alpha|beta)", user)
    return f"A note about {label.group(1) if label else 'alpha'} with number {seed % 1000} in it."


def _dialogue_answer(user: str, seed: int) -> str | None:
    """The dialogue steps' prompts (DiaSynth): lists, a dialogue, a summary; else None."""
    if user.rstrip().endswith(("Subtopics:", "People:")):
        people = user.rstrip().endswith("People:")
        return "\n".join(f"{i + 1}. {['Maya', 'Tom', 'Lena', 'Omar'][i]}, a person number "
                         f"{(seed + i) % 997} {'who likes ' * people}thing {i}"
                         for i in range(4))
    names = re.search(r"the names (\S+) and (\S+) only", user)
    if "<dialogue>" in user and names:
        a, b = names.groups()
        return (f"<cot>\nformality: casual\nlocation: place {seed % 7}\n</cot>\n<dialogue>\n"
                + "\n".join(f"{(a, b)[i % 2]}: turn {i} number {seed % 1000}"
                            for i in range(4)) + "\n</dialogue>")
    if user.startswith("Summarise this conversation"):
        return f"They talk about number {seed % 1000}."
    return None


def _recipe(tmp_path, step_type: str = "") -> Recipe:
    if step_type.startswith("relevance."):
        return contract_recipe(tmp_path)
    if step_type.startswith("teacher_label.") or step_type == "curate.label_model":
        return Recipe.model_validate({
            "task": {"name": "toy", "kind": "teacher_label", "description": "Toy notes.",
                     "labels": LABELS},
            "steps": [{"type": "teacher_label.source"},
                      {"type": "teacher_label.vote", **EXAMPLES["teacher_label.vote"]},
                      {"type": "curate.label_model", "method": "majority_vote"}]})
    if step_type.startswith(("tools.", "tool_dialogue.")):
        return Recipe.model_validate({
            "task": {"name": "toy", "kind": "tool_dialogue", "description": "Toy helper."},
            "steps": [{"type": "tools.sample"}, {"type": "tool_dialogue.generate"}]})
    if step_type.startswith("dialogue."):  # a dialogue recipe whose topics are the labels
        return Recipe.model_validate({
            "task": {"name": "toy", "kind": "dialogue", "description": "Toy talks.",
                     "topics": list(LABELS)},
            "steps": [{"type": "dialogue.drafts"}, {"type": "dialogue.write"}]})
    if step_type in VERIFIABLE_DOMAINS:
        domain = VERIFIABLE_DOMAINS[step_type]
        return Recipe.model_validate({
            "task": {"name": "toy", "kind": "verifiable", "domain": domain,
                     "description": "Toy problems."},
            "steps": [{"type": "verifiable.problems"}, {"type": "verifiable.word_problem"}
                      if domain == "arithmetic" else {"type": "verifiable.search"}]})
    (tmp_path / "tree.yaml").write_text(json.dumps(TREE))
    return Recipe(task="toy", description="Toy notes.", labels=LABELS, unit="note",
                  targen={"contexts": 2, "seeds_per_pair": 2})


def _config(step_type: str, tmp_path):
    example = dict(EXAMPLES[step_type])
    if example.get("taxonomy") == "TREE":
        example["taxonomy"] = str(tmp_path / "tree.yaml")
    if example.get("file") == "CORPUS":  # a corpus to retrieve from
        example["file"] = str(write_corpus(tmp_path))
    if example.get("file") == "TEXTS":  # real texts to label
        example["file"] = str(tmp_path / "texts.jsonl")
        (tmp_path / "texts.jsonl").write_text("".join(
            json.dumps({"text": f"A real note about {('alpha', 'beta')[i % 2]}, number {i}."})
            + "\n" for i in range(5)))
    return STEP_TYPES[step_type].model_validate({"type": step_type, **example})


def _verifiable_records(step_type: str) -> list[Record]:
    from synthloom.operators.verify import DOMAINS

    domain = DOMAINS[VERIFIABLE_DOMAINS[step_type]]()
    out = []
    for i, p in enumerate(domain.problems(4, 7)):
        planned = {"operator": "verifiable.problems", "verdict": "planned",
                   "detail": {"index": i}}
        outputs = {}
        if step_type == "verifiable.verify":  # a searched record carries its candidates
            outputs = {"candidates": ["(1 + 2 + 3) * 4", None, f"{i} + 24 - {i}"]}
        if step_type == "verifiable.text_check":  # a written word problem and its answer
            outputs = {"solution": "The answer is 3.", "answer": str(p.spec["answer"])}
        out.append(Record(
            id=f"plan-{i}", task="toy", kind="verifiable", origin=Origin.synthetic,
            inputs={"problem": p.text, "domain": p.domain, "spec": p.spec}, outputs=outputs,
            provenance=Provenance(plan=Plan(id=f"plan-{i}"), operators=[planned])))
    return out


def _records(role: str, step_type: str = "") -> list[Record]:
    if step_type.startswith("relevance."):
        return contract_records(step_type)
    if step_type in VERIFIABLE_DOMAINS:
        return _verifiable_records(step_type)
    out = []
    for i in range(4):
        label = ("alpha", "beta")[i % 2]
        planned = {"operator": "targen.label_constraints", "verdict": "planned",
                   "detail": {"index": i, "label_index": i // 2}}
        inputs = {} if role in ("annotate", "generate") and step_type != "teacher_label.vote" \
            else {"text": f"A note about {label}, number {i}, with some words in it."}
        if step_type.startswith("preference."):  # a preference draft carries its prompt
            inputs = {"prompt": f"What is special about {label} number {i}?"}
        if step_type == "instruction.responses":  # an instruction draft carries its task
            inputs = {"instruction": f"Explain {label} number {i} in one sentence."}
        outputs = {}
        if step_type == "curate.label_model":  # an LLM's soft vote and a rule's vote
            other = "beta" if label == "alpha" else "alpha"
            outputs = {"votes": {
                "llm[generator]": {"kind": "llm", "label": label,
                                   "probs": {label: 0.8, other: 0.2}},
                "keywords[alpha]": {"kind": "keywords", "label": "alpha" if i < 3 else None}}}
        if step_type.startswith("tool_dialogue."):  # a sampled tool set
            inputs = {"tools": [("list_accounts", "get_balance"),
                                ("list_events", "create_event")][i % 2]}
        if step_type.startswith("dialogue."):  # a dialogue draft, or a written dialogue
            inputs = {"topic": label, "subtopic": f"{label} part {i}",
                      "personas": ["Maya, a nurse", "Tom, a carpenter"]}
            if role == "transform":
                outputs = {"speakers": ["Maya", "Tom"], "messages": [
                    {"role": ("user", "assistant")[k % 2], "content": f"turn {k} of {i}"}
                    for k in range(4)]}
        out.append(Record(
            id=f"plan-{i}", task="toy", origin=Origin.synthetic, inputs=inputs,
            provenance=Provenance(plan=Plan(id=f"plan-{i}", context="place 1"),
                                  instance_seed=f"situation {i}", target_label=label,
                                  operators=[planned])))
        if outputs:
            out[-1] = out[-1].model_copy(update={"outputs": outputs})
    return out


ARTIFACTS = {"unit": "note", "contexts": {"alpha": ["place 1"], "beta": ["place 2"]},
             "seeds": {"alpha": {"place 1": ["situation a one here", "situation a two here"]},
                       "beta": {"place 2": ["situation b one here", "situation b two here"]}},
             "prompts": [f"What is special about note {i}?" for i in range(6)],
             "seed_pool": {"items": [{"id": f"seed-{i}", "instruction": t} for i, t in
                                     enumerate(["Name three colours of a rainbow.",
                                                "Add 17 and 25, then explain the carry.",
                                                "Rewrite this sentence in the passive voice.",
                                                "Is this review positive or negative?"])]},
             "personas": ["a retired teacher who bakes", "a student who cycles to work"],
             "subtopics": {"topics": {"alpha": ["alpha at home", "alpha at work"],
                                      "beta": ["beta on a trip"]}},
             "dialogue_personas": {"personas": {
                 "alpha": {"alpha at home": ["Maya, a nurse", "Tom, a carpenter",
                                             "Lena, a student"],
                           "alpha at work": ["Omar, a driver", "Grace, a chef"]},
                 "beta": {"beta on a trip": ["Ivan, a pilot", "Hana, a farmer"]}}},
             "seed_examples": [
                 {"id": "seed-1", "label": "alpha", "words": 11,
                  "text": "A note about alpha, number 1, with some words in it."},
                 {"id": "seed-2", "label": "beta", "words": 6,
                  "text": "A real note about a beta."}]}


def _run(config, recipe, cache_path, role):
    """Build the step over a fresh cached backend and run it once; returns (output,
    input before, input after, LLM calls)."""
    # Magpie needs a chat template it knows (a ChatML model's name)
    scripted = ScriptedBackend(respond, model="scripted-qwen2.5" if config.type ==
                               "instruction.magpie" else "scripted-model")
    backend = CachedBackend(scripted, ResponseCache(cache_path))
    runtime = config.build(StepContext(recipe, backend, dict(ARTIFACTS)))
    if role == "plan":
        given = copy.deepcopy(ARTIFACTS)
        output = runtime.run(given)
        before, after = ARTIFACTS, given
    elif role == "draft":
        runtime.start(copy.deepcopy(ARTIFACTS))
        output = [runtime.draft(i, s, i // 2) for i, s in enumerate(["alpha", "beta"] * 2)]
        before = after = None
    elif role == "rounds":
        given = _records(role)
        before = [r.model_dump() for r in given]
        output = runtime.drafts(1, runtime.errors(given), 0)
        after = [r.model_dump() for r in given]
    elif role == "curate":
        given = _records(role, config.type)
        before = [r.model_dump() for r in given]
        output = runtime.curate(given)
        after = [r.model_dump() for r in given]
    elif role == "filter":
        given = _records(role)
        before = [r.model_dump() for r in given]
        kept, rejected = runtime.filter(given)
        output = (kept, rejected)
        after = [r.model_dump() for r in given]
    else:
        given = _records(role, config.type)
        before = [r.model_dump() for r in given]
        output = runtime(given)
        after = [r.model_dump() for r in given]
    backend.cache.close()
    return output, before, after, len(scripted.requests)


def _dump(output):
    if isinstance(output, tuple):
        return tuple(_dump(o) for o in output)
    if isinstance(output, list) and output and isinstance(output[0], Record):
        return [r.model_dump(exclude={"provenance": {"created_at"}}) for r in output]
    return output


def test_every_registered_step_has_an_example():
    assert set(EXAMPLES) == set(STEP_TYPES)


@pytest.mark.parametrize("step_type", sorted(STEP_TYPES))
def test_step_contract(step_type, tmp_path):
    config = _config(step_type, tmp_path)
    recipe = _recipe(tmp_path, step_type)
    role = config.role
    first, before, after, calls = _run(config, recipe, tmp_path / "a.sqlite", role)
    # never mutates its input
    assert before == after
    # deterministic for a seed: a fresh run over a fresh cache gives the same output
    second, *_ = _run(config, recipe, tmp_path / "b.sqlite", role)
    assert _dump(first) == _dump(second)
    # same output on a resumed run: from the cache, no LLM call
    resumed, _, _, resumed_calls = _run(config, recipe, tmp_path / "a.sqlite", role)
    assert _dump(resumed) == _dump(first)
    assert resumed_calls == 0
    # appends exactly one provenance step per record
    if role in ("annotate", "generate", "transform", "check"):
        assert len(first) == 4
        for r in first:
            assert len(r.provenance.operators) == 2, [s.operator for s in r.provenance.operators]
    if role in ("draft", "rounds"):
        assert first and all(len(r.provenance.operators) == 1 for r in first)
    if role == "filter":
        kept, rejected = first
        assert len(kept) + len(rejected) == 4
        assert all(r.rejected and r.rejected.operator == config.type for r in rejected)
    if role == "check":
        assert all(r.verification and r.verification[-1].by for r in first)
