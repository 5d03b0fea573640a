"""Execute a notebook in a fresh kernel and read off which graded test cells passed.

A test cell passes the way nbgrader scores it: no error output and nothing written to stderr.

    python -m autograde.nbrun solutions/01_attention/01_attention.ipynb [--small]
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from llmcourse.env import SMALL_ENV


@dataclass
class CellResult:
    """Outcome of one graded test cell."""

    grade_id: str
    points: float
    passed: bool
    detail: str


@contextmanager
def _environ(extra: dict[str, str]):
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(path: Path, small: bool = True, timeout: int = 300, allow_errors: bool = True,
            extra_env: dict[str, str] | None = None,
            nb: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """Run every cell of a notebook (in its own folder) and return the executed notebook.

    `nb`, when given, is executed instead of the file's contents, still in the file's folder.
    """
    nb = nbformat.read(path, as_version=4) if nb is None else nb
    env = {SMALL_ENV: "1" if small else "0", "MPLBACKEND": "agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    env.update(extra_env or {})
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent)}})
    with _environ(env):
        client.execute()
    return nb


def cell_failure(cell: nbformat.NotebookNode) -> str | None:
    """Why nbgrader would score this code cell 0 (an error or stderr output), or None."""
    for out in cell.get("outputs", []):
        if out.output_type == "error":
            return f"{out.ename}: {out.evalue}"
        if out.output_type == "stream" and out.name == "stderr":
            return f"stderr: {out.text.strip()[:300]}"
    return None


def graded_results(nb: nbformat.NotebookNode) -> list[CellResult]:
    """Pass/fail of every graded test cell of an executed notebook."""
    results = []
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbg.get("grade"):
            problem = cell_failure(cell)
            results.append(CellResult(nbg["grade_id"], float(nbg.get("points", 0)), problem is None, problem or ""))
    return results


def errors_outside_tests(nb: nbformat.NotebookNode) -> list[str]:
    """Errors or stderr in cells that are not graded tests (these break a learner's run)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        problem = cell_failure(cell)
        if problem:
            problems.append(f"cell {i} ({cell.id}): {problem}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Execute one notebook and print a line per graded cell."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--small", action="store_true", help="use the small test sizes")
    parser.add_argument("--save", type=Path, help="write the executed notebook here")
    args = parser.parse_args(argv)
    nb = execute(args.notebook.resolve(), small=args.small)
    if args.save:
        nbformat.write(nb, args.save)
    for problem in errors_outside_tests(nb):
        print(f"ERROR outside a test cell: {problem}")
    ok = True
    for r in graded_results(nb):
        ok &= r.passed
        print(f"{'PASS' if r.passed else 'FAIL'} {r.grade_id} ({r.points:g} pts) {r.detail}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
