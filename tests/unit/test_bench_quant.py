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
    # the same for int8: the dispatched kernel is the record, every other one this code can run is timed beside it
    chosen8 = by_name["int8_gemv_4096"]["kernel"]
    assert chosen8 == kq.int8_kernel_name() == by_name["int8_gemv_11008x4096"]["kernel"]
    assert by_name["int8_gemv_4096_hot"]["kernel"] == chosen8
    for other in set(kq.int8_kernels_available()) - {chosen8}:
        assert by_name[f"int8_gemv_4096_{other}"]["kernel"] == other
    assert f"int8_gemv_4096_{chosen8}" not in by_name
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


def _int8_error_bound(wq, s, x, grid=2 * 127 * 254):
    """What rounding x to max|x| / grid can cost: s[n] * sum_k |w[n, k]| * max|x| / grid, plus fp32 rounding."""
    ref = (wq.astype(np.float64) * s[:, None]) @ x.astype(np.float64)
    grid = np.abs(x).max() / grid
    return ref, 1.001 * s * np.abs(wq.astype(np.float64)).sum(1) * grid + 1e-6 * np.abs(ref).max()


@pytest.mark.parametrize(("N", "K"), [(1, 8), (3, 64), (5, 33), (4, 100), (9, 256), (33, 4096 + 37)])
@pytest.mark.parametrize("name", ["fma4", "vnni", "maddubs", "vnni1", "madd16", "vnni4t", "madd16t"])
def test_int8_dot_kernels_stay_within_their_error_bound(N, K, name):
    if name not in kq.int8_kernels_available():
        pytest.skip(f"the code Numba generates here lacks {sorted(kq.INT8_NEEDS[name])}")
    rng = np.random.default_rng(N * K + 3)
    wq = rng.integers(-128, 128, (N, K), dtype=np.int8)
    wq[0] = -128                                                  # the code that vpsignb cannot negate
    wq[-1, : K // 2] = 127
    s = rng.uniform(0.001, 0.1, N).astype(np.float32)
    for x in (rng.standard_normal(K).astype(np.float32) * 30,
              np.where(rng.random(K) < 0.5, -1e30, 1e-30).astype(np.float32),   # huge and tiny in one vector
              -np.abs(rng.standard_normal(K)).astype(np.float32) * 1e-20,
              np.full(K, -2.5, dtype=np.float32)):                              # exact ties of the rounding
        ref, bound = _int8_error_bound(wq, s, x, kq.INT8_GRID[name] or 2 * 127 * 254)
        got = kq.int8_kernel(name)[1](wq, s, x)
        assert got.dtype == np.float32 and got.shape == (N,)
        assert (np.abs(got - ref) <= bound).all(), (name, float(np.max(np.abs(got - ref) / bound)))


@pytest.mark.parametrize("name", ["vnni", "maddubs", "vnni1", "madd16", "vnni4t", "madd16t"])
def test_int8_dot_kernels_fall_back_to_fp32_where_x_has_no_grid(name):
    if name not in kq.int8_kernels_available():
        pytest.skip(f"the code Numba generates here lacks {sorted(kq.INT8_NEEDS[name])}")
    gemv = kq.int8_kernel(name)[1]
    wq = np.array([[1, -2, 3], [0, 0, 0]], dtype=np.int8)
    s = np.array([0.5, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(gemv(wq, s, np.zeros(3, np.float32)), [0.0, 0.0])
    tiny = np.array([1e-38, -2e-38, 0.0], dtype=np.float32)                # sl would be subnormal
    np.testing.assert_allclose(gemv(wq, s, tiny), kq.int8_gemv(wq, s, tiny), rtol=1e-6)
    got = gemv(wq, s, np.array([np.nan, 1.0, 1.0], dtype=np.float32))
    assert np.isnan(got[0])                                                # NaN stays NaN, as in fp32
    assert np.isinf(gemv(wq, s, np.array([0.0, 0.0, np.inf], dtype=np.float32))[0])


@pytest.mark.parametrize("name", ["vnni", "maddubs", "vnni1", "madd16", "vnni4t", "madd16t"])
def test_int8_dot_kernels_take_strided_views_and_refuse_other_dtypes(name):
    if name not in kq.int8_kernels_available():
        pytest.skip(f"the code Numba generates here lacks {sorted(kq.INT8_NEEDS[name])}")
    gemv = kq.int8_kernel(name)[1]
    rng = np.random.default_rng(11)
    big = rng.integers(-128, 128, (200, 10), dtype=np.int8)
    wq = big.T[:, ::2]                                    # (10, 100), neither row- nor column-contiguous
    s = rng.uniform(0.01, 0.1, 10).astype(np.float32)
    x = rng.standard_normal(100)                          # float64: converted
    ref, bound = _int8_error_bound(wq, s, x.astype(np.float32), kq.INT8_GRID[name])
    assert (np.abs(gemv(wq, s, x) - ref) <= bound).all()
    with pytest.raises(TypeError, match="2-D int8"):
        gemv(wq.astype(np.int16), s, x)


def test_int8_dispatch_by_cpu_kind_features_and_override(monkeypatch):
    monkeypatch.delenv(kq.INT8_ENV, raising=False)
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+fma,+avx512f,+avx512bw,+avx512vnni")
    assert kq.int8_kernel_name("avx512") == "vnni4t" and kq.int8_kernel_name() == "vnni4t"
    assert kq.int8_kernel_name("avx2") == "madd16t" and kq.int8_kernel_name("other") == "fma4"
    monkeypatch.setenv("NUMBA_CPU_FEATURES", "+avx2,+fma,+avx512f,+avx512bw,-avx512vnni")  # AVX-512 without VNNI
    assert kq.int8_kernel_name() == "fma4" and kq.int8_kernels_available() == ("fma4", "maddubs", "madd16", "madd16t")
    monkeypatch.setenv("NUMBA_CPU_FEATURES", kq.cpu_target_env("haswell")["NUMBA_CPU_FEATURES"])
    assert kq.numba_code_kind() == "avx2" and kq.int8_kernel_name() == "madd16t" and kq.int4_kernel_name() == "nib16"
    with pytest.raises(RuntimeError, match="needs the CPU features"):      # refused before LLVM is asked to compile
        kq.int8_gemv_vnni(np.zeros((4, 64), np.int8), np.ones(4, np.float32), np.ones(64, np.float32))
    monkeypatch.setenv(kq.INT8_ENV, "fma4")
    assert kq.int8_kernel()[0] == "fma4"
    monkeypatch.setenv(kq.INT8_ENV, "amx")
    with pytest.raises(ValueError, match="use one of fma4, vnni, maddubs, vnni1, madd16"):
        kq.int8_kernel_name()
    with pytest.raises(ValueError, match="unknown int8 kernel"):
        kq.int8_kernel("amx")


def test_haswell_target_turns_off_everything_a_haswell_lacks():
    feats = kq.cpu_target_env("haswell")["NUMBA_CPU_FEATURES"].split(",")
    on = {f[1:] for f in feats if f.startswith("+")}
    assert {"avx2", "fma"} <= on and not {f for f in on if f.startswith(("avx512", "avxvnni", "amx"))}
    with pytest.raises(ValueError, match="unknown CPU target"):
        kq.cpu_target_env("pentium4")


def test_int8_kernels_compile_and_agree_for_a_haswell_target():
    """The AVX2 build (what an AVX2 laptop runs) in a child process: LLVM must lower maddubs, madd16 and nib16 for
    haswell, and they must agree with the fp32 kernels."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np; from benchmarks import kernels_quant as kq; "
            "rng = np.random.default_rng(1); w = rng.integers(-128, 128, (6, 200), dtype=np.int8); "
            "s = np.ones(6, np.float32); x = rng.standard_normal(200).astype(np.float32); "
            "b = kq.int8_gemv(w, s, x); "
            "e = max(float(np.abs(f(w, s, x) - b).max() / np.abs(b).max()) "
            "for f in (kq.int8_gemv_maddubs, kq.int8_gemv_madd16, kq.int8_gemv_madd16t)); "
            "q = rng.integers(-8, 8, (6, 256), dtype=np.int8); s4 = rng.uniform(0.01, 0.1, (6, 2)).astype(np.float32); "
            "x4 = rng.standard_normal(256).astype(np.float32); p = kq.pack_int4(q, 128); "
            "r4 = kq.int4_gemv_rows4(p, s4, x4, 128); "
            "e = max(e, float(np.abs(kq.int4_gemv_nib16(p, s4, x4, 128) - r4).max() / np.abs(r4).max())); "
            "print(kq.numba_code_kind(), kq.int8_kernel_name(), kq.int8_kernels_available(), e)")
    env = {**os.environ, **kq.cpu_target_env("haswell")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    kind, name, available, err = out.split(" ", 2)[0], out.split(" ")[1], out[out.index("("):out.index(")") + 1], \
        float(out.rsplit(" ", 1)[1])
    assert (kind, name, available) == ("avx2", "madd16t", "('fma4', 'maddubs', 'madd16', 'madd16t')") and err < 1e-4


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
    for name in kq.int4_kernels_available():
        got_name, pack, gemv = kq.int4_kernel(name)
        assert got_name == name
        if kq.INT4_GRID[name]:   # x rounded per call: within what that rounding can cost
            ref, bound = _int4_error_bound(q, s, x, 128, kq.INT4_GRID[name])
            assert (np.abs(gemv(pack(q, 128), s, x, 128) - ref) <= bound).all(), name
        else:
            np.testing.assert_allclose(gemv(pack(q, 128), s, x, 128), ref, rtol=1e-5,
                                       atol=1e-5 * np.abs(ref).max(), err_msg=name)


def test_int4_dispatch_by_cpu_kind_and_override(monkeypatch):
    monkeypatch.delenv(kq.INT4_ENV, raising=False)
    assert kq.int4_kernel_name("avx512") == "nib16"
    assert kq.int4_kernel_name("avx2") == "nib16"
    assert kq.int4_kernel_name("other") == "floor"
    assert kq.int4_kernel()[0] == kq.int4_kernel_name(kq.numba_code_kind())
    monkeypatch.setenv(kq.INT4_ENV, "words")
    assert kq.int4_kernel_name("avx512") == "words" and kq.int4_kernel()[0] == "words"
    monkeypatch.setenv(kq.INT4_ENV, "floor4")
    assert kq.int4_kernel_name("avx2") == "floor4"
    monkeypatch.setenv(kq.INT4_ENV, "nibbles")
    with pytest.raises(ValueError, match="use one of floor, floor4, words, nib16"):
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


@pytest.mark.parametrize("name", ["vnni", "maddubs", "vnni1", "madd16", "vnni4t", "madd16t"])
def test_int8_dot_kernels_sum_a_long_row_past_int32(name):
    """K = 150 000 of the largest codes: every row's integer sum passes 2^31 (each lane's does not)."""
    if name not in kq.int8_kernels_available():
        pytest.skip(f"the code Numba generates here lacks {sorted(kq.INT8_NEEDS[name])}")
    K = 150_000
    wq = np.empty((3, K), dtype=np.int8)
    wq[0], wq[1], wq[2] = -128, 127, np.where(np.arange(K) % 2 == 0, -128, 127)
    s = np.full(3, 1e-3, dtype=np.float32)
    x = np.full(K, -3.0, dtype=np.float32)
    ref, bound = _int8_error_bound(wq, s, x, kq.INT8_GRID[name])
    got = kq.int8_kernel(name)[1](wq, s, x)
    assert (np.abs(got - ref) <= bound).all(), (name, got, ref)


def _int4_error_bound(q, s, x, g, grid):
    """What rounding x to max|x| / grid can cost in a group-wise int4 GEMV, plus fp32 rounding."""
    x = np.asarray(x, dtype=np.float64)
    sw = q.astype(np.float64) * np.repeat(s, g, axis=1)
    ref = sw @ x
    return ref, 1.001 * np.abs(sw).sum(1) * np.abs(x).max() / grid + 2e-6 * np.abs(sw).sum(1) * np.abs(x).max()


@pytest.mark.parametrize(("N", "K", "g"), [(1, 64, 64), (3, 128, 64), (5, 512, 128), (4, 1024, 256), (33, 4096, 128),
                                           (2, 8192, 8192)])
def test_int4_nib16_stays_within_its_error_bound(N, K, g):
    if "nib16" not in kq.int4_kernels_available():
        pytest.skip("the code Numba generates here lacks AVX2")
    rng = np.random.default_rng(N * K + g)
    q = rng.integers(-8, 8, (N, K), dtype=np.int8)
    q[0, :g] = -8                                               # the extremes of the range, each a whole group
    q[-1, -g:] = 7
    if K >= 2 * g:
        q[N // 2, g: 2 * g] = 0                                 # an all-zero group
    s = rng.uniform(0.001, 0.1, (N, K // g)).astype(np.float32)
    p = kq.pack_int4(q, g)
    for x in (rng.standard_normal(K).astype(np.float32) * 30,
              np.where(rng.random(K) < 0.5, -1e30, 1e-30).astype(np.float32),   # huge and tiny in one vector
              -np.abs(rng.standard_normal(K)).astype(np.float32) * 1e-20,       # all negative, small
              np.full(K, -2.5, dtype=np.float32),                               # exact ties of the rounding
              np.full(K, 1e30, dtype=np.float32)):                              # the largest codes everywhere
        ref, bound = _int4_error_bound(q, s, x, g, kq.INT4_GRID["nib16"])
        got = kq.int4_gemv_nib16(p, s, x, g)
        assert got.dtype == np.float32 and got.shape == (N,)
        assert (np.abs(got - ref) <= bound).all(), float(np.max(np.abs(got - ref) / bound))


def test_int4_nib16_falls_back_where_it_cannot_serve():
    if "nib16" not in kq.int4_kernels_available():
        pytest.skip("the code Numba generates here lacks AVX2")
    rng = np.random.default_rng(7)
    q = rng.integers(-8, 8, (3, 96), dtype=np.int8)
    s = rng.uniform(0.01, 0.1, (3, 3)).astype(np.float32)
    x = rng.standard_normal(96).astype(np.float32)
    p = kq.pack_int4(q, 32)                                   # group 32: not a multiple of 64, floor4 computes it
    np.testing.assert_array_equal(kq.int4_gemv_nib16(p, s, x, 32), kq.int4_gemv_rows4(p, s, x, 32))
    q, s = q[:, :64], s[:, :1] * 0 + 0.5
    p = kq.pack_int4(q, 64)
    np.testing.assert_array_equal(kq.int4_gemv_nib16(p, s, np.zeros(64, np.float32), 64), np.zeros(3))
    x = rng.standard_normal(64).astype(np.float32)
    x[5] = np.nan
    assert np.isnan(kq.int4_gemv_nib16(p, s, x, 64)).all() == np.isnan(kq.int4_gemv_rows4(p, s, x, 64)).all()
    x[5] = np.inf                                             # inf reaches the fp32 kernel, as NaN does
    np.testing.assert_array_equal(kq.int4_gemv_nib16(p, s, x, 64), kq.int4_gemv_rows4(p, s, x, 64))
    with pytest.raises(TypeError, match="2-D int8"):
        kq.int4_gemv_nib16(p.view(np.uint8), s, x, 64)


def test_int4_nib16_takes_strided_views():
    if "nib16" not in kq.int4_kernels_available():
        pytest.skip("the code Numba generates here lacks AVX2")
    rng = np.random.default_rng(8)
    q = rng.integers(-8, 8, (10, 256), dtype=np.int8)
    p = np.asfortranarray(kq.pack_int4(q, 128))               # column-major bytes
    s = np.asfortranarray(rng.uniform(0.01, 0.1, (10, 2)).astype(np.float32))
    x = rng.standard_normal(512)[::2]                         # float64, strided: converted
    ref, bound = _int4_error_bound(q, s, x, 128, kq.INT4_GRID["nib16"])
    assert (np.abs(kq.int4_gemv_nib16(p, s, x, 128) - ref) <= bound).all()


@pytest.mark.parametrize(("N", "K"), [(1, 8), (4, 64), (5, 100), (9, 4096 + 37)])
def test_int8_tiles_round_trip_and_refuse_what_does_not_fit(N, K):
    rng = np.random.default_rng(N + K)
    wq = rng.integers(-128, 128, (N, K), dtype=np.int8)
    packed = kq.pack_int8_tiles(wq)
    assert packed.shape == (N, K) and packed.tiles.shape == (-(-N // 4), -(-K // 64), 4, 64)
    np.testing.assert_array_equal(packed.unpack(), wq)
    np.testing.assert_array_equal(packed.tiles[0, 0, 0, : min(K, 64)], wq[0, :64])   # row 0, inputs 0-63
    if "vnni4t" not in kq.int8_kernels_available():
        return
    s = rng.uniform(0.01, 0.1, N).astype(np.float32)
    x = rng.standard_normal(K).astype(np.float32)
    ref, bound = _int8_error_bound(wq, s, x, kq.INT8_GRID["vnni4t"])
    assert (np.abs(kq.int8_gemv_vnni4t(packed, s, x) - ref) <= bound).all()
    with pytest.raises(ValueError, match="do not fit"):
        kq.int8_gemv_vnni4t(packed, s, x[:-1])
    with pytest.raises(ValueError, match="do not fit"):
        kq.int8_gemv_vnni4t(packed, np.ones(N + 1, np.float32), x)
