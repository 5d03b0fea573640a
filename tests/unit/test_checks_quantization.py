"""Visible checks of module 07_quantization: correct functions pass, wrong ones fail naming the case.

The correct functions here are small test doubles written for these tests (not shipped in the package).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmcourse.checks import CheckFailed
from llmcourse.checks import quantization as qc


def bf16_ok(x):
    return torch.from_numpy(np.asarray(x, dtype=np.float32)).to(torch.bfloat16).float().numpy()


def bf16_trunc(x):
    return (np.asarray(x, dtype=np.float32).view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)


def absmax_ok(w, bits=8, axis=None):
    qmax = 2 ** (bits - 1) - 1
    a = np.max(np.abs(w), axis=axis, keepdims=True)
    s = np.where(a > 0, a / qmax, 1.0).astype(np.float32)
    return np.clip(np.round(w / s), -qmax, qmax).astype(np.int8), s


def absmax_trunc(w, bits=8, axis=None):
    q, s = absmax_ok(w, bits, axis)
    return np.trunc(w / s).astype(np.int8), s


def asym_ok(w, bits=8, lo=None, hi=None):
    qmax = 2**bits - 1
    lo = min(float(np.min(w)) if lo is None else lo, 0.0)
    hi = max(float(np.max(w)) if hi is None else hi, 0.0)
    s = (hi - lo) / qmax if hi > lo else 1.0
    z = int(round(-lo / s))
    return np.clip(np.round(w / s) + z, 0, qmax).astype(np.uint8), s, z


def deq_ok(q, s, z):
    return ((q.astype(np.float32) - z) * s).astype(np.float32)


def group_ok(w, g, bits=4):
    K, N = w.shape
    if K % g:
        raise ValueError("g")
    q, s = absmax_ok(w.reshape(K // g, g, N), bits, axis=1)
    return q.reshape(K, N), s[:, 0]


def sqnr_ok(x, xh):
    n = np.sum((np.asarray(x) - xh) ** 2)
    return float("inf") if n == 0 else float(10 * np.log10(np.sum(np.asarray(x) ** 2) / n))


def calib_ok(calib, bits, method="percentile", pct=99.9, n_grid=100, *, absmax=None, pct_of=None,
             clamp=True, tie_last=False, scale=False):
    x = np.asarray(calib, dtype=np.float64).ravel()
    amax = np.max(np.abs(x)) if absmax is None else absmax(x)
    if method == "absmax":
        return float(amax)
    if method == "percentile":
        return float(np.percentile(np.abs(x) if pct_of is None else pct_of(x), pct))
    qmax = 2 ** (bits - 1) - 1
    cands = amax * np.arange(1, n_grid + 1) / n_grid
    errs = []
    for c in cands:
        q = np.round(x / (c / qmax))
        errs.append(np.mean((x - (np.clip(q, -qmax, qmax) if clamp else q) * (c / qmax)) ** 2))
    errs = np.array(errs)
    k = len(errs) - 1 - np.argmin(errs[::-1]) if tie_last else np.argmin(errs)
    return float(cands[k] / qmax if scale else cands[k])


def gemv_ok(wq, s, x):
    return (wq.astype(np.float32) @ x) * s


def pack_ok(q):
    u = (q.astype(np.int16) & 15).astype(np.uint8)
    return u[:, 0::2] | (u[:, 1::2] << 4)


def unpack_ok(p):
    lo, hi = (p & 15).astype(np.int16), (p >> 4).astype(np.int16)
    lo, hi = np.where(lo > 7, lo - 16, lo), np.where(hi > 7, hi - 16, hi)
    return np.stack([lo, hi], -1).reshape(p.shape[0], -1).astype(np.int8)


def int4_ok(p, s, x, g):
    q = unpack_ok(p).astype(np.float32)
    return (q * np.repeat(s, g, axis=1)) @ x


def w8a8_ok(x, wq, ws):
    qx, sx = absmax_ok(x, 8, axis=1)
    return ((qx.astype(np.int32) @ wq.astype(np.int32)) * sx * ws).astype(np.float32)


def split_ok(x, w, thr):
    out = np.abs(x).max(axis=0) > thr
    y = x[:, out] @ w[out]
    if (~out).any():
        wq, ws = absmax_ok(w[~out], 8, axis=0)
        y = y + w8a8_ok(x[:, ~out], wq, ws)
    return y.astype(np.float32)


def test_correct_functions_pass(capsys):
    qc.round_to_bf16(bf16_ok)
    qc.quantize_absmax(absmax_ok)
    qc.quantize_asymmetric(asym_ok, deq_ok)
    qc.quantize_groupwise(group_ok)
    qc.sqnr_db(sqnr_ok)
    qc.calibrate_clip(calib_ok)
    qc.int8_gemv(gemv_ok)
    qc.pack_int4(pack_ok, unpack_ok)
    qc.int4_gemv(int4_ok)
    qc.w8a8_linear(w8a8_ok)
    qc.outlier_split_linear(split_ok)
    out = capsys.readouterr().out
    assert out.count("✔") == 12


@pytest.mark.parametrize(("check", "fns", "needle"), [
    (qc.round_to_bf16, (bf16_trunc,), "truncating"),
    (qc.quantize_absmax, (absmax_trunc,), "per tensor"),
    (qc.quantize_asymmetric, (lambda w, bits=8, lo=None, hi=None: asym_ok(w, bits, lo, hi)[:2] + (1.5,), deq_ok),
     "zero_point must be an integer"),
    (qc.quantize_asymmetric, (asym_ok, lambda q, s, z: (q - np.uint8(z)) * np.float32(s)), "wrap"),
    (qc.quantize_groupwise, (lambda w, g, bits=4: group_ok(w, g, bits) if w.shape[0] % g == 0 else (None, None),),
     "ValueError"),
    (qc.sqnr_db, (lambda x, xh: 2 * sqnr_ok(x, xh),), "20 dB"),
    (qc.calibrate_clip, (lambda *a, **k: calib_ok(*a, **k, absmax=np.max),), "absmax of [0.5, -3, 2]"),
    (qc.calibrate_clip, (lambda *a, **k: calib_ok(*a, **k, pct_of=lambda x: x),), "90th percentile"),
    (qc.calibrate_clip, (lambda *a, **k: calib_ok(*a, **k, clamp=False),), "mse, 3 bits"),
    (qc.calibrate_clip, (lambda *a, **k: calib_ok(*a, **k, scale=True),), "not the scale"),
    (qc.calibrate_clip, (lambda *a, **k: calib_ok(*a, **k, tie_last=True),), "tie"),
    (qc.calibrate_clip, (lambda *a, **k: np.array([calib_ok(*a, **k)]),), "wrong shape"),
    (qc.calibrate_clip, (lambda *a, **k: float("nan"),), "NaN"),
    (qc.calibrate_clip, (lambda c, *a, **k: calib_ok(np.abs(c, out=c), *a, **k),), "modified its input"),
    (qc.int8_gemv, (lambda wq, s, x: wq.astype(np.float32) @ (x * s[: x.size] if s.size >= x.size else x),),
     "scales"),
    (qc.pack_int4, (lambda q: pack_ok(q[:, ::-1])[:, ::-1], unpack_ok), "nibble"),
    (qc.int4_gemv, (lambda p, s, x, g: int4_ok(p, s, x, g)[:1],), "shape"),
    (qc.w8a8_linear, (lambda x, wq, ws: ((absmax_ok(x, 8, 1)[0] @ wq) * absmax_ok(x, 8, 1)[1] * ws),), "2 tokens"),
    (qc.outlier_split_linear, (lambda x, w, t: np.full((x.shape[0], w.shape[1]), np.nan, dtype=np.float32),), "NaN"),
])
def test_wrong_functions_fail_naming_the_case(check, fns, needle):
    with pytest.raises(CheckFailed) as err:
        check(*fns)
    assert needle in str(err.value)


def test_exception_and_not_implemented_are_reported():
    def boom(*args):
        raise RuntimeError("kaboom")

    def todo(*args):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="kaboom"):
        qc.int8_gemv(boom)
    with pytest.raises(CheckFailed, match="not implemented"):
        qc.sqnr_db(todo)
    with pytest.raises(CheckFailed, match="expected a ValueError, got RuntimeError"):
        qc.quantize_groupwise(lambda w, g, bits=4: group_ok(w, g) if g == 2 else boom())


def test_quantize_linear_weights_check_catches_wrong_axis_and_in_place():
    rng = np.random.default_rng(0)
    params = {"a.w": rng.standard_normal((8, 6)).astype(np.float32), "emb": np.ones((3, 2), dtype=np.float32)}
    names = ["a.w"]

    def ok(p, bits, group_size=None):
        out = dict(p)
        q, s = absmax_ok(p["a.w"], bits, axis=0)
        out["a.w"] = (q * s).astype(np.float32)
        return out

    def rows(p, bits, group_size=None):
        out = dict(p)
        q, s = absmax_ok(p["a.w"], bits, axis=1)
        out["a.w"] = (q * s).astype(np.float32)
        return out

    def in_place(p, bits, group_size=None):
        p["a.w"][...] = ok(p, bits)["a.w"]
        return p

    qc.quantize_linear_weights(ok, params, names)
    with pytest.raises(CheckFailed, match="wrong axis"):
        qc.quantize_linear_weights(rows, params, names)
    with pytest.raises(CheckFailed, match="modified"):
        qc.quantize_linear_weights(in_place, {k: v.copy() for k, v in params.items()}, names)
