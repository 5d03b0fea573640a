"""Mutation checks: do the graded tests reject plausible wrong answers and accept correct alternatives?

For each assignment, tests/notebooks/mutants/<NN_slug>.py defines two dicts keyed by solution grade id:

    WRONG = {"softmax": {"no_max_shift": "def softmax(x, axis=-1):\\n    ..."}}
    RIGHT = {"softmax": {"logsumexp": "def softmax(x, axis=-1):\\n    ..."}}

Each value is the full replacement source of that solution cell. The runner executes the solution
notebook once in one kernel, then for every mutant runs the mutant cell followed by the exercise's
test cell (full, and visible part only), and restores the real solution afterwards.

    python -m tests.notebooks.mutation 01_attention     # prints the table
"""

from __future__ import annotations

import copy
import runpy
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograde.nbrun import _environ, cell_failure
from autograde.settings import HIDDEN_BLOCK, REPO, SOURCE_DIR
from llmcourse.env import SMALL_ENV

MUTANT_DIR = Path(__file__).with_name("mutants")


@dataclass
class Outcome:
    """What the test cell said about one mutant."""

    exercise: str
    name: str
    kind: str  # "wrong" or "right"
    passed_full: bool
    passed_visible: bool
    detail: str

    @property
    def ok(self) -> bool:
        """A wrong answer must fail the full test; a right one must pass it."""
        return self.passed_full == (self.kind == "right")


def load_mutants(assignment: str) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(WRONG, RIGHT) for an assignment."""
    ns = runpy.run_path(str(MUTANT_DIR / f"{assignment}.py"))
    return ns["WRONG"], ns["RIGHT"]


def visible_part(source: str) -> str:
    """A test cell's source with its hidden block removed (what the learner sees)."""
    return HIDDEN_BLOCK.sub("", source)


def run(assignment: str, timeout: int = 300) -> list[Outcome]:
    """Execute every mutant of one assignment and report each outcome."""
    wrong, right = load_mutants(assignment)
    path = REPO / SOURCE_DIR / assignment / f"{assignment}.ipynb"
    nb = nbformat.read(path, as_version=4)
    index = {c.metadata["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells) if "nbgrader" in c.metadata}
    for exercise in {**wrong, **right}:
        if exercise not in index or f"{exercise}_test" not in index:
            raise KeyError(f"{assignment}: mutants name {exercise!r}, which has no solution/test cell pair")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    outcomes: list[Outcome] = []
    with _environ({SMALL_ENV: "1", "MPLBACKEND": "agg"}), client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, i)
        for kind, table in (("wrong", wrong), ("right", right)):
            for exercise, variants in table.items():
                sol_i, test_i = index[exercise], index[f"{exercise}_test"]
                # nbclient's execute_cell stores the executed cell back into nb.cells[index], so keep
                # the original solution and test cells aside and restore both after every mutant.
                original = copy.deepcopy(nb.cells[sol_i])
                test_cell = copy.deepcopy(nb.cells[test_i])
                for name, code in variants.items():
                    mutant = nbformat.v4.new_code_cell(code)
                    client.execute_cell(mutant, sol_i)
                    setup_problem = cell_failure(mutant)
                    full = copy.deepcopy(test_cell)
                    full.outputs = []
                    client.execute_cell(full, test_i)
                    visible = nbformat.v4.new_code_cell(visible_part(test_cell.source))
                    client.execute_cell(visible, test_i)
                    problem = cell_failure(full)
                    detail = (problem or "") if not setup_problem else f"mutant cell itself failed: {setup_problem}"
                    summary = detail.splitlines()[0][:160] if detail else ""
                    outcomes.append(Outcome(exercise, name, kind, problem is None and not setup_problem,
                                            cell_failure(visible) is None, summary))
                    restored = copy.deepcopy(original)
                    client.execute_cell(restored, sol_i)
                    nb.cells[test_i] = copy.deepcopy(test_cell)
    return outcomes


def table(outcomes: list[Outcome]) -> str:
    """Markdown table of outcomes."""
    rows = ["| exercise | mutant | kind | full test | visible only | ok |", "|---|---|---|---|---|---|"]
    for o in outcomes:
        rows.append(f"| {o.exercise} | {o.name} | {o.kind} | {'pass' if o.passed_full else 'FAIL'} | "
                    f"{'pass' if o.passed_visible else 'FAIL'} | {'yes' if o.ok else 'NO'} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Print the mutation table of each named assignment; exit 1 when any outcome is wrong."""
    names = (argv if argv is not None else sys.argv[1:]) or sorted(p.stem for p in MUTANT_DIR.glob("[0-9]*.py"))
    bad = 0
    for name in names:
        outcomes = run(name)
        print(f"## {name}\n{table(outcomes)}\n")
        for o in outcomes:
            if not o.ok:
                bad += 1
                print(f"NOT OK: {o.exercise}/{o.name} ({o.kind}): {o.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
