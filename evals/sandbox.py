"""Run untrusted Python (model-written code and its tests) without letting it hurt the harness.

Layers, strongest first; `isolation()` says which ones this machine gives:

- ``namespaces``: the child starts under ``unshare --net --pid --ipc --mount-proc``: no network
  interface but a downed loopback, its own process tree (when the program ends or is killed, the
  kernel kills everything it forked, even processes that called setsid), and a private /proc, so
  the caller's /proc/<pid>/environ is out of sight.
- ``drop_privileges``: when the harness runs as root, the child runs as ``nobody`` (with no new
  privileges), so RLIMIT_NPROC applies (root ignores it) and root-only files stay closed.
- ``rlimits``: CPU seconds, address space (memory), file size, process count, open files, no core.
- always: a fresh temporary working directory removed afterwards, an empty environment (a minimal
  PATH and LANG only), ``python -I -S`` (no site-packages, no user paths, stdlib only), its own
  process group killed as a whole at the wall-clock limit, stdout/stderr captured into files
  capped by the file-size limit, and an audit hook in the child that refuses sockets to the
  network, DNS, starting other programs, ctypes and reading other processes' /proc entries (the
  only network barrier when namespaces are not available).

`run_python` never raises for bad code: every outcome is a `SandboxResult`.
"""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

try:
    import resource
except ImportError:  # not a POSIX system: run_python answers with status "error"
    resource = None  # type: ignore[assignment]

NOBODY = 65534
STATUSES = ("ok", "failed", "timeout", "memory", "file_size", "crashed", "error")

# The child's first code: an audit hook, then (as PID 1 of a fresh namespace) a tiny init that
# forwards the program's exit status, because PID 1 ignores signals it has no handler for.
_BOOT = r'''
import sys, os
def _evals_guard(no_fork):
    import os.path as P
    deny_prefix = ("subprocess.", "os.exec", "os.posix_spawn", "os.spawn", "ctypes.dl", "ctypes.call",
                   "socket.gethost", "socket.getaddrinfo", "socket.getnameinfo", "socket.connect",
                   "socket.bind", "socket.sendto", "socket.sendmsg")
    deny_exact = {"os.system", "os.startfile", "pty.spawn", "webbrowser.open"}
    if no_fork:  # without a PID namespace a forked process could setsid and outlive the run
        deny_exact |= {"os.fork", "os.forkpty"}
    cwd = os.getcwd()
    def hook(event, args):
        if event in deny_exact or event.startswith(deny_prefix):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "socket.__new__" and len(args) > 1 and args[1] != 1:  # AF_UNIX only
            raise PermissionError("sandbox: network sockets are not allowed")
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            p = args[0].decode(errors="replace") if isinstance(args[0], bytes) else args[0]
            p = P.normpath(P.join(cwd, p))
            if p.startswith("/proc/") and not p.startswith(("/proc/self/", "/proc/thread-self/")):
                raise PermissionError("sandbox: other processes are out of reach")
    sys.addaudithook(hook)
def _evals_main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    if "--no-audit-hook" not in sys.argv:
        _evals_guard("--no-fork" in sys.argv)
    code = compile(src, path, "exec")
    g = {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
    sys.argv = [path]
    exec(code, g)
if os.getpid() == 1:
    pid = os.fork()
    if pid:
        while True:
            try:
                _, st = os.waitpid(pid, 0)
                break
            except ChildProcessError:
                os._exit(125)
            except InterruptedError:
                continue
        os._exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))
_evals_main()
'''


@dataclass(frozen=True)
class Limits:
    """Resource limits for one run. Memory is address space, so leave room for the interpreter."""

    timeout_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_size_mb: int = 16
    nproc: int = 32
    nofile: int = 64
    output_chars: int = 4000


@dataclass
class SandboxResult:
    status: str
    returncode: int | None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0
    signal: str = ""
    error: str = ""
    layers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    def reason(self) -> str:
        """One line for a record's `why`: what happened, in words."""
        if self.status == "ok":
            return "passed"
        if self.status == "timeout":
            return f"timeout after {self.seconds:.1f}s"
        if self.status == "memory":
            return "memory limit exceeded"
        if self.status == "file_size":
            return "file or output size limit exceeded"
        if self.status == "crashed":
            return f"crashed ({self.signal or self.returncode})"
        if self.status == "error":
            return f"sandbox error: {self.error}"
        return self.error or f"exit code {self.returncode}"


def _can_drop_privileges() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _python() -> str:
    """The interpreter the child runs: the real one behind a virtualenv (-S ignores the venv anyway)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base) if os.path.exists(base) else sys.executable


def _wrapper(layers: tuple[str, ...]) -> list[str]:
    cmd: list[str] = []
    if "namespaces" in layers:
        cmd += ["unshare", "--net", "--pid", "--ipc", "--fork", "--kill-child", "--mount-proc"]
        if os.geteuid() != 0:
            cmd += ["--user", "--map-current-user"]
    if "drop_privileges" in layers:
        cmd += ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs", "--"]
    return cmd


@functools.lru_cache(maxsize=None)
def isolation() -> tuple[str, ...]:
    """The layers this machine supports, probed once by running a trivial program under each."""
    if resource is None:
        return ()
    layers: list[str] = ["rlimits", "audit_hook"]
    if _can_drop_privileges() and shutil.which("setpriv") and _probe(("drop_privileges",)):
        layers.append("drop_privileges")
    if shutil.which("unshare") and _probe(tuple(layers) + ("namespaces",)):
        layers.append("namespaces")
    return tuple(layers)


def _probe(layers: tuple[str, ...]) -> bool:
    res = _run("import sys\nprint('ok')\n", Limits(timeout_s=20, cpu_s=10), layers)
    return res.status == "ok" and res.stdout.strip() == "ok"


def run_python(code: str, limits: Limits | None = None, layers: tuple[str, ...] | None = None) -> SandboxResult:
    """Run `code` as a script in the sandbox; `layers` narrows the isolation (for tests).
    Resource limits apply whatever `layers` says."""
    if resource is None or not hasattr(os, "killpg"):
        return SandboxResult("error", None, error="running untrusted code needs a POSIX system (Linux)")
    return _run(code, limits or Limits(), isolation() if layers is None else tuple(layers))


def _preexec(limits: Limits, nproc: int | None):
    """Limits set in the child between fork and exec; inherited by the wrappers and the program."""
    mb = 1024 * 1024

    def setup() -> None:
        os.umask(0o077)
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if nproc is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    return setup


def _nproc_limit(limits: Limits, layers: tuple[str, ...]) -> int | None:
    """RLIMIT_NPROC counts every process of the user and root ignores it: as nobody it bounds the
    sandbox alone; as an ordinary user, allow what that user already runs plus the sandbox's share."""
    if "drop_privileges" in layers:
        return limits.nproc
    if os.geteuid() != 0:
        return _processes_of(os.getuid()) + limits.nproc
    return None  # root without a uid to drop to: only the PID namespace and the wall clock contain forks


def _processes_of(uid: int) -> int:
    n = 0
    try:
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    n += os.stat(f"/proc/{name}").st_uid == uid
                except OSError:
                    pass
    except OSError:
        return 4096
    return n


def _tail(path: str, limit: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit * 4))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text[-limit:]


def _last_exception(stderr: str) -> str:
    """'AssertionError', 'SyntaxError: invalid syntax', ... from a traceback's last line."""
    for line in reversed(stderr.strip().splitlines()):
        line = line.strip()
        head = line.split(":", 1)[0]
        if head and (head.endswith(("Error", "Exception", "Exit", "Interrupt")) or head in ("AssertionError",
                                                                                          "StopIteration")):
            return line[:300]
    return ""


def _run(code: str, limits: Limits, layers: tuple[str, ...]) -> SandboxResult:
    t0 = time.perf_counter()
    work = tempfile.mkdtemp(prefix="evals-sbx-")
    io_dir = tempfile.mkdtemp(prefix="evals-sbx-io-")
    try:
        script = os.path.join(work, "solution.py")
        with open(script, "w", encoding="utf-8") as fh:
            fh.write(code)
        if "drop_privileges" in layers:
            os.chown(work, NOBODY, NOBODY)
            os.chown(script, NOBODY, NOBODY)
        os.chmod(work, 0o700)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}
        argv = _wrapper(layers) + [_python(), "-I", "-S", "-B", "-X", "utf8", "-c", _BOOT, "solution.py"]
        if "audit_hook" not in layers:
            argv.append("--no-audit-hook")
        elif "namespaces" not in layers:
            argv.append("--no-fork")
        out_path, err_path = os.path.join(io_dir, "stdout"), os.path.join(io_dir, "stderr")
        timed_out = False
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            try:
                proc = subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        start_new_session=True, close_fds=True,
                                        preexec_fn=_preexec(limits, _nproc_limit(limits, layers)))
            except (OSError, subprocess.SubprocessError) as exc:
                return SandboxResult("error", None, error=f"{type(exc).__name__}: {exc}",
                                     seconds=time.perf_counter() - t0, layers=layers)
            try:
                rc = proc.wait(timeout=limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                if "namespaces" in layers:
                    # kill the namespace's init and let `unshare` reap it: the kernel then kills
                    # everything in the namespace; killing `unshare` first leaves the init a zombie
                    # for whoever adopts it to reap, which can take seconds
                    for child in _children(proc.pid):
                        _kill(child)
                    try:
                        proc.wait(timeout=2.0)
                    except subprocess.TimeoutExpired:
                        pass
                _kill_group(proc.pid)
                rc = proc.wait()
            finally:
                _kill_group(proc.pid, wait_s=5.0)  # stragglers that kept the group, until they are gone
        stdout, stderr = _tail(out_path, limits.output_chars), _tail(err_path, limits.output_chars)
        return _classify(rc, timed_out, stdout, stderr, time.perf_counter() - t0, layers, limits)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(io_dir, ignore_errors=True)


def _children(pid: int) -> list[int]:
    """Direct children of a process, from /proc."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid).encode():
            out.append(int(name))
    return out


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_group(pgid: int, wait_s: float = 0.0) -> None:
    """SIGKILL the run's process group; with `wait_s`, wait until it is gone. In the PID namespace
    the init is in this group and only goes once the kernel has killed everything in its namespace."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() >= deadline:
            return
        time.sleep(0.01)


def _classify(rc: int, timed_out: bool, stdout: str, stderr: str, seconds: float,
              layers: tuple[str, ...], limits: Limits) -> SandboxResult:
    sig = -rc if rc < 0 else (rc - 128 if "namespaces" in layers and 128 < rc < 160 else 0)
    sig_name = ""
    if sig:
        try:
            sig_name = signal.Signals(sig).name
        except ValueError:
            sig_name = f"signal {sig}"
    exc = _last_exception(stderr)
    res = SandboxResult("failed", rc, stdout, stderr, round(seconds, 4), sig_name, exc, layers)
    cpu_killed = sig == signal.SIGXCPU or (sig == signal.SIGKILL and seconds >= limits.cpu_s * 0.9)
    if timed_out or cpu_killed:
        res.status = "timeout"
    elif rc == 0:
        res.status = "ok"
    elif sig == signal.SIGXFSZ or "[Errno 27]" in exc or "File too large" in exc:
        res.status = "file_size"
    elif exc.startswith("MemoryError") or "Cannot allocate memory" in exc:
        res.status = "memory"
    elif sig:
        res.status = "crashed"
    elif rc == 125 and "namespaces" in layers and not stderr:
        res.status = "error"
        res.error = "the sandbox init lost its child"
    return res
