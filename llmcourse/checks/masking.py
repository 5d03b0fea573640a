"""Visible self-checks for module 03_causal_masking.

Every expected value below is worked out by hand on a tiny input (the arithmetic sits next to the
case), or is a property that any correct answer has. Nothing here builds a mask or computes attention
the way the exercises ask; the sequence functions used to test `leaks_future` are simple running sums
and shifts, not attention.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._core import Case, CheckFailed, attention_output, run

LN3 = math.log(3.0)
T_, F_ = True, False


def _bool(rows: list) -> np.ndarray:
    return np.array(rows, dtype=bool)


def _bool_mask_props(shape: tuple, rule: Callable[[np.ndarray], np.ndarray], what: str) -> Callable:
    """Property: a bool array of `shape` equal to rule(indices), described by `what` on failure."""

    def prop(got: Any) -> str | None:
        arr = np.asarray(got)
        if arr.shape != shape:
            return f"wrong shape: expected {shape}, got {arr.shape}"
        if arr.dtype != bool:
            return f"expected a boolean mask, got dtype {arr.dtype}"
        want = rule(np.indices(shape))
        bad = np.argwhere(arr != want)
        if len(bad):
            idx = tuple(int(i) for i in bad[0])
            return f"{what}; first wrong entry at index {idx}: expected {bool(want[idx])}, got {bool(arr[idx])}"
        return None

    return prop


# --- 1. causal masks --------------------------------------------------------------------------------

def causal_mask(fn: Callable) -> None:
    """Check causal_mask(T) -> (T, T) bool, True where key j <= query i."""
    cases = [
        Case("T = 1: a lone token sees itself", (1,), expected=_bool([[T_]])),
        Case("T = 3: row i is True in columns 0..i (the diagonal included)", (3,),
             expected=_bool([[T_, F_, F_], [T_, T_, F_], [T_, T_, T_]])),
        Case("T = 4", (4,), expected=_bool([[T_, F_, F_, F_], [T_, T_, F_, F_], [T_, T_, T_, F_],
                                            [T_, T_, T_, T_]])),
        Case("T = 9: mask[i, j] is True exactly when j <= i", (9,),
             prop=_bool_mask_props((9, 9), lambda ij: ij[1] <= ij[0], "query i may see keys 0..i")),
    ]
    run("causal_mask", fn, cases)


def cached_causal_mask(fn: Callable) -> None:
    """Check cached_causal_mask(T_q, T_k) -> (T_q, T_k) bool for queries at the last T_q positions."""
    cases = [
        Case("T_q = T_k = 1", (1, 1), expected=_bool([[T_]])),
        Case("one decode step (T_q = 1, T_k = 4): the new token sees every cached key", (1, 4),
             expected=_bool([[T_, T_, T_, T_]])),
        # the queries sit at positions 2 and 3 of 4
        Case("T_q = 2, T_k = 4: queries at positions 2 and 3", (2, 4),
             expected=_bool([[T_, T_, T_, F_], [T_, T_, T_, T_]])),
        Case("T_q = T_k = 3 is the ordinary causal mask", (3, 3),
             expected=_bool([[T_, F_, F_], [T_, T_, F_], [T_, T_, T_]])),
        # the queries sit at positions 2, 3, 4 of 5
        Case("T_q = 3, T_k = 5: queries at positions 2, 3, 4", (3, 5),
             expected=_bool([[T_, T_, T_, F_, F_], [T_, T_, T_, T_, F_], [T_, T_, T_, T_, T_]])),
        Case("T_q = 4, T_k = 11: mask[i, j] is True exactly when j <= T_k - T_q + i", (4, 11),
             prop=_bool_mask_props((4, 11), lambda ij: ij[1] <= 7 + ij[0], "query i sits at position 7 + i")),
    ]
    run("cached_causal_mask", fn, cases)


# --- 2. additive masks and masked attention --------------------------------------------------------

def _additive_props(mask: np.ndarray, dtype: Any) -> Callable:
    """Property: same shape as mask, the requested dtype, 0 where allowed, very negative where not."""
    dtype = np.dtype(dtype)

    def prop(got: Any) -> str | None:
        if not isinstance(got, np.ndarray):
            return f"expected a NumPy array, got {type(got).__name__}"
        if got.shape != mask.shape:
            return f"wrong shape: expected {mask.shape} (the mask's shape), got {got.shape}"
        if got.dtype != dtype:
            return (f"expected dtype {dtype}, got {got.dtype}: a mask of another dtype silently converts the "
                    "scores it is added to")
        if np.isnan(got).any():
            return "got NaN: 0 * inf is NaN, so multiplying the mask by -inf does not work"
        if not np.all(got[mask] == 0):
            return f"allowed positions (mask True) must hold exactly 0, got {got[mask][got[mask] != 0][:4]}"
        blocked = got[~mask]
        if blocked.size and not np.all(blocked <= -1e4):
            return (f"blocked positions (mask False) must hold -inf or a very negative number (at most -1e4), "
                    f"got {blocked[blocked > -1e4][:4]}")
        return None

    return prop


def additive_mask(fn: Callable) -> None:
    """Check additive_mask(mask, dtype=np.float32): 0 where allowed, -inf or very negative elsewhere."""
    m2 = _bool([[T_, F_], [T_, T_]])
    m1 = _bool([T_, F_, T_])
    m3 = np.random.default_rng(3).random((2, 3, 4)) < 0.5
    cases = [
        Case("2 x 2 mask, default dtype float32", (m2,), prop=_additive_props(m2, np.float32)),
        Case("1-D mask [True, False, True], dtype float64", (m1,), {"dtype": np.float64},
             prop=_additive_props(m1, np.float64)),
        Case("random (2, 3, 4) mask keeps its shape", (m3,), prop=_additive_props(m3, np.float32)),
        Case("all True: nothing to block, all zeros", (np.ones((2, 2), dtype=bool),),
             expected=np.zeros((2, 2), dtype=np.float32)),
    ]
    run("additive_mask", fn, cases)


def _shared_inputs() -> dict[str, np.ndarray]:
    """Hand-made q, k, v with scale 1/2 (d_k = 4): q = ones scores key c * ones at 4c / 2 = 2c."""
    a = LN3 / 2
    one, zero = np.ones(4), np.zeros(4)
    return {
        "q1": one[None, :],                                              # (1, 4)
        "k2": np.stack([zero, np.full(4, a)]),                           # scores [0, ln 3]
        "k3": np.stack([zero, np.full(4, a), np.full(4, 5.0)]),          # scores [0, ln 3, 10]
        "v2": np.array([[4.0, 0.0], [0.0, 4.0]]),
        "v3": np.array([[4.0, 0.0], [0.0, 4.0], [100.0, 100.0]]),
        "vc": np.array([[3.0, 0.0], [0.0, 3.0], [3.0, 3.0]]),
    }


def masked_attention(fn: Callable) -> None:
    """Check masked_attention(q, k, v, mask=None) -> (out, weights); every row has an allowed key."""
    s = _shared_inputs()
    tril3 = _bool([[T_, F_, F_], [T_, T_, F_], [T_, T_, T_]])
    prefix = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    # weights of a zero query are uniform over the allowed keys; out = weights @ vc
    prefix_out = np.array([[3.0, 0.0], [1.5, 1.5], [2.0, 2.0]])
    key_pad = _bool([[[T_, T_, T_]], [[T_, F_, F_]]])                    # (2, 1, 3)
    rng = np.random.default_rng(0)
    qr, kr, vr = rng.standard_normal((2, 3, 5, 8)), rng.standard_normal((2, 3, 7, 8)), rng.standard_normal((2, 3, 7, 4))
    mr = rng.random((5, 7)) < 0.5                                       # (5, 7), then one key per row
    mr[np.arange(5), rng.integers(0, 7, size=5)] = True
    cases = [
        Case("no mask: one query, scores [0, ln 3] -> weights [1/4, 3/4]", (s["q1"], s["k2"], s["v2"]),
             expected=(np.array([[1.0, 3.0]]), np.array([[0.25, 0.75]]))),
        # exp of the allowed scores [0, ln 3] is [1, 3]; the blocked score 10 must not enter the sum
        Case("the blocked key has the largest score (10): weights stay [1/4, 3/4, 0]",
             (s["q1"], s["k3"], s["v3"]), {"mask": _bool([[T_, T_, F_]])},
             expected=(np.array([[1.0, 3.0]]), np.array([[0.25, 0.75, 0.0]]))),
        Case("causal mask, all scores 0: query i averages v[0..i]", (np.zeros((3, 4)), s["k3"], s["vc"]),
             {"mask": tril3}, expected=(prefix_out, prefix)),
        Case("mask (2, 1, 3) broadcast over the queries: item 1 may only see key 0",
             (np.zeros((2, 2, 4)), np.zeros((2, 3, 4)), np.stack([s["vc"], s["vc"]])), {"mask": key_pad},
             expected=(np.array([[[2.0, 2.0]] * 2, [[3.0, 0.0]] * 2]),
                       np.array([[[1 / 3] * 3] * 2, [[1.0, 0.0, 0.0]] * 2]))),
        Case("random q (2, 3, 5, 8), k (2, 3, 7, 8), v (2, 3, 7, 4), mask (5, 7): shapes, zeros, row sums",
             (qr, kr, vr), {"mask": mr}, prop=attention_output((2, 3, 5, 4), (2, 3, 5, 7), mr)),
        Case("mask=None on random inputs: rows sum to 1", (qr, kr, vr),
             prop=attention_output((2, 3, 5, 4), (2, 3, 5, 7), None)),
    ]
    run("masked_attention", fn, cases)


# --- 3. padding -------------------------------------------------------------------------------------

def padding_mask(fn: Callable) -> None:
    """Check padding_mask(lengths, T) -> (B, T) bool, True where position j < lengths[b]."""
    cases = [
        Case("lengths [3, 1, 0], T = 4", (np.array([3, 1, 0]), 4),
             expected=_bool([[T_, T_, T_, F_], [T_, F_, F_, F_], [F_, F_, F_, F_]])),
        Case("a full-length sequence: lengths [2], T = 2", (np.array([2]), 2), expected=_bool([[T_, T_]])),
        Case("lengths given as a Python list [1, 2], T = 3", ([1, 2], 3),
             expected=_bool([[T_, F_, F_], [T_, T_, F_]])),
        Case("int32 lengths [5, 2], T = 6", (np.array([5, 2], dtype=np.int32), 6),
             expected=_bool([[T_] * 5 + [F_], [T_] * 2 + [F_] * 4])),
    ]
    run("padding_mask", fn, cases)


def padding_causal_mask(fn: Callable) -> None:
    """Check padding_causal_mask(lengths, T) -> (B, T, T): causal AND real key AND real query."""
    tril3 = [[T_, F_, F_], [T_, T_, F_], [T_, T_, T_]]
    lengths = np.array([5, 0, 3, 6])

    def rule(bij: np.ndarray) -> np.ndarray:
        b, i, j = bij
        return (j <= i) & (j < lengths[b]) & (i < lengths[b])

    cases = [
        Case("lengths [3, 2], T = 3: item 1's padded query (row 2) sees nothing", (np.array([3, 2]), 3),
             expected=_bool([tril3, [[T_, F_, F_], [T_, T_, F_], [F_, F_, F_]]])),
        Case("lengths [4], T = 4: no padding gives the causal mask", (np.array([4]), 4),
             expected=np.array([[[j <= i for j in range(4)] for i in range(4)]])),
        Case("lengths [0, 1], T = 2: an empty sequence is all False", (np.array([0, 1]), 2),
             expected=_bool([[[F_, F_], [F_, F_]], [[T_, F_], [F_, F_]]])),
        Case("lengths [5, 0, 3, 6], T = 6: mask[b, i, j] = j <= i and i, j < lengths[b]", (lengths, 6),
             prop=_bool_mask_props((4, 6, 6), rule, "causal, and both positions real")),
    ]
    run("padding_causal_mask", fn, cases)


# --- 4. rows with no allowed key --------------------------------------------------------------------

def safe_masked_attention(fn: Callable) -> None:
    """Check safe_masked_attention: rows with no allowed key give zero weights and zero output, no NaN."""
    s = _shared_inputs()
    zeros_q, zeros_k = np.zeros((2, 4)), np.zeros((3, 4))
    tril3 = [[T_, F_, F_], [T_, T_, F_], [T_, T_, T_]]
    pc = _bool([tril3, [[T_, F_, F_], [T_, T_, F_], [F_, F_, F_]]])     # lengths [3, 2], T = 3
    prefix = [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]]
    w_pc = np.array([prefix, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]])
    out_pc = np.array([[[3.0, 0.0], [1.5, 1.5], [2.0, 2.0]], [[3.0, 0.0], [1.5, 1.5], [0.0, 0.0]]])
    rng = np.random.default_rng(1)
    qr, kr, vr = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 6, 8)), rng.standard_normal((3, 6, 5))
    mr = rng.random((3, 4, 6)) < 0.4
    mr[0, 1] = False
    mr[2] = False
    cases = [
        Case("row 1 has no allowed key: its weights and output are 0", (zeros_q, zeros_k, s["vc"]),
             {"mask": _bool([[T_, T_, F_], [F_, F_, F_]])},
             expected=(np.array([[1.5, 1.5], [0.0, 0.0]]), np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 0.0]]))),
        Case("padding + causal mask for lengths [3, 2]: the padded query gets 0",
             (np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), np.stack([s["vc"], s["vc"]])), {"mask": pc},
             expected=(out_pc, w_pc)),
        Case("an empty sequence (every entry False) gives all zeros",
             (np.zeros((1, 2, 4)), np.zeros((1, 2, 4)), np.ones((1, 2, 3))), {"mask": np.zeros((1, 2, 2), bool)},
             expected=(np.zeros((1, 2, 3)), np.zeros((1, 2, 2)))),
        Case("float32 inputs with an empty row: no NaN",
             (zeros_q.astype(np.float32), zeros_k.astype(np.float32), s["vc"].astype(np.float32)),
             {"mask": _bool([[F_, F_, F_], [T_, F_, F_]])},
             expected=(np.array([[0.0, 0.0], [3.0, 0.0]]), np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])),
             rtol=1e-5, atol=1e-6),
        Case("a row with keys is unchanged: the blocked key scores 10, weights stay [1/4, 3/4, 0]",
             (s["q1"], s["k3"], s["v3"]), {"mask": _bool([[T_, T_, F_]])},
             expected=(np.array([[1.0, 3.0]]), np.array([[0.25, 0.75, 0.0]]))),
        Case("random (3, 4, 6) mask with empty rows: finite, rows sum to 1 or 0", (qr, kr, vr), {"mask": mr},
             prop=attention_output((3, 4, 5), (3, 4, 6), mr, empty_rows_zero=True)),
    ]
    run("safe_masked_attention", fn, cases)


# --- 5. cross-attention -----------------------------------------------------------------------------

def cross_attention(fn: Callable) -> None:
    """Check cross_attention(x, memory, memory_lengths, Wq, Wk, Wv) -> (out, weights)."""
    x = np.array([[[1.0, -2.0, 0.5], [0.0, 3.0, 1.0]], [[2.0, 2.0, 2.0], [-1.0, 0.0, 4.0]]])   # (2, 2, 3)
    mem = np.array([[[3.0, 0.0], [0.0, 3.0], [3.0, 3.0]], [[6.0, 0.0], [1.0, 1.0], [9.0, 9.0]]])  # (2, 3, 2)
    Wk = np.array([[1.0, 2.0], [-1.0, 0.5]])
    one = np.array([[1.0]])
    mem1 = np.array([[[0.0], [LN3]]])                                   # (1, 2, 1): scores [0, ln 3]
    rng = np.random.default_rng(2)
    xr, mr = rng.standard_normal((2, 5, 6)), rng.standard_normal((2, 7, 4))
    lr = np.array([7, 3])
    Wqr, Wkr, Wvr = rng.standard_normal((6, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    cases = [
        # Wq = 0 makes every score 0: each query averages the real memory rows (Wv = I)
        Case("Wq = 0, lengths [3, 1]: queries average the real memory rows",
             (x, mem, np.array([3, 1]), np.zeros((3, 2)), Wk, np.eye(2)),
             expected=(np.array([[[2.0, 2.0]] * 2, [[6.0, 0.0]] * 2]),
                       np.array([[[1 / 3] * 3] * 2, [[1.0, 0.0, 0.0]] * 2]))),
        # d_k = 1: scores [0, ln 3] -> [1/4, 3/4]; v = 4 * memory, out = (3/4) * 4 ln 3
        Case("one query, two memory rows, scores [0, ln 3]", (one[None], mem1, np.array([2]), one, one, 4 * one),
             expected=(np.array([[[3 * LN3]]]), np.array([[[0.25, 0.75]]]))),
        # d_k = 4, scale 1/2: the query of ones scores the memory row a * ones at 4a / 2 = ln 3 with a = ln 3 / 2
        Case("d_k = 4: scores are scaled by 1 / sqrt(d_k) = 1/2",
             (np.ones((1, 1, 4)), np.array([[[0.0] * 4, [LN3 / 2] * 4]]), np.array([2]), np.eye(4), np.eye(4),
              np.eye(4)[:, :1]),
             expected=(np.array([[[0.375 * LN3]]]), np.array([[[0.25, 0.75]]]))),
        Case("three queries, two memory rows: no causal mask between the two sequences",
             (np.ones((1, 3, 1)), mem1, np.array([2]), one, one, 4 * one),
             expected=(np.full((1, 3, 1), 3 * LN3), np.array([[[0.25, 0.75]] * 3]))),
        Case("random: T_q = 5, T_k = 7, lengths [7, 3]", (xr, mr, lr, Wqr, Wkr, Wvr),
             prop=attention_output((2, 5, 2), (2, 5, 7), _bool([[[T_] * 7], [[T_] * 3 + [F_] * 4]]))),
    ]
    run("cross_attention", fn, cases)


# --- 6. no future leakage ---------------------------------------------------------------------------

def _no_future_leak(fn: Callable, x: np.ndarray, args: tuple, rng: np.random.Generator) -> str | None:
    """None when changing x after position t leaves outputs 0..t unchanged, for every t."""
    base = np.asarray(fn(x.copy(), *args))
    T = x.shape[1]
    for t in range(T - 1):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal(x2[:, t + 1:].shape)
        out = np.asarray(fn(x2, *args))
        if not np.allclose(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-12):
            return (f"changing the inputs after position {t} changed the output at positions <= {t}: "
                    "the future leaks into the past")
    return None


def causal_self_attention(fn: Callable) -> None:
    """Check causal_self_attention(x, Wq, Wk, Wv) -> (B, T, d_v) on hand-made inputs and for leakage."""
    x3 = np.array([[[3.0, 0.0], [0.0, 3.0], [3.0, 3.0]]])               # (1, 3, 2)
    z2, eye2 = np.zeros((2, 2)), np.eye(2)
    b = 1 + LN3                                                         # position 1 scores [b * 1, 1 * 1]
    x2 = np.array([[[b], [1.0]]])
    one = np.array([[1.0]])
    cases = [
        Case("Wq = Wk = 0: position t averages x[0..t] @ Wv", (x3, z2, z2, eye2),
             expected=np.array([[[3.0, 0.0], [1.5, 1.5], [2.0, 2.0]]])),
        # d_k = 1; position 1 scores [1 + ln 3, 1] -> [3/4, 1/4]; out = (3/4) b + 1/4 = 1 + (3/4) ln 3
        Case("T = 2, C = 1: position 0 sees only itself, position 1 weighs [3/4, 1/4]", (x2, one, one, one),
             expected=np.array([[[b], [1 + 0.75 * LN3]]])),
        Case("batch of 2, the second item the first one again", (np.concatenate([x3, x3]), z2, z2, eye2),
             expected=np.array([[[3.0, 0.0], [1.5, 1.5], [2.0, 2.0]]] * 2)),
    ]
    run("causal_self_attention", fn, cases, quiet=True)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 6, 4))
    W = tuple(rng.standard_normal((4, 3)) for _ in range(3))
    try:
        problem = _no_future_leak(fn, x, W, rng)
    except Exception as exc:  # noqa: BLE001 - report any failure as a failed case
        raise CheckFailed(f"causal_self_attention, case 'no future leakage': your function raised "
                          f"{type(exc).__name__}: {exc}") from exc
    if problem:
        raise CheckFailed(f"causal_self_attention, case 'no future leakage (B = 2, T = 6, C = 4)': {problem}")
    print(f"✔ causal_self_attention: all {len(cases) + 1} visible cases passed")


def _running_sum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x, axis=1)


def _reverse_running_sum(x: np.ndarray) -> np.ndarray:
    return np.cumsum(x[:, ::-1], axis=1)[:, ::-1]


def _next_position(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, :-1] = x[:, 1:]
    return out


def _whole_sequence_mean(x: np.ndarray) -> np.ndarray:
    return np.broadcast_to(x.mean(axis=1, keepdims=True), x.shape).copy()


def _first_sees_last(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, 0] = out[:, 0] + x[:, -1]
    return out


def _elementwise_tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def leaks_future(fn: Callable) -> None:
    """Check leaks_future(seq_fn, B, T, C, seed) against sequence functions whose answer is known."""
    cases = [
        Case("running sum over positions (causal)", (_running_sum,), expected=False),
        Case("tanh of each entry (touches no other position)", (_elementwise_tanh,), expected=False),
        Case("running sum from the end (every position sees its future)", (_reverse_running_sum,), expected=True),
        Case("mean over the whole sequence", (_whole_sequence_mean,), expected=True),
        Case("each position copies the next one", (_next_position,), expected=True),
        Case("only position 0 reads the last position", (_first_sees_last,), expected=True),
        Case("running sum with B = 1, T = 3, C = 2", (_running_sum,), {"B": 1, "T": 3, "C": 2}, expected=False),
        Case("next position with B = 3, T = 2, C = 1, seed = 5", (_next_position,),
             {"B": 3, "T": 2, "C": 1, "seed": 5}, expected=True),
    ]
    run("leaks_future", fn, cases)

