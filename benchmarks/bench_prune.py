"""Sparse GEMV with cold weights against NumPy fp32 (OpenBLAS), and a decode step of the FFN-pruned course GPT.

Records (value = achieved GB/s of weight bytes read, ratio = speed-up over the NumPy fp32 GEMV of the same
shape measured in the same interleaved rounds, limit = this run's measured read bandwidth):

    csr_matvec_4096_s90          CSR, fp32 values, int32 column indices, 90% sparsity (issue target >= 3.5x)
    csr16_matvec_4096_s90        the same with uint16 column indices (K = 4096 fits; any K <= 65536 would)
    csr_crossover_sparsity_4096  value = the sparsity (%) where CSR (int32) matches dense, interpolated between
                                 measured sparsities; no ratio
    sparse24_matvec_4096         2:4, fp32 values + 4-bit code per group (pack24's layout; target >= 1.4x)
    sparse24_int8_matvec_4096    2:4, int8 values with per-row scales + codes (target >= 4.0x)
    structured_ffn50_decode      value = seconds per decode step of the course GPT with half of every layer's
                                 FFN neurons removed; ratio = full model's time / pruned model's time

Every record carries the CPU features it ran on (`cpu_features`), and each GEMV record `bytes_bound` = dense
fp32 bytes / the bytes its format holds, computed from the arrays it timed (indptr and scales included): at 90%
sparsity CSR 4 / (0.1 (4 + 4)) = 5.0x with int32 indices and 4 / (0.1 (4 + 2)) = 6.7x with uint16; 2:4 per group
of 4 weights 16 / (8 + 0.5) = 1.88x with fp32 values and 16 / (2 + 0.5) = 6.4x with int8 (less the scales).
`kernel` names the kernel's design and `ratio_spread` the spread of the per-round ratios.

Kernel variants measured side by side (one process, round-robin bursts, 4096 x 4096 cold, medians of per-round
ratios over dense NumPy fp32, 15 rounds; 2 shared vCPUs with AVX-512 under other users' load: indicative only).
One thread each (OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1), the steadiest setting under that load:
    CSR 90%: the first kernel (one row per pass, signed indices) int32 0.66x, int16 0.83x; this kernel (slice
    views, unsigned indices) int32 4.10x, uint16 4.31x. Numba's check for negative indices kept LLVM from
    emitting a gather; without it the loop is vgatherdps (uint16) / vgatherqps (uint32, 64-bit lanes).
    16 rows per prange task instead of one: no faster (two threads, the same median time, 1.07 ms).
    2:4 fp32: first kernel (pairs interleaved, a byte per group, one row) 0.85x; planar values with one code
    byte per group and float decode, two rows 1.13x; codes two per byte, one row 1.09x; the kernel here 1.14x.
    2:4 int8: first kernel 0.87x; planar, integer decode (& 3, >> 2: 64-bit lanes), two rows 2.10x; float
    decode, one code byte per group, two rows 2.36x; codes two per byte, one row 2.89x; the kernel here 3.42x.
    Two threads (the records' setting; `python -m benchmarks prune` in a lighter spell of load, dense at 37 GB/s,
    89% of the probe): CSR int32 2.12x, uint16 3.03x, crossover 71%, 2:4 fp32 1.18x, 2:4 int8 3.46x; the old
    kernels side by side in another run: CSR int32 0.88x and int16 1.14x against these kernels' 3.04x and 3.11x.
What limits them: one thread of these Numba kernels streams 20-27 GB/s where OpenBLAS's dense GEMV streams ~31,
so each reaches 0.54-0.82 of its bytes bound (CSR int32 4.10 / 4.99, 2:4 int8 3.42 / 6.39). That caps 2:4 fp32
near 1.2x (bound 1.88x); CSR uint16 is bound by its gathers (21.6 GB/s, against 26.6 for int32 at the same
count of non-zeros). With two threads on a host where another
process holds a core, every variant (dense included) takes a scheduler time slice per call and the ratios
collapse towards 1x: read `ratio_spread` before believing a two-thread record from a loaded machine.
"""

from __future__ import annotations

import time

import numpy as np
from numba import njit, prange

from llmcourse import bench, env

from .bench_quant import COLD_BYTES, read_bandwidth
from .bench_quant import _rotating_args as _rotating

SETTLE = 0.15
BURST = 10
SPARSITIES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
KERNEL_CSR = "row per prange step, slice views, unsigned column indices (vector gather of x)"
KERNEL_24 = ("pack24: values as two contiguous planes, 4-bit codes two per byte, x as four planes picked by "
             "float compares; two rows per pass")


@njit(parallel=True, fastmath=True, cache=True)
def _csr_kernel(data, indices, indptr, x):
    """CSR matvec; indices unsigned (uint32 or uint16), so an index needs no negative-wraparound select."""
    N = indptr.shape[0] - 1
    y = np.empty(N, dtype=np.float32)
    for n in prange(N):
        lo, hi = indptr[n], indptr[n + 1]
        d = data[lo:hi]  # views taken before the loop: one offset per stream, and LLVM emits a gather of x
        ix = indices[lo:hi]
        acc = np.float32(0.0)
        for j in range(hi - lo):
            acc += d[j] * x[ix[j]]
        y[n] = acc
    return y


def csr_matvec(data, indices, indptr, x):
    """y (N,) = CSR (data float32, indices int32/uint32/int16/uint16, indptr int64 (N+1,)) @ x.

    Column indices are non-negative, so signed ones are read as the unsigned type of the same width (the same
    bytes, no copy): Numba then drops the check for negative indices that it adds to every signed index, and the
    inner loop becomes vector gathers. With int32 indices the gather still takes 64-bit lanes (LLVM widens a
    uint32 index); 16-bit indices give 32-bit lanes and a third fewer bytes."""
    if indices.dtype.kind == "i":
        indices = indices.view(np.dtype(f"u{indices.dtype.itemsize}"))
    return _csr_kernel(data, indices, indptr, x)


# --- 2:4 ----------------------------------------------------------------------------------------------------
# Layout (pack24): for each row n and group g of 4 inputs, the kept positions i0 < i1 (0..3) give a 4-bit code
# c = i0 | i1 << 2. values (N, 2, G): values[n, 0, g] is the weight at 4g + i0 and values[n, 1, g] the one at
# 4g + i1 (two contiguous streams, not interleaved pairs). meta (N, G // 2) uint8: byte j holds group j's code
# in its low nibble and group j + G/2's in its high nibble, so one byte load serves two groups whose x and value
# streams are both contiguous. The kernel turns a byte into float32 and splits it with a floor (as the int4
# kernels of benchmarks/kernels_quant.py do), then picks x[4g + i0] and x[4g + i1] with float compares and
# selects from x stored as four planes x[4g + p] (p = 0..3, made once per call): all lanes are 32-bit, so
# the loop vectorises with no gather. Integer decoding of the code (& 3, >> 2) was widened to 64-bit lanes.
# Two output rows share each pass (each x-plane load serves both).


def pack24(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the 2 largest |w| of every 4 consecutive inputs (ties: the earlier position); (values, meta) as above.

    w (N, K) float32 with K a multiple of 8 -> values (N, 2, K // 4) float32, meta (N, K // 8) uint8."""
    N, K = w.shape
    if K % 8:
        raise ValueError(f"pack24 needs K to be a multiple of 8 (two 4-groups per metadata byte), got K = {K}")
    G = K // 4
    wg = w.reshape(N, G, 4)
    pos = np.sort(np.argsort(-np.abs(wg), axis=-1, kind="stable")[..., :2], axis=-1)  # (N, G, 2) kept positions
    values = np.ascontiguousarray(np.take_along_axis(wg, pos, -1).transpose(0, 2, 1), dtype=np.float32)
    code = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8)
    return values, pack_meta(code)


def pack_meta(code: np.ndarray) -> np.ndarray:
    """code (N, G) uint8 = i0 | i1 << 2 per group, G even -> (N, G // 2) uint8 nibble pairs (group j, j + G/2)."""
    H = code.shape[1] // 2
    return (code[:, :H] | (code[:, H:] << 4)).astype(np.uint8)


def unpack24(values: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """The dense (N, K) float64 matrix of a pack24 layout (values may be int8: multiply by scales after)."""
    N, _, G = values.shape
    code = np.concatenate([meta & 15, meta >> 4], axis=1).astype(np.int64)  # (N, G)
    pos = np.stack([code & 3, code >> 2], axis=-1)  # (N, G, 2)
    dense = np.zeros((N, G, 4))
    np.put_along_axis(dense, pos, values.transpose(0, 2, 1).astype(np.float64), -1)
    return dense.reshape(N, 4 * G)


@njit(inline="always", fastmath=True)
def _pick24(c, x0, x1, x2, x3):
    """(x[i0], x[i1]) of one group from its code c = i0 + 4 i1 as float32 (i0 < i1, so i0 <= 2 and i1 >= 1)."""
    ge12 = c >= np.float32(12.0)
    ge8 = c >= np.float32(8.0)
    xb = x3 if ge12 else (x2 if ge8 else x1)
    i0 = c - (np.float32(12.0) if ge12 else (np.float32(8.0) if ge8 else np.float32(4.0)))
    xa = x0 if i0 == np.float32(0.0) else (x1 if i0 == np.float32(1.0) else x2)
    return xa, xb


@njit(inline="always", fastmath=True)
def _row24(v, m, n, xl0, xl1, xl2, xl3, xh0, xh1, xh2, xh3, H):
    """Unscaled dot product of row n with x (pack24 layout): one row alone (the odd last row)."""
    a, b, a2, b2, mr = v[n, 0, :H], v[n, 1, :H], v[n, 0, H:], v[n, 1, H:], m[n]
    acc = np.float32(0.0)
    for j in range(H):
        f = np.float32(mr[j])
        fh = np.floor(f * np.float32(0.0625))
        xa, xb = _pick24(f - np.float32(16.0) * fh, xl0[j], xl1[j], xl2[j], xl3[j])
        ya, yb = _pick24(fh, xh0[j], xh1[j], xh2[j], xh3[j])
        acc += np.float32(a[j]) * xa + np.float32(b[j]) * xb + np.float32(a2[j]) * ya + np.float32(b2[j]) * yb
    return acc


@njit(parallel=True, fastmath=True, cache=True)
def _sparse24_kernel(v, m, x, scales):
    """y[n] = scales[n] * (row n of the pack24 layout (values v float32 or int8) @ x); two rows per pass."""
    N, H = m.shape
    G = 2 * H
    xp = np.ascontiguousarray(x.reshape(G, 4).T)  # (4, G): plane p holds x[4g + p]
    xl0, xl1, xl2, xl3 = xp[0, :H], xp[1, :H], xp[2, :H], xp[3, :H]  # groups 0 .. H-1 (low nibbles)
    xh0, xh1, xh2, xh3 = xp[0, H:], xp[1, H:], xp[2, H:], xp[3, H:]  # groups H .. G-1 (high nibbles)
    y = np.empty(N, dtype=np.float32)
    for blk in prange(N // 2):
        r = 2 * blk
        a, b, a2, b2, mr = v[r, 0, :H], v[r, 1, :H], v[r, 0, H:], v[r, 1, H:], m[r]
        c, d, c2, d2, qr = v[r + 1, 0, :H], v[r + 1, 1, :H], v[r + 1, 0, H:], v[r + 1, 1, H:], m[r + 1]
        acc0 = np.float32(0.0)
        acc1 = np.float32(0.0)
        for j in range(H):
            l0, l1, l2, l3 = xl0[j], xl1[j], xl2[j], xl3[j]
            h0, h1, h2, h3 = xh0[j], xh1[j], xh2[j], xh3[j]
            f = np.float32(mr[j])
            fh = np.floor(f * np.float32(0.0625))
            xa, xb = _pick24(f - np.float32(16.0) * fh, l0, l1, l2, l3)
            ya, yb = _pick24(fh, h0, h1, h2, h3)
            acc0 += np.float32(a[j]) * xa + np.float32(b[j]) * xb + np.float32(a2[j]) * ya + np.float32(b2[j]) * yb
            f = np.float32(qr[j])
            fh = np.floor(f * np.float32(0.0625))
            xa, xb = _pick24(f - np.float32(16.0) * fh, l0, l1, l2, l3)
            ya, yb = _pick24(fh, h0, h1, h2, h3)
            acc1 += np.float32(c[j]) * xa + np.float32(d[j]) * xb + np.float32(c2[j]) * ya + np.float32(d2[j]) * yb
        y[r] = acc0 * scales[r]
        y[r + 1] = acc1 * scales[r + 1]
    if N % 2:
        y[N - 1] = _row24(v, m, N - 1, xl0, xl1, xl2, xl3, xh0, xh1, xh2, xh3, H) * scales[N - 1]
    return y


def sparse24_matvec(values, meta, x):
    """y (N,) = 2:4 matrix in pack24's layout (values (N, 2, K//4) float32, meta (N, K//8) uint8) @ x (K,)."""
    return _sparse24_kernel(values, meta, x, np.ones(values.shape[0], dtype=np.float32))


def sparse24_int8_matvec(qvalues, scales, meta, x):
    """y (N,) = scales[n] * (2:4 matrix with int8 values (N, 2, K//4) in pack24's layout) @ x."""
    return _sparse24_kernel(qvalues, meta, x, scales)


def quantize_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per output row: (q int8 like values, scales (N,) float32); an all-zero row gets scale 1."""
    amax = np.abs(values).reshape(values.shape[0], -1).max(axis=1)
    scales = np.where(amax > 0, amax / 127, 1).astype(np.float32)
    q = np.round(values / scales.reshape((-1,) + (1,) * (values.ndim - 1))).astype(np.int8)
    return q, scales


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
            csr16 = (csr32[0], csr32[1].astype(np.uint16), csr32[2])
            _check(csr_matvec(*csr16, x), ref, "CSR uint16")
            variants["csr16"] = _rotating(lambda d, i, p: csr_matvec(d, i, p, x), _copies(csr16, quick))
            nbytes["csr16"] = sum(a.nbytes for a in csr16)
        cmp = bench.compare(variants, **opts)
        sweep.append((s, cmp.ratio("csr32")))
        if s == 0.9:
            for v, name in (("csr32", "csr_matvec_4096_s90"), ("csr16", "csr16_matvec_4096_s90")):
                out.append(_record(name, nbytes[v], cmp.timings[v].median, cmp.ratio(v), bandwidth,
                                   bytes_bound=4 * N * N / nbytes[v], kernel=KERNEL_CSR,
                                   index_dtype=("int32" if v == "csr32" else "uint16"),
                                   ratio_spread=cmp.ratio_spread(v)))
        variants = cmp = csr32 = None
    pairs = list(zip(sweep, sweep[1:], strict=False))
    crossover = next((s0 + (1 - r0) * (s1 - s0) / (r1 - r0) for (s0, r0), (s1, r1) in pairs if r0 < 1 <= r1), None)
    if crossover is None:  # not bracketed: report the end of the sweep it lies beyond
        crossover = SPARSITIES[0] if sweep[0][1] >= 1 else 1.0
    out.append({"name": "csr_crossover_sparsity_4096", "value": 100 * crossover, "unit": "% sparsity",
                "baseline": None, "ratio": None, "limit": None, "pct_of_limit": None,
                "bracketed": any(r0 < 1 <= r1 for (_, r0), (_, r1) in pairs),
                "sweep": [{"sparsity": s, "ratio": r} for s, r in sweep]})
    # 2:4, fp32 and int8 values, 4-bit codes two to a metadata byte (pack24's layout)
    values, meta = pack24(rng.standard_normal((N, N), dtype=np.float32))
    _check(sparse24_matvec(values, meta, x), unpack24(values, meta) @ x, "2:4 fp32")
    qv, scales = quantize_rows(values)
    _check(sparse24_int8_matvec(qv, scales, meta, x), (unpack24(qv, meta) * scales[:, None]) @ x, "2:4 int8")
    variants = {"dense": dense_fn,
                "24fp32": _rotating(lambda v, m: sparse24_matvec(v, m, x), _copies((values, meta), quick)),
                "24int8": _rotating(lambda q, sc, m: sparse24_int8_matvec(q, sc, m, x),
                                    _copies((qv, scales, meta), quick))}
    nbytes = {"24fp32": values.nbytes + meta.nbytes, "24int8": qv.nbytes + scales.nbytes + meta.nbytes}
    cmp = bench.compare(variants, **opts)
    for v, name in (("24fp32", "sparse24_matvec_4096"), ("24int8", "sparse24_int8_matvec_4096")):
        out.append(_record(name, nbytes[v], cmp.timings[v].median, cmp.ratio(v), bandwidth,
                           bytes_bound=4 * N * N / nbytes[v], kernel=KERNEL_24, ratio_spread=cmp.ratio_spread(v)))
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
            "context": T_ctx, "prunable_bytes_ratio": _block_weight_bytes(p) / _block_weight_bytes(half)}


def _block_weight_bytes(p: dict) -> int:
    """Bytes of the transformer blocks' weight matrices (what a decode step reads; biases, norms and head aside)."""
    return sum(a.nbytes for k, a in p.items() if k.startswith("blocks.") and a.ndim == 2)


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
