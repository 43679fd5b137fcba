"""The Ray Data executor gives the same accepted and rejected records as the local
executor for every task kind besides classification (covered in test_ray_executor.py):
relevance, dialogue, tool_dialogue, verifiable, instruction, preference, teacher_label.
Each runs a small recipe of its kind's unit tests, on their scripted model, once locally
and once on a local Ray instance with two actors per stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from synthloom.labelling import with_source
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.ray_executor import RayExecutor
from synthloom.pipeline.recipe import Recipe, load_recipe
from tests.unit import relevance_fixtures as relevance
from tests.unit import test_dialogue_steps as dialogue
from tests.unit import test_instruction_steps as instruction
from tests.unit import test_preference as preference
from tests.unit import test_teacher_label as teacher
from tests.unit import test_tool_dialogue as tool_dialogue
from tests.unit import test_verifiable_kind as verifiable
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_ray_executor import records_of
from tests.unit.test_step_contract import respond as contract_respond

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]

#: every actor of a run must fit at once, or a stage whose actors cannot be placed waits
#: for ever: relevance's 4 stages x 2 workers x 0.2 CPU fit in the 2 CPUs of the instance
#: (at the default 0.5, the 4th stage's actors stay pending and the run hangs)
CPUS_PER_WORKER = 0.2


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module, unless another module's is still up."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    # pytest imports this file under a name the actors cannot import: send it by value
    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    yield
    ray.cloudpickle.unregister_pickle_by_value(module)
    if started:
        ray.shutdown()


def _backend(respond, model: str, cache: Path) -> CachedBackend:
    return CachedBackend(ScriptedBackend(respond, model=model), ResponseCache(cache))


def factory(respond, model: str = "scripted-model", judge_model: str | None = None):
    """An executor backend factory: the scripted model (and judge, under ``judge_model``)
    behind the run's response caches, as the recipe's backends would be."""

    def build(out: Path):
        judge = None if judge_model is None else _backend(
            respond, judge_model, out / "cache-judge.sqlite")
        return _backend(respond, model, out / "cache.sqlite"), judge

    return build


def run_both(tmp_path: Path, recipe: Recipe, respond, *, model: str = "scripted-model",
             judge_model: str | None = None) -> tuple[Path, Path]:
    """The same recipe run by the local executor and by Ray (2 actors a stage)."""
    outs = {}
    for name in ("local", "ray"):
        out = tmp_path / name
        backend = _backend(respond, model, tmp_path / f"{name}-driver.sqlite")
        judge = None if judge_model is None else _backend(
            respond, judge_model, tmp_path / f"{name}-judge.sqlite")
        executor = None if name == "local" else RayExecutor(
            workers=2, cpus_per_worker=CPUS_PER_WORKER,
            backend_factory=factory(respond, model, judge_model))
        manifest = run_recipe(recipe, out, backend=backend, judge_backend=judge,
                              executor=executor)
        backend.close()
        if judge is not None:
            judge.close()
        assert manifest["executor"]["name"] == name
        outs[name] = out
    return outs["local"], outs["ray"]


def same_records(tmp_path: Path, recipe: Recipe, respond, **backends) -> tuple[set, set]:
    local, on_ray = run_both(tmp_path, recipe, respond, **backends)
    accepted, rejected = records_of(local)
    assert accepted, "the local run accepted nothing: nothing compared"
    ray_accepted, ray_rejected = records_of(on_ray)
    assert ray_accepted == accepted
    assert ray_rejected == rejected
    return accepted, rejected


# ------------------------------------------------------------------ the kinds


def test_relevance(tmp_path, local_ray):
    data = relevance.recipe_data(relevance.write_corpus(tmp_path), n=7)  # every document
    accepted, rejected = same_records(tmp_path, Recipe.model_validate(data),
                                      relevance.model())
    assert len(accepted) == 6 and len(rejected) == 1  # the copying query is rejected


def test_dialogue(tmp_path, local_ray):
    path = tmp_path / "dialogue.yaml"
    path.write_text(dialogue.HEAD.format(n=6, seed=3) + dialogue.LAYERED
                    + "  - {type: dialogue.summary}\n"
                    + "  - {type: judge.pointwise, action: score}\n")
    accepted, _ = same_records(tmp_path, load_recipe(path), dialogue.model())
    assert len(accepted) == 6


def _tool_model():
    """The tool-dialogue scripted model, also answering the pointwise judge."""
    base = tool_dialogue.responder()

    def respond(request):
        if request.json_schema and "tool_use" in json.dumps(request.json_schema):
            return json.dumps({"coherence": 4, "naturalness": 3, "tool_use": 5})
        return base(request)

    return respond


def test_tool_dialogue(tmp_path, local_ray):
    path = tool_dialogue._recipe(tmp_path, tool_dialogue._tools_folder(tmp_path), n=3)
    path.write_text(path.read_text() + "  - {type: judge.pointwise, action: score}\n")
    accepted, _ = same_records(tmp_path, load_recipe(path), _tool_model())
    assert len(accepted) == 3


def test_verifiable(tmp_path, local_ray):
    path = verifiable._recipe(tmp_path, "game24", verifiable.G24_STEPS, n=3)
    accepted, _ = same_records(tmp_path, load_recipe(path),
                               verifiable._game24_model(right=True))
    assert len(accepted) == 3


def test_instruction(tmp_path, local_ray):
    path = tmp_path / "instruction.yaml"
    path.write_text(instruction.HEAD.format(n=6) + """\
  - {type: instruction.seed_pool}
  - {type: instruction.evol, generations: 1, include_pool: true}
  - {type: instruction.drafts}
  - {type: instruction.responses}
""")
    accepted, _ = same_records(tmp_path, load_recipe(path), contract_respond,
                               model="scripted-qwen2.5")
    assert len(accepted) == 6


def test_preference(tmp_path, local_ray):
    path = tmp_path / "preference.yaml"
    path.write_text(preference.RECIPE.format(n=5, source="count: 12", extra=""))
    accepted, _ = same_records(tmp_path, load_recipe(path), preference.model(),
                               judge_model="judge-model")
    assert len(accepted) == 5


def test_teacher_label(tmp_path, local_ray):
    source = tmp_path / "src.jsonl"
    source.write_text("".join(json.dumps({"body": t, "label": f"HUMAN-{g}", "gold": g}) + "\n"
                              for t, g in teacher.ROWS))
    accepted, rejected = same_records(tmp_path, with_source(teacher.recipe(), source),
                                      teacher.respond)
    assert len(accepted) == 5 and len(rejected) == 1  # one abstention
