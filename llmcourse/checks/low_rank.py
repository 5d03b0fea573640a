"""Visible self-checks for module 10_low_rank.

Expected values are worked out by hand on tiny inputs (diagonal or rank-one matrices whose SVD can be
read off; the arithmetic sits next to each case) or are properties any correct answer has, such as
"an exactly rank-3 matrix is reproduced at rank 3". No check holds a factorisation routine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, CheckFailed, compare, run

NOT_YET = "not implemented yet (replace `raise NotImplementedError()` with your code)"


def _attempt(label: str, case: str, thunk: Callable[[], Any]) -> Any:
    """Call thunk(); turn NotImplementedError and other exceptions into a readable CheckFailed."""
    try:
        return thunk()
    except NotImplementedError:
        raise CheckFailed(f"{label}: {NOT_YET}") from None
    except CheckFailed:
        raise
    except Exception as exc:
        raise CheckFailed(f"{label}, case '{case}': your code raised {type(exc).__name__}: {exc}") from exc


def _product(shape_a: tuple, shape_b: tuple, want: np.ndarray, atol: float = 1e-9) -> Callable:
    """A Case property for (A, B): the shapes, then A @ B against the hand-worked product."""
    def prop(got):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return f"expected a tuple (A, B), got {type(got).__name__}"
        A, B = (np.asarray(g, dtype=np.float64) for g in got)
        if A.shape != shape_a or B.shape != shape_b:
            return f"expected A {shape_a} and B {shape_b}, got A {A.shape} and B {B.shape}"
        return compare(np.asarray(want, dtype=np.float64), A @ B, atol=atol, where="(A @ B)")
    return prop


def _svd_triplet(m: int, n: int, r: int, want_s: list[float], want_product: np.ndarray,
                 atol: float = 1e-8) -> Callable:
    """A Case property for (U, S, Vt): shapes, S, orthonormal non-zero singular vectors, U diag(S) Vt."""
    def prop(got):
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return f"expected a tuple (U, S, Vt), got {type(got).__name__}"
        U, S, Vt = (np.asarray(g, dtype=np.float64) for g in got)
        if U.shape != (m, r) or S.shape != (r,) or Vt.shape != (r, n):
            return f"expected U {(m, r)}, S {(r,)}, Vt {(r, n)}; got {U.shape}, {S.shape}, {Vt.shape}"
        problem = compare(np.asarray(want_s, dtype=np.float64), S, atol=atol, where="(S)")
        if problem:
            return problem
        live = S > 0
        if not np.allclose(U[:, live].T @ U[:, live], np.eye(live.sum()), atol=1e-8):
            return "the columns of U must be orthonormal (U.T @ U = I)"
        if not np.allclose(Vt[live] @ Vt[live].T, np.eye(live.sum()), atol=1e-8):
            return "the rows of Vt must be orthonormal (Vt @ Vt.T = I)"
        return compare(np.asarray(want_product, dtype=np.float64), (U * S) @ Vt, atol=atol, where="(U @ diag(S) @ Vt)")
    return prop


# --- 1. truncated SVD -----------------------------------------------------------------------------

def truncated_svd(fn: Callable) -> None:
    """Check truncated_svd on matrices whose SVD is read off by eye, and its ValueError for a bad rank."""
    W1 = np.array([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]])  # singular values 3, 2
    W2 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 4.0]])  # singular values 4 (row 1, column 2), 1
    run("truncated_svd", fn, [
        Case("(3, 2), rank 1 keeps the 3", (W1, 1), prop=_product((3, 1), (1, 2), [[3, 0], [0, 0], [0, 0]])),
        # the largest value sits in column 2: keeping Vt[:, :1] instead of the row Vt[:1] loses it
        Case("(2, 3), rank 1 keeps the 4 in column 2", (W2, 1), prop=_product((2, 1), (1, 3), [[0, 0, 0], [0, 0, 4]])),
        Case("(2, 3), full rank reproduces W", (W2, 2), prop=_product((2, 2), (2, 3), W2)),
    ], quiet=True)
    for bad in (0, 3):
        try:
            _attempt("truncated_svd", f"r={bad}", lambda bad=bad: fn(W2.copy(), bad))
        except CheckFailed as exc:
            if "ValueError" in str(exc):
                continue
            raise
        raise CheckFailed(f"truncated_svd, case 'r={bad} for a (2, 3) matrix': expected ValueError, nothing was raised")
    print("✔ truncated_svd: all 5 visible cases passed")


def eckart_young_error(fn: Callable) -> None:
    """Check the tail norm on a 3-4-5 spectrum, at the ends r = 0 and r = len(s), and at 1e200."""
    s = np.array([5.0, 4.0, 3.0])
    run("eckart_young_error", fn, [
        Case("s = [5, 4, 3], r = 1: sqrt(16 + 9) = 5", (s, 1), expected=5.0),
        Case("r = 0: the whole norm sqrt(50)", (s, 0), expected=math.sqrt(50.0)),
        Case("r = len(s): nothing dropped", (s, 3), expected=0.0),
        Case("s = [12, 4, 3] * 1e200, r = 1: 5e200 (squares would overflow)", (s * [2.4, 1, 1] * 1e200, 1),
             expected=5e200, rtol=1e-9),
    ])


def energy_rank(fn: Callable) -> None:
    """Check energy_rank on s = [3, 2, 1, 1, 1] (energies 9, 4, 1, 1, 1 of 16), an exact tie, and zeros."""
    s = np.array([3.0, 2.0, 1.0, 1.0, 1.0])

    def integer(want):
        def prop(got):
            if not isinstance(got, (int, np.integer)):
                return f"expected an int, got {type(got).__name__} {got!r}"
            return None if got == want else f"expected rank {want}, got {got}"
        return prop

    run("energy_rank", fn, [
        Case("frac 0.5: 9 >= 8 at r = 1", (s, 0.5), prop=integer(1)),
        Case("frac 0.8: 9 + 4 = 13 >= 12.8 at r = 2", (s, 0.8), prop=integer(2)),
        Case("frac 1.0: all five", (s, 1.0), prop=integer(5)),
        Case("s = [1, 1, 1, 1], frac 0.5: reached exactly at r = 2 (>=)", (np.ones(4), 0.5), prop=integer(2)),
        Case("all-zero s needs rank 0", (np.zeros(3), 0.9), prop=integer(0)),
    ])


def break_even_rank(fn: Callable) -> None:
    """Check break_even_rank where m + n divides m * n exactly and where it does not."""
    run("break_even_rank", fn, [
        Case("(4, 4): 2 * 8 = 16 is not < 16, so 1", (4, 4), expected=1),
        Case("(128, 128): 63", (128, 128), expected=63),
        Case("(128, 512): 65536 / 640 = 102.4, so 102", (128, 512), expected=102),
        Case("(1, 10): a vector never gains, 0", (1, 10), expected=0),
    ])


# --- 2. randomized SVD ----------------------------------------------------------------------------

def _rank3(m: int, n: int) -> np.ndarray:
    """An exactly rank-3 matrix with singular values 6, 3, 1 (a fixed seed)."""
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((m, 3)))
    v, _ = np.linalg.qr(rng.standard_normal((n, 3)))
    return (u * [6.0, 3.0, 1.0]) @ v.T


def randomized_svd(fn: Callable) -> None:
    """Check randomized_svd where it must be exact: a diagonal matrix and an exactly rank-3 matrix."""
    D = np.array([[0.0, 5.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])  # s = 5, 3, 1
    W = _rank3(30, 20)
    run("randomized_svd", fn, [
        Case("(4, 3) with singular values 5, 3, 1, rank 2", (D, 2),
             prop=_svd_triplet(4, 3, 2, [5, 3], [[0, 5, 0], [-3, 0, 0], [0, 0, 0], [0, 0, 0]])),
        Case("(30, 20) of rank 3, r = 3: reproduced", (W, 3), {"n_power": 1},
             prop=_svd_triplet(30, 20, 3, [6, 3, 1], W)),
        Case("(30, 20) of rank 3, r = 2, no power iterations", (W, 2), {"n_power": 0, "oversample": 5},
             prop=_svd_triplet(30, 20, 2, [6, 3], W - 1.0 * np.outer(*_third(W)))),
    ])


def _third(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The third singular pair (u3, v3) of the fixed rank-3 matrix: rebuilt from the same seed."""
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.standard_normal((W.shape[0], 3)))
    v, _ = np.linalg.qr(rng.standard_normal((W.shape[1], 3)))
    return u[:, 2], v[:, 2]


# --- 3. iterative methods -------------------------------------------------------------------------

def power_svd(fn: Callable) -> None:
    """Check power_svd on a permuted diagonal matrix (with a negative entry) and on the zero matrix."""
    W = np.array([[0.0, 0.0, -4.0], [2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # singular values 4, 2, 1
    run("power_svd", fn, [
        Case("(3, 3), k = 2: values 4 and 2", (W, 2),
             prop=_svd_triplet(3, 3, 2, [4, 2], [[0, 0, -4], [2, 0, 0], [0, 0, 0]])),
        Case("(30, 20) of rank 3, k = 3", (_rank3(30, 20), 3), prop=_svd_triplet(30, 20, 3, [6, 3, 1], _rank3(30, 20))),
        Case("the zero matrix: S = 0, no NaN", (np.zeros((3, 2)), 2),
             prop=_svd_triplet(3, 2, 2, [0, 0], np.zeros((3, 2)))),
    ])


def als_factorize(fn: Callable) -> None:
    """Check ALS on a rank-one matrix (exact after one round) and on a 1x1 matrix with a ridge."""
    W = np.outer([1.0, -2.0], [3.0, 0.0, 1.0])
    b0 = float(np.random.default_rng(0).standard_normal((1, 1))[0, 0])  # the recipe's starting B for seed 0
    a1 = 2.0 * b0 / (b0 * b0 + 1.0)  # A = W B^T / (B B^T + lam), W = [[2]], lam = 1
    b1 = a1 * 2.0 / (a1 * a1 + 1.0)  # B = A^T W / (A^T A + lam)
    run("als_factorize", fn, [
        Case("rank-one (2, 3), r = 1: exact", (W, 1), {"n_iter": 3}, prop=_product((2, 1), (1, 3), W)),
        Case("W = [[2]], lam = 1, one round from seed 0", (np.array([[2.0]]), 1), {"n_iter": 1, "lam": 1.0},
             prop=_product((1, 1), (1, 1), [[a1 * b1]], atol=1e-12)),
    ])


# --- 4. activation-aware ------------------------------------------------------------------------

def activation_aware_svd(fn: Callable) -> None:
    """Check that loud input features decide what a rank-1 factorisation keeps, and the zero-feature guard."""
    W = np.array([[1.0, 0.0], [0.0, 2.0]])
    loud0 = np.array([[10.0, 0.1], [-10.0, -0.1]])  # s = [10, 0.1]: scaled rows 10 and 0.2, keep row 0
    loud1 = np.array([[0.1, 10.0], [0.1, -10.0]])  # s = [0.1, 10]: scaled rows 0.1 and 20, keep row 1
    zero0 = np.array([[0.0, 3.0], [0.0, -3.0]])  # s = [1 (guard), 3]: W' = [[5, 0], [0, 3]], keep row 0
    run("activation_aware_svd", fn, [
        Case("feature 0 is loud: keep W's row 0 although plain SVD keeps row 1", (W, loud0, 1),
             prop=_product((2, 1), (1, 2), [[1, 0], [0, 0]])),
        Case("feature 1 is loud: keep row 1", (W, loud1, 1), prop=_product((2, 1), (1, 2), [[0, 0], [0, 2]])),
        Case("an always-zero feature gets s = 1", (np.array([[5.0, 0.0], [0.0, 1.0]]), zero0, 1),
             prop=_product((2, 1), (1, 2), [[5, 0], [0, 0]])),
    ])


# --- 6. kernel attention ------------------------------------------------------------------------

def positive_random_features(fn: Callable) -> None:
    """Check phi(x) = exp(x . w - |x|^2 / 2) / sqrt(m) on hand-picked projections, and batch shapes."""
    omega = np.array([[0.0, 1.0, -1.0, 2.0], [5.0, 5.0, 5.0, 5.0]])  # (d, m) = (2, 4)
    # x = [1, 0]: projections [0, 1, -1, 2], |x|^2 / 2 = 0.5, sqrt(m) = 2
    want = np.exp(np.array([-0.5, 0.5, -1.5, 1.5])) / 2
    run("positive_random_features", fn, [
        Case("x = 0: every feature is 1 / sqrt(m) = 0.5", (np.zeros((1, 2)), omega), expected=np.full((1, 4), 0.5)),
        Case("x = [1, 0]", (np.array([[1.0, 0.0]]), omega), expected=want[None]),
        Case("batch dims (2, 1, 2) -> (2, 1, 4)", (np.array([[[1.0, 0.0]], [[0.0, 0.0]]]), omega),
             expected=np.stack([want[None], np.full((1, 4), 0.5)])),
    ])


def causal_linear_attention(fn: Callable) -> None:
    """Check the running-sum form on T = 3 with one feature (worked by hand) and a zero query."""
    ones = np.ones((3, 1))
    pk = np.array([[1.0], [2.0], [1.0]])
    v = np.array([[1.0], [4.0], [0.0]])
    # out_0 = 1 * 1 / 1 = 1; out_1 = (1 + 2 * 4) / 3 = 3; out_2 = (1 + 8 + 0) / 4 = 2.25
    pq2 = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    pk2 = np.array([[1.0, 1.0], [3.0, 0.0], [0.0, 1.0]])
    v2 = np.array([[2.0, 0.0], [0.0, 2.0], [-4.0, 4.0]])
    # t=0: w = [1] -> [2, 0]; t=1: phi_q = 0 -> 0; t=2: w = [2, 0, 2] -> ([4, 0] + [-8, 8]) / 4 = [-1, 2]
    run("causal_linear_attention", fn, [
        Case("T = 3, m = 1", (ones, pk, v), expected=np.array([[1.0], [3.0], [2.25]])),
        Case("T = 3, m = 2, a zero query gets 0", (pq2, pk2, v2),
             expected=np.array([[2.0, 0.0], [0.0, 0.0], [-1.0, 2.0]])),
    ])


# --- 7. LoRA --------------------------------------------------------------------------------------

def _known_lora(cls: Callable, label: str) -> Any:
    """A LoRALinear(3 -> 2, r = 2, alpha = 4) with hand-set weights: W = [[1, 0, 0], [0, 1, 0]], b = [.5, -.5]."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    base = nn.Linear(3, 2)
    with torch.no_grad():
        base.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        base.bias.copy_(torch.tensor([0.5, -0.5]))
    layer = _attempt(label, "LoRALinear(nn.Linear(3, 2), r=2, alpha=4)", lambda: cls(base, 2, 4.0))
    return layer, base


def lora_linear(cls: Callable) -> None:
    """Check the wrapper's parameters, its step-0 identity, the frozen base and alpha / r in forward."""
    import torch

    label = "LoRALinear"
    layer, base = _known_lora(cls, label)
    A, B = getattr(layer, "A", None), getattr(layer, "B", None)
    if A is None or B is None:
        raise CheckFailed(f"{label}: store the factors as self.A and self.B")
    if tuple(A.shape) != (2, 3) or tuple(B.shape) != (2, 2):
        raise CheckFailed(f"{label}: A must be (r, in) = (2, 3) and B (out, r) = (2, 2), got {tuple(A.shape)}, "
                          f"{tuple(B.shape)}")
    if torch.count_nonzero(B) or not torch.count_nonzero(A):
        raise CheckFailed(f"{label}: B must start at zero and A random (got {torch.count_nonzero(B)} non-zero in B, "
                          f"{torch.count_nonzero(A)} in A)")
    trainable = sorted(n for n, p in layer.named_parameters() if p.requires_grad)
    if trainable != ["A", "B"]:
        raise CheckFailed(f"{label}: only A and B may be trainable (freeze the base), got {trainable}")
    x = torch.tensor([[1.0, 2.0, 3.0]])
    with torch.no_grad():
        got = _attempt(label, "forward at step 0", lambda: layer(x))
        problem = compare(np.array([[1.5, 1.5]]), got.numpy(), where="(step 0 must equal the base layer)")
        if problem:
            raise CheckFailed(f"{label}, case 'step 0': {problem}")
        A.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        B.copy_(torch.tensor([[1.0, 0.0], [0.0, -1.0]]))
        # x A^T = [1, 2]; B applied: [1, -2]; scale 4 / 2 = 2: [2, -4]; plus base [1.5, 1.5]
        got = _attempt(label, "forward with A, B set", lambda: layer(x))
        problem = compare(np.array([[3.5, -2.5]]), got.numpy(), where="(base(x) + (alpha / r) x A^T B^T)")
        if problem:
            raise CheckFailed(f"{label}, case 'A, B set by hand, alpha / r = 2': {problem}")
    print(f"✔ {label}: all 4 visible cases passed")


def merge_lora(fn: Callable, cls: Callable) -> None:
    """Check the merged weight W + (alpha / r) B @ A on hand-set factors, and that the layer is untouched."""
    import torch

    label = "merge_lora"
    layer, base = _known_lora(cls, label)
    with torch.no_grad():
        layer.A.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
        layer.B.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    merged = _attempt(label, "merge the hand-set layer", lambda: fn(layer))
    if not isinstance(merged, torch.nn.Linear):
        raise CheckFailed(f"{label}: return an nn.Linear, got {type(merged).__name__}")
    if any(not torch.equal(before[k], v) for k, v in layer.state_dict().items()):
        raise CheckFailed(f"{label}: the LoRA layer was modified; build a new nn.Linear")
    # B @ A = [[1, 0, 1], [0, 2, 0]]; scale 2: [[2, 0, 2], [0, 4, 0]]; plus W
    problem = compare(np.array([[3.0, 0.0, 2.0], [0.0, 5.0, 0.0]]), merged.weight.detach().numpy(),
                      where="(merged weight W + (alpha / r) B @ A)")
    problem = problem or compare(np.array([0.5, -0.5]), merged.bias.detach().numpy(), where="(bias)")
    if problem:
        raise CheckFailed(f"{label}, case 'hand-set A, B, alpha / r = 2': {problem}")
    print(f"✔ {label}: all 3 visible cases passed")
