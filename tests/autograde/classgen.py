"""Generate a class of submissions (honest, broken and malicious) from a real course notebook.

    course = make_course(tmp, "00_welcome")      # solutions/ + course/ copies in a temporary course root
    cases = build_class(course, kinds)           # writes submitted/<student>/<assignment>/... ; expected outcomes

Everything is derived from the instructor notebook and the release, so the same generator works for any
assignment: answers come from the solution cells, correct alternatives from tests/notebooks/mutants, the
visible-only cheat from recording the calls the visible checks make to the reference solution. Until a
course notebook exists, `tiny_assignment` writes a small one of the same shape.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re
import runpy
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograde.settings import HIDDEN_BLOCK, RELEASE_DIR, REPO, SOLUTION_MARKER, SOURCE_DIR

HIDDEN, SOLUTION = HIDDEN_BLOCK, SOLUTION_MARKER
MUTANTS = REPO / "tests" / "notebooks" / "mutants"
# Where a correct answer emits a harmless (non-numerical) warning: the visible checks let it pass with a note
# (llmcourse.checks._core.run_case), and the grading kernel prints it on stdout and flags the cell.
WARNING_INJECTION = {
    "00_welcome": ("pick_device",
                   'if "mps" not in report:\n        warnings.warn("no mps key; assuming no Apple GPU")'),
    "01_attention": ("attention_flops",
                     'if T_q * T_k > 10**8:\n        warnings.warn("T_q * T_k is huge: the scores will not fit")'),
}


@dataclass
class Course:
    """A temporary course root holding one assignment."""

    root: Path
    assignment: str
    solution: nbformat.NotebookNode
    release: nbformat.NotebookNode
    right: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The notebook's file name."""
        return f"{self.assignment}.ipynb"

    @property
    def submitted(self) -> Path:
        """Where submissions go."""
        return self.root / "submitted"

    def cells(self, kind: str) -> list[nbformat.NotebookNode]:
        """Solution ("solution") or autograded test ("test") cells of the instructor notebook, in order."""
        out = []
        for c in self.solution.cells:
            nbg = c.metadata.get("nbgrader", {})
            if kind == "solution" and nbg.get("solution"):
                out.append(c)
            if kind == "test" and nbg.get("grade") and not nbg.get("solution"):
                out.append(c)
        return out

    def points(self, exercise: str) -> float:
        """Points of an exercise's test cell."""
        return float(next(c.metadata["nbgrader"]["points"] for c in self.cells("test")
                          if c.metadata["nbgrader"]["grade_id"] == f"{exercise}_test"))

    @property
    def max_score(self) -> float:
        """Points in the assignment."""
        return sum(float(c.metadata["nbgrader"]["points"]) for c in self.cells("test"))

    @property
    def exercises(self) -> list[str]:
        """Solution grade ids in notebook order."""
        return [c.metadata["nbgrader"]["grade_id"] for c in self.cells("solution")]


@dataclass
class Case:
    """One generated student and what grading must say about it."""

    student: str
    kind: str
    status: str  # exact status, or a prefix ending in "(" for failed(...)/invalid(...)
    score: float
    flags: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the assignment
def real_assignment_available(assignment: str) -> bool:
    """Whether solutions/ and course/ both hold this assignment's notebook."""
    return ((REPO / SOURCE_DIR / assignment / f"{assignment}.ipynb").exists()
            and (REPO / RELEASE_DIR / assignment / f"{assignment}.ipynb").exists())


def load_course(root: Path, assignment: str) -> Course:
    """A Course over an existing course root (solutions/ and course/ already in place)."""
    solution = nbformat.read(root / SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    release = nbformat.read(root / RELEASE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    right: dict[str, dict[str, str]] = {}
    if (MUTANTS / f"{assignment}.py").exists() and (REPO / SOURCE_DIR / assignment).exists():
        right = runpy.run_path(str(MUTANTS / f"{assignment}.py")).get("RIGHT", {})
    return Course(root, assignment, solution, release, right)


def make_course(tmp: Path, assignment: str) -> Course:
    """Copy one real assignment (notebooks only, never the .py source) into a fresh course root."""
    root = tmp / "course-root"
    shutil.copytree(REPO / SOURCE_DIR / assignment, root / SOURCE_DIR / assignment,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__", ".ipynb_checkpoints"))
    shutil.copytree(REPO / RELEASE_DIR / assignment, root / RELEASE_DIR / assignment,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return load_course(root, assignment)


def _cell(kind: str, source: str, meta: dict[str, Any] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if meta:
        cell.metadata["nbgrader"] = {"schema_version": 3, **meta}
        cell.id = meta["grade_id"].replace("_", "-")
    return cell


def tiny_assignment(tmp: Path, assignment: str = "00_tiny") -> Course:
    """A small assignment of the course's shape (3 exercises, hidden tests) for fast tests."""
    sol = [
        ("markdown", "# Tiny assignment\nAnswer three questions.", None),
        ("code", "import math\n\nimport numpy as np", None),
        ("code", 'def add(a, b):\n    """Sum of two numbers."""\n    ### BEGIN SOLUTION\n    return a + b\n'
                 "    ### END SOLUTION",
         {"grade": False, "grade_id": "add", "locked": False, "solution": True}),
        ("code", 'assert add(1, 2) == 3, "add(1, 2)"\nprint("✔ add: 1 visible case passed")\n'
                 "### BEGIN HIDDEN TESTS\nassert add(5, 7) == 12\nassert add(-1.5, 1.5) == 0\n### END HIDDEN TESTS",
         {"grade": True, "grade_id": "add_test", "locked": True, "points": 2, "solution": False}),
        ("code", 'def mean(xs):\n    """Arithmetic mean of a non-empty sequence, as a float."""\n'
                 "    ### BEGIN SOLUTION\n    return float(np.mean(xs))\n    ### END SOLUTION",
         {"grade": False, "grade_id": "mean", "locked": False, "solution": True}),
        ("code", 'assert mean([1, 2, 3]) == 2.0, "mean([1, 2, 3])"\nprint("✔ mean: 1 visible case passed")\n'
                 "### BEGIN HIDDEN TESTS\nassert math.isclose(mean([0.5, 1.0]), 0.75)\n"
                 "assert mean(np.arange(10)) == 4.5\n### END HIDDEN TESTS",
         {"grade": True, "grade_id": "mean_test", "locked": True, "points": 3, "solution": False}),
        ("code", "print(mean([add(1, 1), 4]))", None),
        ("code", "# answer = ...\n### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
         {"grade": False, "grade_id": "answer", "locked": False, "solution": True}),
        ("code", 'assert isinstance(answer, int)\nprint("✔ answer: it is an int")\n'
                 "### BEGIN HIDDEN TESTS\nassert answer == 42\n### END HIDDEN TESTS",
         {"grade": True, "grade_id": "answer_test", "locked": True, "points": 1, "solution": False}),
        ("markdown", "Done.", None),
    ]
    solution = nbformat.v4.new_notebook()
    solution.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                        "name": "python3"}, "language_info": {"name": "python"}}
    solution.cells = [_cell(k, s, m) for k, s, m in sol]
    for i, c in enumerate(solution.cells):
        if "nbgrader" not in c.metadata:
            c.id = f"cell-{i:03d}"
    release = copy.deepcopy(solution)
    for c in release.cells:
        nbg = c.metadata.get("nbgrader", {})
        if nbg.get("solution"):
            c.source = re.sub(r"[ \t]*### BEGIN SOLUTION.*?### END SOLUTION",
                              lambda m: " " * (len(m.group(0)) - len(m.group(0).lstrip()))
                              + "# YOUR CODE HERE\n" + " " * (len(m.group(0)) - len(m.group(0).lstrip()))
                              + "raise NotImplementedError()", c.source, flags=re.S)
        if nbg.get("grade"):
            c.source = HIDDEN.sub("", c.source).rstrip("\n")
    root = tmp / "course-root"
    for folder, nb in ((SOURCE_DIR, solution), (RELEASE_DIR, release)):
        (root / folder / assignment).mkdir(parents=True)
        nbformat.write(nb, root / folder / assignment / f"{assignment}.ipynb")
    right = {"add": {"sum_builtin": 'def add(a, b):\n    return sum((a, b))\n'},
             "mean": {"manual": 'def mean(xs):\n    xs = list(xs)\n    return sum(xs) / len(xs)\n'}}
    return Course(root, assignment, solution, release, right)


# --------------------------------------------------------------------------- building submissions
def answer(source: str) -> str:
    """A solution cell's source as a student would write it (markers removed)."""
    return SOLUTION.sub("", source)


def correct(course: Course) -> nbformat.NotebookNode:
    """The release with every solution cell answered from the instructor's notebook."""
    answers = {c.metadata["nbgrader"]["grade_id"]: answer(c.source) for c in course.cells("solution")}
    nb = copy.deepcopy(course.release)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def _solution_cell(nb: nbformat.NotebookNode, gid: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _defined(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _used(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def isolated_exercise(course: Course) -> str:
    """The last exercise whose names no later ordinary cell uses (breaking it costs only its own points)."""
    cells = course.solution.cells
    best = course.exercises[-1]
    for gid in course.exercises:
        index = next(i for i, c in enumerate(cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        names = _defined(answer(cells[index].source))
        later = [c for c in cells[index + 1:] if c.cell_type == "code" and not c.metadata.get("nbgrader")]
        if names and not any(names & _used(c.source) for c in later):
            best = gid
    return best


def function_exercises(course: Course) -> dict[str, str]:
    """Exercise grade id -> the single function its solution cell defines (exercises that define one)."""
    out = {}
    for c in course.cells("solution"):
        tree = ast.parse(answer(c.source))
        funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        if len(funcs) == 1:
            out[c.metadata["nbgrader"]["grade_id"]] = funcs[0]
    return out


_KEY_SOURCE = '''
def _cheat_key(args, kwargs):
    import hashlib

    import numpy as np

    def canon(x):
        if isinstance(x, np.random.Generator):
            return ("rng", repr(x.bit_generator.state))
        if isinstance(x, np.ndarray):
            return ("nd", str(x.dtype), x.shape, hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest())
        if isinstance(x, dict):
            return ("dict", tuple(sorted((repr(k), canon(v)) for k, v in x.items())))
        if isinstance(x, (list, tuple)):
            return (type(x).__name__, tuple(canon(v) for v in x))
        if isinstance(x, (np.generic,)):
            return ("np", str(x.dtype), repr(x.item()))
        return (type(x).__name__, repr(x))

    return hashlib.sha256(repr((canon(list(args)), canon(kwargs))).encode()).hexdigest()
'''


def _reference_namespace(course: Course) -> dict[str, Any]:
    """The instructor's setup cells and function solutions executed in-process (for recording calls)."""
    ns: dict[str, Any] = {}
    funcs = function_exercises(course)
    graded_seen = False
    for cell in course.solution.cells:
        if cell.cell_type != "code":
            continue
        nbg = cell.metadata.get("nbgrader")
        graded_seen = graded_seen or bool(nbg)
        if nbg is None and not graded_seen:
            plain = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            exec(compile(plain, "<setup>", "exec"), ns)  # noqa: S102 - the instructor's own setup cell
        elif nbg and nbg.get("solution") and nbg["grade_id"] in funcs:
            exec(compile(answer(cell.source), f"<{nbg['grade_id']}>", "exec"), ns)  # noqa: S102
    exec(compile(_KEY_SOURCE, "<key>", "exec"), ns)  # noqa: S102
    return ns


def visible_cheat(course: Course) -> nbformat.NotebookNode:
    """Hard-codes the visible cases: correct only on the exact inputs the visible checks use, else raises."""
    ns = _reference_namespace(course)
    visible = {c.metadata["nbgrader"]["grade_id"].removesuffix("_test"): HIDDEN.sub("", c.source)
               for c in course.cells("test")}
    nb = copy.deepcopy(course.release)
    for gid, func in function_exercises(course).items():
        reference = ns[func]
        keys: set[str] = set()

        def recorder(*args: Any, _ref: Any = reference, _keys: set[str] = keys, **kwargs: Any) -> Any:
            _keys.add(ns["_cheat_key"](args, kwargs))
            return _ref(*args, **kwargs)

        ns[func] = recorder
        try:
            exec(compile(visible[gid], f"<visible {gid}>", "exec"), ns)  # noqa: S102
        finally:
            ns[func] = reference
        ref_source = answer(next(c.source for c in course.cells("solution")
                                 if c.metadata["nbgrader"]["grade_id"] == gid))
        for other in function_exercises(course).values():  # the real helpers, not their cheating versions
            ref_source = re.sub(rf"(?<![.\w]){other}\(", f"_ref_{other}(", ref_source)
        cheat = (f"{_KEY_SOURCE}\n\n{ref_source}\n\n_VISIBLE_{func} = {sorted(keys)!r}\n\n\n"
                 f"def {func}(*args, **kwargs):\n"
                 f"    if _cheat_key(args, kwargs) in _VISIBLE_{func}:\n"
                 f"        return _ref_{func}(*args, **kwargs)\n"
                 "    raise NotImplementedError('only the visible cases are hard-coded')\n")
        _solution_cell(nb, gid).source = cheat
    return nb


def alternative(course: Course) -> nbformat.NotebookNode:
    """Correct, but with the first correct alternative from the mutants file wherever there is one."""
    nb = correct(course)
    for gid, variants in course.right.items():
        if variants:
            _solution_cell(nb, gid).source = next(iter(variants.values()))
    return nb


def _prefix(nb: nbformat.NotebookNode, gid: str, code: str) -> nbformat.NotebookNode:
    cell = _solution_cell(nb, gid)
    cell.source = code + cell.source
    return nb


def _in_function(nb: nbformat.NotebookNode, gid: str, imports: str, line: str) -> nbformat.NotebookNode:
    cell = _solution_cell(nb, gid)
    lines = cell.source.splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("def "))
    while not lines[at].rstrip().endswith(":"):
        at += 1
    lines.insert(at + 1, f"    {line}")
    cell.source = imports + "\n".join(lines) + "\n"
    return nb


def _extra_cell(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """Insert a student cell right before the first graded cell, after every setup cell (imports, term table)."""
    first_graded = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id"))
    nb.cells.insert(first_graded, nbformat.v4.new_code_cell(source))
    return nb


def _before_test(nb: nbformat.NotebookNode, gid: str, source: str) -> nbformat.NotebookNode:
    at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


def checks_module(course: Course) -> str | None:
    """The llmcourse.checks submodule the visible checks come from (None for the tiny assignment)."""
    for c in course.cells("test"):
        match = re.search(r"\bchecks\.(\w+)\.", c.source)
        if match:
            return match.group(1)
    return None


def tests_before(course: Course, gid: str) -> float:
    """Points of the test cells that come before test cell gid."""
    tests = course.cells("test")
    at = next(i for i, c in enumerate(tests) if c.metadata["nbgrader"]["grade_id"] == gid)
    return sum(float(c.metadata["nbgrader"]["points"]) for c in tests[:at])


_NOOP = "_noop = lambda *args, **kwargs: None\n"


def tamper_variants(course: Course) -> dict[str, tuple[nbformat.NotebookNode, float]]:
    """Submissions that change the helpers the tests rely on: kind -> (notebook, expected score).

    Each one scores 0 from the first test cell that runs after the change (flag `tampered_helper`);
    without the kernel's helper guard most of them would get credit for tests they do not pass.
    """
    mod = checks_module(course)
    stub = course.release
    out: dict[str, tuple[nbformat.NotebookNode, float]] = {}

    def early(source: str) -> nbformat.NotebookNode:
        return _extra_cell(copy.deepcopy(stub), source)

    out["tamper_numpy_alias"] = (early("import numpy as xx\n\nxx.allclose = lambda *a, **k: True\n"
                                       "xx.array_equal = lambda *a, **k: True\n"
                                       "xx.isclose = lambda *a, **k: True\n"), 0.0)
    out["tamper_testing_alias"] = (early("import numpy.testing as t\n\nt.assert_allclose = lambda *a, **k: None\n"
                                         "t.assert_array_equal = lambda *a, **k: None\n"), 0.0)
    out["tamper_builtins"] = (early("import builtins as _b\n\n_b.abs = lambda x: 0\n_b.all = lambda *a, **k: True\n"
                                    "_b.any = lambda *a, **k: True\n"), 0.0)  # (isinstance or len hang the kernel)
    out["tamper_namespace"] = (early("import numpy\n\n\nclass _Lenient:\n    def __getattr__(self, name):\n"
                                     "        return getattr(numpy, name)\n\n"
                                     "    allclose = staticmethod(lambda *a, **k: True)\n\n\nnp = _Lenient()\n"), 0.0)
    if mod is None:
        return out
    out["tamper_runner_alias"] = (early(  # the two-line cheat of issue 12, made to silence the visible checks too
        f"from llmcourse import checks as c\nfrom llmcourse.checks import _core as k\n\n{_NOOP}k.run = _noop\n"
        f"for _name in dir(c.{mod}):\n    if not _name.startswith('_') and callable(getattr(c.{mod}, _name)):\n"
        f"        setattr(c.{mod}, _name, _noop)\n"), 0.0)
    out["tamper_sys_modules"] = (early(
        f"import sys\n\nimport llmcourse.checks.{mod}\n\n{_NOOP}"
        f"setattr(sys.modules['llmcourse.checks._core'], 'run', _noop)\n"
        f"setattr(sys.modules['llmcourse.checks.{mod}'], 'run', _noop)\n"), 0.0)
    out["tamper_code_swap"] = (early("from llmcourse.checks import _core as k\n\n"
                                     "k.run.__code__ = (lambda *args, **kwargs: None).__code__\n"), 0.0)
    out["tamper_dict_write"] = (early(f"import llmcourse.checks._core as k\n\n{_NOOP}k.__dict__['run'] = _noop\n"
                                      "vars(k)['compare'] = _noop\n"), 0.0)
    funcs = function_exercises(course)
    first = next(iter(funcs))
    inside = correct(course)  # a wrong first answer that silences the comparison while the test calls it
    _solution_cell(inside, first).source = (
        f"def {funcs[first]}(*args, **kwargs):\n    import llmcourse.checks._core as k\n\n"
        "    k.compare = lambda *a, **kw: None\n    return args[0] if args else None\n")
    out["tamper_in_function"] = (inside, tests_before(course, f"{first}_test"))
    last = course.cells("test")[-1].metadata["nbgrader"]["grade_id"]
    late = _before_test(correct(course), last, "import numpy as xx\n\nxx.allclose = lambda *a, **k: True\n")
    out["tamper_late"] = (late, tests_before(course, last))
    return out


def _probe(kind: str, paths: list[str]) -> str:
    lines = ["import os"]
    for p in paths:
        op = f'open({p!r}, "a").write("pwned\\n")' if kind == "WRITE" else f"open({p!r}, 'rb').read(64)"
        lines += ["try:", f"    {op}", f'    print("{kind}-OK", {p!r})', "except Exception as _e:",
                  f'    print("{kind}-BLOCKED", {p!r}, type(_e).__name__)']
    return "\n".join(lines) + "\n"


def write(course: Course, student: str, nb: nbformat.NotebookNode | bytes, name: str | None = None,
          extras: dict[str, str] | None = None) -> Path:
    """Put one submission in place (a notebook object, or raw bytes for broken files)."""
    folder = course.submitted / student / course.assignment
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or course.name)
    if isinstance(nb, bytes):
        path.write_bytes(nb)
    else:
        path.write_text(nbformat.writes(nb), encoding="utf-8")
    for fname, text in (extras or {}).items():
        (folder / fname).write_text(text, encoding="utf-8")
    return path


def build_class(course: Course, out: Path, gradebook: Path, kinds: list[str] | None = None,
                sandboxed: bool = True) -> dict[str, Case]:
    """Write the generated class; return the expected outcome per student.

    Without a sandbox the file-system attacks would succeed, so they then aim only at harmless places.
    """
    full = course.max_score
    first, second = course.exercises[0], course.exercises[1]
    iso = isolated_exercise(course)
    lose_iso = full - course.points(iso)
    token = uuid.uuid4().hex[:10]
    a, name = course.assignment, course.name
    sol_nb = str(course.root / SOURCE_DIR / a / name)
    others = str(course.submitted / "correct" / a / name)
    cases: dict[str, Case] = {}

    def add(kind: str, student: str, status: str, score: float, nb: Any, flags: list[str] | None = None,
            **kw: Any) -> None:
        if kinds is not None and kind not in kinds:
            return
        if nb is not None:
            write(course, student, nb, **{k: v for k, v in kw.items() if k in ("name", "extras")})
        cases[student] = Case(student, kind, status, score, flags or [],
                              {k: v for k, v in kw.items() if k not in ("name", "extras")})

    n_partial = max(1, len(course.exercises) // 2)
    partial = copy.deepcopy(course.release)
    answers = {c.metadata["nbgrader"]["grade_id"]: answer(c.source) for c in course.cells("solution")}
    for gid in course.exercises[:n_partial]:
        _solution_cell(partial, gid).source = answers[gid]
    add("correct", "correct", "graded", full, correct(course))
    add("stub", "stub", "graded", 0.0, copy.deepcopy(course.release))
    add("partial", "partial", "graded", sum(course.points(g) for g in course.exercises[:n_partial]), partial)
    add("alternative", "alternative", "graded", full, alternative(course))
    add("cheat", "cheat", "graded", 0.0, visible_cheat(course),
        cheat_tests=[f"{g}_test" for g in function_exercises(course)])

    dup = correct(course)
    for gid in (first, f"{second}_test"):
        src = next(c for c in dup.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        twin = copy.deepcopy(src)
        twin.id = uuid.uuid4().hex[:8]
        dup.cells.insert(dup.cells.index(src) + 1, twin)
    add("duplicated", "duplicated", "graded+flags", full, dup, ["duplicate_grade_id"])

    deleted = correct(course)
    tests = [c.metadata["nbgrader"]["grade_id"] for c in course.cells("test")]
    gone, stripped, inflated = tests[0], tests[1], tests[-1]
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gone]
    for c in deleted.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == stripped:
            del c.metadata["nbgrader"]
        elif gid == inflated:
            c.metadata["nbgrader"]["points"] = 100
            c.source = "pass  # edited"
    add("deleted_tests", "deleted_tests", "graded+flags", full, deleted,
        ["test_cell_restored", "metadata_restored", "metadata_reset", "locked_cell_edited"])

    add("renamed", "renamed", "graded+flags", full, correct(course), ["renamed_notebook"],
        name=f"{course.assignment}-Copy1.ipynb")
    add("invalid_json", "invalid_json", "invalid(unreadable JSON", 0.0, nbformat.writes(correct(course))[:500].encode())
    add("empty_file", "empty_file", "invalid(empty file", 0.0, b"")
    add("missing", "missing", "missing", 0.0, None)
    add("crash", "crash", "graded+flags", lose_iso, _prefix(correct(course), iso, "import os\nos._exit(1)\n"),
        ["kernel_died"])
    add("segfault", "segfault", "graded+flags", lose_iso,
        _prefix(correct(course), iso, "import ctypes\nctypes.string_at(0)\n"), ["kernel_died", "scan:ctypes"])
    add("loop_python", "loop_python", "graded+flags", lose_iso,
        _prefix(correct(course), iso, "while True:\n    pass\n"), ["cell_timeout"])
    numba_loop = ("import numba\n\n\n@numba.njit\ndef _spin(n):\n    i = 0\n    while i >= 0:\n"
                  "        i = (i + n) % 7\n    return i\n\n\n_spin(1)\n")
    add("loop_numba", "loop_numba", "graded+flags", lose_iso, _prefix(correct(course), iso, numba_loop),
        ["cell_timeout"])
    add("memory_bomb", "memory_bomb", "graded+flags", lose_iso,
        _prefix(correct(course), iso, "import numpy as _np\n_hog = [_np.zeros(2**27) for _ in range(100_000)]\n"),
        ["memory_limit"])
    gid, line = WARNING_INJECTION.get(course.assignment, (first, 'warnings.warn("heads-up: just so you know")'))
    add("warning", "warning", "graded+flags", full, _in_function(correct(course), gid, "import warnings\n", line),
        ["warning_in_test"])
    add("stderr_print", "stderr_print", "graded+flags", full - course.points(second),
        _in_function(correct(course), second, "import sys\n", 'print("debug: here", file=sys.stderr)'),
        ["stderr_only_failure"])
    write_targets = [str(course.root / SOURCE_DIR / a / "planted.txt"), f"/tmp/llmcourse-evil-{token}.txt"]
    if sandboxed:
        write_targets += [sol_nb, str(gradebook), others, str(course.root / RELEASE_DIR / a / name),
                          str(out / "status.json")]
    read_targets = [sol_nb, str(gradebook), others, str(REPO / SOURCE_DIR / a / f"{a}.py"),
                    str(REPO / "tests" / "notebooks" / "mutants" / f"{a}.py"), "/etc/shadow"]
    attack = _extra_cell(_extra_cell(correct(course), _probe("WRITE", write_targets)), _probe("READ", read_targets))
    add("file_attacks", "file_attacks", "graded+flags", full, attack, ["scan:path_outside"],
        targets={"WRITE": write_targets, "READ": read_targets})
    plant_targets = [str(course.root / SOURCE_DIR / a / "numpy.py")]
    if sandboxed:
        plant_targets += [str(course.root / RELEASE_DIR / a / "numpy.py"), str(course.submitted / "correct" / a /
                                                                              "numpy.py"), str(out / "numpy.py")]
    plant = ('open("numpy.py", "w").write("raise ImportError(\'planted\')\\n")\n'
             + _probe("WRITE", plant_targets).replace('"pwned\\n"', '"raise ImportError(\'planted\')\\n"'))
    add("planted", "aa_planted", "graded+flags", full, _extra_cell(correct(course), plant),
        ["planted_module"], extras={"numpy.py": "raise ImportError('planted')\n",
                                    "sitecustomize.py": "import os\nos._exit(3)\n"}, targets={"WRITE": plant_targets})
    detach = (f"import os, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(900)', "
              f"'MARK-{token}'], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
              "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
              "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(900)', "
              f"'MARK-{token}'])\n"
              "    os._exit(0)\n")
    add("detached", "detached", "graded+flags", full, _extra_cell(correct(course), detach),
        ["leftover_process", "scan:subprocess"], marker=f"MARK-{token}")
    for kind, (nb, score) in tamper_variants(course).items():
        add(kind, kind, "graded+flags", score, nb, ["tampered_helper", "scan:monkeypatch"])
    return cases


def digest(path: Path) -> str:
    """sha256 of a file ('' when missing)."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def run_snippet(assignment: str, source: str, mode: str = "bwrap") -> str:
    """Run one cell in a grading kernel (as the pipeline configures it) and return its stdout."""
    from autograde.execute import ExecSettings, execute_notebook
    from autograde.grade import exposure
    from autograde.sandbox import SandboxConfig

    protected = [REPO / SOURCE_DIR, REPO / "tests"]
    config = SandboxConfig(mode=mode, assignment=assignment, expose=exposure(["llmcourse"], protected),
                           protected=[str(p) for p in protected])
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    run = execute_notebook(nb, config, ExecSettings(cell_timeout=60))
    return "".join(o.get("text", "") + o.get("evalue", "") for o in run.cells[0].outputs)
