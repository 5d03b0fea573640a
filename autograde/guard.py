"""Grader side of the helper guard: what to protect in a notebook, and the signed check before each test cell.

    plan = guard_plan(book)                      # from the instructor's notebook, never the student's
    guard = Guard(plan)
    guard.arm(client)                            # right after the kernel starts, before any student cell
    problems = guard.verify(client, names)       # before and after each test cell; [] when untouched

The kernel half lives in kernel_boot.py (module `_llmcourse_guard`). `arm` hands the kernel a fresh random
key; every answer of `verify` is signed with it (HMAC-SHA256 over a fresh nonce and the list of changes),
so a guard that was removed, replaced or made to print something else is reported as tampering too. The
requests are silent (no history, no execution count, no output in the notebook) and their answer travels
in the execute_reply's user_expressions.

What a notebook's tests rely on: the modules the instructor's notebook imports under the names its test
cells read (np, math, checks, _core, torch, F ...), the submodules the tests reach through them
(checks.attention), numpy and numpy.testing, llmcourse.checks and its _core, math, warnings, copy and
the builtins; every loaded numpy.* and llmcourse.checks.* module is covered as a whole. Module entries that
are None when the kernel starts are left out (lazily filled caches such as llmcourse.quiz's widget class).
"""

from __future__ import annotations

import ast
import hmac
import json
import queue
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .prevalidate import ReleaseNotebook

GUARD_MODULE = "_llmcourse_guard"
ALWAYS = ("builtins", "math", "copy", "warnings", "numpy", "numpy.testing", "llmcourse.checks",
          "llmcourse.checks._core")
DEEP = ("numpy", "llmcourse.checks")


@dataclass(frozen=True)
class GuardPlan:
    """What the kernel records before the first cell: modules, packages covered whole, and name bindings."""

    modules: tuple[str, ...] = ALWAYS
    deep: tuple[str, ...] = DEEP
    aliases: dict[str, str] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return ast.parse(TransformerManager().transform_cell(source))
    except Exception:  # noqa: BLE001 - an unparsable cell contributes nothing
        return None


def _imports(tree: ast.AST) -> dict[str, str]:
    """name -> dotted target for every import statement ('np' -> 'numpy', '_core' -> 'llmcourse.checks._core')."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name
                else:
                    found[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def read_names(source: str) -> list[str]:
    """Global names a test cell reads that it does not bind itself (imports, assignments, parameters, defs)."""
    tree = _parse(source)
    if tree is None:
        return []
    read, bound = set(), set(_imports(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return sorted(read - bound)


def guard_plan(book: ReleaseNotebook) -> GuardPlan:
    """The plan for one notebook, from the instructor's source (test cells with their hidden tests)."""
    aliases: dict[str, str] = {}
    for cell in book.source.get("cells", []):
        if cell.get("cell_type") == "code" and (tree := _parse(cell.get("source") or "")) is not None:
            aliases.update(_imports(tree))
    used: set[str] = set()
    modules = set(ALWAYS)
    candidates: set[str] = set()
    for rc in book.tests:
        tree = _parse(rc.source.get("source") or "")
        if tree is None:
            continue
        own = _imports(tree)
        used |= set(read_names(rc.source.get("source") or ""))
        for target in own.values():  # what the test imports itself must be genuine where it comes from
            modules.add(target.rpartition(".")[0] or target)
            candidates.add(target)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and not node.attr.startswith("__")):
                candidates.add(f"{aliases[node.value.id]}.{node.attr}")
    kept = {n: t for n, t in aliases.items() if n in used}
    for target in kept.values():
        candidates.add(target)
        modules.add(target.rpartition(".")[0] or target)
    return GuardPlan(tuple(sorted(modules)), DEEP, dict(sorted(kept.items())), tuple(sorted(candidates)))


class GuardError(Exception):
    """The guard could not be armed (a grader problem, not the student's: raised before any student code)."""


class Guard:
    """One kernel's guard: arm it once after start, verify around each test cell."""

    def __init__(self, plan: GuardPlan, timeout: float = 60.0) -> None:
        self.plan = plan
        self.timeout = timeout
        self.key = secrets.token_bytes(32)
        self.seconds = 0.0
        self.calls = 0
        self.armed = False
        self.info: list[str] = []

    def _ask(self, client: Any, expression: str) -> str:
        start = time.monotonic()
        try:
            msg_id = client.execute("", silent=True, store_history=False, allow_stdin=False, stop_on_error=False,
                                    user_expressions={"g": expression})
            deadline = start + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no answer in {self.timeout:g} s")
                try:
                    reply = client.get_shell_msg(timeout=min(left, 1.0))
                except queue.Empty:
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    break
            value = reply["content"].get("user_expressions", {}).get("g", {})
            if value.get("status") != "ok":
                raise ValueError(f"{value.get('ename', 'error')}: {str(value.get('evalue', ''))[:200]}")
            text = ast.literal_eval(value["data"]["text/plain"])
            if not isinstance(text, str):
                raise ValueError("the answer is not text")
            return text
        finally:
            self.seconds += time.monotonic() - start
            self.calls += 1

    def _open(self, text: str, nonce: str) -> list[str]:
        payload, _, mac = text.rpartition("|")
        good = hmac.new(self.key, payload.encode(), "sha256").hexdigest()
        if not payload or not hmac.compare_digest(mac, good):
            raise ValueError("the answer is not signed by the guard armed before the first cell")
        said, lines = ast.literal_eval(payload)
        if said != nonce:
            raise ValueError("the answer is a replay of an earlier one")
        return [str(line) for line in lines]

    def arm(self, client: Any) -> None:
        """Hand the kernel its key and the plan; raise GuardError if it does not answer as expected."""
        p = self.plan
        args = ", ".join(json.dumps(a) for a in (self.key.hex(), list(p.modules), list(p.deep), p.aliases,
                                                  list(p.candidates)))
        try:
            self.info = self._open(self._ask(client, f"__import__({GUARD_MODULE!r}).arm({args})"), "arm")
        except Exception as exc:  # noqa: BLE001
            raise GuardError(f"helper guard not armed: {type(exc).__name__}: {str(exc)[:300]}") from exc
        self.armed = True

    def verify(self, client: Any, names: list[str]) -> list[str]:
        """Changes to what the tests rely on since arm(), put back by the kernel; [] when there are none."""
        if not self.armed:
            return []
        nonce = secrets.token_hex(8)
        try:
            problems = self._open(self._ask(client, f"__import__({GUARD_MODULE!r}).verify({nonce!r}, {names!r})"),
                                  nonce)
        except Exception as exc:  # noqa: BLE001 - a guard that cannot answer truthfully is itself tampering
            return [f"the guard did not answer ({type(exc).__name__}: {str(exc)[:200]})"]
        return [p[:200] for p in problems]
