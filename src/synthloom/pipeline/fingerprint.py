"""The recipe fingerprint: a sha256 of what changes the data, and nothing else.

Plan ids and sampler seeds derive from it, and a resumed run must match it, so two copies of
one recipe in different folders give the same records, and a recipe run with another
``chunk_size`` keeps every plan id and seed.

Version 2 covers the task (kind, name, description, unit, labels...), ``n``, ``seed``, the
backend's kind and model (and the judge backend's, when a recipe names one), the sampling
values, the expanded steps (a taxonomy or seed
data file by the sha256 of its content) and the template overrides. It leaves out:

=========================  ===============================================================
left out                   why
=========================  ===============================================================
recipe file's folder       where a recipe lives is not what it asks for
output directory           same
``chunk_size``             how often records are checkpointed, not which records
``backend.max_concurrency``  how many requests are in flight, not what they ask
``backend.n_ctx``          the context window of the embedded model (prompts fit in it)
``backend.parallel``       how many sequences are decoded together; sampled answers can
                           differ with it, but the requests (and so the cache) are the same
``backend.n_threads``      CPU threads
``backend.base_url``       where a server runs; the model id names what answers
``backend.timeout_seconds``, ``backend.max_retries``  how patiently a server is asked
``judge.max_concurrency``, ``judge.n_ctx``, ``judge.base_url``, ``judge.parallel``,
``judge.n_threads``, ``judge.timeout_seconds``, ``judge.max_retries``  as for ``backend``
taxonomy file path         its content enters instead
seed data file path        same (a named real source enters by name)
teacher_label source path  same (``teacher_label.source``'s file, by its content)
``targen:``/``coverage:``/``dedup:`` spelling  they enter as the steps they expand to
=========================  ===============================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synthloom.records import sha256_text, stable_json

if TYPE_CHECKING:
    from synthloom.pipeline.recipe import Recipe

FINGERPRINT_VERSION = 2

#: fields of a recipe that never enter the fingerprint (see the module docstring)
EXCLUDED = ("chunk_size", "backend.max_concurrency", "backend.n_ctx", "backend.base_url",
            "backend.parallel", "backend.n_threads", "backend.timeout_seconds",
            "backend.max_retries", "judge.max_concurrency", "judge.n_ctx", "judge.base_url",
            "judge.parallel", "judge.n_threads", "judge.timeout_seconds", "judge.max_retries")


def fingerprint_data(recipe: Recipe) -> dict[str, Any]:
    """The JSON value the fingerprint hashes (useful to see why two recipes differ)."""
    judge = ({} if recipe.judge is None else
             {"judge": {"kind": recipe.judge.kind, "model": recipe.judge.model}})
    return {
        **judge,
        "fingerprint": FINGERPRINT_VERSION,
        "task": recipe.task.model_dump(mode="json"),
        "n": recipe.n,
        "seed": recipe.seed,
        "backend": {"kind": recipe.backend.kind, "model": recipe.backend.model},
        "sampling": recipe.sampling.model_dump(mode="json"),
        "steps": [step.fingerprint_data() for step in recipe.steps],
        "templates": dict(sorted(recipe.templates.items())),
    }


def fingerprint(recipe: Recipe) -> str:
    """Hex sha256 of :func:`fingerprint_data`."""
    return sha256_text(stable_json(fingerprint_data(recipe)))
