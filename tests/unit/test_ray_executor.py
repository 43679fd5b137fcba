"""The Ray Data executor on a local Ray instance with scripted backends: the same records
as the local executor, for each kind; a killed actor; a killed driver resumed; bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synthloom.errors import UserInputError
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.executor import make_executor
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.ray_executor import RayExecutor, check_reachable
from synthloom.records import Record, read_jsonl
from tests.unit import test_targen_pipeline as targen
from tests.unit.scripted import ScriptedBackend

ray = pytest.importorskip("ray")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    # pytest imports this file under a name the actors cannot import: send it by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def comparable(record: Record) -> str:
    """A record's content without the wall-clock time it was made."""
    value = record.model_dump(mode="json")
    value["provenance"].pop("created_at", None)
    return json.dumps(value, sort_keys=True)


def records_of(out: Path) -> tuple[set[str], set[str]]:
    """(accepted, rejected) of a run folder, as comparable strings."""
    return ({comparable(r) for r in read_jsonl(out / "data.jsonl")},
            {comparable(r) for r in read_jsonl(out / "rejected.jsonl")})


def scripted_factory(respond):
    """An executor backend factory: the scripted model behind the run's response cache."""

    def factory(out: Path):
        return CachedBackend(ScriptedBackend(respond), ResponseCache(out / "cache.sqlite")), None

    return factory


def run_both(tmp_path, recipe, respond, workers=2):
    """The same recipe run by the local executor and by Ray: the two folders."""
    outs = {}
    for name in ("local", "ray"):
        out = tmp_path / name
        backend = CachedBackend(
            ScriptedBackend(respond), ResponseCache(tmp_path / f"{name}-driver.sqlite"))
        executor = None if name == "local" else RayExecutor(
            workers=workers, backend_factory=scripted_factory(respond))
        run_recipe(recipe, out, backend=backend, executor=executor)
        backend.close()
        outs[name] = out
    return outs["local"], outs["ray"]


def test_targen_records_are_the_same_on_ray_as_locally(tmp_path, local_ray):
    recipe = targen.recipe(n=12)
    local, on_ray = run_both(tmp_path, recipe, targen.respond)
    accepted, rejected = records_of(local)
    assert len(accepted) == 12
    assert records_of(on_ray) == (accepted, rejected)
    manifest = json.loads((on_ray / "manifest.json").read_text())
    assert manifest["executor"]["name"] == "ray" and manifest["executor"]["chunks"] >= 3
    steps = manifest["usage_by_step"]
    local_steps = json.loads((local / "manifest.json").read_text())["usage_by_step"]
    assert any("(regeneration)" in name for name in local_steps)  # the loop ran
    assert steps == local_steps  # every stage's calls counted, as locally
    assert not (on_ray / "stages").exists()  # stage checkpoints go once a chunk is saved


def test_bad_executor_input_is_one_clear_error():
    with pytest.raises(UserInputError, match="unknown executor"):
        make_executor("spark")
    with pytest.raises(UserInputError, match="--address is for --executor ray"):
        make_executor("local", address="127.0.0.1:6379")
    with pytest.raises(UserInputError, match="at least 1"):
        make_executor("ray", workers=0)


def test_unreachable_address_fails_within_bounded_time():
    started = time.perf_counter()
    with pytest.raises(UserInputError, match="cannot reach the Ray cluster at 127.0.0.1:1 "):
        make_executor("ray", address="127.0.0.1:1")  # nothing listens on port 1
    with pytest.raises(UserInputError, match="cannot reach the Ray cluster at ray://127.0.0.1:1"):
        check_reachable("ray://127.0.0.1:1", timeout_seconds=2)
    assert time.perf_counter() - started < 10


def test_cli_unreachable_address_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "synthloom", "generate", str(ROOT / "recipes/vader_tweets.yaml"),
         "-o", str(out), "--executor", "ray", "--address", "127.0.0.1:1"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2, proc.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:1" in proc.stderr + proc.stdout
    assert not out.exists()


class _Dies:
    """A scripted model whose Ray actor process dies (``os._exit``, as under ``kill -9``)
    at its ``at``-th generation request, once per ``marker`` file."""

    def __init__(self, marker: Path, at: int = 3) -> None:
        self.marker, self.at, self.driver, self.seen = marker, at, os.getpid(), 0

    def __call__(self, request):
        if os.getpid() != self.driver and "You write realistic examples" in str(
                request.messages[0]["content"]):
            self.seen += 1
            if self.seen == self.at and not self.marker.exists():
                self.marker.write_text(str(os.getpid()))
                os._exit(1)
        return targen.respond(request)


def test_a_killed_actor_is_restarted_and_no_record_is_lost_or_doubled(tmp_path, local_ray):
    recipe = targen.recipe(n=12)
    marker = tmp_path / "killed"
    local = tmp_path / "local"
    backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(tmp_path / "l.sqlite"))
    run_recipe(recipe, local, backend=backend)
    on_ray = tmp_path / "ray"
    backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(tmp_path / "r.sqlite"))
    run_recipe(recipe, on_ray, backend=backend, executor=RayExecutor(
        workers=1, backend_factory=scripted_factory(_Dies(marker))))
    assert marker.exists()  # an actor did die mid-batch
    assert records_of(on_ray) == records_of(local)
    ids = [r.id for r in read_jsonl(on_ray / "data.jsonl")]
    assert len(ids) == len(set(ids)) == 12


def test_a_restarted_actor_reads_the_stage_checkpoint_instead_of_asking_again(tmp_path):
    """No Ray needed: the actor class on its own, as Ray would restart it."""
    from synthloom.pipeline.engine import Engine
    from synthloom.pipeline.ray_executor import _StageWorker

    recipe = targen.recipe(n=4)
    engine = Engine(recipe, CachedBackend(ScriptedBackend(targen.respond),
                                          ResponseCache(tmp_path / "driver.sqlite")))
    engine.plan(tmp_path / "plan")
    engine.start()
    drafts = engine.new_drafts(0, ["alpha", "beta", "gamma"], {})
    asked: list[ScriptedBackend] = []

    def uncached(out):
        asked.append(ScriptedBackend(targen.respond))
        return asked[-1], None

    items = [["ok", d.model_dump_json()] for d in drafts]
    first = _StageWorker(recipe, engine.ctx.artifacts, str(tmp_path), 0, uncached, "g")
    once = first.run(items, 0)
    assert len(asked[0].requests) >= 3 and len(once) == 3
    again = _StageWorker(recipe, engine.ctx.artifacts, str(tmp_path), 0, uncached, "g")
    assert again.run(items, 0) == once and asked[1].requests == []
    assert again.run(items, 1) != once and len(asked[1].requests) >= 3  # a new attempt runs


_DRIVER = """
import sys, json
from pathlib import Path
import ray
ray.init(address=sys.argv[1], runtime_env={"env_vars": {"PYTHONPATH": sys.argv[3]}})
from tests.unit import test_targen_pipeline as targen
from tests.unit.test_ray_executor import scripted_factory, Slow
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.ray_executor import RayExecutor
from tests.unit.scripted import ScriptedBackend
out = Path(sys.argv[2])
backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(out.parent / "d.sqlite"))
run_recipe(targen.recipe(n=24), out, backend=backend,
           executor=RayExecutor(workers=1, backend_factory=scripted_factory(Slow())))
"""


class Slow:
    """The scripted model, 0.1 s per generation request (time to kill a driver mid-run)."""

    def __call__(self, request):
        if "You write realistic examples" in str(request.messages[0]["content"]):
            time.sleep(0.1)
        return targen.respond(request)


def test_a_killed_driver_resumes_on_ray_with_the_records_of_an_unbroken_run(tmp_path, local_ray):
    recipe = targen.recipe(n=24)
    local = tmp_path / "local"
    backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(tmp_path / "l.sqlite"))
    run_recipe(recipe, local, backend=backend)
    out = tmp_path / "ray"
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, "-c", _DRIVER, address, str(out), str(ROOT)],
                              cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and driver.poll() is None:
        data = out / "data.jsonl"
        if data.exists() and data.read_text().count("\n") >= 4:
            break
        time.sleep(0.2)
    assert driver.poll() is None, "the driver ended before it could be killed"
    driver.kill()  # SIGKILL, mid-run
    driver.wait()
    before = len(list(read_jsonl(out / "data.jsonl")))
    assert 4 <= before < 24
    backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(tmp_path / "r.sqlite"))
    run_recipe(recipe, out, resume=True, backend=backend, executor=RayExecutor(
        workers=1, backend_factory=scripted_factory(Slow())))
    assert records_of(out) == records_of(local)


class _FakeRay:
    def __init__(self, cpus: float) -> None:
        self.cpus = cpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": self.cpus}


def test_actors_share_a_started_instance_and_a_short_cluster_warns():
    executor = RayExecutor(workers=2, cpus_per_worker=0.5)
    executor.stage_names = ["a", "b", "c", "d"]
    executor._started_ray = True  # 4 stages x 2 workers on 2 CPUs: 0.25 each, all placed
    assert executor._cpus_per_actor(_FakeRay(2), 8) == 0.25
    assert executor._cpus_per_actor(_FakeRay(16), 8) == 0.5
    executor._started_ray = False  # a cluster it joined: asks for what it was told, warns
    with pytest.warns(RuntimeWarning, match="need 4 CPUs; the cluster has 2"):
        assert executor._cpus_per_actor(_FakeRay(2), 8) == 0.5


class _Breaks:
    """A scripted model that raises inside the actor from its ``after``-th generation
    request on (a bug in a step, not a dead process)."""

    def __init__(self, after: int = 7) -> None:
        self.after, self.driver, self.seen = after, os.getpid(), 0

    def __call__(self, request):
        if os.getpid() != self.driver and "You write realistic examples" in str(
                request.messages[0]["content"]):
            self.seen += 1
            if self.seen >= self.after:
                raise RuntimeError("boom")
        return targen.respond(request)


def test_an_error_in_an_actor_is_raised_in_the_driver_by_name(tmp_path, local_ray):
    from synthloom.errors import GenerationError

    out = tmp_path / "ray"
    backend = CachedBackend(ScriptedBackend(targen.respond), ResponseCache(tmp_path / "d.sqlite"))
    with pytest.raises(GenerationError,
                       match="step targen.generate failed on Ray: RuntimeError: boom"):
        run_recipe(targen.recipe(n=12), out, backend=backend, executor=RayExecutor(
            workers=1, backend_factory=scripted_factory(_Breaks())))
    assert len(list(read_jsonl(out / "data.jsonl"))) < 12  # what finished is kept
