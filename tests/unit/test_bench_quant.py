"""benchmarks/bench_quant.py: records well formed, kernels correct against NumPy (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import __main__ as bench_main
from benchmarks import bench_quant
from benchmarks import kernels_quant as kq


def test_quick_run_gives_well_formed_records():
    records = bench_quant.run(quick=True)
    by_name = {r["name"]: r for r in records}
    assert {"int8_gemv_4096", "int8_gemv_11008x4096", "int4_gemv_4096", "fp32_gemv_4096_numpy",
            "int8_gemv_4096_hot"} <= set(by_name)
    for r in records:
        bench_main.validate(r)
        assert r["unit"] == "GB/s" and r["value"] > 0 and r["limit"] > 0
        assert r["code_path"] == kq.numba_code_kind()
        if r["name"].endswith("_hot"):   # cache-resident: not a cold comparison, so no ratio
            assert r["ratio"] is None and r["baseline"] is None
        else:
            assert r["ratio_rounds_min"] <= r["ratio"] <= r["ratio_rounds_max"] and r["rounds"] == 3
        assert r["pct_of_limit"] == pytest.approx(100 * r["value"] / r["limit"])
    # the dispatched int4 kernel is the record; the others are timed beside it
    chosen = by_name["int4_gemv_4096"]["kernel"]
    assert chosen == kq.int4_kernel_name()
    for other in set(kq.INT4_NAMES) - {chosen}:
        assert by_name[f"int4_gemv_4096_{other}"]["kernel"] == other
    assert f"int4_gemv_4096_{chosen}" not in by_name
    # int8 against torch's fbgemm in the same rounds, at both shapes (when torch has a quantized engine)
    for tag in ("4096", "11008x4096"):
        if f"torch_int8_dynamic_{tag}" in by_name:
            r = by_name[f"int8_gemv_{tag}"]
            assert r["vs_torch_fbgemm_rounds_min"] <= r["vs_torch_fbgemm"] <= r["vs_torch_fbgemm_rounds_max"]


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


@pytest.mark.parametrize(("N", "K", "g"), [(3, 64, 32), (7, 256, 128), (2, 128, 8), (5, 40, 40)])
def test_int4_words_round_trip_and_gemv(N, K, g):
    rng = np.random.default_rng(N * K + g)
    q = rng.integers(-8, 8, (N, K), dtype=np.int8)
    q[0, :g] = -8                                 # extremes of the range in one whole group
    q[-1, -g:] = 7
    words = kq.pack_int4_words(q, g)
    assert words.shape == (N, K // 8) and words.dtype == np.uint32
    np.testing.assert_array_equal(kq.unpack_int4_words(words, g), q)
    s = rng.uniform(0.01, 0.2, (N, K // g)).astype(np.float32)
    x = rng.standard_normal(K).astype(np.float32) * 100
    ref = (q.astype(np.float64) * np.repeat(s, g, axis=1)) @ x
    np.testing.assert_allclose(kq.int4_gemv_words(words, s, x, g), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_int4_words_layout_is_the_documented_one():
    # one group of 16 inputs = 2 words: nibble i of word t holds input 2 * i + t, stored + 8
    q = np.arange(16, dtype=np.int8).reshape(1, 16) - 8
    words = kq.pack_int4_words(q, 16)[0]
    for t in range(2):
        assert [(int(words[t]) >> (4 * i)) & 15 for i in range(8)] == [int(q[0, 2 * i + t]) + 8 for i in range(8)]
    with pytest.raises(ValueError):
        kq.pack_int4_words(np.zeros((1, 24), dtype=np.int8), 12)


@pytest.mark.parametrize("N", [1, 3, 4, 33])   # four rows per pass in floor4: remainders of 1-3 rows
def test_every_int4_kernel_matches_the_reference(N):
    rng = np.random.default_rng(5 + N)
    q = rng.integers(-8, 8, (N, 512), dtype=np.int8)
    q[0, 128:256] = 0                                                     # an all-zero group
    s = rng.uniform(0.01, 0.2, (N, 4)).astype(np.float32)
    x = rng.standard_normal(512).astype(np.float32)
    ref = (q.astype(np.float64) * np.repeat(s, 128, axis=1)) @ x
    for name in kq.INT4_NAMES:
        got_name, pack, gemv = kq.int4_kernel(name)
        assert got_name == name
        np.testing.assert_allclose(gemv(pack(q, 128), s, x, 128), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=name)


def test_int4_dispatch_by_cpu_kind_and_override(monkeypatch):
    monkeypatch.delenv(kq.INT4_ENV, raising=False)
    assert kq.int4_kernel_name("avx512") == "floor4"
    assert kq.int4_kernel_name("avx2") == "words"
    assert kq.int4_kernel_name("other") == "floor"
    assert kq.int4_kernel()[0] == kq.int4_kernel_name(kq.numba_code_kind())
    monkeypatch.setenv(kq.INT4_ENV, "words")
    assert kq.int4_kernel_name("avx512") == "words" and kq.int4_kernel()[0] == "words"
    monkeypatch.setenv(kq.INT4_ENV, "floor4")
    assert kq.int4_kernel_name("avx2") == "floor4"
    monkeypatch.setenv(kq.INT4_ENV, "nibbles")
    with pytest.raises(ValueError, match="use one of floor, floor4, words"):
        kq.int4_kernel_name("avx2")
    with pytest.raises(ValueError, match="unknown int4 kernel"):
        kq.int4_kernel("nibbles")


def test_code_kind_follows_numba_feature_override(monkeypatch):
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+fma,-avx512f,-avx512bw,+sse4.2")
    assert kq.numba_code_kind() == "avx2"
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+fma,+avx512f,+avx512bw")
    assert kq.numba_code_kind() == "avx512"
    monkeypatch.delenv("NUMBA_CPU_FEATURES")
    from llmcourse import env
    assert kq.numba_code_kind() == env.cpu_kind(env.cpu_flags())


def test_avx2_numba_env_turns_off_every_avx512_feature():
    e = kq.avx2_numba_env()
    feats = e["NUMBA_CPU_FEATURES"].split(",")
    assert e["NUMBA_CPU_NAME"] == "znver3"
    assert not [f for f in feats if f.startswith("+avx512")]
    assert all(f[0] in "+-" for f in feats)


def test_hot_int4_comparison_names_its_code_path():
    text = kq.compare_int4_hot(n=256, rounds=1, threads=1)
    assert f"code path {kq.numba_code_kind()}" in text and "against floor: floor4" in text and "words" in text
