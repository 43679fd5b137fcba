"""Run untrusted Python (model-written programs and their tests) in a limited child process.

What :func:`run_python` guarantees, on Linux:

- the program runs in a separate interpreter (``python -S -P -B``: no site-packages, no
  script directory on ``sys.path``, no bytecode written), in a fresh temporary directory as
  its working directory, removed afterwards; with a minimal environment (nothing of the
  parent's: ``HOME`` and ``TMPDIR`` are that directory, ``PYTHONHASHSEED=0`` so set
  iteration is the same on every run; ``-I`` is not used because it would ignore that, and
  nothing else of the environment is inherited anyway); it reads the program from a file
  there and gets ``/dev/null`` as stdin;
- resource limits set in the child before the program runs, hard limit = soft limit: CPU
  time (``RLIMIT_CPU``, ``ceil(timeout_s) + 1`` s), address space (``RLIMIT_AS``,
  ``memory_mb``), file size (``RLIMIT_FSIZE``, :data:`FILE_SIZE_LIMIT_MB`), no core files,
  at most :data:`OPEN_FILES_LIMIT` open files; the child leads its own session and the whole
  process group is killed at the wall-clock timeout or when the child ends;
- no network: when ``unshare -rn`` works here (user + network namespace; checked once) the
  child runs in an empty network namespace; and in every case
- an audit hook (PEP 578, :mod:`synthloom.operators.verify.sandbox_prelude`) installed
  before the program runs refuses sockets and network clients, process creation and signals
  (``subprocess``, ``os.system``/``exec``/``spawn``/``posix_spawn``/``fork``/``kill``),
  ``ctypes`` and other native-code imports, opening files for writing outside the temporary
  directory, opening files for reading outside it and outside Python's installation
  (``sys.prefix``, ``sys.base_prefix``, ``sys.path``), and removing, renaming, creating,
  linking or changing files outside it (``os.*``, ``shutil.*``, ``sqlite3.connect``). A
  refusal raises :class:`PermissionError` in the program AND is written to a pipe the runner
  reads, so the run fails with ``reason = "refused: ..."`` even if the program catches it;
- output is bounded: at most ``max_output_bytes`` of stdout and of stderr are kept (the
  head and the tail).

What it does not guarantee: it is a defence against accidents and careless or confused
model output (a stray ``rm``, an endless loop, a download, a fork bomb), not against a
determined attacker. Audit hooks see only what Python reports: native code, a bug in an
extension module, ``os.open(..., dir_fd=)`` tricks (the open event carries no ``dir_fd``;
paths are checked against the working directory) or a ``PathLike`` whose ``__fspath__``
answers differently on a second call can get around them. Without namespaces the child
runs as the calling user and sees the host's files and network through anything the hook
misses. For hostile code use a container or a VM (gVisor, Firecracker, nsjail).
"""

from __future__ import annotations

import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from synthloom.operators.verify import sandbox_prelude
from synthloom.operators.verify.sandbox_prelude import (
    PROGRAM_FILE,
    REFUSAL_MARK,
    REPORT_LOST_EXIT,
)

#: RLIMIT_FSIZE of the child: the largest file it may write (MB)
FILE_SIZE_LIMIT_MB = 16
#: RLIMIT_NOFILE of the child: open file descriptors
OPEN_FILES_LIMIT = 64
#: bytes of refusal reports kept
_REPORT_LIMIT = 8192
#: after a kill, how long to wait for the pipes to close (seconds)
_DRAIN_AFTER_KILL_S = 5.0


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    Attributes:
        ok: the program exited with status 0 and nothing was refused or timed out.
        returncode: the exit status; negative: killed by that signal (``-9`` at the timeout).
        stdout, stderr: the output, decoded as UTF-8 (bad bytes replaced); when longer than
            ``max_output_bytes`` the head and tail are kept around a ``[... N bytes cut ...]``
            line.
        reason: one line: ``ok``, ``refused: <what>`` (``refused: socket.connect``,
            ``refused: open('/etc/passwd', 'r') outside the sandbox``), ``timeout after 5.0
            s``, ``cpu time limit``, ``memory limit (512 MB)``, ``file size limit (16 MB)``,
            ``exception: <last traceback line>``, ``killed by signal SIGSEGV``, ``exit status
            N``, ``sandbox could not start: ...``.
        seconds: wall time of the run (seconds).
    """

    ok: bool
    returncode: int | None
    stdout: str
    stderr: str
    reason: str
    seconds: float


class _Capture:
    """Bytes of one pipe, bounded: the first ``limit // 2`` and the last ones."""

    def __init__(self, limit: int) -> None:
        self.half, self.rest = limit // 2, limit - limit // 2
        self.head, self.tail, self.total = bytearray(), bytearray(), 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > self.rest:
            del self.tail[:len(self.tail) - self.rest]

    def text(self) -> str:
        cut = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {cut} bytes cut ...]\n".encode() if cut else b""
        return (bytes(self.head) + middle + bytes(self.tail)).decode("utf-8", "replace")


@cache
def network_namespace_command() -> tuple[str, ...]:
    """``(path of unshare, "-rn")`` when a user + network namespace can be made here (a
    Python run inside it succeeds), else ``()``. Checked once per process."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", sys.executable, "-S", "-c", "pass"],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                               env={"PATH": os.defpath})
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


@cache
def _child_source() -> str:
    prelude = Path(sandbox_prelude.__file__).read_text(encoding="utf-8")
    return prelude + "\nexec(boot(globals()), globals())\n"


def _exited(pid: int) -> bool:
    """Whether the child has ended, without reaping it (its pid stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _remove_tree(path: str) -> None:
    """Remove the sandbox directory even where the program took away permissions."""
    try:
        os.chmod(path, 0o700)
    except OSError:
        return
    for root, dirs, _files in os.walk(path, onerror=lambda _error: None):
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
            except OSError:
                pass
    shutil.rmtree(path, ignore_errors=True)


def _collect(process: subprocess.Popen[bytes], report_fd: int, deadline: float,
             limit: int) -> tuple[dict[int, _Capture], bool]:
    """Read stdout, stderr and the report pipe until they close; kill the process group at
    ``deadline`` (monotonic seconds) or when the child ends. Returns the captures by fd and
    whether the deadline was hit."""
    assert process.stdout is not None and process.stderr is not None
    captures = {process.stdout.fileno(): _Capture(limit),
                process.stderr.fileno(): _Capture(limit), report_fd: _Capture(_REPORT_LIMIT)}
    timed_out = exited = False
    with selectors.DefaultSelector() as selector:
        for fd in captures:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            if not exited and _exited(process.pid):
                exited = True
                _kill_group(process.pid)  # anything it left behind
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not exited and not timed_out:
                timed_out = True
                _kill_group(process.pid)
            if remaining < -_DRAIN_AFTER_KILL_S:
                break
            for key, _ in selector.select(timeout=min(max(remaining, 0.0), 0.1) or 0.1):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    captures[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    while not exited and not timed_out:
        if _exited(process.pid):
            exited = True
        elif time.monotonic() >= deadline:
            timed_out = True
        else:
            time.sleep(0.002)
    _kill_group(process.pid)
    return captures, timed_out


def _last_exception(stderr: str) -> str | None:
    """The last line of the last traceback in ``stderr`` (``ValueError: bad``), or None."""
    if "Traceback (most recent call last):" not in stderr and "SyntaxError" not in stderr:
        return None
    for line in reversed(stderr.splitlines()):
        if line.strip() and not line.startswith((" ", "\t")):
            return line.strip()[:300]
    return None


def _reason(returncode: int, refusals: list[str], timed_out: bool, stderr: str,
            timeout_s: float, memory_mb: int) -> str:
    exception = _last_exception(stderr) if returncode else None
    if refusals:
        return f"refused: {refusals[0]}"
    if timed_out:
        return f"timeout after {float(timeout_s)} s"
    if returncode == REPORT_LOST_EXIT and "refusal report pipe is gone" in stderr:
        return "refused: the program closed the sandbox's report pipe"
    if returncode == -signal.SIGXCPU:
        return "cpu time limit"
    if returncode == -signal.SIGXFSZ or (exception or "").startswith("OSError: [Errno 27]"):
        return f"file size limit ({FILE_SIZE_LIMIT_MB} MB)"
    if exception is not None and exception.startswith("MemoryError"):
        return f"memory limit ({memory_mb} MB)"
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode:
        return f"exception: {exception}" if exception else f"exit status {returncode}"
    return "ok"


def run_python(code: str, *, timeout_s: float = 5.0, memory_mb: int = 512,
               max_output_bytes: int = 65536) -> SandboxResult:
    """Run the Python program ``code`` in the sandbox (see the module docstring for what is
    and is not guaranteed) and report what happened.

    Args:
        code: the program's source text (run as ``__main__`` from ``program.py``).
        timeout_s: wall-clock limit (seconds); the CPU limit is ``ceil(timeout_s) + 1`` s.
        memory_mb: address-space limit of the child (MB).
        max_output_bytes: bytes of stdout and of stderr kept, each.

    Returns:
        A :class:`SandboxResult`; a failure of the program is never raised.

    Raises:
        ValueError: ``timeout_s <= 0``, ``memory_mb < 32`` or ``max_output_bytes < 0``.
    """
    if not timeout_s > 0 or memory_mb < 32 or max_output_bytes < 0:
        raise ValueError(f"need timeout_s > 0, memory_mb >= 32 and max_output_bytes >= 0 "
                         f"(got {timeout_s}, {memory_mb}, {max_output_bytes})")
    started = time.monotonic()
    workdir = os.path.realpath(tempfile.mkdtemp(prefix="synthloom-sandbox-"))
    try:
        Path(workdir, PROGRAM_FILE).write_text(code, encoding="utf-8", errors="surrogateescape")
        env = {"PATH": os.defpath, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONNOUSERSITE": "1", "PYTHONSAFEPATH": "1", "PYTHONIOENCODING": "utf-8"}
        report_read, report_write = os.pipe()
        command = [*network_namespace_command(), sys.executable, "-S", "-P", "-B",
                   "-X", "utf8", "-c", _child_source(), workdir, str(report_write),
                   str(math.ceil(timeout_s) + 1), str(memory_mb * 1024 * 1024),
                   str(FILE_SIZE_LIMIT_MB * 1024 * 1024), str(OPEN_FILES_LIMIT)]
        try:
            process = subprocess.Popen(command, cwd=workdir, env=env,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, pass_fds=(report_write,),
                                       start_new_session=True)
        except OSError as error:
            os.close(report_read)
            return SandboxResult(False, None, "", "", f"sandbox could not start: {error}",
                                 time.monotonic() - started)
        finally:
            os.close(report_write)
        with process:
            try:
                captures, timed_out = _collect(process, report_read,
                                               started + timeout_s, max_output_bytes)
            finally:
                os.close(report_read)
                _kill_group(process.pid)
            returncode = process.wait()
            assert process.stdout is not None and process.stderr is not None
            stdout = captures[process.stdout.fileno()].text()
            stderr = captures[process.stderr.fileno()].text()
        report = bytes(captures[report_read].head + captures[report_read].tail)
        refusals = [line[len(REFUSAL_MARK):].decode("utf-8", "replace")
                    for line in report.splitlines() if line.startswith(REFUSAL_MARK)]
        if report.strip() and not refusals:
            refusals = ["(unreadable report)"]
        reason = _reason(returncode, refusals, timed_out, stderr, timeout_s, memory_mb)
        return SandboxResult(ok=reason == "ok", returncode=returncode, stdout=stdout,
                             stderr=stderr, reason=reason, seconds=time.monotonic() - started)
    finally:
        _remove_tree(workdir)


__all__ = ["FILE_SIZE_LIMIT_MB", "OPEN_FILES_LIMIT", "PROGRAM_FILE", "SandboxResult",
           "network_namespace_command", "run_python"]
