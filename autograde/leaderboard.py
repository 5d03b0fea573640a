"""The class leaderboard of an assignment whose graded cells print measurements (module 13, the capstone).

A graded cell of such an assignment prints one line `[capstone-leaderboard] {json}` last (llmcourse.capstone.
leaderboard_line): stored bytes, their ratio to fp32, the held-out perplexity ratio, the mean task accuracy,
whether the budget is met and (from the forward-pass cell) the speed ratio. After grading, `collect` reads
those lines from each student's executed notebook, only from the assignment's own test cells and only the
last tagged line of each (a line a student prints earlier in the cell cannot stand in for the harness's),
and `write` produces leaderboard.csv and a section appended to report.html: students within the budget
ranked by stored bytes (then by speed), the others listed below with the reason, and a scatter plot of
size against quality.

The speed ratios are only comparable when no other student's kernel runs at the same time, so the grader
runs such an assignment one student at a time (grade.py sets workers to 1) and the section says so.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from .export import _esc, atomic_write

TAG = "[capstone-leaderboard]"
ASSIGNMENTS = {"13_capstone": ("compress_test", "forward_test")}
COLUMNS = ["rank", "student", "status", "bytes", "bytes_pct", "ppl_ratio", "task_accuracy", "fp32_task_accuracy",
           "speed_ratio", "score", "max_score"]


def enabled(assignment: str) -> bool:
    """Whether this assignment has a leaderboard."""
    return assignment in ASSIGNMENTS


def _tagged(cell: dict[str, Any]) -> dict[str, Any] | None:
    lines = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stdout":
            text = out.get("text", "")
            lines += [ln for ln in ("".join(text) if isinstance(text, list) else text).splitlines()
                      if ln.startswith(TAG)]
    if not lines:
        return None
    try:
        rec = json.loads(lines[-1][len(TAG):])
    except json.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(float(value)) else None


def collect(assignment: str, out: Path, records: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per graded student, from the executed notebooks under out/autograded, ranked."""
    cells = ASSIGNMENTS[assignment]
    rows = []
    for student, record in sorted(records.items()):
        for name, nb_rec in record.get("notebooks", {}).items():
            if nb_rec.get("status") == "missing":
                continue
            row: dict[str, Any] = {"student": student, "score": record.get("score"),
                                   "max_score": record.get("max_score")}
            measured: dict[str, Any] = {}
            path = out / "autograded" / student / assignment / name
            executed = None
            if path.is_file():
                try:
                    executed = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError):
                    executed = None
            outcomes = nb_rec.get("cells", {})
            for cell in (executed or {}).get("cells", []):
                gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if gid in cells:
                    rec = _tagged(cell)
                    if rec is None or outcomes.get(gid, {}).get("outcome") == "tampered":
                        continue
                    if gid == cells[0]:  # size and quality from the first cell, speed from the others
                        measured.update(rec)
                    elif "speed_ratio" in rec:
                        measured["speed_ratio"] = rec["speed_ratio"]
            bytes_ratio = _number(measured.get("bytes_ratio"))
            row.update({"bytes": _number(measured.get("bytes")),
                        "bytes_pct": None if bytes_ratio is None else 100 * bytes_ratio,
                        "ppl_ratio": _number(measured.get("ppl_ratio")),
                        "task_accuracy": _number(measured.get("task_mean")),
                        "fp32_task_accuracy": _number(measured.get("fp32_task_mean")),
                        "speed_ratio": _number(measured.get("speed_ratio"))})
            first = outcomes.get(cells[0], {})
            if bytes_ratio is None:
                detail = first.get("detail") or nb_rec.get("status", "")
                row["status"] = f"not ranked: {str(detail).splitlines()[0][:120] if detail else 'not run'}"
            elif measured.get("budget_met") is not True:
                row["status"] = "over budget"
            elif first.get("outcome") not in ("passed", "partial", "warning_passed"):
                detail = str(first.get("detail", "")).splitlines()[0][:120] if first.get("detail") else ""
                row["status"] = f"rules broken: {detail}"
            else:
                row["status"] = "ranked"
            rows.append(row)
    ranked = sorted((r for r in rows if r["status"] == "ranked"),
                    key=lambda r: (r["bytes_pct"], -(r["speed_ratio"] or 0.0), r["student"]))
    for i, r in enumerate(ranked, 1):
        r["rank"] = i
    others = sorted((r for r in rows if r["status"] != "ranked"), key=lambda r: r["student"])
    for r in others:
        r["rank"] = None
    return ranked + others


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """leaderboard.csv: one row per student, ranked rows first."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([_fmt(r.get(c), 4) for c in COLUMNS])
    atomic_write(path, buf.getvalue())


def _scatter_svg(rows: list[dict[str, Any]], width: int = 520, height: int = 300) -> str:
    pts = [r for r in rows if r["bytes_pct"] is not None and r["ppl_ratio"] is not None]
    if not pts:
        return "<p>No student produced a measurement to plot.</p>"
    x_max = max(55.0, max(r["bytes_pct"] for r in pts) * 1.1)
    y_lo = min(0.99, min(r["ppl_ratio"] for r in pts) - 0.01)
    y_hi = max(1.12, max(r["ppl_ratio"] for r in pts) + 0.02)
    left, bottom, right, top = 60, 40, 20, 20

    def sx(v: float) -> float:
        return left + (width - left - right) * v / x_max

    def sy(v: float) -> float:
        return height - bottom - (height - bottom - top) * (v - y_lo) / (y_hi - y_lo)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" class="leaderboard-plot">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{sy(1.10):.1f}" x2="{width - right}" y2="{sy(1.10):.1f}" stroke="gray" '
             'stroke-dasharray="4"/>',
             f'<text x="{width - right - 120}" y="{sy(1.10) - 4:.1f}" font-size="11">budget 1.10x fp32</text>',
             f'<text x="{(width + left) / 2 - 70}" y="{height - 8}" font-size="12">stored bytes, % of fp32</text>',
             f'<text x="14" y="{(height + top) / 2 + 60}" font-size="12" transform="rotate(-90 14 '
             f'{(height + top) / 2 + 60})">perplexity / fp32</text>']
    for tick in range(0, int(x_max) + 1, 10):
        parts.append(f'<text x="{sx(tick) - 6:.1f}" y="{height - bottom + 14}" font-size="10">{tick}</text>')
    for r in pts:
        color = "#1f77b4" if r["status"] == "ranked" else "#d62728"
        x, y = sx(r["bytes_pct"]), sy(min(r["ppl_ratio"], y_hi))
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}"><title>{_esc(r["student"])}'
                     f'</title></circle>')
        parts.append(f'<text x="{x + 7:.1f}" y="{y - 5:.1f}" font-size="10">{_esc(r["student"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def section(rows: list[dict[str, Any]], workers: int) -> str:
    """The HTML section for report.html: the ranked table, the others with their reason, the scatter plot."""
    head = "".join(f"<th>{c}</th>" for c in ("rank", "student", "status", "bytes", "% of fp32", "ppl ratio",
                                                "task accuracy", "fp32 task accuracy", "speed ratio", "score"))
    body = []
    for r in rows:
        vals = [r["rank"] or "", r["student"], r["status"], _fmt(r["bytes"], 0), _fmt(r["bytes_pct"], 1),
                _fmt(r["ppl_ratio"], 4), _fmt(r["task_accuracy"], 3), _fmt(r["fp32_task_accuracy"], 3),
                _fmt(r["speed_ratio"], 2), f"{_fmt(r['score'], 1)} / {_fmt(r['max_score'], 0)}"]
        body.append("<tr>" + "".join(f"<td>{_esc(str(v))}</td>" for v in vals) + "</tr>")
    timing = ("Measurements ran one student at a time (one grading worker), so no other student's kernel ran "
              "during the timings." if workers == 1 else
              f"WARNING: {workers} grading workers ran at once; speed ratios may be disturbed.")
    return ('<section id="leaderboard"><h2>Class leaderboard</h2>'
            "<p>Students within the budget (held-out perplexity at most 1.10x fp32, mean task accuracy at most "
            "5 points below fp32) are ranked by stored bytes, every array counted (ties: faster first). "
            "Speed is the median ratio of alternating pairs of timings against the fp32 PyTorch reference (one "
            f"torch thread) in the student's own kernel, never an absolute time. {_esc(timing)}</p>"
            f"<table><tr>{head}</tr>{''.join(body)}</table>{_scatter_svg(rows)}</section>")


def write(assignment: str, out: Path, records: dict[str, dict[str, Any]], workers: int) -> list[dict[str, Any]]:
    """Write out/leaderboard.csv and append the section to out/report.html; returns the rows."""
    rows = collect(assignment, out, records)
    write_csv(out / "leaderboard.csv", rows)
    report = out / "report.html"
    page = report.read_text(encoding="utf-8") if report.exists() else "<html><body></body></html>"
    block = section(rows, workers)
    page = page.replace("</body>", block + "</body>", 1) if "</body>" in page else page + block
    atomic_write(report, page)
    return rows
