"""Pre-validation without executing anything: parse a submitted notebook and rebuild it against the release.

    release = load_release("01_attention", source_dir, release_dir)   # instructor + student versions
    prepared = prepare(release[0], raw_bytes)                        # Prepared(status, notebook, flags)

The graded notebook keeps the student's own cells and answers, and takes everything else from the
instructor: test cells (with their hidden tests) come from the source notebook whatever the student did to
them; points and cell flags are reset from the release; deleted or metadata-stripped test cells are put
back; a copy-pasted cell (same grade id twice, upstream nbgrader issue #1083) is demoted to an ordinary cell
instead of aborting the run; unknown grade ids are demoted. Every such repair is recorded as a flag.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from .scan import Finding, scan_source

_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


@dataclass
class Flag:
    """A reason for a reviewer to look: a short code, a detail, and the grade id or cell it concerns."""

    code: str
    detail: str = ""
    cell: str | None = None

    def text(self) -> str:
        """One-line rendering used in the CSV and the report."""
        where = f"[{self.cell}]" if self.cell else ""
        return f"{self.code}{where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class ReleaseCell:
    """One nbgrader cell of the assignment: its kind, points, and the release and instructor versions."""

    grade_id: str
    kind: str  # "solution" | "test" | "locked" | "manual"
    points: float
    order: int
    release: dict[str, Any]
    source: dict[str, Any]


@dataclass
class ReleaseNotebook:
    """One notebook of an assignment, as released to students and as held by the instructor."""

    name: str
    release: dict[str, Any]
    source: dict[str, Any]
    cells: dict[str, ReleaseCell]

    @property
    def tests(self) -> list[ReleaseCell]:
        """Autograded test cells in notebook order."""
        return [c for c in self.cells.values() if c.kind == "test"]

    @property
    def max_score(self) -> float:
        """Points available in this notebook (autograded and manual)."""
        return sum(c.points for c in self.cells.values() if c.kind in ("test", "manual"))


@dataclass
class Prepared:
    """A submitted notebook after pre-validation."""

    name: str
    status: str  # "ready" | "invalid" | "missing"
    reason: str = ""
    notebook: dict[str, Any] | None = None
    flags: list[Flag] = field(default_factory=list)
    submitted_as: str | None = None
    findings: list[tuple[int, str | None, Finding]] = field(default_factory=list)


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any] | None:
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else None


def _kind(nbg: dict[str, Any], cell_type: str) -> str:
    if nbg.get("grade") and not nbg.get("solution") and cell_type == "code":
        return "test"
    if nbg.get("grade"):
        return "manual"
    if nbg.get("solution"):
        return "solution"
    return "locked"


def load_release(assignment: str, source_dir: Path, release_dir: Path) -> list[ReleaseNotebook]:
    """The assignment's notebooks: course/ (student view) paired with solutions/ (hidden tests)."""
    folder = release_dir / assignment
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no released notebook in {folder}")
    books = []
    for path in paths:
        src_path = source_dir / assignment / path.name
        if not src_path.exists():
            raise FileNotFoundError(f"{path.name} is released but {src_path} is missing")
        release = json.loads(path.read_text(encoding="utf-8"))
        source = json.loads(src_path.read_text(encoding="utf-8"))
        for doc in (release, source):
            for cell in doc["cells"]:
                cell["source"] = _text(cell.get("source")) or ""
        src_cells = {n["grade_id"]: c for c in source["cells"] if (n := _nbgrader(c)) and n.get("grade_id")}
        cells = {}
        for order, cell in enumerate(c for c in release["cells"] if _nbgrader(c) and _nbgrader(c).get("grade_id")):
            nbg = _nbgrader(cell)
            assert nbg is not None
            gid = nbg["grade_id"]
            if gid not in src_cells:
                raise ValueError(f"{path.name}: released cell {gid!r} is not in the source notebook")
            kind = _kind(nbg, cell["cell_type"])
            points = float(nbg.get("points", 0) or 0) if kind in ("test", "manual") else 0.0
            cells[gid] = ReleaseCell(gid, kind, points, order, cell, src_cells[gid])
        books.append(ReleaseNotebook(path.name, release, source, cells))
    return books


def _text(source: Any) -> str | None:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    return None


def parse_notebook(data: bytes) -> tuple[dict[str, Any] | None, str, list[Flag]]:
    """Parse submitted bytes into a plain v4 notebook dict; (None, reason, flags) when it cannot be read."""
    flags: list[Flag] = []
    if not data.strip():
        return None, "empty file", flags
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text ({exc.reason} at byte {exc.start})", flags
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"unreadable JSON ({exc.msg}, line {exc.lineno})", flags
    except RecursionError:
        return None, "unreadable JSON (nested too deeply)", flags
    if not isinstance(doc, dict):
        return None, "not a notebook (the JSON is not an object)", flags
    if "worksheets" in doc and "cells" not in doc:
        try:
            doc = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
            flags.append(Flag("converted", "nbformat 3 notebook converted to version 4"))
        except Exception as exc:  # noqa: BLE001 - any failure means unreadable
            return None, f"not a notebook (old format, {type(exc).__name__})", flags
    cells = doc.get("cells")
    if not isinstance(cells, list):
        return None, "not a notebook (no list of cells)", flags
    clean = []
    dropped = 0
    for cell in cells:
        source = _text(cell.get("source")) if isinstance(cell, dict) else None
        if source is None or cell.get("cell_type") not in ("code", "markdown", "raw"):
            dropped += 1
            continue
        meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        clean.append({"cell_type": cell["cell_type"], "source": source, "metadata": meta,
                      "id": cell.get("id") if isinstance(cell.get("id"), str) else None})
    if dropped:
        flags.append(Flag("malformed_cells", f"{dropped} unreadable cell(s) dropped"))
    return {"cells": clean, "metadata": doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}}, "", flags


def grade_ids(doc: dict[str, Any]) -> set[str]:
    """Grade ids present in a parsed notebook."""
    return {n["grade_id"] for c in doc["cells"] if (n := _nbgrader(c)) and isinstance(n.get("grade_id"), str)}


def _same(a: str, b: str) -> bool:
    return a.strip() == b.strip()


def _make_cell(cell_type: str, source: str, metadata: dict[str, Any]) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": cell_type, "source": source, "metadata": metadata, "id": ""}
    if cell_type == "code":
        cell["outputs"] = []
        cell["execution_count"] = None
    return cell


def rebuild(book: ReleaseNotebook, doc: dict[str, Any]) -> tuple[dict[str, Any], list[Flag], list[int]]:
    """The notebook to grade, its repair flags, and the indices of cells the student wrote (for the scan)."""
    flags: list[Flag] = []
    by_id = {c.release.get("id"): gid for gid, c in book.cells.items() if c.release.get("id")}
    release_plain = {(_text(c.get("source")) or "").strip() for c in book.release["cells"] if not _nbgrader(c)}
    out: list[tuple[str | None, dict[str, Any], bool]] = []  # (grade id, cell, written by the student)
    seen: dict[str, int] = {}
    for cell in doc["cells"]:
        nbg = _nbgrader(cell)
        gid = nbg.get("grade_id") if nbg else None
        if nbg is not None and not isinstance(gid, str):
            flags.append(Flag("bad_metadata", "nbgrader metadata without a grade id removed"))
            gid = None
        if gid is None and cell.get("id") in by_id and by_id[cell["id"]] not in seen:
            gid = by_id[cell["id"]]
            flags.append(Flag("metadata_restored", "nbgrader metadata was removed from this cell", gid))
        elif gid is None and cell["cell_type"] == "code":
            match = [g for g, rc in book.cells.items() if rc.kind == "test" and g not in seen
                     and _same(_text(rc.release["source"]) or "", cell["source"])]
            if match:
                gid = match[0]
                flags.append(Flag("metadata_restored", "test cell without its metadata recognised", gid))
        if gid is None:
            meta = {k: v for k, v in cell["metadata"].items() if k != "nbgrader"}
            student = cell["cell_type"] == "code" and cell["source"].strip() not in release_plain
            out.append((None, _make_cell(cell["cell_type"], cell["source"], meta), student))
            continue
        if gid not in book.cells:
            flags.append(Flag("unknown_grade_id", "cell demoted to an ordinary cell (no points)", gid))
            meta = {k: v for k, v in cell["metadata"].items() if k != "nbgrader"}
            out.append((None, _make_cell(cell["cell_type"], cell["source"], meta), cell["cell_type"] == "code"))
            continue
        rc = book.cells[gid]
        if gid in seen:
            seen[gid] += 1
            if rc.kind == "solution":
                flags.append(Flag("duplicate_grade_id", "extra copy kept as an ordinary cell", gid))
                meta = {k: v for k, v in cell["metadata"].items() if k != "nbgrader"}
                out.append((None, _make_cell(cell["cell_type"], cell["source"], meta), True))
            else:
                flags.append(Flag("duplicate_grade_id", "extra copy of a locked cell removed", gid))
            continue
        seen[gid] = 1
        release_nbg = _nbgrader(rc.release) or {}
        if nbg is not None:
            changed = [k for k in ("grade", "solution", "locked", "points") if nbg.get(k) != release_nbg.get(k)]
            if changed:
                flags.append(Flag("metadata_reset", "changed " + ", ".join(changed) + " reset from the release", gid))
        if cell["cell_type"] != rc.release["cell_type"]:
            flags.append(Flag("cell_type_changed", f"{cell['cell_type']} -> {rc.release['cell_type']}", gid))
        if rc.kind == "solution":
            new = _make_cell(rc.release["cell_type"], cell["source"], copy.deepcopy(rc.release["metadata"]))
            out.append((gid, new, True))
        else:
            if not _same(cell["source"], _text(rc.release["source"]) or ""):
                flags.append(Flag("locked_cell_edited", "restored from the instructor's version", gid))
            new = _make_cell(rc.source["cell_type"], _text(rc.source["source"]) or "",
                             copy.deepcopy(rc.source.get("metadata", {})))
            out.append((gid, new, False))
    for gid, rc in sorted(book.cells.items(), key=lambda kv: kv[1].order):
        if gid in seen:
            continue
        if rc.kind == "solution":
            new = _make_cell(rc.release["cell_type"], _text(rc.release["source"]) or "",
                             copy.deepcopy(rc.release["metadata"]))
            flags.append(Flag("solution_cell_missing", "restored as the unanswered stub", gid))
        else:
            new = _make_cell(rc.source["cell_type"], _text(rc.source["source"]) or "",
                             copy.deepcopy(rc.source.get("metadata", {})))
            flags.append(Flag("test_cell_restored" if rc.kind == "test" else "locked_cell_restored",
                              "deleted cell put back", gid))
        out.insert(_insert_at(out, book, rc.order), (gid, new, False))
        seen[gid] = 1
    cells, written = [], []
    used: set[str] = set()
    for index, (gid, cell, student) in enumerate(out):
        cell["id"] = _cell_id(gid, used)
        cells.append(cell)
        if student and cell["cell_type"] == "code":
            written.append(index)
    meta = copy.deepcopy(book.release.get("metadata", {}))
    nb = {"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}
    nbformat.validate(nbformat.from_dict(nb))
    return nb, flags, written


def _insert_at(out: list[tuple[str | None, dict[str, Any], bool]], book: ReleaseNotebook, order: int) -> int:
    """Where a missing cell goes: after the nearest earlier graded cell present, else before the next one."""
    best_before, best_after = -1, None
    for index, (gid, _, _) in enumerate(out):
        if gid is None or gid not in book.cells:
            continue
        o = book.cells[gid].order
        if o < order:
            best_before = index
        elif o > order and best_after is None:
            best_after = index
    if best_before >= 0:
        return best_before + 1
    return best_after if best_after is not None else len(out)


def _cell_id(gid: str | None, used: set[str]) -> str:
    base = gid.replace("_", "-")[:60] if gid else uuid.uuid4().hex[:12]
    cid, n = base, 1
    while cid in used or not _ID_RE.match(cid):
        n += 1
        cid = f"{base[:56]}-{n}" if _ID_RE.match(base) else uuid.uuid4().hex[:12]
    used.add(cid)
    return cid


def prepare(book: ReleaseNotebook, data: bytes | None, submitted_as: str | None = None) -> Prepared:
    """Parse, repair and scan one submitted notebook (data None means nothing was submitted)."""
    if data is None:
        return Prepared(book.name, "missing", "no notebook submitted")
    doc, reason, flags = parse_notebook(data)
    if doc is None:
        return Prepared(book.name, "invalid", reason, flags=flags, submitted_as=submitted_as)
    nb, repairs, written = rebuild(book, doc)
    prepared = Prepared(book.name, "ready", notebook=nb, flags=flags + repairs, submitted_as=submitted_as)
    if submitted_as and Path(submitted_as).name != book.name:
        prepared.flags.append(Flag("renamed_notebook", f"graded {submitted_as} as {book.name}"))
    aliases: dict[str, str] = {}  # import aliases carry over from cell to cell
    for index in written:
        cell = nb["cells"][index]
        gid = (_nbgrader(cell) or {}).get("grade_id")
        for finding in scan_source(cell["source"], aliases):
            prepared.findings.append((index, gid, finding))
    return prepared
