"""Low-rank speed records of module 10: a rank-256 GEMV, randomized SVD, and causal linear attention.

Records (each ratio is a speed-up measured round-robin in the same run, median of per-round ratios):

    lowrank_matvec_4096_r256   value = GB/s of factor bytes read by (x @ A) @ B with A (4096, 256),
                               B (256, 4096), cold copies; ratio against the dense fp32 GEMV (numpy,
                               cold); limit = this run's read bandwidth; crossover_rank = the smallest
                               rank of a sweep from which on the low-rank GEMV is never faster
    randomized_svd_2048_r64    value = seconds of a rank-64 randomized SVD (oversampling 10, 2 power
                               iterations) of a 2048 x 2048 matrix with a decaying spectrum; ratio against
                               np.linalg.svd of the same matrix; error_ratio = its Frobenius error over
                               the optimal rank-64 error (target <= 1.05)
    linear_attention_T4096     value = seconds of causal random-feature attention (d = 64, m = 64
                               features, chunks of 64) at T = 4096; ratio against exact NumPy causal
                               attention; memory_ratio = peak NumPy allocation of exact over linear
                               (tracemalloc); crossover_T = the shortest T of a sweep where linear wins

Every record carries the CPU features it ran on (llmcourse.env.cpu_features).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from llmcourse import bench, env

from .bench_quant import _copies, read_bandwidth
from .bench_quant import _rotating_args as _rotating

SETTLE = 0.15
BURST = 20


def lowrank_matvec(N: int, r: int, sweep: list[int], quick: bool, bandwidth: float) -> dict:
    """The rank-r GEMV against the dense one (cold weights), and the first rank of `sweep` that is not faster."""
    x = np.random.default_rng(0).standard_normal(N, dtype=np.float32)
    dense = _copies(lambda i: (np.random.default_rng(i).standard_normal((N, N), dtype=np.float32),), 4 * N * N, quick)

    def compare_rank(rank: int):
        fac = _copies(lambda i: (np.random.default_rng(100 + i).standard_normal((N, rank), dtype=np.float32),
                                 np.random.default_rng(200 + i).standard_normal((rank, N), dtype=np.float32)),
                      8 * N * rank, quick)
        a, b = fac[0]
        ref = (x.astype(np.float64) @ a) @ b
        if not np.allclose((x @ a) @ b, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max()):
            raise AssertionError("low-rank GEMV disagrees with the float64 reference")
        return bench.compare({"dense": _rotating(lambda w: x @ w, dense),
                              "low rank": _rotating(lambda a, b: (x @ a) @ b, fac)},
                             rounds=3 if quick else 15, warmup=2, number=1 if quick else BURST,
                             prime=0 if quick else 1, settle=0 if quick else SETTLE)

    cmp = compare_rank(r)
    ratios = {rank: compare_rank(rank).ratio("low rank") for rank in sweep}
    # the smallest swept rank from which on every larger one is slower than dense (one noisy dip does not count)
    crossover = next((rank for rank in sweep if all(ratios[q] < 1.0 for q in sweep if q >= rank)), None)
    gbs = 8 * N * r / cmp.timings["low rank"].median / 1e9
    return {"name": "lowrank_matvec_4096_r256", "value": gbs, "unit": "GB/s",
            "baseline": "numpy fp32 dense GEMV, cold weights", "ratio": cmp.ratio("low rank"),
            "limit": bandwidth, "pct_of_limit": 100 * gbs / bandwidth, "bytes_ratio": N / (2 * r),
            "crossover_rank": crossover, "sweep_ratios": {str(k): v for k, v in ratios.items()},
            "break_even_rank": (N * N - 1) // (2 * N), "shape": [N, N], "rank": r}


def randomized_svd(W: np.ndarray, r: int, oversample: int = 10, n_power: int = 2, seed: int = 0):
    """Halko-Martinsson-Tropp randomized SVD with re-orthonormalised power iterations: U, S, Vt of rank r."""
    m, n = W.shape
    omega = np.random.default_rng(seed).standard_normal((n, min(r + oversample, m, n))).astype(W.dtype)
    Q, _ = np.linalg.qr(W @ omega)
    for _ in range(n_power):
        Q, _ = np.linalg.qr(W @ np.linalg.qr(W.T @ Q)[0])
    Ub, S, Vt = np.linalg.svd(Q.T @ W, full_matrices=False)
    return (Q @ Ub)[:, :r], S[:r], Vt[:r]


def rsvd_record(n: int, r: int, quick: bool) -> dict:
    """Randomized SVD against np.linalg.svd of the same (n, n) float32 matrix, with its error ratio."""
    rng = np.random.default_rng(1)
    s = np.r_[np.geomspace(40, 5, 8), 4.0 / np.arange(1, n - 7) ** 0.6]
    u, _ = np.linalg.qr(rng.standard_normal((n, n)))
    v, _ = np.linalg.qr(rng.standard_normal((n, n)))
    W = ((u * s) @ v.T).astype(np.float32)
    U, S, Vt = randomized_svd(W, r)
    err = float(np.linalg.norm(W.astype(np.float64) - (U * S).astype(np.float64) @ Vt))
    opt = float(np.sqrt(np.sum(s[r:] ** 2)))
    cmp = bench.compare({"np.linalg.svd": lambda: np.linalg.svd(W, full_matrices=False),
                         "randomized": lambda: randomized_svd(W, r)}, rounds=3 if quick else 7, warmup=1)
    return {"name": "randomized_svd_2048_r64", "value": cmp.timings["randomized"].median, "unit": "s",
            "baseline": "np.linalg.svd (LAPACK gesdd), same matrix", "ratio": cmp.ratio("randomized"),
            "limit": None, "pct_of_limit": None, "error_ratio": err / opt, "shape": [n, n], "rank": r}


def positive_features(x: np.ndarray, omega: np.ndarray) -> np.ndarray:
    """phi(x) = exp(x . omega_i - |x|^2 / 2) / sqrt(m), x (T, d), omega (d, m)."""
    return np.exp(x @ omega - 0.5 * np.sum(x * x, axis=-1, keepdims=True)) / np.sqrt(omega.shape[1])


def causal_linear(pq: np.ndarray, pk: np.ndarray, v: np.ndarray, c: int = 64) -> np.ndarray:
    """Chunked causal linear attention: running sums across chunks, a masked c x c product inside."""
    T, m = pq.shape
    out = np.zeros((T, v.shape[1]), dtype=v.dtype)
    S = np.zeros((m, v.shape[1]), dtype=v.dtype)
    z = np.zeros(m, dtype=v.dtype)
    for a in range(0, T, c):
        q, k, vv = pq[a:a + c], pk[a:a + c], v[a:a + c]
        w = np.tril(q @ k.T)
        np.divide(q @ S + w @ vv, (q @ z + w.sum(axis=1))[:, None], out=out[a:a + c])
        S += k.T @ vv
        z += k.sum(axis=0)
    return out


def exact_causal(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Softmax attention with a causal mask, the T x T NumPy way."""
    T, d = q.shape
    s = np.where(np.tri(T, dtype=bool), q @ k.T / np.sqrt(d), -np.inf)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    return (w / w.sum(axis=1, keepdims=True)) @ v


def attention_record(T: int, sweep: list[int], quick: bool, d: int = 64, m: int = 64) -> dict:
    """Linear against exact causal attention at length T, with memory and the crossover length."""
    omega = np.random.default_rng(2).standard_normal((d, m))

    def pair(length: int):
        q, k, v = (np.random.default_rng(length + i).standard_normal((length, d)) for i in range(3))
        lin = lambda: causal_linear(positive_features(q / d**0.25, omega), positive_features(k / d**0.25, omega), v)  # noqa: E731
        return lin, (lambda: exact_causal(q, k, v))

    lin, exact = pair(T)
    cmp = bench.compare({"exact": exact, "linear": lin}, rounds=3 if quick else 7, warmup=1)
    peaks = {}
    for name, fn in (("exact", exact), ("linear", lin)):
        tracemalloc.start()
        fn()
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    crossover = None
    for length in sweep:
        lin_s, exact_s = pair(length)
        if bench.compare({"exact": exact_s, "linear": lin_s}, rounds=3 if quick else 7, warmup=1).ratio("linear") > 1:
            crossover = length
            break
    return {"name": "linear_attention_T4096", "value": cmp.timings["linear"].median, "unit": "s",
            "baseline": "exact NumPy causal softmax attention, same T", "ratio": cmp.ratio("linear"),
            "limit": None, "pct_of_limit": None, "memory_ratio": peaks["exact"] / peaks["linear"],
            "peak_bytes_exact": peaks["exact"], "peak_bytes_linear": peaks["linear"], "crossover_T": crossover,
            "T": T, "d": d, "features": m}


def run(quick: bool) -> list[dict]:
    """Benchmark records; quick=True uses tiny sizes (plumbing and correctness only)."""
    start = time.perf_counter()
    bandwidth = read_bandwidth(quick)
    if quick:
        records = [lowrank_matvec(256, 16, [64, 128], True, bandwidth), rsvd_record(160, 16, True),
                   attention_record(256, [64, 128], True)]
    else:
        records = [lowrank_matvec(4096, 256, [512, 1024, 1536, 2048, 2560], False, bandwidth),
                   rsvd_record(2048, 64, False), attention_record(4096, [64, 128, 256, 512, 1024, 2048], False)]
    features = env.cpu_features()
    for r in records:
        r["cpu_features"] = features
        r["seconds_total"] = time.perf_counter() - start
        r["quick"] = quick
    return records
