"""Collect submissions: find each student's files, hash every one, refuse what is oversized or unsafe.

Two layouts are accepted under the submissions folder, mixed if need be:

    <root>/<student>/<assignment>/<notebook>.ipynb     nbgrader's `submitted/` layout (timestamp.txt optional)
    <root>/<student>.zip                               one archive per student (also <student>_<assignment>.zip)

Nothing is extracted to disk and nothing is followed: symbolic links, absolute or `..` paths inside
archives, encrypted members, files over the size limit and archives with too many members are refused and
recorded. Notebook bytes are kept in memory for pre-validation; every file's sha256 goes to the manifest.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .prevalidate import Flag

STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
_SKIP_DIRS = {".ipynb_checkpoints", "__MACOSX", "__pycache__", ".git"}
_CODE_SUFFIXES = {".py", ".pth", ".so", ".pyc", ".pyd", ".dylib"}


@dataclass
class CollectLimits:
    """Size limits applied while collecting."""

    max_file_bytes: int = 20 << 20
    max_total_bytes: int = 100 << 20
    max_files: int = 500


@dataclass
class SubmittedFile:
    """One file of a submission (path relative to the assignment folder or archive root)."""

    path: str
    size: int
    sha256: str | None
    refused: str | None = None


@dataclass
class Submission:
    """Everything collected for one student."""

    student: str
    origin: str
    files: list[SubmittedFile] = field(default_factory=list)
    notebooks: dict[str, bytes] = field(default_factory=dict)
    flags: list[Flag] = field(default_factory=list)
    invalid: str | None = None
    timestamp: str | None = None

    def key(self) -> str:
        """A digest of every collected file (path, size, hash): changes whenever the submission does."""
        digest = hashlib.sha256(self.student.encode())
        for f in sorted(self.files, key=lambda f: f.path):
            digest.update(f"{f.path}\0{f.size}\0{f.sha256}\0{f.refused}\n".encode())
        digest.update(f"{self.invalid}".encode())
        return digest.hexdigest()


def _safe_relative(name: str) -> str | None:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or ":" in path.parts[0]:
        return None
    return str(path)


class _Budget:
    def __init__(self, limits: CollectLimits) -> None:
        self.limits = limits
        self.total = 0
        self.count = 0


def _accept(sub: Submission, budget: _Budget, rel: str, size: int, read: Callable[[int], bytes]) -> None:
    """Hash (and keep, for notebooks) one file, or record why it was refused."""
    limits = budget.limits
    budget.count += 1
    if budget.count > limits.max_files:
        if budget.count == limits.max_files + 1:
            sub.flags.append(Flag("too_many_files", f"only the first {limits.max_files} files were read"))
        sub.files.append(SubmittedFile(rel, size, None, "too many files"))
        return
    if size > limits.max_file_bytes:
        sub.files.append(SubmittedFile(rel, size, None, f"oversized ({size} bytes > {limits.max_file_bytes})"))
        sub.flags.append(Flag("oversized_file", f"{rel}: {size} bytes, not read"))
        return
    if budget.total + size > limits.max_total_bytes:
        sub.files.append(SubmittedFile(rel, size, None, "submission size limit reached"))
        sub.flags.append(Flag("oversized_submission", f"{rel} not read: over {limits.max_total_bytes} bytes in all"))
        return
    data = read(limits.max_file_bytes + 1)
    if len(data) > limits.max_file_bytes:
        sub.files.append(SubmittedFile(rel, len(data), None, "oversized (size header was wrong)"))
        sub.flags.append(Flag("oversized_file", f"{rel}: larger than declared, not read"))
        return
    budget.total += len(data)
    sub.files.append(SubmittedFile(rel, len(data), hashlib.sha256(data).hexdigest()))
    name = PurePosixPath(rel).name
    if rel.endswith(".ipynb"):
        sub.notebooks[rel] = data
    elif name == "timestamp.txt" and "/" not in rel:
        sub.timestamp = data.decode("utf-8", "replace").strip()[:64] or None
    elif PurePosixPath(rel).suffix in _CODE_SUFFIXES or name in ("sitecustomize.py", "usercustomize.py"):
        sub.flags.append(Flag("planted_module", f"{rel} submitted; extra files never reach the grading kernel"))


def _from_folder(student: str, folder: Path, limits: CollectLimits) -> Submission:
    sub = Submission(student, "folder")
    budget = _Budget(limits)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d in _SKIP_DIRS:
                continue
            if (here / d).is_symlink():
                rel = str((here / d).relative_to(folder))
                sub.files.append(SubmittedFile(rel, 0, None, "symbolic link"))
                sub.flags.append(Flag("symlink_refused", rel))
                continue
            keep.append(d)
        dirnames[:] = keep
        for name in sorted(filenames):
            path = here / name
            rel = str(path.relative_to(folder))
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                sub.files.append(SubmittedFile(rel, 0, None, "not a regular file"))
                sub.flags.append(Flag("symlink_refused" if stat.S_ISLNK(info.st_mode) else "special_file", rel))
                continue
            with open(path, "rb") as fh:
                _accept(sub, budget, rel, info.st_size, fh.read)
    return sub


def _from_zip(student: str, archive: Path, assignment: str, limits: CollectLimits) -> Submission:
    sub = Submission(student, "zip")
    budget = _Budget(limits)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > 10 * limits.max_files:
                sub.invalid = f"archive has {len(members)} members"
                return sub
            names = [m.filename for m in members]
            prefix = _common_prefix(names, student, assignment)
            for info in members:
                if info.is_dir():
                    continue
                rel = _safe_relative(info.filename)
                if rel is None:
                    sub.files.append(SubmittedFile(info.filename[:200], info.file_size, None, "unsafe path"))
                    sub.flags.append(Flag("unsafe_path_refused", info.filename[:200]))
                    continue
                if any(part in _SKIP_DIRS for part in PurePosixPath(rel).parts):
                    continue
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    sub.files.append(SubmittedFile(rel, info.file_size, None, "symbolic link"))
                    sub.flags.append(Flag("symlink_refused", rel))
                    continue
                if info.flag_bits & 0x1:
                    sub.files.append(SubmittedFile(rel, info.file_size, None, "encrypted"))
                    sub.flags.append(Flag("encrypted_member", rel))
                    continue
                rel = rel[len(prefix):] if prefix and rel.startswith(prefix) else rel
                with zf.open(info) as fh:
                    _accept(sub, budget, rel, info.file_size, fh.read)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        sub.invalid = f"unreadable zip ({type(exc).__name__}: {str(exc)[:100]})"
    return sub


def _common_prefix(names: list[str], student: str, assignment: str) -> str:
    """A leading `<student>/<assignment>/`, `<assignment>/` or single top folder shared by every member."""
    for prefix in (f"{student}/{assignment}/", f"{assignment}/"):
        if names and all(n.startswith(prefix) or n.rstrip("/") + "/" == prefix for n in names):
            return prefix
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    if len(tops) == 1 and all("/" in n for n in names):
        return f"{tops.pop()}/"
    return ""


def _student_from_zip(stem: str, assignment: str) -> str:
    for sep in ("_", "-", "."):
        if stem.endswith(sep + assignment):
            return stem[: -len(assignment) - 1]
    return stem


def collect(root: Path, assignment: str, limits: CollectLimits | None = None) -> dict[str, Submission]:
    """Every student's submission for one assignment, keyed by student id."""
    limits = limits or CollectLimits()
    found: dict[str, Submission] = {}
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder {root} does not exist")
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_symlink():
            name = entry.name if STUDENT_RE.match(entry.name) else _bad_name(entry.name)
            found[name] = Submission(name, "link", invalid="symbolic link instead of a folder or archive")
            continue
        if entry.is_dir():
            student = entry.name
            folder = entry / assignment
            if not STUDENT_RE.match(student):
                found[_bad_name(student)] = Submission(_bad_name(student), "folder",
                                                       invalid=f"student folder name {student[:40]!r} not allowed")
                continue
            if folder.is_symlink():
                found[student] = Submission(student, "folder", invalid="assignment folder is a symbolic link")
            elif folder.is_dir():
                _merge(found, _from_folder(student, folder, limits))
            else:
                found.setdefault(student, Submission(student, "none"))
        elif entry.suffix.lower() == ".zip" and entry.is_file():
            student = _student_from_zip(entry.stem, assignment)
            if not STUDENT_RE.match(student):
                found[_bad_name(student)] = Submission(_bad_name(student), "zip",
                                                       invalid=f"archive name {entry.name[:40]!r} not allowed")
                continue
            _merge(found, _from_zip(student, entry, assignment, limits))
    return found


def _merge(found: dict[str, Submission], sub: Submission) -> None:
    old = found.get(sub.student)
    if old is None or old.origin == "none":
        found[sub.student] = sub
        return
    old.flags.append(Flag("duplicate_submission", f"both a folder and an archive; graded the {old.origin}"))


def _bad_name(name: str) -> str:
    return "invalid-name-" + hashlib.sha256(name.encode(errors="replace")).hexdigest()[:10]
