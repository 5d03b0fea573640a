"""benchmarks/bench_quant.py: records well formed, kernels correct against NumPy (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import bench_quant
from benchmarks import kernels_quant as kq


def test_quick_run_gives_well_formed_records():
    records = bench_quant.run(quick=True)
    names = {r["name"] for r in records}
    assert {"int8_gemv_4096", "int8_gemv_11008x4096", "int4_gemv_4096", "fp32_gemv_4096_numpy",
            "int8_gemv_4096_hot"} <= names
    for r in records:
        bench_main.validate(r)
        assert r["unit"] == "GB/s" and r["value"] > 0 and r["limit"] > 0
        if r["name"].endswith("_hot"):   # cache-resident: not a cold comparison, so no ratio
            assert r["ratio"] is None and r["baseline"] is None
        else:
            assert r["ratio"] > 0
        assert r["pct_of_limit"] == pytest.approx(100 * r["value"] / r["limit"])


@pytest.mark.parametrize(("N", "K"), [(1, 8), (5, 33), (9, 256)])
def test_int8_gemv_matches_dequantized_reference(N, K):
    rng = np.random.default_rng(N * K)
    wq = rng.integers(-127, 128, (N, K), dtype=np.int8)
    s = rng.uniform(0.001, 0.1, N).astype(np.float32)
    x = rng.standard_normal(K).astype(np.float32)
    ref = (wq.astype(np.float64) * s[:, None]) @ x
    np.testing.assert_allclose(kq.int8_gemv(wq, s, x), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize(("N", "K", "g"), [(3, 64, 32), (7, 256, 128), (2, 128, 8)])
def test_int4_round_trip_and_gemv(N, K, g):
    rng = np.random.default_rng(N + K + g)
    q = rng.integers(-8, 8, (N, K), dtype=np.int8)
    packed = kq.pack_int4(q, g)
    assert packed.shape == (N, K // 2) and packed.dtype == np.int8
    np.testing.assert_array_equal(kq.unpack_int4(packed, g), q)
    s = rng.uniform(0.01, 0.2, (N, K // g)).astype(np.float32)
    x = rng.standard_normal(K).astype(np.float32)
    ref = (q.astype(np.float64) * np.repeat(s, g, axis=1)) @ x
    np.testing.assert_allclose(kq.int4_gemv(packed, s, x, g), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_int4_layout_is_the_documented_one():
    # one group of 4: byte j holds input j (low nibble, + 8) and input j + 2 (high nibble, signed)
    q = np.array([[-8, 7, 3, -1]], dtype=np.int8)
    packed = kq.pack_int4(q, 4).view(np.uint8)
    assert [int(b) & 15 for b in packed[0]] == [0, 15]
    assert [int(np.int8(b)) >> 4 for b in packed[0]] == [3, -1]


def test_pack_rejects_bad_group():
    with pytest.raises(ValueError):
        kq.pack_int4(np.zeros((1, 48), dtype=np.int8), 32)
