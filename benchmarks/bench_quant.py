"""Quantized GEMV with cold weights against NumPy fp32 (OpenBLAS) and torch's dynamic int8 Linear.

Records (value = achieved GB/s of weight bytes read, ratio = speed-up over the NumPy fp32 GEMV of the
same shape measured in the same interleaved rounds, limit = this run's measured read bandwidth):

    fp32_gemv_4096_numpy, int8_gemv_4096 and int8_gemv_11008x4096 (the int8 kernel dispatched for this CPU:
    field `kernel`), int8_gemv_4096_<name> (each other int8 kernel this code target can run, timed beside it),
    torch_int8_dynamic_4096 and _11008x4096, int4_gemv_4096 (group 128, the dispatched int4 kernel),
    int4_gemv_4096_<name> (each other int4 kernel, timed beside it so that every run checks the dispatch), and
    int8_gemv_4096_hot: the dispatched int8 kernel on one cache-resident copy (no ratio), which shows how far its
    arithmetic alone could go

Every ratio is the median of per-round ratios; `ratio_rounds_min` / `ratio_rounds_max` give the rounds' spread.
The int8 records also carry `vs_torch_fbgemm`: the median per-round speed-up of our kernel over torch's fbgemm
in the same rounds (the target is >= 1; see benchmarks/targets.py). `code_path` says which instruction set the
Numba kernels were compiled for (the machine's, unless NUMBA_CPU_FEATURES overrides it: see
kernels_quant.avx2_numba_env). `python -m benchmarks` runs this module REPEAT times, each in its own process.

"Cold" means each call uses the next of several copies of the matrix, more bytes in total than the
last-level cache (32 MiB on the course machines), as in a decode step where the other layers evict the weights.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from llmcourse import bench

from . import kernels_quant as kq

REPEAT = 3  # runs of this module per `python -m benchmarks` (each in its own process); records give the median
GROUP = 128
COLD_BYTES = 256 * 2**20  # each variant cycles through at least this many bytes of copies
SETTLE = 0.15  # seconds for OpenBLAS / torch spinning threads to go idle between variants
BURST = 20  # calls per timed sample


def _copies(make, nbytes_each: int, quick: bool) -> list:
    """Enough copies of make() to exceed COLD_BYTES (2 in quick mode)."""
    n = 2 if quick else max(2, -(-COLD_BYTES // nbytes_each))
    return [make(i) for i in range(n)]


def _rotating(fn, copies: list):
    state = [0]

    def call():
        state[0] = (state[0] + 1) % len(copies)
        return fn(copies[state[0]])
    return call


def _rotating_args(fn, copies: list):
    """_rotating for copies that are tuples of arrays, each passed to fn as its own argument."""
    return _rotating(lambda arrays: fn(*arrays), copies)


def read_bandwidth(quick: bool) -> float:
    """GB/s of a parallel read of a large float32 array (median of repeats)."""
    a = np.ones((2**20 if quick else COLD_BYTES // 4,), dtype=np.float32)
    kq.read_sum(a)
    return a.nbytes / bench.time_fn(lambda: kq.read_sum(a), repeat=5 if quick else 15).median / 1e9


def _torch_linears(N: int, K: int, copies: int):
    """torch dynamic int8 Linear modules (fbgemm), or None when unavailable."""
    try:
        import torch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mods = []
            for i in range(copies):
                torch.manual_seed(i)
                lin = torch.nn.Sequential(torch.nn.Linear(K, N, bias=False))
                mods.append(torch.ao.quantization.quantize_dynamic(lin, {torch.nn.Linear}, dtype=torch.qint8))
        return torch, mods
    except Exception:  # noqa: BLE001 - no quantized engine on this build
        return None, None


def _record(name: str, nbytes: int, seconds: float, ratio: float, bandwidth: float) -> dict:
    gbs = nbytes / seconds / 1e9
    return {"name": name, "value": gbs, "unit": "GB/s", "baseline": "numpy fp32 GEMV, cold weights",
            "ratio": ratio, "limit": bandwidth, "pct_of_limit": 100 * gbs / bandwidth,
            "limit_is": "read bandwidth measured in this run (parallel sum of 256 MiB), GB/s",
            "seconds": seconds}


def _check(y: np.ndarray, ref: np.ndarray, what: str, tol: float = 1e-4) -> None:
    err = np.abs(y - ref).max() / np.abs(ref).max()
    if not err < tol:
        raise AssertionError(f"{what}: relative error {err:.2e} against the dequantized fp32 reference")


def _gemv_case(N: int, K: int, quick: bool, rounds: int, with_int4: bool, with_torch: bool,
               bandwidth: float, tag: str) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(K, dtype=np.float32)
    w32 = _copies(lambda i: np.random.default_rng(i).standard_normal((N, K), dtype=np.float32), 4 * N * K, quick)
    q8 = _copies(lambda i: (np.random.default_rng(100 + i).integers(-127, 128, (N, K), dtype=np.int8),
                            np.random.default_rng(i).uniform(0.001, 0.01, N).astype(np.float32)), N * K, quick)
    ref8 = (q8[0][0] * q8[0][1][:, None]).astype(np.float64) @ x
    chosen8, gemv8 = kq.int8_kernel()
    laid_out: dict = {}  # kernel -> its copies in its own layout (packed once, as fbgemm packs its weights)

    def copies8(kname: str) -> list:
        if kname not in laid_out:
            pack = kq.int8_packer(kname)
            laid_out[kname] = [(pack(w), s) for w, s in q8]
        return laid_out[kname]
    variants = {"numpy fp32": _rotating(lambda w: w @ x, w32),
                "int8": _rotating(lambda c: gemv8(c[0], c[1], x), copies8(chosen8))}
    nbytes = {"numpy fp32": 4 * N * K, "int8": N * K + 4 * N}
    kernels = {"int8": chosen8}
    for kname in kq.int8_kernels_available():
        _, gemv = kq.int8_kernel(kname)
        # vnni1 rounds x to fbgemm's grid (max|x| / 254): its error is ~100x that of the others
        _check(gemv(copies8(kname)[0][0], q8[0][1], x), ref8, f"int8 ({kname})", 3e-2 if kname == "vnni1" else 1e-4)
        if tag == "4096" and kname != chosen8:  # the others, beside it (diagnostic), at one shape
            variants[f"int8 {kname}"] = _rotating(lambda c, gemv=gemv: gemv(c[0], c[1], x), copies8(kname))
            nbytes[f"int8 {kname}"] = N * K + 4 * N
            kernels[f"int8 {kname}"] = kname
    if tag == "4096":
        # The same kernel on one copy that stays in the last-level cache: how fast it computes when memory is
        # not the limit. If this is well above the bandwidth, the cold kernel is limited by how well its
        # arithmetic overlaps the memory traffic, not by arithmetic alone.
        variants["int8 hot"] = _rotating(lambda c: gemv8(c[0], c[1], x), copies8(chosen8)[:1])
        nbytes["int8 hot"] = N * K + 4 * N
        kernels["int8 hot"] = chosen8
    if with_int4:
        chosen = kq.int4_kernel_name()
        packed: dict = {}  # pack function -> cold copies (floor and floor4 share one layout, so one set of copies)
        for kname in (chosen, *[k for k in kq.int4_kernels_available() if k != chosen]):
            _, pack, gemv = kq.int4_kernel(kname)
            if pack not in packed:
                def make4(i, pack=pack):
                    q = np.random.default_rng(200 + i).integers(-8, 8, (N, K), dtype=np.int8)
                    s = np.random.default_rng(i).uniform(0.01, 0.1, (N, K // GROUP)).astype(np.float32)
                    return pack(q, GROUP), s, (q if i == 0 else None)
                packed[pack] = _copies(make4, N * K // 2, quick)
            q4 = packed[pack]
            ref = (q4[0][2] * np.repeat(q4[0][1], GROUP, axis=1)).astype(np.float64) @ x
            # nib16 rounds x to max|x| / 65534 (int16): its error is a few times that of the fp32 kernels
            _check(gemv(q4[0][0], q4[0][1], x, GROUP), ref, f"int4 ({kname})", 3e-4 if kq.INT4_GRID[kname] else 1e-4)
            label = "int4" if kname == chosen else f"int4 {kname}"
            variants[label] = _rotating(lambda c, gemv=gemv: gemv(c[0], c[1], x, GROUP), q4)
            nbytes[label] = N * K // 2 + 4 * N * K // GROUP
            kernels[label] = kname
    torch = None
    if with_torch:
        torch, mods = _torch_linears(N, K, 2 if quick else max(2, -(-COLD_BYTES // 2 // (N * K))))
        if mods is not None:
            xt = torch.from_numpy(x)[None]

            def run_torch(m):
                with torch.no_grad():
                    return m(xt)
            variants["torch int8 dynamic"] = _rotating(run_torch, mods)
            nbytes["torch int8 dynamic"] = N * K + 4 * N
    # Each sample is a burst of BURST calls (each on the next cold copy) after the settle pause and one untimed
    # call: a single 1-5 ms call right after a pause mostly measures waking the thread pools up.
    cmp = bench.compare(variants, rounds=rounds, warmup=2, number=1 if quick else BURST, prime=0 if quick else 1,
                        settle=0 if quick else SETTLE, baseline="numpy fp32")
    out = []
    names = {"numpy fp32": f"fp32_gemv_{tag}_numpy", "int8": f"int8_gemv_{tag}", "int4": f"int4_gemv_{tag}",
             "torch int8 dynamic": f"torch_int8_dynamic_{tag}", "int8 hot": f"int8_gemv_{tag}_hot",
             **{f"int4 {k}": f"int4_gemv_{tag}_{k}" for k in kq.INT4_NAMES},
             **{f"int8 {k}": f"int8_gemv_{tag}_{k}" for k in kq.INT8_NAMES}}
    for v, t in cmp.timings.items():
        if v == "numpy fp32" and tag != "4096":
            continue
        rec = _record(names[v], nbytes[v], t.median, cmp.ratio(v), bandwidth)
        rounds_spread = cmp.ratio_spread(v)
        rec.update(ratio_rounds_min=rounds_spread["min"], ratio_rounds_max=rounds_spread["max"],
                   rounds=rounds_spread["n"], code_path=kq.numba_code_kind())
        if v in kernels:
            rec["kernel"] = kernels[v]
        if v.startswith("int4 "):
            rec["note"] = f"an int4 kernel not dispatched on this CPU, timed beside {names['int4']} (diagnostic)"
        if v.startswith("int8 ") and v != "int8 hot":
            rec["note"] = f"an int8 kernel not dispatched on this CPU, timed beside {names['int8']} (diagnostic)"
        if kq.INT8_GRID.get(rec.get("kernel")):
            rec["x_quantized"] = f"per call: |error of x| <= max|x| / {kq.INT8_GRID[rec['kernel']]}"
        if v.startswith("int8") and v != "int8 hot" and "torch int8 dynamic" in cmp.timings:
            vs = cmp.ratio_spread(v, baseline="torch int8 dynamic")
            rec.update(vs_torch_fbgemm=vs["median"], vs_torch_fbgemm_rounds_min=vs["min"],
                       vs_torch_fbgemm_rounds_max=vs["max"])
        if v == "torch int8 dynamic":
            rec["torch_threads"] = torch.get_num_threads()
        if v == "int8 hot":  # not a cold-weights comparison: no ratio against the cold baseline
            rec.update(baseline=None, ratio=None, ratio_rounds_min=None, ratio_rounds_max=None)
        out.append(rec)
    return out


def run(quick: bool) -> list[dict]:
    """Benchmark records; quick=True uses tiny sizes (plumbing and correctness only)."""
    start = time.perf_counter()
    bandwidth = read_bandwidth(quick)
    rounds = 3 if quick else 25
    if quick:
        records = _gemv_case(64, 256, True, rounds, True, True, bandwidth, "4096")
        records += _gemv_case(96, 256, True, rounds, False, True, bandwidth, "11008x4096")
    else:
        records = _gemv_case(4096, 4096, False, rounds, True, True, bandwidth, "4096")
        records += _gemv_case(11008, 4096, False, rounds, False, True, bandwidth, "11008x4096")
    for r in records:
        r["seconds_total"] = time.perf_counter() - start
        r["quick"] = quick
    return records
