"""Benchmark: tool-calling dialogues with graph against uniform tool sampling (ToolFlow,
arXiv 2410.18447), and dialogues with and without personas and characteristics (DiaSynth,
arXiv 2409.19020).

Run by hand (one LLM job at a time; a rerun reads every answer from the run folders'
caches)::

    .venv/bin/python bench/dialogues.py [--n 12] [--draws 1000] [--model NAME]
        [--only sampling,tools,dialogue] [-o out/bench/dialogues]

- ``sampling`` (no LLM): ``--draws`` tool sets of 2-4 tools from the shipped 45 tools,
  by random walks on the tool graph and uniformly: share of sets holding an output ->
  input chain, distinct combinations, and the same for the first ``--n`` sets (what a run
  of ``--n`` dialogues gets).
- ``tools``: ``recipes/tool_dialogue_toolflow.yaml`` with ``sampling: graph`` and
  ``sampling: uniform`` (same seed, same ``--n``), plus a pointwise judge (coherence,
  naturalness, tool use, 1-5): kept / drafted, chain share and distinct sets among kept
  dialogues, calls per dialogue, share of dialogues with 2+ calls, schema-valid calls on
  the first try and after the one repair, judge means.
- ``dialogue``: ``recipes/dialogue_diasynth.yaml`` as shipped (subtopics, personas,
  characteristics with reasoning) against the same without the personas step and with
  ``characteristics: false``: mean highest ROUGE-L and mean highest cosine to any other
  dialogue of the set (lower is more diverse), judge means (coherence, naturalness).

The judge is the generator's own model unless ``--judge-model`` names another; the table
says which. Prints markdown tables and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from synthloom.api import generate, read_run
from synthloom.pipeline.recipe import Recipe, load_recipe
from synthloom.records import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
NATURALNESS = {"name": "naturalness", "question": "Does the {unit} read like real people "
               "talking?", "levels": {1: "robotic or scripted", 3: "plausible but stiff",
                                      5: "like a real conversation"}}
COHERENCE = {"name": "coherence", "question": "Does the {unit} hang together, each turn "
             "following from the ones before?",
             "levels": {1: "disjointed, contradictory or repetitive",
                        3: "mostly coherent, with odd or generic turns",
                        5: "coherent from start to end"}}


def sampling(draws: int, first: int, seed: int) -> list[dict[str, Any]]:
    """Chain share and distinct combinations of graph and uniform tool sets (no LLM)."""
    from synthloom.operators.tools import ToolGraph, ToolRegistry
    from synthloom.pipeline.steps.tool_dialogue import graph_embedder

    registry = ToolRegistry.builtin()
    graph = ToolGraph.build(registry, graph_embedder())
    rows = []
    for method in ("graph", "uniform"):
        rng = random.Random(seed)
        sets = []
        for _ in range(draws):
            size = rng.randint(2, 4)
            sets.append(tuple(sorted(graph.random_walk_sample(rng, size) if method == "graph"
                                     else graph.uniform_sample(rng, size))))
        rows.append({"sampling": method, "draws": draws,
                     "chain share": round(sum(graph.has_chain(s) for s in sets) / draws, 3),
                     "distinct sets": len(set(sets)),
                     f"chain share (first {first})": round(
                         sum(graph.has_chain(s) for s in sets[:first]) / first, 3),
                     f"distinct (first {first})": len(set(sets[:first])),
                     "mean size": round(statistics.mean(len(s) for s in sets), 2)})
    return rows


def _judge_means(records: list[Any]) -> dict[str, float | None]:
    scores: dict[str, list[int]] = {}
    for r in records:
        verdict = r.verdict("judge")
        for name, value in ((verdict.detail.get("scores") if verdict else None) or {}).items():
            if value is not None:
                scores.setdefault(name, []).append(int(value))
    return {f"judge {k}": round(statistics.mean(v), 2) for k, v in sorted(scores.items())}


def _run(recipe: Recipe, folder: Path, model: str | None, say: Any) -> tuple[list, list, float]:
    started = time.perf_counter()
    say(f"generating {recipe.n} into {folder}")
    generate(recipe, folder, model=model, resume=True)
    rejected = list(read_jsonl(folder / "rejected.jsonl")) \
        if (folder / "rejected.jsonl").exists() else []
    return read_run(folder), rejected, time.perf_counter() - started


def _with_judge(data: dict[str, Any], criteria: list[dict] | None,
                judge_model: str | None) -> dict[str, Any]:
    steps = [s for s in data["steps"] if s["type"] != "judge.pointwise"]
    judge = {"type": "judge.pointwise", "action": "score"}
    if criteria:
        judge["criteria"] = criteria
    data = {**data, "steps": [*steps, judge]}
    if judge_model:
        data["judge"] = {"model": judge_model}
    return data


def tools(n: int, model: str | None, judge_model: str | None, out: Path, say: Any
          ) -> list[dict[str, Any]]:
    """Graph against uniform sampling, end to end on the LLM."""
    from synthloom.operators.tools import ToolGraph, ToolRegistry
    from synthloom.pipeline.steps.tool_dialogue import graph_embedder

    graph = ToolGraph.build(ToolRegistry.builtin(), graph_embedder())
    base = load_recipe(ROOT / "recipes" / "tool_dialogue_toolflow.yaml").model_dump(
        mode="json", exclude_none=True)
    rows = []
    for method in ("graph", "uniform"):
        data = _with_judge({**base, "n": n}, None, judge_model)
        data["steps"][0] = {**data["steps"][0], "sampling": method}
        kept, rejected, seconds = _run(Recipe.model_validate(data), out / f"tools_{method}",
                                       model, say)
        details = [r.provenance.operators[i].detail for r in [*kept, *rejected]
                   for i in range(len(r.provenance.operators))
                   if r.provenance.operators[i].operator == "toolflow.dialogue"]
        calls = [sum(1 for m in r.outputs["messages"] for _ in m.get("tool_calls") or [])
                 for r in kept]
        made = sum(d.get("calls", 0) for d in details)
        rows.append({
            "sampling": method, "drafted": len(kept) + len(rejected), "kept": len(kept),
            "chain share (kept)": round(sum(graph.has_chain(r.inputs["tools"])
                                            for r in kept) / max(1, len(kept)), 3),
            "distinct sets (kept)": len({tuple(sorted(r.inputs["tools"])) for r in kept}),
            "calls per dialogue": round(statistics.mean(calls), 2) if calls else None,
            "2+ calls": round(sum(c >= 2 for c in calls) / max(1, len(calls)), 3),
            "valid first try": round(sum(d.get("calls_valid_first", 0) for d in details)
                                     / made, 3) if made else None,
            "valid after repair": round((sum(d.get("calls_valid_first", 0) for d in details)
                                         + sum(d.get("calls_repaired", 0) for d in details))
                                        / made, 3) if made else None,
            "llm calls": sum(d.get("llm_calls", 0) for d in details),
            **_judge_means(kept), "seconds": round(seconds)})
    return rows


def dialogue(n: int, model: str | None, judge_model: str | None, out: Path, say: Any
             ) -> list[dict[str, Any]]:
    """DiaSynth as shipped against no personas and no characteristics."""
    from synthloom.evaluate.diversity import mean_highest_rouge_l, mean_nearest_neighbour_cosine
    from synthloom.llm.embeddings import SentenceEmbedder
    from synthloom.tasks.dialogue import DialogueTask

    base = load_recipe(ROOT / "recipes" / "dialogue_diasynth.yaml").model_dump(
        mode="json", exclude_none=True)
    embedder = SentenceEmbedder(cache_path=None, quantized=False, max_chunks=4)
    rows = []
    for arm in ("personas + characteristics", "neither"):
        data = _with_judge({**base, "n": n}, [COHERENCE, NATURALNESS], judge_model)
        if arm == "neither":
            data["steps"] = [s for s in data["steps"] if s["type"] != "dialogue.personas"]
            for s in data["steps"]:
                if s["type"] == "dialogue.write":
                    s["characteristics"] = False
        recipe = Recipe.model_validate(data)
        kept, rejected, seconds = _run(recipe, out / ("dialogue_full" if arm != "neither"
                                                      else "dialogue_ablated"), model, say)
        task = recipe.task
        assert isinstance(task, DialogueTask)
        texts = [task.text_of(r) for r in kept]
        cosine = mean_nearest_neighbour_cosine(embedder.embed(texts)) if len(texts) > 1 \
            else None
        rouge = mean_highest_rouge_l(texts)
        rows.append({"arm": arm, "drafted": len(kept) + len(rejected), "kept": len(kept),
                     "mean highest ROUGE-L": None if rouge is None else round(rouge, 3),
                     "mean highest cosine": None if cosine is None else round(cosine, 3),
                     "mean turns": round(statistics.mean(len(r.outputs["messages"])
                                                         for r in kept), 1) if kept else None,
                     **_judge_means(kept), "seconds": round(seconds)})
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("-" if r.get(c) is None else str(r.get(c)) for c in columns)
              + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=12, help="dialogues per arm")
    parser.add_argument("--draws", type=int, default=1000, help="tool sets per sampling arm")
    parser.add_argument("--model", default=None)
    parser.add_argument("--judge-model", default=None, help="default: the generator's model")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", default="sampling,tools,dialogue")
    parser.add_argument("-o", "--output", type=Path, default=Path("out/bench/dialogues"))
    args = parser.parse_args()

    def say(line: str) -> None:
        print(line, flush=True)

    only = set(args.only.split(","))
    results: dict[str, Any] = {"settings": {**vars(args), "output": str(args.output)}}
    if "sampling" in only:
        results["sampling"] = sampling(args.draws, args.n, args.seed)
        print(table(results["sampling"]) + "\n", flush=True)
    if "tools" in only:
        results["tools"] = tools(args.n, args.model, args.judge_model, args.output, say)
        print(table(results["tools"]) + "\n", flush=True)
    if "dialogue" in only:
        results["dialogue"] = dialogue(args.n, args.model, args.judge_model, args.output, say)
        print(table(results["dialogue"]) + "\n", flush=True)
    judge = args.judge_model or "the generator's model"
    print(f"judge: {judge}")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "dialogues.json").write_text(json.dumps(results, indent=2),
                                                encoding="utf-8")


if __name__ == "__main__":
    main()
