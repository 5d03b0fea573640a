"""Module 06's cost model against this machine: measured read bandwidth and fp32 peak, and a decode step at
batch 1 predicted and measured.

The prediction has two terms, both measured apart from the step it predicts:

    predicted = max(FLOPs / peak, bytes / bandwidth)   (the roofline of Pope et al.)
              + overhead floor                         (the same graph at C = 16: ~290 small NumPy calls)

The decode step runs a model with the tiny GPT's architecture (pre-norm blocks, fused qkv, GELU MLP, LM head)
and random fp32 weights far larger than the last-level cache, entirely in NumPy, so that the weights stream
from DRAM at every step: the memory-bound regime the model describes. The bandwidth used for the prediction
is that of a NumPy matrix-vector product over a 256 MiB matrix (the same library and threads as the step's
matrices). The step, the floor and the read are timed round-robin so that all three see the same state of
the machine. The roofline alone under-predicts the step by the floor (about 3 ms of its 14 on the course
machine), which is why both are reported.

Records: cost_model_read_bandwidth (GB/s), cost_model_fp32_peak (GFLOP/s), cost_model_decode_overhead_floor,
cost_model_decode_predicted and cost_model_decode_measured (medians, ms); cost_model_decode_error_pct, the median
over rounds of (measured / predicted - 1) x 100 with each round predicted from that round's read, with `limit`
the bandwidth in GB/s, `pct_of_limit` the bandwidth the step achieved as a percentage of it, the spread of the
rounds (`value_rounds_min` / `_max`) and the parameters it was predicted from; cost_model_decode_error_pct_roofline,
the error of the roofline term alone; cost_model_decode_error_pct_chunked_read (diagnostic), the same prediction
with the bandwidth of the same 256 MiB read in calls of the step's mean matrix size; then the bandwidth and error
with a one-thread BLAS (a child process), which stay meaningful on a busy machine. `python -m benchmarks` runs
the module REPEAT times and reports the median over runs with their min-max (benchmarks/__main__.py).

No constant in the prediction was fitted on a machine: it uses the model's shapes and three quantities measured
in the same run (read bandwidth, fp32 peak, overhead floor). The sizes (256 MiB read, 2048 x 2048 matmul, C = 1024
model) are chosen to exceed the last-level cache and to reach the BLAS's steady state, not to match a result.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmcourse import bench

ROOT = Path(__file__).resolve().parent.parent
REPEAT = 3  # runs of this module per `python -m benchmarks` (each in its own process); records give the median


@dataclass
class Shape:
    """A decoder-only model, as the cost model sees it."""

    n_layer: int
    C: int
    n_head: int
    d_ff: int
    V: int


# --- the predictor (module 06's formulas, written independently of the notebook) ----------------------


def weights_and_kv_bytes(s: Shape, T: int, bytes_per_value: int = 4) -> tuple[int, int]:
    """(bytes of matrix weights, bytes of a KV cache of T tokens), batch 1, MHA."""
    weights = s.n_layer * (4 * s.C * s.C + 2 * s.C * s.d_ff) + s.C * s.V
    kv = 2 * s.n_layer * s.C * T
    return weights * bytes_per_value, kv * bytes_per_value


def decode_flops(s: Shape, T: int) -> float:
    """FLOPs of one decode step at batch 1 attending over T keys: 2 per weight, 4 C per layer per key."""
    weights = s.n_layer * (4 * s.C * s.C + 2 * s.C * s.d_ff) + s.C * s.V
    return 2.0 * weights + 4.0 * s.n_layer * s.C * T


def predict_decode_seconds(s: Shape, T: int, peak: float, bandwidth: float, overhead: float = 0.0) -> float:
    """One decode step: the roofline bound max(FLOPs / peak, bytes / bandwidth) plus a fixed per-step overhead
    (the measured time of the same sequence of calls on a model too small to move any bytes)."""
    return max(decode_flops(s, T) / peak, sum(weights_and_kv_bytes(s, T)) / bandwidth) + overhead


# --- the measured step ------------------------------------------------------------------------------


def random_model(s: Shape, T: int, seed: int = 0) -> dict:
    """Random fp32 weights (stored (in, out)) and a random KV cache of T tokens per layer.

    Keys are stored transposed, (n_head, d_head, T), so that the scores read them contiguously. The attention
    uses einsum: NumPy's stacked matmul of (n_head, 1, d_head) by (n_head, d_head, T) ran 4x slower than
    einsum on the course machine, far below the memory bandwidth.
    """
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)

    d_head = s.C // s.n_head
    layers = [{"ln1": (np.ones(s.C, np.float32), np.zeros(s.C, np.float32)), "w_qkv": w(s.C, 3 * s.C),
               "b_qkv": w(3 * s.C), "w_out": w(s.C, s.C), "b_out": w(s.C),
               "ln2": (np.ones(s.C, np.float32), np.zeros(s.C, np.float32)), "w_in": w(s.C, s.d_ff),
               "b_in": w(s.d_ff), "w_fc_out": w(s.d_ff, s.C), "b_fc_out": w(s.C),
               "Kt": w(s.n_head, d_head, T), "V": w(s.n_head, T, d_head)} for _ in range(s.n_layer)]
    return {"layers": layers, "ln_f": (np.ones(s.C, np.float32), np.zeros(s.C, np.float32)),
            "head_w": w(s.C, s.V), "head_b": w(s.V)}


def _ln(x: np.ndarray, wb: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * wb[0] + wb[1]


def _gelu(x: np.ndarray) -> np.ndarray:
    # x * x * x, not x**3: NumPy's float32 power by a Python int 3 goes through pow() element by element and
    # took 244 us on 4096 numbers here, 17 times the rest of the GELU.
    return 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * (x * x * x))))


def decode_step(m: dict, s: Shape, x: np.ndarray) -> np.ndarray:
    """One token x (1, C) through every block (attending over the fixed caches) and the LM head -> (1, V)."""
    d_head = s.C // s.n_head
    for L in m["layers"]:
        qkv = _ln(x, L["ln1"]) @ L["w_qkv"] + L["b_qkv"]
        q = qkv[0, : s.C].reshape(s.n_head, d_head)
        scores = np.einsum("hd,hdt->ht", q, L["Kt"]) / math.sqrt(d_head)     # (n_head, T)
        p = np.exp(scores - scores.max(-1, keepdims=True))
        y = np.einsum("ht,htd->hd", p / p.sum(-1, keepdims=True), L["V"]).reshape(1, s.C)
        x = x + y @ L["w_out"] + L["b_out"]
        x = x + _gelu(_ln(x, L["ln2"]) @ L["w_in"] + L["b_in"]) @ L["w_fc_out"] + L["b_fc_out"]
    return _ln(x, m["ln_f"]) @ m["head_w"] + m["head_b"]


def matmul_peak(n: int, repeat: int) -> float:
    """FLOP/s of an (n, n) @ (n, n) fp32 NumPy product."""
    a = np.ones((n, n), np.float32)
    return 2 * n**3 / bench.time_fn(lambda: a @ a, repeat=repeat, warmup=1).median


def _record(name: str, value: float, unit: str, limit: float | None = None, pct: float | None = None) -> dict:
    return {"name": name, "value": float(value), "unit": unit, "baseline": None, "ratio": None,
            "limit": limit, "pct_of_limit": pct}


def paired_errors(s: Shape, T: int, peak: float, read_bytes: int, steps: list[float], floors: list[float],
                  reads: list[float]) -> list[float]:
    """Per round, (step / prediction - 1) x 100, each round predicted from that round's floor and read.

    The three were timed side by side in each round, so a spell of a faster or slower machine moves a step and
    its prediction together instead of pairing one state of the machine with another.
    """
    return [(step / predict_decode_seconds(s, T, peak, read_bytes / read, floor) - 1) * 100
            for step, floor, read in zip(steps, floors, reads, strict=True)]


def paired_error_pct(s: Shape, T: int, peak: float, read_bytes: int, steps: list[float], floors: list[float],
                     reads: list[float]) -> float:
    """Median over rounds of paired_errors: one wild round does not move it."""
    return statistics.median(paired_errors(s, T, peak, read_bytes, steps, floors, reads))


def matrix_count(s: Shape) -> int:
    """Weight matrices a decode step reads: four per layer (qkv, out, in, out of the MLP) and the LM head."""
    return 4 * s.n_layer + 1


def floor_shape(s: Shape) -> Shape:
    """The same graph (layers, heads, vocabulary) at C = 16: it moves almost no bytes, so its time is the cost
    of making the step's calls."""
    return Shape(n_layer=s.n_layer, C=2 * s.n_head, n_head=s.n_head, d_ff=8 * s.n_head, V=s.V)


def measure(quick: bool) -> dict[str, float]:
    """Bandwidth (bytes/s), peak (FLOP/s), overhead floor, predicted and measured decode step (s) and its bytes,
    in this process."""
    s = Shape(n_layer=4, C=512, n_head=8, d_ff=2048, V=48) if quick else Shape(6, 1024, 8, 4096, 48)
    T = 128 if quick else 512
    n_bytes = (64 if quick else 256) * 2**20
    rounds = 3 if quick else 20
    peak = matmul_peak(1024 if quick else 2048, repeat=3 if quick else 7)
    m = random_model(s, T)
    f = floor_shape(s)
    m_floor = random_model(f, T, seed=1)
    a = np.ones((n_bytes // 4 // 4096, 4096), np.float32)          # (rows, 4096) fp32
    u = np.ones(a.shape[0], np.float32)
    # The same bytes read in calls of the step's mean matrix size: a 4-16 MiB product starts its streams cold and
    # waits for its threads at the end, which one 256 MiB call does once. Derived from the model, not fitted.
    rows = max(1, round(sum(weights_and_kv_bytes(s, T)[:1]) / matrix_count(s) / a.strides[0]))
    blocks = [a[i:i + rows] for i in range(0, a.shape[0] - rows + 1, rows)]
    chunk_bytes = sum(b.nbytes for b in blocks)
    ub = np.ones(rows, np.float32)

    def read_chunks():
        for b in blocks:
            ub @ b
    x = np.random.default_rng(1).standard_normal((1, s.C), dtype=np.float32)
    x_floor = np.random.default_rng(1).standard_normal((1, f.C), dtype=np.float32)
    result = bench.compare({"decode": lambda: decode_step(m, s, x), "floor": lambda: decode_step(m_floor, f, x_floor),
                            "read": lambda: u @ a, "read_chunks": read_chunks}, rounds=rounds, warmup=2)
    bandwidth = n_bytes / result.timings["read"].median
    overhead = result.timings["floor"].median
    steps, floors = result.timings["decode"].samples, result.timings["floor"].samples
    errors = paired_errors(s, T, peak, n_bytes, steps, floors, result.timings["read"].samples)
    errors_chunks = paired_errors(s, T, peak, chunk_bytes, steps, floors, result.timings["read_chunks"].samples)
    return {"bandwidth": bandwidth, "peak": peak, "overhead": overhead,
            "bandwidth_chunks": chunk_bytes / result.timings["read_chunks"].median, "chunk_bytes": rows * a.strides[0],
            "roofline": predict_decode_seconds(s, T, peak, bandwidth),
            "predicted": predict_decode_seconds(s, T, peak, bandwidth, overhead),
            "measured": result.timings["decode"].median, "step_bytes": float(sum(weights_and_kv_bytes(s, T))),
            "error_pct": statistics.median(errors), "error_min": min(errors), "error_max": max(errors),
            "error_pct_chunks": statistics.median(errors_chunks), "error_chunks_min": min(errors_chunks),
            "error_chunks_max": max(errors_chunks), "rounds": rounds}


def measure_one_thread(quick: bool) -> dict[str, float]:
    """measure() in a child process whose BLAS uses one thread (set before NumPy loads, the only time it can be).

    On a busy machine a multi-threaded matrix-vector product waits for its threads at every call; a decode
    step makes dozens of calls, so its time suffers far more than one long read does. One thread is immune.
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    code = f"import json; from benchmarks.bench_cost_model import measure; print(json.dumps(measure({quick})))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _error_record(name: str, r: dict, key: str = "error_pct", bandwidth_key: str = "bandwidth") -> dict:
    """An error record with the parameters it was predicted from and the spread of its rounds."""
    lo, hi = ("error_min", "error_max") if key == "error_pct" else ("error_chunks_min", "error_chunks_max")
    rec = _record(name, r[key], "%", limit=r[bandwidth_key] / 1e9,
                  pct=r["step_bytes"] / r["measured"] / r[bandwidth_key] * 100)
    rec.update(value_rounds_min=r[lo], value_rounds_max=r[hi], rounds=r["rounds"],
               bandwidth_gbs=r[bandwidth_key] / 1e9, peak_gflops=r["peak"] / 1e9, overhead_floor_ms=r["overhead"] * 1e3,
               parameters="read bandwidth, fp32 peak and overhead floor, all measured in this run; no fitted constant")
    return rec


def run(quick: bool) -> list[dict]:
    """Measure bandwidth and peak, predict and measure the decode step (all threads, then one); the records."""
    r = measure(quick)
    one = measure_one_thread(quick)
    chunked = _error_record("cost_model_decode_error_pct_chunked_read", r, "error_pct_chunks", "bandwidth_chunks")
    chunked["note"] = (f"diagnostic: bandwidth read in calls of the step's mean matrix size "
                       f"({r['chunk_bytes'] / 2**20:.1f} MiB) instead of one 256 MiB call")
    return [
        _record("cost_model_read_bandwidth", r["bandwidth"] / 1e9, "GB/s"),
        _record("cost_model_read_bandwidth_chunked", r["bandwidth_chunks"] / 1e9, "GB/s"),
        _record("cost_model_fp32_peak", r["peak"] / 1e9, "GFLOP/s"),
        _record("cost_model_decode_overhead_floor", r["overhead"] * 1e3, "ms"),
        _record("cost_model_decode_predicted", r["predicted"] * 1e3, "ms"),
        _record("cost_model_decode_measured", r["measured"] * 1e3, "ms"),
        _error_record("cost_model_decode_error_pct", r),
        _record("cost_model_decode_error_pct_roofline", (r["measured"] - r["roofline"]) / r["roofline"] * 100, "%"),
        chunked,
        _record("cost_model_read_bandwidth_1thread", one["bandwidth"] / 1e9, "GB/s"),
        _error_record("cost_model_decode_error_pct_1thread", one),
    ]
