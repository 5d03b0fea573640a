"""Entry point of a grading kernel: set resource limits, route warnings to stdout, install the helper guard,
start ipykernel.

Runs inside the sandbox (or, without one, as a plain child process), so it imports nothing from this
repository. Usage (the grader builds this line):

    python kernel_boot.py '{"data": 2147483648, "fsize": 67108864, ...}' -f /run/grader/kernel.json

The helper guard (module `_llmcourse_guard`, driven by autograde/guard.py through silent execute
requests whose answers come back in the execute_reply, never in the notebook):

- `arm(key, modules, deep, aliases)`, sent before the first cell, imports the modules the tests rely on and
  records every entry of their dictionaries, the code, defaults and closures of their functions, the
  dictionaries of their classes, the builtin functions and types, their `sys.modules` entries and the names
  the notebook binds to them (np, checks, _core ...). Nothing the student wrote has run yet.
- `verify(nonce, names)`, sent before and after each test cell, compares all of that with the record (and
  the user-namespace bindings of the names the test reads), puts back anything changed, and answers the
  list of changes signed with the key the grader sent to `arm` (HMAC-SHA256 over the nonce and the list):
  a replaced or removed guard cannot answer for the real one. An audit hook, which cannot be removed,
  also notes `__code__`/`__defaults__` writes on recorded functions, so a swap undone before the check is
  still seen.

In-process checks cannot be complete (see NOTES-grading: the student's code shares the interpreter); what
reaches past them (frames, gc, ctypes, writes to the guard itself) is flagged by the static scan.
"""

from __future__ import annotations

import builtins
import hmac
import importlib
import json
import os
import resource
import sys
import types
import warnings

WARNING_PREFIX = "[grader] warning: "

_LIMITS = {
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "cpu": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
}


def apply_limits(limits: dict[str, int]) -> None:
    """Lower the soft and hard resource limits of this process (inherited by everything it starts)."""
    for name, value in limits.items():
        which = _LIMITS[name]
        _, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # CPU: leave the hard limit a little higher so the kernel gets SIGXCPU before SIGKILL.
        new_hard = value + 5 if name == "cpu" and (hard == resource.RLIM_INFINITY or value + 5 <= hard) else value
        resource.setrlimit(which, (value, new_hard))


def _show_warning_on_stdout(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                            file: object = None, line: str | None = None) -> None:
    """warnings.showwarning replacement: one line on stdout, so a warning never scores a test cell 0."""
    text = f"{WARNING_PREFIX}{category.__name__}: {message} ({os.path.basename(str(filename))}:{lineno})\n"
    try:
        sys.stdout.write(text)
    except Exception:  # noqa: BLE001 - a closed stdout must not turn a warning into an error
        pass


# --------------------------------------------------------------------------- helper guard
GUARD_MODULE = "_llmcourse_guard"
_SKIP_KEYS = {"__builtins__", "__cached__", "__loader__", "__spec__", "__warningregistry__", "__file__", "__path__",
              "__package__", "__doc__", "__name__"}
# entries that libraries themselves rebind while they work (warnings.catch_warnings swaps these)
_DYNAMIC = {"warnings": {"filters", "showwarning", "_showwarnmsg", "_showwarnmsg_impl", "defaultaction",
                         "onceregistry", "_filters_version", "_filters_mutated"}}
# Taken before any student code runs, so that rebinding a module attribute (json, hmac, builtins) cannot
# change what the guard answers: the answer is a repr of strings (C code) signed by a C HMAC.
_hmac_digest = getattr(importlib.import_module("_hashlib"), "hmac_digest", None) or hmac.digest
_dict_get, _id, _isinstance, _len, _repr, _str, _tuple = dict.get, id, isinstance, len, repr, str, tuple
_FunctionType, _BuiltinType = types.FunctionType, types.BuiltinFunctionType
_STRICT = {"math", "builtins", "copy", "numpy", "llmcourse"}
_state: dict = {}


def _functions(value: object) -> list:
    """The Python functions behind a value: itself, a numpy dispatcher's implementation, a wrapped function."""
    found = []
    for f in (value, getattr(value, "_implementation", None) if not _isinstance(value, type) else None,
              getattr(value, "__wrapped__", None) if not _isinstance(value, type) else None):
        if _isinstance(f, _FunctionType):
            found.append(f)
    return found


def _fn_record(f: types.FunctionType) -> tuple:
    cells = tuple(c.cell_contents if _cell_full(c) else _EMPTY for c in (f.__closure__ or ()))
    return (f, f.__code__, f.__defaults__, f.__kwdefaults__, cells)


_EMPTY = object()


def _cell_full(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - raises ValueError when empty
    except ValueError:
        return False
    return True


def _library_wrapper(new: object, old: object, module: str) -> bool:
    """True when a library replaced one of its own functions by a wrapper of it (functools.wraps), written in a
    file of the same package: torch._dynamo does this to torch.manual_seed on first import."""
    try:
        wrapped, depth = new, 0
        while wrapped is not old and depth < 5:
            wrapped, depth = getattr(wrapped, "__wrapped__", None), depth + 1
        if wrapped is not old:
            return False
        code = getattr(new, "__code__", None)
        top = sys.modules.get(module.split(".")[0])
        folder = os.path.dirname(getattr(top, "__file__", "") or "")
        return code is not None and bool(folder) and code.co_filename.startswith(folder + os.sep)
    except Exception:  # noqa: BLE001 - whatever cannot be checked is not accepted
        return False


def _resolve(target: str) -> object:
    try:
        return importlib.import_module(target)
    except ImportError:
        module, _, attr = target.rpartition(".")
        if not module:
            raise
        return getattr(importlib.import_module(module), attr)


def _audit(event: str, args: tuple) -> None:
    if event != "object.__setattr__" or not _state.get("armed") or _state.get("busy"):
        return
    obj, name = args[0], args[1]
    if _id(obj) in _state["fn_ids"] and _len(_state["audit"]) < 20:
        _state["audit"].append(f"{getattr(obj, '__qualname__', '?')}.{name} was assigned")


def arm(key: str, modules: list, deep: list, aliases: dict, candidates: list = ()) -> str:
    """Record what the tests rely on (called by the grader before any student cell); return a signed 'armed'.

    modules: imported and recorded; deep: packages whose loaded submodules are all recorded; aliases: the
    names the tests read -> dotted targets; candidates: dotted names that are recorded if they are modules.
    """
    if _state.get("armed"):
        return "already armed"
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module this kernel lacks is not the student's doing
            missing.append(name)
    for name in candidates:
        parent, _, last = name.rpartition(".")
        holder = sys.modules.get(parent)
        if holder is not None and not _isinstance(getattr(holder, last, None), (types.ModuleType, type(None))):
            continue  # np.allclose: an attribute, no import to try (a lazy submodule comes back as a module)
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001, S112 - most candidates are attributes, not modules
            continue
    names = {n for n in (*modules, *candidates) if _isinstance(sys.modules.get(n), types.ModuleType)}
    tops = tuple(f"{d}." for d in deep)
    names |= {n for n, m in list(sys.modules.items()) if n.startswith(tops) and _isinstance(m, types.ModuleType)}
    names.add("builtins")
    mods = []
    fns: dict[int, tuple] = {}
    classes: dict[int, tuple] = {}
    for name in sorted(names):
        mod = sys.modules[name]
        skip = _DYNAMIC.get(name, set())
        # Our own and numpy's modules: every entry. Others (torch.cuda flips `_initialized` when CUDA starts,
        # for one): only functions, classes and modules, which is what a test calls.
        strict = name in _STRICT or name.startswith(("numpy.", "llmcourse."))
        items = tuple((k, v) for k, v in list(vars(mod).items()) if k not in _SKIP_KEYS and k not in skip
                      and v is not None and (name != "builtins" or _isinstance(v, (_BuiltinType, type)))
                      and (strict or callable(v) or _isinstance(v, types.ModuleType)))
        mods.append((name, mod, vars(mod), items))
        for _, v in items:
            for f in _functions(v):
                fns.setdefault(_id(f), _fn_record(f))
            if (_isinstance(v, type) and getattr(v, "__module__", "") in names
                    and v.__flags__ & (1 << 9)):  # Py_TPFLAGS_HEAPTYPE: a class written in Python
                citems = tuple((k, w) for k, w in list(vars(v).items()) if k not in ("__doc__", "__abstractmethods__"))
                classes.setdefault(_id(v), (v, citems))
                for _, w in citems:
                    for f in _functions(w if not _isinstance(w, (staticmethod, classmethod)) else w.__func__):
                        fns.setdefault(_id(f), _fn_record(f))
    resolved = {}
    for alias, target in aliases.items():
        try:
            resolved[alias] = _resolve(target)
        except Exception:  # noqa: BLE001
            missing.append(target)
    from IPython import get_ipython

    shell = get_ipython()
    ns = shell.user_ns if shell is not None else {}
    builtin_items = tuple((k, v) for k, v in vars(builtins).items() if _isinstance(v, (_BuiltinType, type)))
    _state.update(key=bytes.fromhex(key), mods=tuple(mods), fns=tuple(fns.values()), classes=tuple(classes.values()),
                  fn_ids=frozenset(fns), aliases=resolved, builtins=builtin_items, builtin_names=dict(builtin_items),
                  sysmods={n: m for n, _m, _d, _i in mods for m in (sys.modules[n],)}, modules_dict=sys.modules,
                  shell=shell, ns=ns, ns_builtins=_dict_get(ns, "__builtins__"), audit=[], seen=[], busy=False,
                  guard=sys.modules.get(GUARD_MODULE), guard_items=tuple(vars(sys.modules[GUARD_MODULE]).items()))
    _state["armed"] = True
    return _sign("arm", [f"recorded {len(mods)} modules, {len(fns)} functions", *(f"missing {m}" for m in missing)])


def _sign(nonce: str, lines: list) -> str:
    """repr((nonce, (line, ...))) + '|' + HMAC-SHA256 of it under the grader's key."""
    payload = _repr((_str(nonce), _tuple(_str(x) for x in lines)))
    return payload + "|" + _hmac_digest(_state["key"], payload.encode(), "sha256").hex()


def verify(nonce: str, names: list) -> str:
    """Compare everything recorded by arm() with now, put back what changed, answer the signed list of changes."""
    if not _state.get("armed"):
        return "not armed"
    _state["busy"] = True
    try:
        problems = _check(names)
    finally:
        _state["busy"] = False
    seen = _state["seen"]  # every change found since arm(), so a verify() called by student code erases nothing
    for problem in (*problems, *_state["audit"]):
        if problem not in seen and _len(seen) < 40:
            seen.append(problem)
    _state["audit"] = []
    return _sign(nonce, seen)


def _check(names: list) -> list:
    problems: list[str] = []
    s = _state
    modules = s["modules_dict"]
    if sys.modules is not modules:
        problems.append("sys.modules was replaced")
        sys.modules = modules
    guard = s["guard"]
    if _dict_get(modules, GUARD_MODULE) is not guard:
        problems.append(f"sys.modules[{GUARD_MODULE!r}] was replaced")
        modules[GUARD_MODULE] = guard
    for k, v in s["guard_items"]:
        if _dict_get(vars(guard), k, _EMPTY) is not v:
            problems.append(f"{GUARD_MODULE}.{k} was replaced")
            vars(guard)[k] = v
    for name, mod in s["sysmods"].items():
        if _dict_get(modules, name) is not mod:
            problems.append(f"sys.modules[{name!r}] was replaced")
            modules[name] = mod
    for index, (name, mod, d, items) in enumerate(s["mods"]):
        changed = False
        for k, v in items:
            now = _dict_get(d, k, _EMPTY)
            if now is v:
                continue
            if _library_wrapper(now, v, name):
                changed = True  # e.g. torch._dynamo wrapping torch.manual_seed when it is first imported
                continue
            problems.append(f"{name}.{k} was {'deleted' if now is _EMPTY else 'replaced'}")
            d[k] = v
        if changed:
            s["mods"] = (*s["mods"][:index], (name, mod, d, tuple((k, _dict_get(d, k, v)) for k, v in items)),
                         *s["mods"][index + 1:])
    for f, code, defaults, kwdefaults, cells in s["fns"]:
        if f.__code__ is not code or f.__defaults__ is not defaults or f.__kwdefaults__ is not kwdefaults:
            problems.append(f"{f.__module__}.{f.__qualname__}: code or defaults were changed")
            f.__code__, f.__defaults__, f.__kwdefaults__ = code, defaults, kwdefaults
        if cells:
            for cell, value in zip(f.__closure__ or (), cells, strict=False):
                if (cell.cell_contents if _cell_full(cell) else _EMPTY) is not value:
                    problems.append(f"{f.__module__}.{f.__qualname__}: a closure variable was changed")
                    if value is not _EMPTY:
                        cell.cell_contents = value
    for cls, items in s["classes"]:
        d = vars(cls)
        for k, v in items:
            if d.get(k, _EMPTY) is not v:
                problems.append(f"{cls.__module__}.{cls.__qualname__}.{k} was changed")
                setattr(cls, k, v)
    ns = s["ns"]
    shell = s["shell"]
    if shell is not None and shell.user_ns is not ns:
        problems.append("the notebook namespace was replaced")
    if _dict_get(ns, "__builtins__") is not s["ns_builtins"]:
        problems.append("__builtins__ of the notebook was replaced")
        ns["__builtins__"] = s["ns_builtins"]
    for name in names:
        have = _dict_get(ns, name, _EMPTY)
        if have is _EMPTY:
            continue
        if name in s["aliases"]:
            if have is not s["aliases"][name]:
                problems.append(f"the notebook's {name!r} is not what the tests expect")
                ns[name] = s["aliases"][name]
        elif name in s["builtin_names"] and have is not s["builtin_names"][name]:
            problems.append(f"the notebook defines {name!r}, hiding the builtin the tests use")
            del ns[name]
    return problems[:12] + ([f"... and {len(problems) - 12} more"] if len(problems) > 12 else [])


def install_guard() -> None:
    """Put the guard module in sys.modules and its audit hook in place (before ipykernel starts)."""
    guard = types.ModuleType(GUARD_MODULE, "grading-kernel helper guard (see kernel_boot.py)")
    guard.arm, guard.verify = arm, verify
    sys.modules[GUARD_MODULE] = guard
    sys.addaudithook(_audit)


def main() -> None:
    """Apply the limits in argv[1], then run ipykernel with the remaining arguments."""
    limits = json.loads(sys.argv[1])
    apply_limits(limits)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    os.environ.pop("JPY_PARENT_PID", None)
    warnings.showwarning = _show_warning_on_stdout
    install_guard()
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
