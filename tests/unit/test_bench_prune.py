"""benchmarks/bench_prune.py: records well formed, sparse kernels correct against dense NumPy (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import bench_prune as bp


def test_quick_run_gives_well_formed_records():
    records = bp.run(quick=True)
    names = {r["name"] for r in records}
    assert {"csr_matvec_4096_s90", "csr16_matvec_4096_s90", "csr_crossover_sparsity_4096", "sparse24_matvec_4096",
            "sparse24_int8_matvec_4096", "structured_ffn50_decode"} <= names
    for r in records:
        bench_main.validate(r)
        assert "cpu_features" in r
        if r["unit"] == "GB/s":
            assert r["ratio"] > 0 and r["pct_of_limit"] == pytest.approx(100 * r["value"] / r["limit"])
    crossover = next(r for r in records if r["name"] == "csr_crossover_sparsity_4096")
    assert 50 <= crossover["value"] <= 100 and len(crossover["sweep"]) == len(bp.SPARSITIES)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int16])
def test_csr_kernel_with_empty_rows(index_dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((9, 33)).astype(np.float32) * (rng.random((9, 33)) < 0.3)
    w[[0, 4, 8]] = 0.0
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=9))]).astype(np.int64)
    x = rng.standard_normal(33).astype(np.float32)
    y = bp.csr_matvec(w[rows, cols], cols.astype(index_dtype), indptr, x)
    np.testing.assert_allclose(y, w.astype(np.float64) @ x, rtol=1e-5, atol=1e-6)


def test_24_kernels_match_dense():
    rng = np.random.default_rng(1)
    N, K = 7, 40
    pairs = np.array([(a, b) for a in range(4) for b in range(a + 1, 4)])
    pos = pairs[rng.integers(0, 6, (N, K // 4))]
    meta = (pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8)
    values = rng.standard_normal((N, K // 2)).astype(np.float32)
    dense = np.zeros((N, K // 4, 4))
    np.put_along_axis(dense, pos, values.reshape(N, -1, 2).astype(np.float64), -1)
    x = rng.standard_normal(K).astype(np.float32)
    np.testing.assert_allclose(bp.sparse24_matvec(values, meta, x), dense.reshape(N, K) @ x, rtol=1e-5, atol=1e-6)
    q = rng.integers(-127, 128, (N, K // 2), dtype=np.int8)
    s = rng.uniform(0.01, 0.1, N).astype(np.float32)
    dq = np.zeros((N, K // 4, 4))
    np.put_along_axis(dq, pos, (q * s[:, None]).reshape(N, -1, 2).astype(np.float64), -1)
    np.testing.assert_allclose(bp.sparse24_int8_matvec(q, s, meta, x), dq.reshape(N, K) @ x, rtol=1e-5, atol=1e-5)
