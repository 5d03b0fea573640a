"""Visible self-checks, one module per course module; each takes the learner's function.

    from llmcourse import checks
    checks.attention.softmax(softmax)

Submodules are imported on first use, so a notebook only pays for its own module's checks.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._core import CheckFailed

__all__ = ["CheckFailed"]


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(name)
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise AttributeError(f"llmcourse.checks has no module {name!r}") from None
        raise
    globals()[name] = module
    return module
