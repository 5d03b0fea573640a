"""Build the notebooks from the single source: solutions/NN_slug/NN_slug.py -> .ipynb -> course/.

    python -m autograde.build            # rewrite solutions/*/*.ipynb and course/ in place
    python -m autograde.build --check    # build into a temporary folder, fail on any difference
    python -m autograde.build --out DIR  # build a copy under DIR

The source is a jupytext percent file whose cell fences carry nbgrader metadata as JSON. The build
refuses malformed metadata, duplicate or ill-formed grade ids, missing schema versions, unbalanced
solution / hidden-test markers and markers outside graded cells, naming the file, line and cell.
"""

from __future__ import annotations

import argparse
import filecmp
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from .settings import (
    ASSIGNMENT_RE,
    FENCES,
    GRADE_ID_RE,
    IGNORE,
    KERNELSPEC,
    RELEASE_DIR,
    REPO,
    SCHEMA_VERSION,
    SOURCE_DIR,
)

_COPY_SKIP = (".ipynb_checkpoints", "__pycache__", "*.pyc", "*.ipynb", "*.db")


class BuildError(Exception):
    """A source file cannot be built; the message names the file, line and cell."""


@dataclass
class Source:
    """One assignment's single source file."""

    assignment: str
    path: Path


def discover(root: Path = REPO) -> list[Source]:
    """All solutions/NN_slug/NN_slug.py files, sorted; a misnamed source file is an error."""
    found = []
    for folder in sorted((root / SOURCE_DIR).iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        if not ASSIGNMENT_RE.match(folder.name):
            raise BuildError(f"{folder}: assignment folders are named NN_slug (two digits, lower case)")
        path = folder / f"{folder.name}.py"
        if not path.exists():
            raise BuildError(f"{folder}: missing its source file {path.name}")
        found.append(Source(folder.name, path))
    return found


def _cell_lines(text: str) -> list[int]:
    """1-based line numbers of the `# %%` cell fences, in order."""
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("# %%")]


def _marker_count(source: str, marker: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip().startswith("###") and marker in line)


def validate(nb: nbformat.NotebookNode, path: Path, text: str) -> None:
    """Raise BuildError on the first problem with the nbgrader structure of a parsed source."""
    fence_lines = _cell_lines(text)
    first_cell_has_fence = text.lstrip().startswith("# %%")
    seen: dict[str, int] = {}
    solution_ids: set[str] = set()
    tests: list[tuple[str, str]] = []

    for index, cell in enumerate(nb.cells):
        fence_no = index if first_cell_has_fence else index - 1
        line = fence_lines[fence_no] if 0 <= fence_no < len(fence_lines) else 1
        where = f"{path}:{line} (cell {index})"
        meta = cell.metadata
        if "incorrectly_encoded_metadata" in meta:
            raise BuildError(f"{where}: cell metadata is not valid JSON: {meta['incorrectly_encoded_metadata']}")
        nbg = meta.get("nbgrader")
        markers = {m: _marker_count(cell.source, m) for m in FENCES}
        if nbg is None:
            used = [m for m, n in markers.items() if n]
            if used:
                raise BuildError(f"{where}: '### {used[0]}' in a cell without nbgrader metadata would leak")
            continue
        if not isinstance(nbg, dict):
            raise BuildError(f"{where}: nbgrader metadata must be a JSON object")
        if nbg.get("schema_version") != SCHEMA_VERSION:
            raise BuildError(f"{where}: nbgrader metadata needs \"schema_version\": {SCHEMA_VERSION}")
        for key in ("grade", "solution", "locked", "grade_id"):
            if key not in nbg:
                raise BuildError(f"{where}: nbgrader metadata is missing {key!r}")
        gid = nbg["grade_id"]
        if not isinstance(gid, str) or not GRADE_ID_RE.match(gid):
            raise BuildError(f"{where}: grade_id {gid!r} must match [a-z0-9_]+")
        if gid in seen:
            raise BuildError(f"{where}: duplicate grade_id {gid!r} (first used in cell {seen[gid]})")
        seen[gid] = index
        if cell.cell_type != "code":
            raise BuildError(f"{where}: only code cells may carry nbgrader metadata in this course")
        if markers["BEGIN SOLUTION"] != markers["END SOLUTION"]:
            raise BuildError(f"{where}: unbalanced ### BEGIN SOLUTION / ### END SOLUTION")
        if markers["BEGIN HIDDEN TESTS"] != markers["END HIDDEN TESTS"]:
            raise BuildError(f"{where}: unbalanced ### BEGIN HIDDEN TESTS / ### END HIDDEN TESTS")
        if nbg["solution"] and nbg["grade"]:
            raise BuildError(f"{where}: a cell is either a solution or a test, not both (grade_id {gid!r})")
        if nbg["solution"]:
            if nbg["locked"]:
                raise BuildError(f"{where}: a solution cell cannot be locked")
            if markers["BEGIN SOLUTION"] == 0:
                raise BuildError(f"{where}: solution cell {gid!r} has no ### BEGIN SOLUTION block")
            if markers["BEGIN HIDDEN TESTS"]:
                raise BuildError(f"{where}: hidden tests belong in the test cell, not solution {gid!r}")
            solution_ids.add(gid)
        elif nbg["grade"]:
            points = nbg.get("points")
            if not isinstance(points, (int, float)) or points <= 0:
                raise BuildError(f"{where}: test cell {gid!r} needs positive \"points\"")
            if not nbg["locked"]:
                raise BuildError(f"{where}: test cell {gid!r} must be locked")
            if markers["BEGIN HIDDEN TESTS"] == 0:
                raise BuildError(f"{where}: test cell {gid!r} has no ### BEGIN HIDDEN TESTS block")
            if markers["BEGIN SOLUTION"]:
                raise BuildError(f"{where}: solution markers inside test cell {gid!r}")
            if not gid.endswith("_test"):
                raise BuildError(f"{where}: test cell ids are '<exercise>_test', got {gid!r}")
            tests.append((gid, where))
        elif markers["BEGIN SOLUTION"] or markers["BEGIN HIDDEN TESTS"]:
            raise BuildError(f"{where}: markers in a cell that is neither solution nor test ({gid!r})")
    for gid, where in tests:
        if gid.removesuffix("_test") not in solution_ids:
            raise BuildError(f"{where}: test {gid!r} has no solution cell {gid.removesuffix('_test')!r}")
    if not tests:
        raise BuildError(f"{path}: no graded test cells")


def read_source(path: Path) -> nbformat.NotebookNode:
    """Parse and validate one source file into a clean notebook with fixed cell ids and no outputs."""
    text = path.read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="py:percent")
    validate(nb, path, text)
    clean = nbformat.v4.new_notebook()
    clean.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for index, cell in enumerate(nb.cells):
        nbg = cell.metadata.get("nbgrader")
        if cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source)
        elif cell.cell_type == "raw":
            new = nbformat.v4.new_raw_cell(cell.source)
        else:
            new = nbformat.v4.new_code_cell(cell.source)
        if nbg is not None:
            new.metadata["nbgrader"] = dict(nbg)
        new.id = nbg["grade_id"].replace("_", "-") if nbg else f"cell-{index:03d}"
        clean.cells.append(new)
    nbformat.validate(clean)
    return clean


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook with stable formatting (sorted keys, one-space indent, trailing newline)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(nb, version=4)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def _generate(root: Path, source_dir: Path, release_dir: Path, assignments: list[str]) -> None:
    """Run nbgrader generate_assignment in-process for each assignment."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    # nbgrader runs alembic as a subprocess; make sure this interpreter's scripts are on PATH.
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    with tempfile.TemporaryDirectory(prefix="llmcourse-gb-") as scratch:
        config = Config()
        config.CourseDirectory.root = str(root)
        config.CourseDirectory.source_directory = str(source_dir)
        config.CourseDirectory.release_directory = str(release_dir)
        config.CourseDirectory.ignore = list(IGNORE)
        config.CourseDirectory.db_url = f"sqlite:///{scratch}/gradebook.db"
        config.GenerateAssignment.db_url = f"sqlite:///{scratch}/gradebook.db"
        config.Application.log_level = "WARN"
        logging.getLogger("traitlets").setLevel(logging.WARNING)
        api = NbGraderAPI(config=config)
        for name in assignments:
            result = api.generate_assignment(name, force=True, create=True)
            if not result.get("success"):
                raise BuildError(f"nbgrader could not generate {name}:\n{result.get('error') or result.get('log')}")


def build(root: Path = REPO, out: Path | None = None, quiet: bool = False,
          only: list[str] | None = None) -> list[Path]:
    """Build every assignment (or those in only); in place when out is None, else under out."""
    sources = discover(root)
    if only:
        unknown = set(only) - {s.assignment for s in sources}
        if unknown:
            raise BuildError(f"no source for {sorted(unknown)}")
        sources = [s for s in sources if s.assignment in only]
    out = root if out is None else out
    src_dir, rel_dir = out / SOURCE_DIR, out / RELEASE_DIR
    if out != root:
        shutil.copytree(root / SOURCE_DIR, src_dir, ignore=shutil.ignore_patterns(*_COPY_SKIP),
                        dirs_exist_ok=True)
    notebooks = {s.assignment: read_source(s.path) for s in sources}  # validate all before writing
    written = []
    for name, nb in notebooks.items():
        path = src_dir / name / f"{name}.ipynb"
        write_notebook(nb, path)
        written.append(path)
    rel_dir.mkdir(parents=True, exist_ok=True)
    for stale in rel_dir.iterdir():
        if stale.is_dir() and ASSIGNMENT_RE.match(stale.name) and (not only or stale.name in only):
            shutil.rmtree(stale)
    _generate(out, src_dir, rel_dir, list(notebooks))
    for name in notebooks:
        for path in sorted((rel_dir / name).rglob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            write_notebook(nb, path)  # same stable formatting as the solution notebooks
            written.append(path)
        leaks = [p for p in (rel_dir / name).rglob("*") if p.is_file() and _leaks(p)]
        if leaks:
            raise BuildError(f"solution or hidden-test text reached the course folder: {leaks}")
    if not quiet:
        for path in written:
            print(f"wrote {path.relative_to(out)}")
    return written


def _leaks(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    return any(marker in text for marker in FENCES)


def generated_files(root: Path) -> list[Path]:
    """Relative paths of everything the build writes or copies (to compare two builds)."""
    files = [p.relative_to(root) for p in (root / SOURCE_DIR).glob("*/*.ipynb")]
    files += [p.relative_to(root) for p in (root / RELEASE_DIR).rglob("*")
              if p.is_file() and ASSIGNMENT_RE.match(p.relative_to(root / RELEASE_DIR).parts[0])]
    return sorted(files)


def check(root: Path = REPO) -> list[str]:
    """Rebuild into a temporary folder; return the generated paths that differ from the committed ones."""
    with tempfile.TemporaryDirectory(prefix="llmcourse-build-") as tmp:
        fresh = Path(tmp)
        build(root, out=fresh, quiet=True)
        ours, theirs = set(generated_files(root)), set(generated_files(fresh))
        problems = [f"missing (run make build): {p}" for p in sorted(theirs - ours)]
        problems += [f"stale (no longer generated): {p}" for p in sorted(ours - theirs)]
        problems += [f"differs (run make build): {p}" for p in sorted(ours & theirs)
                     if not filecmp.cmp(root / p, fresh / p, shallow=False)]
        return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed build is out of date")
    parser.add_argument("--out", type=Path, help="build under this folder instead of in place")
    parser.add_argument("--only", nargs="+", metavar="NN_slug", help="build only these assignments")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for p in problems:
                print(p)
            print("build is up to date" if not problems else f"{len(problems)} generated file(s) out of date")
            return 1 if problems else 0
        build(out=args.out.resolve() if args.out else None, only=args.only)
    except BuildError as exc:
        print(f"build error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
