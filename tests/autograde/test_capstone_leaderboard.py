"""The capstone's class leaderboard: a generated class of capstone submissions graded end to end.

The class: the reference solution, the documented W8 baseline, an honest model over the budget (two-bit
codes) and a cheating byte count (a dict subclass that hides the scales from the counter). Grading writes
leaderboard.csv and a leaderboard section in report.html that ranks the first two and lists the others.
"""

from __future__ import annotations

import csv
import runpy

import pytest

from autograde.grade import GradeOptions, grade
from autograde.settings import REPO

from . import classgen

ASSIGNMENT = "13_capstone"
pytestmark = pytest.mark.skipif(not classgen.real_assignment_available(ASSIGNMENT), reason="no 13_capstone notebook")

BASELINE = {
    "compress": "def compress(config, params):\n    return w8_compress(config, params)\n",
    "forward": "def forward(compressed, ids):\n    return w8_forward(compressed, ids)\n",
}


def _with(course: classgen.Course, sources: dict[str, str]):
    nb = classgen.correct(course)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("capstone")
    course = classgen.make_course(tmp, ASSIGNMENT)
    wrong = runpy.run_path(str(classgen.MUTANTS / f"{ASSIGNMENT}.py"))["WRONG"]
    classgen.write(course, "reference", classgen.correct(course))
    classgen.write(course, "baseline", _with(course, BASELINE))
    classgen.write(course, "over_budget", _with(course, {"compress": wrong["compress"]["int2_over_budget"]}))
    classgen.write(course, "cheat_bytes", _with(course, {"compress": wrong["compress"]["dict_subclass_hides_scales"]}))
    out = tmp / "grading-output"
    summary = grade(GradeOptions(
        assignment=ASSIGNMENT, submissions=course.submitted, out=out, course_root=course.root,
        gradebook=course.root / "gradebook.db", workers=2, small=True, cell_timeout=120, interrupt_grace=2,
        student_timeout=600, memory=3 << 30, progress=False, sandbox="auto", env={"PYTHONPATH": str(REPO)}))
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    return summary, rows, (out / "report.html").read_text(encoding="utf-8")


def test_leaderboard_ranks_the_honest_models_by_bytes(graded):
    summary, rows, _ = graded
    assert set(rows) == {"reference", "baseline", "over_budget", "cheat_bytes"}
    ref, base = rows["reference"], rows["baseline"]
    assert (ref["rank"], base["rank"]) == ("1", "2"), rows
    assert ref["status"] == base["status"] == "ranked"
    assert float(ref["bytes_pct"]) <= 100 * leaderboard_tier(-1) < float(base["bytes_pct"]) <= 50
    for r in (ref, base):
        assert float(r["ppl_ratio"]) <= 1.10 and float(r["speed_ratio"]) > 0
        assert float(r["task_accuracy"]) >= float(r["fp32_task_accuracy"]) - 0.05
    students = summary["students"]
    assert students["reference"]["score"] > students["baseline"]["score"] > students["over_budget"]["score"]


def leaderboard_tier(i: int) -> float:
    from llmcourse.capstone import BYTE_TIERS

    return BYTE_TIERS[i]


def test_over_budget_and_cheating_byte_count_are_not_ranked(graded):
    summary, rows, _ = graded
    over, cheat = rows["over_budget"], rows["cheat_bytes"]
    assert over["rank"] == "" and over["status"] == "over budget"
    assert float(over["ppl_ratio"]) > 1.10 or float(over["task_accuracy"]) < float(over["fp32_task_accuracy"]) - 0.05
    assert cheat["rank"] == "" and cheat["status"].startswith("not ranked") and "dict" in cheat["status"]
    assert cheat["bytes"] == ""  # no number from a model whose byte count was refused
    cells = summary["students"]["cheat_bytes"]["notebooks"][f"{ASSIGNMENT}.ipynb"]["cells"]
    assert cells["compress_test"]["score"] == 0


def test_report_has_the_leaderboard_section_and_says_how_it_was_timed(graded):
    summary, _, report = graded
    assert '<section id="leaderboard">' in report and "<svg" in report
    assert "one student at a time" in report
    assert summary["run"]["workers"] == 1  # asked for 2: a leaderboard assignment is graded one at a time
    for student in ("reference", "baseline", "over_budget", "cheat_bytes"):
        assert student in report.split('<section id="leaderboard">', 1)[1]
