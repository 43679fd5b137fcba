"""Which blind-labelling prompt does the embedded model answer best, in every domain?

    .venv/bin/python bench/labeller_prompts.py [--sample 80] [--out out/labeller_prompts]

The self-correction step (TarGEN, arXiv 2310.17876) and ``evaluate``'s generator check ask
the generator to label a text blind, with a wording that names no domain. This labels the
same stratified sample of real texts from each real source (BBC News and the four VADER
sets) with each candidate template pair, with and without label descriptions, and prints
accuracy and macro-F1 per (variant, domain) and the mean over domains. Responses are
cached in ``OUT/cache.sqlite``, so a re-run costs no LLM call.

Measured so far (60 BBC texts, Qwen2.5-Coder-0.5B; the run was stopped there): the generic
wording 0.45 (0.40 with label descriptions), the earlier newsroom wording ("an editor who
sorts texts into sections") 0.45: the wording is not why the generator labels BBC badly.
About 1 minute per (variant, domain) at ``--sample 80`` on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sklearn.metrics import accuracy_score, f1_score

from synthloom.datasets import load_real
from synthloom.evaluate.fitting import stratified_sample
from synthloom.operators.targen.self_correction import SelfCorrection
from synthloom.pipeline.backends import make_backend
from synthloom.pipeline.recipe import load_recipe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domains import DOMAINS  # noqa: E402  (real source -> description-only recipe)

ROOT = Path(__file__).resolve().parents[1]
ASK = 'Answer as JSON: {{"label": "..."}}'
VARIANTS: dict[str, dict[str, str]] = {
    "current": dict(SelfCorrection.templates),
    "editor_sections": {
        "system": "You are an editor who sorts texts into sections. {description}",
        "user": "Text: {text}\n\n{label_lines}Which section does this text belong in: "
                "{label_names}? " + ASK,
    },
    "sort_categories": {
        "system": "You sort texts into categories. {description}",
        "user": "Text: {text}\n\n{label_lines}Which category does this text belong in: "
                "{label_names}? " + ASK,
    },
    "annotator_categories": {
        "system": "You are an expert annotator who sorts texts into categories. {description}",
        "user": "Text: {text}\n\n{label_lines}Which category does this text belong in: "
                "{label_names}? " + ASK,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=80, help="real texts per domain")
    parser.add_argument("--max-words", type=int, default=80, help="each text cut to this")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "labeller_prompts")
    parser.add_argument("--only", action="append", help="run only these variants")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    backend = None
    for domain, recipe_path in DOMAINS.items():
        recipe = load_recipe(ROOT / recipe_path)
        if backend is None:
            backend = make_backend(recipe.backend, args.out / "cache.sqlite")
        chosen = stratified_sample(load_real(domain), args.sample, 13)
        texts = [" ".join(r.text.split()[: args.max_words]) for r in chosen]
        truth = [str(r.label) for r in chosen]
        for variant, templates in VARIANTS.items():
            if args.only and variant not in args.only:
                continue
            for descriptions in (False, True):
                labeller = SelfCorrection(backend, recipe.description, recipe.labels, seed=13,
                                          templates=templates, with_descriptions=descriptions)
                started = time.monotonic()
                answers = labeller.classify(texts, [r.id for r in chosen])
                predicted = [p or "(none)" for p in answers]
                row = {"variant": variant, "label_descriptions": descriptions, "domain": domain,
                       "n": len(chosen), "seconds": round(time.monotonic() - started, 1),
                       "accuracy": round(accuracy_score(truth, predicted), 3),
                       "macro_f1": round(f1_score(truth, predicted, average="macro",
                                                  labels=sorted(set(truth)), zero_division=0), 3)}
                rows.append(row)
                print(json.dumps(row), flush=True)
                (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    print("\n| variant | descriptions | " + " | ".join(DOMAINS) + " | mean acc |")
    print("|---|---|" + "---|" * (len(DOMAINS) + 1))
    keys = sorted({(r["variant"], r["label_descriptions"]) for r in rows}, key=str)
    for variant, descriptions in keys:
        cells = [r for r in rows
                 if (r["variant"], r["label_descriptions"]) == (variant, descriptions)]
        accs = [f"{r['accuracy']:.3f} / {r['macro_f1']:.3f}" for r in cells]
        mean = sum(r["accuracy"] for r in cells) / len(cells)
        print(f"| {variant} | {descriptions} | " + " | ".join(accs) + f" | {mean:.3f} |")


if __name__ == "__main__":
    main()
