"""The course gates: the build is in sync, solutions pass, stubs fail, nothing leaks, tests have teeth."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import nbformat
import pytest

from autograde import build, nbrun
from autograde.settings import FENCES, GRADE_ID_RE, HIDDEN_BLOCK, RELEASE_DIR, REPO, SOURCE_DIR

from . import mutation, prose_numbers

ASSIGNMENTS = [s.assignment for s in build.discover(REPO)]
ARTIFACTS = REPO / "test-artifacts"
PEAK_LIMIT_MB = 1500


def solution_path(a: str) -> Path:
    return REPO / SOURCE_DIR / a / f"{a}.ipynb"


def course_path(a: str) -> Path:
    return REPO / RELEASE_DIR / a / f"{a}.ipynb"


@cache
def executed(path: Path, small: bool = True) -> nbformat.NotebookNode:
    return nbrun.execute(path, small=small)


def test_there_are_assignments():
    assert {"00_welcome", "01_attention"} <= set(ASSIGNMENTS)


@pytest.mark.slow
def test_build_is_in_sync_with_sources():
    problems = build.check(REPO)
    assert not problems, "generated notebooks are out of date:\n" + "\n".join(problems)


def test_no_solution_or_hidden_text_under_course():
    leaks = []
    for path in (REPO / RELEASE_DIR).rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="ignore")
            leaks += [f"{path.relative_to(REPO)}: {m}" for m in FENCES if m in text]
    assert not leaks, leaks
    assert not list((REPO / RELEASE_DIR).rglob("*.py")), "source files must not be released"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_graded_cells_are_well_formed(assignment):
    nb = nbformat.read(solution_path(assignment), as_version=4)
    ids, solutions, tests = [], set(), {}
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader")
        if not nbg:
            continue
        assert nbg["schema_version"] == 3
        assert GRADE_ID_RE.match(nbg["grade_id"])
        ids.append(nbg["grade_id"])
        if nbg["solution"]:
            solutions.add(nbg["grade_id"])
        if nbg["grade"]:
            assert nbg["points"] > 0, nbg["grade_id"]
            assert "### BEGIN HIDDEN TESTS" in cell.source, f"{nbg['grade_id']} has no hidden tests"
            hidden = HIDDEN_BLOCK.findall(cell.source)
            assert any(re.search(r"\bassert\b|raise|np\.testing|check", h) for h in hidden), nbg["grade_id"]
            tests[nbg["grade_id"]] = nbg["points"]
    assert len(ids) == len(set(ids)), "duplicate grade ids"
    assert {t.removesuffix("_test") for t in tests} == solutions
    course = nbformat.read(course_path(assignment), as_version=4)
    stubs = [c for c in course.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(solutions)
    assert all("raise NotImplementedError()" in c.source for c in stubs)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_passes_every_test_at_default_sizes_within_binder_memory(assignment):
    """The learner's default sizes (not the small test sizes): every graded cell passes, peak memory < 1.5 GB,
    and every number or claim annotated in the prose agrees with what the run computed (prose_numbers.py)."""
    nb = nbformat.read(solution_path(assignment), as_version=4)
    facts = prose_numbers.notebook_facts(nb)
    nb.cells.append(prose_numbers.evaluation_cell(facts))
    nb.cells.append(nbformat.v4.new_code_cell(
        "import resource\nprint('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"))
    done = nbrun.execute(solution_path(assignment), small=False, timeout=600, nb=nb)
    ARTIFACTS.mkdir(exist_ok=True)
    nbformat.write(done, ARTIFACTS / f"default-{assignment}.ipynb")  # the learner's view, outputs and plots kept
    assert not nbrun.errors_outside_tests(done)
    failed = [f"{r.grade_id}: {r.detail}" for r in nbrun.graded_results(done) if not r.passed]
    assert not failed, failed
    wrong = prose_numbers.problems(facts, done.cells[-2])
    print(f"{assignment}: {len(facts)} annotated numbers and claims in the prose checked against the run")
    assert not wrong, "the prose disagrees with the run:\n" + "\n".join(wrong)
    text = "".join(o.get("text", "") for o in done.cells[-1].outputs)
    peak_mb = int(re.search(r"PEAK_RSS_KB (\d+)", text).group(1)) / 1024
    print(f"{assignment}: peak kernel memory at default sizes {peak_mb:.0f} MB")
    assert peak_mb < PEAK_LIMIT_MB


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_course_notebook_passes_no_test(assignment):
    nb = executed(course_path(assignment))
    results = nbrun.graded_results(nb)
    assert results
    passed = [r.grade_id for r in results if r.passed]
    assert not passed, f"untouched stubs pass {passed}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_tests_reject_wrong_answers_and_accept_alternatives(assignment):
    wrong, right = mutation.load_mutants(assignment)
    nb = nbformat.read(solution_path(assignment), as_version=4)
    exercises = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    thin = [e for e in exercises if len(wrong.get(e, {})) < 2 or len(right.get(e, {})) < 1]
    assert not thin, f"exercises needing 2+ wrong and 1+ right mutants: {sorted(thin)}"
    outcomes = mutation.run(assignment)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"mutations-{assignment}.md").write_text(mutation.table(outcomes) + "\n")
    bad = [f"{o.exercise}/{o.name} ({o.kind}): {o.detail or 'passed'}" for o in outcomes if not o.ok]
    assert not bad, bad
