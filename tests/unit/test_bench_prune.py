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
    # bytes bounds come from the arrays timed: 2:4 fp32 is 8 + 0.5 bytes per 4 weights, int8 2 + 0.5 plus scales
    by = {r["name"]: r for r in records}
    N = 256  # the quick size
    assert by["sparse24_matvec_4096"]["bytes_bound"] == pytest.approx(16 / 8.5)
    assert by["sparse24_int8_matvec_4096"]["bytes_bound"] == pytest.approx(4 * N * N / (N * N * 2.5 / 4 + 4 * N))
    csr32, csr16 = by["csr_matvec_4096_s90"], by["csr16_matvec_4096_s90"]
    assert 4.5 < csr32["bytes_bound"] < 5.0 < 6.0 < csr16["bytes_bound"] < 6.7  # 4 / (0.1 * 8) and 4 / (0.1 * 6)
    assert csr32["index_dtype"] == "int32" and csr16["index_dtype"] == "uint16"


@pytest.mark.parametrize("index_dtype", [np.int32, np.int16, np.uint16, np.uint32])
def test_csr_kernel_with_empty_rows(index_dtype):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((9, 33)).astype(np.float32) * (rng.random((9, 33)) < 0.3)
    w[[0, 4, 8]] = 0.0
    rows, cols = np.nonzero(w)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=9))]).astype(np.int64)
    x = rng.standard_normal(33).astype(np.float32)
    y = bp.csr_matvec(w[rows, cols], cols.astype(index_dtype), indptr, x)
    np.testing.assert_allclose(y, w.astype(np.float64) @ x, rtol=1e-5, atol=1e-6)


def _masked24(w):
    """The 2:4 masked matrix computed independently of pack24: zero the 2 smallest |w| of each group of 4."""
    g = w.reshape(w.shape[0], -1, 4).astype(np.float64)
    rank = np.argsort(np.argsort(-np.abs(g), axis=-1, kind="stable"), axis=-1)
    return np.where(rank < 2, g, 0.0).reshape(w.shape)


@pytest.mark.parametrize(("N", "K"), [(7, 40), (8, 8), (1, 64), (6, 16)])
def test_pack24_round_trip_and_kernels_match_dense(N, K):
    rng = np.random.default_rng(N * K)
    w = rng.standard_normal((N, K)).astype(np.float32)
    w[0, :4] = [0.5, -0.5, 0.5, 0.1]  # a tie: the earlier positions are kept
    if N > 2:
        w[2] = 0.0  # an all-zero row (scale 1, output 0)
    values, meta = bp.pack24(w)
    assert values.shape == (N, 2, K // 4) and meta.shape == (N, K // 8) and meta.dtype == np.uint8
    dense = _masked24(w)
    np.testing.assert_array_equal(bp.unpack24(values, meta), dense)
    x = rng.standard_normal(K).astype(np.float32) * np.float32(1e3)
    np.testing.assert_allclose(bp.sparse24_matvec(values, meta, x), dense @ x, rtol=1e-5, atol=1e-3)
    q, s = bp.quantize_rows(values)
    assert np.abs(q.astype(int)).max() <= 127
    dq = bp.unpack24(q, meta) * s[:, None].astype(np.float64)
    np.testing.assert_allclose(dq, dense, atol=float(s.max()) / 2 + 1e-12)
    np.testing.assert_allclose(bp.sparse24_int8_matvec(q, s, meta, x), dq @ x, rtol=1e-5, atol=1e-3)


def test_24_kernel_every_pattern_in_both_nibbles():
    """Each of the 6 kept-position pairs, in low and high nibbles, on an odd number of rows."""
    pairs = np.array([(a, b) for a in range(4) for b in range(a + 1, 4)])
    N, G = 7, 12
    rng = np.random.default_rng(3)
    pos = pairs[(np.arange(N)[:, None] + np.arange(G)[None, :]) % 6]  # (N, G, 2): every pair at every nibble
    values = rng.standard_normal((N, 2, G)).astype(np.float32)
    meta = bp.pack_meta((pos[..., 0] | (pos[..., 1] << 2)).astype(np.uint8))
    dense = np.zeros((N, G, 4))
    np.put_along_axis(dense, pos, values.transpose(0, 2, 1).astype(np.float64), -1)
    x = rng.standard_normal(4 * G).astype(np.float32)
    np.testing.assert_allclose(bp.sparse24_matvec(values, meta, x), dense.reshape(N, -1) @ x, rtol=1e-5, atol=1e-5)


def test_pack24_rejects_k_not_multiple_of_8():
    with pytest.raises(ValueError, match="multiple of 8"):
        bp.pack24(np.ones((2, 12), dtype=np.float32))


def test_csr_signed_and_unsigned_indices_agree_past_int16():
    """uint16 indices cover K up to 65536; int32 and uint32 give the same result."""
    rng = np.random.default_rng(2)
    K = 40000
    cols = np.sort(rng.choice(K, 50, replace=False))
    data = rng.standard_normal(50).astype(np.float32)
    indptr = np.array([0, 20, 20, 50], dtype=np.int64)
    x = rng.standard_normal(K).astype(np.float32)
    ref = [data[:20] @ x[cols[:20]], 0.0, data[20:] @ x[cols[20:]]]
    for dt in (np.int32, np.uint32, np.uint16):
        np.testing.assert_allclose(bp.csr_matvec(data, cols.astype(dt), indptr, x), ref, rtol=1e-5, atol=1e-5)
