"""Steps of the ``relevance`` kind: the query written for each sampled document.

Queries follow InPars (Bonifacio et al., arXiv 2202.05144) and Promptagator (Dai et al.,
arXiv 2209.11755): the generator reads the document and writes what someone would type to
find it, in a query type and (optionally) a persona drawn per record; see
:mod:`synthloom.operators.relevance.queries` for the prompt and the rejections.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, model_validator

from synthloom.operators.base import derived_seed, identity_provenance, with_step
from synthloom.operators.plan.personas import describe_persona, persona
from synthloom.operators.relevance.queries import QUERY_TYPES, QueryGeneration, QueryJob
from synthloom.pipeline.steps.base import StepConfig, StepContext, register_step
from synthloom.records import Record

_KINDS = frozenset({"relevance"})


class _Queries:
    """The generate step's runtime object: one query per draft, or a recorded rejection."""

    def __init__(self, config: QueriesStep, ctx: StepContext) -> None:
        r, self.config, self.seed = ctx.recipe, config, ctx.recipe.seed
        self.query_types = dict(config.query_types or QUERY_TYPES)
        self.op = QueryGeneration(
            ctx.backend,
            r.task.description,
            unit=ctx.unit,
            query_unit=getattr(r.task, "query_unit", "search query"),
            max_words=config.max_words,
            max_copy_words=config.max_copy_words,
            doc_words=config.doc_words,
            seed=r.seed,
            temperature=r.sampling.temperature,
            top_p=r.sampling.top_p,
            max_attempts=config.max_attempts,
            templates=ctx.templates(QueryGeneration),
        )
        self.ident = identity_provenance(ctx.backend.identity)

    def conditions(self, record: Record) -> tuple[str, str | None]:
        """The query type and the persona line (None without personas) of a draft, drawn
        from its plan id (the same on every attempt)."""
        plan_id = record.provenance.plan.id or record.id
        rng = random.Random(derived_seed(self.config.type, self.seed, plan_id))
        kind = rng.choice(sorted(self.query_types))
        who = (
            describe_persona(persona(rng.randrange(1_000_000), self.seed))
            if self.config.personas
            else None
        )
        return kind, who

    def __call__(self, records: list[Record], attempt: int = 0) -> list[Record]:
        """The records with ``inputs["query"]`` and ``["query_type"]`` (outputs cleared),
        or rejected with the reason (empty, too long, copied from the document).

        Raises:
            BackendError: the backend failed a request after its own retries.
        """
        picked = [self.conditions(r) for r in records]
        jobs = [
            QueryJob(
                r.provenance.plan.id or r.id,
                str(r.inputs.get("document", "")),
                self.query_types[kind],
                who,
            )
            for r, (kind, who) in zip(records, picked, strict=True)
        ]
        out = []
        for r, (kind, who), (query, reason, answers) in zip(
            records, picked, self.op.run(jobs, attempt), strict=True
        ):
            step = self.op.step(
                "rejected" if query is None else "generated",
                attempt=attempt,
                answers=answers,
                query_type=kind,
                **({"reason": reason} if reason else {}),
            )
            plan = r.provenance.plan.model_copy(
                update={
                    "persona": who,
                    "characteristics": {**r.provenance.plan.characteristics, "query_type": kind},
                }
            )
            done = with_step(r, step, sampling=self.op.sampling(), plan=plan, **self.ident)
            done = done.model_copy(
                update={"outputs": {}, "inputs": {**r.inputs, "query": query, "query_type": kind}}
            )
            out.append(
                done
                if query is not None
                else done.reject(self.op.name, f"{reason} (after {answers} answer(s))")
            )
        return out


@register_step
class QueriesStep(StepConfig):
    """Write a query for each sampled document with the generator (module docstring of
    :mod:`synthloom.operators.relevance.queries`).

    Attributes:
        query_types: name -> how the prompt asks for that type (``{unit}`` allowed); one is
            drawn per record; None: keyword, natural question and multi-hop question.
        personas: also draw a persona per record (occupation, expertise, age band, two Big
            Five traits; :mod:`synthloom.operators.plan.personas`), in ``plan.persona``.
        max_words: longest query kept, in words.
        max_copy_words: a query sharing this many consecutive words with its document is
            rejected.
        doc_words: words of the document the prompt shows (the first ones).
        max_attempts: answers asked per document before its draft is rejected.

    Sampling: the recipe's ``sampling`` (temperature, top_p).
    """

    type: Literal["relevance.queries"] = "relevance.queries"
    query_types: dict[str, str] | None = Field(default=None, min_length=1)
    personas: bool = False
    max_words: int = Field(default=20, ge=2, le=100, strict=True)
    max_copy_words: int = Field(default=6, ge=2, le=50, strict=True)
    doc_words: int = Field(default=200, ge=10, le=2000, strict=True)
    max_attempts: int = Field(default=2, ge=1, le=5, strict=True)
    role = "generate"
    reads = frozenset({"document", "unit"})
    writes = frozenset({"query"})
    operators = (QueryGeneration,)
    kinds = _KINDS

    @model_validator(mode="after")
    def _types(self) -> QueriesStep:
        for name, text in (self.query_types or {}).items():
            if not name.strip() or not text.strip():
                raise ValueError(f"query_types: {name!r} needs a name and a description")
            try:
                text.format(unit="x")
            except (KeyError, IndexError, ValueError) as e:
                raise ValueError(f"query_types: {name!r} may use only {{unit}} ({e})") from None
        return self

    def build(self, ctx: StepContext) -> Any:
        return _Queries(self, ctx)
