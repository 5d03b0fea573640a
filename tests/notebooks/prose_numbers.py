"""Numbers and claims in notebook prose that come from a run, checked against the run.

An author writes the number in the markdown and, right after its last digit, an HTML comment naming the
Python expression that computes it (JupyterLab does not render the comment):

    the perplexity rises to 1.74<!--= ppl["W3 per-channel"] --> at three bits
    about 6<!--= db_slope ~10% --> dB per bit            (a relative tolerance, for numbers that vary by run)
    moves the perplexity by well under 1 %<!--? w4_worst_pct < 0.5 -->    (a claim: must be true)

`<!--= EXPR -->` passes when EXPR, rounded to the digits written, gives the number (or is within `~N%` of it);
`<!--? EXPR -->` passes when EXPR is true. Expressions are evaluated in the notebook's namespace after its
last cell, at the learner's default sizes, by the gate that already runs every solution notebook
(tests/notebooks/test_gates.py); so give the values they read names that later cells do not reuse.
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass

import nbformat

COMMENT = re.compile(r"<!--([=?])(.*?)-->", re.S)
NUMBER_BEFORE = re.compile(r"([-+−]?\d[\d,]*(?:\.\d+)?)$")
TOLERANCE = re.compile(r"\s~\s*(\d+(?:\.\d+)?)\s*%\s*$")
MARKER = "PROSE_FACTS_JSON"


@dataclass(frozen=True)
class Fact:
    """One annotated number (kind '=') or claim (kind '?') in a markdown cell."""

    cell: int
    kind: str
    expr: str
    written: float | None = None
    decimals: int = 0
    rel_tol: float | None = None
    text: str = ""

    def where(self) -> str:
        return f"markdown cell {self.cell}: {self.text!r}"


def parse(markdown: str, cell: int = 0) -> list[Fact]:
    """The annotations in one markdown text; raises ValueError for one that is malformed."""
    facts = []
    for m in COMMENT.finditer(markdown):
        kind, body = m.group(1), m.group(2).strip()
        text = markdown[max(0, m.start() - 40):m.end()].replace("\n", " ")
        rel_tol = None
        tol = TOLERANCE.search(" " + body)
        if tol:
            rel_tol, body = float(tol.group(1)) / 100, (" " + body)[:tol.start()].strip()
        if not body:
            raise ValueError(f"markdown cell {cell}: empty annotation in {text!r}")
        try:
            compile(body, "<prose>", "eval")
        except SyntaxError as err:
            raise ValueError(f"markdown cell {cell}: {body!r} is not a Python expression ({err.msg})") from None
        if kind == "?":
            facts.append(Fact(cell, kind, body, text=text))
            continue
        number = NUMBER_BEFORE.search(markdown[:m.start()])
        if not number:
            raise ValueError(f"markdown cell {cell}: '<!--=' must follow a number's last digit: {text!r}")
        digits = number.group(1).replace(",", "").replace("−", "-")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        facts.append(Fact(cell, kind, body, float(digits), decimals, rel_tol, text))
    return facts


def notebook_facts(nb: nbformat.NotebookNode) -> list[Fact]:
    """Every annotation in the notebook's markdown cells."""
    return [f for i, c in enumerate(nb.cells) if c.cell_type == "markdown" for f in parse(c.source, i)]


def operands(expr: str) -> list[str]:
    """The sides of a comparison (`a < b <= c` -> a, b, c), shown beside a claim that fails; else none."""
    node = ast.parse(expr, mode="eval").body
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    if not isinstance(node, ast.Compare):
        return []
    return [ast.unparse(n) for n in [node.left, *node.comparators] if not isinstance(n, ast.Constant)]


def evaluation_cell(facts: list[Fact]) -> nbformat.NotebookNode:
    """A code cell that evaluates every expression (and each claim's operands) in the kernel and prints the
    values as one JSON line: [[ok, value, {operand: value}], ...]."""
    exprs = json.dumps([[f.expr, operands(f.expr) if f.kind == "?" else []] for f in facts])
    return nbformat.v4.new_code_cell(
        "def __prose_facts(exprs):\n"
        "    import json\n"
        "    out = []\n"
        "    for e, parts in exprs:\n"
        "        try:\n"
        "            value = float(eval(e, globals()))\n"
        "        except Exception as err:\n"
        "            out.append([False, f'{type(err).__name__}: {err}', {}])\n"
        "            continue\n"
        "        sides = {}\n"
        "        for p in parts:\n"
        "            try:\n"
        "                sides[p] = float(eval(p, globals()))\n"
        "            except Exception:\n"
        "                pass\n"
        "        out.append([True, value, sides])\n"
        f"    print({MARKER!r}, json.dumps(out))\n"
        f"__prose_facts({exprs})\n")


def agrees(fact: Fact, value: float) -> bool:
    """True when the prose says what the run computed."""
    if fact.kind == "?":
        return bool(value)
    if fact.rel_tol is not None:
        return math.isclose(fact.written, value, rel_tol=fact.rel_tol)
    return abs(fact.written - value) <= 0.5 * 10.0 ** -fact.decimals * (1 + 1e-9) + 1e-12


def problems(facts: list[Fact], executed_cell: nbformat.NotebookNode) -> list[str]:
    """What the executed evaluation cell says about each fact: one line per fact the run contradicts."""
    text = "".join(o.get("text", "") for o in executed_cell.get("outputs", []))
    found = re.search(rf"{MARKER} (.*)", text)
    if not found:
        return [f"the evaluation cell printed no {MARKER} line: {text[-500:]!r}"]
    out = []
    for fact, (ok, value, sides) in zip(facts, json.loads(found.group(1)), strict=True):
        if not ok:
            out.append(f"{fact.where()}: {fact.expr} raised {value}")
        elif fact.kind == "?" and not agrees(fact, value):
            shown = ", ".join(f"{k} = {v:.6g}" for k, v in sides.items())
            out.append(f"{fact.where()}: the prose claims {fact.expr}, which is false"
                       + (f" ({shown})" if shown else ""))
        elif not agrees(fact, value):
            out.append(f"{fact.where()}: the prose says {fact.written:g}, but {fact.expr} = {value:.6g}")
    return out
