"""Grade a class of untrusted notebooks: collect, pre-validate, execute in a sandbox, verify, export.

    make grade ARGS="01_attention submitted/"
    python -m autograde.grade 01_attention submitted/ --out grading-output/01_attention --workers 2

Input: nbgrader's layout `<submissions>/<student>/<assignment>/<notebook>.ipynb`, or `<student>.zip` files.
Output folder: grades.csv, status.json (status per student and notebook: graded, graded+flags,
failed(reason), invalid(reason), missing), feedback/<student>/<assignment>/<notebook>.html, report.html
(per-exercise score distributions and the flags to review), autograded/ (executed notebooks, hidden tests
included: instructors only), backups/ (the gradebook as it was before the run) and journal.jsonl (what lets
an interrupted run resume without regrading finished students; re-running is idempotent).
An assignment with a class leaderboard (13_capstone, see autograde/leaderboard.py) also gets leaderboard.csv
and a leaderboard section in report.html, and is graded one student at a time so that its timings are fair.
Scores also go to the nbgrader gradebook, so `nbgrader export` and formgrader keep working.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import leaderboard
from .collect import CollectLimits, Submission, collect
from .execute import ExecSettings, NotebookRun, execute_notebook
from .export import STATUS_ORDER, atomic_write, feedback_html, write_csv, write_report, write_status
from .gradebook import GradebookStore
from .guard import GuardPlan, guard_plan
from .prevalidate import Flag, Prepared, ReleaseNotebook, grade_ids, load_release, parse_notebook, prepare
from .sandbox import Limits, SandboxConfig, become_subreaper, probe_bwrap, slot_uid
from .scoring import CellScore, NotebookScore, score_notebook, zero_scores
from .settings import RELEASE_DIR, REPO, SOURCE_DIR

GRADER_VERSION = "2"  # 2: helper guard around test cells
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?$")
_WORKER_ID = 0


def parse_size(text: str) -> int:
    """'4G', '512M', '1.5GiB' or a byte count -> bytes."""
    match = _SIZE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 4G or 512M)")
    scale = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


@dataclass
class GradeOptions:
    """Everything a grading run needs; the command line fills it in."""

    assignment: str
    submissions: Path
    out: Path
    course_root: Path = REPO
    source_dir: Path | None = None
    release_dir: Path | None = None
    gradebook: Path | None = None
    course_id: str = "llmcourse"
    workers: int | None = None
    cell_timeout: float = 120.0
    student_timeout: float = 900.0
    interrupt_grace: float = 5.0
    max_restarts: int = 3
    memory: int = 4 << 30
    sandbox: str = "auto"
    small: bool = False
    force: bool = False
    progress: bool = True
    students: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    expose_packages: list[str] = field(default_factory=lambda: ["llmcourse"])
    stop_after: int | None = None
    guard: bool = True  # the kernel's helper guard around test cells (off only to measure what it catches)
    collect_limits: CollectLimits = field(default_factory=CollectLimits)


@dataclass
class Job:
    """One student's notebooks to execute (sent to a worker process)."""

    student: str
    notebooks: dict[str, dict[str, Any]]
    config: SandboxConfig
    settings: ExecSettings
    guards: dict[str, GuardPlan] = field(default_factory=dict)


@dataclass
class JobResult:
    """What a worker sends back."""

    student: str
    runs: dict[str, NotebookRun]
    seconds: float
    error: str | None = None


class Interrupted(Exception):
    """Raised when a run stops early (Ctrl-C or --stop-after); the journal lets it resume."""


# --------------------------------------------------------------------------- workers
def _init_worker(counter: Any) -> None:
    global _WORKER_ID
    with counter.get_lock():
        counter.value += 1
        _WORKER_ID = counter.value
    become_subreaper()


def run_job(job: Job) -> JobResult:
    """Execute one student's notebooks, one fresh kernel each, within the per-student time limit."""
    start = time.monotonic()
    runs = {}
    try:
        for name, nb in job.notebooks.items():
            left = job.settings.student_timeout - (time.monotonic() - start)
            settings = ExecSettings(job.settings.cell_timeout, max(1.0, left), job.settings.interrupt_grace,
                                    job.settings.max_restarts)
            runs[name] = execute_notebook(nb, job.config, settings, worker=_WORKER_ID, guard=job.guards.get(name))
    except Exception as exc:  # noqa: BLE001 - reported as failed(...) for this student only
        return JobResult(job.student, runs, time.monotonic() - start, f"{type(exc).__name__}: {str(exc)[:300]}")
    return JobResult(job.student, runs, time.monotonic() - start)


# --------------------------------------------------------------------------- set-up helpers
def choose_sandbox(requested: str) -> tuple[str, str | None]:
    """('bwrap' or 'none', warning or None) for --sandbox auto|bwrap|none."""
    if requested == "none":
        return "none", "sandbox disabled (--sandbox none): student code runs with your user's rights"
    reason = probe_bwrap()
    if reason is None:
        return "bwrap", None
    if requested == "bwrap":
        raise SystemExit(f"--sandbox bwrap: {reason}")
    return "none", (f"{reason}. Grading WITHOUT the sandbox (reduced isolation): student code can read and, as "
                    "your user, change anything you can; network, hidden tests and the gradebook are reachable. "
                    "Resource limits, time limits, process clean-up and gradebook checks still apply.")


@functools.cache
def _plain_uid_works(python: str) -> bool:
    uid = slot_uid(1)
    if uid is None:
        return False
    try:
        done = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--", python,
                               "-c", "import sys, ipykernel; print(sys.version, sys.base_prefix)"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and done.stdout.strip() == f"{sys.version} {sys.base_prefix}"


def exposure(packages: list[str], protected: list[Path]) -> list[str]:
    """Host folders the kernel needs read-only: Python, the environment, and the listed packages."""
    import importlib.util

    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(os.path.realpath(sys.base_prefix))}
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin:
            raise SystemExit(f"package {name!r} (needed by the notebooks) is not importable")
        paths.add(Path(spec.origin).resolve().parent if spec.submodule_search_locations else Path(spec.origin))
    covered = sorted({p for p in paths if p.exists()}, key=lambda p: len(p.parts))
    final: list[Path] = []
    for p in covered:
        if not any(q == p or q in p.parents for q in final):
            final.append(p)
    for p in final:
        for q in protected:
            if p == q or p in q.parents or q in p.parents:
                raise SystemExit(f"the kernel needs {p}, which overlaps protected {q}; move the environment")
    return [str(p) for p in final]


def _matplotlib_cache(work: Path) -> dict[str, bytes]:
    """matplotlib's font cache, handed to every kernel so none rebuilds it (about a second each).

    Taken from the instructor's own cache when there is one, else built once into the output folder.
    """
    home_cache = Path(os.environ.get("MPLCONFIGDIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                      / "matplotlib")
    folder = work / "mplconfig"
    found = sorted(home_cache.glob("fontlist-*.json")) + sorted(folder.glob("fontlist-*.json"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, MPLCONFIGDIR=str(folder), MPLBACKEND="agg")
        try:
            subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, timeout=300,
                           capture_output=True, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return {}
        found = sorted(folder.glob("fontlist-*.json"))
    return {f".config/matplotlib/{p.name}": p.read_bytes() for p in found[-1:]}


def _provided(release: Path) -> list[str]:
    skip = {".ipynb_checkpoints", "__pycache__", "feedback"}
    return [str(p) for p in sorted(release.iterdir()) if p.suffix != ".ipynb" and p.name not in skip
            and not p.name.startswith(".") and p.suffix not in (".py", ".db", ".pyc")]


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part if isinstance(part, bytes) else json.dumps(part, sort_keys=True, default=str).encode())
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(f"another grading run is using {out}") from None
        yield


def match_notebooks(books: list[ReleaseNotebook], files: dict[str, bytes]) -> dict[str, tuple[str, bytes] | None]:
    """Which submitted file is which released notebook: same name, else the one sharing its grade ids."""
    matched: dict[str, tuple[str, bytes] | None] = {}
    used: set[str] = set()
    for book in books:
        exact = [p for p in files if p == book.name] or [p for p in files if Path(p).name == book.name]
        if exact:
            matched[book.name] = (exact[0], files[exact[0]])
            used.add(exact[0])
    for book in books:
        if book.name in matched:
            continue
        best, best_n = None, 0
        for path, data in files.items():
            if path in used:
                continue
            doc, _, _ = parse_notebook(data)
            n = len(grade_ids(doc) & set(book.cells)) if doc else 0
            if n > best_n:
                best, best_n = path, n
        left = [p for p in files if p not in used]
        if best is None and len(books) == 1 and len(left) == 1:
            best = left[0]
        matched[book.name] = (best, files[best]) if best else None
        if best:
            used.add(best)
    return matched


# --------------------------------------------------------------------------- the run
class Grader:
    """One grading run over a class (see the module docstring)."""

    def __init__(self, opts: GradeOptions) -> None:
        self.opts = opts
        root = opts.course_root.resolve()
        self.source_dir = (opts.source_dir or root / SOURCE_DIR).resolve()
        self.release_dir = (opts.release_dir or root / RELEASE_DIR).resolve()
        self.gradebook_path = (opts.gradebook or root / "gradebook.db").resolve()
        self.out = opts.out.resolve()
        self.submissions = opts.submissions.resolve()
        self.warnings: list[str] = []
        self.records: dict[str, dict[str, Any]] = {}
        self.graded = 0
        self.reused = 0
        self.in_flight: set[str] = set()
        self.suspects: set[str] = set()

    # ---- set-up
    def _setup(self) -> None:
        opts = self.opts
        self.books = load_release(opts.assignment, self.source_dir, self.release_dir)
        self.guards = {b.name: guard_plan(b) for b in self.books} if opts.guard else {}
        self.mode, warning = choose_sandbox(opts.sandbox)
        if warning:
            self.warnings.append(warning)
            print(f"WARNING: {warning}", file=sys.stderr)
        protected = [self.source_dir, self.gradebook_path, self.submissions, self.out]
        if (opts.course_root / "tests").is_dir():
            protected.append((opts.course_root / "tests").resolve())
        cpu = os.cpu_count() or 1
        workers = opts.workers if opts.workers else min(2, cpu)
        if not opts.workers:  # do not promise more memory than the machine has
            ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            workers = min(workers, max(1, ram // max(opts.memory, 1)))
        self.workers = max(1, workers)
        if leaderboard.enabled(opts.assignment) and self.workers > 1:  # timings need the machine to themselves
            self.warnings.append(f"{opts.assignment} has a leaderboard with speed measurements: grading one "
                                 f"student at a time (asked for {self.workers} workers)")
            print(f"NOTE: {self.warnings[-1]}", file=sys.stderr)
            self.workers = 1
        threads = max(1, cpu // self.workers)
        env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                           "NUMBA_NUM_THREADS", "TORCH_NUM_THREADS")}
        if opts.small:
            env["LLMCOURSE_SMALL"] = "1"
        # numba.cuda kernels (module 15) run in Numba's CUDA simulator: the guard imports numba.cuda before the
        # notebook's llmcourse.cudasim.select() can choose, and Numba reads this variable at import. An instructor
        # grading on a GPU that the kernels can reach passes --env NUMBA_ENABLE_CUDASIM=0.
        env["NUMBA_ENABLE_CUDASIM"] = "1"
        env.update(opts.env)
        limits = Limits(memory_bytes=opts.memory, cpu_seconds=int(2 * opts.student_timeout * threads + 60))
        drop_uid = True if self.mode == "bwrap" else _plain_uid_works(sys.executable)
        if drop_uid is False and self.mode == "none" and os.geteuid() == 0:
            self.warnings.append("kernels run as root: the unprivileged uid cannot reach this Python")
            print(f"WARNING: {self.warnings[-1]}", file=sys.stderr)
        self.config = SandboxConfig(
            mode=self.mode, assignment=opts.assignment, python=sys.executable,
            expose=exposure(opts.expose_packages, protected) if self.mode == "bwrap" else [],
            protected=[str(p) for p in protected], provided=_provided(self.release_dir / opts.assignment),
            env=env, limits=limits, drop_uid=drop_uid, home_files=_matplotlib_cache(self.out / "work"))
        self.settings = ExecSettings(opts.cell_timeout, opts.student_timeout, opts.interrupt_grace, opts.max_restarts)
        release_bytes = [(b.name, json.dumps(b.release, sort_keys=True), json.dumps(b.source, sort_keys=True))
                         for b in self.books]
        self.settings_key = _digest(GRADER_VERSION, release_bytes, asdict(self.settings), opts.memory, opts.small,
                                    self.mode, sorted(opts.env.items()), opts.guard)  # not the thread counts: --workers
        self.store = GradebookStore(self.gradebook_path, opts.course_id, self.out / "work",
                                    sandboxed=self.mode == "bwrap")
        self.backup = self.store.backup(self.out / "backups")
        self.store.register(opts.assignment, self.books)

    # ---- per student
    def _prepare(self, sub: Submission) -> dict[str, Prepared]:
        if sub.invalid:
            return {b.name: Prepared(b.name, "invalid", sub.invalid) for b in self.books}
        matched = match_notebooks(self.books, sub.notebooks)
        prepared = {}
        for book in self.books:
            m = matched[book.name]
            oversized = [f for f in sub.files if f.path.endswith(".ipynb") and f.refused]
            if m is None and oversized:
                prepared[book.name] = Prepared(book.name, "invalid", f"{oversized[0].path}: {oversized[0].refused}")
            else:
                prepared[book.name] = prepare(book, m[1] if m else None, m[0] if m else None)
        return prepared

    def _finalize(self, sub: Submission, prepared: dict[str, Prepared], result: JobResult | None) -> dict[str, Any]:
        """Score, verify, write the gradebook and the student's files; return the student's record."""
        a = self.opts.assignment
        record: dict[str, Any] = {"assignment": a, "notebooks": {}, "flags": [f.text() for f in sub.flags]}
        to_write: dict[str, NotebookScore] = {}
        flagged: dict[str, bool] = {}
        statuses = []
        for book in self.books:
            p = prepared[book.name]
            nb_rec: dict[str, Any] = {"max_score": book.max_score, "submitted_as": p.submitted_as}
            executed = None
            flags = list(p.flags)
            if p.status == "missing":
                scores, status = zero_scores(book, "missing", "no notebook"), "missing"
            elif p.status == "invalid":
                scores, status = zero_scores(book, "invalid", p.reason), f"invalid({p.reason})"
                to_write[book.name] = scores
            else:
                run = result.runs.get(book.name) if result else None
                if run is None:
                    why = result.error if result and result.error else "not executed"
                    scores, status = zero_scores(book, "not_run", why), f"failed({why})"
                else:
                    scores = score_notebook(book, run)
                    flags += scores.flags
                    executed = run.notebook
                    status = f"failed({run.failure})" if run.failure else "graded"
                expected = {g for g, c in book.cells.items() if c.kind in ("test", "manual")}
                if set(scores.cells) != expected:
                    flags.append(Flag("verify", f"cells without a score: {sorted(expected - set(scores.cells))}"))
                for index, gid, finding in p.findings:
                    flags.append(Flag(f"scan:{finding.rule}", f"line {finding.line}: {finding.snippet}",
                                      gid or f"cell {index}"))
                to_write[book.name] = scores
            if status == "graded" and (flags or sub.flags):
                status = "graded+flags"
            nb_rec.update({
                "status": status, "score": scores.score, "flags": [f.text() for f in flags],
                "cells": {gid: {"score": c.score, "max_score": c.max_score, "outcome": c.outcome, "detail": c.detail}
                          for gid, c in scores.cells.items()},
            })
            flagged[book.name] = bool(flags or sub.flags) or not status.startswith("graded")
            record["notebooks"][book.name] = nb_rec
            record["flags"] += [f.text() if len(self.books) == 1 else f"{book.name}: {f.text()}" for f in flags]
            statuses.append(status)
            self._write_files(sub.student, book.name, nb_rec, executed)
        if to_write:
            problems = self.store.write(sub.student, a, to_write, flagged, sub.timestamp)
            for problem in problems:
                record["flags"].append(f"gradebook_check: {problem}")
            if any("outside the grader" in p for p in problems):
                self.suspects |= self.in_flight
        if sub.student in self.suspects and not any("outside the grader" in f for f in record["flags"]):
            record["flags"].append("gradebook_check: the gradebook was modified while this student ran")
        record["status"] = _combine(statuses, bool(record["flags"]))
        record["score"] = sum(n["score"] for n in record["notebooks"].values())
        record["max_score"] = sum(b.max_score for b in self.books)
        return record

    def _write_files(self, student: str, name: str, nb_rec: dict[str, Any], executed: dict[str, Any] | None) -> None:
        a = self.opts.assignment
        if executed is not None:
            atomic_write(self.out / "autograded" / student / a / name, json.dumps(executed, indent=1) + "\n")
        if not nb_rec["status"] == "missing":
            page = feedback_html(student, a, name, nb_rec, executed)
            atomic_write(self.out / "feedback" / student / a / name.replace(".ipynb", ".html"), page)

    def _artifacts_present(self, student: str, record: dict[str, Any]) -> bool:
        a = self.opts.assignment
        for name, nb in record.get("notebooks", {}).items():
            if nb["status"] == "missing":
                continue
            if not (self.out / "feedback" / student / a / name.replace(".ipynb", ".html")).exists():
                return False
        return True

    # ---- journal
    def _journal(self) -> dict[str, dict[str, Any]]:
        path = self.out / "journal.jsonl"
        entries: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    entries[entry["student"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interruption
        return entries

    def _append_journal(self, student: str, key: str, record: dict[str, Any], seconds: float) -> None:
        line = json.dumps({"student": student, "key": key, "record": record, "seconds": round(seconds, 3)})
        with open(self.out / "journal.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # ---- main loop
    def run(self) -> dict[str, Any]:
        """Grade the class; return the summary also written to status.json."""
        start = time.time()
        with _locked(self.out), contextlib.ExitStack() as stack:
            self._setup()
            stack.callback(self.store.close)
            subs = collect(self.submissions, self.opts.assignment, self.opts.collect_limits)
            self._write_manifest(subs)
            roster = set(subs) | set(self.store.students())
            journal = self._journal()
            if self.opts.students:
                for student in roster - set(self.opts.students):
                    if student in journal:  # not selected: keep its last result in the exports
                        self.records[student] = journal[student]["record"]
                roster &= set(self.opts.students)
            if self.opts.force:
                journal = {}
            pending: dict[str, tuple[Submission, dict[str, Prepared], str]] = {}
            jobs: list[Job] = []
            for student in sorted(roster):
                sub = subs.get(student) or Submission(student, "none")
                key = _digest(self.settings_key, sub.key())
                old = journal.get(student)
                if old and old.get("key") == key and self._artifacts_present(student, old["record"]):
                    self.records[student] = old["record"]
                    self.reused += 1
                    self._restore_scores(student, old["record"])
                    continue
                prepared = self._prepare(sub)
                ready = {n: p.notebook for n, p in prepared.items() if p.status == "ready" and p.notebook}
                if ready:
                    pending[student] = (sub, prepared, key)
                    jobs.append(Job(student, ready, self.config, self.settings, self.guards))
                else:
                    self._record(sub, prepared, None, key)
            self._execute(jobs, pending)
            summary = self._export(start)
        return summary

    def _restore_scores(self, student: str, record: dict[str, Any]) -> None:
        """A reused result must still be in the gradebook (it may have been replaced): write it back if not."""
        wanted = {name: {gid: c["score"] for gid, c in nb["cells"].items()}
                  for name, nb in record["notebooks"].items() if nb["status"] != "missing"}
        if not wanted or self.store.holds(student, self.opts.assignment, wanted):
            return
        scores, flagged = {}, {}
        for name, nb in record["notebooks"].items():
            if nb["status"] == "missing":
                continue
            scores[name] = NotebookScore({gid: CellScore(gid, c["score"], c["max_score"], c["outcome"], c["detail"],
                                                         review=c["outcome"] not in ("passed", "failed", "partial"))
                                          for gid, c in nb["cells"].items()})
            flagged[name] = bool(nb["flags"]) or not nb["status"].startswith("graded")
        self.store.write(student, self.opts.assignment, scores, flagged)

    def _write_manifest(self, subs: dict[str, Submission]) -> None:
        manifest = {s: {"origin": sub.origin, "invalid": sub.invalid, "timestamp": sub.timestamp,
                        "files": [asdict(f) for f in sub.files]} for s, sub in sorted(subs.items())}
        atomic_write(self.out / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")

    def _record(self, sub: Submission, prepared: dict[str, Prepared], result: JobResult | None, key: str) -> None:
        record = self._finalize(sub, prepared, result)
        self.records[sub.student] = record
        self._append_journal(sub.student, key, record, result.seconds if result else 0.0)

    def _execute(self, jobs: list[Job], pending: dict[str, tuple[Submission, dict[str, Prepared], str]]) -> None:
        if not jobs:
            return
        import tqdm as tqdm_module
        from tqdm import tqdm

        tqdm_module.tqdm.monitor_interval = 0  # no monitor thread: worker processes are forked
        bar = tqdm(total=len(jobs), desc=f"grading {self.opts.assignment}", unit="student",
                   disable=not self.opts.progress, file=sys.stderr)
        counts: dict[str, int] = {}

        def done(result: JobResult) -> None:
            sub, prepared, key = pending.pop(result.student)
            self._record(sub, prepared, result, key)
            self.in_flight.discard(result.student)
            self.graded += 1
            status = self.records[sub.student]["status"].split("(")[0]
            counts[status] = counts.get(status, 0) + 1
            bar.set_postfix_str(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), refresh=False)
            bar.update(1)
            if self.opts.stop_after is not None and self.graded >= self.opts.stop_after and pending:
                raise Interrupted(f"stopped after {self.graded} students (--stop-after)")

        try:
            if self.mode == "bwrap" and (self.workers == 1 or len(jobs) == 1):
                for job in jobs:  # in-process: the sandbox itself contains and cleans up after each kernel
                    self.in_flight.add(job.student)
                    done(run_job(job))
            else:
                self._pool(jobs, done)
        finally:
            bar.close()

    def _pool(self, jobs: list[Job], done: Any) -> None:
        # fork: workers start at once, without re-importing anything; the pool forks them before it
        # starts its own thread, and the parent holds no other thread.
        ctx = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
        queue = list(jobs)
        retried: set[str] = set()
        while queue:
            counter = ctx.Value("i", 0)
            broken: list[Job] = []
            with ProcessPoolExecutor(max_workers=min(self.workers, len(queue)), mp_context=ctx,
                                     initializer=_init_worker, initargs=(counter,)) as pool:
                flight: dict[Future, Job] = {}
                try:
                    while queue or flight:
                        while queue and len(flight) < 2 * self.workers:
                            job = queue.pop(0)
                            flight[pool.submit(run_job, job)] = job
                            self.in_flight.add(job.student)
                        finished, _ = wait(flight, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            job = flight.pop(fut)
                            try:
                                result = fut.result()
                            except BrokenProcessPool:
                                broken.append(job)
                                continue
                            done(result)
                        if broken:
                            break
                except BaseException:
                    for fut in flight:
                        fut.cancel()
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
                broken += list(flight.values())
            for job in broken:
                if job.student in retried:
                    done(JobResult(job.student, {}, 0.0, "grading worker crashed twice"))
                else:
                    retried.add(job.student)
                    queue.insert(0, job)

    def _export(self, start: float) -> dict[str, Any]:
        columns = [(b.name, c.grade_id) for b in self.books for c in b.cells.values() if c.kind in ("test", "manual")]
        maxima = {f"{b.name}:{c.grade_id}": c.points for b in self.books for c in b.cells.values()}
        final = self.store.check_untouched()
        if final:
            self.warnings.append(final)
        sandbox = "bwrap" if self.mode == "bwrap" else "none (reduced isolation)"
        summary = {"assignment": self.opts.assignment, "sandbox": sandbox, "warnings": self.warnings,
                   "max_score": sum(b.max_score for b in self.books), "students": self.records,
                   "settings": {"cell_timeout": self.opts.cell_timeout, "student_timeout": self.opts.student_timeout,
                                "memory_bytes": self.opts.memory, "small": self.opts.small}}
        write_csv(self.out / "grades.csv", self.records, columns)
        write_status(self.out / "status.json", summary)
        write_report(self.out / "report.html", summary, columns, maxima)
        if leaderboard.enabled(self.opts.assignment):
            leaderboard.write(self.opts.assignment, self.out, self.records, self.workers)
        run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start)), "seconds": time.time() - start,
               "graded": self.graded, "reused": self.reused, "workers": self.workers, "sandbox": sandbox,
               "backup": str(self.backup)}
        with open(self.out / "runs.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(run) + "\n")
        return {**summary, "run": run}


def _combine(statuses: list[str], flagged: bool) -> str:
    kinds = [s.split("(")[0] for s in statuses]
    if all(k == "missing" for k in kinds):
        return "missing"
    present = [s for s in statuses if not s.startswith("missing")]
    worst = min(present, key=lambda s: STATUS_ORDER.index(s.split("(")[0]))
    if worst == "graded" and (flagged or len(present) < len(statuses)):
        return "graded+flags"
    return worst


def grade(opts: GradeOptions) -> dict[str, Any]:
    """Run the pipeline; return the summary (status.json plus run statistics)."""
    return Grader(opts).run()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point (make grade ARGS=...)."""
    p = argparse.ArgumentParser(prog="python -m autograde.grade", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("assignment", help="assignment id, e.g. 01_attention")
    p.add_argument("submissions", nargs="?", type=Path, help="submissions folder (default: <course-root>/submitted)")
    p.add_argument("--out", type=Path, help="output folder (default: grading-output/<assignment>)")
    p.add_argument("--course-root", type=Path, default=REPO, help="folder holding solutions/, course/, gradebook.db")
    p.add_argument("--source-dir", type=Path, help="instructor notebooks (default: <course-root>/solutions)")
    p.add_argument("--release-dir", type=Path, help="released notebooks (default: <course-root>/course)")
    p.add_argument("--gradebook", type=Path, help="nbgrader gradebook (default: <course-root>/gradebook.db)")
    p.add_argument("--course-id", default="llmcourse")
    p.add_argument("--workers", type=int, help="parallel kernels (default: 2 when there are 2+ cores)")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    p.add_argument("--student-timeout", type=float, default=900.0, help="seconds per student (default 900)")
    p.add_argument("--memory", type=parse_size, default=4 << 30, help="memory limit per kernel (default 4G)")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "none"), default="auto",
                   help="auto: bubblewrap when it works, else run without it and warn")
    p.add_argument("--small", action="store_true", help="set LLMCOURSE_SMALL=1 in the kernels (test sizes)")
    p.add_argument("--force", action="store_true", help="regrade everyone, ignoring the journal")
    p.add_argument("--student", action="append", dest="students", help="grade only this student (repeatable)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra kernel environment")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)
    p.add_argument("--no-guard", action="store_true", help=argparse.SUPPRESS)  # measurement only
    args = p.parse_args(argv)
    root = args.course_root.resolve()
    env = dict(item.split("=", 1) for item in args.env if "=" in item)
    opts = GradeOptions(
        assignment=args.assignment, submissions=args.submissions or root / "submitted",
        out=args.out or root / "grading-output" / args.assignment, course_root=root, source_dir=args.source_dir,
        release_dir=args.release_dir, gradebook=args.gradebook, course_id=args.course_id, workers=args.workers,
        cell_timeout=args.cell_timeout, student_timeout=args.student_timeout, memory=args.memory,
        sandbox=args.sandbox, small=args.small, force=args.force, progress=not args.no_progress,
        students=args.students, env=env, stop_after=args.stop_after, guard=not args.no_guard)
    try:
        summary = grade(opts)
    except Interrupted as exc:
        print(f"interrupted: {exc}; run the same command again to resume", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    counts: dict[str, int] = {}
    for r in summary["students"].values():
        counts[r["status"].split("(")[0]] = counts.get(r["status"].split("(")[0], 0) + 1
    print(f"{len(summary['students'])} students: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
          f"; {summary['run']['graded']} graded now, {summary['run']['reused']} reused; sandbox {summary['sandbox']}")
    print(f"wrote {opts.out.resolve()}/grades.csv, status.json, report.html, feedback/")
    return 0


if __name__ == "__main__":
    if shutil.which("alembic") is None:
        os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    sys.exit(main())
