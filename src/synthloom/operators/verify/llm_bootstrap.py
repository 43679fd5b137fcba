"""Expert iteration with an LLM that is not retrained: verified pairs guide the next search.

Expert iteration (Anthony et al., arXiv 1705.08439) alternates a search that is expensive
but good with an apprentice trained on what the search found. With a verifier, "what the
search found" is only what passed (STaR, Zelikman et al., arXiv 2203.14465, keeps
rationales that reach the right answer). On a CPU the apprentice's weights are not
retrained here; the verified pairs kept so far are shown to the model as worked examples
(in-context exemplars) in the next round's prompts, which is the part of the loop this
machine can run. Each round:

1. measure the current search on a FIXED held-out set (the same problems every round):
   pass@1, pass@k, majority vote and verifier-selected accuracy
   (:func:`~synthloom.operators.verify.search.summarize`);
2. search ``problems_per_round`` new problems (k samples each), verify every sample,
   keep the problems with a verified sample as (problem, solution) pairs with their
   provenance (round, samples, passing samples, tokens, the verifier's evidence);
3. draw the next round's exemplars from every pair kept so far (seeded).

For SAT, whose solver is retrained, see :mod:`synthloom.operators.verify.sat_bootstrap`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synthloom.llm.base import ChatBackend
from synthloom.operators.base import derived_seed, identity_provenance
from synthloom.operators.verify.base import Domain, Problem, Verification
from synthloom.operators.verify.search import (
    LLMSearch,
    search_measures,
    summarize,
    verify_attempts,
)
from synthloom.records import OperatorStep, Origin, Provenance, Record, record_id


@dataclass
class LoopResult:
    """What :func:`llm_bootstrap` measured and kept.

    Attributes:
        rows: one JSON-able dict per round: ``round``, ``exemplars``, the held-out measures
            (``held_out_pass@1``, ``held_out_pass@k``, ``held_out_majority_vote_accuracy``,
            ``held_out_verifier_selected_accuracy``), and the round's yield (``generated``,
            ``attempted``, ``verified``, ``kept``, ``samples``, ``tokens_out``,
            ``tokens_per_kept``).
        kept: the verified pairs as ``verifiable`` records (see :func:`pair_record`).
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    kept: list[Record] = field(default_factory=list)


def pair_record(task: str, problem: Problem, answer: str, solution: str,
                verification: Verification, by: str, detail: dict[str, Any],
                provenance: dict[str, Any] | None = None) -> Record:
    """A verified (problem, solution) pair as a ``verifiable`` record: synthetic, the
    problem's field marked real when a person wrote it, the verifier's verdict attached,
    the search ``detail`` (round, samples, cost...) in its operator step."""
    inputs = {"problem": problem.text, "domain": problem.domain, "spec": problem.spec}
    outputs = {"solution": solution, "answer": answer}
    return Record(
        id=record_id(task, inputs, None, outputs), task=task, kind="verifiable",
        inputs=inputs, outputs=outputs, origin=Origin.synthetic,
        field_origins={"problem": Origin.real, "spec": Origin.real} if problem.real else {},
        provenance=Provenance(source=problem.source, operators=[OperatorStep(
            operator=detail.pop("operator", "verify.expert_iteration"), verdict="kept",
            detail=detail)], **(provenance or {})),
        verification=[verification.verdict(by)])


def _phase(on_answers: Callable[[str, int, int], None] | None, phase: str
           ) -> Callable[[int, int], None] | None:
    if on_answers is None:
        return None
    return lambda done, total: on_answers(phase, done, total)


def llm_bootstrap(backend: ChatBackend, domain: Domain, *, rounds: int,
                  problems: Callable[[int], list[Problem]], held_out: list[Problem],
                  samples: int = 4, exemplars: int = 3, temperature: float = 0.8,
                  top_p: float = 0.95, max_tokens: int = 512, seed: int = 0,
                  task: str | None = None, progress: Callable[[str], None] | None = None,
                  on_answers: Callable[[str, int, int], None] | None = None) -> LoopResult:
    """Run ``rounds`` rounds of search -> verify -> keep -> exemplars (module docstring).

    Args:
        backend: the chat backend (cached: a rerun asks nothing twice).
        domain: the verifiable domain.
        rounds: rounds (>= 1); round 0 searches with no exemplars.
        problems: ``problems(round) -> problems`` for a round's search (new ones each
            round; never the held-out ones).
        held_out: the fixed held-out problems every round is measured on.
        samples: k, samples per problem.
        exemplars: verified pairs shown per prompt from round 1 on.
        temperature, top_p, max_tokens: sampling values (tokens for max_tokens).
        seed: base seed (sampler seeds and exemplar draws derive from it).
        task: task name for the kept records (default ``<domain>_verified``).
        progress: called with one line per phase.
        on_answers: called with ``(phase, problems answered, problems)`` as a search goes
            (phase ``"round 0 held-out"``, ``"round 0 search"``, ...), for a progress bar.

    Returns:
        :class:`LoopResult`.

    Raises:
        ValueError: ``rounds < 1``.
        BackendError: the backend failed a request after its retries.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    task = task or f"{domain.name}_verified"
    search = LLMSearch(backend, domain, samples=samples, temperature=temperature, top_p=top_p,
                       max_tokens=max_tokens, seed=seed)
    ident = identity_provenance(backend.identity)
    say = progress or (lambda line: None)
    result = LoopResult()
    pool: list[tuple[Problem, str]] = []
    shown: list[tuple[Problem, str]] = []
    for r in range(rounds):
        say(f"round {r}: held-out search ({len(held_out)} problems x {samples} samples)")
        measured = []
        found = search.run([(f"held-out-{i}", p) for i, p in enumerate(held_out)], 0, shown,
                           _phase(on_answers, f"round {r} held-out"))
        for p, attempts in zip(held_out, found, strict=True):
            measured.append(search_measures(domain, attempts,
                                            verify_attempts(domain, p, attempts)))
        held = summarize(measured)
        todo = problems(r)
        say(f"round {r}: search on {len(todo)} new problems")
        found = search.run([(f"round-{r}-{i}", p) for i, p in enumerate(todo)], 0, shown,
                           _phase(on_answers, f"round {r} search"))
        kept = verified = attempted = spent = 0
        for p, attempts in zip(todo, found, strict=True):
            spent += sum(a.tokens_out for a in attempts)
            attempted += any(a.candidate is not None for a in attempts)
            checks = verify_attempts(domain, p, attempts)
            passing = [j for j, v in enumerate(checks) if v.passed]
            if not passing:
                continue
            verified += 1
            j = passing[0]
            answer = str(attempts[j].candidate)
            record = pair_record(
                task, p, answer, domain.solution_text(p, answer), checks[j],
                domain.verifier.name,
                {"operator": LLMSearch.name, "round": r, "samples": len(attempts),
                 "samples_passed": len(passing), "chosen": j, "exemplars": len(shown),
                 "tokens_out": sum(a.tokens_out for a in attempts),
                 "prompt_sha256": search.prompt_sha256(p, shown)},
                {**ident, "sampling": search.sampling()})
            if all(k.id != record.id for k in result.kept):
                result.kept.append(record)
                pool.append((p, domain.solution_text(p, answer)))
                kept += 1
        result.rows.append({
            "round": r, "exemplars": len(shown),
            **{f"held_out_{k}": v for k, v in held.items()},
            "generated": len(todo), "attempted": attempted, "verified": verified,
            "kept": kept, "samples": samples * len(todo), "tokens_out": spent,
            "tokens_per_kept": round(spent / kept, 1) if kept else None})
        say(f"round {r}: held-out pass@1 {held.get('pass@1')}, pass@{samples} "
            f"{held.get('pass@k')}; kept {kept} of {len(todo)}")
        rng = random.Random(derived_seed("llm_bootstrap.exemplars", seed, r))
        shown = rng.sample(pool, min(exemplars, len(pool))) if pool else []
    return result


__all__ = ["LoopResult", "llm_bootstrap", "pair_record"]
