"""Instructor use, end to end with stock nbgrader: a correct submission gets full marks, a stub gets 0.

This is the worked example from the README's instructor guide, run in a temporary course folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograde.settings import IGNORE, RELEASE_DIR, REPO, SOLUTION_MARKER, SOURCE_DIR

ASSIGNMENT = "01_attention"


def filled_in(stub: nbformat.NotebookNode, solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A learner's correct submission: the released notebook with every solution cell answered."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    done = nbformat.from_dict(stub)
    for cell in done.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = SOLUTION_MARKER.sub("", answers[gid])
    return done


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               LLMCOURSE_SMALL="1", MPLBACKEND="agg")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_stock_nbgrader_grades_correct_and_stub(tmp_path):
    root = tmp_path / "course-instructor"
    shutil.copytree(REPO / SOURCE_DIR / ASSIGNMENT, root / "source" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.ignore = {IGNORE!r}\n"
        "c.Execute.timeout = 120\n"
    )
    name = f"{ASSIGNMENT}.ipynb"
    solution = nbformat.read(REPO / SOURCE_DIR / ASSIGNMENT / name, as_version=4)
    stub = nbformat.read(REPO / RELEASE_DIR / ASSIGNMENT / name, as_version=4)
    for student, nb in {"alice": filled_in(stub, solution), "bob": stub}.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    gen = nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    assert gen.returncode == 0, gen.stderr[-3000:]
    for student in ("alice", "bob"):
        add = nbgrader(root, "db", "student", "add", student)
        assert add.returncode == 0, add.stderr[-2000:]
    graded = nbgrader(root, "autograde", ASSIGNMENT, "--force")
    assert graded.returncode == 0, graded.stderr[-3000:]

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        max_score = assignment.max_score
        scores = {s: gb.find_submission(ASSIGNMENT, s).score for s in ("alice", "bob")}
        per_cell = {g.name: g.score for g in gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "alice").grades}
    assert max_score > 0
    assert scores["alice"] == pytest.approx(max_score), per_cell
    assert scores["bob"] == 0
