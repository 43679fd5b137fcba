"""Curate steps (label noise, realism) applied to finished runs, then evaluated (issue 10).

    .venv/bin/python bench/curation.py out/abl_amz/B_s13 --real vader_amazon_reviews \\
        --variant LN:curate.label_noise --variant RD:curate.realism:drop_fraction=0.3 \\
        --variant LNRD:curate.label_noise+curate.realism [--out out/curation]
    .venv/bin/python bench/anchoring.py table out/curation/*

Each variant copies the run's records and plan into ``OUT/<run>_<variant>``, applies the
listed curate steps (``type[:key=value,...]``, joined by ``+``) with the same code a recipe's
curate steps run (:func:`synthloom.pipeline.curation.curate_run`), and evaluates the
result against the real source (the generator's zero-shot check is skipped: it is the
same LLM as the run's). The run needs ``plan/seed_examples.json`` (a seeded run) for the
anchor; without it, label noise uses the synthetic set alone and realism is skipped.
The variants differ from the run only in the curated records, so their figures are a
side-by-side comparison with the run's own ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from anchoring import _value  # noqa: E402


def curate_copy(run: Path, variant: str, out_root: Path, real: str) -> Path:
    import synthloom
    from synthloom.pipeline.curation import curate_run
    from synthloom.pipeline.recipe import Recipe
    from synthloom.pipeline.steps import STEP_TYPES, StepContext
    from synthloom.records import read_jsonl

    name, _, spec = variant.partition(":")
    out = out_root / f"{run.name}_{name}"
    if (out / "metrics.json").exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for f in ("run.json", "manifest.json", "data.jsonl", "rejected.jsonl"):
        if (run / f).exists():
            shutil.copy(run / f, out / f)
    shutil.copytree(run / "plan", out / "plan")
    (out / "plan" / "curated.json").unlink(missing_ok=True)
    stored = json.loads((run / "run.json").read_text())["recipe"]
    stored.pop("steps", None)  # only the task and seed are needed (older runs' steps may
    recipe = Recipe.model_validate(stored)  # have fields that changed since)
    artifacts = {}
    if (run / "plan" / "seed_examples.json").exists():
        artifacts["seed_examples"] = json.loads((run / "plan" / "seed_examples.json").read_text())
    ctx = StepContext(recipe, None, artifacts)  # type: ignore[arg-type]
    curators = []
    for part in spec.split("+"):
        step_type, _, options = part.partition(":")
        fields = dict(o.split("=", 1) for o in options.split(",")) if options else {}
        step = STEP_TYPES[step_type](**{k: _value(v) for k, v in fields.items()})
        curators.append((step.type, step.build(ctx)))
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    kept, _, log = curate_run(out, curators, accepted, rejected)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["curation"] = log
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"{out.name}: {len(accepted)} -> {len(kept)} records; {log}", flush=True)
    synthloom.evaluate(out, real=real, generator_sample=0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--real", required=True)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "curation")
    args = parser.parse_args()
    for run in args.runs:
        for variant in args.variant:
            curate_copy(run, variant, args.out, args.real)


if __name__ == "__main__":
    main()
