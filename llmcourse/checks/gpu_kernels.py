"""Visible self-checks for module 15_gpu_kernels.

Each check takes the notebook's host function (copy in, launch the learner's kernel, copy out). Expected
values are worked out by hand on small inputs (the arithmetic sits next to each case) or are properties
any correct answer has. Sizes are chosen not to be multiples of the block sizes the notebook uses (8, 16,
32, 128), so a missing bounds guard or a dropped partial block shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._core import Case, run


def _f32(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float32)


def n_blocks(fn: Callable) -> None:
    """Check n_blocks(n, threads): the smallest block count covering n elements."""
    run("n_blocks", fn, [
        Case("n = 64, 32 threads: exactly two blocks", (64, 32), expected=2),
        Case("n = 65, 32 threads: a third, partial block", (65, 32), expected=3),
        Case("n = 1, 128 threads", (1, 128), expected=1),
        Case("n = 0", (0, 32), expected=0),
    ])


def vector_add(fn: Callable) -> None:
    """Check vector_add(a, b) on lengths that are not multiples of the block."""
    a = _f32(np.arange(37))
    run("vector_add", fn, [
        Case("n = 37: 0..36 plus 100", (a, _f32(np.full(37, 100.0))), expected=_f32(np.arange(37) + 100.0)),
        Case("n = 1", (_f32([2.5]), _f32([-4.0])), expected=_f32([-1.5])),
        Case("n = 129, opposite signs cancel", (_f32(np.arange(129)), _f32(-np.arange(129))), expected=np.zeros(129)),
    ])


def row_sum(fn: Callable) -> None:
    """Check row_sum(x): one value per row."""
    run("row_sum", fn, [
        # 1 + 2 + ... + 45 = 45 * 46 / 2 = 1035; the second row is all ones: 45
        Case("2 rows of 45: 1..45 and ones", (_f32([np.arange(1, 46), np.ones(45)]),), expected=_f32([1035, 45])),
        Case("one element per row", (_f32([[3.0], [-2.0], [0.5]]),), expected=_f32([3.0, -2.0, 0.5])),
        # 70 ones plus a 1000 at the end: 1070
        Case("a row of 71 with its largest value last", (_f32([[1.0] * 70 + [1000.0]]),), expected=_f32([1070.0])),
    ])


def matmul(fn: Callable) -> None:
    """Check matmul(a, b) against hand-computable products, ragged shapes included."""
    a = _f32([[1, 2], [3, 4], [5, 6]])
    b = _f32([[1, 0, -1], [0, 1, 2]])
    # [[1, 2, 3], [3, 4, 5], [5, 6, 7]]
    eye = np.eye(19, dtype=np.float32)
    m = _f32(np.arange(19 * 11).reshape(19, 11))
    ones_a, ones_b = np.ones((10, 21), np.float32), np.ones((21, 9), np.float32)
    run("matmul", fn, [
        Case("(3, 2) @ (2, 3)", (a, b), expected=_f32([[1, 2, 3], [3, 4, 5], [5, 6, 7]])),
        Case("identity (19, 19) @ (19, 11): the same matrix back", (eye, m), expected=m),
        Case("ones (10, 21) @ ones (21, 9): every entry 21", (ones_a, ones_b), expected=np.full((10, 9), 21.0)),
        Case("(19, 11) @ identity (11, 11): not transposed", (m, np.eye(11, dtype=np.float32)), expected=m),
    ])


def softmax(fn: Callable) -> None:
    """Check the row softmax on rows of two and three values and on logits near +-1000."""
    p3 = np.array([1.0, 2.0, 3.0]) / 6.0  # softmax of ln 1, ln 2, ln 3
    row = [math.log(1), math.log(2), math.log(3)]
    wide = np.zeros((1, 37), np.float32)
    wide[0, -1] = math.log(36.0)  # 36 zeros and one ln 36: the last gets 36 / (36 + 36) = 1/2
    run("softmax", fn, [
        Case("[ln 1, ln 2, ln 3]", (_f32([row]),), expected=p3[None], rtol=1e-5, atol=1e-7),
        Case("the same shifted by +1000 (overflow?)", (_f32([[v + 1000 for v in row]]),), expected=p3[None],
             rtol=1e-4, atol=1e-6),
        Case("shifted by -1000 (underflow of every exp?)", (_f32([[v - 1000 for v in row]]),), expected=p3[None],
             rtol=1e-4, atol=1e-6),
        Case("37 columns, the largest last", (wide,), expected=np.r_[np.full(36, 1 / 72), 0.5][None],
             rtol=1e-5, atol=1e-7),
    ])


def _attention(q, k, v, causal):
    """The reference: torch's own attention in float64 (the package holds no NumPy answer to 01 or 03)."""
    import torch
    import torch.nn.functional as F

    def t(a):
        return torch.from_numpy(np.array(a, np.float64))[None]

    with torch.no_grad():
        return F.scaled_dot_product_attention(t(q), t(k), t(v), is_causal=bool(causal))[0].numpy()


def flash_attention(fn: Callable) -> None:
    """Check flash_attention(q, k, v, causal) on hand-made inputs and one random property case."""
    # Keys all zero: every score is 0, so each row averages the values it may see. Values 0, 1, 2, ...:
    # non-causal rows are the mean (T - 1) / 2; causal row i is the mean of 0..i, i / 2.
    T = 19
    q = np.ones((T, 4), np.float32)
    k = np.zeros((T, 4), np.float32)
    v = np.repeat(np.arange(T, dtype=np.float32)[:, None], 4, 1)
    # Growing scores (a new maximum in every tile) test the online rescale: compare with the T x T formula.
    rng = np.random.default_rng(15)
    qr = rng.standard_normal((21, 5)).astype(np.float32)
    kr = (rng.standard_normal((21, 5)) * np.linspace(0.5, 6, 21)[:, None]).astype(np.float32)
    vr = rng.standard_normal((21, 5)).astype(np.float32)
    run("flash_attention", fn, [
        Case("T = 19, zero keys, not causal: every row is the mean value 9", (q, k, v, False),
             expected=np.full((T, 4), 9.0), rtol=1e-5, atol=1e-5),
        Case("T = 19, zero keys, causal: row i is i / 2", (q, k, v, True),
             expected=np.repeat(np.arange(T)[:, None] / 2, 4, 1), rtol=1e-5, atol=1e-5),
        Case("T = 21, d = 5, scores growing along the keys, causal", (qr, kr, vr, True),
             expected=_attention(qr, kr, vr, True), rtol=1e-4, atol=1e-4),
        Case("the same, not causal", (qr, kr, vr, False), expected=_attention(qr, kr, vr, False),
             rtol=1e-4, atol=1e-4),
    ])


def int8_gemv(fn: Callable) -> None:
    """Check int8_gemv(wq, scales, x): per-row scales, rows longer than a block."""
    wq = np.array([[1, 2, 3], [-128, 127, 0]], np.int8)
    # row 0: 0.5 * (1 + 2 + 3) = 3; row 1: 2 * (-128 + 127) = -2
    long = np.full((3, 300), 127, np.int8)
    run("int8_gemv", fn, [
        Case("2 x 3, scales [0.5, 2], x = ones", (wq, _f32([0.5, 2.0]), _f32([1, 1, 1])), expected=_f32([3.0, -2.0])),
        # 300 * 127 = 38100, times the scales 1, 0.01, 1/127
        Case("3 x 300 of 127s (an int8 sum would overflow)", (long, _f32([1.0, 0.01, 1 / 127]), _f32(np.ones(300))),
             expected=_f32([38100.0, 381.0, 300.0]), rtol=1e-5),
    ])


def w8a8_gemv(fn: Callable) -> None:
    """Check w8a8_gemv(wq, scales, xq, x_scale): int8 x int8 with int32 accumulation."""
    wq = np.array([[1, 2, 3], [-128, 127, 0]], np.int8)
    xq = np.array([1, -1, 2], np.int8)
    # row 0: 1 - 2 + 6 = 5, times 0.5 * 0.1; row 1: -128 - 127 = -255, times 2 * 0.1
    big = np.full((2, 77), -128, np.int8)
    # 77 * 16384 = 1261568: beyond int16 (32767), far inside int32
    run("w8a8_gemv", fn, [
        Case("2 x 3", (wq, _f32([0.5, 2.0]), xq, 0.1), expected=_f32([0.25, -51.0]), rtol=1e-5),
        Case("77 products of -128 x -128 (int8 or int16 sums overflow)", (big, _f32([1.0, 1e-6]),
             np.full(77, -128, np.int8), 1.0), expected=_f32([1261568.0, 1.261568]), rtol=1e-6),
    ])


def sparse24_gemv(fn: Callable) -> None:
    """Check sparse24_gemv(values, meta, x) on module 09's 2:4 format."""
    # One row, K = 8: group 0 keeps positions 1 and 3 (meta 1 | 3 << 2 = 13), group 1 keeps 0 and 2 (0 | 2 << 2 = 8).
    values = _f32([[10.0, 20.0, 30.0, 40.0]])
    meta = np.array([[13, 8]], np.uint8)
    x = _f32([1, 2, 3, 4, 5, 6, 7, 8])
    # 10 * x[1] + 20 * x[3] + 30 * x[4] + 40 * x[6] = 20 + 80 + 150 + 280 = 530
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    meta6 = np.array([[a | (b << 2) for a, b in pairs * 7]], np.uint8)  # 42 groups: K = 168, every pair
    ones = np.ones((1, 84), np.float32)
    xs = _f32(np.tile([1.0, 10.0, 100.0, 1000.0], 42))
    # each group adds x at its two positions: per six groups 11 + 101 + 1001 + 110 + 1010 + 1100 = 3333
    run("sparse24_gemv", fn, [
        Case("one row, K = 8", (values, meta, x), expected=_f32([530.0])),
        Case("K = 168, every position pair, x = 1, 10, 100, 1000 per group", (ones, meta6, xs),
             expected=_f32([7 * 3333.0])),
    ])
