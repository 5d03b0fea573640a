"""Tuned quantized GEMV kernels for the benchmarks (Numba). Not part of the course package.

    int8_gemv(wq_t, scales, x)              wq_t (N, K) int8, scales (N,) float32, x (K,) -> (N,) float32 ("fma4")
    int8_gemv_vnni(wq_t, scales, x)         the same with vpdpbusd (AVX-512 VNNI), x quantized per call
    int8_gemv_maddubs(wq_t, scales, x)      the same with vpmaddubsw (AVX2), x quantized per call
    int8_gemv_vnni1(wq_t, scales, x)        vnni on one level of x (fbgemm's precision): a diagnostic only
    int8_gemv_madd16(wq_t, scales, x)       the same with vpmovsxbw + vpmaddwd (AVX2), x in int16 per call
    int8_gemv_vnni4t / int8_gemv_madd16t(packed, scales, x)  vnni / madd16 on pack_int8_tiles's 4-row tiles
    int8_kernel()                           (name, gemv) of the int8 kernel dispatched for this CPU
    int4_gemv(packed, scales, x, group)     packed (N, K // 2) int8 from pack_int4, scales (N, K // group)
    int4_gemv_rows4(packed, scales, x, group)  int4_gemv with four output rows per pass (same layout)
    int4_gemv_words(words, scales, x, group)  words (N, K // 8) uint32 from pack_int4_words
    int4_gemv_nib16(packed, scales, x, group)  pack_int4's layout, integer unpacking and vpmaddwd (AVX2)
    int4_kernel()                           (name, pack, gemv) of the int4 kernel dispatched for this CPU

Dispatch (INT8_KERNELS, INT4_KERNELS), by the kind of code Numba generates, with a fallback where the code lacks a
kernel's instructions (INT8_NEEDS, INT4_NEEDS); LLMCOURSE_INT8_KERNEL and LLMCOURSE_INT4_KERNEL override it, and
bench_quant times every other kernel the code can run beside the dispatched one on every run, so each run shows
whether the dispatch should change.
- int8: "vnni4t" (vpdpbusd, x in two int8 levels, weights packed once into 4-row tiles by pack_int8_tiles) where
  the code has AVX-512 VNNI; "madd16t" (vpmovsxbw + vpmaddwd, x in one int16 level, the same tiles) for AVX2
  without VNNI; the fp32-FMA kernel "fma4" elsewhere. The row-major "vnni" and "madd16" are the same arithmetic
  on unpacked rows, "maddubs" (vpmaddubsw, two int8 levels) was the AVX2 choice before madd16, and "vnni1" shows
  what vnni's second level costs; all are timed beside the dispatched one. The integer kernels quantize x per
  call (INT8_GRID gives each one's error bound; see "int8 with integer dot-product instructions" below); fma4
  computes with x as given. int8_packer(name) gives the layout function a kernel's weights need (done once).
- int4: "nib16" (pack_int4's bytes unpacked with integer masks, vpmaddwd against x in one int16 level) wherever the
  code has AVX2, both course kinds included; the one-row floor split "floor" elsewhere. "floor4" (the floor split
  on four rows per pass) was the AVX-512 choice and "words" (32-bit words, eight nibbles each) the AVX2 choice
  before nib16; both are timed beside it. On the quiet AVX-512 machine (2026-12-07, one run each, cold weights)
  nib16 read 3.38x numpy fp32 against floor4's 2.67x and words' 1.99x with AVX-512 code, and 3.42x against 2.49x
  and 2.29x with Haswell code (before software prefetch was added to it).
`python -m benchmarks.kernels_quant` times the int4 kernels on one cache-resident matrix.

Inspecting the AVX2 path on an AVX-512 machine: `cpu_target_env("haswell")` (or "znver3", as `avx2_numba_env()`)
gives NUMBA_CPU_NAME / NUMBA_CPU_FEATURES for that code path (NUMBA_CPU_NAME alone is not enough: Numba then still
enables the host's features); `python -m benchmarks --cpu-target haswell quant` runs the benchmarks with it. That shows
the instructions and their arithmetic throughput, but not the AVX2 machine's memory system (its bandwidth, caches,
prefetchers), which no setting here can emulate: cold-weight ratios must be measured on that machine.

int8, fma4: four output rows per pass share each x[k] load; weights are widened to float32 and multiplied
with FMA (Numba promotes int8 x int8 products to int64, which does not vectorise well).

int4: two nibbles a byte, in a planar-per-group layout chosen so that the unpacking is float arithmetic.
In each group of g inputs, byte j (0 <= j < g/2) holds input j in its low nibble, stored as q + 8
(0..15), and input j + g/2 in its high nibble as a signed 4-bit value; read as a signed int8 the byte
equals 16 * hi + lo. The kernel converts the byte to float32 and splits it with hi = floor(f / 16),
lo = f - 16 * hi; the offset of 8 is removed once per group as 8 * sum(x over the group's first half),
computed once per call. Integer shift-and-mask unpacking of bytes measured 3-4x slower here: Numba widens
integer arithmetic to int64, and AVX2 has no vector int64 -> float32 conversion. (The word kernel escapes this:
each of its shifts is followed by a mask, and LLVM then narrows the arithmetic back to 32-bit lanes; nib16
escapes it by writing the 16-bit shifts and masks in LLVM IR itself.)

A second measured Numba detail: the inner loops index views sliced before the loop (qg[j], xlo[j]).
Indexing two arrays with different offsets (q[n, pb + j] with x[xb + j]) stopped LLVM from vectorising
the loop (about 10x slower).

Variants of the fma4 kernel measured on the course machine (2 vCPUs, AVX-512), cold 4096 x 4096, and none of
them faster than the code below, which LLVM compiles to vpmovsxbd + vcvtdq2ps + vfmadd231ps on 512-bit registers:
one or two rows per pass; eight rows; a tiled (N/4, K/64, 4, 64) layout; each thread on one contiguous half;
software prefetch of the next block (llvm.prefetch through a Numba intrinsic; 10-20% slower); and reading the
weights as int32 lanes unpacked with shifts (Numba widens the shifts to 64 bits: 2x slower). On one copy that
stays in the cache the kernel runs at about 1.3x the DRAM read bandwidth (the int8_gemv_4096_hot record), so
it is the overlap of arithmetic with memory traffic, not the arithmetic alone, that keeps it at 72-78% of
the bandwidth. torch's fbgemm int8 path reaches the same in the same runs. That is what the integer kernels
change: fma4 spends three instructions per 16 weights and row (one of them the widening vpmovsxbd), vnni one
vpdpbusd per 64 weights and level (two levels) plus one vpxorq. On one cache-resident 1024 x 4096 matrix, one
thread, under load (indicative only): fma4 68 us, vnni 61 us (its per-call quantization of x included), maddubs
98 us with AVX-512 code; with Haswell code fma4 124 us and maddubs 103 us. Cold-weight ratios measured under load
are in the README; a quiet `make bench` decides the dispatch.
"""

from __future__ import annotations

import functools
import os

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from llmcourse import bench, env

INT4_KERNELS = {"avx512": "nib16", "avx2": "nib16", "other": "floor"}  # kind of CPU -> int4 kernel
INT4_NAMES = ("floor", "floor4", "words", "nib16")  # int4_gemv, int4_gemv_rows4, int4_gemv_words, int4_gemv_nib16
INT4_NEEDS = {"floor": set(), "floor4": set(), "words": set(), "nib16": {"avx2"}}  # LLVM features of the code
# How finely each int4 kernel rounds x: |error of x[k]| <= max|x| / INT4_GRID (None: x used as given).
INT4_GRID = {"floor": None, "floor4": None, "words": None, "nib16": 2 * 32767}
INT4_ENV = "LLMCOURSE_INT4_KERNEL"
# LLVM's CPU features that a Zen 3 (AVX2 + FMA) lacks and a Zen 4/5 (AVX-512) has.
_NOT_ON_AVX2 = ("avx512", "amx", "avx10", "avxvnni", "avxifma", "avxneconvert", "evex512", "gfni", "shstk")


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


@njit(fastmath=True, cache=True)
def _int4_xsum8(x: np.ndarray, n_groups: int, group_size: int) -> np.ndarray:
    """8 x the sum of each group's first half of x: the correction for the +8 offset of the low nibbles."""
    h = group_size // 2
    xsum8 = np.empty(n_groups, dtype=np.float32)
    for g in range(n_groups):
        s = np.float32(0.0)
        xlo = x[g * group_size: g * group_size + h]
        for j in range(h):
            s += xlo[j]
        xsum8[g] = np.float32(8.0) * s
    return xsum8


@njit(fastmath=True, cache=True)
def _int4_row(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, xsum8: np.ndarray, n: int,
              group_size: int) -> np.float32:
    """Output row n of int4_gemv by the floor split of each packed byte (one row at a time)."""
    h = group_size // 2
    total = np.float32(0.0)
    for g in range(scales.shape[1]):
        xlo = x[g * group_size: g * group_size + h]
        xhi = x[g * group_size + h: (g + 1) * group_size]
        qg = packed[n, g * h: (g + 1) * h]
        acc = np.float32(0.0)
        for j in range(h):
            f = np.float32(qg[j])
            hi = np.floor(f * np.float32(0.0625))
            acc += (f - np.float32(16.0) * hi) * xlo[j] + hi * xhi[j]
        total += (acc - xsum8[g]) * scales[n, g]
    return total


@njit(parallel=True, fastmath=True, cache=True)
def int4_gemv(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """Group-wise int4 GEMV on pack_int4's layout; scales (N, K // group_size) -> (N,) float32."""
    N = packed.shape[0]
    xsum8 = _int4_xsum8(x, scales.shape[1], group_size)
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        y[n] = _int4_row(packed, scales, x, xsum8, n, group_size)
    return y


@njit(parallel=True, fastmath=True, cache=True)
def int4_gemv_rows4(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """int4_gemv (same layout, same floor split) with four output rows per pass: each x load serves four rows
    and four weight streams are in flight, as in int8_gemv. Rows past the last multiple of four go one by one."""
    N = packed.shape[0]
    n_groups = scales.shape[1]
    h = group_size // 2
    xsum8 = _int4_xsum8(x, n_groups, group_size)
    y = np.empty(N, dtype=np.float32)
    for blk in prange((N + 3) // 4):
        r = 4 * blk
        if r + 4 <= N:
            t0 = np.float32(0.0)
            t1 = np.float32(0.0)
            t2 = np.float32(0.0)
            t3 = np.float32(0.0)
            for g in range(n_groups):
                xlo = x[g * group_size: g * group_size + h]
                xhi = x[g * group_size + h: (g + 1) * group_size]
                q0 = packed[r, g * h: (g + 1) * h]
                q1 = packed[r + 1, g * h: (g + 1) * h]
                q2 = packed[r + 2, g * h: (g + 1) * h]
                q3 = packed[r + 3, g * h: (g + 1) * h]
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                a2 = np.float32(0.0)
                a3 = np.float32(0.0)
                for j in range(h):
                    xl = xlo[j]
                    xh = xhi[j]
                    f = np.float32(q0[j])
                    hi = np.floor(f * np.float32(0.0625))
                    a0 += (f - np.float32(16.0) * hi) * xl + hi * xh
                    f = np.float32(q1[j])
                    hi = np.floor(f * np.float32(0.0625))
                    a1 += (f - np.float32(16.0) * hi) * xl + hi * xh
                    f = np.float32(q2[j])
                    hi = np.floor(f * np.float32(0.0625))
                    a2 += (f - np.float32(16.0) * hi) * xl + hi * xh
                    f = np.float32(q3[j])
                    hi = np.floor(f * np.float32(0.0625))
                    a3 += (f - np.float32(16.0) * hi) * xl + hi * xh
                t0 += (a0 - xsum8[g]) * scales[r, g]
                t1 += (a1 - xsum8[g]) * scales[r + 1, g]
                t2 += (a2 - xsum8[g]) * scales[r + 2, g]
                t3 += (a3 - xsum8[g]) * scales[r + 3, g]
            y[r] = t0
            y[r + 1] = t1
            y[r + 2] = t2
            y[r + 3] = t3
        else:
            for n in range(r, N):
                y[n] = _int4_row(packed, scales, x, xsum8, n, group_size)
    return y


@njit(parallel=True, fastmath=True, cache=True)
def read_sum(a: np.ndarray) -> float:
    """Sum of a 1-D float32 array; reads every byte once (a read-bandwidth probe)."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s


# --- int4 in 32-bit words (the AVX2 kernel) -----------------------------------------------------------------
# In each group of g inputs (g a multiple of 8) there are m = g / 8 words; nibble i (bits 4i..4i+3) of word t
# holds input i * m + t, stored as q + 8 (0..15). So for a fixed nibble i the inputs of consecutive words are
# consecutive: the kernel reads x as (groups, 8, m) and its inner loop over t is contiguous in every stream.
# The offset of 8 is removed once per group as 8 * sum(x over the group), scaled with the group's scale.


def pack_int4_words(q: np.ndarray, group_size: int) -> np.ndarray:
    """q (N, K) int8 codes in [-8, 7] -> (N, K // 8) uint32 words in the layout described above."""
    N, K = q.shape
    if K % group_size or group_size % 8:
        raise ValueError("group_size must be a multiple of 8 and divide K")
    m = group_size // 8
    nib = ((q.astype(np.int32) + 8) & 15).astype(np.uint32).reshape(N, K // group_size, 8, m)  # [n, g, i, t]
    words = np.zeros((N, K // group_size, m), dtype=np.uint32)
    for i in range(8):
        words |= nib[:, :, i, :] << np.uint32(4 * i)
    return words.reshape(N, K // 8)


def unpack_int4_words(words: np.ndarray, group_size: int) -> np.ndarray:
    """Inverse of pack_int4_words: (N, K // 8) uint32 -> (N, K) int8."""
    N, k8 = words.shape
    m = group_size // 8
    w = words.reshape(N, k8 // m, 1, m)
    nib = (w >> (4 * np.arange(8, dtype=np.uint32)).reshape(1, 1, 8, 1)) & np.uint32(15)  # [n, g, i, t]
    return (nib.astype(np.int16) - 8).astype(np.int8).reshape(N, 8 * k8)


# Fast-math without "reassoc": LLVM may fuse a multiply and an add (contract) but keeps the order of the sums as
# written. With full fast-math it re-chained the eight products of a word into eight dependent FMAs per iteration,
# bound by FMA latency. Without reassociation there is no vectorised reduction either, so each row accumulates in
# a small array acc[t] (vertical adds, one per group) and sums it once at the end.
_NO_REASSOC = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
_ROWS_PER_TASK = 32


@njit(parallel=True, fastmath=_NO_REASSOC, cache=True)
def _int4_words_kernel(w3: np.ndarray, scales: np.ndarray, x3: np.ndarray) -> np.ndarray:
    """w3 (N, G, m) uint32 words, scales (N, G), x3 (G, 8, m) float32 -> (N,) float32."""
    N, G, m = w3.shape
    xsum8 = np.empty(G, dtype=np.float32)
    for g in range(G):
        s = np.float32(0.0)
        for i in range(8):
            xi = x3[g, i]
            for t in range(m):
                s += xi[t]
        xsum8[g] = np.float32(8.0) * s
    y = np.empty(N, dtype=np.float32)
    n_tasks = (N + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for task in prange(n_tasks):
        acc = np.empty(m, dtype=np.float32)
        for n in range(task * _ROWS_PER_TASK, min(N, (task + 1) * _ROWS_PER_TASK)):
            for t in range(m):
                acc[t] = np.float32(0.0)
            corr = np.float32(0.0)
            for g in range(G):
                w = w3[n, g]
                xg = x3[g]
                x0, x1, x2, x3_, x4, x5, x6, x7 = xg[0], xg[1], xg[2], xg[3], xg[4], xg[5], xg[6], xg[7]
                sc = scales[n, g]
                for t in range(m):
                    v = w[t]
                    # Every shift is masked (or, for the top nibble, bounded), so LLVM narrows Numba's 64-bit
                    # integer arithmetic back to 32-bit lanes; the sum is a tree, not a chain.
                    p01 = np.float32(v & 15) * x0[t] + np.float32((v >> 4) & 15) * x1[t]
                    p23 = np.float32((v >> 8) & 15) * x2[t] + np.float32((v >> 12) & 15) * x3_[t]
                    p45 = np.float32((v >> 16) & 15) * x4[t] + np.float32((v >> 20) & 15) * x5[t]
                    p67 = np.float32((v >> 24) & 15) * x6[t] + np.float32((v >> 28) & 15) * x7[t]
                    acc[t] += sc * ((p01 + p23) + (p45 + p67))
                corr += sc * xsum8[g]
            total = np.float32(0.0)
            for t in range(m):
                total += acc[t]
            y[n] = total - corr
    return y


def int4_gemv_words(words: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """Group-wise int4 GEMV on pack_int4_words's layout; scales (N, K // group_size) -> (N,) float32."""
    N, k8 = words.shape
    m = group_size // 8
    G = k8 // m
    x3 = np.ascontiguousarray(x, dtype=np.float32).reshape(G, 8, m)  # a view: no copy of x
    return _int4_words_kernel(words.view(np.int32).reshape(N, G, m), scales, x3)


def _require(kind: str, needs: set, what: str) -> None:
    """Refuse to call a kernel whose instructions the code Numba generates here lacks (before LLVM compiles it)."""
    missing = needs - _code_features(os.environ.get("NUMBA_CPU_FEATURES"))
    if missing:
        raise RuntimeError(f"the {kind} {what} kernel needs the CPU features {sorted(missing)}, which the code Numba "
                           f"generates here lacks; use {what}_kernel() for the one dispatched for this CPU")


# --- int8 with integer dot-product instructions -------------------------------------------------------------
# The fp32 kernel above spends three vector instructions per 16 weights (widen, convert, FMA), and one of them, the
# widening vpmovsxbd, competes for the same shuffle port on every weight. These kernels quantize x once per call
# and multiply int8 by int8 with the instructions built for it, so that the weights are never widened:
#   vnni     AVX-512 VNNI: vpdpbusd multiplies 64 unsigned bytes by 64 signed bytes and adds each four products
#            into a 32-bit lane: one instruction per 64 weights and row (plus one vpxorq: the weights are made
#            unsigned by flipping their top bit, w + 128, and 128 * sum(x codes) is subtracted at the end).
#   maddubs  AVX2 without VNNI: vpabsb takes |w| (128 for -128, read as unsigned), vpsignb moves w's sign onto the
#            x code, vpmaddubsw multiplies the two and adds pairs into 16 bits (at most 2 * 128 * 127 = 32512: no
#            saturation), vpmaddwd by ones adds pairs into 32 bits: seven instructions per 32 weights and row for
#            the two levels below. (The sign on the weight instead would turn -128 into -128: wrong.)
# Numba does not emit either from a Python loop (LLVM turns an int8 x int8 loop into vpmovsxbd + vpmulld, or
# vpdpwssd on widened lanes), so _dot4 writes the inner loop in LLVM IR with the x86 intrinsics. A kernel is
# compiled only when the code target has its instructions (int8_kernel refuses the others), because LLVM cannot
# lower the intrinsic for a CPU without them.
#
# x in two int8 levels: x ~ sh * xh + sl * xl with sh = max|x| / 127 and sl = sh / 254, so every x is rounded to
# within sl / 2 = max|x| / 64516 (a 16-bit grid), not to max|x| / 254 as in a one-level (w8a8, fbgemm-style) scheme.
# Each row then costs two dot products on the same weight registers, and the error of y[n] is at most
# scales[n] * sum_k |w[n, k]| * sl / 2 (test_int8_dot_kernels_stay_within_their_error_bound checks it).
# Each int32 lane is exact: |(w + 128) * x code| <= 255 * 127 and a lane adds K / 16 of them (vnni; maddubs: K / 8 of
# |w| * |x code| <= 128 * 127), so K up to about a million; the lanes are summed in int64.

_I8, _I32, _I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_DOT_BLOCK = {"vnni": 64, "vnni1": 64, "maddubs": 32}  # bytes of one row per intrinsic step
INT8_NAMES = ("fma4", "vnni", "maddubs", "vnni1", "madd16", "vnni4t", "madd16t")  # int8_gemv, int8_gemv_<name>
INT8_KERNELS = {"avx512": "vnni4t", "avx2": "madd16t", "other": "fma4"}  # kind of CPU -> int8 kernel
INT8_NEEDS = {"fma4": set(), "vnni": {"avx512f", "avx512vnni"}, "maddubs": {"avx2"},  # LLVM features of the code
              "vnni1": {"avx512f", "avx512vnni"}, "madd16": {"avx2"}, "vnni4t": {"avx512f", "avx512vnni"},
              "madd16t": {"avx2"}}
# How finely each kernel rounds x: |error of x[k]| <= max|x| / INT8_GRID (None: x used as given, fp32 rounding).
# vnni1 is vnni with the first level only, fbgemm's precision: timed beside the dispatched kernel (diagnostic), to
# show on a quiet machine what the second level costs; it is dispatched nowhere.
INT8_GRID = {"fma4": None, "vnni": 2 * 127 * 254, "maddubs": 2 * 127 * 254, "vnni1": 2 * 127, "madd16": 2 * 32767,
             "vnni4t": 2 * 127 * 254, "madd16t": 2 * 32767}
INT8_ENV = "LLMCOURSE_INT8_KERNEL"
# The int8 kernels hand their blocks of four rows to the threads in PARALLEL_CHUNKS chunks per call instead of one
# half each: on a shared 2-vCPU machine a thread that loses its core for a while then delays only a chunk, not the
# whole call. Measured only under load (load average 3-10, cold 4096 x 4096, 41 rounds each, times 5-10x those of
# a quiet machine): 64-row chunks (256 chunks) beat one half each in one run (vnni 7.8 against 11.0 ms) and lost in
# two (10.0 against 6.8 ms; 3.6 against 3.0 ms: each chunk costs a scheduling step); 8 chunks matched one half
# each (3.05 against 2.96 ms). Quiet AVX-512 machine, 2026-12-07, vnni on cold 11008 x 4096, 15 rounds: 2, 8 and
# 64 chunks took 1.21, 1.22 and 1.23 ms, no measurable difference; 8 stays for the shared machines.
PARALLEL_CHUNKS = 8
# Software prefetch: each weight row's load is preceded by a prefetch PREFETCH_BYTES ahead in that row (0: none).
# Quiet AVX-512 machine, 2026-12-07, cold weights, 11-15 rounds each, the vnni kernel against itself without it:
# 1024 bytes ahead ran 5% faster at 4096 x 4096 and 8% at 11008 x 4096 (where it had trailed torch's fbgemm by
# 3-5%); 256 ahead +4% at 11008; 512 ahead +8% at 11008 but -7% at 4096; 2048 ahead +4% and +7%. With Haswell code
# on the same machine (two runs of bench_quant, without and with 1024 ahead, so not side by side): madd16 2.65x ->
# 3.11x numpy, maddubs 2.52x -> 3.04x, nib16 3.46x -> 3.94x. The fp32 kernel was 10-20% slower with prefetch (notes
# above). LLMCOURSE_PREFETCH_BYTES overrides the distance for experiments (read when a kernel compiles: use a fresh
# NUMBA_CACHE_DIR). An AVX2 machine's own prefetchers may want another distance: measure there.
PREFETCH_BYTES = {"vnni": 1024, "vnni1": 1024, "maddubs": 1024, "madd16": 1024, "nib16": 1024, "vnni4t": 1024,
                  "madd16t": 1024}


def _prefetch_bytes(kind: str) -> int:
    forced = os.environ.get("LLMCOURSE_PREFETCH_BYTES", "").strip()
    return int(forced) if forced else PREFETCH_BYTES[kind]


def _emit_prefetch(builder, ptr, distance: int) -> None:
    """llvm.prefetch (read, no temporal locality hint beyond L2, data cache) of ptr + distance bytes."""
    if distance <= 0:
        return
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [ir.PointerType(_I8), _I32,
                                                                                         _I32, _I32]),
                                        "llvm.prefetch.p0")
    ahead = builder.gep(builder.bitcast(ptr, ir.PointerType(_I8)), [ir.Constant(_I64, distance)], source_etype=_I8)
    builder.call(fn, [ahead, ir.Constant(_I32, 0), ir.Constant(_I32, 0), ir.Constant(_I32, 1)])


def _dot4_codegen(kind: str):
    """LLVM IR of four rows' dot products with the x codes: (w0, w1, w2, w3, xs, stride, nblk) -> 8 int64 sums."""
    block = _DOT_BLOCK[kind]
    vin = ir.VectorType(_I8, block)
    if kind in ("vnni", "vnni1"):
        vacc = ir.VectorType(_I32, 16)
    else:
        vacc = ir.VectorType(_I32, 8)
        v16i16 = ir.VectorType(ir.IntType(16), 16)

    def codegen(context, builder, signature, args):
        ptrs = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in range(5)]
        stride, nblk = args[5], args[6]
        ahead = _prefetch_bytes(kind)
        mod = builder.module
        vwide = ir.VectorType(_I64, vacc.count)  # the lanes' sum is taken in int64: it may pass 2^31 where no lane does
        red = cgutils.get_or_insert_function(mod, ir.FunctionType(_I64, [vwide]),
                                             f"llvm.vector.reduce.add.v{vacc.count}i64")
        accs = [cgutils.alloca_once_value(builder, ir.Constant(vacc, None)) for _ in range(8)]

        def load(p, off, prefetch=False):
            at = builder.gep(p, [off], source_etype=_I8)
            if prefetch:
                _emit_prefetch(builder, at, ahead)
            return builder.load(at, typ=vin, align=1)

        def acc_add(slot, v):
            builder.store(builder.add(builder.load(accs[slot]), v), accs[slot])

        xrows = [ptrs[4], builder.gep(ptrs[4], [stride], source_etype=_I8)]  # xh, xl
        with cgutils.for_range(builder, nblk) as loop:
            off = builder.mul(loop.index, ir.Constant(_I64, block))
            xv = [load(xr, off) for xr in xrows]
            if kind in ("vnni", "vnni1"):
                dp = cgutils.get_or_insert_function(mod, ir.FunctionType(vacc, [vacc] * 3),
                                                    "llvm.x86.avx512.vpdpbusd.512")
                flip = ir.Constant(vin, [0x80] * block)
                levels = [builder.bitcast(v, vacc) for v in xv][: 2 if kind == "vnni" else 1]  # vnni1: the sums of
                for r in range(4):                                                         # level 2 stay zero
                    w = builder.bitcast(builder.xor(load(ptrs[r], off, True), flip), vacc)  # w + 128, unsigned
                    for lvl, xc in enumerate(levels):
                        builder.store(builder.call(dp, [builder.load(accs[2 * r + lvl]), w, xc]), accs[2 * r + lvl])
            else:
                sign = cgutils.get_or_insert_function(mod, ir.FunctionType(vin, [vin, vin]), "llvm.x86.avx2.psign.b")
                mub = cgutils.get_or_insert_function(mod, ir.FunctionType(v16i16, [vin, vin]),
                                                     "llvm.x86.avx2.pmadd.ub.sw")
                mwd = cgutils.get_or_insert_function(mod, ir.FunctionType(vacc, [v16i16, v16i16]),
                                                     "llvm.x86.avx2.pmadd.wd")
                absb = cgutils.get_or_insert_function(mod, ir.FunctionType(vin, [vin, ir.IntType(1)]), "llvm.abs.v32i8")
                ones = ir.Constant(v16i16, [1] * 16)
                for r in range(4):
                    w = load(ptrs[r], off, True)
                    wabs = builder.call(absb, [w, ir.Constant(ir.IntType(1), 0)])  # |-128| wraps to 0x80 = 128 unsigned
                    for lvl in range(2):
                        p16 = builder.call(mub, [wabs, builder.call(sign, [xv[lvl], w])])  # |w| * (x * sign w), pairs
                        acc_add(2 * r + lvl, builder.call(mwd, [p16, ones]))
        outs = [builder.call(red, [builder.sext(builder.load(a), vwide)]) for a in accs]
        return context.make_tuple(builder, signature.return_type, outs)
    return codegen


def _dot4_intrinsic(kind: str):
    @intrinsic
    def dot4(typingctx, w0, w1, w2, w3, xs, stride, nblk):
        return types.UniTuple(types.int64, 8)(w0, w1, w2, w3, xs, stride, nblk), _dot4_codegen(kind)
    return dot4


_dot4_vnni = _dot4_intrinsic("vnni")
_dot4_maddubs = _dot4_intrinsic("maddubs")
_dot4_vnni1 = _dot4_intrinsic("vnni1")


@njit(cache=True)
def _max_abs(x: np.ndarray):
    """(max |x[k]| over the finite values, whether every value is finite) for the per-call x quantizers."""
    m = np.float32(0.0)
    finite = True
    for k in range(x.size):
        a = abs(x[k])
        if not a <= np.float32(3.4e38):  # NaN or inf (no fast-math here, so the test stays)
            finite = False
        elif a > m:
            m = a
    return m, finite


@njit(cache=True)
def quantize_x_two_levels(x: np.ndarray):
    """x (K,) float32 -> (codes, sh, sl, ok): x[k] ~ sh * xh[k] + sl * xl[k], codes (2, K) int8 holding
    (xh, xl). ok is False (and codes unset) where x has a value that is not
    finite, is all zeros, or max|x| is so small that sl would be subnormal: the caller then uses the fp32 kernel."""
    K = x.size
    m, finite = _max_abs(x)
    codes = np.zeros((2, K), dtype=np.int8)
    if not finite or m < np.float32(1e-30):
        return codes, np.float32(0.0), np.float32(0.0), False
    sh = m / np.float32(127.0)
    sl = sh / np.float32(254.0)
    inv_h, inv_l = np.float32(127.0) / m, np.float32(254.0) / sh
    for k in range(K):
        qh = min(max(np.round(x[k] * inv_h), np.float32(-127.0)), np.float32(127.0))
        ql = min(max(np.round((x[k] - qh * sh) * inv_l), np.float32(-127.0)), np.float32(127.0))
        codes[0, k] = np.int8(qh)
        codes[1, k] = np.int8(ql)
    return codes, sh, sl, True


@njit(cache=True)
def _offset_sums(xs: np.ndarray, nvec: int, offset: int):
    """offset * sum of each level's codes over the first nvec inputs (what the vnni kernel's w + 128 adds)."""
    ch = np.int64(0)
    cl = np.int64(0)
    for k in range(nvec):
        ch += np.int64(xs[0, k])
        cl += np.int64(xs[1, k])
    return offset * ch, offset * cl


@njit(cache=True)
def _finish4(d, r: int, nvec: int, corr_h, corr_l, wq_t, xs, scales, sh, sl, y) -> None:
    """y for rows r..r+3 (those below N) from _dot4's sums: add the inputs past nvec exactly, remove the offset."""
    N, K = wq_t.shape
    sums = (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7])
    for i in range(min(4, N - r)):
        n = r + i
        th = np.int64(0)
        tl = np.int64(0)
        for k in range(nvec, K):
            w = np.int64(wq_t[n, k])
            th += w * np.int64(xs[0, k])
            tl += w * np.int64(xs[1, k])
        y[n] = scales[n] * (sh * np.float32(sums[2 * i] - corr_h + th) + sl * np.float32(sums[2 * i + 1] - corr_l + tl))


# Two kernels written out rather than made by one factory: Numba's cache keys a closure by its name and line, and
# the two closures of a factory kept missing (and refilling) one shared cache entry.
@njit(parallel=True, cache=True)
def _int8_vnni_kernel(wq_t, scales, x):
    """(y, True), or (empty, False) where x has no two-level grid (quantize_x_two_levels's ok)."""
    xs, sh, sl, ok = quantize_x_two_levels(x)  # here, not in Python: one call less (about 4 us of 60 in cache)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    N, K = wq_t.shape
    nblk = K // 64
    corr_h, corr_l = _offset_sums(xs, nblk * 64, 128)
    flat = xs.reshape(-1)
    y = np.empty(N, dtype=np.float32)
    for blk in prange((N + 3) // 4):
        r = 4 * blk  # rows past N read row N - 1 again and are not stored
        d = _dot4_vnni(wq_t[r], wq_t[min(r + 1, N - 1)], wq_t[min(r + 2, N - 1)], wq_t[min(r + 3, N - 1)], flat, K,
                       nblk)
        if r + 4 <= N and nblk * 64 == K:  # the common case, written out (a call per block cost ~10% in cache)
            y[r] = scales[r] * (sh * np.float32(d[0] - corr_h) + sl * np.float32(d[1] - corr_l))
            y[r + 1] = scales[r + 1] * (sh * np.float32(d[2] - corr_h) + sl * np.float32(d[3] - corr_l))
            y[r + 2] = scales[r + 2] * (sh * np.float32(d[4] - corr_h) + sl * np.float32(d[5] - corr_l))
            y[r + 3] = scales[r + 3] * (sh * np.float32(d[6] - corr_h) + sl * np.float32(d[7] - corr_l))
        else:
            _finish4(d, r, nblk * 64, corr_h, corr_l, wq_t, xs, scales, sh, sl, y)
    return y, True


@njit(parallel=True, cache=True)
def _int8_vnni1_kernel(wq_t, scales, x):
    """As _int8_vnni_kernel with x's first level only."""
    xs, sh, sl, ok = quantize_x_two_levels(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    N, K = wq_t.shape
    nblk = K // 64
    corr_h, corr_l = _offset_sums(xs, nblk * 64, 128)
    flat = xs.reshape(-1)
    no_level_2 = np.float32(0.0)
    y = np.empty(N, dtype=np.float32)
    for blk in prange((N + 3) // 4):
        r = 4 * blk
        d = _dot4_vnni1(wq_t[r], wq_t[min(r + 1, N - 1)], wq_t[min(r + 2, N - 1)], wq_t[min(r + 3, N - 1)], flat, K,
                        nblk)
        if r + 4 <= N and nblk * 64 == K:
            y[r] = scales[r] * (sh * np.float32(d[0] - corr_h))
            y[r + 1] = scales[r + 1] * (sh * np.float32(d[2] - corr_h))
            y[r + 2] = scales[r + 2] * (sh * np.float32(d[4] - corr_h))
            y[r + 3] = scales[r + 3] * (sh * np.float32(d[6] - corr_h))
        else:
            _finish4(d, r, nblk * 64, corr_h, np.int64(0), wq_t, xs, scales, sh, no_level_2, y)
    return y, True


@njit(parallel=True, cache=True)
def _int8_maddubs_kernel(wq_t, scales, x):
    """As _int8_vnni_kernel."""
    xs, sh, sl, ok = quantize_x_two_levels(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    N, K = wq_t.shape
    nblk = K // 32
    y = np.empty(N, dtype=np.float32)
    flat = xs.reshape(-1)
    zero = np.int64(0)
    for blk in prange((N + 3) // 4):
        r = 4 * blk
        d = _dot4_maddubs(wq_t[r], wq_t[min(r + 1, N - 1)], wq_t[min(r + 2, N - 1)], wq_t[min(r + 3, N - 1)], flat,
                          K, nblk)
        if r + 4 <= N and nblk * 32 == K:
            y[r] = scales[r] * (sh * np.float32(d[0]) + sl * np.float32(d[1]))
            y[r + 1] = scales[r + 1] * (sh * np.float32(d[2]) + sl * np.float32(d[3]))
            y[r + 2] = scales[r + 2] * (sh * np.float32(d[4]) + sl * np.float32(d[5]))
            y[r + 3] = scales[r + 3] * (sh * np.float32(d[6]) + sl * np.float32(d[7]))
        else:
            _finish4(d, r, nblk * 32, zero, zero, wq_t, xs, scales, sh, sl, y)
    return y, True


# madd16: x in one int16 level instead of two int8 levels (|error of x| <= max|x| / 65534, as fine as the two
# levels' max|x| / 64516), each weight widened to int16 (vpmovsxbw, which loads and widens in one instruction) and
# multiplied by vpmaddwd, which adds adjacent products into int32 lanes. Per 16 weights and row that is three
# instructions (widen, multiply-add, add), against ten per 32 weights and row for maddubs's two levels (abs, and per
# level sign, multiply-add, widen-add, add): fewer instructions per byte of weights, so more of each call overlaps
# the memory traffic. The int32 lanes see 2 * MADD16_STEPS products of at most 128 * 32767 per chunk before they
# are widened to int64 (2^30.1 at 128 steps; their sum is taken in int64), so K has no limit.
MADD16_BLOCK = 16   # weights of one row per step (one ymm register of int16)
MADD16_STEPS = 128  # steps per int32 chunk
MADD16_QMAX = 32767


def _dot4_w16_codegen(context, builder, signature, args):
    """(w0, w1, w2, w3, x16, start, nblk) -> 4 int64 sums over blocks start .. start + nblk of MADD16_BLOCK."""
    ptrs = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in range(5)]
    start, nblk = args[5], args[6]
    i16 = ir.IntType(16)
    vw, vx, vacc = ir.VectorType(_I8, MADD16_BLOCK), ir.VectorType(i16, MADD16_BLOCK), ir.VectorType(_I32, 8)
    mod = builder.module
    mwd = cgutils.get_or_insert_function(mod, ir.FunctionType(vacc, [vx, vx]), "llvm.x86.avx2.pmadd.wd")
    v8i64 = ir.VectorType(_I64, 8)
    red = cgutils.get_or_insert_function(mod, ir.FunctionType(_I64, [v8i64]), "llvm.vector.reduce.add.v8i64")
    accs = [cgutils.alloca_once_value(builder, ir.Constant(vacc, None)) for _ in range(4)]
    with cgutils.for_range(builder, nblk) as loop:
        off = builder.mul(builder.add(loop.index, start), ir.Constant(_I64, MADD16_BLOCK))
        xv = builder.load(builder.bitcast(builder.gep(ptrs[4], [off], source_etype=i16), vx.as_pointer()), align=2)
        for r in range(4):
            at = builder.gep(ptrs[r], [off], source_etype=_I8)
            _emit_prefetch(builder, at, _prefetch_bytes("madd16"))
            w = builder.load(builder.bitcast(at, vw.as_pointer()), align=1)
            prod = builder.call(mwd, [builder.sext(w, vx), xv])
            builder.store(builder.add(builder.load(accs[r]), prod), accs[r])
    outs = [builder.call(red, [builder.sext(builder.load(a), v8i64)]) for a in accs]  # 8 lanes may pass 2^31
    return context.make_tuple(builder, signature.return_type, outs)


@intrinsic
def _dot4_madd16(typingctx, w0, w1, w2, w3, x16, start, nblk):
    return types.UniTuple(types.int64, 4)(w0, w1, w2, w3, x16, start, nblk), _dot4_w16_codegen


@njit(cache=True)
def quantize_x_int16(x: np.ndarray):
    """x (K,) float32 -> (codes, s, ok): x[k] ~ s * codes[k], codes int16 in [-MADD16_QMAX, MADD16_QMAX]; ok as in
    quantize_x_two_levels (False for a value that is not finite, all zeros, or max|x| below 1e-30)."""
    K = x.size
    m, finite = _max_abs(x)
    codes = np.zeros(K, dtype=np.int16)
    if not finite or m < np.float32(1e-30):
        return codes, np.float32(0.0), False
    q = np.float32(MADD16_QMAX)
    inv = q / m
    for k in range(K):
        codes[k] = np.int16(min(max(np.round(x[k] * inv), -q), q))
    return codes, m / q, True


@njit(parallel=True, cache=True)
def _int8_madd16_kernel(wq_t, scales, x):
    """As _int8_vnni_kernel, with x in one int16 level."""
    xs, sx, ok = quantize_x_int16(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    N, K = wq_t.shape
    nblk = K // MADD16_BLOCK
    kmain = nblk * MADD16_BLOCK
    y = np.empty(N, dtype=np.float32)
    for blk in prange((N + 3) // 4):
        r = 4 * blk
        r1, r2, r3 = min(r + 1, N - 1), min(r + 2, N - 1), min(r + 3, N - 1)
        a0 = np.int64(0)
        a1 = np.int64(0)
        a2 = np.int64(0)
        a3 = np.int64(0)
        for c0 in range(0, nblk, MADD16_STEPS):
            d = _dot4_madd16(wq_t[r], wq_t[r1], wq_t[r2], wq_t[r3], xs, c0, min(MADD16_STEPS, nblk - c0))
            a0 += d[0]
            a1 += d[1]
            a2 += d[2]
            a3 += d[3]
        acc = (a0, a1, a2, a3)
        for i in range(min(4, N - r)):
            n = r + i
            t = acc[i]
            for k in range(kmain, K):  # the inputs past the last full block, exactly
                t += np.int64(wq_t[n, k]) * np.int64(xs[k])
            y[n] = scales[n] * (sx * np.float32(t))
    return y, True


# int4 "nib16": pack_int4's bytes unpacked by integer masks and multiplied by x in one int16 level with vpmaddwd
# (AVX2), no floating point until each group's sum. A 32-byte load, read as 16 lanes of 16 bits, holds four nibbles
# per lane: bits 0-3 and 4-7 are the low and high nibble of byte 2t, bits 8-11 and 12-15 those of byte 2t + 1.
# XOR with 0x8080 turns the high nibbles (signed) into q + 8 like the low ones, so nibble i of every lane is
# (v >> 4 i) & 15 = q + 8: seven integer instructions unpack 64 weights into four int16 vectors, and four vpmaddwd
# multiply them by x. x is quantized per call and laid out in that order (_nib16_x_layout), and the offset 8 * x code
# is subtracted lane by lane from the group's integer sums (exact: each int32 lane adds g / 8 products of at most
# 15 * 32767, below 2^31 for g up to 32768). The group's sums are then converted once and scaled by its scale.
# It needs g a multiple of 64 (a load must not mix two groups) and at most NIB16_MAX_GROUP; other group sizes use
# floor4.
NIB16_BYTES = 32  # bytes of one row per step: 64 weights
NIB16_MAX_GROUP = 32768


def _dot4_nib16_codegen(context, builder, signature, args):
    """(p0..p3, s0..s3, xp, corr, steps_per_group, n_groups) -> 4 float64 sums of scale * group integer sum."""
    arr = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in range(10)]
    rows, srows, xp, corr = arr[0:4], arr[4:8], arr[8], arr[9]
    steps, n_groups = args[10], args[11]
    i16, f32 = ir.IntType(16), ir.FloatType()
    v16, v8, vf = ir.VectorType(i16, 16), ir.VectorType(_I32, 8), ir.VectorType(f32, 8)
    mod = builder.module
    mwd = cgutils.get_or_insert_function(mod, ir.FunctionType(v8, [v16, v16]), "llvm.x86.avx2.pmadd.wd")

    def splat16(c):
        return ir.Constant(v16, [c] * 16)

    facc = [cgutils.alloca_once_value(builder, ir.Constant(vf, None)) for _ in range(4)]
    iacc = [cgutils.alloca_once(builder, v8) for _ in range(4)]
    with cgutils.for_range(builder, n_groups) as gl:
        for a in iacc:
            builder.store(ir.Constant(v8, None), a)
        with cgutils.for_range(builder, steps) as sl:
            step = builder.add(builder.mul(gl.index, steps), sl.index)
            xoff = builder.mul(step, ir.Constant(_I64, 2 * NIB16_BYTES))  # int16 elements of x per step: 64
            xv = [builder.load(builder.bitcast(builder.gep(xp, [builder.add(xoff, ir.Constant(_I64, 16 * i))],
                                                           source_etype=i16), v16.as_pointer()), align=2)
                  for i in range(4)]
            boff = builder.mul(step, ir.Constant(_I64, NIB16_BYTES))
            for r in range(4):
                at = builder.gep(rows[r], [boff], source_etype=_I8)
                _emit_prefetch(builder, at, _prefetch_bytes("nib16"))
                v = builder.load(builder.bitcast(at, v16.as_pointer()), align=1)
                v = builder.xor(v, splat16(0x8080))
                nib = [builder.and_(v, splat16(15)),
                       builder.and_(builder.lshr(v, splat16(4)), splat16(15)),
                       builder.and_(builder.lshr(v, splat16(8)), splat16(15)),
                       builder.lshr(v, splat16(12))]
                prods = [builder.call(mwd, [nib[i], xv[i]]) for i in range(4)]
                total = builder.add(builder.add(prods[0], prods[1]), builder.add(prods[2], prods[3]))
                builder.store(builder.add(builder.load(iacc[r]), total), iacc[r])
        cvec = builder.load(builder.bitcast(builder.gep(corr, [builder.mul(gl.index, ir.Constant(_I64, 8))],
                                                        source_etype=_I32), v8.as_pointer()), align=4)
        for r in range(4):
            f = builder.sitofp(builder.sub(builder.load(iacc[r]), cvec), vf)
            sc = builder.load(builder.gep(srows[r], [gl.index], source_etype=f32))
            scv = builder.shuffle_vector(builder.insert_element(ir.Constant(vf, None), sc, ir.Constant(_I32, 0)),
                                         ir.Constant(vf, None), ir.Constant(v8, [0] * 8))
            builder.store(builder.fadd(builder.load(facc[r]), builder.fmul(f, scv, flags=("contract",)),
                                       flags=("contract",)), facc[r])
    f64 = ir.DoubleType()
    outs = []
    for r in range(4):
        v = builder.load(facc[r])
        t = ir.Constant(f64, 0.0)
        for i in range(8):
            t = builder.fadd(t, builder.fpext(builder.extract_element(v, ir.Constant(_I32, i)), f64))
        outs.append(t)
    return context.make_tuple(builder, signature.return_type, outs)


@intrinsic
def _dot4_nib16(typingctx, p0, p1, p2, p3, s0, s1, s2, s3, xp, corr, steps, n_groups):
    sig = types.UniTuple(types.float64, 4)(p0, p1, p2, p3, s0, s1, s2, s3, xp, corr, steps, n_groups)
    return sig, _dot4_nib16_codegen


@njit(cache=True)
def _nib16_x_layout(xs: np.ndarray, group_size: int):
    """x codes (K,) int16 -> (xp, corr): xp (K,) in the kernel's order (per step of 32 bytes: the 16 inputs of
    nibble 0 of each lane, then those of nibbles 1, 2, 3), corr (groups, 8) int32: 8 * the sum of the codes that
    land in each of vpmaddwd's eight int32 lanes over the group (lane j: int16 lanes 2j and 2j + 1 of every
    nibble), so that each lane is corrected on its own and stays within int32."""
    K = xs.size
    h = group_size // 2
    n_groups = K // group_size
    xp = np.empty(K, dtype=np.int16)
    corr = np.zeros((n_groups, 8), dtype=np.int32)
    for g in range(n_groups):
        base = g * group_size
        for b in range(h // NIB16_BYTES):
            out = base + b * 2 * NIB16_BYTES
            for t in range(16):
                j = b * NIB16_BYTES + 2 * t  # byte 2t of this step, within the group
                xp[out + t] = xs[base + j]               # low nibble of byte 2t: input j
                xp[out + 16 + t] = xs[base + h + j]      # its high nibble: input j + g / 2
                xp[out + 32 + t] = xs[base + j + 1]      # byte 2t + 1
                xp[out + 48 + t] = xs[base + h + j + 1]
        for b in range(h // NIB16_BYTES):
            for i in range(4):
                for t in range(16):
                    corr[g, t // 2] += 8 * np.int32(xp[base + b * 2 * NIB16_BYTES + 16 * i + t])
    return xp, corr


@njit(parallel=True, cache=True)
def _int4_nib16_kernel(packed, scales, x, group_size):
    """(y, True), or (empty, False) where x has no int16 grid (quantize_x_int16's ok)."""
    xs, sx, ok = quantize_x_int16(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    xp, corr = _nib16_x_layout(xs, group_size)
    N = packed.shape[0]
    n_groups = scales.shape[1]
    steps = group_size // (2 * NIB16_BYTES)
    y = np.empty(N, dtype=np.float32)
    for blk in prange((N + 3) // 4):
        r = 4 * blk
        r1, r2, r3 = min(r + 1, N - 1), min(r + 2, N - 1), min(r + 3, N - 1)
        d = _dot4_nib16(packed[r], packed[r1], packed[r2], packed[r3], scales[r], scales[r1], scales[r2],
                        scales[r3], xp, corr, steps, n_groups)
        for i in range(min(4, N - r)):
            y[r + i] = np.float32(sx * d[i])
    return y, True


def int4_gemv_nib16(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """Group-wise int4 GEMV on pack_int4's layout with integer unpacking and vpmaddwd (AVX2), x in one int16 level
    (|error of x| <= max|x| / 65534); group sizes that are not a multiple of 64 (or above NIB16_MAX_GROUP), and an x
    without a grid (NaN, inf, all zeros, max|x| below 1e-30), go to int4_gemv_rows4."""
    _require("nib16", INT4_NEEDS["nib16"], "int4")
    if packed.dtype != np.int8 or packed.ndim != 2:
        raise TypeError(f"packed must be a 2-D int8 array, not {packed.ndim}-D {packed.dtype}")
    N, half_k = packed.shape
    if group_size % (2 * NIB16_BYTES) or group_size > NIB16_MAX_GROUP or scales.shape != (N, 2 * half_k // group_size):
        return int4_gemv_rows4(packed, scales, x, group_size)
    packed = np.ascontiguousarray(packed)
    sc = np.ascontiguousarray(scales, dtype=np.float32)
    with numba.parallel_chunksize(_chunk(N)):
        y, ok = _int4_nib16_kernel(packed, sc, np.ascontiguousarray(x, dtype=np.float32), group_size)
    return y if ok else int4_gemv_rows4(packed, scales, x, group_size)


# vnni4t: the vnni kernel on weights packed once into tiles of four rows by 64 inputs, (N / 4, K / 64, 4, 64), as
# fbgemm packs its weights when the model is quantized. A thread then reads one sequential stream (256 bytes per
# step) instead of four rows 4 KiB or more apart. Quiet AVX-512 machine, 2026-12-07, cold 11008 x 4096, 15 rounds:
# 1.19x torch's fbgemm against 1.04x for the row-major vnni kernel in the same rounds (both prefetching 1024 bytes
# ahead). N and K are padded with zeros to multiples of 4 and 64 (zero weights meet zero x codes: no effect).
TILE_ROWS, TILE_K = 4, 64


class PackedInt8:
    """int8 weights (N, K) in vnni4t's tiles: `tiles` (ceil(N / 4), ceil(K / 64), 4, 64) int8, `shape` (N, K)."""

    def __init__(self, wq_t: np.ndarray):
        if wq_t.dtype != np.int8 or wq_t.ndim != 2:
            raise TypeError(f"wq_t must be a 2-D int8 array, not {wq_t.ndim}-D {wq_t.dtype}")
        N, K = wq_t.shape
        nb, kb = -(-N // TILE_ROWS), -(-K // TILE_K)
        padded = np.zeros((nb * TILE_ROWS, kb * TILE_K), dtype=np.int8)
        padded[:N, :K] = wq_t
        self.tiles = np.ascontiguousarray(padded.reshape(nb, TILE_ROWS, kb, TILE_K).transpose(0, 2, 1, 3))
        self.shape = (N, K)
        self.nbytes = self.tiles.nbytes

    def unpack(self) -> np.ndarray:
        nb, kb = self.tiles.shape[:2]
        N, K = self.shape
        return np.ascontiguousarray(self.tiles.transpose(0, 2, 1, 3).reshape(nb * TILE_ROWS, kb * TILE_K)[:N, :K])


def pack_int8_tiles(wq_t: np.ndarray) -> PackedInt8:
    """wq_t (N, K) int8 -> PackedInt8 for int8_gemv_vnni4t (done once, when the weights are quantized)."""
    return PackedInt8(np.asarray(wq_t))


def _dot4_tiled_codegen(context, builder, signature, args):
    """(tile_row (K / 64 * 256,) int8, xs (2, Kp) int8 flattened, stride, nblk) -> 8 int64 sums (rows x levels)."""
    tile = context.make_array(signature.args[0])(context, builder, args[0]).data
    xsp = context.make_array(signature.args[1])(context, builder, args[1]).data
    stride, nblk = args[2], args[3]
    mod = builder.module
    vin, vacc = ir.VectorType(_I8, 64), ir.VectorType(_I32, 16)
    vwide = ir.VectorType(_I64, 16)
    red = cgutils.get_or_insert_function(mod, ir.FunctionType(_I64, [vwide]), "llvm.vector.reduce.add.v16i64")
    dp = cgutils.get_or_insert_function(mod, ir.FunctionType(vacc, [vacc] * 3), "llvm.x86.avx512.vpdpbusd.512")
    accs = [cgutils.alloca_once_value(builder, ir.Constant(vacc, None)) for _ in range(8)]
    xrows = [xsp, builder.gep(xsp, [stride], source_etype=_I8)]
    flip = ir.Constant(vin, [0x80] * 64)
    ahead = _prefetch_bytes("vnni4t")
    with cgutils.for_range(builder, nblk) as loop:
        off = builder.mul(loop.index, ir.Constant(_I64, TILE_K))
        xv = [builder.bitcast(builder.load(builder.gep(xr, [off], source_etype=_I8), typ=vin, align=1), vacc)
              for xr in xrows]
        base = builder.mul(loop.index, ir.Constant(_I64, TILE_ROWS * TILE_K))
        for r in range(TILE_ROWS):
            at = builder.gep(tile, [builder.add(base, ir.Constant(_I64, TILE_K * r))], source_etype=_I8)
            if r % 2 == 0:  # one prefetch per 128 bytes: the stream is sequential
                _emit_prefetch(builder, at, ahead)
            w = builder.bitcast(builder.xor(builder.load(at, typ=vin, align=1), flip), vacc)  # w + 128, unsigned
            for lvl in range(2):
                builder.store(builder.call(dp, [builder.load(accs[2 * r + lvl]), w, xv[lvl]]), accs[2 * r + lvl])
    outs = [builder.call(red, [builder.sext(builder.load(a), vwide)]) for a in accs]
    return context.make_tuple(builder, signature.return_type, outs)


@intrinsic
def _dot4_tiled(typingctx, tile, xs, stride, nblk):
    return types.UniTuple(types.int64, 8)(tile, xs, stride, nblk), _dot4_tiled_codegen


@njit(parallel=True, cache=True)
def _int8_vnni4t_kernel(tiles, scales, x):
    """As _int8_vnni_kernel, on PackedInt8.tiles; x (K,) with K <= the tiles' padded K."""
    q, sh, sl, ok = quantize_x_two_levels(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    nb, kb = tiles.shape[0], tiles.shape[1]
    kp = kb * TILE_K
    xs = np.zeros((2, kp), dtype=np.int8)  # codes past K are zero: the padded weights add nothing
    xs[:, : x.size] = q
    corr_h, corr_l = _offset_sums(xs, kp, 128)
    flat = xs.reshape(-1)
    flat_tiles = tiles.reshape(nb, kb * TILE_ROWS * TILE_K)
    N = scales.size
    y = np.empty(N, dtype=np.float32)
    for blk in prange(nb):
        r = TILE_ROWS * blk
        d = _dot4_tiled(flat_tiles[blk], flat, kp, kb)
        for i in range(min(TILE_ROWS, N - r)):
            y[r + i] = scales[r + i] * (sh * np.float32(d[2 * i] - corr_h) + sl * np.float32(d[2 * i + 1] - corr_l))
    return y, True


def int8_gemv_vnni4t(wq: np.ndarray | PackedInt8, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv_vnni on weights packed by pack_int8_tiles (a 2-D int8 array is packed on the call: slow, for
    tests); same error bound as vnni."""
    return _tiled_gemv("vnni4t", _int8_vnni4t_kernel, wq, scales, x)


def _dot4_tiled16_codegen(context, builder, signature, args):
    """(tile_row int8, x16 (Kp,) int16, start, nblk) -> 4 int64 sums over tile blocks start .. start + nblk."""
    tile = context.make_array(signature.args[0])(context, builder, args[0]).data
    xp = context.make_array(signature.args[1])(context, builder, args[1]).data
    start, nblk = args[2], args[3]
    i16 = ir.IntType(16)
    vw, vx, vacc = ir.VectorType(_I8, 16), ir.VectorType(i16, 16), ir.VectorType(_I32, 8)
    v8i64 = ir.VectorType(_I64, 8)
    mod = builder.module
    mwd = cgutils.get_or_insert_function(mod, ir.FunctionType(vacc, [vx, vx]), "llvm.x86.avx2.pmadd.wd")
    red = cgutils.get_or_insert_function(mod, ir.FunctionType(_I64, [v8i64]), "llvm.vector.reduce.add.v8i64")
    accs = [cgutils.alloca_once_value(builder, ir.Constant(vacc, None)) for _ in range(TILE_ROWS)]
    ahead = _prefetch_bytes("madd16t")
    with cgutils.for_range(builder, nblk) as loop:
        blk = builder.add(loop.index, start)
        base = builder.mul(blk, ir.Constant(_I64, TILE_ROWS * TILE_K))
        xbase = builder.mul(blk, ir.Constant(_I64, TILE_K))
        for sub in range(TILE_K // 16):
            xv = builder.load(builder.bitcast(builder.gep(xp, [builder.add(xbase, ir.Constant(_I64, 16 * sub))],
                                                          source_etype=i16), vx.as_pointer()), align=2)
            for r in range(TILE_ROWS):
                at = builder.gep(tile, [builder.add(base, ir.Constant(_I64, TILE_K * r + 16 * sub))], source_etype=_I8)
                if sub == 0 and r % 2 == 0:  # one prefetch per 128 bytes of the sequential stream
                    _emit_prefetch(builder, at, ahead)
                w = builder.load(builder.bitcast(at, vw.as_pointer()), align=1)
                builder.store(builder.add(builder.load(accs[r]), builder.call(mwd, [builder.sext(w, vx), xv])), accs[r])
    outs = [builder.call(red, [builder.sext(builder.load(a), v8i64)]) for a in accs]
    return context.make_tuple(builder, signature.return_type, outs)


@intrinsic
def _dot4_tiled16(typingctx, tile, x16, start, nblk):
    return types.UniTuple(types.int64, 4)(tile, x16, start, nblk), _dot4_tiled16_codegen


MADD16T_BLOCKS = MADD16_STEPS * MADD16_BLOCK // TILE_K  # tile blocks per int32 chunk: 2 * 128 products per lane


@njit(parallel=True, cache=True)
def _int8_madd16t_kernel(tiles, scales, x):
    """As _int8_madd16_kernel, on PackedInt8.tiles."""
    q, sx, ok = quantize_x_int16(x)
    if not ok:
        return np.empty(0, dtype=np.float32), False
    nb, kb = tiles.shape[0], tiles.shape[1]
    xs = np.zeros(kb * TILE_K, dtype=np.int16)
    xs[: x.size] = q
    flat_tiles = tiles.reshape(nb, kb * TILE_ROWS * TILE_K)
    N = scales.size
    y = np.empty(N, dtype=np.float32)
    for blk in prange(nb):
        r = TILE_ROWS * blk
        a0 = np.int64(0)
        a1 = np.int64(0)
        a2 = np.int64(0)
        a3 = np.int64(0)
        for c0 in range(0, kb, MADD16T_BLOCKS):
            d = _dot4_tiled16(flat_tiles[blk], xs, c0, min(MADD16T_BLOCKS, kb - c0))
            a0 += d[0]
            a1 += d[1]
            a2 += d[2]
            a3 += d[3]
        acc = (a0, a1, a2, a3)
        for i in range(min(TILE_ROWS, N - r)):
            y[r + i] = scales[r + i] * (sx * np.float32(acc[i]))
    return y, True


def int8_gemv_madd16t(wq: np.ndarray | PackedInt8, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv_madd16 on weights packed by pack_int8_tiles (as int8_gemv_vnni4t); same error bound as madd16."""
    return _tiled_gemv("madd16t", _int8_madd16t_kernel, wq, scales, x)


def _tiled_gemv(kind: str, kernel, wq, scales, x) -> np.ndarray:
    _require(kind, INT8_NEEDS[kind], "int8")
    packed = wq if isinstance(wq, PackedInt8) else pack_int8_tiles(wq)
    N, K = packed.shape
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.shape != (K,) or np.shape(scales) != (N,):
        raise ValueError(f"x {x.shape} and scales {np.shape(scales)} do not fit weights of shape {(N, K)}")
    with numba.parallel_chunksize(_chunk(N)):
        y, ok = kernel(packed.tiles, np.ascontiguousarray(scales, dtype=np.float32), x)
    return y if ok else int8_gemv_fma4(packed.unpack(), scales, x)


def _int8_dot_gemv(kind: str, kernel, wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    _require(kind, INT8_NEEDS[kind], "int8")
    if wq_t.dtype != np.int8 or wq_t.ndim != 2:
        raise TypeError(f"wq_t must be a 2-D int8 array, not {wq_t.ndim}-D {wq_t.dtype}")
    wq_t = np.ascontiguousarray(wq_t)  # the intrinsic reads each row as contiguous bytes (no copy when it is)
    with numba.parallel_chunksize(_chunk(wq_t.shape[0])):
        y, ok = kernel(wq_t, scales, np.ascontiguousarray(x, dtype=np.float32))
    # NaN, inf, all zeros or a tiny max|x|: the fp32 kernel computes exactly what it is given
    return y if ok else int8_gemv_fma4(wq_t, scales, x)


def _chunk(n_rows: int) -> int:
    """Blocks of four rows per chunk for PARALLEL_CHUNKS chunks a call."""
    return max(1, -(-((n_rows + 3) // 4) // PARALLEL_CHUNKS))


def int8_gemv_fma4(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv (fp32 FMA, x as given), its threads taking PARALLEL_CHUNKS chunks of rows a call."""
    with numba.parallel_chunksize(_chunk(wq_t.shape[0])):
        return int8_gemv(wq_t, scales, x)


def int8_gemv_vnni(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv with vpdpbusd (AVX-512 VNNI) on x in two int8 levels; error bound in the notes above."""
    return _int8_dot_gemv("vnni", _int8_vnni_kernel, wq_t, scales, x)


def int8_gemv_vnni1(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv_vnni on x's first level only (|error of x| <= max|x| / 254, as fbgemm's): a diagnostic."""
    return _int8_dot_gemv("vnni1", _int8_vnni1_kernel, wq_t, scales, x)


def int8_gemv_madd16(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv with vpmovsxbw and vpmaddwd (AVX2) on x in one int16 level; error bound: INT8_GRID["madd16"]."""
    return _int8_dot_gemv("madd16", _int8_madd16_kernel, wq_t, scales, x)


def int8_gemv_maddubs(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """int8_gemv with vpabsb, vpsignb, vpmaddubsw, vpmaddwd (AVX2) on x in two int8 levels; same error bound."""
    return _int8_dot_gemv("maddubs", _int8_maddubs_kernel, wq_t, scales, x)


# --- dispatch on CPU features -------------------------------------------------------------------------------


def numba_code_kind() -> str:
    """The kind of code Numba generates in this process: the machine's kind (llmcourse.env.cpu_kind), unless
    NUMBA_CPU_FEATURES overrides the features (then "avx512" if it enables avx512f, "avx2" if avx2 and fma)."""
    feats = os.environ.get("NUMBA_CPU_FEATURES")
    if not feats:
        return env.cpu_kind(env.cpu_flags())
    on = {f[1:] for f in feats.split(",") if f.startswith("+")}
    return env.cpu_kind({"avx512f", "avx512bw"} & on | {"avx2", "fma"} & on)


def numba_code_features() -> set[str]:
    """LLVM's names of the CPU features Numba compiles for in this process ("avx2", "avx512vnni", ...): the host's,
    or those NUMBA_CPU_FEATURES turns on. Empty when NUMBA_CPU_NAME is set with empty features (unknown here)."""
    return set(_code_features(os.environ.get("NUMBA_CPU_FEATURES")))


@functools.lru_cache(maxsize=8)
def _code_features(feats: str | None) -> frozenset[str]:
    if feats is None:  # asking LLVM takes about 0.1 ms: a quarter of a cold 4096 x 4096 GEMV, so once per setting
        import llvmlite.binding as ll

        return frozenset(name for name, on in ll.get_host_cpu_features().items() if on)
    return frozenset(f[1:] for f in feats.split(",") if f.startswith("+"))


def int8_kernel_name(kind: str | None = None) -> str:
    """The int8 kernel for a kind of CPU (one of INT8_NAMES), falling back to fma4 where the code target lacks the
    chosen kernel's instructions (e.g. an avx512 machine without VNNI); LLMCOURSE_INT8_KERNEL overrides it."""
    forced = os.environ.get(INT8_ENV, "").strip().lower()
    if forced:
        if forced not in INT8_NAMES:
            raise ValueError(f"{INT8_ENV}={forced!r}: use one of {', '.join(INT8_NAMES)}")
        return forced
    name = INT8_KERNELS.get(kind or numba_code_kind(), "fma4")
    return name if INT8_NEEDS[name] <= numba_code_features() else "fma4"


def int8_packer(name: str):
    """The function that lays out wq_t (N, K) int8 for kernel `name` once, before its calls (identity for the
    row-major kernels; pack_int8_tiles for vnni4t and madd16t)."""
    return pack_int8_tiles if name in ("vnni4t", "madd16t") else (lambda wq_t: wq_t)


def int8_kernels_available() -> tuple[str, ...]:
    """The int8 kernels whose instructions the code target has (fma4 always)."""
    have = numba_code_features()
    return tuple(n for n in INT8_NAMES if INT8_NEEDS[n] <= have)


def int8_kernel(name: str | None = None):
    """(name, gemv(wq_t, scales, x)) of an int8 kernel; default: the one dispatched for this CPU."""
    name = name or int8_kernel_name()
    gemvs = {"fma4": int8_gemv_fma4, "vnni": int8_gemv_vnni, "maddubs": int8_gemv_maddubs, "vnni1": int8_gemv_vnni1,
             "madd16": int8_gemv_madd16, "vnni4t": int8_gemv_vnni4t, "madd16t": int8_gemv_madd16t}
    if name not in gemvs:
        raise ValueError(f"unknown int8 kernel {name!r}")
    return name, gemvs[name]


def int4_kernel_name(kind: str | None = None) -> str:
    """The int4 kernel for a kind of CPU (one of INT4_NAMES); LLMCOURSE_INT4_KERNEL overrides it."""
    forced = os.environ.get(INT4_ENV, "").strip().lower()
    if forced:
        if forced not in INT4_NAMES:
            raise ValueError(f"{INT4_ENV}={forced!r}: use one of {', '.join(INT4_NAMES)}")
        return forced
    name = INT4_KERNELS.get(kind or numba_code_kind(), "floor")
    return name if INT4_NEEDS[name] <= numba_code_features() else "floor4"


def int4_kernels_available() -> tuple[str, ...]:
    """The int4 kernels whose instructions the code target has."""
    have = numba_code_features()
    return tuple(n for n in INT4_NAMES if INT4_NEEDS[n] <= have)


def int4_kernel(name: str | None = None):
    """(name, pack(q, group), gemv(packed, scales, x, group)) of an int4 kernel; default: the dispatched one."""
    name = name or int4_kernel_name()
    if name == "floor":
        return name, pack_int4, int4_gemv
    if name == "floor4":
        return name, pack_int4, int4_gemv_rows4
    if name == "words":
        return name, pack_int4_words, int4_gemv_words
    if name == "nib16":
        return name, pack_int4, int4_gemv_nib16
    raise ValueError(f"unknown int4 kernel {name!r}")


# LLVM features of an Intel Haswell (AVX2 + FMA, 2013), the oldest AVX2 core: every other host feature is turned off.
_HASWELL = {"64bit", "avx", "avx2", "bmi", "bmi2", "cmov", "crc32", "cx16", "cx8", "f16c", "fma", "fsgsbase", "fxsr",
            "invpcid", "lzcnt", "mmx", "movbe", "pclmul", "popcnt", "rdrnd", "sahf", "sse", "sse2", "sse3", "sse4.1",
            "sse4.2", "ssse3", "xsave", "xsaveopt"}
CPU_TARGETS = ("haswell", "znver3")  # code targets that cpu_target_env can emulate (both AVX2 + FMA, no AVX-512)


def cpu_target_env(target: str) -> dict[str, str]:
    """NUMBA_CPU_NAME and NUMBA_CPU_FEATURES that make Numba emit code for `target` (one of CPU_TARGETS) here:
    instructions and scheduling of that CPU, run on this machine's cores and memory."""
    if target == "znver3":
        return avx2_numba_env()
    if target != "haswell":
        raise ValueError(f"unknown CPU target {target!r}: use one of {', '.join(CPU_TARGETS)}")
    import llvmlite.binding as ll

    names = sorted(ll.get_host_cpu_features())
    return {"NUMBA_CPU_NAME": "haswell",
            "NUMBA_CPU_FEATURES": ",".join(("+" if n in _HASWELL else "-") + n for n in names)}


def avx2_numba_env() -> dict[str, str]:
    """NUMBA_CPU_NAME and NUMBA_CPU_FEATURES that make Numba emit Zen 3 (AVX2 + FMA) code on this machine.

        NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES=... python -m benchmarks quant   # AVX2 instructions, this memory
    """
    import llvmlite.binding as ll

    feats = ll.get_host_cpu_features()
    flags = ",".join(("+" if on and not name.startswith(_NOT_ON_AVX2) else "-") + name for name, on in feats.items())
    return {"NUMBA_CPU_NAME": "znver3", "NUMBA_CPU_FEATURES": flags}


def compare_int4_hot(n: int = 2048, rounds: int = 15, threads: int = 1) -> str:
    """The int4 kernels on one cache-resident (n, n) matrix, interleaved; a table (arithmetic, not memory)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return _compare_int4_hot(n, rounds, threads)
    finally:
        numba.set_num_threads(before)


def _compare_int4_hot(n: int, rounds: int, threads: int) -> str:
    rng = np.random.default_rng(0)
    q = rng.integers(-8, 8, (n, n), dtype=np.int8)
    s = rng.uniform(0.01, 0.1, (n, n // 128)).astype(np.float32)
    x = rng.standard_normal(n, dtype=np.float32)
    calls = {}
    for name in INT4_NAMES:
        _, pack, gemv = int4_kernel(name)
        p = pack(q, 128)
        calls[name] = lambda gemv=gemv, p=p: gemv(p, s, x, 128)
    cmp = bench.compare(calls, rounds=rounds, number=10, prime=1, warmup=2)
    best = {k: t.best for k, t in cmp.timings.items()}
    return (f"code path {numba_code_kind()}, {threads} thread(s), {n} x {n} int4, group 128, hot cache\n"
            + cmp.table() + "\nbest times against floor: "
            + ", ".join(f"{k} {best[k] / best['floor']:.2f}" for k in INT4_NAMES if k != "floor"))


if __name__ == "__main__":
    print(compare_int4_hot())
