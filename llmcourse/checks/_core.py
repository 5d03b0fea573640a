"""The engine behind the visible self-checks: named cases, expected against got, one line on success.

A check never holds a reference solution. Expected values are worked out by hand for small inputs
(written as literals next to the case) or stated as properties that any correct answer satisfies.
"""

from __future__ import annotations

import contextvars
import copy
import linecache
import os
import re
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Property = Callable[[Any], "str | None"]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RED, _RESET = "\x1b[0;31m", "\x1b[0m"
# NumPy's RuntimeWarnings for the floating-point events the course teaches to avoid (np.seterr's "over",
# "invalid" and "divide"). Underflow is left out: exp(-1000) == 0 is how a max-shifted softmax works.
_NUMERICAL = re.compile(r"overflow|invalid value|divide by zero", re.IGNORECASE)
_notes: contextvars.ContextVar[list | None] = contextvars.ContextVar("llmcourse_check_notes", default=None)


class CheckFailed(AssertionError):
    """A self-check case failed; the message names the case and shows expected against got.

    In IPython and Jupyter the failure shows as the message alone (plus the learner's own line when their
    code raised), not as a traceback through this package: see `_render_traceback_`. It is still an
    exception, so a test cell that runs a failing check fails under nbgrader and the course's grader.
    """

    def _render_traceback_(self) -> list[str]:
        """The lines IPython shows instead of a traceback (IPython calls this hook when it exists)."""
        lines = [f"{_RED}{type(self).__name__}{_RESET}: {self}"]
        where = _learner_frame(self.__cause__) if self.__cause__ is not None else None
        if where is not None:
            lines.append(f"  raised at {where}")
        return lines


def _cell_label(filename: str) -> str | None:
    """'Cell In[4]' for the code of a notebook cell or an IPython input, None for a file."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    compiler = getattr(shell, "compile", None)
    try:
        label = compiler.format_code_name(filename) if compiler is not None else None
    except Exception:  # noqa: BLE001 - an IPython without this method falls back to the file name
        label = None
    return " ".join(label) if label else None


def _learner_frame(exc: BaseException) -> str | None:
    """'Cell In[4], line 3: <source>' for the deepest frame of exc's traceback in the learner's code.

    The learner's code is a notebook cell, or any file outside this package and the installed libraries.
    """
    found = None
    tb = exc.__traceback__
    libraries = {os.path.dirname(os.__file__), sys.prefix, sys.base_prefix, _PACKAGE_DIR}
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        cell = _cell_label(filename)
        inside = os.path.abspath(filename).startswith(tuple(p + os.sep for p in libraries))
        if cell is not None or not (inside or filename.startswith("<")):
            found = (cell or filename, tb.tb_lineno, filename)
        tb = tb.tb_next
    if found is None:
        return None
    label, lineno, filename = found
    source = linecache.getline(filename, lineno).strip()
    return f"{label}, line {lineno}" + (f": {source}" if source else "")


def is_numerical_warning(category: type[Warning], message: Warning | str) -> bool:
    """True for NumPy's floating-point RuntimeWarnings: overflow, invalid value (NaN), divide by zero."""
    return issubclass(category, RuntimeWarning) and bool(_NUMERICAL.search(str(message)))


@dataclass
class Case:
    """One named input for the learner's function, with an expected value and/or a property."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    prop: Property | None = None
    rtol: float = 1e-6
    atol: float = 1e-8
    allow_warnings: bool = False


def _fmt(value: Any, limit: int = 400) -> str:
    """Short printable form of an array or scalar."""
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=5, suppress_small=True, threshold=40, edgeitems=3)
        text = f"{text}  (shape {value.shape}, dtype {value.dtype})"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def compare(expected: Any, got: Any, rtol: float = 1e-6, atol: float = 1e-8, where: str = "") -> str | None:
    """Describe how `got` differs from `expected` (None when they agree to the tolerance)."""
    label = f" {where}" if where else ""
    if got is None and expected is not None:
        return f"returned None{label}: did you forget a `return`?"
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values{label}, got {_fmt(got)}"
        for i, (e, g) in enumerate(zip(expected, got, strict=True)):
            problem = compare(e, g, rtol, atol, where=f"(element {i} of the returned tuple)")
            if problem:
                return problem
        return None
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(got, (bool, np.bool_)) or bool(got) != bool(expected):
            return f"expected {expected!r}{label}, got {_fmt(got)}"
        return None
    if isinstance(expected, str):
        return None if got == expected else f"expected {expected!r}{label}, got {_fmt(got)}"
    exp = np.asarray(expected)
    try:
        arr = np.asarray(got)
    except Exception:  # noqa: BLE001 - anything unconvertible is a wrong type
        return f"expected an array-like{label}, got an object of type {type(got).__name__}"
    if arr.dtype == object:
        return f"expected numbers{label}, got {_fmt(got)}"
    if arr.shape != exp.shape:
        return f"wrong shape{label}: expected {exp.shape}, got {arr.shape}"
    if exp.dtype == bool:
        if arr.dtype != bool:
            return f"expected a boolean array{label}, got dtype {arr.dtype}"
        if not np.array_equal(arr, exp):
            return f"wrong values{label}:\n  expected {_fmt(exp)}\n  got      {_fmt(arr)}"
        return None
    if not np.issubdtype(arr.dtype, np.number):
        return f"expected a numeric result{label}, got dtype {arr.dtype}"
    if np.issubdtype(exp.dtype, np.floating) and not np.issubdtype(arr.dtype, np.floating):
        return f"expected floating-point values{label}, got dtype {arr.dtype} (integer division or rounding?)"
    exp_f, arr_f = exp.astype(np.float64), arr.astype(np.float64)
    bad_nan = np.isnan(arr_f) & ~np.isnan(exp_f)
    if bad_nan.any():
        return f"got NaN{label} where a number was expected:\n  expected {_fmt(exp)}\n  got      {_fmt(arr)}"
    bad_inf = np.isinf(arr_f) & ~np.isinf(exp_f)
    if bad_inf.any():
        return f"got inf{label} where a finite number was expected (overflow?):\n  got {_fmt(arr)}"
    if not np.allclose(arr_f, exp_f, rtol=rtol, atol=atol, equal_nan=True):
        err = np.nanmax(np.abs(arr_f - exp_f)) if arr_f.size else 0.0
        return (
            f"wrong values{label} (largest difference {err:.3g}):\n"
            f"  expected {_fmt(exp)}\n  got      {_fmt(arr)}"
        )
    return None


def _snapshot(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Deep copies of the inputs, handed to the learner so cases cannot leak into each other."""
    return copy.deepcopy(args), copy.deepcopy(kwargs)


def _same(a: Any, b: Any) -> bool:
    """True when two inputs are unchanged copies of each other."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - objects without equality are not compared
        return True


def _note_warning(head: str, w: warnings.WarningMessage, note: bool = True) -> None:
    """Show a warning that does not fail a check, on stdout, with a note on what grading does with it."""
    try:  # through the installed printer: the course's grading kernel prefixes it "[grader] warning:" and flags it
        warnings.showwarning(w.message, w.category, w.filename, w.lineno, file=sys.stdout)
    except Exception:  # noqa: BLE001 - a broken printer must not fail a correct answer
        pass
    if not note:
        return
    print(f"note: {head}: your function emitted a {w.category.__name__} (above). Only numerical warnings "
          "(overflow, invalid value, divide by zero) fail a check, so this one passes. The course's grader "
          "(`make grade`) keeps a passing test cell's points and flags the warning for the instructor to "
          "review; plain `nbgrader autograde`, without the course's grading kernel, scores a test cell 0 when "
          "a warning reaches stderr.")


def run_case(label: str, fn: Callable, case: Case) -> None:
    """Run one case and raise CheckFailed with a readable message when it fails.

    A numerical RuntimeWarning (overflow, invalid value, divide by zero) fails the case; any other warning
    (a library's UserWarning, DeprecationWarning, FutureWarning, ...) is shown with a note and passes.
    Case.allow_warnings lets every warning pass silently.
    """
    args, kwargs = _snapshot(case.args, case.kwargs)
    pristine_args, pristine_kwargs = _snapshot(case.args, case.kwargs)
    head = f"{label}, case '{case.name}'"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            got = fn(*args, **kwargs)
        except NotImplementedError:
            raise CheckFailed(
                f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
            ) from None
        except CheckFailed:
            raise
        except Exception as exc:
            raise CheckFailed(f"{head}: your function raised {type(exc).__name__}: {exc}") from exc
    if not case.allow_warnings:
        numerical = [w for w in caught if is_numerical_warning(w.category, w.message)]
        if numerical:
            raise CheckFailed(
                f"{head}: your function emitted a RuntimeWarning: {numerical[0].message}. An overflow, "
                "invalid value (NaN) or division by zero on the way is a numerical defect even when the "
                "result looks right, so the check fails. Rearrange the computation so that none occurs "
                "(e.g. subtract the maximum before np.exp); where inf is the intended result, compute it "
                "inside `with np.errstate(...)`."
            )
    if not (_same(args, pristine_args) and _same(kwargs, pristine_kwargs)):
        raise CheckFailed(f"{head}: your function modified its input in place; work on a copy instead")
    if case.expected is not None:
        problem = compare(case.expected, got, case.rtol, case.atol)
        if problem:
            raise CheckFailed(f"{head}: {problem}")
    if case.prop is not None:
        problem = case.prop(got)
        if problem:
            raise CheckFailed(f"{head}: {problem}")
    if case.allow_warnings:
        return
    pending, seen = _notes.get(), set()
    for w in caught:
        key = (w.category, str(w.message))
        if key in seen:
            continue
        seen.add(key)
        if pending is None:
            _note_warning(head, w)
        elif key not in {(p[1].category, str(p[1].message)) for p in pending}:
            pending.append((head, w))


def run(label: str, fn: Callable, cases: Sequence[Case], *, quiet: bool = False) -> None:
    """Run every case in order; print one line on success, raise CheckFailed on the first failure.

    Warnings that pass (see run_case) are shown once each, after all cases have passed, with a note unless
    quiet (hidden tests run quietly: their case names stay out of the output).
    """
    if not callable(fn):
        raise CheckFailed(f"{label}: expected a function, got {type(fn).__name__}")
    pending: list[tuple[str, warnings.WarningMessage]] = []
    token = _notes.set(pending)
    try:
        for case in cases:
            try:
                run_case(label, fn, case)
            except CheckFailed:
                raise
            except Exception as exc:  # a property that calls the learner's function again
                raise CheckFailed(f"{label}, case '{case.name}': your function raised "
                                  f"{type(exc).__name__}: {exc}") from exc
    finally:
        _notes.reset(token)
    for head, w in pending:
        _note_warning(head, w, note=not quiet)
    if not quiet:
        print(f"✔ {label}: all {len(cases)} visible cases passed")


def attention_output(out_shape: tuple, w_shape: tuple, mask: np.ndarray | None = None,
                     empty_rows_zero: bool = False) -> Property:
    """Property of an attention result (out, weights): shapes, finite, blocked weights 0, rows summing to 1.

    With empty_rows_zero, a query row whose mask allows no key must have weights summing to 0 and output 0.
    """

    def prop(got: Any) -> str | None:
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (out, weights), got {type(got).__name__}"
        out, w = np.asarray(got[0]), np.asarray(got[1])
        if out.shape != out_shape:
            return f"out has shape {out.shape}, expected {out_shape}"
        if w.shape != w_shape:
            return f"weights have shape {w.shape}, expected {w_shape}"
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(out))):
            return "out and weights must be finite (got NaN or inf)"
        if np.any(w < 0):
            return "weights must be non-negative"
        allowed = np.ones(w_shape, dtype=bool) if mask is None else np.broadcast_to(mask, w_shape)
        if np.any(np.abs(w[~allowed]) > 1e-12):
            return "weights on blocked keys (mask False) must be 0"
        sums = w.sum(axis=-1)
        want = allowed.any(axis=-1).astype(float) if empty_rows_zero else np.ones_like(sums)
        if not np.allclose(sums, want, atol=1e-9):
            rule = "1, or 0 for a row with no allowed key" if empty_rows_zero else "1"
            return (f"each row of weights (last axis, over keys) must sum to {rule}; "
                    f"got row sums {np.round(sums.ravel()[:6], 6)}")
        if empty_rows_zero and np.any(np.abs(out[~allowed.any(axis=-1)]) > 0):
            return "a query with no allowed key must get an output of exactly 0"
        return None

    return prop
