"""Inside the sandbox: what the child interpreter runs before the untrusted program.

:func:`synthloom.operators.verify.sandbox.run_python` starts ``python -S -P -B -c <this
file's text + a call of boot> <settings>``. :func:`boot` then, before any untrusted line:

1. lowers the resource limits (CPU seconds, address space, file size, core files, open
   files) with hard limit = soft limit, so the program cannot raise them again;
2. imports :mod:`subprocess` and takes away its native fork-exec (``_posixsubprocess``,
   which raises no audit event of its own; importing it again is refused);
3. installs the PEP 578 audit hook made by :func:`make_audit_hook`;
4. compiles the program file and returns it, to run in a cleaned ``__main__``.

The hook refuses an event by writing one ``REFUSED <what>`` line to the report pipe and
raising :class:`PermissionError`; the runner fails the run on any report line, so catching
the exception does not help. If the report pipe was closed or replaced, the child exits at
once with status :data:`REPORT_LOST_EXIT`.

Tamper resistance: the hook and its helpers have no closure cells (cell contents can be
reassigned without an audit event) and look up no global or built-in name; everything they
use is a default argument bound when the hook is made: strings, ints, tuples and built-in
functions, all immutable. A program that finds the hook's frame in a traceback sees only
those values. Replacing the ``__code__`` or defaults of the hook's functions, ``gc`` object
walks and ``resource.setrlimit`` are refused.

The parent imports this module too (the verify package imports all its modules); there it
only defines names.
"""

#: the untrusted program's file name in the sandbox directory
PROGRAM_FILE = "program.py"
#: a refusal line on the report pipe starts with these bytes
REFUSAL_MARK = b"REFUSED "
#: the child's exit status when it could not report a refusal (the report pipe is gone)
REPORT_LOST_EXIT = 121

#: imports refused: native code (ctypes, cffi, test C APIs), a fork-exec without audit
#: events (_posixsubprocess), file databases opened in C (gdbm, ndbm), GUI/NIS
BLOCKED_MODULES = ("ctypes", "_ctypes", "cffi", "_cffi_backend", "_posixsubprocess",
                   "_testcapi", "_testinternalcapi", "_testmultiphase", "_xxsubinterpreters",
                   "_xxinterpchannels", "_gdbm", "_dbm", "_tkinter", "nis", "_curses")
#: events that start or signal processes
PROCESS_EVENTS = ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                  "os.fork", "os.forkpty", "os.kill", "os.killpg", "os.startfile",
                  "signal.pthread_kill", "pty.spawn")
#: other refused events: network clients, object-graph walks that reach the hook, limits,
#: native sqlite extensions, the system log
OTHER_REFUSED = ("urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
                 "imaplib.open", "nntplib.connect", "poplib.connect", "telnetlib.Telnet.open",
                 "webbrowser.open", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
                 "resource.setrlimit", "resource.prlimit", "sqlite3.enable_load_extension",
                 "sqlite3.load_extension", "syslog.openlog", "syslog.syslog",
                 "os.add_dll_directory", "sys.remote_exec")
#: every event whose name starts with one of these is refused
REFUSED_PREFIXES = ("socket.", "ctypes.")
#: function attributes the hook's own functions keep (others' may change: namedtuple does)
FROZEN_ATTRIBUTES = ("__code__", "__defaults__", "__kwdefaults__")
#: event -> ((path argument index, dir_fd argument index or -1, access), ...); access is
#: "read", "write" (the path, symlinks followed) or "entry" (the directory entry itself)
PATH_RULES = (
    ("os.listdir", ((0, -1, "read"),)),
    ("os.scandir", ((0, -1, "read"),)),
    ("os.walk", ((0, -1, "read"),)),
    ("os.fwalk", ((0, 4, "read"),)),
    ("os.remove", ((0, 1, "entry"),)),
    ("os.rmdir", ((0, 1, "entry"),)),
    ("os.mkdir", ((0, 2, "entry"),)),
    ("os.rename", ((0, 2, "entry"), (1, 3, "entry"))),
    ("os.link", ((0, 2, "write"), (1, 3, "entry"))),
    ("os.symlink", ((1, 2, "entry"),)),
    ("os.chmod", ((0, 2, "write"),)),
    ("os.chown", ((0, 3, "write"),)),
    ("os.utime", ((0, 3, "write"),)),
    ("os.truncate", ((0, -1, "write"),)),
    ("os.chflags", ((0, -1, "write"),)),
    ("os.lchflags", ((0, -1, "write"),)),
    ("os.setxattr", ((0, -1, "write"),)),
    ("os.removexattr", ((0, -1, "write"),)),
    ("shutil.copyfile", ((0, -1, "read"), (1, -1, "write"))),
    ("shutil.copymode", ((0, -1, "read"), (1, -1, "write"))),
    ("shutil.copystat", ((0, -1, "read"), (1, -1, "write"))),
    ("shutil.copytree", ((0, -1, "read"), (1, -1, "write"))),
    ("shutil.chown", ((0, -1, "write"),)),
    ("shutil.rmtree", ((0, 1, "entry"),)),
    ("shutil.move", ((0, -1, "entry"), (1, -1, "entry"))),
    ("shutil.make_archive", ((0, -1, "write"), (2, -1, "read"))),
    ("shutil.unpack_archive", ((0, -1, "read"), (1, -1, "write"))),
)


def make_audit_hook(sandbox_dir, read_roots, report_fd):
    """The audit hook ``hook(event, args)`` of the sandbox (see the module docstring).

    Args:
        sandbox_dir: the real path of the sandbox directory: reads and writes allowed.
        read_roots: real paths of Python's installation: reads allowed (imports).
        report_fd: the write end of the report pipe (its identity is recorded now).
    """
    import posix
    import stat

    status = posix.fstat(report_fd)
    identity = (status.st_dev, status.st_ino)
    roots = tuple(r for r in read_roots if r != "/")
    write_flags = posix.O_WRONLY | posix.O_RDWR | posix.O_APPEND | posix.O_CREAT | posix.O_TRUNC
    path_events = frozenset(name for name, _ in PATH_RULES)
    # the code objects of the functions below: theirs may not be replaced
    own_code = tuple(c for c in make_audit_hook.__code__.co_consts
                     if type(c) is type(make_audit_hook.__code__))

    def real_path(path, lstat=posix.lstat, readlink=posix.readlink, is_link=stat.S_ISLNK,
                  os_error=OSError):
        # os.path.realpath of an absolute path, from C functions only; None for a loop
        pending = path.split("/")
        pending.reverse()
        resolved, hops = "", 0
        while pending:
            part = pending.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                resolved = resolved[:resolved.rfind("/")] if resolved else ""
                continue
            step = resolved + "/" + part
            try:
                mode = lstat(step).st_mode
            except os_error:
                resolved = step
                continue
            if is_link(mode):
                hops += 1
                if hops > 40:
                    return None
                target = readlink(step)
                if target.startswith("/"):
                    resolved = ""
                parts = target.split("/")
                parts.reverse()
                pending.extend(parts)
                continue
            resolved = step
        return resolved or "/"

    def fd_path(fd, readlink=posix.readlink, os_error=OSError):
        # the file an open descriptor names, or None (a pipe, a socket, a closed fd)
        try:
            target = readlink(f"/proc/self/fd/{fd}")
        except os_error:
            return None
        return target if target.startswith("/") else None

    def resolve(path, dir_fd, follow, real_path=real_path, fd_path=fd_path,
                getcwd=posix.getcwd, fspath=posix.fspath, type_=type, str_=str,
                bytes_=bytes, int_=int):
        # the absolute real path an argument names (the last part kept as is when not
        # follow), or None when it cannot be told
        if path is None:
            path = "."
        elif type_(path) is int_:
            return fd_path(path)
        elif type_(path) is not str_ and type_(path) is not bytes_:
            path = fspath(path)
        if type_(path) is bytes_:
            path = path.decode("utf-8", "surrogateescape")
        if type_(path) is not str_:
            return None
        if not path.startswith("/"):
            if dir_fd is None or (type_(dir_fd) is int_ and dir_fd < 0):
                base = getcwd()
            elif type_(dir_fd) is int_:
                base = fd_path(dir_fd)
            else:
                return None
            if base is None:
                return None
            path = base + "/" + path
        if follow:
            return real_path(path)
        head, _, name = path.rstrip("/").rpartition("/")
        if name == "" or name == "." or name == "..":
            return real_path(path)
        parent = real_path(head or "/")
        return None if parent is None else parent.rstrip("/") + "/" + name

    def allowed(path, access, sandbox=sandbox_dir, sandbox_prefix=sandbox_dir + "/",
                roots=roots, root_prefixes=tuple(r + "/" for r in roots),
                readable=("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"),
                writable=("/dev/null",), lstat=posix.lstat, is_dir=stat.S_ISDIR,
                os_error=OSError):
        # access: "read" (open), "list" (a directory listing) or "write"
        if path is None:
            return False
        if path == sandbox or path.startswith(sandbox_prefix):
            return True
        if access == "write":
            return path in writable
        if path in readable:
            return True
        if path in roots or path.startswith(root_prefixes):
            if access == "list":
                return True
            try:  # a directory descriptor from outside would let os.open(dir_fd=) escape
                return not is_dir(lstat(path).st_mode)
            except os_error:
                return True  # nothing there: the open fails by itself
        return False

    def check(event, args, resolve=resolve, allowed=allowed, real_path=real_path,
              path_events=path_events, path_rules=PATH_RULES, process=PROCESS_EVENTS,
              refused=OTHER_REFUSED, prefixes=REFUSED_PREFIXES, blocked=BLOCKED_MODULES,
              frozen=FROZEN_ATTRIBUTES, write_flags=write_flags,
              native_prefixes=tuple(r + "/" for r in roots), own_code=own_code,
              type_=type, str_=str, int_=int, len_=len):
        # None when the event is allowed, else what is refused (one line)
        if event == "open":
            path = args[0]
            if type_(path) is int_:
                return None
            mode = args[1] if len_(args) > 1 else None
            flags = args[2] if len_(args) > 2 else 0
            writing = ((type_(mode) is str_ and ("w" in mode or "a" in mode or "x" in mode
                                                  or "+" in mode))
                       or (type_(flags) is int_ and flags & write_flags != 0))
            where = resolve(path, None, True)
            if allowed(where, "write" if writing else "read"):
                return None
            shown = mode if type_(mode) is str_ else ("w" if writing else "r")
            return f"open({where!r}, {shown!r}) outside the sandbox"
        if event == "import":
            name = args[0] if len_(args) else None
            if type_(name) is str_ and (name in blocked or name.partition(".")[0] in blocked):
                return f"import {name}"
            filename = args[1] if len_(args) > 1 else None
            if type_(filename) is str_ and (filename.endswith(".so")
                                            or filename.endswith(".pyd")):
                where = real_path(filename) if filename.startswith("/") else None
                if where is None or not where.startswith(native_prefixes):
                    return f"import of native code from {filename!r}"
            return None
        if event == "object.__setattr__" or event == "object.__delattr__":
            if len_(args) > 1 and type_(args[1]) is str_ and args[1] in frozen:
                code = args[0].__code__  # a function: no user code runs here
                for own in own_code:
                    if code is own:
                        return f"setting {args[1]} of the sandbox's audit hook"
            return None
        if event in path_events:
            for name, rules in path_rules:
                if name != event:
                    continue
                for index, dir_index, access in rules:
                    if index >= len_(args):
                        continue
                    dir_fd = args[dir_index] if 0 <= dir_index < len_(args) else None
                    where = resolve(args[index], dir_fd, access != "entry")
                    wanted = "list" if access == "read" else "write"
                    if not allowed(where, wanted):
                        return f"{event}({where!r}) outside the sandbox"
            return None
        if event == "sqlite3.connect":
            database = args[0] if len_(args) else None
            if type_(database) is str_ and (database == "" or database == ":memory:"):
                return None
            if type_(database) is str_ and database.startswith("file:"):
                return "sqlite3.connect with a URI"
            where = resolve(database, None, True)
            return None if allowed(where, "write") else (
                f"sqlite3.connect({where!r}) outside the sandbox")
        if event in process or event in refused or event.startswith(prefixes):
            return event
        if event.startswith("shutil."):
            return f"{event} (not checked by the sandbox)"
        return None

    def refuse(what, fd=report_fd, identity=identity, fstat=posix.fstat, write=posix.write,
               exit_=posix._exit, mark=REFUSAL_MARK, lost=REPORT_LOST_EXIT,
               base_exception=BaseException, permission_error=PermissionError, len_=len):
        line = mark + (what.replace("\n", " ")[:400] + "\n").encode("utf-8", "backslashreplace")
        try:
            status = fstat(fd)
            reported = ((status.st_dev, status.st_ino) == identity
                        and write(fd, line) == len_(line))
        except base_exception:
            reported = False
        if not reported:
            try:
                write(2, b"sandbox: the refusal report pipe is gone; " + line)
            except base_exception:
                pass
            exit_(lost)
        raise permission_error(f"refused by the sandbox: {what}")

    def audit_hook(event, args, check=check, refuse=refuse, base_exception=BaseException):
        try:
            problem = check(event, args)
        except base_exception:
            problem = f"{event} (the sandbox could not check its arguments)"
        if problem is not None:
            refuse(problem)

    return audit_hook


def _limit(resource, which, soft, hard):
    current_soft, current_hard = resource.getrlimit(which)
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
    resource.setrlimit(which, (min(soft, hard), hard))


def boot(namespace):
    """Set limits, neutralise subprocess, install the hook; return the program's code.

    ``sys.argv[1:]`` is ``sandbox_dir report_fd cpu_seconds memory_bytes file_bytes
    open_files``. Every name the prelude defined is removed from ``namespace`` (``__main__``),
    where the returned code object then runs.

    Raises:
        SyntaxError: the program does not compile (reported like any exception).
    """
    import os
    import resource
    import sys

    sandbox_dir, report_fd, cpu_s, memory_bytes, file_bytes, open_files = sys.argv[1:7]
    sandbox_dir, report_fd = os.path.realpath(sandbox_dir), int(report_fd)
    program_path = os.path.join(sandbox_dir, PROGRAM_FILE)
    _limit(resource, resource.RLIMIT_CPU, int(cpu_s), int(cpu_s) + 1)
    _limit(resource, resource.RLIMIT_AS, int(memory_bytes), int(memory_bytes))
    _limit(resource, resource.RLIMIT_FSIZE, int(file_bytes), int(file_bytes))
    _limit(resource, resource.RLIMIT_CORE, 0, 0)
    _limit(resource, resource.RLIMIT_NOFILE, int(open_files), int(open_files))
    os.umask(0o077)

    import subprocess  # so `import subprocess` works; Popen itself is refused by the hook

    if hasattr(subprocess, "_fork_exec"):
        subprocess._fork_exec = None
    sys.modules.pop("_posixsubprocess", None)

    roots = []
    for root in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 *sys.path):
        real = os.path.realpath(root) if root else ""
        if real and real != "/" and real not in roots:
            roots.append(real)
    with open(program_path, encoding="utf-8", errors="surrogateescape") as handle:
        source = handle.read()
    code = compile(source, program_path, "exec")
    sys.addaudithook(make_audit_hook(sandbox_dir, tuple(roots), report_fd))
    sys.argv = [program_path]
    for name in list(namespace):
        if not (name.startswith("__") and name.endswith("__")):
            del namespace[name]
    namespace["__doc__"] = None
    namespace["__file__"] = program_path
    return code
