"""Curate steps (label noise, realism, the pointwise judge) and check steps (the double
critic, debate) applied to finished runs, then evaluated (issues 10 and 12).

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

Steps that ask an LLM (``judge.pointwise``, ``judge.double_critic``, ``judge.debate``) ask
the embedded ``--judge-model`` (default the generator's, qwen2.5-coder-0.5b), cached in
``OUT/cache-<model>.sqlite``. A check step is applied as ``on_fail: reject`` would apply
it after generation: a record that fails it is dropped (no regeneration). Example:

    .venv/bin/python bench/curation.py out/armSS --real bbc_news \
        --judge-model qwen2.5-coder-1.5b --variant J15:judge.pointwise \
        --variant DC15:judge.double_critic
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


class _CheckAsCurate:
    """A check step's runtime object applied once to finished records: failures dropped."""

    def __init__(self, check) -> None:
        self.check = check

    def curate(self, records):
        out = []
        for r in self.check(records):
            if not self.check.passed(r):
                r = r.reject(self.check.name, self.check.reason(r, 1))
            out.append(r)
        return out


_BACKENDS: dict = {}


def _backend(model: str, out_root: Path):
    from synthloom.pipeline.backends import make_backend
    from synthloom.pipeline.recipe import BackendConfig

    if model not in _BACKENDS:
        out_root.mkdir(parents=True, exist_ok=True)
        _BACKENDS[model] = make_backend(BackendConfig(model=model),
                                        out_root / f"cache-{model}.sqlite")
    return _BACKENDS[model]


def curate_copy(run: Path, variant: str, out_root: Path, real: str,
                judge_model: str = "qwen2.5-coder-0.5b") -> Path:
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
    steps = []
    for part in spec.split("+"):
        step_type, _, options = part.partition(":")
        fields = dict(o.split("=", 1) for o in options.split(",")) if options else {}
        steps.append(STEP_TYPES[step_type](**{k: _value(v) for k, v in fields.items()}))
    llm = any(s.type.startswith("judge.") for s in steps)
    # judge steps ask the judge model; the generator only names itself, so each verdict
    # says whether the judge was the generator's own model
    ctx = StepContext(recipe, _Named(recipe.backend.model), artifacts,  # type: ignore[arg-type]
                      judge_backend=_backend(judge_model, out_root) if llm else None)
    curators = []
    for step in steps:
        built = step.build(ctx)
        curators.append((step.type, built if step.role == "curate" else _CheckAsCurate(built)))
    accepted = list(read_jsonl(out / "data.jsonl"))
    rejected = list(read_jsonl(out / "rejected.jsonl"))
    kept, _, log = curate_run(out, curators, accepted, rejected)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["curation"] = log
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(f"{out.name}: {len(accepted)} -> {len(kept)} records; {log}", flush=True)
    synthloom.evaluate(out, real=real, generator_sample=0)
    return out


class _Named:
    """Stands in for the generator's backend: only its identity is read (same-model check)."""

    def __init__(self, model: str) -> None:
        from synthloom.llm.base import BackendIdentity

        self.identity = BackendIdentity(backend="llamacpp", model=model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--real", required=True)
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "curation")
    parser.add_argument("--judge-model", default="qwen2.5-coder-0.5b")
    args = parser.parse_args()
    for run in args.runs:
        for variant in args.variant:
            curate_copy(run, variant, args.out, args.real, args.judge_model)


if __name__ == "__main__":
    main()
