"""Paths and nbgrader settings shared by the build, nbgrader_config.py and the tests."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIR = "solutions"
RELEASE_DIR = "course"
ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
GRADE_ID_RE = re.compile(r"^[a-z0-9_]+$")
SCHEMA_VERSION = 3
# Files nbgrader must never copy from solutions/ into course/ or a student's grading folder: the
# jupytext source holds every solution and hidden test in plain text.
IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.py", "*.db"]
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
FENCES = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# A whole hidden-test block (markers included), and one solution marker line.
HIDDEN_BLOCK = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
SOLUTION_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
