"""The grading pipeline end to end on a generated class built from a real course notebook.

One run grades every case (honest, broken, malicious) with two workers; each test below checks one promise
of the pipeline against that run. Sandbox-only promises skip, saying why, when bubblewrap is unavailable.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import sqlite3
from dataclasses import asdict
from pathlib import Path

import pytest

from autograde.grade import GradeOptions, grade
from autograde.sandbox import probe_bwrap
from autograde.settings import REPO

from . import classgen

REAL = next((a for a in ("01_attention", "00_welcome") if classgen.real_assignment_available(a)), None)
# LLMCOURSE_TEST_NO_SANDBOX=1 runs this module as a machine without bubblewrap would.
FORCED = "without bubblewrap (LLMCOURSE_TEST_NO_SANDBOX=1)" if os.environ.get("LLMCOURSE_TEST_NO_SANDBOX") else None
SANDBOX_MISSING = FORCED or probe_bwrap()
CASES = ["correct", "stub", "partial", "alternative", "cheat", "duplicated", "deleted_tests", "renamed",
         "invalid_json", "empty_file", "missing", "segfault", "loop_python", "loop_numba", "memory_bomb",
         "warning", "stderr_print", "file_attacks", "aa_planted", "detached"]
KINDS = ["correct", "stub", "partial", "alternative", "cheat", "duplicated", "deleted_tests", "renamed",
         "invalid_json", "empty_file", "missing", "segfault", "loop_python", "loop_numba", "memory_bomb",
         "warning", "stderr_print", "file_attacks", "planted", "detached"]
HONEST_FULL = ["correct", "alternative", "renamed", "duplicated", "deleted_tests", "warning"]
# issue 12: changing the helpers the tests rely on (classgen.tamper_variants); the last four need llmcourse.checks
TAMPER = ["tamper_numpy_alias", "tamper_testing_alias", "tamper_builtins", "tamper_namespace", "tamper_runner_alias",
          "tamper_sys_modules", "tamper_code_swap", "tamper_dict_write", "tamper_in_function", "tamper_late"]
TAMPER_REAL = TAMPER if REAL else TAMPER[:4]
CASES += TAMPER_REAL
KINDS += TAMPER_REAL


def _options(course: classgen.Course, out: Path, gradebook: Path) -> GradeOptions:
    return GradeOptions(assignment=course.assignment, submissions=course.submitted, out=out,
                        course_root=course.root, gradebook=gradebook, workers=2, small=True, cell_timeout=12,
                        interrupt_grace=2, student_timeout=300, memory=3 << 30, progress=False,
                        sandbox="none" if FORCED else "auto",
                        env={"PYTHONPATH": str(REPO)})  # this checkout's llmcourse (a worktree's, not the venv's)


def _grade_class(tmp: Path) -> dict:
    """Build the class, grade it once, and return everything the tests check (JSON-able)."""
    course = classgen.make_course(tmp, REAL) if REAL else classgen.tiny_assignment(tmp)
    out = tmp / "grading-output"
    gradebook = course.root / "gradebook.db"
    from nbgrader.api import Gradebook

    from autograde.gradebook import _ensure_alembic_on_path

    _ensure_alembic_on_path()
    with Gradebook(f"sqlite:///{gradebook}", course_id="llmcourse") as gb:
        gb.update_or_create_student("missing", first_name="On", last_name="Roster")
        gb.update_or_create_student("sentinel", first_name="Keep", last_name="Me", email="keep@example.org")
    cases = classgen.build_class(course, out, gradebook, kinds=KINDS, sandboxed=SANDBOX_MISSING is None)
    before = {str(p): classgen.digest(p) for p in course.root.rglob("*") if p.is_file()
              and "submitted" not in p.parts and p != gradebook}
    submitted = {str(p): classgen.digest(p) for p in course.submitted.rglob("*") if p.is_file()}
    summary = grade(_options(course, out, gradebook))
    if SANDBOX_MISSING:  # without the sandbox this write really happened; nothing checks it then
        for target in cases["file_attacks"].notes["targets"]["WRITE"]:
            if target.startswith("/tmp/llmcourse-evil-"):
                Path(target).unlink(missing_ok=True)
    return {"root": str(course.root), "assignment": course.assignment, "out": str(out), "gradebook": str(gradebook),
            "cases": {s: asdict(c) for s, c in cases.items()}, "summary": summary, "before": before,
            "submitted": submitted}


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """The graded class, computed once per test session even when pytest-xdist runs several workers."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "grading-class"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "result.json"
        if not done.exists():
            done.write_text(json.dumps(_grade_class(shared)))
    data = json.loads(done.read_text())
    return {"course": classgen.load_course(Path(data["root"]), data["assignment"]), "out": Path(data["out"]),
            "gradebook": Path(data["gradebook"]), "summary": data["summary"],
            "cases": {s: classgen.Case(**c) for s, c in data["cases"].items()},
            "before": {Path(p): d for p, d in data["before"].items()},
            "submitted": {Path(p): d for p, d in data["submitted"].items()}}


def _record(graded, student):
    return graded["summary"]["students"][student]


def _notebook(graded, student):
    course = graded["course"]
    path = graded["out"] / "autograded" / student / course.assignment / course.name
    return json.loads(path.read_text())


def _test_cell(nb, gid):
    return next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid)


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_class_is_real_course_notebook():
    if REAL is None:
        pytest.skip("no course notebook built yet (solutions/00_welcome or 01_attention): used a tiny one")
    assert REAL in ("00_welcome", "01_attention")


@pytest.mark.parametrize("student", CASES)
def test_status_and_score(graded, student):
    case = graded["cases"][student]
    record = _record(graded, student)
    if "(" in case.status and not case.status.endswith(")"):
        assert record["status"].startswith(case.status), record
    else:
        assert record["status"] == case.status, record
    assert record["score"] == pytest.approx(case.score), record
    assert record["max_score"] == pytest.approx(graded["course"].max_score)
    for flag in case.flags:
        assert any(f.startswith(flag) for f in record["flags"]), (flag, record["flags"])
    if case.status == "graded":
        assert record["flags"] == [], record["flags"]


def test_honest_students_get_full_marks(graded):
    full = graded["course"].max_score
    assert {s: _record(graded, s)["score"] for s in HONEST_FULL} == {s: full for s in HONEST_FULL}


def test_visible_only_cheat_passes_visible_checks_and_fails_hidden(graded):
    nb = _notebook(graded, "cheat")
    for gid in graded["cases"]["cheat"].notes["cheat_tests"]:
        cell = _test_cell(nb, gid)
        assert "✔" in _text(cell), f"{gid}: the visible check should pass for the cheat"
        assert _record(graded, "cheat")["notebooks"][graded["course"].name]["cells"][gid]["score"] == 0


@pytest.mark.parametrize("student", TAMPER_REAL)
def test_tampering_never_gets_silent_credit(graded, student):
    """Every test cell from the first one after the change scores 0 as `tampered`; earlier cells keep theirs."""
    course = graded["course"]
    record = _record(graded, student)
    cells = record["notebooks"][course.name]["cells"]
    flag = next(f for f in record["flags"] if f.startswith("tampered_helper"))
    first = flag.split("[", 1)[1].split("]", 1)[0]
    order = [c.metadata["nbgrader"]["grade_id"] for c in course.cells("test")]
    for gid in order[order.index(first):]:
        assert (cells[gid]["score"], cells[gid]["outcome"]) == (0, "tampered"), (gid, cells[gid])
    assert record["score"] == pytest.approx(classgen.tests_before(course, first)), "cells before the change count"
    assert record["status"] == "graded+flags"


def test_tampered_cells_ran_with_the_real_helpers(graded):
    """The guard puts the helpers back before the test, so the reviewer sees the test's real verdict."""
    if not REAL:
        pytest.skip("needs a course notebook with llmcourse.checks")
    nb = _notebook(graded, "tamper_runner_alias")
    first = graded["course"].cells("test")[0].metadata["nbgrader"]["grade_id"]
    errors = [o for o in _test_cell(nb, first).get("outputs", []) if o.get("output_type") == "error"]
    assert errors and "not implemented yet" in errors[0]["evalue"], errors
    detail = _record(graded, "tamper_runner_alias")["notebooks"][graded["course"].name]["cells"][first]["detail"]
    assert "with them put back the test error" in detail, detail


def test_kernel_failures_cost_only_their_own_exercise(graded):
    iso = classgen.isolated_exercise(graded["course"])
    for student in ("segfault", "loop_python", "loop_numba", "memory_bomb"):
        cells = _record(graded, student)["notebooks"][graded["course"].name]["cells"]
        lost = [gid for gid, c in cells.items() if c["score"] != c["max_score"]]
        assert lost == [f"{iso}_test"], (student, lost)


def test_gradebook_matches_the_export_and_is_intact(graded):
    from nbgrader.api import Gradebook, MissingEntry

    course, summary = graded["course"], graded["summary"]
    con = sqlite3.connect(graded["gradebook"])
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with Gradebook(f"sqlite:///{graded['gradebook']}", course_id="llmcourse") as gb:
        sentinel = gb.find_student("sentinel")
        assert (sentinel.first_name, sentinel.last_name, sentinel.email) == ("Keep", "Me", "keep@example.org")
        for student in ("missing", "sentinel"):
            with pytest.raises(MissingEntry):
                gb.find_submission(course.assignment, student)
        for student, record in summary["students"].items():
            if record["status"] == "missing":
                continue
            sub = gb.find_submission(course.assignment, student)
            assert sub.score == pytest.approx(record["score"]), student
            for gid, cell in record["notebooks"][course.name]["cells"].items():
                got = gb.find_grade(gid, course.name, course.assignment, student).auto_score
                assert got == pytest.approx(cell["score"]), (student, gid)
    assert list((graded["out"] / "backups").glob("gradebook-*.db")), "the gradebook was backed up first"


def test_course_files_and_other_submissions_unchanged(graded):
    course = graded["course"]
    after = {p: classgen.digest(p) for p in course.root.rglob("*") if p.is_file() and "submitted" not in p.parts
             and p != graded["gradebook"]}
    if SANDBOX_MISSING:
        pytest.skip(f"sandbox-specific: {SANDBOX_MISSING}")
    assert after == graded["before"]
    for path, digest in graded["submitted"].items():
        assert classgen.digest(path) == digest, path


@pytest.mark.parametrize("student,kind", [("file_attacks", "WRITE"), ("file_attacks", "READ"),
                                          ("aa_planted", "WRITE")])
def test_sandbox_blocks_file_access(graded, student, kind):
    if SANDBOX_MISSING:
        pytest.skip(f"sandbox-specific: {SANDBOX_MISSING}")
    nb = _notebook(graded, student)
    text = "".join(_text(c) for c in nb["cells"])
    for target in graded["cases"][student].notes["targets"][kind]:
        if target.startswith("/tmp/llmcourse-evil-"):
            assert not Path(target).exists(), "the sandbox's /tmp is private and vanishes with it"
            continue
        assert f"{kind}-BLOCKED {target}" in text, (target, text[-2000:])
        if kind == "WRITE" and Path(target).exists():
            assert "pwned\n" not in Path(target).read_text(errors="ignore"), target


def test_no_network_and_a_minimal_view_in_the_sandbox(graded):
    if SANDBOX_MISSING:
        pytest.skip(f"sandbox-specific: {SANDBOX_MISSING}")
    out = classgen.run_snippet(graded["course"].assignment, (
        "import os, socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n    print('NET-OK')\n"
        "except OSError as e:\n    print('NET-BLOCKED', e)\n"
        f"print('REPO', sorted(os.listdir({str(REPO)!r})))\nprint('HOME', os.path.expanduser('~'), os.getcwd())"))
    assert "NET-BLOCKED" in out, out
    repo_line = next(line for line in out.splitlines() if line.startswith("REPO"))
    visible = set(eval(repo_line[5:]))  # noqa: S307 - a list literal printed by the kernel
    assert visible <= {".venv", "llmcourse"}, visible
    assert "/home/student" in out


def test_detached_processes_do_not_survive(graded):
    marker = graded["cases"]["detached"].notes["marker"]
    alive = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        alive.append(entry.name)
            except OSError:
                continue
    assert not alive, f"processes outlived grading: {alive}"
    flags = _record(graded, "detached")["flags"]
    assert any(f.startswith("leftover_process") for f in flags)


def test_outputs_csv_feedback_report(graded):
    out, course = graded["out"], graded["course"]
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == set(graded["summary"]["students"])
    assert rows["correct"]["status"] == "graded" and float(rows["correct"]["score"]) == course.max_score
    assert rows["invalid_json"]["status"].startswith("invalid(")
    status = json.loads((out / "status.json").read_text())
    assert status["students"]["missing"]["status"] == "missing"
    for student, record in status["students"].items():
        page = out / "feedback" / student / course.assignment / course.name.replace(".ipynb", ".html")
        assert page.exists() == (record["status"] != "missing"), student
        if page.exists():
            html = page.read_text()
            assert "BEGIN HIDDEN TESTS" not in html and "<script" not in html.lower()
    report = (out / "report.html").read_text()
    assert "data:image/png;base64," in report
    for student in ("segfault", "warning", "duplicated", "tamper_namespace"):
        assert f"<td>{student}</td>" in report
    assert "tampered_helper" in rows["tamper_namespace"]["flags"] and "tampered_helper" in report


def test_rerun_is_idempotent_and_reuses_every_student(graded):
    out = graded["out"]
    first = {name: (out / name).read_bytes() for name in ("grades.csv", "status.json")}
    again = grade(_options(graded["course"], out, graded["gradebook"]))
    assert again["run"]["graded"] == 0
    assert again["run"]["reused"] == len(graded["summary"]["students"])
    assert {name: (out / name).read_bytes() for name in first} == first
