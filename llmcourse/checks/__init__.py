"""Visible self-checks, one module per course module; each takes the learner's function."""

from . import attention, welcome
from ._core import CheckFailed

__all__ = ["CheckFailed", "attention", "welcome"]
