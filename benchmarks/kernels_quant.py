"""Tuned quantized GEMV kernels for the benchmarks (Numba). Not part of the course package.

    int8_gemv(wq_t, scales, x)              wq_t (N, K) int8, scales (N,) float32, x (K,) -> (N,) float32
    int4_gemv(packed, scales, x, group)     packed (N, K // 2) int8 from pack_int4, scales (N, K // group)

int8: four output rows per pass share each x[k] load; weights are widened to float32 and multiplied
with FMA (Numba promotes int8 x int8 products to int64, which does not vectorise well).

int4: two nibbles a byte, in a planar-per-group layout chosen so that the unpacking is float arithmetic.
In each group of g inputs, byte j (0 <= j < g/2) holds input j in its low nibble, stored as q + 8
(0..15), and input j + g/2 in its high nibble as a signed 4-bit value; read as a signed int8 the byte
equals 16 * hi + lo. The kernel converts the byte to float32 and splits it with hi = floor(f / 16),
lo = f - 16 * hi; the offset of 8 is removed once per group as 8 * sum(x over the group's first half),
computed once per call. Integer shift-and-mask unpacking measured 3-4x slower here: Numba widens
integer arithmetic to int64, and AVX2 has no vector int64 -> float32 conversion.

A second measured Numba detail: the inner loops index views sliced before the loop (qg[j], xlo[j]).
Indexing two arrays with different offsets (q[n, pb + j] with x[xb + j]) stopped LLVM from vectorising
the loop (about 10x slower).

Variants of int8_gemv measured on the course machine (2 vCPUs, AVX-512), cold 4096 x 4096, and none of them
faster than the code below, which LLVM compiles to vpmovsxbd + vcvtdq2ps + vfmadd231ps on 512-bit registers:
one or two rows per pass; eight rows; a tiled (N/4, K/64, 4, 64) layout; each thread on one contiguous half;
software prefetch of the next block (llvm.prefetch through a Numba intrinsic; 10-20% slower); and reading the
weights as int32 lanes unpacked with shifts (Numba widens the shifts to 64 bits: 2x slower). On one copy that
stays in the cache the kernel runs at about 1.3x the DRAM read bandwidth (the int8_gemv_4096_hot record), so
it is the overlap of arithmetic with memory traffic, not the arithmetic alone, that keeps it at 72-78% of
the bandwidth. torch's fbgemm int8 path reaches the same in the same runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def int8_gemv(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """y[n] = scales[n] * sum_k wq_t[n, k] * x[k]; wq_t (N, K) int8, x (K,) float32 -> (N,) float32."""
    N, K = wq_t.shape
    y = np.empty(N, dtype=np.float32)
    n_blocks = (N + 3) // 4
    for blk in prange(n_blocks):
        r = 4 * blk
        if r + 4 <= N:
            w0, w1, w2, w3 = wq_t[r], wq_t[r + 1], wq_t[r + 2], wq_t[r + 3]
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            for k in range(K):
                xk = x[k]
                a0 += np.float32(w0[k]) * xk
                a1 += np.float32(w1[k]) * xk
                a2 += np.float32(w2[k]) * xk
                a3 += np.float32(w3[k]) * xk
            y[r] = a0 * scales[r]
            y[r + 1] = a1 * scales[r + 1]
            y[r + 2] = a2 * scales[r + 2]
            y[r + 3] = a3 * scales[r + 3]
        else:
            for n in range(r, N):
                acc = np.float32(0.0)
                for k in range(K):
                    acc += np.float32(wq_t[n, k]) * x[k]
                y[n] = acc * scales[n]
    return y


def pack_int4(q: np.ndarray, group_size: int) -> np.ndarray:
    """q (N, K) int8 codes in [-8, 7] -> (N, K // 2) int8 bytes in the layout of the module docstring."""
    N, K = q.shape
    if K % group_size or group_size % 2:
        raise ValueError("group_size must be even and divide K")
    h = group_size // 2
    qg = q.astype(np.int16).reshape(N, K // group_size, 2, h)  # [n, group, half, j]
    return (16 * qg[:, :, 1] + (qg[:, :, 0] + 8)).astype(np.int8).reshape(N, K // 2)


def unpack_int4(packed: np.ndarray, group_size: int) -> np.ndarray:
    """Inverse of pack_int4: (N, K // 2) int8 -> (N, K) int8."""
    N, half_k = packed.shape
    h = group_size // 2
    b = packed.astype(np.int16).reshape(N, half_k // h, 1, h)
    hi = b >> 4  # arithmetic shift: the signed high nibble
    lo = (b & 15) - 8
    return np.concatenate([lo, hi], axis=2).astype(np.int8).reshape(N, 2 * half_k)


@njit(parallel=True, fastmath=True, cache=True)
def int4_gemv(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """Group-wise int4 GEMV on pack_int4's layout; scales (N, K // group_size) -> (N,) float32."""
    N = packed.shape[0]
    n_groups = scales.shape[1]
    h = group_size // 2
    xsum8 = np.empty(n_groups, dtype=np.float32)
    for g in range(n_groups):
        s = np.float32(0.0)
        xlo = x[g * group_size: g * group_size + h]
        for j in range(h):
            s += xlo[j]
        xsum8[g] = np.float32(8.0) * s
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        total = np.float32(0.0)
        for g in range(n_groups):
            xlo = x[g * group_size: g * group_size + h]
            xhi = x[g * group_size + h: (g + 1) * group_size]
            qg = packed[n, g * h: (g + 1) * h]
            acc = np.float32(0.0)
            for j in range(h):
                f = np.float32(qg[j])
                hi = np.floor(f * np.float32(0.0625))
                acc += (f - np.float32(16.0) * hi) * xlo[j] + hi * xhi[j]
            total += (acc - xsum8[g]) * scales[n, g]
        y[n] = total
    return y


@njit(parallel=True, fastmath=True, cache=True)
def read_sum(a: np.ndarray) -> float:
    """Sum of a 1-D float32 array; reads every byte once (a read-bandwidth probe)."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s
