"""The nbgrader gradebook, written by one process only, with a backup and a check after every write.

    store = GradebookStore(Path("gradebook.db"), course_id="llmcourse")
    store.backup(out / "backups")                 # a consistent copy before anything is written
    store.register("01_attention", release)       # assignment, notebooks and cells, as generate_assignment does
    problems = store.write("alice", "01_attention", scores, flagged)

Before each write the file's hash is compared with the one recorded after the previous write: a change in
between means something else wrote to the gradebook (student code, when running without the sandbox, or the
instructor's formgrader). After each write, every row that does not belong to this student is compared with
the state before it, and the scores are read back.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.utils import compute_checksum
from sqlalchemy.exc import SAWarning

from .prevalidate import ReleaseNotebook
from .scoring import NotebookScore

_STUDENT_ROWS = {
    "student": "SELECT * FROM student WHERE id != :s",
    "submitted_assignment": "SELECT * FROM submitted_assignment WHERE student_id != :s",
    "submitted_notebook": ("SELECT sn.* FROM submitted_notebook sn JOIN submitted_assignment sa "
                           "ON sn.assignment_id = sa.id WHERE sa.student_id != :s"),
    "grade": ("SELECT g.* FROM grade g JOIN submitted_notebook sn ON g.notebook_id = sn.id "
              "JOIN submitted_assignment sa ON sn.assignment_id = sa.id WHERE sa.student_id != :s"),
    "comment": ("SELECT c.* FROM comment c JOIN submitted_notebook sn ON c.notebook_id = sn.id "
                "JOIN submitted_assignment sa ON sn.assignment_id = sa.id WHERE sa.student_id != :s"),
}


def _ensure_alembic_on_path() -> None:
    """nbgrader runs `alembic` in a subprocess when it creates a gradebook."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


_EMPTY: dict[str, Path] = {}


def _create(path: Path, course_id: str) -> None:
    """A new, empty gradebook (nbgrader runs alembic once per process; later ones are copies)."""
    template = _EMPTY.get(course_id)
    if template is None or not template.exists():
        folder = Path(tempfile.mkdtemp(prefix="llmcourse-gb-"))
        atexit.register(shutil.rmtree, folder, True)
        template = folder / "empty.db"
        with Gradebook(f"sqlite:///{template}", course_id=course_id) as gb:
            gb.engine.dispose()
        _EMPTY[course_id] = template
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes ('' when it does not exist)."""
    if not path.exists():
        return ""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sqlite_copy(src: Path, dest: Path) -> None:
    """A consistent copy of an sqlite database (the backup API), written atomically."""
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(tmp) as target:
        source.backup(target)
    source.close()
    target.close()
    os.replace(tmp, dest)


def snapshot(path: Path, exclude_student: str | None = None) -> dict[str, list[tuple]]:
    """Every row of the gradebook, sorted, leaving out the rows that belong to one student."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        out = {}
        for table in tables:
            if exclude_student is not None and table in _STUDENT_ROWS:
                rows = con.execute(_STUDENT_ROWS[table], {"s": exclude_student}).fetchall()
            else:
                rows = con.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - names from sqlite_master
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


class GradebookStore:
    """Single-writer access to an nbgrader gradebook with tamper detection."""

    def __init__(self, path: Path, course_id: str, work: Path, sandboxed: bool) -> None:
        self.path = path.resolve()
        self.course_id = course_id
        self.sandboxed = sandboxed
        work.mkdir(parents=True, exist_ok=True)
        self.lastgood = work / "gradebook.lastgood.db"
        self.events: list[str] = []
        _ensure_alembic_on_path()
        self._gb: Gradebook | None = None
        self._expected = ""
        if not self.path.exists():
            _create(self.path, course_id)
        self._gradebook()
        self._seal()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the gradebook."""
        return f"sqlite:///{self.path}"

    def _gradebook(self) -> Gradebook:
        """The one open connection (reopened after a restore)."""
        if self._gb is None:
            self._gb = Gradebook(self.url, course_id=self.course_id)
        return self._gb

    def close(self) -> None:
        """Close the connection."""
        if self._gb is not None:
            self._gb.close()
            self._gb.engine.dispose()
            self._gb = None

    def _seal(self) -> None:
        sqlite_copy(self.path, self.lastgood)
        self._expected = file_hash(self.path)

    def backup(self, folder: Path) -> Path:
        """Copy the gradebook into folder with a timestamped name; return the copy's path."""
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / f"gradebook-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.db"
        sqlite_copy(self.path, dest)
        return dest

    def check_untouched(self) -> str | None:
        """None if nobody else wrote since our last write; else restore (unsandboxed) and say what happened."""
        if file_hash(self.path) == self._expected:
            return None
        if self.sandboxed:
            event = "gradebook changed by another program during grading (kept; sandboxed code cannot reach it)"
            self._seal()
        else:
            self.close()
            tmp = self.path.with_name(self.path.name + ".restore")
            shutil.copyfile(self.lastgood, tmp)
            os.replace(tmp, self.path)
            Path(str(self.path) + "-journal").unlink(missing_ok=True)
            event = "gradebook modified outside the grader: restored from the last good copy"
            self._expected = file_hash(self.path)
        self.events.append(event)
        return event

    def register(self, assignment: str, books: list[ReleaseNotebook]) -> None:
        """Create or update the assignment, its notebooks and cells (what generate_assignment records)."""
        gb = self._gradebook()
        gb.update_or_create_assignment(assignment)
        for book in books:
            self._register_notebook(gb, assignment, book)
        self._seal()

    def _register_notebook(self, gb: Gradebook, assignment: str, book: ReleaseNotebook) -> None:
        graded = {gid for gid, c in book.cells.items() if c.kind in ("test", "manual")}
        try:
            existing = gb.find_notebook(book.name, assignment)
        except MissingEntry:
            existing = None
        if existing is not None and {c.name for c in existing.grade_cells} != graded:
            if existing.submissions:
                raise RuntimeError(f"the gradebook's graded cells for {book.name} differ from the source and it "
                                   "already holds submissions; grade into a fresh gradebook (--gradebook)")
            gb.remove_notebook(book.name, assignment)
            existing = None
        if existing is None:
            kernelspec = json.dumps(book.release.get("metadata", {}).get("kernelspec", {}))
            gb.add_notebook(book.name, assignment, kernelspec=kernelspec)
        for gid, rc in book.cells.items():
            cell = nbformat.from_dict(rc.release if rc.kind == "solution" else rc.source)
            if rc.kind in ("test", "manual"):
                gb.update_or_create_grade_cell(gid, book.name, assignment, max_score=rc.points,
                                               cell_type=cell.cell_type)
            if rc.kind in ("solution", "manual"):
                gb.update_or_create_solution_cell(gid, book.name, assignment)
            gb.update_or_create_source_cell(gid, book.name, assignment, cell_type=cell.cell_type,
                                            locked=bool(cell.metadata.nbgrader.get("locked")), source=cell.source,
                                            checksum=compute_checksum(cell))

    def write(self, student: str, assignment: str, scores: dict[str, NotebookScore], flagged: dict[str, bool],
              timestamp: str | None = None) -> list[str]:
        """Record one student's scores; return problems found by the checks (empty when all is well)."""
        problems = []
        event = self.check_untouched()
        if event:
            problems.append(event)
        before = snapshot(self.path, exclude_student=student)
        gb = self._gradebook()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(student)
            kwargs: dict[str, Any] = {"timestamp": timestamp} if timestamp else {}
            gb.update_or_create_submission(assignment, student, **kwargs)
            for name, notebook in scores.items():
                for gid, cell in notebook.cells.items():
                    grade = gb.find_grade(gid, name, assignment, student)
                    grade.auto_score = cell.score
                    grade.needs_manual_grade = bool(cell.review or cell.score is None)
                gb.find_submission_notebook(name, assignment, student).flagged = bool(flagged.get(name))
            gb.db.commit()
            for name, notebook in scores.items():
                for gid, cell in notebook.cells.items():
                    got = gb.find_grade(gid, name, assignment, student).auto_score
                    if got != cell.score:
                        problems.append(f"read back {name}/{gid}: {got} instead of {cell.score}")
        if snapshot(self.path, exclude_student=student) != before:
            problems.append("rows of other students changed while writing this student")
        self._seal()
        return problems

    def holds(self, student: str, assignment: str, scores: dict[str, dict[str, float | None]]) -> bool:
        """Whether the gradebook already has exactly these auto scores ({notebook: {grade id: score}})."""
        gb = self._gradebook()
        try:
            for name, cells in scores.items():
                for gid, score in cells.items():
                    if gb.find_grade(gid, name, assignment, student).auto_score != score:
                        return False
        except MissingEntry:
            return False
        return True

    def total(self, student: str, assignment: str) -> float | None:
        """The student's total score as nbgrader computes it (None without a submission)."""
        try:
            return float(self._gradebook().find_submission(assignment, student).score)
        except MissingEntry:
            return None

    def students(self) -> list[str]:
        """Student ids known to the gradebook."""
        return [s.id for s in self._gradebook().students]
