"""Execute a prepared notebook cell by cell in a KernelSlot, surviving timeouts, crashes and floods.

A cell that runs past its time limit is interrupted (SIGINT); if the kernel does not come back within a
grace period (a loop inside a Numba function, a C extension, a handler that swallows the interrupt) the
sandbox is killed. When the kernel dies (os._exit, a segfault, the memory limit, the CPU-time limit) it is
restarted and the cells that ran before are replayed to rebuild the state; the failed cell is skipped.
Every cell gets a status, so one bad cell costs its own points and nothing else.

With a guard plan (autograde/guard.py), the kernel's helper guard is armed right after each start, before
any student cell, and checked before and after each test cell; from the first change found on, every test
cell carries a `tamper` note (scored 0 and flagged `tampered_helper` by scoring.py).
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass, field
from typing import Any

import nbformat

from .guard import Guard, GuardError, GuardPlan, read_names
from .sandbox import KernelSlot, SandboxConfig, SandboxError

TEXT_LIMIT = 200_000  # characters of stream text kept per cell
DATA_LIMIT = 4_000_000  # bytes of rich output kept per cell
TRUNCATED = "\n[... output truncated by the grader ...]\n"


@dataclass
class ExecSettings:
    """Time limits for one notebook."""

    cell_timeout: float = 120.0
    student_timeout: float = 900.0
    interrupt_grace: float = 5.0
    max_restarts: int = 3


@dataclass
class CellRun:
    """What happened when one code cell ran."""

    index: int
    status: str = "not_run"  # ok | error | timeout | killed | died | not_run
    reply: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    stderr: bool = False
    error: bool = False
    truncated: bool = False
    detail: str = ""
    tamper: str = ""


@dataclass
class NotebookRun:
    """The executed notebook plus a CellRun per code cell and notebook-level events."""

    notebook: dict[str, Any]
    cells: dict[int, CellRun]
    restarts: int = 0
    failure: str | None = None
    leftovers: list[str] = field(default_factory=list)
    survivors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    guard_seconds: float = 0.0  # time in the guard's requests (arm included)
    guard_calls: int = 0
    guard_arm_seconds: float = 0.0


class _Collector:
    """Turns iopub messages of one execute request into nbformat outputs, within size limits."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []
        self.text = 0
        self.data = 0
        self.stderr = False
        self.error = False
        self.truncated = False
        self.clear_pending = False

    def _cap(self, out: dict[str, Any]) -> dict[str, Any] | None:
        if out["output_type"] == "stream":
            room = TEXT_LIMIT - self.text
            if room <= 0:
                self.truncated = True
                return None
            if len(out["text"]) > room:
                out["text"] = out["text"][:room] + TRUNCATED
                self.truncated = True
            self.text += len(out["text"])
            return out
        if out["output_type"] == "error":
            out["traceback"] = [t[:5000] for t in out.get("traceback", [])[:200]]
            out["evalue"] = str(out.get("evalue", ""))[:5000]
            return out
        size = sum(len(str(v)) for v in out.get("data", {}).values())
        if self.data + size > DATA_LIMIT:
            self.truncated = True
            return None
        self.data += size
        return out

    def add(self, msg: dict[str, Any]) -> None:
        kind = msg["header"]["msg_type"]
        content = msg["content"]
        if kind == "clear_output":
            if content.get("wait"):
                self.clear_pending = True
            else:
                self.outputs.clear()
            return
        if kind not in ("stream", "display_data", "execute_result", "error"):
            return
        if self.clear_pending:
            self.outputs.clear()
            self.clear_pending = False
        if kind == "stream" and content.get("name") == "stderr":
            self.stderr = True
        if kind == "error":
            self.error = True
        try:
            out = dict(nbformat.v4.output_from_msg(msg))
        except (ValueError, KeyError):
            return
        last = self.outputs[-1] if self.outputs else None
        if (out["output_type"] == "stream" and last is not None and last["output_type"] == "stream"
                and last["name"] == out["name"]):
            capped = self._cap({"output_type": "stream", "name": out["name"], "text": out["text"]})
            if capped is not None:
                last["text"] += capped["text"]
            return
        capped = self._cap(out)
        if capped is not None:
            self.outputs.append(capped)


def _error_output(ename: str, evalue: str) -> dict[str, Any]:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def run_cell(slot: KernelSlot, source: str, index: int, timeout: float, grace: float) -> CellRun:
    """Run one cell; never raises for anything the student's code does."""
    run = CellRun(index=index)
    client = slot.client
    start = time.monotonic()
    if client is None or not slot.alive():
        run.status, run.detail = "died", "kernel not running"
        return run
    collector = _Collector()
    msg_id = client.execute(source, silent=False, store_history=True, allow_stdin=False, stop_on_error=False)
    deadline = start + max(0.1, timeout)
    idle = False
    interrupted_at: float | None = None
    while True:
        now = time.monotonic()
        if idle and run.reply is not None:
            break
        if idle and run.reply is None and now > deadline + 5:
            break
        if now > deadline and interrupted_at is None and not idle:
            slot.interrupt()
            interrupted_at = now
        if interrupted_at is not None and not idle and now > interrupted_at + grace:
            run.status, run.detail = "killed", (f"no response {grace:g} s after the interrupt at {timeout:g} s "
                                                "(a hung cell, or an output message too large to accept)")
            slot.kill()
            break
        try:
            msg = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            msg = None
        if msg is not None and msg.get("parent_header", {}).get("msg_id") == msg_id:
            if msg["header"]["msg_type"] == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
            else:
                collector.add(msg)
        while run.reply is None:
            try:
                reply = client.get_shell_msg(timeout=0)
            except queue.Empty:
                break
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                run.reply = reply["content"].get("status", "error")
        if msg is None and not slot.alive():
            run.status, run.detail = "died", "the kernel died while running this cell"
            break
    run.seconds = time.monotonic() - start
    run.outputs = collector.outputs
    run.stderr, run.error, run.truncated = collector.stderr, collector.error, collector.truncated
    if run.status in ("died", "killed"):
        name = "KernelDied" if run.status == "died" else "CellTimeout"
        run.outputs.append(_error_output(name, run.detail))
        run.error = True
        return run
    if interrupted_at is not None:
        run.status, run.detail = "timeout", f"interrupted after {timeout:g} s"
        if not collector.error:
            run.outputs.append(_error_output("CellTimeout", run.detail))
            run.error = True
    elif run.reply == "ok" and not collector.error:
        run.status = "ok"
    else:
        run.status = "error"
        run.detail = next((f"{o['ename']}: {o['evalue']}"[:300] for o in collector.outputs
                           if o["output_type"] == "error"), f"execute_reply status {run.reply}")
    return run


def is_test_cell(cell: dict[str, Any]) -> bool:
    """An autograded test cell (nbgrader: graded, not a solution, code)."""
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(nbg.get("grade")) and not nbg.get("solution")


class _Watch:
    """The guard of the current kernel plus what it has found so far (sticky across restarts)."""

    def __init__(self, plan: GuardPlan | None, result: NotebookRun, timeout: float = 60.0) -> None:
        self.plan = plan
        self.result = result
        self.timeout = timeout
        self.guard: Guard | None = None
        self.found: str = ""

    def arm(self, slot: KernelSlot) -> None:
        if self.plan is None:
            return
        self.guard = Guard(self.plan, self.timeout)
        try:
            self.guard.arm(slot.client)
        finally:
            self.result.guard_arm_seconds += self.guard.seconds
            self._count()

    def _count(self) -> None:
        if self.guard is not None:
            self.result.guard_seconds += self.guard.seconds
            self.result.guard_calls += self.guard.calls
            self.guard.seconds, self.guard.calls = 0.0, 0

    def check(self, slot: KernelSlot, source: str, when: str) -> None:
        if self.guard is None or not slot.alive():
            return
        problems = self.guard.verify(slot.client, read_names(source))
        self._count()
        if problems and not self.found:
            self.found = f"{when}: " + "; ".join(problems)


def execute_notebook(nb: dict[str, Any], config: SandboxConfig, settings: ExecSettings,
                     worker: int = 0, guard: GuardPlan | None = None) -> NotebookRun:
    """Run every code cell of nb in a fresh sandboxed kernel; restart and replay after a crash."""
    nb = nbformat.from_dict(nb)
    start = time.monotonic()
    budget_end = start + settings.student_timeout
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    runs = {i: CellRun(index=i) for i in code}
    result = NotebookRun(notebook={}, cells=runs)
    watch = _Watch(guard, result, timeout=max(10.0, min(60.0, settings.cell_timeout)))
    slot = KernelSlot(config, worker)
    try:
        slot.start()
        watch.arm(slot)
    except (SandboxError, GuardError) as exc:
        slot.close()
        result.failure = f"kernel did not start: {str(exc)[:300]}"
        result.notebook = dict(nb)
        return result
    try:
        pos = 0
        while pos < len(code):
            i = code[pos]
            remaining = budget_end - time.monotonic()
            if remaining <= 0:
                result.failure = f"student time limit ({settings.student_timeout:g} s) reached"
                for j in code[pos:]:
                    runs[j].detail = "not run: student time limit reached"
                break
            source = nb.cells[i].source
            if not source.strip():
                runs[i].status = "ok"
                pos += 1
                continue
            test = is_test_cell(nb.cells[i])
            if test:
                watch.check(slot, source, f"before test cell {_gid(nb.cells[i], i)}")
            runs[i] = run_cell(slot, source, i, min(settings.cell_timeout, remaining), settings.interrupt_grace)
            if test and runs[i].status in ("ok", "error"):
                watch.check(slot, source, f"while test cell {_gid(nb.cells[i], i)} ran")
            if test and watch.found:
                runs[i].tamper = watch.found
            if runs[i].status == "timeout":
                strays = slot.kill_strays()
                if strays:
                    runs[i].detail += f"; killed {len(strays)} process(es) it started"
            if runs[i].status in ("died", "killed"):
                result.restarts += 1
                result.survivors += slot.close()
                if result.restarts > settings.max_restarts:
                    result.failure = f"kernel died or hung {result.restarts} times"
                    break
                slot = KernelSlot(config, worker)
                failure = _restart_and_replay(slot, nb, code[:pos], runs, settings, budget_end, watch)
                if failure:
                    result.failure = failure
                    break
            pos += 1
        if slot.proc is not None and slot.alive():
            result.leftovers = slot.leftovers()
    finally:
        result.survivors += slot.close()
    for i, run in runs.items():
        nb.cells[i].outputs = [nbformat.from_dict(o) for o in run.outputs]
        nb.cells[i].execution_count = None
        nb.cells[i].metadata["grader"] = {"status": run.status, "seconds": round(run.seconds, 3)}
    result.notebook = dict(nb)
    result.seconds = time.monotonic() - start
    return result


def _gid(cell: dict[str, Any], index: int) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index}"


def _restart_and_replay(slot: KernelSlot, nb: nbformat.NotebookNode, before: list[int], runs: dict[int, CellRun],
                        settings: ExecSettings, budget_end: float, watch: _Watch | None = None) -> str | None:
    """Start a new kernel (guard armed again) and re-run the earlier cells that completed; return a failure or None."""
    try:
        slot.start()
        if watch is not None:
            watch.arm(slot)
    except (SandboxError, GuardError) as exc:
        return f"kernel did not restart: {str(exc)[:300]}"
    for j in before:
        if runs[j].status not in ("ok", "error") or not nb.cells[j].source.strip():
            continue
        remaining = budget_end - time.monotonic()
        if remaining <= 0:
            return f"student time limit ({settings.student_timeout:g} s) reached while replaying"
        again = run_cell(slot, nb.cells[j].source, j, min(settings.cell_timeout, remaining), settings.interrupt_grace)
        if again.status in ("died", "killed", "timeout"):
            return f"replay after a kernel restart failed at cell {j} ({again.status})"
    return None
