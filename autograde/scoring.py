"""Turn executed cells into scores and review flags (nbgrader's rules, with the warning policy below).

A test cell scores its points when it ran without an error (nbgrader: no error output; here also an
execute_reply status of "ok", so a swallowed exception still fails). nbgrader scores any stderr output 0.
Policy here:

- Warnings never reach stderr: the grading kernel prints them on stdout as `[grader] warning: ...`. A test
  cell that passes with a warning gets full marks and the flag `warning_in_test` for review.
- If stderr output in a passing cell consists only of Python warnings in the standard format (student code
  that restored the default warning printer), it also gets full marks with `warning_in_test`.
- Any other stderr output in an otherwise passing cell scores 0, as nbgrader does (tests that report
  failures on stderr without raising must still fail), flagged `stderr_only_failure` so a reviewer can
  override it.
- A numeric last value in a test cell gives partial credit, as in nbgrader.
- A test cell that ran after the helpers the tests rely on were changed (numpy's comparisons, the checks,
  builtins, the names np/checks/_core ...; found by the kernel's helper guard, see autograde/guard.py)
  scores 0 whatever its output, outcome `tampered`; the notebook is flagged `tampered_helper` once, at the
  first such cell, for manual review. The guard put the real helpers back before the test ran, so the
  executed notebook shows what the test really says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from nbgrader.utils import get_partial_grade

from .execute import CellRun, NotebookRun
from .prevalidate import Flag, ReleaseNotebook

WARNING_PREFIX = "[grader] warning: "
_WARNING_HEADER = re.compile(r"^.+?:\d+: (?:[A-Za-z_][\w.]*)?Warning: ", re.M)


@dataclass
class CellScore:
    """The score of one graded cell and why."""

    grade_id: str
    score: float | None
    max_score: float
    outcome: str  # passed | failed | warning_passed | stderr_failed | timeout | crashed | not_run | partial | manual
    #              | tampered
    detail: str = ""
    review: bool = False


@dataclass
class NotebookScore:
    """Scores and flags for one notebook."""

    cells: dict[str, CellScore]
    flags: list[Flag] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Sum of the cell scores (manual cells count 0 until graded)."""
        return sum(c.score or 0.0 for c in self.cells.values())


def pure_warnings(text: str) -> bool:
    """True when stderr text is nothing but Python warnings in warnings.formatwarning's layout."""
    text = text.strip("\n")
    if not text:
        return False
    first = _WARNING_HEADER.match(text)
    return first is not None and first.start() == 0


def _summary(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    more = f" (+{len(lines) - 1} more lines)" if len(lines) > 1 else ""
    return (lines[0][:150] if lines else "") + more


def _stream(outputs: list[dict[str, Any]], name: str) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream" and o.get("name") == name)


def score_test(grade_id: str, points: float, run: CellRun | None) -> tuple[CellScore, list[Flag]]:
    """Score one autograded test cell from its run."""
    flags: list[Flag] = []
    if run is not None and run.tamper:
        real = "passed" if run.status == "ok" and not run.error else run.status
        return CellScore(grade_id, 0.0, points, "tampered",
                         f"helpers the tests use were changed (with them put back the test {real})", review=True), flags
    if run is None or run.status == "not_run":
        detail = run.detail if run and run.detail else "not run"
        return CellScore(grade_id, 0.0, points, "not_run", detail, review=True), flags
    if run.status == "died":
        return CellScore(grade_id, 0.0, points, "crashed", run.detail, review=True), flags
    if run.status in ("killed", "timeout"):
        return CellScore(grade_id, 0.0, points, "timeout", run.detail, review=True), flags
    if run.status == "error" or run.error or run.reply != "ok":
        return CellScore(grade_id, 0.0, points, "failed", run.detail), flags
    if run.stderr:
        err = _stream(run.outputs, "stderr")
        if pure_warnings(err):
            flags.append(Flag("warning_in_test", "passed with a warning on stderr: " + _summary(err), grade_id))
            return CellScore(grade_id, points, points, "warning_passed", "warning on stderr", review=True), flags
        flags.append(Flag("stderr_only_failure", "no error, but stderr output: " + _summary(err), grade_id))
        return CellScore(grade_id, 0.0, points, "stderr_failed", "stderr output", review=True), flags
    out = _stream(run.outputs, "stdout")
    warned = [line for line in out.splitlines() if line.startswith(WARNING_PREFIX)]
    for o in run.outputs:
        if o.get("output_type") == "execute_result" and "text/plain" in o.get("data", {}):
            try:
                partial = float(get_partial_grade(o, points))
            except (ValueError, KeyError, TypeError):
                partial = points
            if partial < points:
                return CellScore(grade_id, partial, points, "partial", f"partial credit {partial:g}"), flags
    if warned:
        flags.append(Flag("warning_in_test", "passed with a warning: " + warned[0][len(WARNING_PREFIX):][:150],
                          grade_id))
        return CellScore(grade_id, points, points, "warning_passed", "warning", review=True), flags
    return CellScore(grade_id, points, points, "passed"), flags


def _label(book_cell_gid: str | None, index: int) -> str:
    return book_cell_gid or f"cell {index}"


def score_notebook(book: ReleaseNotebook, run: NotebookRun) -> NotebookScore:
    """Scores for every graded cell of an executed notebook, with the run's review flags."""
    nb = run.notebook
    flags: list[Flag] = []
    by_gid: dict[str, int] = {}
    for index, cell in enumerate(nb["cells"]):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in book.cells and gid not in by_gid:
            by_gid[gid] = index
    for index, cell_run in sorted(run.cells.items()):
        gid = nb["cells"][index].get("metadata", {}).get("nbgrader", {}).get("grade_id")
        label = _label(gid, index)
        if cell_run.status == "died":
            flags.append(Flag("kernel_died", cell_run.detail or "kernel died; restarted and replayed", label))
        elif cell_run.status == "killed":
            flags.append(Flag("cell_timeout", "did not stop when interrupted; sandbox killed and restarted", label))
        elif cell_run.status == "timeout":
            flags.append(Flag("cell_timeout", cell_run.detail, label))
        if any(o.get("output_type") == "error" and o.get("ename") == "MemoryError" for o in cell_run.outputs):
            flags.append(Flag("memory_limit", "MemoryError (memory limit reached)", label))
        if cell_run.truncated:
            flags.append(Flag("output_truncated", "output beyond the size limit was dropped", label))
    cells: dict[str, CellScore] = {}
    tampered: list[tuple[str, str]] = []
    for gid, rc in sorted(book.cells.items(), key=lambda kv: kv[1].order):
        if rc.kind == "test":
            index = by_gid.get(gid)
            cell_run = run.cells.get(index) if index is not None else None
            score, more = score_test(gid, rc.points, cell_run)
            cells[gid] = score
            flags += more
            if cell_run is not None and cell_run.tamper:
                tampered.append((gid, cell_run.tamper))
        elif rc.kind == "manual":
            cells[gid] = CellScore(gid, None, rc.points, "manual", "needs manual grading", review=True)
    if tampered:
        flags.append(Flag("tampered_helper", f"{tampered[0][1][:400]}; {len(tampered)} test cell(s) scored 0 "
                          "from here (review: the executed notebook shows each test's result with the real helpers)",
                          tampered[0][0]))
    if run.leftovers:
        flags.append(Flag("leftover_process", "; ".join(run.leftovers)[:300]))
    if run.survivors:
        flags.append(Flag("survivor_killed", "; ".join(run.survivors)[:300]))
    return NotebookScore(cells, flags)


def zero_scores(book: ReleaseNotebook, outcome: str, detail: str) -> NotebookScore:
    """All-zero scores for a notebook that could not be executed (invalid, missing, failed to start)."""
    cells = {gid: CellScore(gid, 0.0 if rc.kind == "test" else None, rc.points, outcome, detail, review=True)
             for gid, rc in sorted(book.cells.items(), key=lambda kv: kv[1].order) if rc.kind in ("test", "manual")}
    return NotebookScore(cells)
