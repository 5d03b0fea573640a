"""One kernel per slot, in a bubblewrap sandbox when available, with resource limits and full clean-up.

With bubblewrap (`bwrap`) a slot is: new PID, network, IPC and UTS namespaces; a root filesystem built
from an allow-list (system folders, the Python installation, the virtual environment and the packages in
`expose`, all read-only; selected files of /etc); size-limited tmpfs for HOME and /tmp; no network but
loopback; `--die-with-parent`. As root the kernel also drops to an unprivileged uid (one per worker) with
no capabilities. The kernel's ipc sockets live on a tmpfs inside the sandbox and the grader reaches them
through `/proc/<pid>/root`, so the sandbox has no writable host folder at all and nothing survives it.

Without bubblewrap (`mode="none"`) the same kernel runs as a plain child process in a private temporary
folder, with a scrubbed environment, the same resource limits, and a sub-reaper that kills whatever it
leaves behind; it can still read (and, as the same user, write) anything its user can.
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq
from jupyter_client import BlockingKernelClient

BOOT = Path(__file__).with_name("kernel_boot.py")
SANDBOX_HOME = "/home/student"
SANDBOX_RUN = "/run/grader"
SANDBOX_OPT = "/opt/grader"
BASE_UID = 61000
MAX_MESSAGE = 64 << 20  # bytes; a bigger message from the kernel is dropped (outputs are capped far lower)
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "fonts", "ssl", "ca-certificates",
        "alternatives", "passwd", "group", "nsswitch.conf", "hosts", "host.conf", "mime.types", "os-release",
        "locale.alias", "gai.conf", "matplotlibrc")
_SYSTEM = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_PDEATHSIG = 1


class SandboxError(RuntimeError):
    """The sandbox could not be started (the message says why)."""


@dataclass
class Limits:
    """Resource limits for one kernel and everything it starts."""

    memory_bytes: int = 4 << 30
    file_bytes: int = 256 << 20
    tmpfs_bytes: int = 512 << 20
    nofile: int = 1024
    nproc: int = 512
    cpu_seconds: int = 3600

    def rlimits(self, nproc: int | None) -> dict[str, int]:
        """The rlimit table handed to kernel_boot.py (nproc omitted when it cannot be enforced)."""
        table = {"data": self.memory_bytes, "fsize": self.file_bytes, "nofile": self.nofile,
                 "cpu": self.cpu_seconds, "core": 0}
        if nproc is not None:
            table["nproc"] = nproc
        return table


@dataclass
class SandboxConfig:
    """Everything needed to start grading kernels; picklable so it can travel to worker processes."""

    mode: str  # "bwrap" or "none"
    assignment: str
    python: str = sys.executable
    expose: list[str] = field(default_factory=list)
    protected: list[str] = field(default_factory=list)
    provided: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    drop_uid: bool = True
    startup_timeout: float = 60.0
    home_files: dict[str, bytes] = field(default_factory=dict)


def bwrap_path() -> str | None:
    """The bubblewrap executable, or None."""
    return shutil.which("bwrap")


def probe_bwrap() -> str | None:
    """None when bubblewrap can build a sandbox here, else the reason it cannot."""
    exe = bwrap_path()
    if exe is None:
        return "bubblewrap (bwrap) is not installed; `make system-deps` installs it on Debian/Ubuntu"
    args = [exe, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent"]
    if os.geteuid() != 0:
        args += ["--unshare-user"]
    try:
        done = subprocess.run([*args, "--", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap did not run: {exc}"
    if done.returncode != 0:
        return f"bubblewrap cannot create namespaces here (user namespaces disabled?): {done.stderr.strip()[:300]}"
    return None


def _setpriv() -> str | None:
    return shutil.which("setpriv")


def slot_uid(worker: int) -> int | None:
    """The unprivileged uid a worker's kernels run as when the grader is root, else None."""
    return BASE_UID + worker if os.geteuid() == 0 and _setpriv() else None


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_exposure(expose: list[str], protected: list[str]) -> None:
    """Refuse to expose a folder that is, contains or lies inside a protected path."""
    for e in expose:
        ep = Path(e).resolve()
        for p in protected:
            pp = Path(p).resolve()
            if _inside(ep, pp) or _inside(pp, ep):
                raise SandboxError(f"refusing to expose {ep} to student code: it overlaps protected {pp}")


def _count_user_processes(uid: int) -> int:
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    n += 1
            except OSError:
                continue
    return n


def _proc_table() -> dict[int, int]:
    """pid -> parent pid for every visible process."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            table[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return table


def descendants(pid: int) -> list[int]:
    """Every live descendant of pid (children first)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for child, parent in table.items():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    """A process's command line (empty when it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace").strip()[:200]
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    """True for a running process (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def processes_in_namespace(ns_inode: int) -> list[int]:
    """Host pids of the processes living in the PID namespace with this inode number."""
    target = f"pid:[{ns_inode}]"
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and _pid_namespace(int(e.name)) == target]


def become_subreaper() -> bool:
    """Make orphaned descendants of this process re-parent to it (Linux), so none can escape clean-up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _pipe_with(data: bytes) -> int:
    """A pipe read end that yields data then EOF (for bwrap's --ro-bind-data); a thread feeds it."""
    r, w = os.pipe()

    def feed() -> None:
        try:
            view = memoryview(data)
            while view:
                n = os.write(w, view)
                view = view[n:]
        except OSError:
            pass
        finally:
            os.close(w)

    threading.Thread(target=feed, daemon=True).start()
    return r


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the grader dies (fallback mode has no bubblewrap to do it)."""
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap_zombies() -> None:
    """Collect exited children that were re-parented to this sub-reaper."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class KernelSlot:
    """A running grading kernel: start, talk to, interrupt, list what it started, and tear down."""

    def __init__(self, config: SandboxConfig, worker: int = 0) -> None:
        self.config = config
        self.worker = worker
        self.uid = slot_uid(worker) if config.drop_uid else None
        self.proc: subprocess.Popen | None = None
        self.client: BlockingKernelClient | None = None
        self.kernel_pid: int | None = None
        self.init_pid: int | None = None
        self.pid_ns: int | None = None
        self._host_dir: Path | None = None
        self._log = None
        self._context: zmq.Context | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Launch the kernel and wait until it answers kernel_info; raise SandboxError on failure."""
        self._host_dir = Path(tempfile.mkdtemp(prefix="lg-"))
        self._log = open(self._host_dir / "kernel.log", "w+b")  # noqa: SIM115 - closed in close()
        key = secrets.token_hex(32)
        try:
            if self.config.mode == "bwrap":
                self._start_bwrap(key)
            else:
                self._start_plain(key)
            self._wait_for_ready()
        except Exception as exc:
            tail = self.log_tail()
            self.close()
            raise SandboxError(f"kernel did not start: {exc}; {tail}") from exc

    def _wait_for_ready(self) -> None:
        """Ask for kernel_info until the kernel answers (no heartbeat: a busy machine is not a dead kernel)."""
        client = self.client
        assert client is not None
        deadline = time.monotonic() + self.config.startup_timeout
        while True:
            msg_id = client.kernel_info()
            asked = time.monotonic()
            while time.monotonic() < asked + 2.0:
                try:
                    reply = client.get_shell_msg(timeout=0.2)
                except queue.Empty:
                    if self.proc is None or self.proc.poll() is not None:
                        raise SandboxError("the kernel exited during start-up") from None
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    while True:
                        try:
                            client.get_iopub_msg(timeout=0.2)
                        except queue.Empty:
                            return
            if time.monotonic() > deadline:
                raise SandboxError(f"no answer to kernel_info within {self.config.startup_timeout:g} s")

    def _connect(self, info: dict) -> None:
        """A client on its own zmq context that drops any message over MAX_MESSAGE bytes."""
        self._context = zmq.Context()
        self._context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self.client = BlockingKernelClient(context=self._context)
        self.client.load_connection_info(info)
        self.client.start_channels(hb=False)

    def _connection(self, key: str, ip: str) -> dict:
        ports = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}
        return {"transport": "ipc", "ip": ip, **ports, "key": key, "signature_scheme": "hmac-sha256",
                "kernel_name": "llmcourse-grader"}

    def _nproc_limit(self) -> int | None:
        if self.uid is not None:
            return self.config.limits.nproc
        if os.geteuid() == 0:
            return None  # not enforced for root; documented
        return _count_user_processes(os.getuid()) + self.config.limits.nproc

    def _kernel_env(self, home: str, tmp: str) -> dict[str, str]:
        venv_bin = str(Path(self.config.python).parent)
        env = {
            "HOME": home, "TMPDIR": tmp, "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "agg",
            "MPLCONFIGDIR": f"{home}/.config/matplotlib", "IPYTHONDIR": f"{home}/.ipython",
            "NUMBA_CACHE_DIR": f"{home}/.cache/numba", "XDG_CACHE_HOME": f"{home}/.cache",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        }
        env.update(self.config.env)
        return env

    def _start_bwrap(self, key: str) -> None:
        cfg = self.config
        exe = bwrap_path()
        if exe is None:
            raise SandboxError("bubblewrap is not installed")
        check_exposure(cfg.expose, cfg.protected)
        root = os.geteuid() == 0
        cwd = f"{SANDBOX_HOME}/{cfg.assignment}"
        conn = self._connection(key, f"{SANDBOX_RUN}/kernel")
        args = [exe, "--die-with-parent", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "grader"]
        if not root:
            args += ["--unshare-user", "--disable-userns"]
        elif self.uid is None:
            args += ["--cap-drop", "ALL"]
        args += ["--clearenv"]
        for name, value in self._kernel_env(SANDBOX_HOME, "/tmp").items():
            args += ["--setenv", name, value]
        for name in _SYSTEM:
            host = Path("/") / name
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), f"/{name}"]
            elif host.is_dir():
                args += ["--ro-bind", str(host), f"/{name}"]
        args += ["--perms", "0755", "--dir", "/etc"]
        for name in _ETC:
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc", "--dev", "/dev"]
        # a writable /dev/shm: Numba's parallel backend takes a multiprocessing lock there, and warns (a
        # NumbaSystemWarning that fails 07's visible checks) when it cannot
        args += ["--perms", "1777", "--size", str(64 << 20), "--tmpfs", "/dev/shm"]
        size = str(cfg.limits.tmpfs_bytes)
        args += ["--perms", "1777", "--size", size, "--tmpfs", "/tmp"]
        made: set[str] = {"/", "/etc", "/tmp", "/proc", "/dev"}
        for host in sorted({str(Path(p)) for p in cfg.expose}, key=lambda p: (p.count("/"), p)):
            for parent in reversed(Path(host).parents):
                if str(parent) not in made:
                    args += ["--perms", "0755", "--dir", str(parent)]
                    made.add(str(parent))
            args += ["--ro-bind", host, host]
            made.add(host)
        args += ["--perms", "0777", "--size", size, "--tmpfs", SANDBOX_HOME, "--perms", "0777", "--dir", cwd]
        for sub in (".config", ".config/matplotlib", ".cache", ".ipython"):
            args += ["--perms", "0777", "--dir", f"{SANDBOX_HOME}/{sub}"]
        for extra in cfg.provided:
            args += ["--ro-bind", extra, f"{cwd}/{Path(extra).name}"]
        args += ["--perms", "0777", "--size", str(1 << 20), "--tmpfs", SANDBOX_RUN]
        fds = [_pipe_with(json.dumps(conn).encode()), _pipe_with(BOOT.read_bytes())]
        args += ["--perms", "0444", "--ro-bind-data", str(fds[0]), f"{SANDBOX_OPT}/kernel.json",
                 "--perms", "0444", "--ro-bind-data", str(fds[1]), f"{SANDBOX_OPT}/kernel_boot.py"]
        for rel, data in cfg.home_files.items():
            fds.append(_pipe_with(data))
            args += ["--perms", "0444", "--ro-bind-data", str(fds[-1]), f"{SANDBOX_HOME}/{rel}"]
        status_r, status_w = os.pipe()
        args += ["--json-status-fd", str(status_w), "--chdir", cwd, "--"]
        if self.uid is not None:
            args += [_setpriv() or "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig=SIGKILL", "--"]
        limits = json.dumps(cfg.limits.rlimits(self._nproc_limit()))
        args += [cfg.python, f"{SANDBOX_OPT}/kernel_boot.py", limits, "-f", f"{SANDBOX_OPT}/kernel.json"]
        try:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                         pass_fds=(*fds, status_w), start_new_session=True)
        finally:
            for fd in (*fds, status_w):
                os.close(fd)
        status = self._read_status(status_r)
        self.init_pid = int(status["child-pid"])
        self.pid_ns = int(status["pid-namespace"])
        host_conn = dict(conn, ip=f"/proc/{self.init_pid}/root{SANDBOX_RUN}/kernel")
        self._connect(host_conn)

    def _read_status(self, fd: int) -> dict:
        deadline = time.monotonic() + self.config.startup_timeout
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as fh:
            os.set_blocking(fd, False)
            while time.monotonic() < deadline:
                try:
                    chunk = fh.read(4096)
                except BlockingIOError:
                    chunk = None
                if chunk:
                    buf += chunk
                    for line in buf.splitlines():
                        try:
                            doc = json.loads(line)
                        except ValueError:
                            continue
                        if "child-pid" in doc:
                            return doc
                elif chunk == b"" or (self.proc is not None and self.proc.poll() is not None):
                    break
                time.sleep(0.005)
        raise SandboxError("bubblewrap reported no sandbox status")

    def _start_plain(self, key: str) -> None:
        cfg = self.config
        assert self._host_dir is not None
        home = self._host_dir / "home"
        cwd = home / cfg.assignment
        run = self._host_dir / "run"
        for d in (home, cwd, run, home / "tmp", home / ".config" / "matplotlib", home / ".ipython"):
            d.mkdir(parents=True, exist_ok=True)
        for extra in cfg.provided:
            src = Path(extra)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, cwd / src.name)
        for rel, data in cfg.home_files.items():
            (home / rel).parent.mkdir(parents=True, exist_ok=True)
            (home / rel).write_bytes(data)
        conn = self._connection(key, str(run / "kernel"))
        conn_file = run / "kernel.json"
        conn_file.write_text(json.dumps(conn))
        prefix: list[str] = []
        if self.uid is not None:
            for p in [self._host_dir, *self._host_dir.rglob("*")]:
                os.chown(p, self.uid, self.uid)
            prefix = [_setpriv() or "setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                      "--inh-caps=-all", "--no-new-privs", "--pdeathsig=SIGKILL", "--"]
        limits = json.dumps(cfg.limits.rlimits(self._nproc_limit()))
        argv = [*prefix, cfg.python, str(BOOT), limits, "-f", str(conn_file)]
        env = self._kernel_env(str(home), str(home / "tmp"))
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, start_new_session=True,
                                     preexec_fn=None if prefix else _die_with_parent)
        self.kernel_pid = self.proc.pid
        self._connect(conn)

    # ------------------------------------------------------------------ running
    def alive(self) -> bool:
        """Whether the kernel process is still running."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        pid = self._find_kernel_pid()
        if pid is None:
            return self.config.mode != "bwrap"
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
            return state not in (b"Z", b"X")
        except OSError:
            return False

    def _find_kernel_pid(self) -> int | None:
        if self.kernel_pid is None and self.init_pid is not None:
            kids = [pid for pid, parent in _proc_table().items() if parent == self.init_pid]
            if kids:
                self.kernel_pid = min(kids)
        return self.kernel_pid

    def interrupt(self) -> None:
        """Send SIGINT to the kernel process only (never to bubblewrap)."""
        pid = self._find_kernel_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass

    def _other_pids(self, without_sandbox) -> list[int]:
        """Live PIDs of the slot other than its launcher, init and kernel, in ascending order: the sandbox's PID
        namespace under bubblewrap, otherwise the processes `without_sandbox()` names."""
        known = {self.proc.pid, self.init_pid, self._find_kernel_pid()}
        if self.config.mode == "bwrap" and self.pid_ns is not None:
            pids = processes_in_namespace(self.pid_ns)
        else:
            pids = without_sandbox()
        return [p for p in sorted(set(pids)) if p not in known and _alive(p)]

    def leftovers(self) -> list[str]:
        """Command lines of processes the notebook started that are still running (beyond the kernel)."""
        if self.proc is None:
            return []
        launcher = self.proc.pid
        pids = self._other_pids(lambda: descendants(launcher) + [p for p in descendants(os.getpid()) if p != launcher])
        return [cmdline(p) or f"pid {p}" for p in pids]

    def kill_strays(self) -> list[str]:
        """Kill every process of the slot except the kernel itself (after a timeout: fork bombs, helpers)."""
        if self.proc is None:
            return []

        def kernel_children() -> list[int]:
            kernel = self._find_kernel_pid()
            return descendants(kernel) if kernel else []
        strays = self._other_pids(kernel_children)
        found = [cmdline(p) or f"pid {p}" for p in strays]
        _kill(strays)
        return found

    def log_tail(self, size: int = 2000) -> str:
        """The end of the kernel's own stdout/stderr (start-up diagnostics)."""
        if self._log is None or self._log.closed:
            return ""
        self._log.flush()
        self._log.seek(0, os.SEEK_END)
        end = self._log.tell()
        self._log.seek(max(0, end - size))
        return self._log.read().decode(errors="replace").strip()

    # ------------------------------------------------------------------ tear-down
    def kill(self) -> None:
        """SIGKILL the kernel's process group at once (the sandbox dies with it)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> list[str]:
        """Kill the kernel and everything it started; return what had to be killed after the sandbox died."""
        if self.client is not None:
            try:
                self.client.stop_channels()
            except Exception:  # noqa: BLE001 - tearing down regardless
                pass
            self.client = None
        if self._context is not None:
            self._context.destroy(linger=0)
            self._context = None
        if self.proc is not None:
            extra = descendants(self.proc.pid) if self.config.mode != "bwrap" else []
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _kill([self.proc.pid, *extra])
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        survivors = self._survivors()
        if self._log is not None:
            self._log.close()
        if self._host_dir is not None:
            shutil.rmtree(self._host_dir, ignore_errors=True)
            self._host_dir = None
        self.proc = None
        return survivors

    def _survivors(self) -> list[str]:
        """Wait for the slot to empty; report and kill anything from it still running after 3 s."""
        deadline = time.monotonic() + 3.0
        while True:
            if self.config.mode == "bwrap" and self.pid_ns is not None:
                pids = processes_in_namespace(self.pid_ns)
            else:
                _reap_zombies()
                pids = descendants(os.getpid())
            pids = [p for p in pids if _alive(p)]
            if not pids:
                return []
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        found = [cmdline(p) or f"pid {p}" for p in pids]
        for _ in range(50):
            _kill(pids)
            time.sleep(0.02)
            if self.config.mode != "bwrap":
                _reap_zombies()
            pids = [p for p in pids if _alive(p)]
            if not pids:
                break
        return found
