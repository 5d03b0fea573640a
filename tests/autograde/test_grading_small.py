"""The grading pipeline's parts, and end-to-end runs on a tiny assignment: zip input, resume, no sandbox, CLI."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograde import collect as collect_mod
from autograde.execute import CellRun
from autograde.grade import GradeOptions, Interrupted, exposure, grade
from autograde.gradebook import GradebookStore
from autograde.guard import guard_plan, read_names
from autograde.prevalidate import load_release, parse_notebook, prepare
from autograde.sandbox import probe_bwrap
from autograde.scan import scan_source
from autograde.scoring import pure_warnings, score_test

from . import classgen

SANDBOX_MISSING = probe_bwrap()


def _opts(course: classgen.Course, out: Path, **kw) -> GradeOptions:
    base = dict(assignment=course.assignment, submissions=course.submitted, out=out, course_root=course.root,
                gradebook=course.root / "gradebook.db", workers=2, small=True, cell_timeout=5, interrupt_grace=2,
                student_timeout=120, memory=2 << 30, progress=False)
    base.update(kw)
    return GradeOptions(**base)


# --------------------------------------------------------------------------- static scan
@pytest.mark.parametrize("source,rule", [
    ("checks.welcome.softmax = lambda fn: None", "monkeypatch"),
    ("import numpy as np\nnp.allclose = lambda *a, **k: True", "monkeypatch"),
    ("import builtins\nbuiltins.print = None", "monkeypatch"),
    ("import sys\nsys.modules['llmcourse.checks'] = object()", "monkeypatch"),
    ("setattr(np.testing, 'assert_allclose', lambda *a: None)", "monkeypatch"),
    ("get_ipython().input_transformers_cleanup.append(lambda lines: [])", "ipython_hooks"),
    ("ip = get_ipython()\nip.ast_transformers.append(object())", "ipython_hooks"),
    ("secret = In[-1]", "ipython_hooks"),
    ("class Always:\n    def __eq__(self, other):\n        return True", "comparison_override"),
    ("class A(float):\n    __eq__ = lambda s, o: True", "comparison_override"),
    ("import subprocess\nsubprocess.run(['ls'])", "subprocess"),
    ("from multiprocessing import Process", "subprocess"),
    ("import ctypes\nctypes.string_at(0)", "ctypes"),
    ("import socket\nsocket.socket()", "socket"),
    ("import urllib.request", "socket"),
    ("import os\nos.system('id')", "os_process"),
    ("import os as o\no._exit(0)", "os_process"),
    ("!ls /", "shell_escape"),
    ("%%bash\necho hi", "shell_escape"),
    ("exec('1+1')", "dynamic_code"),
    ("m = __import__('os')", "dynamic_code"),
    ("import sys\nf = sys._getframe(1).f_locals", "introspection"),
    ("import gc\ngc.get_objects()", "introspection"),
    ("import inspect as i\nframes = i.stack()", "introspection"),
    ("open('/work/main/solutions/x.ipynb').read()", "path_outside"),
    ("open('../other/notebook.ipynb')", "path_outside"),
    ("import os\nos.environ.get('NBGRADER_EXECUTION')", "grading_detection"),
    ("def f(:\n    pass", "syntax_error"),
    # issue 12: the modules the tests rely on, whatever name they are reached by
    ("import numpy as xx\nxx.allclose = lambda *a, **k: True", "monkeypatch"),
    ("import numpy.testing as t\nt.assert_allclose = lambda *a, **k: None", "monkeypatch"),
    ("from numpy import testing as t\nt.assert_array_equal = None", "monkeypatch"),
    ("from llmcourse import checks as c\nc.attention._core.run = lambda *a, **k: None", "monkeypatch"),
    ("from llmcourse.checks import _core as k\nk.run = lambda *a, **k: None", "monkeypatch"),
    ("import sys\nm = sys.modules['llmcourse.checks._core']\nsetattr(m, 'run', None)", "monkeypatch"),
    ("import sys\nsetattr(sys.modules['numpy'], 'allclose', None)", "monkeypatch"),
    ("import sys\nsys.modules.update({'numpy': None})", "monkeypatch"),
    ("from llmcourse.checks import _core as k\nk.run.__code__ = (lambda *a: None).__code__", "monkeypatch"),
    ("f = np.allclose\nf.__code__ = (lambda *a, **k: True).__code__", "monkeypatch"),
    ("import numpy as q\nq.__dict__['allclose'] = 1", "monkeypatch"),
    ("import numpy as q\nvars(q)['allclose'] = 1", "monkeypatch"),
    ("import numpy as q\nvars(q).update(allclose=1)", "monkeypatch"),
    ("import importlib\nm = importlib.import_module('numpy')\nm.allclose = 1", "monkeypatch"),
    ("object.__setattr__(__import__('numpy'), 'allclose', 1)", "monkeypatch"),
    ("import builtins as b\nb.abs = lambda x: 0", "monkeypatch"),
    ("def isinstance(obj, cls):\n    return True", "monkeypatch"),
    ("abs = lambda x: 0", "monkeypatch"),
    ("class _F:\n    allclose = staticmethod(lambda *a: True)\n\n\nnp = _F()", "monkeypatch"),
    ("import _llmcourse_guard as g\ng.verify = print", "monkeypatch"),
])
def test_scan_flags(source, rule):
    assert rule in {f.rule for f in scan_source(source)}, scan_source(source)


@pytest.mark.parametrize("source", [
    "def softmax(x, axis=-1):\n    z = x - x.max(axis=axis, keepdims=True)\n    e = np.exp(z)\n"
    "    return e / e.sum(axis=axis, keepdims=True)",
    "import math\nanswer = math.log(48)",
    "y = np.stack([a, b])\nz = torch.stack([t, t], dim=0)\nw = h.stack(1)",
    "counts = np.zeros((V, V), dtype=np.int64)\nnp.add.at(counts, (ids[:-1], ids[1:]), 1)",
    "with open('notes.txt', 'w') as fh:\n    fh.write('ok')",
    "import numpy as xx\nrng = xx.random.default_rng(0)\nrng.shuffle(a)\nx = xx.zeros(3)\nx.shape = (3, 1)",
    "def f(x):\n    max = x.max()\n    return max",
    "import numpy.testing as npt\nnpt.assert_allclose(np.ones(2), np.ones(2))\nt = npt",
])
def test_scan_ignores_ordinary_code(source):
    assert [f for f in scan_source(source) if f.rule == "monkeypatch"] == []


def test_scan_aliases_carry_from_cell_to_cell():
    aliases: dict[str, str] = {}
    assert scan_source("import numpy.testing as tt", aliases) == []
    assert [f.rule for f in scan_source("tt.assert_allclose = None", aliases)] == ["monkeypatch"]
    assert scan_source("tt.assert_allclose = None") == [], "without the earlier cell the name is unknown"


@pytest.mark.parametrize("assignment", ["00_welcome", "01_attention"])
def test_reference_solutions_are_not_flagged(assignment):
    if not classgen.real_assignment_available(assignment):
        pytest.skip(f"{assignment} not built yet")
    nb = nbformat.read(classgen.REPO / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    found = {c.metadata["nbgrader"]["grade_id"]: scan_source(classgen.answer(c.source)) for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("solution")}
    assert not any(found.values()), found


# --------------------------------------------------------------------------- scoring policy
def _run(outputs, status="ok", reply="ok"):
    run = CellRun(index=0, status=status, reply=reply, outputs=outputs)
    run.stderr = any(o.get("name") == "stderr" for o in outputs)
    run.error = any(o["output_type"] == "error" for o in outputs)
    return run


def test_warning_policy():
    warning = "/x/y.py:12: UserWarning: careful\n  warnings.warn('careful')\n"
    assert pure_warnings(warning)
    assert pure_warnings("a.py:3: RuntimeWarning: divide by zero encountered in log\n  np.log(p)\n")
    assert not pure_warnings("debug: 3\n" + warning)
    assert not pure_warnings("Traceback (most recent call last):\n")
    score, flags = score_test("t", 2, _run([{"output_type": "stream", "name": "stderr", "text": warning}]))
    assert (score.score, score.outcome, [f.code for f in flags]) == (2, "warning_passed", ["warning_in_test"])
    score, flags = score_test("t", 2, _run([{"output_type": "stream", "name": "stdout",
                                             "text": "[grader] warning: UserWarning: careful (a.py:1)\n"}]))
    assert (score.score, [f.code for f in flags]) == (2, ["warning_in_test"])
    score, flags = score_test("t", 2, _run([{"output_type": "stream", "name": "stderr", "text": "oops\n"}]))
    assert (score.score, score.outcome, [f.code for f in flags]) == (0, "stderr_failed", ["stderr_only_failure"])
    score, _ = score_test("t", 2, _run([], reply="error"))
    assert score.score == 0, "an error reply fails the cell even when the traceback was swallowed"
    score, _ = score_test("t", 4, _run([{"output_type": "execute_result", "data": {"text/plain": "1.5"},
                                          "metadata": {}, "execution_count": 1}]))
    assert (score.score, score.outcome) == (1.5, "partial")
    tampered = _run([{"output_type": "stream", "name": "stdout", "text": "✔ all passed\n"}])
    tampered.tamper = "before test cell t: numpy.allclose was replaced"
    score, _ = score_test("t", 2, tampered)
    assert (score.score, score.outcome, score.review) == (0, "tampered", True)
    assert "the test passed" in score.detail


# --------------------------------------------------------------------------- helper guard
def test_guard_plan_reads_the_instructor_notebook(tiny):
    book = load_release(tiny.assignment, tiny.root / "solutions", tiny.root / "course")[0]
    plan = guard_plan(book)
    assert plan.aliases == {"math": "math", "np": "numpy"}, "the names the tests read, bound as the setup binds them"
    assert {"numpy", "math", "builtins", "llmcourse.checks._core"} <= set(plan.modules)
    assert read_names("from llmcourse.checks import _core\n_x = abs(np.ones(2))\n"
                      "def f(len):\n    return len\n_core.run(f)") == ["abs", "np"]


GUARD_CASES = {
    "numpy alias": ("import numpy as xx\nxx.mean = lambda *a, **k: 4.5", "numpy.mean was replaced"),
    "sys.modules setattr": ("import sys\nsetattr(sys.modules['math'], 'isclose', lambda *a, **k: True)",
                            "math.isclose was replaced"),
    "__dict__ write": ("import math as m\nm.__dict__['isclose'] = lambda *a, **k: True", "math.isclose was replaced"),
    "__code__ swap": ("import numpy as xx\nxx.mean._implementation.__code__ = (lambda *a, **k: 4.5).__code__",
                      "mean: code or defaults were changed"),
    "builtins": ("import builtins\nbuiltins.abs = lambda x: 0", "builtins.abs was replaced"),
    "shadowed builtin": ("def isinstance(*a):\n    return True", "hiding the builtin"),  # read by answer_test
    "namespace": ("class _N:\n    mean = staticmethod(lambda *a: 4.5)\n\n\nnp = _N()", "'np' is not what the tests"),
    "fake guard": ("import sys, types\ng = types.ModuleType('g')\ng.verify = lambda *a: 'x'\n"
                   "sys.modules['_llmcourse_guard'] = g", "not signed"),
    "inside the answer": ("", "while test cell mean_test ran: numpy.mean was replaced"),
    "guard called by the student": ("import numpy as xx\nxx.mean = lambda *a, **k: 4.5\nimport _llmcourse_guard\n"
                                    "_llmcourse_guard.verify('x', [])", "numpy.mean was replaced"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(GUARD_CASES))
def test_guard_catches_tampering_and_scores_it_zero(tiny, case):
    from autograde.execute import ExecSettings, execute_notebook
    from autograde.sandbox import SandboxConfig
    from autograde.scoring import score_notebook

    source, expected = GUARD_CASES[case]
    nb = classgen.correct(tiny)
    first = "answer_test" if case == "shadowed builtin" else "mean_test"
    if source:
        nb = classgen._before_test(nb, first, source)
    else:  # a wrong answer that changes numpy while the test runs it
        nb.cells[[c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("mean")].source = (
            "def mean(xs):\n    import numpy\n    numpy.mean = lambda *a, **k: 4.5\n    return 0.75\n")
    book, p = _prepared(tiny, nb)
    protected = [classgen.REPO / "solutions", classgen.REPO / "tests"]
    config = SandboxConfig(mode="none" if SANDBOX_MISSING else "bwrap", assignment=tiny.assignment,
                           expose=[] if SANDBOX_MISSING else exposure(["llmcourse"], protected),
                           protected=[str(p) for p in protected], env={"PYTHONPATH": str(classgen.REPO)})
    run = execute_notebook(p.notebook, config, ExecSettings(cell_timeout=30), guard=guard_plan(book))
    scores = score_notebook(book, run)
    want = {"add_test": 2, "mean_test": 3 if first == "answer_test" else 0, "answer_test": 0}
    assert {g: c.score for g, c in scores.cells.items()} == want, scores
    assert scores.cells[first].outcome == "tampered"
    flag = next(f for f in scores.flags if f.code == "tampered_helper")
    assert flag.cell == first and expected in flag.detail, flag


# --------------------------------------------------------------------------- pre-validation
@pytest.fixture
def tiny(tmp_path):
    return classgen.tiny_assignment(tmp_path)


def _prepared(course, nb):
    book = load_release(course.assignment, course.root / "solutions", course.root / "course")[0]
    return book, prepare(book, nbformat.writes(nb).encode(), course.name)


def test_prevalidate_restores_and_resets(tiny):
    nb = classgen.correct(tiny)
    add_test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "add_test")
    nb.cells.remove(add_test)
    mean = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mean")
    twin = nbformat.from_dict(json.loads(json.dumps(mean)))
    twin.id = "twin-cell"
    nb.cells.insert(nb.cells.index(mean) + 1, twin)
    answer_test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "answer_test")
    answer_test.metadata["nbgrader"].update(points=50, grade=False)
    nb.cells.append(nbformat.v4.new_code_cell("print(1)", metadata={"nbgrader": {"grade_id": "bonus", "grade": True,
                                                                                 "points": 10, "solution": False}}))
    book, p = _prepared(tiny, nb)
    codes = [f.code for f in p.flags]
    assert {"test_cell_restored", "duplicate_grade_id", "metadata_reset", "unknown_grade_id"} <= set(codes), codes
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in p.notebook["cells"]]
    assert ids.index("add_test") == ids.index("add") + 1, "a restored test goes right after its solution"
    assert ids.count("mean") == 1 and "bonus" not in ids
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c for c in p.notebook["cells"] if "nbgrader" in c["metadata"]}
    assert graded["answer_test"]["metadata"]["nbgrader"]["points"] == 1
    assert "BEGIN HIDDEN TESTS" in graded["add_test"]["source"], "tests run with the instructor's hidden part"
    assert book.max_score == 6


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"), (b"   \n", "empty file"), (b'{"cells": [', "unreadable JSON"),
    (b"\xff\xfe\x00", "not UTF-8"), (b"[1, 2]", "not a notebook"), (b'{"cells": 3}', "not a notebook"),
    (b"[" * 100000 + b"]" * 100000, "unreadable JSON"),
])
def test_unreadable_notebooks(data, reason):
    doc, why, _ = parse_notebook(data)
    assert doc is None and why.startswith(reason), why


# --------------------------------------------------------------------------- collecting
def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            zf.writestr(info, "/etc/passwd")


def test_collect_folders_and_archives(tmp_path, tiny):
    root = tmp_path / "subs"
    good = nbformat.writes(classgen.correct(tiny)).encode()
    (root / "alice" / tiny.assignment).mkdir(parents=True)
    (root / "alice" / tiny.assignment / tiny.name).write_bytes(good)
    (root / "alice" / tiny.assignment / "timestamp.txt").write_text("2026-01-02 10:00:00 UTC")
    (root / "alice" / tiny.assignment / "huge.bin").write_bytes(b"0" * 2000)
    (root / "alice" / tiny.assignment / "link.ipynb").symlink_to("/etc/passwd")
    (root / "carol").mkdir()  # no folder for this assignment: missing
    (root / "bad name!").mkdir()
    _zip(root / f"bob_{tiny.assignment}.zip", {f"bob/{tiny.assignment}/{tiny.name}": good,
                                               f"bob/{tiny.assignment}/../../escape.ipynb": good,
                                               f"bob/{tiny.assignment}/helper.py": b"x = 1"},
         symlink=f"bob/{tiny.assignment}/passwd")
    (root / "dave.zip").write_bytes(b"PK\x03\x04 not really a zip")
    subs = collect_mod.collect(root, tiny.assignment, collect_mod.CollectLimits(max_file_bytes=1500 + len(good)))
    alice, bob = subs["alice"], subs["bob"]
    assert list(alice.notebooks) == [tiny.name] and alice.timestamp.startswith("2026-01-02")
    assert {f.code for f in alice.flags} >= {"symlink_refused"}
    assert all(f.sha256 or f.refused for f in alice.files)
    assert list(bob.notebooks) == [tiny.name]
    assert {f.code for f in bob.flags} >= {"unsafe_path_refused", "symlink_refused", "planted_module"}
    assert subs["carol"].origin == "none"
    assert subs["dave"].invalid.startswith("unreadable zip")
    assert any(s.startswith("invalid-name-") and subs[s].invalid for s in subs)
    assert hashlib.sha256(good).hexdigest() in {f.sha256 for f in alice.files}
    small = collect_mod.collect(root, tiny.assignment, collect_mod.CollectLimits(max_file_bytes=100))
    assert not small["alice"].notebooks and "oversized_file" in {f.code for f in small["alice"].flags}


# --------------------------------------------------------------------------- gradebook checks
def test_gradebook_tampering_is_detected_and_undone(tmp_path, tiny):
    from autograde.scoring import zero_scores

    book = load_release(tiny.assignment, tiny.root / "solutions", tiny.root / "course")[0]
    store = GradebookStore(tmp_path / "gb.db", "llmcourse", tmp_path / "work", sandboxed=False)
    store.register(tiny.assignment, [book])
    scores = zero_scores(book, "failed", "x")
    for cell in scores.cells.values():
        cell.score = 1.0
    assert store.write("alice", tiny.assignment, {book.name: scores}, {book.name: False}) == []
    con = sqlite3.connect(tmp_path / "gb.db")
    con.execute("UPDATE grade SET manual_score = 99")
    con.commit()
    con.close()
    problems = store.write("bob", tiny.assignment, {book.name: scores}, {book.name: False})
    assert any("restored" in p for p in problems), problems
    assert store.total("alice", tiny.assignment) == 3.0
    store.close()


# --------------------------------------------------------------------------- end to end (tiny notebook)
@pytest.mark.slow
def test_zip_class_end_to_end(tmp_path, tiny):
    root = tiny.submitted
    root.mkdir(parents=True)
    good = nbformat.writes(classgen.correct(tiny)).encode()
    _zip(root / "ann.zip", {tiny.name: good})
    _zip(root / f"ben-{tiny.assignment}.zip", {f"{tiny.assignment}/{tiny.name}": good, "../../../evil.py": b"1"})
    _zip(root / "cem.zip", {"notes.txt": b"forgot the notebook"})
    (root / "dan.zip").write_bytes(b"garbage")
    summary = grade(_opts(tiny, tmp_path / "out"))
    status = {s: (r["status"], r["score"]) for s, r in summary["students"].items()}
    assert status["ann"] == ("graded", 6.0)
    assert status["ben"][0] == "graded+flags" and status["ben"][1] == 6.0
    assert status["cem"] == ("missing", 0.0)
    assert status["dan"][0].startswith("invalid(unreadable zip")
    assert not (tmp_path / "evil.py").exists()


@pytest.mark.slow
def test_interrupted_run_resumes_without_regrading(tmp_path, tiny):
    for student in ("s1", "s2", "s3", "s4"):
        classgen.write(tiny, student, classgen.correct(tiny))
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        grade(_opts(tiny, out, stop_after=2, workers=1))
    done = [json.loads(line)["student"] for line in (out / "journal.jsonl").read_text().splitlines()]
    assert len(done) == 2
    summary = grade(_opts(tiny, out, workers=1))
    assert summary["run"]["graded"] == 2 and summary["run"]["reused"] == 2
    assert {r["score"] for r in summary["students"].values()} == {6.0}
    classgen.write(tiny, "s1", classgen.correct(tiny), extras={"note.txt": "changed"})
    again = grade(_opts(tiny, out, workers=1))
    assert again["run"]["graded"] == 1, "only the changed submission is graded again"
    (tiny.root / "gradebook.db").unlink()
    fresh = grade(_opts(tiny, out, workers=1))
    assert fresh["run"]["graded"] == 0
    store = GradebookStore(tiny.root / "gradebook.db", "llmcourse", tmp_path / "check", sandboxed=True)
    assert [store.total(s, tiny.assignment) for s in ("s1", "s2", "s3", "s4")] == [6.0] * 4
    store.close()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {f["path"] for f in manifest["s1"]["files"]} == {tiny.name, "note.txt"}


SAME_KINDS = ["correct", "crash", "loop_python", "warning", "duplicated", "invalid_json", "detached", "memory_bomb"]


@pytest.mark.slow
def test_without_sandbox_same_statuses(tmp_path):
    results = {}
    for mode in ("none", "bwrap"):
        if mode == "bwrap" and SANDBOX_MISSING:
            continue
        course = classgen.tiny_assignment(tmp_path / mode)
        out = tmp_path / mode / "out"
        cases = classgen.build_class(course, out, course.root / "gradebook.db", kinds=SAME_KINDS)
        summary = grade(_opts(course, out, sandbox=mode))
        assert summary["sandbox"].startswith(mode)
        results[mode] = {s: (r["status"].split("(")[0], r["score"]) for s, r in summary["students"].items()}
        assert results[mode] == {s: (c.status.split("(")[0], c.score) for s, c in cases.items()}
        if mode == "none":
            assert any("WITHOUT the sandbox" in w or "sandbox disabled" in w for w in summary["warnings"])
    if "bwrap" in results:
        assert results["bwrap"] == results["none"]


@pytest.mark.slow
def test_command_line(tmp_path, tiny, capsys):
    from autograde.grade import main

    classgen.write(tiny, "solo", classgen.correct(tiny))
    out = tmp_path / "out"
    rc = main([tiny.assignment, str(tiny.submitted), "--course-root", str(tiny.root), "--out", str(out), "--small",
               "--workers", "1", "--cell-timeout", "30", "--memory", "2G", "--no-progress"])
    assert rc == 0
    assert "1 students: graded 1" in capsys.readouterr().out
    assert (out / "grades.csv").read_text().splitlines()[1].startswith("solo,00_tiny,graded,6,6")
    assert (out / "feedback" / "solo" / tiny.assignment / "00_tiny.html").exists()
    help_text = subprocess.run([sys.executable, "-m", "autograde.grade", "--help"], cwd=classgen.REPO,
                               capture_output=True, text=True, timeout=120).stdout
    assert "--sandbox" in help_text and "--student-timeout" in help_text


@pytest.mark.slow
def test_failed_statuses(tmp_path, tiny):
    crashy = classgen.correct(tiny)
    for _ in range(2):
        crashy.cells.insert(2, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    slow = classgen.correct(tiny)
    for _ in range(4):
        slow.cells.insert(2, nbformat.v4.new_code_cell("import time\ntime.sleep(4)"))
    for student, nb in {"crashy": crashy, "slow": slow, "fine": classgen.correct(tiny)}.items():
        classgen.write(tiny, student, nb)
    summary = grade(_opts(tiny, tmp_path / "out", max_restarts=1, student_timeout=10, cell_timeout=8))
    students = summary["students"]
    assert students["crashy"]["status"] == "failed(kernel died or hung 2 times)"
    assert students["slow"]["status"].startswith("failed(student time limit")
    assert students["fine"]["status"] == "graded" and students["fine"]["score"] == 6.0
    cells = students["slow"]["notebooks"][tiny.name]["cells"]
    assert {c["outcome"] for c in cells.values()} == {"not_run"}
