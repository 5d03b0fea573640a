# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Post-training quantization, in NumPy and Numba
#
# A decoder answering one request at a time reads every weight of the model once per generated token
# and does only two floating-point operations with each. Module 06 showed what follows: decoding is
# bound by memory bandwidth, so the way to make it faster is to read fewer bytes. Storing weights in
# 8 or 4 bits instead of 32 reads 4 or 8 times fewer bytes, if the arithmetic can keep up.
#
# This module builds the pieces of post-training quantization (PTQ: no retraining) from scratch:
# the floating-point formats below fp32, integer quantization with its scales and zero points, the
# granularity of the scales (per tensor, per output channel, per group), the error it causes, clipping
# ranges calibrated on a sample, and Numba kernels that multiply with int8 and packed int4 weights
# directly. Then it measures the kernels against NumPy's fp32 GEMV on this machine, quantizes the
# course GPT and reads off the perplexity and task accuracy, and ends with activation quantization
# (W8A8) and the outlier problem.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `round_to_bf16`: round-to-nearest-even on the bits | 2 |
# | 2.1 | `quantize_absmax`: symmetric int quantization, any axis | 2 |
# | 2.2 | `quantize_asymmetric` / `dequantize_asymmetric`: scale and zero point | 3 |
# | 2.3 | `quantize_groupwise`: one scale per group of input rows | 2 |
# | 2.4 | `sqnr_db`: signal-to-quantization-noise ratio | 1 |
# | 2.5 | `calibrate_clip`: clipping range by absmax, percentile or MSE search | 3 |
# | 3.1 | `int8_gemv`: Numba kernel, int8 weights, per-row scales | 3 |
# | 3.2 | `pack_int4` / `unpack_int4`: two nibbles a byte | 2 |
# | 3.3 | `int4_gemv`: Numba kernel, packed int4, group-wise scales | 3 |
# | 5.1 | `quantize_linear_weights`: W8 / W4 fake-quantized GPT | 2 |
# | 6.1 | `w8a8_linear`: dynamic per-token activation scales, int32 accumulation | 3 |
# | 6.2 | `outlier_split_linear`: LLM.int8-style mixed decomposition | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell
# under it. The visible check prints one line when your function passes a few hand-worked cases. The
# grader also runs hidden tests with other shapes and seeds, and the popular wrong answers named in
# the text.
#
# **Names.** `x` activations, `T` tokens, `K` input features, `N` output features, `w` a weight
# stored **(in_features, out_features) = (K, N)** and used as `y = x @ w` (the course layout), `q`
# integer codes, `scale`, `zero_point`, `bits`, `g` or `group_size`.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("07_quantization")

# %%
# %matplotlib inline
import warnings

import numpy as np
import torch
from numba import njit, prange

from llmcourse import bench, checks, env, plot, quiz
from llmcourse.data import TASKS, CharTokenizer, load_corpus
from llmcourse.model import from_numpy, load_numpy, perplexity, task_accuracies

np.set_printoptions(precision=4, suppress=True)
torch.set_num_threads(1)  # the tiny GPT is faster on one thread; it also keeps torch's pool out of the timings
config, params = load_numpy()
print(config)

# %% [markdown]
# ## 1. Floating point below 32 bits: fp16 and bf16
#
# A float stores a sign, an exponent and a mantissa (the fraction bits after the implicit leading 1).
# The exponent bits set the **range**, the mantissa bits set the **precision**: the gap between a
# number and the next representable one is about `2**-mantissa_bits` times the number.
#
# | format | sign | exponent | mantissa | largest finite | smallest normal | relative step |
# |---|---|---|---|---|---|---|
# | fp32 | 1 | 8 | 23 | 3.4e38 | 1.2e-38 | 1.2e-7 |
# | fp16 | 1 | 5 | 10 | 65504 | 6.1e-5 | 9.8e-4 |
# | bf16 | 1 | 8 | 7 | 3.4e38 | 1.2e-38 | 7.8e-3 |
#
# bf16 is simply the top 16 bits of an fp32: same range, far less precision. fp16 keeps 3 more
# mantissa bits but overflows at 65504, which an activation or a squared norm reaches easily, and
# flushes small gradients to zero (module 08 fixes that with loss scaling). The cell below shows both.

# %%
for name, dt in (("fp16", torch.float16), ("bf16", torch.bfloat16), ("fp32", torch.float32)):
    fi = torch.finfo(dt)
    print(f"{name}: max {fi.max:.4g}  smallest normal {fi.tiny:.3g}  eps (step at 1.0) {fi.eps:.3g}")

values = torch.tensor([70000.0, 1000.0, 1.0001, 1e-6, 1e-8, 3.14159265], dtype=torch.float32)
print("fp32 :", values.tolist())
print("fp16 :", values.to(torch.float16).float().tolist(), " <- 70000 overflows to inf, 1e-8 underflows to 0")
print("bf16 :", values.to(torch.bfloat16).float().tolist(), " <- no overflow, but 1000 -> 1000 only by luck, pi -> 3.140625")
print("fp16 spacing just above 1000:", float(np.spacing(np.float16(1000))),
      "  bf16 spacing just above 1000:", 2.0 ** (9 - 7))

# %% [markdown]
# ### 1.1 Rounding fp32 to bf16 (2 points)
#
# Converting fp32 to bf16 keeps the top 16 bits of each number, but it must **round**, not truncate:
# dropping the low 16 bits always rounds towards zero, a bias that adds up over a long sum. PyTorch
# (`.to(torch.bfloat16)`, which the tests compare with) rounds to the nearest bf16, and a tie (low 16 bits
# exactly `0x8000`) goes to the neighbour whose
# last kept bit is 0 ("round half to even").
#
# Write `round_to_bf16(x)`: take a float32 array, return a float32 array holding the nearest bf16
# values. Work on the bits: `b = x.view(np.uint32)`; adding `0x7FFF` plus the last kept bit
# `(b >> 16) & 1` and then clearing the low 16 bits does round-half-to-even in one step (an overflow
# carries into the exponent, which is exactly right). Infinities must stay infinities, and a NaN must
# stay a NaN: the same carry would turn a NaN whose payload sits in the low bits into an infinity
# (`0x7F800001 -> 0x7F800000`) or wrap `0xFFFFFFFF` round to zero, so treat NaNs apart (for example keep
# their top 16 bits with the quiet bit `0x00400000` set). A popular wrong answer is `b & 0xFFFF0000`
# alone (truncation); another adds `0x8000`, which rounds ties away from zero.

# %% nbgrader={"grade": false, "grade_id": "round_to_bf16", "locked": false, "solution": true, "schema_version": 3}
def round_to_bf16(x: np.ndarray) -> np.ndarray:
    """float32 array (any shape) -> float32 array of the same shape holding the nearest bf16 values (ties to even).

    NaN stays NaN."""
    ### BEGIN SOLUTION
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounded = (b + (np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1)))) & np.uint32(0xFFFF0000)
    quiet_nan = (b | np.uint32(0x00400000)) & np.uint32(0xFFFF0000)
    return np.where(np.isnan(b.view(np.float32)), quiet_nan, rounded).view(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "round_to_bf16_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.round_to_bf16(round_to_bf16)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(71)
_x = (_rng.standard_normal((7, 33)) * np.exp(_rng.uniform(-20, 20, (7, 33)))).astype(np.float32)
_ref = torch.from_numpy(_x).to(torch.bfloat16).float().numpy()
_got = round_to_bf16(_x.copy())
assert isinstance(_got, np.ndarray) and _got.shape == _x.shape and _got.dtype == np.float32, "shape/dtype"
assert np.array_equal(_got, _ref), "random values differ from torch's bf16 rounding"
# ties: low 16 bits exactly 0x8000, with the kept part even and odd
_bits = np.array([0x3F808000, 0x3F818000, 0xBF808000, 0xBF818000, 0x40490FDB, 0x7F7FFFFF, 0x7F800000],
                 dtype=np.uint32)
_t = _bits.view(np.float32)
_ref_t = torch.from_numpy(_t.copy()).to(torch.bfloat16).float().numpy()
assert np.array_equal(round_to_bf16(_t.copy()), _ref_t), "ties to even / overflow to inf"
# tiny values, float32 subnormals (bf16 keeps fewer mantissa bits there) and signed zeros, bit for bit
_t = np.array([1e-30, -3e-35, 1e-40, -2.5e-39, 1.1754944e-38, 1.0000001e-38, 5e-45, -0.0, 0.0], dtype=np.float32)
_ref_t = torch.from_numpy(_t.copy()).to(torch.bfloat16).float().numpy()
_got = np.asarray(round_to_bf16(_t.copy()), dtype=np.float32)
assert np.array_equal(_got.view(np.uint32), _ref_t.view(np.uint32)), (
    f"tiny and subnormal values: expected {_ref_t}, got {_got} (round the bits; frexp keeps too many bits)")
### END HIDDEN TESTS

# %% [markdown]
# Round-to-nearest is unbiased *on average over many values*: each value lands somewhere in its bf16
# interval, and up-roundings cancel down-roundings. Sum 100 000 values spread over 0.5 to 1000 (more than a
# thousand bf16 intervals), once rounded and once truncated, and compare with the exact sum. Then sum
# 100 000 copies of one value, 1/3: every copy rounds the same way (bf16(1/3) = 0.333984 > 1/3), so
# rounding is biased there too.

# %%
rng = np.random.default_rng(0)
for what, v in (("spread values", rng.uniform(0.5, 1000.0, 100_000).astype(np.float32)),
                ("copies of 1/3", np.full(100_000, 1.0 / 3.0, dtype=np.float32))):
    exact = v.astype(np.float64).sum()
    v_trunc = (v.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    err_round = (round_to_bf16(v).astype(np.float64).sum() - exact) / exact
    err_trunc = (v_trunc.astype(np.float64).sum() - exact) / exact
    print(f"{what:14s} exact sum {exact:14,.1f}   error of the sum: rounded to bf16 {err_round:+.4%}, "
          f"truncated {err_trunc:+.4%}")
    if what == "spread values":
        bf16_err_spread, trunc_err_spread = err_round, err_trunc
    else:
        bf16_err_third = err_round

# %% [markdown]
# Over the spread values, rounding's error of the sum is 0.001<!--= 100 * bf16_err_spread --> %, truncation's
# -0.26<!--= 100 * trunc_err_spread --> % (half a bf16 step per value on average, always towards zero). For the
# copies of 1/3 the rounded sum is off by +0.20<!--= 100 * bf16_err_third --> %: round-to-nearest is unbiased
# only when the values do not all sit at the same spot of their interval.

# %% [markdown]
# ## 2. Integer quantization
#
# An integer code `q` with `bits` bits stands for the real number `scale * (q - zero_point)`.
#
# * **Symmetric (absmax):** `zero_point = 0`, `scale = absmax / qmax` with `qmax = 2**(bits-1) - 1`
#   (127 for int8), and `q = clip(round(w / scale), -qmax, qmax)`. The code `-128` is left unused so
#   that the grid is symmetric. Weights are roughly symmetric around 0, so this is the usual choice
#   for them.
# * **Asymmetric (affine):** the codes `0 .. 2**bits - 1` cover a range `[lo, hi]` that need not be
#   centred; the integer `zero_point` is the code of the real number 0. Used for activations after a
#   ReLU or GELU, which are lopsided.
#
# Three traps: `astype(np.int8)` **truncates** towards zero (`2.9 -> 2`), so round first; a scale of
# `absmax / 128` lets `+absmax` round to 128, which wraps to `-128` in int8; and a scale computed over
# the wrong axis.
#
# **Granularity.** One scale for the whole tensor is cheap but lets one large weight stretch the grid
# for everybody. One scale per output channel costs `N` floats and adapts to each output's range. One
# scale per *group* of `g` consecutive input weights of each output (g = 32, 64, 128) is what 4-bit
# formats use (llama.cpp's Q4_0 has groups of 32; GPTQ checkpoints commonly use 128). In the course
# layout `w` is `(K, N)`: an output channel
# is a **column**, so per-channel scales reduce over axis 0 and have shape `(1, N)`.

# %% [markdown]
# ### 2.1 Symmetric absmax quantization (2 points)
#
# Write `quantize_absmax(w, bits=8, axis=None)` returning `(q, scale)`:
# `scale = max(|w|, axis=axis, keepdims=True) / qmax` as float32 (so `axis=None` gives one scale of
# shape `(1, 1)` for a matrix, `axis=0` one per column), `q` as `np.int8` (bits ≤ 8). A slice that is
# all zero must not divide by zero: give it scale `1.0` (its codes are 0 anyway). Dequantizing is then
# `q * scale`.

# %% nbgrader={"grade": false, "grade_id": "quantize_absmax", "locked": false, "solution": true, "schema_version": 3}
def quantize_absmax(w: np.ndarray, bits: int = 8, axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantization of w; scales from max|w| over `axis` (None = whole tensor), keepdims.

    Returns q (same shape as w, int8, values in [-qmax, qmax]) and scale (float32, keepdims shape).
    """
    ### BEGIN SOLUTION
    qmax = 2 ** (bits - 1) - 1
    absmax = np.max(np.abs(w), axis=axis, keepdims=True).astype(np.float32)
    scale = np.where(absmax > 0, absmax / qmax, np.float32(1.0)).astype(np.float32)
    q = np.clip(np.round(w / scale), -qmax, qmax).astype(np.int8)
    return q, scale
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quantize_absmax_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.quantize_absmax(quantize_absmax)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_absmax(w, bits, axis):
    qmax = 2 ** (bits - 1) - 1
    a = np.max(np.abs(w.astype(np.float64)), axis=axis, keepdims=True)
    s = np.where(a > 0, a / qmax, 1.0)
    return np.clip(np.round(w / s), -qmax, qmax), s


_rng = np.random.default_rng(72)
for _shape, _bits, _axis in (((24, 10), 8, 0), ((24, 10), 8, 1), ((9, 31), 4, None), ((5, 6, 7), 8, -1),
                             ((40, 16), 3, 0)):
    _w = (_rng.standard_normal(_shape) * _rng.uniform(0.1, 3, _shape[-1])).astype(np.float32)
    with _warnings.catch_warnings():
        _warnings.simplefilter("error", RuntimeWarning)
        _q, _s = quantize_absmax(_w.copy(), bits=_bits, axis=_axis)
    _rq, _rs = _ref_absmax(_w, _bits, _axis)
    assert np.asarray(_q).dtype == np.int8, f"q must be int8, got {np.asarray(_q).dtype}"
    assert np.shape(_s) == _rs.shape, f"scale shape {np.shape(_s)} != {_rs.shape} for axis={_axis}"
    assert np.allclose(_s, _rs, rtol=1e-6), f"scales wrong for shape {_shape}, axis={_axis}"
    assert np.mean(_q != _rq) < 0.002 and np.abs(_q - _rq).max() <= 1, f"codes wrong for {_shape}, bits={_bits}"
    assert np.abs(_q).max() <= 2 ** (_bits - 1) - 1, "codes outside [-qmax, qmax]"
# the largest weight must map to +qmax (not wrap), a zero column must not produce NaN or warnings
_w = np.array([[3.0, 0.0], [-1.0, 0.0], [2.9, 0.0]], dtype=np.float32)
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    _q, _s = quantize_absmax(_w, bits=8, axis=0)
assert np.array_equal(_q, np.array([[127, 0], [-42, 0], [123, 0]])), f"got {_q}"
assert np.all(np.isfinite(_s)) and np.all(np.asarray(_s) > 0), "zero column needs a finite positive scale"
# the largest magnitude negative: -qmax, not a clipped or halved code
_q, _s = quantize_absmax(np.array([[-4.0, 1.0, 2.5, -1.0]], dtype=np.float32), bits=4, axis=1)
assert np.array_equal(_q, [[-7, 2, 4, -2]]) and np.allclose(_s, 4 / 7), f"absmax is max|w| (here -4): {_q}, {_s}"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 Asymmetric quantization with a zero point (3 points)
#
# Write `quantize_asymmetric(w, bits=8, lo=None, hi=None)` returning `(q, scale, zero_point)` and its
# inverse `dequantize_asymmetric(q, scale, zero_point)`. The calibrated range `[lo, hi]` defaults to
# `[w.min(), w.max()]`; first widen it to contain 0 (`lo = min(lo, 0)`, `hi = max(hi, 0)`) so that 0 is
# exactly representable (zero padding and post-ReLU zeros stay exact). Then, with `qmax = 2**bits - 1`:
#
# * `scale = (hi - lo) / qmax` (use `1.0` if `hi == lo`), a Python float or float32;
# * `zero_point = round(-lo / scale)`, an **integer** (a Python `int` or NumPy integer) in `[0, qmax]`;
# * `q = clip(round(w / scale) + zero_point, 0, qmax)` as `np.uint8`. When `[lo, hi]` comes from
#   calibration, values outside it saturate here instead of wrapping.
#
# Dequantize as `(q - zero_point) * scale` in float32. The trap: `q - zero_point` on `uint8` arrays
# wraps around (`3 - 5 = 254`); convert first.

# %% nbgrader={"grade": false, "grade_id": "quantize_asymmetric", "locked": false, "solution": true, "schema_version": 3}
def quantize_asymmetric(w: np.ndarray, bits: int = 8, lo: float | None = None,
                        hi: float | None = None) -> tuple[np.ndarray, float, int]:
    """Affine quantization over the range [lo, hi] widened to contain 0: (q uint8 like w, scale, zero_point int)."""
    ### BEGIN SOLUTION
    qmax = 2**bits - 1
    lo = min(float(np.min(w)) if lo is None else float(lo), 0.0)
    hi = max(float(np.max(w)) if hi is None else float(hi), 0.0)
    scale = (hi - lo) / qmax if hi > lo else 1.0
    zero_point = int(np.clip(round(-lo / scale), 0, qmax))
    q = np.clip(np.round(w / scale) + zero_point, 0, qmax).astype(np.uint8)
    return q, scale, zero_point
    ### END SOLUTION


def dequantize_asymmetric(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer codes q -> float32 array (q - zero_point) * scale, same shape."""
    ### BEGIN SOLUTION
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quantize_asymmetric_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.quantization.quantize_asymmetric(quantize_asymmetric, dequantize_asymmetric)
### BEGIN HIDDEN TESTS
def _ref_asym(w, bits, lo=None, hi=None):
    qmax = 2**bits - 1
    lo = min(float(w.min()) if lo is None else lo, 0.0)
    hi = max(float(w.max()) if hi is None else hi, 0.0)
    s = (hi - lo) / qmax if hi > lo else 1.0
    z = int(np.clip(np.round(-lo / s), 0, qmax))
    return np.clip(np.round(w.astype(np.float64) / s) + z, 0, qmax), s, z


_rng = np.random.default_rng(73)
for _w, _bits, _lo, _hi in ((_rng.standard_normal((6, 50)).astype(np.float32) + 1.5, 8, None, None),
                            (np.abs(_rng.standard_normal(300)).astype(np.float32) + 0.5, 8, None, None),
                            (_rng.standard_normal((20, 7)).astype(np.float32) * 3, 4, None, None),
                            (_rng.standard_normal(400).astype(np.float32), 8, -1.5, 2.0)):
    _q, _s, _z = quantize_asymmetric(_w.copy(), _bits, _lo, _hi)
    _rq, _rs, _rz = _ref_asym(_w, _bits, _lo, _hi)
    assert np.asarray(_q).dtype == np.uint8 and np.shape(_q) == _w.shape, "q must be uint8, shape of w"
    assert isinstance(_z, (int, np.integer)), f"zero_point must be an integer, got {type(_z).__name__}"
    assert _z == _rz, f"zero_point {_z} != {_rz}"
    assert np.isclose(float(_s), _rs, rtol=1e-6), f"scale {_s} != {_rs}"
    assert np.mean(_q != _rq) < 0.005 and np.abs(_q.astype(int) - _rq).max() <= 1, "codes wrong"
    _d = dequantize_asymmetric(_q, _s, _z)
    assert np.asarray(_d).dtype == np.float32, "dequantize must return float32"
    assert np.allclose(_d, (_q.astype(np.float64) - _z) * _rs, rtol=1e-5, atol=1e-6), "dequantize wrong (uint8 wrap?)"
    _inside = (_w >= min(_lo if _lo is not None else _w.min(), 0)) & (_w <= max(_hi if _hi is not None else _w.max(), 0))
    assert np.abs(_d - _w)[_inside].max() <= 0.5001 * _rs + 1e-6, "round-trip error above half a step"
# a range that does not reach zero is widened: 0 must come back exactly
_w = np.array([2.0, 3.0, 5.0, 0.0], dtype=np.float32)
_q, _s, _z = quantize_asymmetric(_w)
assert _z == 0 and dequantize_asymmetric(_q, _s, _z)[3] == 0.0, "0 must be exact"
_w = np.array([-5.0, -3.0, -2.0], dtype=np.float32)
_q, _s, _z = quantize_asymmetric(_w)
assert _z == 255 and np.allclose(dequantize_asymmetric(_q, _s, _z), _w, atol=0.5 * 5 / 255 + 1e-6)
# an all-zero tensor: hi == lo == 0, so scale 1.0 (as the text says), zero_point 0, codes 0, no warning
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    _q, _s, _z = quantize_asymmetric(np.zeros((3, 4), dtype=np.float32), 4)
    _d = dequantize_asymmetric(_q, _s, _z)
assert float(_s) == 1.0 and _z == 0 and np.all(np.asarray(_q) == 0), f"all zeros: got scale {_s}, zero_point {_z}"
assert np.all(np.asarray(_d) == 0), "all zeros must come back as zeros"
### END HIDDEN TESTS

# %% [markdown]
# ### 2.3 Group-wise scales (2 points)
#
# Write `quantize_groupwise(w, group_size, bits=4)` for `w` of shape `(K, N)`: each column (output
# channel) is cut into `K // group_size` groups of `group_size` **consecutive** rows, and each group gets
# its own absmax scale. Return `q` (int8, shape `(K, N)`) and `scales` (float32, shape
# `(K // group_size, N)`); `scales[j, n]` covers rows `j*g .. (j+1)*g - 1` of column `n`. Raise
# `ValueError` when `group_size` does not divide `K`. Dequantize with
# `q * np.repeat(scales, group_size, axis=0)`.
#
# Hint: `w.reshape(K // g, g, N)` puts group `j` at index `j` of axis 0; reduce over axis 1. A popular
# wrong answer is `w.reshape(g, K // g, N)`, which groups rows `j, j + K/g, j + 2K/g, ...`: it has the
# right shapes, and is wrong. An all-zero group gets scale 1.0, as before.

# %% nbgrader={"grade": false, "grade_id": "quantize_groupwise", "locked": false, "solution": true, "schema_version": 3}
def quantize_groupwise(w: np.ndarray, group_size: int, bits: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """w (K, N) -> q (K, N) int8 and scales (K // group_size, N) float32, one per group of consecutive rows."""
    ### BEGIN SOLUTION
    K, N = w.shape
    if K % group_size:
        raise ValueError(f"group_size={group_size} does not divide K={K}")
    wg = w.reshape(K // group_size, group_size, N)  # (n_groups, g, N)
    q, scale = quantize_absmax(wg, bits=bits, axis=1)  # q (n_groups, g, N), scale (n_groups, 1, N)
    return q.reshape(K, N), scale[:, 0, :]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quantize_groupwise_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.quantize_groupwise(quantize_groupwise)
### BEGIN HIDDEN TESTS
def _ref_group(w, g, bits):
    K, N = w.shape
    qmax = 2 ** (bits - 1) - 1
    out_q, out_s = np.zeros((K, N)), np.zeros((K // g, N))
    for j in range(K // g):
        blk = w[j * g:(j + 1) * g].astype(np.float64)
        a = np.abs(blk).max(axis=0)
        s = np.where(a > 0, a / qmax, 1.0)
        out_s[j] = s
        out_q[j * g:(j + 1) * g] = np.clip(np.round(blk / s), -qmax, qmax)
    return out_q, out_s


_rng = np.random.default_rng(74)
for _K, _N, _g, _bits in ((48, 5, 16, 4), (64, 3, 32, 4), (24, 7, 8, 8), (30, 4, 30, 4)):
    _w = (_rng.standard_normal((_K, _N)) * np.exp(_rng.uniform(-2, 2, (_K, 1)))).astype(np.float32)
    _q, _s = quantize_groupwise(_w.copy(), _g, _bits)
    _rq, _rs = _ref_group(_w, _g, _bits)
    assert np.asarray(_q).dtype == np.int8 and _q.shape == (_K, _N), "q must be int8 (K, N)"
    assert np.shape(_s) == (_K // _g, _N), f"scales shape {np.shape(_s)} != {(_K // _g, _N)}"
    assert np.allclose(_s, _rs, rtol=1e-6), f"group scales wrong for K={_K}, g={_g} (group boundaries?)"
    assert np.mean(_q != _rq) < 0.005 and np.abs(_q - _rq).max() <= 1, "codes wrong"
# an all-zero group (one column of one group) and an all-negative group: no NaN, no warning
_w = (_rng.standard_normal((24, 3))).astype(np.float32)
_w[8:16, 1] = 0.0
_w[16:24, 2] = -np.abs(_w[16:24, 2]) - 0.5
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    _q, _s = quantize_groupwise(_w.copy(), 8, 4)
_rq, _rs = _ref_group(_w, 8, 4)
assert np.allclose(_s, _rs, rtol=1e-6) and np.array_equal(np.asarray(_q), _rq), (
    "a group of zeros gets scale 1 and codes 0; an all-negative group maps its largest magnitude to -qmax")
try:
    quantize_groupwise(np.ones((40, 2), dtype=np.float32), 16)
    raise AssertionError("group_size=16 with K=40 must raise ValueError")
except ValueError:
    pass
### END HIDDEN TESTS

# %% [markdown]
# ### 2.4 Measuring the error: SQNR (1 point)
#
# The mean squared error `mean((x - x_hat)**2)` depends on the scale of `x`. The
# **signal-to-quantization-noise ratio** does not: `SQNR = 10 * log10(sum(x**2) / sum((x - x_hat)**2))`
# in decibels. Each extra bit halves the step, quarters the noise power, and adds about 6.02 dB<!--const: 10 log10(4), a definition-->.
# Write `sqnr_db(x, x_hat)` returning a Python float; return `float("inf")` when the error is exactly
# zero (without a warning). A popular wrong answer uses `20 * log10` of the power ratio (that factor
# is for amplitude ratios).

# %% nbgrader={"grade": false, "grade_id": "sqnr_db", "locked": false, "solution": true, "schema_version": 3}
def sqnr_db(x: np.ndarray, x_hat: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB of an approximation x_hat of x (same shape); inf if exact."""
    ### BEGIN SOLUTION
    x = np.asarray(x, dtype=np.float64)
    noise = np.sum((x - np.asarray(x_hat, dtype=np.float64)) ** 2)
    if noise == 0:
        return float("inf")
    return float(10 * np.log10(np.sum(x**2) / noise))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sqnr_db_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.quantization.sqnr_db(sqnr_db)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(75)
_x = _rng.standard_normal((13, 17))
_n = _rng.standard_normal((13, 17)) * 0.03
_ref = 10 * np.log10((_x**2).sum() / (_n**2).sum())
_got = sqnr_db(_x, _x + _n)
assert isinstance(_got, (float, np.floating)) and abs(_got - _ref) < 1e-6, f"{_got} != {_ref}"
assert abs(sqnr_db(7 * _x, 7 * (_x + _n)) - _ref) < 1e-6, "SQNR must not depend on the scale of x"
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    assert sqnr_db(_x, _x.copy()) == float("inf")
### END HIDDEN TESTS

# %% [markdown]
# ### Error against bits and granularity
#
# Take a real weight matrix from the course GPT (the MLP's first layer, `(128, 512)`) and measure the
# SQNR of its round trip for 2 to 8 bits, per tensor, per output channel and with groups of 32. Then
# fix 4 bits and vary the group size.

# %%
w = params["blocks.1.mlp.w_in"]  # (C, d_ff) = (128, 512)
bit_range = list(range(2, 9))
curves = {"per tensor": [], "per output channel": [], "groups of 32": []}
for b in bit_range:
    q, s = quantize_absmax(w, b, axis=None)
    curves["per tensor"].append(sqnr_db(w, q * s))
    q, s = quantize_absmax(w, b, axis=0)  # s (1, 512): one scale per column
    curves["per output channel"].append(sqnr_db(w, q * s))
    q, s = quantize_groupwise(w, 32, b)  # s (4, 512)
    curves["groups of 32"].append(sqnr_db(w, q * np.repeat(s, 32, axis=0)))
group_sizes = [4, 8, 16, 32, 64, 128]
group_curve = []
for g in group_sizes:
    q, s = quantize_groupwise(w, g, 4)
    group_curve.append(sqnr_db(w, q * np.repeat(s, g, axis=0)))
fig = plot.quant_error_curves(bit_range, curves, group_sizes, group_curve)
print({k: [round(v, 1) for v in vals] for k, vals in curves.items()})
print("slope per bit (per channel, 4 -> 8 bits):",
      round((curves["per output channel"][6] - curves["per output channel"][2]) / 4, 2), "dB")

# %% [markdown]
# The lines are straight with a slope close to
# 6<!--= (curves["per output channel"][6] - curves["per output channel"][2]) / 4 ~10% --> dB per bit, and finer granularity shifts the whole
# line up: smaller groups see a smaller absmax, hence a finer grid. The price is storage: a float16
# scale per group of 32 adds `16 / 32 = 0.5` bit per weight, which is why 4-bit formats settle on
# groups of 64 or 128.

# %% [markdown]
# ### 2.5 Clipping and calibration (3 points)
#
# Absmax lets the single largest value set the step for everybody. Activations are heavy-tailed, and a
# rare value forty times the typical size makes the grid forty times coarser for all the others: at
# 4 bits (codes -7..7) nearly every ordinary value then lands on code 0. **Clipping** picks a range
# `c` smaller than the absmax and lets the few values beyond it saturate at `±c`: a large error on a
# handful of numbers buys a finer step, `c / qmax`, for all the rest. **Calibration** chooses `c` from a
# sample of real inputs (a few batches run through the model) before deployment, three ways:
#
# * `"absmax"`: `c = max(|x|)`, no clipping at all;
# * `"percentile"`: `c` = the `pct`-th percentile of `|x|`, so a fraction `1 - pct/100` of the sample
#   saturates whatever its values are;
# * `"mse"`: try a grid of candidate ranges and keep the one whose quantize-dequantize round trip has
#   the smallest mean squared error on the sample, saturation included.
#
# Write `calibrate_clip(calib, bits, method, pct, n_grid)`; the docstring pins down every detail, so
# that there is exactly one right answer. The search is a plain loop over `n_grid` candidates (or one
# broadcast over a `(n_grid, n)` array). Popular wrong answers: `max(x)` instead of `max(|x|)`, which
# misses a negative outlier; the percentile of `x` instead of `|x|`, which looks at one tail only;
# `pct` used as a fraction (`np.percentile` wants 99.9, `np.quantile` wants 0.999); `qmax = 2**bits - 1`
# (the asymmetric code count) or `2**(bits-1)`; an error measured **without the clamp**, under which a
# smaller range never costs anything and the search always returns its smallest candidate;
# truncating instead of rounding; and returning the scale `c / qmax` where the range is asked.

# %% nbgrader={"grade": false, "grade_id": "calibrate_clip", "locked": false, "solution": true, "schema_version": 3}
def calibrate_clip(calib: np.ndarray, bits: int, method: str = "percentile", pct: float = 99.9,
                   n_grid: int = 100) -> float:
    """Clipping range c > 0 for symmetric `bits`-bit quantization, chosen on the calibration sample `calib`.

    calib: float array of any shape, at least one value non-zero; every value is used, none is modified.
    method="absmax":     c = max(|calib|).
    method="percentile": c = np.percentile(|calib|, pct), NumPy's default linear interpolation
                         (pct is in percent, 0..100; np.quantile(|calib|, pct / 100) is the same number).
    method="mse":        candidates c_k = max(|calib|) * k / n_grid for k = 1, 2, ..., n_grid (the last is the
                         absmax). For each: qmax = 2**(bits-1) - 1, s = c_k / qmax,
                         x_hat = clip(round(calib / s), -qmax, qmax) * s  (round half to even, as np.round),
                         err_k = mean((calib - x_hat)**2) over the whole sample. Return the c_k with the smallest
                         err_k; on a tie, the smallest such c_k (what np.argmin gives).
    Returns the range c as a float (not the scale: the scale is c / qmax).
    """
    ### BEGIN SOLUTION
    x = np.asarray(calib, dtype=np.float64).ravel()  # (n,)
    absmax = float(np.max(np.abs(x)))
    if method == "absmax":
        return absmax
    if method == "percentile":
        return float(np.percentile(np.abs(x), pct))
    if method != "mse":
        raise ValueError(f"unknown method {method!r}")
    qmax = 2 ** (bits - 1) - 1
    best_clip, best_err = absmax, np.inf
    for k in range(1, n_grid + 1):
        clip = absmax * k / n_grid
        s = clip / qmax
        x_hat = np.clip(np.round(x / s), -qmax, qmax) * s  # (n,) values beyond ±clip saturate
        err = float(np.mean((x - x_hat) ** 2))
        if err < best_err:  # strict: on a tie the earlier, smaller candidate stays
            best_clip, best_err = clip, err
    return best_clip
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "calibrate_clip_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.quantization.calibrate_clip(calibrate_clip)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _ref_grid(x, bits, n_grid):
    """Every candidate range and its round-trip MSE on x, in float64."""
    x = np.asarray(x, dtype=np.float64).ravel()
    qmax = 2 ** (bits - 1) - 1
    cands = np.abs(x).max() * np.arange(1, n_grid + 1) / n_grid
    errs = np.array([np.mean((x - np.clip(np.round(x / (c / qmax)), -qmax, qmax) * (c / qmax)) ** 2) for c in cands])
    return cands, errs


def _calib_sample(seed, shape, outliers):
    """Heavy-tailed sample whose largest magnitude is negative (max(x) != max|x|), plus a few spikes."""
    r = np.random.default_rng(seed)
    x = r.standard_t(df=5, size=shape)
    flat = x.reshape(-1)
    spikes = r.choice(flat.size, outliers, replace=False)
    flat[spikes] = r.choice([-1.0, 1.0], outliers) * r.uniform(15, 40, outliers)
    i = np.argmax(np.abs(flat))
    flat[i] = -abs(flat[i])
    return x


_cases = ((81, (6000,), 4, 100, 4), (82, (60, 70), 3, 50, 6), (83, (9000,), 6, 120, 3), (84, (3000,), 8, 64, 0),
          (85, (5000,), 5, 80, 2))
for _seed, _shape, _bits, _ng, _n_out in _cases:
    _x = _calib_sample(_seed, _shape, _n_out)
    for _dt in (np.float64, np.float32):
        _xd = _x.astype(_dt)
        _keep = _xd.copy()
        _amax = float(np.abs(_xd.astype(np.float64)).max())
        with _warnings.catch_warnings():
            _warnings.simplefilter("error", RuntimeWarning)
            _ca = calibrate_clip(_xd, _bits, method="absmax")
            _cp = {p: calibrate_clip(_xd, _bits, method="percentile", pct=p) for p in (97.5, 99.0, 99.9, 100.0)}
            _cm = calibrate_clip(_xd, _bits, method="mse", n_grid=_ng)
        assert np.array_equal(_xd, _keep), "calibrate_clip modified its input"
        assert np.ndim(_ca) == 0 and np.ndim(_cm) == 0, "return one number (a float), not an array"
        assert np.isclose(float(_ca), _amax, rtol=1e-6), f"absmax {float(_ca)} != max|x| = {_amax} (max(x)?)"
        for _p, _c in _cp.items():
            _want = np.percentile(np.abs(_xd.astype(np.float64)), _p)
            assert np.isclose(float(_c), _want, rtol=1e-5), f"percentile {_p}: {float(_c)} != {_want} (|x|? percent?)"
            assert float(_c) <= _amax * (1 + 1e-6), "a clip can never exceed the absmax"
        assert np.isclose(float(_cp[100.0]), _amax, rtol=1e-6), "the 100th percentile of |x| is the absmax"
        _cands, _errs = _ref_grid(_xd, _bits, _ng)
        _k = int(np.rint(float(_cm) / _amax * _ng))
        assert 1 <= _k <= _ng and abs(float(_cm) - _cands[_k - 1]) <= 1e-5 * _amax, (
            f"mse: {float(_cm)} is not one of the candidates max|x| * k / {_ng}, k = 1..{_ng} (the scale c / qmax?)")
        assert _errs[_k - 1] <= _errs.min() * (1 + 1e-5), (
            f"mse, bits={_bits}: your c = {float(_cm):.4g} has round-trip MSE {_errs[_k - 1]:.5g} on the sample, "
            f"but c = {_cands[np.argmin(_errs)]:.4g} reaches {_errs.min():.5g} (qmax? clamp? rounding?)")
        assert _errs[_k - 1] <= _errs[-1] * (1 + 1e-9), "mse must never do worse than absmax on its own sample"
    if _n_out:  # with spikes in the sample, the search beats both absmax and the 99.9th percentile on it
        _qm = 2 ** (_bits - 1) - 1
        _err_at = {c: np.mean((_x - np.clip(np.round(_x / (c / _qm)), -_qm, _qm) * (c / _qm)) ** 2)
                   for c in (float(_cm), float(_ca), float(_cp[99.9]))}
        assert _err_at[float(_cm)] <= min(_err_at.values()) * (1 + 1e-5), "mse search lost to absmax or percentile"
# scaling the sample by a power of two scales every range by exactly the same factor
_x = _calib_sample(86, (4000,), 3)
for _m in ("absmax", "percentile", "mse"):
    _c1 = float(calibrate_clip(_x, 4, method=_m))
    for _f in (8.0, 0.125):
        assert np.isclose(float(calibrate_clip(_x * _f, 4, method=_m)), _f * _c1, rtol=1e-6), (
            f"{_m}: scaling the data by {_f} must scale the range by {_f}")
# exact tie: candidates 3 and 4 give the same MSE (2/3); the smaller one must win
assert float(calibrate_clip(np.array([-1.0, 3.0, 4.0]), 2, method="mse", n_grid=4)) == 3.0, "tie: smallest range"
assert float(calibrate_clip(np.array([3.0, -1.0, 4.0], dtype=np.float32), 2, method="mse", n_grid=4)) == 3.0
### END HIDDEN TESTS

# %% [markdown]
# #### Outliers in the calibration sample
#
# Take 200 000 heavy-tailed "activations" (Student's t with 6 degrees of freedom, standard deviation
# about 1.2), calibrate on one half and measure the SQNR on the other, held-out half: a range that only
# fits the sample it was chosen on is worth nothing. Then put 8 spikes of size 40 to 60 into the
# calibration half only, the way one odd batch can, and calibrate again. The MSE search depends on the
# bit width, so it runs once per width.

# %%
rng = np.random.default_rng(0)
n_act = env.size(100_000, 20_000)
acts = rng.standard_t(df=6, size=2 * n_act).astype(np.float32)  # (2 n_act,) heavy-tailed, like activations
calib, held_out = acts[:n_act], acts[n_act:]  # choose the range on one half, measure on the other
calib_spiky = calib.copy()
spikes = rng.choice(n_act, 8, replace=False)
calib_spiky[spikes] = rng.choice([-1.0, 1.0], 8) * rng.uniform(40, 60, 8)  # 8 spikes, ~40 standard deviations


def fake_quant(x: np.ndarray, clip: float, bits: int) -> np.ndarray:
    """Symmetric quantize-dequantize on the range [-clip, clip]; values beyond it saturate."""
    qmax = 2 ** (bits - 1) - 1
    s = clip / qmax
    return np.clip(np.round(x / s), -qmax, qmax) * s


methods = {"absmax": ("absmax", 100.0), "99.9th percentile": ("percentile", 99.9),
           "99.99th percentile": ("percentile", 99.99), "MSE search": ("mse", 99.9)}
chosen = {}  # (sample, method, bits) -> (range c, held-out SQNR in dB)
print("c: the range chosen on the calibration sample; dB: SQNR of the held-out half quantized with it")
print(f"{'':20}|{'clean calibration sample':^32}|{'+ 8 spikes in the sample':^32}|")
print(f"{'method':20}|" + f"{'4-bit c':>10}{'dB':>6}{'8-bit c':>10}{'dB':>6}|" * 2)
for label, (method, pct) in methods.items():
    row = f"{label:20}|"
    for sample_name, sample in (("clean", calib), ("spiky", calib_spiky)):
        for b in (4, 8):
            c = calibrate_clip(sample, b, method=method, pct=pct)
            chosen[sample_name, label, b] = (c, sqnr_db(held_out, fake_quant(held_out, c, b)))
            row += f"{c:10.2f}{chosen[sample_name, label, b][1]:6.1f}"
        row += "|"
    print(row)
c_mse4 = chosen["spiky", "MSE search", 4][0]
print(f"4-bit MSE range on the spiky sample: {c_mse4:.2f}; held-out values beyond it: "
      f"{np.mean(np.abs(held_out) > c_mse4):.2%}")

# %% [markdown]
# The picture: on the left, where each method puts the 4-bit range on the spiky sample (log counts: the
# spikes are the lonely bars on the right); on the right, the held-out SQNR of every possible range,
# with the calibrated choices marked.

# %%
sweep = np.geomspace(1.0, 64.0, 49)
sweep_sqnr = {b: [sqnr_db(held_out, fake_quant(held_out, c, b)) for c in sweep] for b in (4, 8)}
fig = plot.clip_calibration(np.abs(calib_spiky), {m: chosen["spiky", m, 4][0] for m in methods},
                            sweep, sweep_sqnr, {(m, b): chosen["spiky", m, b] for m in methods for b in (4, 8)})

# %% [markdown]
# What the table says:
#
# * **Absmax collapses.** Eight spikes out of 100 000 stretch the 4-bit grid so far (step about 8, for
#   values whose typical size is 1) that almost every held-out value rounds to 0: the SQNR falls to
#   about 0 dB<!--? abs(chosen["spiky", "absmax", 4][1]) < 1 -->, "as good as outputting zeros". At 8 bits the
#   same spikes cost about 12<!--= chosen["clean", "absmax", 8][1] - chosen["spiky", "absmax", 8][1] ~25% --> dB.
# * **Percentile and MSE rescue 4 bits.** Neither cares about eight values: the 99.9th percentile
#   ignores the top 0.1 %<!--const: 100 - 99.9--> by construction, and the MSE search finds that saturating the spikes costs
#   less than coarsening everybody's step. Both land near the best range of the sweep, around 4 to 6.
# * **The best range grows with the bits.** At 8 bits the step is already fine, so saturation is the
#   dearer error and the best range is much wider (the dashed curve peaks near the clean absmax, 13).
#   A fixed percentile cannot know this; the MSE search does, because it measures the error at the bit
#   width it is given.
# * **A calibrator only knows its sample.** At 8 bits the MSE search on the spiky sample keeps the
#   spikes (representing them is cheaper than clipping them, *on that sample*) and ends about
#   8<!--= chosen["spiky", "99.99th percentile", 8][1] - chosen["spiky", "MSE search", 8][1] ~30% --> dB
#   below the 99.99th percentile on held-out data that has none. Even on the clean sample it clips at
#   about 10 at 8 bits, a little tighter than the held-out tail wants, and gives up about
#   3<!--= chosen["clean", "absmax", 8][1] - chosen["clean", "MSE search", 8][1] ~40% --> dB to
#   absmax. Calibrate on enough representative data, and compare methods on held-out data, not on the
#   sample you tuned on. Production calibrators (percentile, MSE, or the KL
#   divergence between histograms as in TensorRT) differ in exactly these trade-offs.

# %% [markdown]
# ## 3. Kernels that read quantized weights: Numba
#
# The point of int8 weights is to **read** fewer bytes, so the multiplication must use the int8
# array directly, not a dequantized fp32 copy. NumPy has no such kernel, so we write it with Numba:
# `@njit` compiles a Python function with loops to machine code, `parallel=True` with `prange` on the
# outer loop spreads the iterations over the cores, `fastmath=True` lets the compiler reorder the inner
# sum into SIMD lanes, and `cache=True` keeps the compiled code on disk for the next run.
#
# Two rules keep Numba quiet (its performance warnings do not fail a check, but they clutter the output
# and the course's grader flags them for the instructor): use `prange` in a function
# marked `parallel=True` (without one Numba warns that there was nothing to parallelise), and keep the
# types of a variable fixed (start a float32 accumulator as `np.float32(0.0)`, not `0`).
#
# Kernel layout. For a GEMV each output needs its `K` weights in a row, so the kernels take the
# quantized weight **transposed**, `wq_t` of shape `(N, K)` (what PyTorch stores in `nn.Linear.weight`),
# with per-output scales `(N,)`:
#
# `y[n] = scales[n] * sum_k wq_t[n, k] * x[k]`
#
# Convert each int8 to float32 before multiplying and accumulate in float32. (Integer products
# accumulate fine in int32 too, but on a CPU without int8 dot-product instructions the float path
# vectorises better.)

# %% [markdown]
# ### 3.1 int8 weight-only GEMV (3 points)

# %% nbgrader={"grade": false, "grade_id": "int8_gemv", "locked": false, "solution": true, "schema_version": 3}
@njit(parallel=True, fastmath=True, cache=True)
def int8_gemv(wq_t: np.ndarray, scales: np.ndarray, x: np.ndarray) -> np.ndarray:
    """wq_t (N, K) int8, scales (N,) float32, x (K,) float32 -> y (N,) float32 with y[n] = scales[n] * wq_t[n] . x."""
    ### BEGIN SOLUTION
    N, K = wq_t.shape
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        acc = np.float32(0.0)
        for k in range(K):
            acc += np.float32(wq_t[n, k]) * x[k]
        y[n] = acc * scales[n]
    return y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "int8_gemv_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.quantization.int8_gemv(int8_gemv)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(76)
for _N, _K in ((37, 200), (5, 64), (1, 203), (3, 7)):  # K not a multiple of 4, 8 or 16 too
    _wq = _rng.integers(-127, 128, (_N, _K), dtype=np.int8)
    _sc = _rng.uniform(0.001, 0.05, _N).astype(np.float32)
    _x = _rng.standard_normal(_K).astype(np.float32)
    _ref = (_wq.astype(np.float64) * _sc[:, None].astype(np.float64)) @ _x.astype(np.float64)
    _y = np.asarray(int8_gemv(_wq, _sc, _x))
    assert _y.shape == (_N,), f"shape {_y.shape} != ({_N},)"
    assert np.allclose(_y, _ref, rtol=1e-5, atol=1e-5 * np.abs(_ref).max()), f"values wrong for N={_N}, K={_K}"
# all codes at +127 with x all ones: an int8 accumulator would overflow
_wq = np.full((3, 40), 127, dtype=np.int8)
_y = np.asarray(int8_gemv(_wq, np.ones(3, dtype=np.float32), np.ones(40, dtype=np.float32)))
assert np.allclose(_y, 127 * 40), f"accumulation overflow? got {_y}"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 Packing int4: two nibbles a byte (2 points)
#
# NumPy has no 4-bit type, so two int4 codes share one `uint8`. The layout is part of the format, and
# a loader that swaps the halves produces a model that loads without error and emits garbage. The
# course's layout: for `q` of shape `(N, K)` with `K` even, byte `j` of row `n` holds `q[n, 2j]` in its
# **low** nibble (bits 0–3) and `q[n, 2j+1]` in its **high** nibble (bits 4–7), each in 4-bit two's
# complement (`-1 -> 0b1111`, `-8 -> 0b1000`). Real formats differ, which is exactly why the layout
# must be written down: llama.cpp's Q4_0 cuts a row into blocks of 32 weights with one fp16 scale each,
# and byte `j` of a block holds element `j` in its low nibble and element `j + 16` in its high nibble,
# stored as unsigned codes `q + 8` in `0..15` (an offset of 8, not two's complement).
#
# Write `pack_int4(q)` (int8 codes in `[-8, 7]` -> uint8 `(N, K // 2)`) and `unpack_int4(packed)`
# (uint8 `(N, K // 2)` -> int8 `(N, K)`). Traps: OR-ing a negative code into a byte without masking
# it with `& 0xF` first fills the other nibble with its sign bits; unpacking without sign extension
# returns codes 0..15 instead of -8..7 (a nibble `v >= 8` means `v - 16`).

# %% nbgrader={"grade": false, "grade_id": "pack_int4", "locked": false, "solution": true, "schema_version": 3}
def pack_int4(q: np.ndarray) -> np.ndarray:
    """q (N, K) int8 in [-8, 7], K even -> (N, K // 2) uint8; element 2j in the low nibble, 2j+1 in the high."""
    ### BEGIN SOLUTION
    u = (q.astype(np.int16) & 0xF).astype(np.uint8)  # (N, K) two's complement nibbles
    return (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)  # (N, K // 2)
    ### END SOLUTION


def unpack_int4(packed: np.ndarray) -> np.ndarray:
    """packed (N, K // 2) uint8 -> q (N, K) int8 in [-8, 7]; the inverse of pack_int4."""
    ### BEGIN SOLUTION
    lo = (packed & 0xF).astype(np.int8)
    hi = (packed >> 4).astype(np.int8)
    lo = np.where(lo >= 8, lo - 16, lo).astype(np.int8)
    hi = np.where(hi >= 8, hi - 16, hi).astype(np.int8)
    N, half = packed.shape
    return np.stack([lo, hi], axis=-1).reshape(N, 2 * half)  # (N, K // 2, 2) -> (N, K)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pack_int4_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.pack_int4(pack_int4, unpack_int4)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(77)
_q = _rng.integers(-8, 8, (9, 26), dtype=np.int8)
_p = pack_int4(_q.copy())
_ref = ((_q[:, 0::2].astype(np.int64) & 15) | ((_q[:, 1::2].astype(np.int64) & 15) << 4)).astype(np.uint8)
assert np.asarray(_p).dtype == np.uint8 and _p.shape == (9, 13), "packed must be uint8 (N, K // 2)"
assert np.array_equal(_p, _ref), "packed bytes wrong (nibble order or masking)"
_u = unpack_int4(_p.copy())
assert np.asarray(_u).dtype == np.int8 and np.array_equal(_u, _q), "unpack must invert pack (sign extension?)"
_all = np.arange(256, dtype=np.uint8).reshape(4, 64)
_uu = unpack_int4(_all)
assert np.array_equal(pack_int4(_uu), _all), "every byte must round-trip"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.3 Group-wise int4 GEMV (3 points)
#
# Now the kernel: `packed` `(N, K // 2)` uint8 in the layout above, `scales` `(N, K // group_size)`
# float32 with `scales[n, j]` covering inputs `j*g .. (j+1)*g - 1` of output `n` (the transpose of what
# `quantize_groupwise` returns), `x` `(K,)` float32:
#
# `y[n] = sum_j scales[n, j] * sum_{k in group j} q[n, k] * x[k]`
#
# Unpack inside the loop (do not build an unpacked copy: that would read 2× the bytes and defeat the
# point). Sum each group in float32, multiply by its scale once, and add to the row total. You may
# assume `group_size` is even and divides `K`. A Numba detail that matters for speed, not for the
# grade: slice the group's bytes and inputs before the inner loop (`pg = packed[n, a:b]`, then
# `pg[t]`) instead of indexing the big arrays with different offsets (`packed[n, a + t]` next to
# `x[c + 2 * t]`); in our tests the second form stopped Numba's vectoriser and ran about 10× slower.

# %% nbgrader={"grade": false, "grade_id": "int4_gemv", "locked": false, "solution": true, "schema_version": 3}
@njit(parallel=True, fastmath=True, cache=True)
def int4_gemv(packed: np.ndarray, scales: np.ndarray, x: np.ndarray, group_size: int) -> np.ndarray:
    """packed (N, K//2) uint8, scales (N, K//group_size) float32, x (K,) float32 -> y (N,) float32."""
    ### BEGIN SOLUTION
    N = packed.shape[0]
    n_groups = scales.shape[1]
    half = group_size // 2
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        total = np.float32(0.0)
        for j in range(n_groups):
            pg = packed[n, j * half:(j + 1) * half]  # (g // 2,) bytes of group j
            xg = x[j * group_size:(j + 1) * group_size]  # (g,) inputs of group j
            acc = np.float32(0.0)
            for t in range(half):
                byte = np.int32(pg[t])
                lo = byte & 15
                hi = byte >> 4
                lo = lo - 16 if lo >= 8 else lo
                hi = hi - 16 if hi >= 8 else hi
                acc += np.float32(lo) * xg[2 * t] + np.float32(hi) * xg[2 * t + 1]
            total += acc * scales[n, j]
        y[n] = total
    return y
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "int4_gemv_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.quantization.int4_gemv(int4_gemv)
### BEGIN HIDDEN TESTS
_rng = np.random.default_rng(78)
for _N, _K, _g in ((11, 96, 32), (6, 64, 16), (4, 40, 40), (3, 18, 6), (5, 10, 2)):  # 3 and 1 bytes per group
    _q = _rng.integers(-8, 8, (_N, _K), dtype=np.int8)
    _pk = ((_q[:, 0::2].astype(np.int64) & 15) | ((_q[:, 1::2].astype(np.int64) & 15) << 4)).astype(np.uint8)
    _sc = _rng.uniform(0.01, 0.2, (_N, _K // _g)).astype(np.float32)
    _x = _rng.standard_normal(_K).astype(np.float32)
    _ref = (_q.astype(np.float64) * np.repeat(_sc.astype(np.float64), _g, axis=1)) @ _x.astype(np.float64)
    _y = np.asarray(int4_gemv(_pk, _sc, _x, _g))
    assert _y.shape == (_N,), f"shape {_y.shape}"
    assert np.allclose(_y, _ref, rtol=1e-5, atol=1e-5 * np.abs(_ref).max()), f"values wrong for K={_K}, g={_g}"
### END HIDDEN TESTS

# %% [markdown]
# ## 4. The speed lesson: do fewer bytes make a faster GEMV?
#
# A decode step multiplies each weight matrix by one vector. At `4096 × 4096` an fp32 matrix is 64 MiB,
# twice the 32 MiB last-level cache of the course machine (caches differ between machines; Linux lists
# this one's with `lscpu`), so every call streams the weights from DRAM. An int8 copy is
# 16 MiB and would sit in the 32 MiB cache after the first call, which is not what happens in a real
# model (the other layers evict it). So we keep several copies of each matrix, more bytes in total than
# the cache, and rotate through them: **cold weights**, as in a real decode step.
#
# First the limit: how fast can this machine read memory? A parallel sum over a 128 MiB array measures
# it (the number varies from run to run, and drops when other programs share the machine).

# %%
@njit(parallel=True, fastmath=True, cache=True)
def _read_all(a):
    """Sum of a 1-D float32 array: reads every byte once."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s


N_big = env.size(4096, 512)
n_fp32, n_int8, n_int4 = (2, 8, 16) if not env.small() else (2, 2, 2)
rng = np.random.default_rng(1)
w32 = [rng.standard_normal((N_big, N_big), dtype=np.float32) for _ in range(n_fp32)]  # (N, K) each
x_big = rng.standard_normal(N_big, dtype=np.float32)


def read_bandwidth(arrays: list[np.ndarray]) -> float:
    """GB/s of a parallel read of each array in turn (each larger than the cache; median of 9)."""
    flats = [a.reshape(-1) for a in arrays]  # views, no copy
    state = {"i": 0}

    def read_next():
        state["i"] = (state["i"] + 1) % len(flats)
        _read_all(flats[state["i"]])
    return flats[0].nbytes / bench.time_fn(read_next, repeat=9).median / 1e9


bandwidth = read_bandwidth(w32)
print(f"measured read bandwidth: {bandwidth:.1f} GB/s (over {n_fp32} x {w32[0].nbytes / 2**20:.0f} MiB)")

# %%
# Speed does not depend on the values, so the copies hold random codes and scales (quantizing 64 MiB
# fp32 matrices would only cost time and memory here).
q8_list = [rng.integers(-127, 128, (N_big, N_big), dtype=np.int8) for _ in range(n_int8)]  # (N, K) each
s8_list = [rng.uniform(0.001, 0.01, N_big).astype(np.float32) for _ in range(n_int8)]  # (N,)
q4_list = [pack_int4(rng.integers(-8, 8, (N_big, N_big), dtype=np.int8)) for _ in range(n_int4)]  # (N, K // 2)
s4_list = [rng.uniform(0.01, 0.1, (N_big, N_big // 128)).astype(np.float32) for _ in range(n_int4)]  # (N, K / 128)
print(f"int8 copies {sum(q.nbytes for q in q8_list) / 2**20:.0f} MiB, int4 copies "
      f"{sum(q.nbytes for q in q4_list) / 2**20:.0f} MiB, fp32 copies {sum(m.nbytes for m in w32) / 2**20:.0f} MiB")

# correctness at full size, against the dequantized fp32 reference
ref = (q8_list[0].astype(np.float32) * s8_list[0][:, None]) @ x_big
print("int8 GEMV max relative error:", float(np.abs(int8_gemv(q8_list[0], s8_list[0], x_big) - ref).max() / np.abs(ref).max()))


def rotating(fn, copies):
    """A no-argument function calling fn on the next copy each time (cold weights)."""
    state = {"i": 0}

    def call():
        state["i"] = (state["i"] + 1) % len(copies)
        return fn(*copies[state["i"]])
    return call


variants = {
    "numpy fp32": rotating(lambda m: m @ x_big, [(m,) for m in w32]),
    "int8 (your kernel)": rotating(lambda q, s: int8_gemv(q, s, x_big), list(zip(q8_list, s8_list, strict=True))),
    "int4 g128 (your kernel)": rotating(lambda p, s: int4_gemv(p, s, x_big, 128), list(zip(q4_list, s4_list, strict=True))),
}
bytes_read = {"numpy fp32": w32[0].nbytes, "int8 (your kernel)": q8_list[0].nbytes + s8_list[0].nbytes,
              "int4 g128 (your kernel)": q4_list[0].nbytes + s4_list[0].nbytes}
# settle: a pause before each variant lets the previous library's spinning threads go idle. prime and number:
# after that pause, three untimed calls wake the thread pools, then a burst of calls is timed. A lone 1-5 ms call
# right after a pause measures mostly the wake-up (several ms on a virtual machine), not the kernel.
cmp = bench.compare(variants, rounds=env.size(15, 3), settle=0.2, prime=3, number=env.size(10, 2))
print(cmp.table())
for name, t in cmp.timings.items():
    gbs = bytes_read[name] / t.median / 1e9
    print(f"{name:<26} {gbs:6.1f} GB/s = {gbs / bandwidth:5.0%} of the measured read bandwidth")

# %% [markdown]
# What to read in the table (your numbers depend on the machine and on what else runs on it):
#
# * **fp32** streams its 64 MiB close to the measured bandwidth: it is memory-bound, as module 06
#   predicted.
# * **int8** reads 4× fewer bytes. If its GB/s column were also at the bandwidth it would be 4× faster;
#   a simple kernel like this one gets part of the way. The gap is instruction throughput: each weight
#   needs a load, a widening conversion to float32 and an FMA, and with one output row per inner loop
#   each `x[k]` is loaded again for every row. The tuned kernels in `benchmarks/kernels_quant.py`
#   handle four rows per pass, read weights packed once into tiles of four rows (one sequential stream),
#   and multiply with the CPU's integer multiply-add instructions, `x` rounded per call to within about
#   1/65 000 of its largest value (far finer than the weights' int8), which cuts the instructions per weight.
# * If other programs share the machine (a busy server, a notebook host), all three numbers drop and
#   wobble: rerun the cell, and trust ratios measured in the same run more than absolute times.
# * **int4** reads 8× fewer bytes but is rarely 8× faster: unpacking each nibble costs a shift, a mask,
#   a sign fix and a conversion, *per weight*, and on a CPU without instructions that multiply 4-bit or
#   8-bit lanes directly (AVX-512 VNNI, ARM's dot-product and matrix extensions) that arithmetic, not
#   memory, becomes the limit: the kernel is **ALU-bound**. In Numba it is worse, because integer
#   shifts and masks are widened to 64 bits, and AVX2 cannot convert 64-bit integers to floats in
#   vector lanes (AVX-512 can, but at half the lanes of 32-bit work). Having VNNI does not help either
#   unless the compiler emits it, and Numba does not for a loop like ours. `benchmarks/kernels_quant.py`
#   has both routes: a float kernel that reads each byte as a signed int8, converts it to float and
#   splits the two nibbles with a `floor`, and an integer kernel written in LLVM IR (through Numba's
#   intrinsics) that unpacks with 16-bit shifts and masks and multiplies with AVX2's `vpmaddwd`;
#   `make bench` times them side by side on your machine. GPUs and recent CPUs do the unpacking with
#   dedicated instructions.
#
# ### Prefill is different: compute-bound
#
# Prefill multiplies the weights by many tokens at once (`T` rows of `x`), so each weight read from
# memory is used `T` times and the GEMM is limited by arithmetic, not bytes. Quantized weights then
# save nothing unless the arithmetic itself gets cheaper, and on a CPU without int8 dot-product
# instructions an int8 multiply-add is not faster than an fp32 FMA: dequantizing and calling fp32
# BLAS just adds work. PyTorch's dynamic int8 `Linear` (fbgemm) is a carefully tuned kernel that
# quantizes the activations on the fly; compare it with fp32 at batch 1 (decode) and batch `T`
# (prefill). The first lines say which low-precision instructions this CPU has (read from the operating
# system, not assumed), because the answer depends on them:

# %%
print(env.describe_cpu_features() + "\n")
K_pf = env.size(2048, 256)
T_pf = env.size(256, 32)
lin = torch.nn.Linear(K_pf, K_pf, bias=False)
with warnings.catch_warnings():  # torch marks its eager-mode quantization API as deprecated (it still works)
    warnings.simplefilter("ignore")
    qlin = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8)
w_np = lin.weight.detach().numpy().T.copy()  # (K, N) course layout
wq_pf, ws_pf = quantize_absmax(w_np, 8, axis=0)  # (K, N) int8, (1, N)
for T_ in (1, T_pf):
    xt = torch.randn(T_, K_pf)
    xn = xt.numpy()
    with torch.no_grad():
        c = bench.compare({"numpy fp32": lambda xn=xn: xn @ w_np, "torch int8 dynamic": lambda xt=xt: qlin(xt),
                           "dequantize + fp32": lambda xn=xn: xn @ (wq_pf.astype(np.float32) * ws_pf)},
                          rounds=env.size(7, 2), settle=0.1, prime=3, number=env.size(10, 1))
    flops = 2 * T_ * K_pf * K_pf
    print(f"T = {T_}: " + ", ".join(f"{k} {flops / t.median / 1e9:.0f} GFLOP/s" for k, t in c.timings.items()))
    print(c.table())

# %% [markdown]
# How to read it. At `T = 1` the int8 path can win by reading fewer bytes (these `2048²` weights fit
# in the cache after the first call, so the gap is smaller than in the cold case above). At `T = 256`
# the work is arithmetic, and fewer bytes buy nothing by themselves:
#
# * **dequantize, then fp32** is never faster than fp32: the same FLOPs plus a conversion.
# * **a plain int8 kernel** is not faster either on a CPU without int8 dot-product instructions:
#   Numba (like a C compiler) widens each int8 product to 32 or 64 bits, which runs no faster than an
#   fp32 FMA. That is why our GEMV converts to float32.
# * **tuned int8 code** (fbgemm, behind PyTorch's dynamic `Linear`) uses AVX2's `vpmaddubsw`, which
#   multiplies 32 pairs of 8-bit numbers per instruction (an fp32 FMA has 8 lanes) and adds neighbouring
#   products into 16-bit sums; with the instructions that widen and accumulate those sums, that is up to
#   about 2× fp32's arithmetic rate, sometimes more in measurements when OpenBLAS's fp32
#   threads suffer from other programs on the machine. It is a specialised trick (16-bit intermediate
#   sums that must not overflow), not something int8 gives for free. Where the first line above says
#   "int8 dot product: yes", fbgemm picks its VNNI kernels (`vpdpbusd`: four 8-bit products summed
#   straight into a 32-bit lane) and the T = 256 row can show int8 well ahead of fp32.
#
# With int8 dot-product instructions (VNNI `vpdpbusd` and AMX on recent x86, `sdot` on ARM) int8 GEMMs
# outrun fp32 ones on a CPU, and on NVIDIA GPUs the int8 tensor cores have twice the dense peak of fp16
# (A100: 624 TOPS against 312 TFLOP/s; H100 SXM: 1979 against 989), so prefill benefits from W8A8 too.

# %%
w32 = q8_list = s8_list = q4_list = s4_list = variants = cmp = None  # free the ~400 MiB of copies

# %% [markdown]
# ## 5. Quantizing the course GPT
#
# Weight-only quantization of a whole model: every linear layer's weight is replaced by its quantized
# version; embeddings, LayerNorms and biases stay fp32 (they are small, and the embeddings are a
# lookup, not a matmul). To measure the quality we **fake-quantize**: store `dequantize(quantize(w))`
# in fp32 and run the ordinary fp32 model. The numbers are exactly those an int8 or int4 kernel
# would compute with, up to float rounding.

# %% [markdown]
# ### 5.1 W8 and W4 for every linear layer (2 points)
#
# Write `quantize_linear_weights(params, bits, group_size=None)`: return a **new** dict (the input must
# not change) with every array of `LINEAR_WEIGHTS` replaced by its fake-quantized float32 version, and
# every other entry unchanged. Symmetric absmax; `group_size=None` means one scale per output channel
# (per column, since weights are `(in, out)`), otherwise groups of `group_size` consecutive input rows
# per column. Use your `quantize_absmax` and `quantize_groupwise`. The trap: per-row scales (along the
# input axis) have the right count for square matrices and the wrong meaning.

# %%
LINEAR_WEIGHTS = [k for k in params if k.endswith(("attn.w_qkv", "attn.w_out", "mlp.w_in", "mlp.w_out"))] + ["head.w"]
print(LINEAR_WEIGHTS)


# %% nbgrader={"grade": false, "grade_id": "quantize_linear_weights", "locked": false, "solution": true, "schema_version": 3}
def quantize_linear_weights(params: dict, bits: int, group_size: int | None = None) -> dict:
    """A copy of params whose LINEAR_WEIGHTS (K, N) are fake-quantized float32 (per column, or per group of rows)."""
    ### BEGIN SOLUTION
    out = dict(params)
    for name in LINEAR_WEIGHTS:
        w = params[name]
        if group_size is None:
            q, s = quantize_absmax(w, bits, axis=0)  # s (1, N)
            out[name] = (q * s).astype(np.float32)
        else:
            q, s = quantize_groupwise(w, group_size, bits)  # s (K // g, N)
            out[name] = (q * np.repeat(s, group_size, axis=0)).astype(np.float32)
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "quantize_linear_weights_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.quantize_linear_weights(quantize_linear_weights, params, LINEAR_WEIGHTS)
### BEGIN HIDDEN TESTS
def _ref_fake(w, bits, g):
    qmax = 2 ** (bits - 1) - 1
    K, N = w.shape
    gg = K if g is None else g
    blk = w.astype(np.float64).reshape(K // gg, gg, N)
    a = np.abs(blk).max(axis=1, keepdims=True)
    s = np.where(a > 0, a / qmax, 1.0)
    return (np.clip(np.round(blk / s), -qmax, qmax) * s).reshape(K, N)


_p = {k: v.copy() for k, v in params.items()}  # a private copy: a wrong answer must not damage `params`
_before = {k: v.copy() for k, v in params.items()}
for _bits, _g in ((8, None), (4, 32), (3, 64)):
    _out = quantize_linear_weights(_p, _bits, _g)
    assert set(_out) == set(_p), "keys must not change"
    for _k in _p:
        assert np.array_equal(_p[_k], _before[_k]), f"input {_k} was modified"
        if _k in LINEAR_WEIGHTS:
            _r = _ref_fake(_before[_k], _bits, _g)
            assert np.asarray(_out[_k]).dtype == np.float32, f"{_k} must stay float32"
            _step = np.abs(_r).max() / (2 ** (_bits - 1) - 1)
            assert np.mean(np.abs(_out[_k] - _r) > 1e-3 * _step) < 0.002, f"{_k} wrong for bits={_bits}, g={_g}"
        else:
            assert np.array_equal(_out[_k], _before[_k]), f"{_k} is not a linear weight and must not change"
### END HIDDEN TESTS

# %% [markdown]
# Now the table: size of the linear weights (codes plus one fp16 scale per channel or group), held-out
# perplexity and exact-answer task accuracy, against fp32. The model runs through
# `llmcourse.model.from_numpy`, the PyTorch reference.

# %%
val_text = load_corpus("val")[: env.size(8000, 1500)]
n_task = env.size(100, 10)


def linear_bytes(p: dict, bits: int, group_size: int | None) -> int:
    """Bytes of the linear weights: bits per code plus a 16-bit scale per column or per group."""
    total = 0
    for name in LINEAR_WEIGHTS:
        K, N = p[name].shape
        n_scales = N if group_size is None else N * K // group_size
        total += K * N * bits // 8 + (0 if bits == 32 else 2 * n_scales)
    return total


torch.set_num_threads(1)  # Numba's parallel kernels above reset the shared OpenMP pool to all cores
rows = []
for label, bits, g in (("fp32", 32, None), ("W8 per-channel", 8, None), ("W4 per-channel", 4, None),
                       ("W4 g128", 4, 128), ("W4 g32", 4, 32), ("W3 per-channel", 3, None), ("W3 g32", 3, 32)):
    p = params if bits == 32 else quantize_linear_weights(params, bits, g)
    model = from_numpy(config, p)
    acc = task_accuracies(model, n=n_task)
    rows.append((label, linear_bytes(params, bits, g), perplexity(model, val_text), acc))
print(f"{'weights':<16}{'linear bytes':>14}{'perplexity':>12}" + "".join(f"{t:>9}" for t in TASKS))
for label, nbytes, ppl, acc in rows:
    print(f"{label:<16}{nbytes:>14,}{ppl:>12.4f}" + "".join(f"{acc[t]:>9.0%}" for t in TASKS))
ppl_of = {label: ppl for label, _, ppl, _ in rows}
w4_worst_pct = max(100 * abs(ppl_of[k] / ppl_of["fp32"] - 1) for k in ppl_of if k.startswith("W4"))
w3_g32_recovers = (ppl_of["W3 per-channel"] - ppl_of["W3 g32"]) / (ppl_of["W3 per-channel"] - ppl_of["fp32"])
print(f"W4: perplexity within {w4_worst_pct:.2f} % of fp32 for every grouping; "
      f"W3 g32 recovers {w3_g32_recovers:.0%} of W3 per-channel's perplexity loss")

# %% [markdown]
# For this model `d_model = 128`, so "groups of 128" is one group per column for every matrix except
# the MLP's output projection (`512` inputs, 4 groups): W4 g128 is nearly the same as W4 per-channel.
# This small model is robust: W8 is indistinguishable from fp32 at a quarter of the bytes, and 4 bits
# moves the perplexity by 0.5<!--= w4_worst_pct ~20% --> % at most, whatever the grouping. Three bits is
# where the damage shows, in the perplexity and first in the hardest task, addition. It is also where groups
# of 32 start to matter: compare W3 per-channel with W3 g32, which recovers most of the
# loss<!--? w3_g32_recovers > 0.5 -->. Large LLMs are more
# fragile at 4 bits than this one because of their outlier features (section 6), which is why 4-bit
# formats use groups. Task accuracy on 100 examples moves in steps of 1 %<!--const: 1 of 100 examples-->, so differences of a few
# points between rows are noise.

# %% [markdown]
# ## 6. Quantizing activations too: W8A8 and outliers
#
# Weight-only quantization saves bytes, but the multiply still runs in float. To use integer
# arithmetic (int8 tensor cores, VNNI) the **activations** must be int8 too. Activations change with
# every input, so their scales are computed at run time (**dynamic** quantization), one per token:
#
# * `s_x[t] = max_k |x[t, k]| / 127`, `qx = round(x / s_x)` as int8 (shape `(T, 1)` for the scales);
# * `acc = qx @ wq` computed **in int32**: a sum of `K` products of two int8 values reaches
#   `K * 127 * 127`, far beyond int8 and int16 (NumPy's `int8 @ int8` returns int8 and silently wraps);
# * `y = acc * s_x * w_scale` with per-output-channel weight scales `w_scale` of shape `(1, N)`.
#
# ### 6.1 Dynamic W8A8 linear (3 points)
#
# Write `w8a8_linear(x, wq, w_scale)` for `x` `(T, K)` float32, `wq` `(K, N)` int8 and `w_scale`
# `(1, N)` float32 (as returned by `quantize_absmax(w, 8, axis=0)`); return `y` `(T, N)` float32. A
# token whose activations are all zero gets scale 1.0 (no division by zero). Per-token scales matter:
# one scale for the whole batch would let one loud token coarsen all the others.

# %% nbgrader={"grade": false, "grade_id": "w8a8_linear", "locked": false, "solution": true, "schema_version": 3}
def w8a8_linear(x: np.ndarray, wq: np.ndarray, w_scale: np.ndarray) -> np.ndarray:
    """x (T, K) float32, wq (K, N) int8, w_scale (1, N) -> (T, N) float32 via per-token int8 x and int32 sums."""
    ### BEGIN SOLUTION
    qx, s_x = quantize_absmax(x, 8, axis=1)  # qx (T, K) int8, s_x (T, 1)
    acc = qx.astype(np.int32) @ wq.astype(np.int32)  # (T, N) int32
    return (acc * s_x * w_scale).astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "w8a8_linear_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.quantization.w8a8_linear(w8a8_linear)
### BEGIN HIDDEN TESTS
def _ref_w8a8(x, wq, ws):
    a = np.abs(x.astype(np.float64)).max(axis=1, keepdims=True)
    s = np.where(a > 0, a / 127, 1.0)
    qx = np.clip(np.round(x / s), -127, 127)
    return (qx @ wq.astype(np.float64)) * s * ws


_rng = np.random.default_rng(79)
for _T, _K, _N in ((6, 48, 10), (1, 300, 4)):
    _x = (_rng.standard_normal((_T, _K)) * _rng.uniform(0.1, 10, (_T, 1))).astype(np.float32)
    _wq = _rng.integers(-127, 128, (_K, _N), dtype=np.int8)
    _ws = _rng.uniform(0.001, 0.02, (1, _N)).astype(np.float32)
    _y = np.asarray(w8a8_linear(_x.copy(), _wq.copy(), _ws.copy()))
    _r = _ref_w8a8(_x, _wq, _ws)
    assert _y.shape == (_T, _N) and _y.dtype == np.float32, f"shape/dtype {_y.shape} {_y.dtype}"
    _tol = 1e-4 * np.abs(_r).max()
    assert np.mean(np.abs(_y - _r) > _tol) < 0.05, f"values wrong for T={_T}, K={_K} (int8 overflow? scales?)"
_x = np.zeros((2, 8), dtype=np.float32)
_x[1] = 1.0
with _warnings.catch_warnings():
    _warnings.simplefilter("error", RuntimeWarning)
    _y = w8a8_linear(_x, np.full((8, 3), 100, dtype=np.int8), np.ones((1, 3), dtype=np.float32))
assert np.allclose(_y[0], 0) and np.allclose(_y[1], 800), f"zero token / overflow: {_y}"
### END HIDDEN TESTS

# %% [markdown]
# ### 6.2 The outlier problem, and LLM.int8's way out (2 points)
#
# In large trained Transformers a handful of hidden **features** (columns of `x`) carry values 20–100×
# larger than the rest, for every token. Per-token absmax then sets each token's step by its outlier,
# and the ordinary features are rounded to a few codes. LLM.int8 (Dettmers et al., 2022) splits the
# matmul by feature: the outlier columns of `x` and the matching **rows** of `w` are multiplied in
# float, everything else in int8:
#
# `y = x[:, out] @ w[out, :]  +  w8a8(x[:, ~out], w[~out, :])`
#
# Write `outlier_split_linear(x, w, threshold)` for `x` `(T, K)`, float weights `w` `(K, N)`: feature
# `k` is an outlier when `max_t |x[t, k]| > threshold`. Quantize `w[~out]` per output channel with
# `quantize_absmax(..., 8, axis=0)` and use your `w8a8_linear`; return float32 `(T, N)`. With no
# outliers it is plain W8A8; with all features outliers it is the fp32 product. Traps: selecting
# tokens (rows of `x`) instead of features; leaving the outlier features in the int8 part as well.

# %% nbgrader={"grade": false, "grade_id": "outlier_split_linear", "locked": false, "solution": true, "schema_version": 3}
def outlier_split_linear(x: np.ndarray, w: np.ndarray, threshold: float) -> np.ndarray:
    """x (T, K), w (K, N) float -> (T, N) float32: outlier features in float, the rest through W8A8."""
    ### BEGIN SOLUTION
    out = np.abs(x).max(axis=0) > threshold  # (K,) outlier features
    y = x[:, out] @ w[out, :]  # (T, N) float part
    if (~out).any():
        wq, ws = quantize_absmax(w[~out, :], 8, axis=0)  # (K_in, N), (1, N)
        y = y + w8a8_linear(x[:, ~out], wq, ws)
    return y.astype(np.float32)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "outlier_split_linear_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.quantization.outlier_split_linear(outlier_split_linear)
### BEGIN HIDDEN TESTS
def _ref_split(x, w, thr):
    out = np.abs(x).max(axis=0) > thr
    y = x[:, out].astype(np.float64) @ w[out].astype(np.float64)
    if (~out).any():
        wi = w[~out].astype(np.float64)
        a = np.abs(wi).max(axis=0, keepdims=True)
        ws = np.where(a > 0, a / 127, 1.0)
        wq = np.clip(np.round(wi / ws), -127, 127)
        xi = x[:, ~out].astype(np.float64)
        b = np.abs(xi).max(axis=1, keepdims=True)
        xs = np.where(b > 0, b / 127, 1.0)
        y = y + (np.clip(np.round(xi / xs), -127, 127) @ wq) * xs * ws
    return y


_rng = np.random.default_rng(80)
_x = _rng.standard_normal((9, 40)).astype(np.float32)
_x[:, [3, 17]] *= 50
_x[4] *= 3  # a loud token (a row), which must not be treated as an outlier feature
_w = (_rng.standard_normal((40, 6)) * 0.1).astype(np.float32)
for _thr in (6.0 * 3 + 1, 1e9, 0.0):
    _y = np.asarray(outlier_split_linear(_x.copy(), _w.copy(), _thr))
    _r = _ref_split(_x, _w, _thr)
    assert _y.shape == (9, 6) and _y.dtype == np.float32, "shape/dtype"
    assert np.allclose(_y, _r, rtol=1e-3, atol=1e-4 * np.abs(_r).max()), f"values wrong at threshold {_thr}"
# a negative outlier feature (its signed maximum is below 0) and a feature whose max |x| equals the threshold
# exactly (not an outlier: the test is max |x| > threshold)
_xn = _x.copy()
_xn[:, 25] = -40.0 - np.abs(_rng.standard_normal(9)).astype(np.float32)
_xn[:, 30] = np.float32(0.5) * _rng.standard_normal(9).astype(np.float32)
_xn[2, 30] = -20.0
for _thr in (19.0, 20.0):
    _y = np.asarray(outlier_split_linear(_xn.copy(), _w.copy(), _thr))
    _r = _ref_split(_xn, _w, _thr)
    assert np.allclose(_y, _r, rtol=1e-3, atol=1e-4 * np.abs(_r).max()), (
        f"threshold {_thr}: a feature of large NEGATIVE values is an outlier (max |x|), and one whose max |x| "
        "equals the threshold is not")
_exact = _x.astype(np.float64) @ _w.astype(np.float64)
_e_split = np.abs(outlier_split_linear(_x, _w, 19.0) - _exact).max()
_e_plain = np.abs(outlier_split_linear(_x, _w, 1e9) - _exact).max()
assert _e_split < _e_plain / 3, "the split should beat plain W8A8 on outlier features"
### END HIDDEN TESTS

# %% [markdown]
# The demonstration: a linear layer of the course GPT (`blocks.2.mlp.w_in`) fed with real hidden
# states (the LayerNorm-ed token embeddings of a validation text), first as they are, then with four
# features scaled up 60× as in a large model. Measure each method's SQNR against the fp32 output.

# %%
w_demo = params["blocks.2.mlp.w_in"]  # (128, 512)
ids = CharTokenizer().encode(val_text[: env.size(256, 64)])
h = params["tok_emb"][ids] + params["pos_emb"][np.arange(len(ids)) % config["block_size"]]  # (T, C)
h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)  # (T, C) LayerNorm without affine
h_out = h.copy()
h_out[:, [5, 40, 77, 100]] *= 60  # four outlier features
results = {}
for name, xx in (("normal activations", h), ("4 outlier features x60", h_out)):
    exact = xx @ w_demo
    wq, ws = quantize_absmax(w_demo, 8, axis=0)
    results[name] = {
        "W8 only (fp activations)": sqnr_db(exact, xx @ (wq * ws)),
        "W8A8 per-token": sqnr_db(exact, w8a8_linear(xx, wq, ws)),
        "W8A8 + outlier split": sqnr_db(exact, outlier_split_linear(xx, w_demo, threshold=6.0)),
    }
fig = plot.outlier_sqnr_bars(results)
for name, r in results.items():
    print(name, {k: round(v, 1) for k, v in r.items()})

# %% [markdown]
# Without outliers the three are close (weight-only is best: its activations are exact) and the
# split finds no feature above the threshold. With four loud features, per-token W8A8 loses about
# 10<!--= results["normal activations"]["W8A8 per-token"] - results["4 outlier features x60"]["W8A8 per-token"] ~30% --> dB: every token's step is now set by its outliers, and the ordinary features round to a few
# codes. The split keeps those 4 of 128 features in float (3 %<!--const: 4 / 128--> of the work) and does better
# than per-token W8A8<!--? results["4 outlier features x60"]["W8A8 + outlier split"] > results["4 outlier features x60"]["W8A8 per-token"] -->,
# even better than before, since the loud features now carry most of the output and are exact. SmoothQuant takes another route: it
# divides each activation feature by a factor and multiplies the matching weight row by it, moving the
# difficulty from activations to weights where per-channel scales absorb it.

# %% [markdown]
# ## 7. Practice quiz

# %%
quiz.show("07_quantization")

# %% [markdown]
# ## Summary
#
# * fp16 has 10 mantissa bits and a maximum of 65504; bf16 keeps fp32's range with 7 mantissa bits.
#   Conversions must round (to nearest, ties to even), not truncate.
# * Symmetric int quantization: `scale = absmax / (2**(b-1) - 1)`, `q = clip(round(w / scale))`.
#   Asymmetric: an integer zero point, codes clamped to `[0, 2**b - 1]`, 0 exactly representable, and
#   no uint8 arithmetic before converting.
# * Finer scales (per channel, per group of 32–128) cut the error at a small storage cost; every bit is
#   worth about 6 dB<!--const: 10 log10(4) = 6.02, a definition--> of SQNR.
# * Calibration picks a clipping range on a sample: absmax (one outlier ruins 4 bits), a percentile of
#   `|x|` (robust, blind to the bit width) or an MSE search over candidate ranges with saturation
#   included (best on its own sample, and only as good as that sample). Judge them on held-out data.
# * A weight-only GEMV is memory-bound: int8 weights read 4× fewer bytes and can run close to 4× faster;
#   int4 on a CPU is limited by the unpacking arithmetic. A prefill GEMM is compute-bound, and int8
#   weights only help there with fast int8 instructions.
# * The course GPT keeps its quality at W8 and, with round-to-nearest, at W4 too (0.5<!--= w4_worst_pct ~20% --> % of
#   perplexity at most, with or without groups); the damage shows at W3, where groups of 32 recover most of
#   it<!--? w3_g32_recovers > 0.5 -->.
#   Large LLMs with outlier features are more fragile at 4 bits and need the groups there.
# * W8A8 needs per-token activation scales and int32 accumulation; a few outlier features ruin per-token
#   scales, and keeping them in float (LLM.int8) or migrating them into the weights (SmoothQuant) fixes it.
#
# ## Going further
#
# * GPTQ (Frantar et al., 2022) and AWQ (Lin et al., 2023): 4-bit weights with error compensation and
#   activation-aware scales; compare them with round-to-nearest on the tiny GPT.
# * SmoothQuant (Xiao et al., 2022): implement the per-feature smoothing factor and repeat section 6.
# * FP8 (E4M3 and E5M2) and the microscaling formats MXFP4 / NVFP4: a shared power-of-two or fp8 scale
#   per block of 32 or 16 values.
# * `benchmarks/kernels_quant.py` in this repository: the tuned GEMV kernels (int8 by `vpdpbusd` or
#   `vpmaddwd` on weights packed into four-row tiles; int4 by float or integer unpacking) and
#   `make bench` to measure them against NumPy and PyTorch.
# * Module 08 trains with quantization in the loop (QAT), which beats everything here at 3–4 bits.
