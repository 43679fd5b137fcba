"""A run folder under stress: locked against a second run, nothing written on bad input,
damaged files set aside and the run resumed from everything else (issue 11)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthloom.errors import UserInputError
from synthloom.llm.cache import CachedBackend, ResponseCache
from synthloom.pipeline.local import run_recipe
from synthloom.pipeline.recipe import Recipe
from synthloom.pipeline.run_folder import run_lock
from synthloom.records import read_jsonl, read_parquet
from tests.unit.scripted import ScriptedBackend
from tests.unit.test_targen_pipeline import recipe, respond


def run(out, r: Recipe, *, resume: bool = False, fail_after: int | None = None,
        cache=None) -> dict:
    backend = CachedBackend(ScriptedBackend(respond, fail_after=fail_after),
                            ResponseCache(cache or out.parent / f"{out.name}.sqlite"))
    return run_recipe(r, out, resume=resume, backend=backend)


def ids(path) -> list[str]:
    return sorted(r.id for r in read_jsonl(path))


def test_a_second_run_into_a_locked_folder_is_refused_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    with run_lock(out):
        with pytest.raises(UserInputError, match=rf"{out} is in use by another synthloom run "
                                                 rf"\(pid {os.getpid()} since"):
            run(out, recipe(), resume=True)
        assert not (out / "run.json").exists() and not (out / "data.jsonl").exists()
    manifest = run(out, recipe(), resume=True)  # released: the run goes ahead
    assert manifest["accepted"] == 12


def test_the_lock_of_a_killed_run_is_stale_and_taken_over(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from synthloom.pipeline.run_folder import "
         f"run_lock\nwith run_lock(Path({str(out)!r})):\n print('held', flush=True)\n"
         " time.sleep(600)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserInputError, match="in use by another synthloom run"):
            run(out, recipe())
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        assert (out / ".lock").exists()  # the file stays; its lock died with the process
        assert run(out, recipe(), resume=True)["accepted"] == 12
    finally:
        holder.kill()


def test_an_unknown_model_writes_nothing_and_a_corrected_rerun_goes_ahead(tmp_path):
    out = tmp_path / "out"
    bad = Recipe.model_validate({**recipe().model_dump(), "backend": {"model": "no-such"}})
    with pytest.raises(UserInputError, match="unknown model 'no-such'"):
        run_recipe(bad, out)
    assert not out.exists()


def test_a_folder_whose_run_failed_at_its_start_is_taken_over_by_a_corrected_recipe(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"recipe_sha256": "0" * 64}))
    assert run(out, recipe(), resume=True)["accepted"] == 12
    assert json.loads((out / "run.json").read_text())["recipe_sha256"] == recipe().sha256()
    with pytest.raises(UserInputError, match="holds a run of a different recipe"):
        run(out, recipe(n=9), resume=True)  # now it has records: never overwritten


def test_a_damaged_middle_line_is_set_aside_and_the_run_resumes_from_the_rest(tmp_path):
    clean = tmp_path / "clean"
    run(clean, recipe())
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="scripted crash"):
        run(out, recipe(), fail_after=40)
    kept = ids(out / "data.jsonl")
    assert 2 <= len(kept) < 12
    lines = (out / "data.jsonl").read_text().splitlines(keepends=True)
    lines[1] = lines[1][: len(lines[1]) // 2] + "\n"  # damage the second record
    (out / "data.jsonl").write_text("".join(lines))
    (out / "progress.json").write_text("")  # and empty the counters
    with pytest.warns(RuntimeWarning) as warned:
        manifest = run(out, recipe(), resume=True)
    messages = " | ".join(str(w.message) for w in warned)
    assert "1 damaged line(s) (2) set aside in data.corrupt.jsonl" in messages
    assert "progress.json: unreadable" in messages
    side = [json.loads(x) for x in (out / "data.corrupt.jsonl").read_text().splitlines()]
    assert [row["line"] for row in side] == [2]
    # the damaged record's draft is run again (answers from the cache): nothing lost
    assert manifest["accepted"] == 12 and ids(out / "data.jsonl") == ids(clean / "data.jsonl")
    assert manifest["llm_calls"] == json.loads((clean / "manifest.json").read_text())["llm_calls"]


def test_an_output_path_inside_a_file_is_a_one_line_error(tmp_path):
    afile = tmp_path / "a_file"
    afile.write_text("x")
    with pytest.raises(UserInputError, match="is a file, not a folder"):
        run(afile, recipe(), cache=tmp_path / "c.sqlite")
    with pytest.raises(UserInputError, match="is a file, not a folder"):
        run(afile / "inside", recipe(), cache=tmp_path / "c.sqlite")


def test_the_lock_does_not_make_a_fresh_folder_look_used(tmp_path):
    out = tmp_path / "out"
    assert run(out, recipe())["accepted"] == 12  # no "not empty" from .lock itself
    assert {p.name for p in out.iterdir()} >= {".lock", ".lock.owner", "run.json"}


def test_a_full_disk_keeps_finished_records_and_resume_completes(tmp_path, monkeypatch):
    import synthloom.pipeline.local as local

    clean = tmp_path / "clean"
    run(clean, recipe())
    out = tmp_path / "out"
    real_append, calls = local.append_jsonl, []

    def fills_up(path, records):
        calls.append(path.name)
        if len(calls) > 6:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_append(path, records)

    monkeypatch.setattr(local, "append_jsonl", fills_up)
    with pytest.raises(OSError, match="No space left"):
        run(out, recipe())
    kept = ids(out / "data.jsonl")
    assert kept and set(kept) < set(ids(clean / "data.jsonl"))
    monkeypatch.setattr(local, "append_jsonl", real_append)
    assert run(out, recipe(), resume=True)["accepted"] == 12
    assert ids(out / "data.jsonl") == ids(clean / "data.jsonl")


@pytest.mark.parametrize(("code", "exit_code", "words"), [
    (errno.ENOSPC, 1, "No space left on device; records finished before it are kept"),
    (errno.EACCES, 2, "Permission denied"),
])
def test_an_os_error_is_one_line_from_the_command(tmp_path, monkeypatch, capsys, code,
                                                   exit_code, words):
    import synthloom.api as api
    from synthloom.cli import main

    target = tmp_path / "out" / "data.jsonl"

    def fails(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(target))

    monkeypatch.setattr(api, "generate", fails)
    recipe_file = tmp_path / "r.yaml"
    recipe_file.write_text("task: t\ndescription: d\nlabels: {a: x, b: y}\n")
    monkeypatch.setattr(sys, "argv", ["synthloom", "generate", str(recipe_file),
                                      "-o", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == exit_code
    err = capsys.readouterr().err
    assert f"error: {target}: {os.strerror(code)}" in " ".join(err.split())
    assert words in " ".join(err.split()) and "Traceback" not in err


RUN_FILES = ("data.jsonl", "drafts.jsonl", "rejected.jsonl", "progress.json", "run.json",
             "plan/contexts.json", "plan/seeds.json", "data.parquet", "manifest.json",
             "cache.sqlite")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    manifest = run_recipe(recipe(), out, resume=True, backend=CachedBackend(
        ScriptedBackend(respond), ResponseCache(out / "cache.sqlite")))
    assert manifest["accepted"] == 12
    return out


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=st.lists(st.tuples(st.sampled_from(RUN_FILES),
                                 st.sampled_from(("truncate", "flip", "empty", "garbage")),
                                 st.floats(0, 1), st.binary(min_size=1, max_size=40)),
                       min_size=1, max_size=4))
def test_a_randomly_damaged_run_folder_resumes_or_says_why(finished_run, tmp_path_factory,
                                                            damage):
    out = tmp_path_factory.mktemp("damaged") / "run"
    shutil.copytree(finished_run, out)
    for name, how, where, junk in damage:
        path = out / name
        if not path.exists():
            continue
        data = path.read_bytes()
        at = int(len(data) * where)
        data = {"truncate": data[:at], "empty": b"",
                "flip": data[:at] + bytes([(data[at] if at < len(data) else 0) ^ 0xFF])
                + data[at + 1:],
                "garbage": data[:at] + junk + data[at:]}[how]
        path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # damage is reported as warnings
            manifest = run(out, recipe(), resume=True, cache=out / "cache.sqlite")
    except UserInputError as e:  # e.g. run.json unreadable: one line, nothing changed
        assert "\n" not in str(e)
        return
    data = list(read_jsonl(out / "data.jsonl"))
    assert manifest["accepted"] == len(data) == len({r.id for r in data}) == 12
    assert {r.id for r in data} == {r.id for r in read_parquet(out / "data.parquet")}
    for line in (out / "data.jsonl").read_text().splitlines():
        json.loads(line)  # no partial line is left behind
