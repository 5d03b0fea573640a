"""Numbers in notebook prose: the annotation syntax, and no unannotated run number in the solutions' markdown.

The values themselves are compared with the run by tests/notebooks/test_gates.py, which executes every
solution notebook at its default sizes once; this file runs in well under a second.
"""

from __future__ import annotations

import re

import nbformat
import pytest

from autograde import build
from autograde.settings import REPO, SOURCE_DIR
from tests.notebooks import prose_numbers as pn

ASSIGNMENTS = [s.assignment for s in build.discover(REPO)]

# A number followed by a unit that only a run produces (or a perplexity), outside code spans. Such a number
# must carry `<!--= expr -->` (checked against the run) or `<!--const: why -->` (a definition, an input of the
# exercise or a record measured elsewhere, said so in the prose).
RUN_NUMBER = re.compile(r"(?<![\w.^/])(?:perplexity (?:of |is |about |rises to |drops to )?\d[\d,]*(?:\.\d+)?"
                        r"|\d[\d,]*(?:\.\d+)?\s*(?:%|dB|ms|µs|GB/s|tokens/s)(?!\w))")


def unannotated_run_numbers(markdown: str) -> list[str]:
    """Run-looking numbers in a markdown text that carry no annotation right after them."""
    text = re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), markdown)
    text = re.sub(r"<!--(const:|[=?])(.*?)-->", lambda m: f"<!--{m.group(1)}{' ' * len(m.group(2))}-->", text,
                  flags=re.S)  # the expressions and reasons inside annotations are not prose
    return [m.group(0) for m in RUN_NUMBER.finditer(text)
            if not re.match(r"\s*<!--[=?]|\s*<!--const:", text[m.end():m.end() + 16])]


def test_parse_numbers_claims_and_tolerances():
    facts = pn.parse("ppl 1.70<!--= ppl --> and 20<!--= ratio ~10% -->× and -0.26<!--= err --> %, "
                     "true<!--? x < 1 --> and 1,024<!--= n -->")
    assert [(f.kind, f.expr, f.written, f.decimals, f.rel_tol) for f in facts] == [
        ("=", "ppl", 1.70, 2, None), ("=", "ratio", 20.0, 0, 0.10), ("=", "err", -0.26, 2, None),
        ("?", "x < 1", None, 0, None), ("=", "n", 1024.0, 0, None)]
    assert pn.agrees(facts[0], 1.704) and not pn.agrees(facts[0], 1.706)
    assert pn.agrees(facts[1], 21.9) and not pn.agrees(facts[1], 22.5)
    assert pn.agrees(facts[3], True) and not pn.agrees(facts[3], False)
    assert pn.agrees(facts[4], 1024.4) and not pn.agrees(facts[4], 1025)


@pytest.mark.parametrize("bad, message", [
    ("ppl is <!--= ppl -->", "must follow a number"), ("1.7 <!--= ppl -->", "must follow a number"),
    ("1.7<!--= -->", "empty"), ("1.7<!--= ppl[ -->", "not a Python expression")])
def test_malformed_annotations_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        pn.parse(bad)


def test_the_evaluation_cell_reports_each_disagreement():
    facts = pn.parse("a 1.5<!--= a --> b 2<!--= b --> c ok<!--? c < 0.5 --> d 1<!--= d -->")
    cell = pn.evaluation_cell(facts)
    namespace = {"a": 1.52, "b": 3, "c": 0.504}
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(cell.source, namespace)
    executed = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output("stream", text=out.getvalue())])
    found = pn.problems(facts, executed)
    assert len(found) == 3, found
    assert "says 2, but b = 3" in found[0] and "claims c < 0.5, which is false (c = 0.504)" in found[1]
    assert "NameError" in found[2]
    assert pn.operands("not x > 2 * y") == ["x", "2 * y"] and pn.operands("f(x)") == []


def test_the_lint_finds_run_numbers_and_skips_annotated_ones():
    text = ("it took 19 ms, 4.2<!--= t ~10% --> ms; SQNR 12 dB; perplexity 1.70 here; `3 ms` in code; "
            "6.02 dB<!--const: 5 %-->")
    assert unannotated_run_numbers(text) == ["19 ms", "12 dB", "perplexity 1.70"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_prose_annotations_parse_and_run_numbers_are_annotated(assignment):
    nb = nbformat.read(REPO / SOURCE_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    pn.notebook_facts(nb)  # raises on a malformed annotation
    found = [f"cell {i}: {n!r}" for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
             for n in unannotated_run_numbers(c.source)]
    assert not found, (f"{assignment}: numbers in prose that look like results of a run; write "
                       f"`<!--= expr -->` after each (checked against the run) or `<!--const: why -->`: {found}")
