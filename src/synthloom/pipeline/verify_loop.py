"""``synthloom verify-loop DOMAIN``: the bootstrap loop (generate -> search -> verify ->
keep -> what guides the search improves -> repeat), run and written to a folder.

- ``sat``: expert iteration of a DPLL solver's branching policy (a logistic regression
  over literal features trained on the verified solutions kept so far; see
  :mod:`synthloom.operators.verify.sat_bootstrap`); the measured quantity is search cost
  (decisions) per solved formula on a fixed held-out set, round after round.
- ``game24``, ``arithmetic``, ``code``: k LLM samples per problem, verified; the verified
  pairs kept so far are shown as worked examples in the next round's prompts (see
  :mod:`synthloom.operators.verify.llm_bootstrap`); measured on a fixed held-out set:
  pass@1, pass@k, majority vote against verifier-selected accuracy.

Files written into the output folder: ``rounds.json`` (the options and one row per round),
``data.jsonl`` (the kept verified pairs as ``verifiable`` records, with provenance) and,
for LLM domains, ``cache.sqlite`` (the response cache: a rerun asks nothing twice).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from synthloom.errors import UserInputError
from synthloom.operators.base import derived_seed
from synthloom.operators.verify import DOMAINS, Domain, Problem
from synthloom.records import Record, write_json_atomic


def _problem_sets(domain: Domain, source: str, held_out: int, per_round: int, rounds: int,
                  seed: int, start: int, options: dict[str, Any]
                  ) -> tuple[list[Problem], Callable[[int], list[Problem]]]:
    """The fixed held-out problems and ``problems(round)`` for the searches.

    Generated: each problem from its own derived seed (held-out and round problems never
    share one). Real: the held-out set is ``start .. start + held_out`` of the real set,
    and the rounds take the problems after it, ``per_round`` each, in order.

    Raises:
        UserInputError: the real set is too small or the source unknown.
    """
    if source == "generated":
        def one(*parts: Any) -> Problem:
            return domain.problems(1, derived_seed("verify-loop", seed, *parts), **options)[0]

        held = [one("held-out", i) for i in range(held_out)]
        return held, lambda r: [one("round", r, i) for i in range(per_round)]
    if source != domain.real_source:
        raise UserInputError(f"--source {source!r}: the {domain.name} domain's sources are "
                             f"generated{', ' + domain.real_source if domain.real_source else ''}")
    real_options = {**options, "start": start}
    count = domain.available(source, **real_options) or 0
    everything = domain.problems(count, seed, source=source, **real_options)
    if len(everything) < held_out + 1:
        raise UserInputError(f"the {source} set has {len(everything)} problems from --start "
                             f"{start}; --held-out {held_out} needs more")
    if len(everything) < held_out + per_round * rounds:
        per_round = (len(everything) - held_out) // rounds
    held, rest = everything[:held_out], everything[held_out:]
    return held, lambda r: rest[r * per_round:(r + 1) * per_round]


def _write(output: Path, options: dict[str, Any], rows: list[dict[str, Any]],
           kept: list[Record]) -> None:
    output.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output / "rounds.json", {"options": options, "rounds": rows})
    tmp = output / "data.jsonl.tmp"
    tmp.write_text("".join(r.model_dump_json() + "\n" for r in kept), encoding="utf-8")
    tmp.replace(output / "data.jsonl")


def sat_loop(output: Path, *, rounds: int = 4, n_vars: int = 50, train_per_round: int = 40,
             held_out: int = 40, budget: int = 5000, sizes: tuple[int, ...] = (),
             ratio: float = 4.26, seed: int = 13,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Expert iteration of the SAT solver's branching policy, written to ``output``.

    Returns:
        ``{"options": {...}, "rounds": [row, ...]}`` (see
        :func:`~synthloom.operators.verify.sat_bootstrap.bootstrap` for the row fields).

    Raises:
        ValueError: a count out of range (from the bootstrap).
    """
    from synthloom.operators.verify.llm_bootstrap import pair_record
    from synthloom.operators.verify.sat import SatDomain, formula_text
    from synthloom.operators.verify.sat_bootstrap import bootstrap

    options = {"domain": "sat", "rounds": rounds, "n_vars": n_vars,
               "train_per_round": train_per_round, "held_out": held_out, "budget": budget,
               "sizes": list(sizes), "ratio": ratio, "seed": seed}
    result = bootstrap(n_vars=n_vars, rounds=rounds, train_per_round=train_per_round,
                       held_out=held_out, budget=budget, seed=seed, ratio=ratio, sizes=sizes,
                       progress=progress)
    domain = SatDomain()
    kept = []
    for pair in result.kept:
        spec = {"n_vars": pair["n_vars"], "clauses": pair["clauses"]}
        problem = Problem(domain="sat", text=formula_text(pair["n_vars"], pair["clauses"]),
                          spec=spec)
        answer = " ".join(str(v) for v in pair["assignment"])
        check = domain.verifier.verify(spec, answer)
        detail = {k: v for k, v in pair.items() if k not in ("clauses", "assignment")}
        kept.append(pair_record("sat_verified", problem, answer,
                                domain.solution_text(problem, answer), check,
                                domain.verifier.name,
                                {"operator": "verify.sat_expert_iteration", **detail}))
    _write(output, options, result.rows, kept)
    return {"options": options, "rounds": result.rows}


def llm_loop(domain_name: str, output: Path, *, rounds: int = 4, source: str = "generated",
             held_out: int = 20, problems_per_round: int = 20, start: int = 0,
             samples: int = 4, exemplars: int = 3, temperature: float = 0.8,
             max_tokens: int = 512, seed: int = 13, model: str | None = None,
             base_url: str | None = None, options: dict[str, Any] | None = None,
             progress: Callable[[str], None] | None = None,
             on_answers: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """The LLM bootstrap loop on ``domain_name`` (``game24``, ``arithmetic``, ``code``),
    written to ``output``.

    Returns:
        ``{"options": {...}, "rounds": [row, ...]}`` (see
        :func:`~synthloom.operators.verify.llm_bootstrap.llm_bootstrap`).

    Raises:
        UserInputError: unknown domain, source or model; a real set too small.
        BackendError: the LLM failed (the cache keeps what was answered).
    """
    from synthloom.operators.verify.llm_bootstrap import llm_bootstrap
    from synthloom.pipeline.backends import check_backend, make_backend
    from synthloom.pipeline.recipe import BackendConfig

    if domain_name not in DOMAINS:
        raise UserInputError(f"unknown domain {domain_name!r}; known: {', '.join(sorted(DOMAINS))}")
    domain = DOMAINS[domain_name]()
    options = dict(options or {})
    try:
        held, problems = _problem_sets(domain, source, held_out, problems_per_round, rounds,
                                       seed, start, options)
    except ValueError as e:
        raise UserInputError(str(e)) from e
    config = BackendConfig(**({"model": model} if model else {}),
                           **({"kind": "openai_http", "base_url": base_url} if base_url else {}))
    check_backend(config)
    settings = {"domain": domain_name, "rounds": rounds, "source": source,
                "held_out": held_out, "problems_per_round": problems_per_round, "start": start,
                "samples": samples, "exemplars": exemplars, "temperature": temperature,
                "max_tokens": max_tokens, "seed": seed, "model": config.model,
                "options": options}
    output.mkdir(parents=True, exist_ok=True)
    backend = make_backend(config, output / "cache.sqlite")
    try:
        result = llm_bootstrap(backend, domain, rounds=rounds, problems=problems, held_out=held,
                               samples=samples, exemplars=exemplars, temperature=temperature,
                               max_tokens=max_tokens, seed=seed, progress=progress,
                               on_answers=on_answers)
    finally:
        backend.close()
    _write(output, settings, result.rows, result.kept)
    return {"options": settings, "rounds": result.rows}


__all__ = ["llm_loop", "sat_loop"]
