"""The levers of seed anchoring (issue 10), arm by arm: run, or summarise runs already made.

    .venv/bin/python bench/anchoring.py run --recipe recipes/bbc_news_seeded.yaml \\
        --real bbc_news --arm S --arm SS:situations_per_example=6 \\
        --arm SSR:situations_per_example=6,error_rounds=2 --seeds 13,14 [--out out/anchoring]
    .venv/bin/python bench/anchoring.py table out/anchoring/* out/demo

``run`` generates and evaluates one run per (arm, seed): each arm is the recipe with its
``seed_data`` options replaced or added (``name:key=value,...``, e.g.
``S:path=vader_amazon_reviews,situations_per_example=4`` on a zero-seed recipe;
``name:none`` drops seed_data, the zero-seed TarGEN arm). ``table`` prints, per run
directory: TSTR accuracy and macro-F1 for both students, the mixing experiment (the
real seed set alone, with every synthetic record added, and with them weighted by the
trust-weight lambda chosen on the real validation split), embedding recall, Self-BLEU,
the realism AUC (a classifier telling synthetic from real; 0.5 = indistinguishable),
flagged marginals, records and
generation time. Runs are independent, so arms can be added and re-summarised later.
One BBC News arm (n=300) takes 10-20 minutes on 2 idle cores.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "null": None}.get(text, text)


def run(args: argparse.Namespace) -> None:
    import yaml

    import synthloom

    base = yaml.safe_load((ROOT / args.recipe).read_text())
    for arm in args.arm:
        name, _, options = arm.partition(":")
        for seed in (int(s) for s in args.seeds.split(",")):
            data = json.loads(json.dumps(base))
            data["seed"] = seed
            for setting in args.set:
                dotted, _, value = setting.partition("=")
                *parents, key = dotted.split(".")
                node = data
                for parent in parents:
                    node = node.setdefault(parent, {})
                node[key] = _value(value)
            if options == "none":
                data.pop("seed_data", None)
            elif options:
                data.setdefault("seed_data", {}).update(
                    {k: _value(v) for k, v in (o.split("=", 1) for o in options.split(","))})
            out = ROOT / args.out / f"{name}_s{seed}"
            recipe_path = out.with_suffix(".yaml")
            recipe_path.parent.mkdir(parents=True, exist_ok=True)
            recipe_path.write_text(yaml.safe_dump(data, sort_keys=False))
            recipe = synthloom.load_recipe(recipe_path)
            synthloom.generate(recipe, out, resume=out.exists())
            synthloom.evaluate(out, real=args.real)
            print(f"{name} seed {seed}: done ({out})", flush=True)


def row(run_dir: Path) -> dict:
    """One run's figures from its metrics.json and manifest.json."""
    m = json.loads((run_dir / "metrics.json").read_text())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    out = {"run": run_dir.name, "records": m["data"]["n_synthetic"],
           "minutes": round(manifest["wall_seconds"] / 60, 1)}
    for name, short in (("tfidf-lr", "tfidf"), ("embedding-lr", "emb")):
        s = m["students"].get(name)
        if not s:
            continue
        syn = s["tstr"]["synthetic"]
        out[f"{short}_acc"] = round(syn["accuracy"]["value"], 3)
        out[f"{short}_f1"] = round(syn["macro_f1"]["value"], 3)
        points = s["mixing"]["points"]
        every = max(points[1:], key=lambda p: p["n_synthetic"])  # all synthetic records added
        out["real_seeds"] = s["mixing"]["n_real"]
        out[f"{short}_real"] = round(points[0]["accuracy"], 3)
        out[f"{short}_plus_all"] = round(every["accuracy"], 3)
        if "gain" in every:  # paired bootstrap 95% interval of the gain
            g = every["gain"]["accuracy"]
            out[f"{short}_gain"] = f"{g['value']:+.3f} [{g['low']:+.3f}, {g['high']:+.3f}]"
        sweep = s.get("trust_weight")
        if sweep:  # lambda chosen on the real validation split, its test accuracy
            chosen = next(p for p in sweep["points"] if p["lambda"] == sweep["chosen_lambda"])
            out[f"{short}_lambda"] = round(chosen["test"]["accuracy"], 3)
    out["recall"] = round(m["distribution"]["recall"], 3)
    out["self_bleu"] = m["diversity"]["synthetic"]["self_bleu"]
    if m.get("realism"):
        out["realism_auc"] = max(m["realism"]["tfidf"]["auc"], m["realism"]["embedding"]["auc"])
    out["flagged"] = ",".join(m["marginals"]["flagged"]) or "-"
    return out


def table(args: argparse.Namespace) -> None:
    rows = [row(Path(d)) for d in args.runs if (Path(d) / "metrics.json").exists()]
    if not rows:
        sys.exit("no run directory with metrics.json given")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--recipe", default="recipes/bbc_news_seeded.yaml")
    p_run.add_argument("--real", default="bbc_news")
    p_run.add_argument("--arm", action="append", default=[])
    p_run.add_argument("--seeds", default="13")
    p_run.add_argument("--set", action="append", default=[],
                       help="recipe field for every arm, e.g. targen.max_words=40")
    p_run.add_argument("--out", default="out/anchoring")
    p_table = sub.add_parser("table")
    p_table.add_argument("runs", nargs="+")
    args = parser.parse_args()
    (run if args.command == "run" else table)(args)


if __name__ == "__main__":
    main()
