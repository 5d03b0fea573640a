"""numba.cuda kernels of module 15 against PyTorch's own, natively on an NVIDIA GPU.

    python -m benchmarks cuda            # cuda_flash_attention_T4096, cuda_int8_gemv_4096
    python -m benchmarks cuda --quick    # smaller sizes, for checking the plumbing

Without a GPU (no NVIDIA driver, numba.cuda unable to compile natively, or a CPU-only torch) both records
come back with null figures and `skipped` giving the reason: the CUDA simulator runs kernels as Python
threads and would measure nothing about a GPU.

With a GPU: the kernels are the module's reference kernels (flash attention with the online softmax, one
query row per thread, K/V tiles of BQ rows in shared memory; int8 weight-only GEMV with per-row scales,
one block per row). They read torch's CUDA tensors in place (`cuda.as_cuda_array`) and are timed side by
side with torch (`llmcourse.bench.compare`, round-robin, median of per-round ratios):
flash attention against `scaled_dot_product_attention` in fp16 (causal, T = 4096, d = 64), the int8
GEMV against torch's fp16 GEMV on the dequantised weights (4096 x 4096). `ratio` is torch's time over
ours (above 1: ours is faster). For the GEMV, `limit` is the ratio our kernel would reach if it read its
bytes at the device-to-device copy bandwidth measured in the same run; the attention record has no limit
(its bound is the FP32 peak, which is not measured here).
"""

from __future__ import annotations

import math

from llmcourse import cudasim

BQ = 32  # queries per block and keys per shared-memory tile
D_MAX = 128  # the largest head size the attention kernel holds in registers
TPB = 128  # threads per block of the GEMV


def _skip(reason: str) -> list[dict]:
    base = {"value": None, "unit": "x", "ratio": None, "limit": None, "pct_of_limit": None, "skipped": reason}
    return [dict(base, name="cuda_flash_attention_T4096",
                 baseline="torch scaled_dot_product_attention fp16, causal, T 4096, d 64"),
            dict(base, name="cuda_int8_gemv_4096", baseline="torch fp16 GEMV on the dequantised 4096 x 4096 weights")]


def _kernels(cuda):
    """Compile the two kernels (module 15's reference solutions, duplicated here: llmcourse/ holds none)."""
    import numpy as np

    @cuda.jit
    def flash(q, k, v, out, causal):
        T, d = q.shape
        t = cuda.threadIdx.x
        i = cuda.blockIdx.x * BQ + t
        sk = cuda.shared.array((BQ, D_MAX), np.float32)
        sv = cuda.shared.array((BQ, D_MAX), np.float32)
        qi = cuda.local.array(D_MAX, np.float32)
        acc = cuda.local.array(D_MAX, np.float32)
        scale = np.float32(1.0 / math.sqrt(d))
        for c in range(d):
            qi[c] = q[i, c] * scale if i < T else 0.0
            acc[c] = 0.0
        m = np.float32(-np.inf)
        l = np.float32(0.0)
        last = min(T, (cuda.blockIdx.x + 1) * BQ) if causal else T
        for j0 in range(0, last, BQ):
            for c in range(d):
                sk[t, c] = k[j0 + t, c] if j0 + t < T else 0.0
                sv[t, c] = v[j0 + t, c] if j0 + t < T else 0.0
            cuda.syncthreads()
            for jj in range(min(BQ, T - j0)):
                if causal and j0 + jj > i:
                    break
                s = np.float32(0.0)
                for c in range(d):
                    s += qi[c] * sk[jj, c]
                if s > m:
                    r = math.exp(m - s)
                    l *= r
                    for c in range(d):
                        acc[c] *= r
                    m = s
                p = math.exp(s - m)
                l += p
                for c in range(d):
                    acc[c] += p * sv[jj, c]
            cuda.syncthreads()
        if i < T:
            for c in range(d):
                out[i, c] = acc[c] / l

    @cuda.jit
    def int8_gemv(wq, scales, x, y):
        n = cuda.blockIdx.x
        t = cuda.threadIdx.x
        sm = cuda.shared.array(TPB, np.float32)
        acc = np.float32(0.0)
        for kk in range(t, wq.shape[1], TPB):
            acc += np.float32(wq[n, kk]) * x[kk]
        sm[t] = acc
        cuda.syncthreads()
        s = TPB // 2
        while s > 0:
            if t < s:
                sm[t] += sm[t + s]
            cuda.syncthreads()
            s //= 2
        if t == 0:
            y[n] = scales[n] * sm[0]

    return flash, int8_gemv


def copy_bandwidth(n_bytes: int, rounds: int) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write), median over rounds."""
    import torch

    from llmcourse import bench

    src = torch.empty(n_bytes, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    seconds = bench.compare({"copy": lambda: dst.copy_(src)}, rounds=rounds, device="cuda").timings["copy"].median
    return 2 * n_bytes / seconds


def measure(quick: bool) -> list[dict]:
    """Both records, timed natively; the caller has checked that a GPU is usable."""
    import torch
    from numba import cuda

    from llmcourse import bench

    flash, int8_gemv = _kernels(cuda)
    dev = torch.device("cuda")
    rounds = 3 if quick else 11
    bandwidth = copy_bandwidth(2**24 if quick else 2**28, rounds)
    gen = torch.Generator(device=dev).manual_seed(0)
    records = []

    T, d = (512, 64) if quick else (4096, 64)
    q, k, v = (torch.randn(T, d, device=dev, generator=gen) for _ in range(3))
    o = torch.empty(T, d, device=dev)
    qh, kh, vh = (z.half().view(1, 1, T, d) for z in (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(q.view(1, 1, T, d), k.view(1, 1, T, d),
                                                           v.view(1, 1, T, d), is_causal=True)[0, 0]
    args = [cuda.as_cuda_array(z) for z in (q, k, v, o)]
    blocks = (T + BQ - 1) // BQ
    flash[blocks, BQ](*args, True)
    torch.cuda.synchronize()
    err = float((o - ref).abs().max())
    if err > 1e-3:
        raise AssertionError(f"flash attention kernel differs from SDPA by {err}")
    cmp = bench.compare({"torch": lambda: torch.nn.functional.scaled_dot_product_attention(qh, kh, vh, is_causal=True),
                         "ours": lambda: flash[blocks, BQ](*args, True)}, rounds=rounds, device=dev)
    ratio = cmp.ratio("ours")
    records.append({"name": "cuda_flash_attention_T4096", "value": ratio, "unit": "x",
                    "baseline": f"torch scaled_dot_product_attention fp16, causal, T {T}, d {d}",
                    "ratio": ratio, "limit": None, "pct_of_limit": None,
                    "ours_s": cmp.timings["ours"].median, "torch_s": cmp.timings["torch"].median,
                    "max_abs_error_vs_sdpa_fp32": err, "device": torch.cuda.get_device_name(),
                    "note": "ours: FP32 CUDA cores, one query row per thread; SDPA: fp16 tensor cores"})

    N = K = 1024 if quick else 4096
    wq = torch.randint(-127, 128, (N, K), device=dev, dtype=torch.int8, generator=gen)
    scales = torch.rand(N, device=dev, generator=gen) / 127
    x = torch.randn(K, device=dev, generator=gen)
    y = torch.empty(N, device=dev)
    w16, x16 = wq.half() * scales.half()[:, None], x.half()
    gargs = [cuda.as_cuda_array(z) for z in (wq, scales, x, y)]
    int8_gemv[N, TPB](*gargs)
    torch.cuda.synchronize()
    ref = (wq.float() * scales[:, None]) @ x
    err = float((y - ref).abs().max() / ref.abs().max())
    if err > 1e-4:
        raise AssertionError(f"int8 GEMV kernel differs from the fp32 product by {err} (relative)")
    cmp = bench.compare({"torch": lambda: torch.mv(w16, x16), "ours": lambda: int8_gemv[N, TPB](*gargs)},
                        rounds=rounds, number=10, device=dev)
    t_ours = cmp.timings["ours"].median  # compare() gives seconds per call
    n_bytes = N * K + 4 * (N + K + N)
    limit_s = n_bytes / bandwidth
    ratio = cmp.ratio("ours")
    records.append({"name": "cuda_int8_gemv_4096", "value": ratio, "unit": "x",
                    "baseline": f"torch fp16 GEMV on the dequantised {N} x {K} weights",
                    "ratio": ratio, "limit": ratio * t_ours / limit_s, "pct_of_limit": 100 * limit_s / t_ours,
                    "ours_s": t_ours, "bandwidth_GBps": bandwidth / 1e9,
                    "pct_of_bandwidth": 100 * n_bytes / t_ours / bandwidth, "device": torch.cuda.get_device_name(),
                    "note": "limit: the ratio our kernel would reach at the measured copy bandwidth"})
    return records


def run(quick: bool) -> list[dict]:
    """Records cuda_flash_attention_T4096 and cuda_int8_gemv_4096, or both skipped with the reason."""
    mode, why = cudasim.decide()
    if mode != "native":
        return _skip(f"no native CUDA: {why}")
    cudasim.apply(simulate=False)  # decide() already probed the GPU: do not probe again as select() would
    import torch

    if not torch.cuda.is_available():
        return _skip("numba.cuda sees a GPU but this torch build has no CUDA (the course pins the CPU wheel)")
    return measure(quick)
