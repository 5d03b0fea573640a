"""The self-check engine: messages name the case and say what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from llmcourse.checks._core import Case, CheckFailed, compare, run

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
