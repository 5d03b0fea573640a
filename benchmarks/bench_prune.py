"""Sparse GEMV with cold weights against NumPy fp32 (OpenBLAS), and a decode step of the FFN-pruned course GPT.

Records (value = achieved GB/s of weight bytes read, ratio = speed-up over the NumPy fp32 GEMV of the same
shape measured in the same interleaved rounds, limit = this run's measured read bandwidth):

    csr_matvec_4096_s90          CSR, fp32 values, int32 column indices, 90% sparsity (issue target >= 3.5x)
    csr16_matvec_4096_s90        the same with int16 column indices (K = 4096 fits)
    csr_crossover_sparsity_4096  value = the sparsity (%) where CSR (int32) matches dense, interpolated between
                                 measured sparsities; no ratio
    sparse24_matvec_4096         2:4, fp32 values + one metadata byte per group (target >= 1.4x)
    sparse24_int8_matvec_4096    2:4, int8 values with per-row scales + metadata (target >= 4.0x)
    structured_ffn50_decode      value = seconds per decode step of the course GPT with half of every layer's
                                 FFN neurons removed; ratio = full model's time / pruned model's time

Every record carries the CPU features it ran on (`cpu_features`). The bytes bounds in the notes are dense
bytes / sparse bytes: CSR 4 / (8 (1 - s)) with int32 indices, 2:4 fp32 4 / 2.25, 2:4 int8 4 / 0.75 (+ scales).
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from llmcourse import bench, env

COLD_BYTES = 256 * 2**20
SETTLE = 0.15
BURST = 10
SPARSITIES = (0.5, 0.7, 0.8, 0.9, 0.95)


@njit(parallel=True, fastmath=True, cache=True)
def read_sum(a):
    """Sum of a float32 array: one parallel read of every byte."""
    s = np.float32(0.0)
    for i in prange(a.size):
        s += a[i]
    return s


@njit(parallel=True, fastmath=True, cache=True)
def csr_matvec(data, indices, indptr, x):
    """y (N,) = CSR (data float32, indices int32 or int16, indptr int64 (N+1,)) @ x."""
    N = indptr.shape[0] - 1
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        acc = np.float32(0.0)
        for j in range(indptr[n], indptr[n + 1]):
            acc += data[j] * x[np.int64(indices[j])]
        y[n] = acc
    return y


@njit(parallel=True, fastmath=True, cache=True)
def sparse24_matvec(values, meta, x):
    """y (N,) = 2:4 matrix (values (N, K//2) float32, meta (N, K//4) uint8 = i0 | i1 << 2) @ x."""
    N, G = meta.shape
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        vr = values[n]
        mr = meta[n]
        acc0 = np.float32(0.0)
        acc1 = np.float32(0.0)
        for g in range(G):
            m = np.int32(mr[g])
            xg = x[4 * g:4 * g + 4]
            acc0 += vr[2 * g] * xg[m & 3]
            acc1 += vr[2 * g + 1] * xg[m >> 2]
        y[n] = acc0 + acc1
    return y


@njit(parallel=True, fastmath=True, cache=True)
def sparse24_int8_matvec(qvalues, scales, meta, x):
    """y (N,) = scales[n] * (2:4 matrix with int8 values (N, K//2)) @ x."""
    N, G = meta.shape
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        vr = qvalues[n]
        mr = meta[n]
        acc0 = np.float32(0.0)
        acc1 = np.float32(0.0)
        for g in range(G):
            m = np.int32(mr[g])
            xg = x[4 * g:4 * g + 4]
            acc0 += np.float32(vr[2 * g]) * xg[m & 3]
            acc1 += np.float32(vr[2 * g + 1]) * xg[m >> 2]
        y[n] = (acc0 + acc1) * scales[n]
    return y


def read_bandwidth(quick: bool) -> float:
    """GB/s of a parallel read of a large float32 array (median of repeats)."""
    a = np.ones((2**20 if quick else COLD_BYTES // 4,), dtype=np.float32)
    read_sum(a)
    return a.nbytes / bench.time_fn(lambda: read_sum(a), repeat=5 if quick else 15).median / 1e9


def _rotating(fn, copies: list):
    state = [0]

    def call():
        state[0] = (state[0] + 1) % len(copies)
        return fn(*copies[state[0]])
    return call


def _copies(arrays: tuple, quick: bool) -> list[tuple]:
    """The arrays plus separate copies, more than COLD_BYTES in total (2 in quick mode)."""
    nbytes = sum(a.nbytes for a in arrays)
    n = 2 if quick else max(2, -(-COLD_BYTES // nbytes))
    return [arrays] + [tuple(a.copy() for a in arrays) for _ in range(n - 1)]


def _csr(rng: np.random.Generator, N: int, s: float, index_dtype) -> tuple:
    keep = rng.random((N, N), dtype=np.float32) >= s  # (N, K) each weight kept with probability 1 - s
    rows, cols = np.nonzero(keep)
    indptr = np.zeros(N + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(rows, minlength=N))
    return rng.standard_normal(rows.size, dtype=np.float32), cols.astype(index_dtype), indptr


def _check(y: np.ndarray, ref: np.ndarray, what: str) -> None:
    err = np.abs(y - ref).max() / np.abs(ref).max()
    if not err < 1e-4:
        raise AssertionError(f"{what}: relative error {err:.2e} against the dense reference")


def _record(name: str, nbytes: int, seconds: float, ratio: float, bandwidth: float, **extra) -> dict:
    gbs = nbytes / seconds / 1e9
    return {"name": name, "value": gbs, "unit": "GB/s", "baseline": "numpy fp32 GEMV, cold weights",
            "ratio": ratio, "limit": bandwidth, "pct_of_limit": 100 * gbs / bandwidth, "seconds": seconds, **extra}


def _sparse_gemv(N: int, quick: bool, bandwidth: float) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(N, dtype=np.float32)
    dense = _copies((rng.standard_normal((N, N), dtype=np.float32),), quick)
    dense_fn = _rotating(lambda w: w @ x, dense)
    rounds = 3 if quick else 15
    opts = dict(rounds=rounds, warmup=2, number=1 if quick else BURST, prime=0 if quick else 1,
                settle=0 if quick else SETTLE, baseline="dense")
    out, sweep = [], []
    for s in SPARSITIES:
        variants, nbytes, csr32 = {"dense": dense_fn}, {}, _csr(rng, N, s, np.int32)
        ref = np.zeros(N)
        rows = np.repeat(np.arange(N), np.diff(csr32[2]))
        np.add.at(ref, rows, csr32[0].astype(np.float64) * x[csr32[1]])
        _check(csr_matvec(*csr32, x), ref, f"CSR at {s}")
        variants["csr32"] = _rotating(lambda d, i, p: csr_matvec(d, i, p, x), _copies(csr32, quick))
        nbytes["csr32"] = sum(a.nbytes for a in csr32)
        if s == 0.9:
            csr16 = (csr32[0], csr32[1].astype(np.int16), csr32[2])
            _check(csr_matvec(*csr16, x), ref, "CSR int16")
            variants["csr16"] = _rotating(lambda d, i, p: csr_matvec(d, i, p, x), _copies(csr16, quick))
            nbytes["csr16"] = sum(a.nbytes for a in csr16)
        cmp = bench.compare(variants, **opts)
        sweep.append((s, cmp.ratio("csr32")))
        if s == 0.9:
            for v, name in (("csr32", "csr_matvec_4096_s90"), ("csr16", "csr16_matvec_4096_s90")):
                out.append(_record(name, nbytes[v], cmp.timings[v].median, cmp.ratio(v), bandwidth,
                                   bytes_bound=4 * N * N / nbytes[v]))
        variants = cmp = csr32 = None
    pairs = list(zip(sweep, sweep[1:], strict=False))
    crossover = next((s0 + (1 - r0) * (s1 - s0) / (r1 - r0) for (s0, r0), (s1, r1) in pairs if r0 < 1 <= r1), None)
    if crossover is None:  # not bracketed: report the end of the sweep it lies beyond
        crossover = SPARSITIES[0] if sweep[0][1] >= 1 else 1.0
    out.append({"name": "csr_crossover_sparsity_4096", "value": 100 * crossover, "unit": "% sparsity",
                "baseline": None, "ratio": None, "limit": None, "pct_of_limit": None,
                "bracketed": any(r0 < 1 <= r1 for (_, r0), (_, r1) in pairs),
                "sweep": [{"sparsity": s, "ratio": r} for s, r in sweep]})
    # 2:4, fp32 and int8 values, one metadata byte per group
    w = rng.standard_normal((N, N), dtype=np.float32)
    g = np.abs(w).reshape(N, N // 4, 4)
    pos = np.sort(np.argsort(-g, axis=-1, kind="stable")[..., :2], axis=-1)  # (N, G, 2) kept positions
    values = np.take_along_axis(w.reshape(N, N // 4, 4), pos, -1).reshape(N, N // 2)
    meta = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8)
    dense24 = np.zeros((N, N // 4, 4), dtype=np.float32)
    np.put_along_axis(dense24, pos, values.reshape(N, N // 4, 2), -1)
    ref = dense24.reshape(N, N).astype(np.float64) @ x
    dense24 = w = g = None
    _check(sparse24_matvec(values, meta, x), ref, "2:4 fp32")
    scales = (np.abs(values).max(axis=1) / 127).astype(np.float32)
    qv = np.round(values / scales[:, None]).astype(np.int8)
    ref8 = (qv.astype(np.float64) * scales[:, None]).reshape(N, N // 4, 2)
    d8 = np.zeros((N, N // 4, 4))
    np.put_along_axis(d8, pos, ref8, -1)
    _check(sparse24_int8_matvec(qv, scales, meta, x), d8.reshape(N, N) @ x, "2:4 int8")
    d8 = ref8 = None
    variants = {"dense": dense_fn,
                "24fp32": _rotating(lambda v, m: sparse24_matvec(v, m, x), _copies((values, meta), quick)),
                "24int8": _rotating(lambda q, sc, m: sparse24_int8_matvec(q, sc, m, x),
                                    _copies((qv, scales, meta), quick))}
    nbytes = {"24fp32": values.nbytes + meta.nbytes, "24int8": qv.nbytes + scales.nbytes + meta.nbytes}
    cmp = bench.compare(variants, **opts)
    for v, name in (("24fp32", "sparse24_matvec_4096"), ("24int8", "sparse24_int8_matvec_4096")):
        out.append(_record(name, nbytes[v], cmp.timings[v].median, cmp.ratio(v), bandwidth,
                           bytes_bound=4 * N * N / nbytes[v]))
    dense_gbs = 4 * N * N / cmp.timings["dense"].median / 1e9
    for r in out:
        r["dense_gbs"] = dense_gbs
    return out


def _decode_step_fn(p: dict, cfg: dict, T_ctx: int):
    """A no-argument function running one decode step (one new token, KV cache of T_ctx positions) in NumPy."""
    rng = np.random.default_rng(1)
    C, H = cfg["d_model"], cfg["n_head"]
    d = C // H
    caches = [(rng.standard_normal((H, T_ctx, d), dtype=np.float32),
               rng.standard_normal((H, T_ctx, d), dtype=np.float32)) for _ in range(cfg["n_layer"])]
    x0 = p["tok_emb"][5] + p["pos_emb"][T_ctx]

    def ln(x, g, b):
        mu = x.mean()
        return (x - mu) / np.sqrt(((x - mu) ** 2).mean() + 1e-5) * g + b

    def step():
        x = x0
        for i, (kc, vc) in enumerate(caches):
            b = f"blocks.{i}."
            h = ln(x, p[b + "ln1.weight"], p[b + "ln1.bias"])
            q, k, v = np.split(h @ p[b + "attn.w_qkv"] + p[b + "attn.b_qkv"], 3)
            s = np.concatenate([kc @ q.reshape(H, d, 1), (k * q).reshape(H, d).sum(-1)[:, None, None]], axis=1)[..., 0]
            a = np.exp(s / np.sqrt(d) - (s / np.sqrt(d)).max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            y = (a[:, :-1, None] * vc).sum(1) + a[:, -1:] * v.reshape(H, d)
            x = x + y.reshape(C) @ p[b + "attn.w_out"] + p[b + "attn.b_out"]
            u = ln(x, p[b + "ln2.weight"], p[b + "ln2.bias"]) @ p[b + "mlp.w_in"] + p[b + "mlp.b_in"]
            u = 0.5 * u * (1 + np.tanh(0.7978845608 * (u + 0.044715 * u * u * u)))
            x = x + u @ p[b + "mlp.w_out"] + p[b + "mlp.b_out"]
        return ln(x, p["ln_f.weight"], p["ln_f.bias"]) @ p["head.w"] + p["head.b"]
    return step


def _structured_decode(quick: bool) -> dict:
    from llmcourse.model import load_numpy

    cfg, p = load_numpy()
    half = dict(p)
    for i in range(cfg["n_layer"]):
        b = f"blocks.{i}.mlp."
        score = np.linalg.norm(p[b + "w_in"], axis=0) * np.linalg.norm(p[b + "w_out"], axis=1)
        keep = np.sort(np.argsort(score)[cfg["d_ff"] // 2:])
        # column selection returns a Fortran-ordered array; keep the layout of the full model (C order)
        half[b + "w_in"], half[b + "b_in"] = np.ascontiguousarray(p[b + "w_in"][:, keep]), p[b + "b_in"][keep]
        half[b + "w_out"] = p[b + "w_out"][keep]
    T_ctx = 64
    cmp = bench.compare({"full": _decode_step_fn(p, cfg, T_ctx), "ffn50": _decode_step_fn(half, cfg, T_ctx)},
                        rounds=3 if quick else 25, warmup=5, number=5 if quick else 50, baseline="full")
    return {"name": "structured_ffn50_decode", "value": cmp.timings["ffn50"].median, "unit": "s/token",
            "baseline": "the same NumPy decode step with all FFN neurons", "ratio": cmp.ratio("ffn50"),
            "limit": None, "pct_of_limit": None, "full_seconds": cmp.timings["full"].median,
            "context": T_ctx, "prunable_bytes_ratio": 786432 / (786432 - 4 * 2 * 128 * 256)}


def run(quick: bool) -> list[dict]:
    """Benchmark records; quick=True uses tiny sizes (plumbing and correctness only)."""
    start = time.perf_counter()
    bandwidth = read_bandwidth(quick)
    records = _sparse_gemv(256 if quick else 4096, quick, bandwidth)
    records.append(_structured_decode(quick))
    features = env.cpu_features()
    for r in records:
        r["seconds_total"] = time.perf_counter() - start
        r["quick"] = quick
        r["cpu_features"] = features
    return records
