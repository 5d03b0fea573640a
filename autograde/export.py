"""Outputs of a grading run: grades.csv, status.json, per-student HTML feedback, and the class report.

Feedback is written for students: hidden tests are cut out of test cells and a failing test shows only the
exception's name and message, never its traceback (which would quote hidden test lines). Nothing a student
produced is rendered as HTML: text is escaped, only PNG/JPEG images are embedded.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import statistics
from pathlib import Path
from typing import Any

from .settings import HIDDEN_BLOCK

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_B64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
STATUS_ORDER = ["failed", "invalid", "graded+flags", "graded", "missing"]

_CSS = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.out{background:#fff;border-left:3px solid #ccc}.err{border-left:3px solid #c33;color:#900}
.md{white-space:pre-wrap}.cell{margin:1rem 0}.tag{font-size:.8rem;color:#555}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}
.pass{color:#070}.fail{color:#b00}.flag{color:#a60}
"""


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so that readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, str):
        tmp.write_text(data, encoding="utf-8")
    else:
        tmp.write_bytes(data)
    os.replace(tmp, path)


def strip_hidden(source: str) -> str:
    """A test cell's source as students may see it."""
    return HIDDEN_BLOCK.sub("# (hidden tests run here when grading)\n", source)


def _esc(text: Any) -> str:
    return html.escape(_ANSI.sub("", str(text)))


def _output_html(out: dict[str, Any], test_cell: bool) -> str:
    kind = out.get("output_type")
    if kind == "stream":
        cls = "out err" if out.get("name") == "stderr" else "out"
        return f'<pre class="{cls}">{_esc(out.get("text", ""))}</pre>'
    if kind == "error":
        head = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"
        trace = "" if test_cell else "\n" + "\n".join(out.get("traceback", [])[-30:])
        return f'<pre class="out err">{_esc(head)}{_esc(trace) if trace.strip() else ""}</pre>'
    data = out.get("data", {})
    for mime in ("image/png", "image/jpeg"):
        payload = data.get(mime)
        if isinstance(payload, str) and _B64.match(payload):
            return f'<img alt="figure" src="data:{mime};base64,{payload.strip()}">'
    if "text/plain" in data:
        text = data["text/plain"]
        return f'<pre class="out">{_esc("".join(text) if isinstance(text, list) else text)}</pre>'
    return ""


def feedback_html(student: str, assignment: str, name: str, record: dict[str, Any],
                  notebook: dict[str, Any] | None) -> str:
    """The feedback page for one student's notebook."""
    rows = "".join(
        f"<tr><td>{_esc(gid)}</td><td class=\"{'pass' if c['score'] == c['max_score'] else 'fail'}\">"
        f"{_fmt(c['score'])} / {_fmt(c['max_score'])}</td><td>{_esc(c['outcome'])}</td></tr>"
        for gid, c in record.get("cells", {}).items())
    flags = "".join(f"<li class=\"flag\">{_esc(f)}</li>" for f in record.get("flags", []))
    parts = [
        f"<!doctype html><meta charset=utf-8><title>{_esc(assignment)} feedback: {_esc(student)}</title>",
        f"<style>{_CSS}</style><h1>{_esc(assignment)} · {_esc(name)}</h1>",
        f"<p>Student <b>{_esc(student)}</b>: <b>{_fmt(record.get('score'))} / {_fmt(record.get('max_score'))}</b>"
        f" points, status <b>{_esc(record.get('status'))}</b>.</p>",
        f"<table><tr><th>test</th><th>points</th><th>outcome</th></tr>{rows}</table>",
    ]
    if flags:
        parts.append(f"<p>Notes for the reviewer:</p><ul>{flags}</ul>")
    if notebook is None:
        parts.append(f"<p>No notebook could be graded: {_esc(record.get('reason', ''))}</p>")
        return "\n".join(parts)
    for cell in notebook.get("cells", []):
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        test = bool(nbg.get("grade")) and not nbg.get("solution")
        source = strip_hidden(cell.get("source", "")) if test else cell.get("source", "")
        gid = nbg.get("grade_id")
        tag = ""
        if gid in record.get("cells", {}):
            c = record["cells"][gid]
            tag = f'<div class="tag">test {_esc(gid)}: {_fmt(c["score"])} / {_fmt(c["max_score"])}</div>'
        if cell.get("cell_type") == "markdown":
            parts.append(f'<div class="cell md">{_esc(source)}</div>')
            continue
        outs = "".join(_output_html(o, test) for o in cell.get("outputs", []))
        parts.append(f'<div class="cell">{tag}<pre>{_esc(source)}</pre>{outs}</div>')
    return "\n".join(parts)


def _fmt(x: Any) -> str:
    if x is None:
        return "–"
    return f"{x:g}" if isinstance(x, float) else str(x)


def write_csv(path: Path, records: dict[str, dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """grades.csv: one row per student, the total, the status, the flags and each test cell's score."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    multi = len({nb for nb, _ in columns}) > 1
    writer.writerow(["student", "assignment", "status", "score", "max_score", "flags",
                     *[f"{nb}:{gid}" if multi else gid for nb, gid in columns]])
    for student in sorted(records):
        r = records[student]
        cells = []
        for nb, gid in columns:
            c = r.get("notebooks", {}).get(nb, {}).get("cells", {}).get(gid)
            cells.append("" if c is None or c["score"] is None else _fmt(c["score"]))
        writer.writerow([student, r["assignment"], r["status"], _fmt(r["score"]), _fmt(r["max_score"]),
                         "; ".join(r.get("flags", [])), *cells])
    atomic_write(path, buf.getvalue())


def write_status(path: Path, summary: dict[str, Any]) -> None:
    """status.json: the whole run, machine-readable."""
    atomic_write(path, json.dumps(summary, indent=1, sort_keys=True) + "\n")


def _histograms(records: dict[str, dict[str, Any]], columns: list[tuple[str, str]], maxima: dict[str, float]) -> str:
    """One PNG (base64) with a score histogram per test cell and one for the total."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    graded = [r for r in records.values() if r["status"] not in ("missing",)]
    panels = [*columns, ("", "total")]
    n = len(panels)
    cols = min(4, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, (nb, gid) in zip(axes.flat, panels, strict=False):
        if gid == "total":
            values = [r["score"] for r in graded]
            top = sum(maxima.values())
        else:
            values = [r["notebooks"].get(nb, {}).get("cells", {}).get(gid, {}).get("score") or 0.0 for r in graded]
            top = maxima.get(f"{nb}:{gid}", 1.0)
        counts: dict[float, int] = {}
        for v in values:
            counts[round(float(v), 2)] = counts.get(round(float(v), 2), 0) + 1
        width = max(top, 1.0) / 25 if top > 5 else 0.3
        ax.bar(list(counts), list(counts.values()), width=width, color="#4878a8")
        ax.set_xlim(-max(top, 1.0) * 0.06, max(top, 1.0) * 1.06)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(gid, fontsize=9)
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("students", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_report(path: Path, summary: dict[str, Any], columns: list[tuple[str, str]],
                 maxima: dict[str, float]) -> None:
    """report.html: status counts, per-exercise distributions (plots and table), and the flags to review."""
    records = summary["students"]
    counts = {s: 0 for s in STATUS_ORDER}
    for r in records.values():
        counts[r["status"].split("(")[0]] = counts.get(r["status"].split("(")[0], 0) + 1
    totals = [r["score"] for r in records.values() if r["status"] != "missing"]
    png = _histograms(records, columns, maxima) if records else ""
    stats_rows = []
    for nb, gid in columns:
        cells = [r["notebooks"].get(nb, {}).get("cells", {}).get(gid) for r in records.values()
                 if r["status"] != "missing"]
        cells = [c for c in cells if c]
        full = sum(1 for c in cells if c["score"] == c["max_score"])
        outcomes: dict[str, int] = {}
        for c in cells:
            outcomes[c["outcome"]] = outcomes.get(c["outcome"], 0) + 1
        mean = statistics.mean([c["score"] or 0 for c in cells]) if cells else 0.0
        spread = ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        stats_rows.append(f"<tr><td>{_esc(gid)}</td><td>{_fmt(maxima.get(f'{nb}:{gid}'))}</td><td>{mean:.2f}</td>"
                          f"<td>{full}/{len(cells)}</td><td>{_esc(spread)}</td></tr>")
    flag_rows = []
    for student in sorted(records):
        r = records[student]
        for f in r.get("flags", []):
            flag_rows.append(f"<tr><td>{_esc(student)}</td><td>{_esc(r['status'])}</td><td>{_esc(f)}</td></tr>")
    student_rows = "".join(
        f"<tr><td>{_esc(s)}</td><td>{_esc(r['status'])}</td><td>{_fmt(r['score'])} / {_fmt(r['max_score'])}</td></tr>"
        for s, r in sorted(records.items()))
    mean_total = f"{statistics.mean(totals):.2f}" if totals else "–"
    median_total = f"{statistics.median(totals):.2f}" if totals else "–"
    parts = [
        f"<!doctype html><meta charset=utf-8><title>{_esc(summary['assignment'])}: class report</title>",
        f"<style>{_CSS}</style><h1>{_esc(summary['assignment'])}: class report</h1>",
        f"<p>{len(records)} students · " + " · ".join(f"{k} {v}" for k, v in counts.items() if v) +
        f" · mean {mean_total}, median {median_total} of {_fmt(summary['max_score'])} points · "
        f"sandbox: {_esc(summary['sandbox'])}</p>",
    ]
    for warning in summary.get("warnings", []):
        parts.append(f'<p class="fail">{_esc(warning)}</p>')
    if png:
        parts.append(f'<h2>Score distributions</h2><img alt="score histograms" src="data:image/png;base64,{png}">')
    parts.append("<h2>Per exercise</h2><table><tr><th>test</th><th>points</th><th>mean</th><th>full marks</th>"
                 f"<th>outcomes</th></tr>{''.join(stats_rows)}</table>")
    parts.append("<h2>To review</h2>" + (f"<table><tr><th>student</th><th>status</th><th>flag</th></tr>"
                                         f"{''.join(flag_rows)}</table>" if flag_rows else "<p>Nothing flagged.</p>"))
    parts.append(f"<h2>Students</h2><table><tr><th>student</th><th>status</th><th>score</th></tr>{student_rows}</table>")
    atomic_write(path, "\n".join(parts))
