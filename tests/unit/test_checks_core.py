"""The self-check engine: messages name the case and say what was expected; the warning policy; what IPython shows."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from llmcourse.checks._core import Case, CheckFailed, compare, is_numerical_warning, run, run_case

CASES = [Case("halves", args=(np.array([1.0, 3.0]),), expected=np.array([0.5, 1.5]))]


def halve(x):
    return x / 2


def test_success_prints_one_line(capsys):
    run("halve", halve, CASES)
    assert capsys.readouterr().out.strip() == "✔ halve: all 1 visible cases passed"


@pytest.mark.parametrize("fn, message", [
    (lambda x: x[:1] / 2, "wrong shape"),
    (lambda x: x * np.nan, "NaN"),
    (lambda x: (x // 2).astype(int), "floating-point"),
    (lambda x: None, "forget a `return`"),
    (lambda x: x / 3, "wrong values"),
    (lambda x: x / 0, "RuntimeWarning"),
    (lambda x: 1 / 0, "ZeroDivisionError"),
])
def test_failures_name_the_case(fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        run("halve", fn, CASES)
    assert "case 'halves'" in str(info.value)


def test_not_implemented_is_explained():
    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        run("halve", stub, CASES)


def test_in_place_modification_is_caught():
    def halve_in_place(x):
        x /= 2
        return x

    with pytest.raises(CheckFailed, match="modified its input"):
        run("halve", halve_in_place, CASES)


def test_property_cases_and_tuples():
    case = Case("sums to one", args=(3,), prop=lambda got: None if np.isclose(sum(got), 1) else "rows must sum to 1")
    run("uniform", lambda n: np.ones(n) / n, [case], quiet=True)
    with pytest.raises(CheckFailed, match="rows must sum to 1"):
        run("uniform", lambda n: np.ones(n), [case])
    assert compare((1.0, np.zeros(2)), (1.0, np.zeros(2))) is None
    assert "element 1" in compare((1.0, np.zeros(2)), (1.0, np.ones(2)))
    assert "tuple of 2" in compare((1.0, 2.0), 1.0)


def test_not_callable():
    with pytest.raises(CheckFailed, match="expected a function"):
        run("halve", 3, CASES)


# --- warnings: numerical RuntimeWarnings fail, every other warning passes with a note ----------------

def _warns(category):
    def fn(x):
        warnings.warn(f"a library says hello ({category.__name__})", category, stacklevel=1)
        return x / 2
    return fn


@pytest.mark.parametrize("fn, words", [
    (lambda x: np.exp(x * 1000.0) / 2, "overflow encountered"),
    (lambda x: np.zeros(2) / np.zeros(2) + x / 2, "invalid value"),
    (lambda x: np.log(x - x) * 0 + x / 2, "divide by zero"),
])
def test_numerical_runtime_warnings_fail(fn, words):
    with pytest.raises(CheckFailed, match=f"RuntimeWarning: {words}") as info:
        run("halve", fn, CASES)
    assert "stderr" not in str(info.value), "the message must not claim that the grader zeroes stderr"


@pytest.mark.parametrize("category", [UserWarning, DeprecationWarning, FutureWarning, RuntimeWarning])
def test_other_warnings_pass_with_a_note(category, capsys, monkeypatch):
    printed = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, cat, *a, **k: printed.append((cat, str(message))))
    run("halve", _warns(category), CASES * 3)  # three cases with the same warning: one note
    out = capsys.readouterr()
    assert printed == [(category, f"a library says hello ({category.__name__})")]
    assert out.err == ""
    notes = [line for line in out.out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and category.__name__ in notes[0] and "passes" in notes[0]
    assert "make grade" in notes[0] and "nbgrader autograde" in notes[0]
    assert out.out.strip().endswith("✔ halve: all 3 visible cases passed")


def test_a_passing_warning_goes_through_the_installed_printer(capsys, monkeypatch):
    """The grading kernel installs a printer that writes '[grader] warning: ...' on stdout and flags the cell."""
    def grader_printer(message, category, filename, lineno, file=None, line=None):
        print(f"[grader] warning: {category.__name__}: {message}")

    monkeypatch.setattr(warnings, "showwarning", grader_printer)
    run_case("halve", _warns(UserWarning), CASES[0])  # run_case on its own notes the warning at once
    out = capsys.readouterr()
    assert "[grader] warning: UserWarning: a library says hello" in out.out and out.err == ""


def test_is_numerical_warning():
    assert is_numerical_warning(RuntimeWarning, "overflow encountered in exp")
    assert is_numerical_warning(RuntimeWarning, "invalid value encountered in divide")
    assert is_numerical_warning(RuntimeWarning, "divide by zero encountered in log")
    assert not is_numerical_warning(RuntimeWarning, "underflow encountered in exp")
    assert not is_numerical_warning(RuntimeWarning, "Mean of empty slice")
    assert not is_numerical_warning(UserWarning, "overflow encountered in exp")


def test_allowed_warnings_pass_silently(capsys):
    case = Case("halves", args=(np.array([1.0, 3.0]),), expected=np.array([0.5, 1.5]), allow_warnings=True)
    run("halve", lambda x: (np.exp(np.float64(1000.0)), x / 2)[1], [case])
    assert "note:" not in capsys.readouterr().out


# --- what IPython shows: the message, not a traceback through llmcourse --------------------------------

def test_rendered_failure_is_the_message_alone():
    with pytest.raises(CheckFailed) as info:
        run("halve", lambda x: x / 3, CASES)
    lines = info.value._render_traceback_()
    assert len(lines) == 1 and lines[0].endswith(str(info.value))
    assert "CheckFailed" in lines[0] and "_core.py" not in lines[0]


def test_rendered_failure_points_at_the_learners_line():
    def broken(x):
        y = x + 1
        return y @ np.ones(5)  # the learner's mistake

    with pytest.raises(CheckFailed, match="your function raised ValueError") as info:
        run("halve", broken, CASES)
    lines = info.value._render_traceback_()
    assert len(lines) == 2, lines
    assert f"{__file__}, line" in lines[1] and "return y @ np.ones(5)" in lines[1]
    assert "llmcourse" not in lines[1].replace(__file__, "")


def test_a_property_that_calls_the_function_again_reports_its_error():
    calls = []

    def second_call_fails(x):
        calls.append(1)
        if len(calls) > 1:
            raise KeyError("second call")
        return x / 2

    case = Case("again", args=(np.array([1.0]),), prop=lambda got: second_call_fails(np.ones(1)) and None)
    with pytest.raises(CheckFailed, match="case 'again': your function raised KeyError"):
        run("halve", second_call_fails, [case])


@pytest.mark.slow
def test_in_a_kernel_failures_are_short_and_still_fail_nbgrader():
    """Real ipykernel via nbclient: what JupyterLab shows, and nbgrader's own grade of each test cell."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    def test_cell(source):
        meta = {"grade": True, "grade_id": f"t{len(cells)}", "locked": True, "points": 2, "solution": False,
                "schema_version": 3}
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})

    check = "checks.attention.softmax(softmax)"
    cells = [nbformat.v4.new_code_cell("import warnings\nimport numpy as np\nfrom llmcourse import checks")]
    bodies = {
        "stub": "    raise NotImplementedError()",
        "raises": "    y = x + 1\n    return y @ np.ones((5,))",
        "overflows": "    e = np.exp(x)\n    return e / e.sum(axis=axis, keepdims=True)",
        "warns": "    warnings.warn('from a library', UserWarning)\n"
                 "    e = np.exp(x - x.max(axis=axis, keepdims=True))\n    return e / e.sum(axis=axis, keepdims=True)",
    }
    where = {}
    for name, body in bodies.items():
        cells.append(nbformat.v4.new_code_cell(f"def softmax(x, axis=-1):\n{body}"))
        cells.append(test_cell(check))
        where[name] = len(cells) - 1
    nb = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3").execute()
    ansi = re.compile(r"\x1b\[[0-9;]*m")

    def error(name):
        errors = [o for o in nb.cells[where[name]].outputs if o.output_type == "error"]
        assert len(errors) == 1, nb.cells[where[name]].outputs
        return errors[0], ansi.sub("", "\n".join(errors[0].traceback)).splitlines()

    out, lines = error("stub")
    assert out.ename == "CheckFailed" and "not implemented yet" in out.evalue
    assert lines == [f"CheckFailed: {out.evalue}"]
    out, lines = error("raises")
    assert len(lines) == 2
    assert re.fullmatch(r"  raised at Cell In\[\d+\], line 3: return y @ np.ones\(\(5,\)\)", lines[1]), lines
    out, lines = error("overflows")
    assert "RuntimeWarning: overflow encountered in exp" in out.evalue and len(lines) == 1
    warned = nb.cells[where["warns"]].outputs
    assert [o.name for o in warned if o.output_type == "stream"] == ["stdout"], warned
    assert "UserWarning: from a library" in warned[0].text and "✔ softmax" in warned[0].text
    grades = {name: determine_grade(nb.cells[i])[0] for name, i in where.items()}
    assert grades == {"stub": 0, "raises": 0, "overflows": 0, "warns": 2}


def test_quiet_runs_forward_warnings_without_a_note(capsys, monkeypatch):
    printed = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, cat, *a, **k: printed.append(cat))
    run("halve (hidden)", _warns(UserWarning), CASES, quiet=True)
    assert printed == [UserWarning] and capsys.readouterr().out == ""
