"""Static scan of student code for things a reviewer should look at. It flags; it never changes a score.

    findings = scan_source(source)          # [Finding(rule, line, snippet), ...]
    aliases = {}                            # shared by the cells of one notebook, in order:
    scan_source(cell_a, aliases); scan_source(cell_b, aliases)   # `import numpy as xx` in a, `xx.x = 1` in b

Rules: `monkeypatch` (assigning into test helpers, numpy, builtins, sys.modules, whatever name they are
reached by: import aliases (`import numpy.testing as t`, `from llmcourse.checks import _core as k`),
variables bound to them (`m = sys.modules["numpy"]`, `f = np.allclose`), `setattr`/`delattr`,
`vars(m)[...] =`, `m.__dict__[...] =` or `.update(...)`, `__code__`/`__defaults__` swaps, and top-level
functions that hide a builtin such as `abs` or `isinstance`), `ipython_hooks` (input
transformers, AST transformers, custom exception handlers, the In/Out history that holds hidden tests),
`comparison_override` (__eq__, __bool__, __array_ufunc__ and friends), `subprocess`, `ctypes`, `socket`,
`os_process` (os.system, fork, kill, _exit ...), `shell_escape` (!cmd, %%bash), `dynamic_code` (exec, eval,
__import__), `introspection` (frames, gc, tracing hooks), `path_outside` (absolute or parent paths),
`grading_detection` (looking for NBGRADER_* or the grader's own files).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

RULES = {
    "monkeypatch": "assigns into a module the tests rely on (test helpers, numpy, builtins, sys.modules)",
    "ipython_hooks": "touches IPython internals (input/AST transformers, exception hooks, In/Out history)",
    "comparison_override": "defines or assigns a comparison/truth/array-protocol method",
    "subprocess": "starts programs (subprocess, multiprocessing, pty)",
    "ctypes": "loads native code (ctypes, cffi)",
    "socket": "uses the network (socket, http, urllib, requests)",
    "os_process": "os-level process control (system, fork, exec, kill, _exit, setsid)",
    "shell_escape": "IPython shell escape or script magic (!cmd, %%bash, %system)",
    "dynamic_code": "runs code built at run time (exec, eval, compile, __import__, importlib)",
    "introspection": "inspects frames, the garbage collector or installs tracing hooks",
    "path_outside": "opens an absolute path or a path with '..'",
    "grading_detection": "looks for the grading environment (NBGRADER_*, kernel_boot, /opt/grader)",
    "syntax_error": "cell does not parse as Python (reported so the reviewer knows it was not scanned)",
}

_PROTECTED_MODULES = {"checks", "llmcourse", "np", "numpy", "torch", "math", "builtins", "__builtins__", "sys",
                      "os", "warnings", "IPython", "nbgrader", "unittest", "pytest", "inspect", "operator",
                      "functools", "random", "time", "traceback", "testing"}
_COMPARISON = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__len__", "__hash__",
               "__array__", "__array_ufunc__", "__array_function__", "__array_priority__", "__float__", "__int__",
               "__index__", "__instancecheck__", "__subclasscheck__", "__abs__", "__contains__"}
_IPYTHON_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "input_transformer_manager",
                  "ast_transformers", "set_custom_exc", "showtraceback", "showsyntaxerror", "run_cell",
                  "run_cell_async", "events", "register_magic_function", "register_magics", "user_ns",
                  "user_global_ns", "excepthook", "_showtraceback", "kernel", "display_pub", "displayhook",
                  "ex", "ev", "run_line_magic", "run_cell_magic", "system", "getoutput"}
_HISTORY_NAMES = {"In", "Out", "_ih", "_oh", "_i", "_ii", "_iii", "_dh", "get_ipython"}
_MODULE_RULES = {
    "subprocess": "subprocess", "multiprocessing": "subprocess", "pty": "subprocess", "pexpect": "subprocess",
    "ctypes": "ctypes", "cffi": "ctypes", "_ctypes": "ctypes",
    "socket": "socket", "http": "socket", "urllib": "socket", "requests": "socket", "ssl": "socket",
    "asyncio": None, "importlib": "dynamic_code", "marshal": "dynamic_code", "pickle": None,
    "gc": "introspection", "inspect": "introspection", "signal": "os_process", "resource": "os_process",
}
_OS_CALLS = {"system", "popen", "fork", "forkpty", "kill", "killpg", "_exit", "setsid", "setpgid", "spawnl",
             "spawnlp", "spawnv", "spawnvp", "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle",
             "execlp", "execvp", "execvpe", "abort", "chroot", "setuid", "putenv", "unsetenv", "nice"}
_INTROSPECTION_ATTRS = {"_getframe", "currentframe", "stack", "getouterframes", "f_back", "f_locals", "f_globals",
                        "get_objects", "get_referrers", "get_referents", "settrace", "setprofile",
                        "addaudithook", "tb_frame", "gi_frame", "cr_frame", "__code__", "__globals__",
                        "__closure__"}
_DYNAMIC = {"exec", "eval", "compile", "__import__", "globals", "vars", "breakpoint"}
_DETECT = re.compile(r"NBGRADER|kernel_boot|/opt/grader|/run/grader|LLMCOURSE_GRADER|autograded|_llmcourse_guard",
                     re.I)
# Modules the tests rely on, by their real dotted name: any alias of these (or of something inside them) is
# protected. The grading kernel also checks them at run time (autograde/guard.py); the scan tells the reviewer
# where in the student's code it happened.
_PROTECTED_PATHS = ("numpy", "llmcourse", "math", "builtins", "torch", "warnings", "copy", "sys", "IPython",
                    "ipykernel", "nbgrader", "unittest", "pytest", "inspect", "operator", "functools", "random",
                    "traceback", "_llmcourse_guard", "importlib", "types")
_DEFAULT_ALIASES = {"np": "numpy", "numpy": "numpy", "checks": "llmcourse.checks", "llmcourse": "llmcourse",
                    "_core": "llmcourse.checks._core", "math": "math", "builtins": "builtins",
                    "__builtins__": "builtins", "torch": "torch", "F": "torch.nn.functional", "nn": "torch.nn",
                    "sys": "sys", "warnings": "warnings", "_warnings": "warnings"}
_BUILTIN_FUNCS = {n for n, v in vars(__import__("builtins")).items() if callable(v) and not n.startswith("_")
                  and n[0].islower()}
_META_ATTRS = {"__code__", "__defaults__", "__kwdefaults__", "__dict__", "__globals__", "__closure__",
               "__wrapped__", "_implementation", "__call__", "__class__"}


def _protected_path(path: str | None) -> bool:
    return bool(path) and (path in _PROTECTED_PATHS or path.startswith(tuple(f"{p}." for p in _PROTECTED_PATHS)))
_MAGIC = re.compile(r"^\s*(!|%{1,2}(system|sx|bash|sh|script|perl|ruby|writefile|run|load|env|cd|alias)\b)", re.M)


@dataclass(frozen=True)
class Finding:
    """One thing worth a reviewer's look: which rule, on which line of the cell, and the code."""

    rule: str
    line: int
    snippet: str


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


class _Visitor(ast.NodeVisitor):
    def __init__(self, lines: list[str], aliases: dict[str, str] | None = None) -> None:
        self.lines = lines
        self.found: list[Finding] = []
        self.os_aliases = {"os"}
        self.aliases = aliases if aliases is not None else {}
        self.depth = 0

    # what an expression refers to ------------------------------------------
    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name of the module (or module member) an expression denotes, when it can be told."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id] or None
            return _DEFAULT_ALIASES.get(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr == "__dict__":
                return self.resolve(node.value)
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):
            key = node.slice.value if isinstance(node.slice, ast.Constant) else None
            if _dotted(node.value) == "sys.modules" or self.resolve(node.value) == "sys.modules":
                return key if isinstance(key, str) else "sys.modules[?]"
            base = self.resolve(node.value)
            if base and isinstance(key, str):  # vars(np)["allclose"], np.__dict__["allclose"]
                return f"{base}.{key}"
            return None
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else _dotted(func)
            first = node.args[0] if node.args else None
            if name in ("vars", "getattr") and first is not None:
                base = self.resolve(first)
                if name == "getattr" and base and len(node.args) > 1 and isinstance(node.args[1], ast.Constant):
                    return f"{base}.{node.args[1].value}"
                return base
            if name in ("__import__", "importlib.import_module") and isinstance(first, ast.Constant):
                return str(first.value)
            if name == "get_ipython":
                return "IPython.shell"
        return None

    def protected(self, node: ast.AST) -> bool:
        return _protected_path(self.resolve(node)) or _root_name(node) in _PROTECTED_MODULES
    def add(self, rule: str, node: ast.AST) -> None:
        line = getattr(node, "lineno", 1)
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.found.append(Finding(rule, line, text[:160]))

    # imports ---------------------------------------------------------------
    def _module(self, name: str, node: ast.AST) -> None:
        top = name.split(".")[0]
        rule = _MODULE_RULES.get(top)
        if rule:
            self.add(rule, node)
        if top == "builtins":
            self.add("monkeypatch", node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._module(alias.name, node)
            if alias.name == "os":
                self.os_aliases.add(alias.asname or "os")
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._module(node.module or "", node)
        if node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        if node.module == "os":
            for alias in node.names:
                if alias.name in _OS_CALLS:
                    self.add("os_process", node)
        if node.module == "IPython" or (node.module or "").startswith("IPython."):
            self.add("ipython_hooks", node)
        self.generic_visit(node)

    # assignments -------------------------------------------------------------
    def _target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node)
            return
        if isinstance(target, ast.Attribute):
            if target.attr in _COMPARISON:
                self.add("comparison_override", node)
            elif target.attr in _IPYTHON_ATTRS:
                self.add("ipython_hooks", node)
            root = _root_name(target)
            if root in _PROTECTED_MODULES or root in _HISTORY_NAMES or self.protected(target.value):
                self.add("monkeypatch", node)
        elif isinstance(target, ast.Subscript):
            dotted = _dotted(target.value)
            root = _root_name(target)
            if (dotted in ("sys.modules", "__builtins__", "builtins.__dict__") or root in _HISTORY_NAMES
                    or self.protected(target.value)):
                self.add("monkeypatch", node)
        elif isinstance(target, ast.Name):
            if target.id in {"checks", "np", "numpy", "math", "__builtins__", "_core"}:
                self.add("monkeypatch", node)
            elif self.depth == 0 and target.id in _BUILTIN_FUNCS and isinstance(node, ast.Assign) and (
                    isinstance(node.value, ast.Lambda) or self.resolve(node.value)):
                self.add("monkeypatch", node)  # abs = lambda x: 0 hides the builtin from the tests

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, node)
        bound = self.resolve(node.value)
        for t in node.targets:  # m = sys.modules["numpy"]; f = np.allclose; k = c  -> remember what they hold
            if isinstance(t, ast.Name):
                if bound:
                    self.aliases[t.id] = bound
                elif t.id in self.aliases or t.id in _DEFAULT_ALIASES:
                    self.aliases[t.id] = ""  # rebound to something else: no longer the module
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if self.depth == 0 and node.name in _BUILTIN_FUNCS:
            self.add("monkeypatch", node)  # def abs(x): ... at the top level hides the builtin from the tests
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for t in node.targets:
            self._target(t, node)
        self.generic_visit(node)

    # definitions -------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name in _COMPARISON:
                self.add("comparison_override", item)
            if isinstance(item, ast.Assign):
                for t in item.targets:
                    if isinstance(t, ast.Name) and t.id in _COMPARISON:
                        self.add("comparison_override", item)
        self.generic_visit(node)

    # uses --------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _DYNAMIC:
                self.add("dynamic_code", node)
            elif func.id in ("setattr", "delattr") and node.args:
                root = _root_name(node.args[0])
                if root in _PROTECTED_MODULES or root in _HISTORY_NAMES or self.protected(node.args[0]):
                    self.add("monkeypatch", node)
                if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) and node.args[1].value in _COMPARISON:
                    self.add("comparison_override", node)
            elif func.id in ("open",) and node.args:
                self._path(node.args[0], node)
            elif func.id == "get_ipython":
                self.add("ipython_hooks", node)
        elif isinstance(func, ast.Attribute):
            root = _root_name(func)
            if func.attr in ("update", "__setitem__", "setdefault", "pop", "__delitem__", "clear", "__setattr__",
                             "__delattr__") and (
                    _dotted(func.value) == "sys.modules" or self._namespace_of_protected(func.value)):
                self.add("monkeypatch", node)  # vars(np).update(...), sys.modules.update(...), m.__setattr__(..)
            if (func.attr in ("__setattr__", "__delattr__") and isinstance(func.value, ast.Name)
                    and func.value.id in ("object", "type") and node.args and self.protected(node.args[0])):
                self.add("monkeypatch", node)  # object.__setattr__(np, "allclose", ...)
            if root in self.os_aliases and func.attr in _OS_CALLS:
                self.add("os_process", node)
            if func.attr in ("Path", "open", "read_text", "read_bytes", "write_text", "write_bytes", "listdir",
                             "scandir", "walk", "glob") and node.args:
                self._path(node.args[0], node)
            if _dotted(func) in ("importlib.import_module", "importlib.reload"):
                self.add("dynamic_code", node)
        self.generic_visit(node)

    def _namespace_of_protected(self, node: ast.AST) -> bool:
        """vars(m), m.__dict__ or m itself, for a protected m (sys.modules counts as one)."""
        if isinstance(node, ast.Attribute) and node.attr == "__dict__":
            return self.protected(node.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "vars" and node.args:
            return self.protected(node.args[0])
        return self.resolve(node) == "sys.modules" or self.protected(node)

    def array_stack(self, node: ast.Attribute) -> bool:
        """np.stack, torch.stack, x.stack: only inspect.stack walks frames (and importing inspect is flagged)."""
        if node.attr != "stack":
            return False
        base = self.resolve(node.value)
        return base is None or not base.startswith("inspect")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _INTROSPECTION_ATTRS and not self.array_stack(node):
            self.add("introspection", node)
        if node.attr in _IPYTHON_ATTRS and _root_name(node) in ("get_ipython", "ip", "shell", "ipython", "_ip"):
            self.add("ipython_hooks", node)
        if node.attr == "environ" and _root_name(node) in self.os_aliases:
            pass
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in _HISTORY_NAMES and node.id != "get_ipython":
            self.add("ipython_hooks", node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _DETECT.search(node.value):
            self.add("grading_detection", node)

    def _path(self, arg: ast.AST, node: ast.AST) -> None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            value = arg.value
            if value.startswith(("/", "~")) or ".." in value.replace("\\", "/").split("/"):
                self.add("path_outside", node)
        elif isinstance(arg, ast.JoinedStr):
            head = arg.values[0] if arg.values else None
            if isinstance(head, ast.Constant) and str(head.value).startswith(("/", "~", "..")):
                self.add("path_outside", node)


def _python_source(source: str) -> str:
    """IPython cell syntax (magics, !shell) turned into plain Python, so it can be parsed."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - fall back to the raw text
        return source


def scan_source(source: str, aliases: dict[str, str] | None = None) -> list[Finding]:
    """Findings for one cell of student code (deduplicated, in line order).

    aliases: pass the same dict for every cell of a notebook, in order, so that names bound in one cell
    (`import numpy as xx`) are known in the next; it is updated in place.
    """
    found: list[Finding] = []
    for match in _MAGIC.finditer(source):
        line = source.count("\n", 0, match.start()) + 1
        found.append(Finding("shell_escape", line, source.splitlines()[line - 1].strip()[:160]))
    python = _python_source(source)
    try:
        tree = ast.parse(python)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [*found, Finding("syntax_error", 1, "")]
    visitor = _Visitor(python.splitlines(), aliases)
    try:
        visitor.visit(tree)
    except RecursionError:
        found.append(Finding("dynamic_code", 1, "code nested too deeply to scan"))
    shell_lines = {f.line for f in found if f.rule == "shell_escape"}
    for f in visitor.found:
        if f.rule == "ipython_hooks" and f.line in shell_lines:
            continue  # `!cmd` becomes get_ipython().system(...): already reported as a shell escape
        found.append(f)
    unique = {(f.rule, f.line): f for f in found}
    return sorted(unique.values(), key=lambda f: (f.line, f.rule))
