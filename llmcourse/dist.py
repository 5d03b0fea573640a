"""Run a function on N worker processes joined by torch.distributed (gloo on loopback), from a notebook.

    import torch.distributed as dist
    from llmcourse import dist as launch

    def hello(rank, world_size):
        t = torch.tensor([float(rank)])
        dist.all_reduce(t)                      # the real collective, between real processes
        return t.item()

    launch.run(hello, 4)                        # [6.0, 6.0, 6.0, 6.0], one result per rank, in rank order

`fn(rank, world_size, *args, **kw)` runs once in each of `world_size` fresh processes after
`dist.init_process_group("gloo")` has joined them (rendezvous on 127.0.0.1, a free port), with one torch
thread per rank. The same function runs unchanged under `torchrun` (see `main`).

Functions defined in a notebook cell work: the launcher ships them by source, together with the notebook
functions they call and the values they read (tensors, numbers, modules by name), because a worker
process cannot import a notebook. Workers start from a forkserver that has already imported torch, so a run
costs tens of milliseconds rather than a torch import per rank.

Nothing hangs the kernel. Every run has a timeout; the launcher records, for every rank, the last
torch.distributed call it entered (op, peer, shape, and the learner's line), so the error of a deadlock or
a crashed rank names the ranks that did not finish and what each was waiting for. Every worker is killed
before `run` returns or raises. A worker's prints come back to the notebook prefixed with its rank.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime
import functools
import importlib.machinery
import inspect
import linecache
import multiprocessing as mp
import os
import pickle
import re
import socket
import sys
import tempfile
import textwrap
import time
import traceback
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import wait as _wait
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

DEFAULT_TIMEOUT = 60.0
GRACE = 2.0  # seconds the other ranks get to finish after one rank failed
_CRUMB = 512  # bytes of breadcrumb per rank
_TRACED = ("send", "recv", "isend", "irecv", "broadcast", "all_reduce", "reduce", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "gather", "scatter",
           "all_to_all", "all_to_all_single", "barrier", "all_gather_object", "broadcast_object_list",
           "batch_isend_irecv", "reduce_scatter_single", "all_gather_single", "monitored_barrier")


class DistError(RuntimeError):
    """A distributed run failed: a rank raised, died, or the run timed out; the message says which and why."""

    def __init__(self, message: str, failed: dict[int, str] | None = None,
                 stuck: dict[int, str] | None = None) -> None:
        super().__init__(message)
        self.failed = failed or {}
        self.stuck = stuck or {}

    def _render_traceback_(self) -> list[str]:
        """IPython shows the message alone: the ranks' own tracebacks are inside it."""
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


class DistTimeout(DistError):
    """The run did not finish within its timeout (a deadlock, or too much work)."""


# ----------------------------------------------------------------------------------------------- shipping


@dataclass
class _Shipped:
    """A notebook function sent by source, with the globals it reads."""

    name: str
    sources: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> (source, file, first line)
    modules: dict[str, str] = field(default_factory=dict)   # global name -> module name
    values: dict[str, bytes] = field(default_factory=dict)  # global name -> pickled value


def _importable(obj: Any) -> bool:
    """True when a worker can import obj by its module and qualified name (pickle by reference)."""
    mod = getattr(obj, "__module__", None)
    if mod in (None, "__main__", "__mp_main__") or mod not in sys.modules:
        return False
    if "<locals>" in getattr(obj, "__qualname__", ""):
        return False
    target: Any = sys.modules[mod]
    for part in obj.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is obj and getattr(sys.modules[mod], "__file__", None) is not None


def _names(code: types.CodeType) -> set[str]:
    """Every global name a code object (and the code nested in it) may read."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _source(obj: Any) -> str:
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError) as exc:
        raise DistError(f"cannot send {obj.__qualname__!r} to the workers: its source is not available ({exc}). "
                        "Define it with `def` in a notebook cell or in a module.") from None


def _collect(fn: Callable, shipped: _Shipped, seen: set[int]) -> None:
    if id(fn) in seen:
        return
    seen.add(id(fn))
    if isinstance(fn, functools.partial):
        raise DistError("functools.partial is not supported: pass extra arguments to run() instead")
    if not inspect.isfunction(fn):
        raise DistError(f"run() needs a function defined with `def`, got {type(fn).__name__}")
    if fn.__closure__:
        raise DistError(f"{fn.__qualname__!r} is a closure (defined inside another function): define it at the top "
                        "level of a cell so that the workers can rebuild it")
    shipped.sources[fn.__name__] = (_source(fn), fn.__code__.co_filename, fn.__code__.co_firstlineno)
    g = fn.__globals__
    for name in sorted(_names(fn.__code__)):
        if name not in g or name in shipped.sources or name in shipped.modules or name in shipped.values:
            continue
        value = g[name]
        if isinstance(value, types.ModuleType):
            shipped.modules[name] = value.__name__
        elif inspect.isfunction(value) and not _importable(value):
            _collect(value, shipped, seen)
        elif inspect.isclass(value) and not _importable(value):
            shipped.sources[name] = (_source(value), f"<notebook class {name}>", 1)
            for member in vars(value).values():
                if inspect.isfunction(member):
                    for n in _names(member.__code__):
                        if n in g and n not in shipped.sources and inspect.isfunction(g[n]) and not _importable(g[n]):
                            _collect(g[n], shipped, seen)
        else:
            try:
                shipped.values[name] = pickle.dumps(value)
            except Exception:  # noqa: BLE001 - an unpicklable global is reported only if the worker reads it
                continue


def _ship(obj: Any) -> Any:
    """What travels to a worker for one argument: importable things as they are, notebook functions by source."""
    if inspect.isfunction(obj) and not _importable(obj):
        shipped = _Shipped(obj.__name__)
        _collect(obj, shipped, set())
        return shipped
    return obj


def _rebuild(obj: Any, namespace: dict[str, Any]) -> Any:
    if not isinstance(obj, _Shipped):
        return obj
    for name, module in obj.modules.items():
        namespace.setdefault(name, __import__(module, fromlist=["_"]))
    for name, blob in obj.values.items():
        if name not in namespace:
            try:
                namespace[name] = pickle.loads(blob)
            except Exception:  # noqa: BLE001 - e.g. an instance of a notebook class: skipped, NameError if used
                pass
    for source, filename, first in obj.sources.values():
        source = "\n" * (first - 1) + source  # the learner's own line numbers in tracebacks and breadcrumbs
        lines = source.splitlines(True)
        known = linecache.cache.get(filename)
        if known is not None:  # several functions from one cell: keep every one's lines
            old = known[2]
            lines = [lines[i] if i < len(lines) and lines[i].strip() else (old[i] if i < len(old) else "\n")
                     for i in range(max(len(lines), len(old)))]
        linecache.cache[filename] = (len(source), None, lines, filename)
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the learner's own notebook code
    return namespace[obj.name]


# ------------------------------------------------------------------------------------------ breadcrumbs


def _describe(name: str, args: tuple, kwargs: dict) -> str:
    parts = []
    for a in list(args) + [f"{k}={v!r}" for k, v in kwargs.items() if k in ("src", "dst", "op", "tag", "group_src",
                                                                             "group_dst")]:
        if isinstance(a, torch.Tensor):
            parts.append(f"tensor{tuple(a.shape)} {str(a.dtype).removeprefix('torch.')}")
        elif isinstance(a, list) and a and isinstance(a[0], torch.Tensor):
            parts.append(f"[{len(a)} tensors]")
        elif isinstance(a, (int, str)) and not isinstance(a, bool):
            parts.append(str(a))
        elif isinstance(a, dist.ReduceOp.RedOpType) or type(a).__name__ in ("ReduceOp", "RedOpType"):
            parts.append(str(a).rsplit(".", 1)[-1])
    return f"dist.{name}({', '.join(parts)})"


def _where() -> str:
    """The innermost caller outside this file and torch: 'function line N'."""
    frame = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if path != __file__ and f"{os.sep}torch{os.sep}" not in path:
            return f"{frame.f_code.co_name} line {frame.f_lineno}"
        frame = frame.f_back
    return "?"


_UNTRACED: dict[str, Callable] = {}


class _Crumbs:
    """One rank's breadcrumb: the last torch.distributed call entered, written in place to a small file."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.count = 0

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")[:_CRUMB].ljust(_CRUMB, b"\0")
        os.pwrite(self.fd, data, 0)


def _read_crumb(path: Path) -> str:
    try:
        return path.read_bytes().rstrip(b"\0").decode("utf-8", "replace") or "starting up"
    except OSError:
        return "starting up"


def _trace(crumbs: _Crumbs) -> None:
    """Wrap torch.distributed's communication calls (in this worker only) so that each leaves a breadcrumb."""
    for name in _TRACED:
        original = getattr(dist, name, None)
        if original is None:
            continue
        _UNTRACED[name] = original

        def traced(*args: Any, __name: str = name, __original: Callable = original, **kwargs: Any) -> Any:
            crumbs.count += 1
            what = f"call #{crumbs.count} {_describe(__name, args, kwargs)} from {_where()}"
            crumbs.write(f"waiting in {what}")
            out = __original(*args, **kwargs)
            crumbs.write(f"last finished {what}")
            return out

        functools.update_wrapper(traced, original)
        setattr(dist, name, traced)


# ---------------------------------------------------------------------------------------------- workers


def _loopback() -> str:
    return "lo0" if sys.platform == "darwin" else "lo"


def _worker(rank: int, world_size: int, port: int, folder: str, payload: Any, args: tuple, kwargs: dict,
            timeout: float) -> None:
    base = Path(folder) / f"rank{rank}"
    out = os.open(f"{base}.out", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - line-buffered, lives as long as the rank
    sys.stderr = sys.stdout
    crumbs = _Crumbs(f"{base}.crumb")
    crumbs.write("joining the process group (init_process_group)")
    try:
        torch.set_num_threads(1)
        os.environ.setdefault("GLOO_SOCKET_IFNAME", _loopback())
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=max(1.0, timeout)))
        _trace(crumbs)
        namespace: dict[str, Any] = {"__name__": "__notebook__", "__builtins__": builtins}
        fn = _rebuild(payload, namespace)
        args = tuple(_rebuild(a, namespace) for a in args)
        kwargs = {k: _rebuild(v, namespace) for k, v in kwargs.items()}
        crumbs.write("running (no torch.distributed call yet)")
        result = fn(rank, world_size, *args, **kwargs)
        with open(f"{base}.result.tmp", "wb") as fh:
            pickle.dump(result, fh)
        os.replace(f"{base}.result.tmp", f"{base}.result")
        crumbs.write("finished, waiting for the other ranks (rank 0 also serves the group's key-value store)")
        _exit_barrier()
        crumbs.write("finished")
    except BaseException as exc:  # noqa: BLE001 - everything a rank raises goes back to the notebook
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename != __file__ and f"{os.sep}torch{os.sep}" not in f.filename]
        text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc))
        Path(f"{base}.error").write_text(text, encoding="utf-8")
    finally:
        sys.stdout.flush()
        # no destroy_process_group: it can block on ranks that failed; the process exits right away
        os._exit(0)


def _exit_barrier() -> None:
    """Leave together: a rank that exits early takes its sockets (and, on rank 0, the store) with it."""
    try:
        work = _UNTRACED["barrier"]()
    except Exception:  # noqa: BLE001 - another rank failed; the supervisor reports it
        return
    del work


_CONTEXT: Any = None


def _context() -> Any:
    """A forkserver context whose server has imported torch (spawn where forkserver is missing)."""
    global _CONTEXT
    if _CONTEXT is None:
        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload([__name__])
        else:  # pragma: no cover - Windows
            ctx = mp.get_context("spawn")
        _CONTEXT = ctx
    return _CONTEXT


@contextlib.contextmanager
def _main_stays_home() -> Iterator[None]:
    """Keep workers from re-running the caller's script (ours ship every function they need by source)."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def shutdown() -> None:
    """Stop the helper processes run() keeps warm (the forkserver and multiprocessing's resource tracker).

    A later run() starts them again. Call it at the end of a notebook, so that nothing outlives the work.
    """
    global _CONTEXT
    from multiprocessing import forkserver, resource_tracker

    if _CONTEXT is None:
        return
    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        server._stop()
    tracker = resource_tracker._resource_tracker
    if getattr(tracker, "_pid", None) is not None:
        tracker._stop()
    _CONTEXT = None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(text: str, lines: int = 25) -> str:
    rows = text.rstrip().splitlines()
    return "\n".join(rows[-lines:])


_HARMLESS = re.compile(r"hostname of the client socket cannot be retrieved|TCPStore.cpp.*recvValue failed")


def _secondary(traceback_text: str) -> bool:
    """True for the errors a rank gets because another rank died (gloo's closed or reset connections)."""
    return any(s in traceback_text for s in ("Connection closed by peer", "Connection reset by peer"))


def _indent(text: str) -> str:
    return textwrap.indent(text, "    ")


def run(fn: Callable, world_size: int, *args: Any, timeout: float = DEFAULT_TIMEOUT, echo: bool = True,
        **kwargs: Any) -> list[Any]:
    """Run fn(rank, world_size, *args, **kwargs) on world_size processes; return the results in rank order.

    Raises DistError naming every rank that raised or died (with its traceback) and every rank still
    waiting (with its last torch.distributed call); DistTimeout when the run is not over after `timeout`
    seconds. All workers are gone when run returns or raises. `echo` prints each rank's output.
    """
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    payload = _ship(fn)
    args = tuple(_ship(a) for a in args)
    kwargs = {k: _ship(v) for k, v in kwargs.items()}
    ctx = _context()
    with tempfile.TemporaryDirectory(prefix="llmcourse-dist-") as folder:
        port = free_port()
        procs = [ctx.Process(target=_worker, args=(r, world_size, port, folder, payload, args, kwargs, timeout),
                             daemon=True, name=f"rank{r}") for r in range(world_size)]
        start = time.monotonic()
        try:
            with _main_stays_home():
                for p in procs:
                    p.start()
            failed_at = _supervise(procs, start + timeout, folder)
        finally:
            for p in procs:
                if p.is_alive():
                    p.kill()
            for p in procs:
                p.join(5)
        died = {r: p.exitcode for r, p in enumerate(procs) if p.exitcode not in (0, -9, None)}
        for p in procs:
            p.close()
        return _collect_results(fn, world_size, folder, failed_at, timeout, echo, died)


def _supervise(procs: list, deadline: float, folder: str) -> float | None:
    """Wait for every rank; after the first failure, give the others GRACE seconds. Return when it failed."""
    pending = {p.sentinel: r for r, p in enumerate(procs)}
    failed_at = None
    while pending:
        limit = deadline if failed_at is None else min(deadline, failed_at + GRACE)
        left = limit - time.monotonic()
        if left <= 0:
            break
        for s in _wait(list(pending), timeout=left):
            r = pending.pop(s)
            if failed_at is None and not Path(folder, f"rank{r}.result").exists():
                failed_at = time.monotonic()
    return failed_at


def _collect_results(fn: Callable, world_size: int, folder: str, failed_at: float | None, timeout: float,
                     echo: bool, died: dict[int, int]) -> list[Any]:
    base = Path(folder)
    outputs = {r: (base / f"rank{r}.out").read_text(errors="replace") if (base / f"rank{r}.out").exists() else ""
               for r in range(world_size)}
    outputs = {r: "".join(line for line in text.splitlines(True) if not _HARMLESS.search(line))
               for r, text in outputs.items()}
    results, failed, stuck, when = {}, {}, {}, {}
    for r in range(world_size):
        if (base / f"rank{r}.result").exists():
            with open(base / f"rank{r}.result", "rb") as fh:
                results[r] = pickle.load(fh)
        elif (base / f"rank{r}.error").exists():
            failed[r] = (base / f"rank{r}.error").read_text(errors="replace")
            when[r] = (base / f"rank{r}.error").stat().st_mtime_ns
        else:
            stuck[r] = _read_crumb(base / f"rank{r}.crumb")
    if echo:
        for r in range(world_size):
            text = outputs[r]
            if r in failed:  # the traceback goes into the error, not twice
                text = text.replace(failed[r], "")
            if text.strip():
                print(textwrap.indent(text.rstrip(), f"[rank {r}] "))
    if not failed and not stuck:
        return [results[r] for r in range(world_size)]
    name = getattr(fn, "__name__", "fn")
    lines = []
    for i, r in enumerate(sorted(failed, key=lambda r: (_secondary(failed[r]), when[r]))):
        if i and _secondary(failed[r]):
            crumb = _read_crumb(base / f"rank{r}.crumb").removeprefix("waiting in ")
            lines.append(f"rank {r} lost its connection in {crumb} (because another rank had failed)")
        else:
            lines.append(f"rank {r} raised:\n{_indent(_tail(failed[r]))}")
    for r, crumb in stuck.items():
        extra = _tail(outputs[r], 8)
        how = f" (its process died, exit code {died[r]})" if r in died else ""
        lines.append(f"rank {r} did not finish{how}: {crumb}" + (f"\n{_indent(extra)}" if extra.strip() else ""))
    ok = sorted(results)
    tail = f"\nranks that finished: {ok}" if ok else ""
    if failed_at is None:
        head = (f"{name} on {world_size} ranks timed out after {timeout:g} s (a deadlock? every send needs a "
                f"matching recv, and every rank must enter each collective in the same order)")
        raise DistTimeout(head + "\n" + "\n".join(lines) + tail, failed, stuck)
    head = f"{name} on {world_size} ranks failed"
    if stuck and not failed:
        head += " (a rank exited without a result)"
    raise DistError(head + "\n" + "\n".join(lines) + tail, failed, stuck)


# ---------------------------------------------------------------------------------------------- torchrun


def main(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """Under torchrun: join the group torchrun describes (RANK, WORLD_SIZE, MASTER_ADDR/PORT) and call fn once.

        # train.py                                  torchrun --nproc-per-node 4 train.py
        if __name__ == "__main__":
            print(launch.main(my_step))
    """
    if "RANK" not in os.environ:
        raise RuntimeError("llmcourse.dist.main expects torchrun's RANK/WORLD_SIZE; in a notebook use run(fn, n)")
    torch.set_num_threads(int(os.environ.get("LLMCOURSE_THREADS", "1")))
    backend = "nccl" if torch.cuda.is_available() and os.environ.get("LLMCOURSE_BACKEND") == "nccl" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    try:
        return fn(dist.get_rank(), dist.get_world_size(), *args, **kwargs)
    finally:
        dist.destroy_process_group()
