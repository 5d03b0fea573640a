"""Cost of grading in the sandbox against stock nbgrader, and seconds per student for a 30-student class.

    python -m benchmarks grading            # 6 students x 3 interleaved rounds, then a class of 30
    python -m benchmarks grading --quick    # 3 students x 1 round, then a class of 6

Both graders run as fresh processes on the same generated class (correct submissions of the first course
notebook that exists, else a tiny one), with LLMCOURSE_SMALL=1, one notebook at a time: stock is
`nbgrader autograde --force`; ours is `python -m autograde.grade --workers 1` (bubblewrap when available),
which also writes feedback, the report and the gradebook checks. Rounds alternate which grader goes first;
each record's value is the median over rounds. The class record uses the default two workers.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from autograde.sandbox import probe_bwrap
from autograde.settings import IGNORE, REPO

STOCK = "stock nbgrader 0.9.6 autograde, same class, same run"


def _env() -> dict[str, str]:
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                LLMCOURSE_SMALL="1", MPLBACKEND="agg")


def _class(tmp: Path, n: int) -> tuple[Any, Path]:
    """A course root with n correct submissions; returns (course, root)."""
    sys.path.insert(0, str(REPO))
    from tests.autograde import classgen

    real = next((a for a in ("01_attention", "00_welcome") if classgen.real_assignment_available(a)), None)
    course = classgen.make_course(tmp, real) if real else classgen.tiny_assignment(tmp)
    nb = classgen.correct(course)
    for i in range(n):
        classgen.write(course, f"student{i:02d}", nb)
    return course, course.root


def _stock_setup(course: Any, root: Path, n: int) -> Path:
    """nbgrader's own layout (source/ = the instructor notebooks), assignment generated, students added."""
    stock = root.parent / "stock"
    shutil.copytree(root / "solutions" / course.assignment, stock / "source" / course.assignment)
    shutil.copytree(course.submitted, stock / "submitted")
    (stock / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.ignore = {IGNORE!r}\n"
                                              "c.Execute.timeout = 120\n")
    _run([sys.executable, "-m", "nbgrader", "generate_assignment", course.assignment, "--force"], stock)
    for i in range(n):
        _run([sys.executable, "-m", "nbgrader", "db", "student", "add", f"student{i:02d}"], stock)
    return stock


def _run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


def _ours(course: Any, root: Path, out: Path, workers: int) -> float:
    gradebook = out.parent / f"{out.name}.db"
    return _run([sys.executable, "-m", "autograde.grade", course.assignment, str(course.submitted),
                 "--course-root", str(root), "--out", str(out), "--gradebook", str(gradebook), "--small",
                 "--workers", str(workers), "--no-progress", "--force"], REPO)


def records(stock: list[float], ours: list[float], n: int, class_seconds: float, class_n: int,
            sandbox: str) -> list[dict[str, Any]]:
    """The benchmark records from measured wall times (seconds per run of n students)."""
    per_stock = statistics.median(t / n for t in stock)
    per_ours = statistics.median(t / n for t in ours)
    ratios = [round(o / s, 3) for o, s in zip(ours, stock, strict=True)]
    per_class = class_seconds / class_n
    note = f"sandbox: {sandbox}"
    return [
        {"name": "grading_overhead_ratio", "value": per_ours / per_stock, "unit": "x (ours / stock)",
         "baseline": STOCK, "ratio": per_stock / per_ours, "limit": None, "pct_of_limit": None,
         "students": n, "round_ratios": ratios, "stock_seconds": [round(t, 2) for t in stock],
         "ours_seconds": [round(t, 2) for t in ours], "note": note},
        {"name": "grading_seconds_per_student_sandboxed", "value": per_ours, "unit": "s/student",
         "baseline": STOCK, "ratio": per_stock / per_ours, "limit": None, "pct_of_limit": None,
         "stock_seconds_per_student": per_stock, "workers": 1, "note": note},
        {"name": f"grading_seconds_per_student_class{class_n}", "value": per_class, "unit": "s/student",
         "baseline": STOCK + " (one notebook at a time)", "ratio": per_stock / per_class, "limit": None,
         "pct_of_limit": None, "students": class_n, "workers": 2, "note": note},
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Measure and return the records."""
    n, rounds, class_n = (3, 1, 6) if quick else (6, 3, 30)
    sandbox = "bwrap" if probe_bwrap() is None else "none (bubblewrap unavailable)"
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        course, root = _class(Path(tmp) / "small", n)
        stock_dir = _stock_setup(course, root, n)
        stock_times, our_times = [], []
        for r in range(rounds):
            order = ("stock", "ours") if r % 2 == 0 else ("ours", "stock")
            for who in order:
                if who == "stock":
                    stock_times.append(_run([sys.executable, "-m", "nbgrader", "autograde", course.assignment,
                                             "--force"], stock_dir))
                else:
                    our_times.append(_ours(course, root, Path(tmp) / f"ours{r}", workers=1))
        big, big_root = _class(Path(tmp) / "class", class_n)
        class_seconds = _ours(big, big_root, Path(tmp) / "class-out", workers=2)
    return records(stock_times, our_times, n, class_seconds, class_n, sandbox)
