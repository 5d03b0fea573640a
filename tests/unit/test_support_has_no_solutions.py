"""The support package `llmcourse/` holds no graded solution.

Two cheap static checks over its source (no import, no execution):
* no function anywhere in `llmcourse/` has both the name and the positional parameter names of a function
  that a solution cell of `solutions/*/*.py` defines (the visible checks in `llmcourse.checks` share the
  exercises' names but take the learner's function, so their parameters differ);
* outside `llmcourse/model.py` (the PyTorch reference, built on the library calls the exercises forbid) no
  function computes attention (an exponential or softmax together with a matrix product) or a LayerNorm
  (a mean or variance together with a square root) in NumPy: a transformer forward would do both.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUPPORT = REPO / "llmcourse"
CELL = re.compile(r"# %%.*?nbgrader=(\{.*\})")
TORCH_REFERENCE = SUPPORT / "model.py"


def _positional(fn: ast.FunctionDef) -> tuple[str, ...]:
    return tuple(a.arg for a in fn.args.posonlyargs + fn.args.args)


def graded_functions() -> dict[tuple[str, tuple[str, ...]], str]:
    """(name, positional parameters) -> module, for every function a solution cell defines at its top level."""
    out = {}
    for path in sorted((REPO / "solutions").glob("*/*.py")):
        for cell in re.split(r"^(?=# %%)", path.read_text(encoding="utf-8"), flags=re.M):
            m = CELL.match(cell)
            if not m:
                continue
            meta = json.loads(m.group(1))
            if meta.get("solution") and not meta.get("grade"):
                for node in ast.parse(cell).body:
                    if isinstance(node, ast.FunctionDef):
                        out[(node.name, _positional(node))] = path.parent.name
    return out


def _functions(source: str):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def transformer_math(source: str) -> list[str]:
    """'name: what' for each function of source that computes attention or a LayerNorm (nested functions count
    towards the function that holds them)."""
    found = []
    for fn in _functions(source):
        called, matmul = set(), False
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                f = node.func
                called.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None))
            matmul |= isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult)
        matmul |= bool(called & {"matmul", "einsum", "dot", "tensordot"})
        if called & {"exp", "softmax"} and matmul:
            found.append(f"{fn.name}: softmax and a matrix product (attention)")
        if "sqrt" in called and called & {"mean", "var", "std"}:
            found.append(f"{fn.name}: mean and square root (LayerNorm)")
    return found


def test_solution_cells_are_found():
    graded = graded_functions()
    names = {name for name, _ in graded}
    assert len(graded) > 50 and {"gpt_forward", "layer_norm", "scaled_dot_product_attention"} <= names


def test_no_support_function_has_a_graded_exercises_name_and_parameters():
    graded = graded_functions()
    clashes = [f"{path.relative_to(REPO)}: {fn.name}{_positional(fn)} is module {graded[(fn.name, _positional(fn))]}'s "
               "exercise" for path in sorted(SUPPORT.rglob("*.py"))
               for fn in _functions(path.read_text(encoding="utf-8")) if (fn.name, _positional(fn)) in graded]
    assert not clashes, clashes


def test_the_detector_sees_a_numpy_attention_and_layernorm():
    sample = '''
def block(x, w):
    def ln(v):
        mu = v.mean(-1, keepdims=True)
        return (v - mu) / np.sqrt(((v - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    s = ln(x) @ w
    p = np.exp(s - s.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True) @ x
'''
    assert any("attention" in f for f in transformer_math(sample))
    assert any("LayerNorm" in f for f in transformer_math(sample))
    assert transformer_math("def f(x):\n    return np.exp(x).mean()\n") == []


def test_no_numpy_transformer_math_outside_the_torch_reference():
    found = [f"{path.relative_to(REPO)}: {what}" for path in sorted(SUPPORT.rglob("*.py")) if path != TORCH_REFERENCE
             for what in transformer_math(path.read_text(encoding="utf-8"))]
    assert not found, found
