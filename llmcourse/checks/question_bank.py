"""Visible self-checks for module 14_question_bank: graded interview answers have the right form.

These checks only look at the form of an answer (a number, a letter, a set of letters, a line number);
the values are checked by the hidden tests, so nothing here knows an answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._core import CheckFailed


def _fail(name: str, problem: str) -> CheckFailed:
    return CheckFailed(f"{name}: {problem}")


def number(name: str, value: Any) -> float:
    """A finite positive number (int or float, NumPy scalars too); prints one line on success."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(name, f"expected a number such as 1.5e9 or 2 * 3 * 4, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise _fail(name, f"expected a finite positive number, got {value}")
    print(f"✔ {name}: a positive number (the hidden tests check its value)")
    return value


def _letters(name: str, value: Any, allowed: str) -> list[str]:
    if isinstance(value, str):
        picked = [c for c in value.lower() if not c.isspace() and c not in ",;"]
    elif isinstance(value, Iterable):
        picked = []
        for item in value:
            if not isinstance(item, str):
                raise _fail(name, f"expected letters, got {item!r} inside {value!r}")
            picked += [c for c in item.lower() if not c.isspace()]
    else:
        raise _fail(name, f"expected a string of letters such as 'b', got {value!r}")
    bad = [c for c in picked if c not in allowed]
    if bad:
        raise _fail(name, f"{bad[0]!r} is not one of the options {', '.join(allowed)}")
    if len(set(picked)) != len(picked):
        raise _fail(name, f"a letter appears twice in {value!r}")
    return picked


def choice(name: str, value: Any, allowed: str = "abcd") -> str:
    """Exactly one option letter (case and spaces ignored); prints one line on success."""
    picked = _letters(name, value, allowed)
    if len(picked) != 1:
        raise _fail(name, f"expected exactly one letter out of {allowed}, got {value!r}")
    print(f"✔ {name}: one option letter (the hidden tests check which)")
    return picked[0]


def choices(name: str, value: Any, allowed: str = "abcd") -> set[str]:
    """One or more option letters, as 'ac', ['a', 'c'] or {'a', 'c'}; prints one line on success."""
    picked = _letters(name, value, allowed)
    if not picked:
        raise _fail(name, "choose at least one option")
    print(f"✔ {name}: {len(picked)} option letter(s) (the hidden tests check which)")
    return set(picked)


def line_number(name: str, value: Any, n_lines: int) -> int:
    """A line number from 1 to n_lines (an int, or a string of digits); prints one line on success."""
    if isinstance(value, (bool, np.bool_)):
        raise _fail(name, f"expected a line number, got {value!r}")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, (int, np.integer)):
        raise _fail(name, f"expected a whole line number from 1 to {n_lines}, got {value!r}")
    if not 1 <= int(value) <= n_lines:
        raise _fail(name, f"lines are numbered 1 to {n_lines}, got {value}")
    print(f"✔ {name}: a line number from 1 to {n_lines} (the hidden tests check which)")
    return int(value)
