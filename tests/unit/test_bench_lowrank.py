"""benchmarks/bench_lowrank.py: records well formed, reference kernels correct (no timing assertions)."""

from __future__ import annotations

import numpy as np

from benchmarks import __main__ as bench_main
from benchmarks import bench_lowrank as bl


def test_quick_run_gives_well_formed_records():
    records = bl.run(quick=True)
    assert [r["name"] for r in records] == ["lowrank_matvec_4096_r256", "randomized_svd_2048_r64",
                                            "linear_attention_T4096"]
    for r in records:
        bench_main.validate(r)
        assert r["value"] > 0 and r["ratio"] > 0 and "cpu_features" in r
    assert records[1]["error_ratio"] < 1.05
    assert records[2]["memory_ratio"] > 1


def test_causal_linear_matches_the_quadratic_form():
    rng = np.random.default_rng(0)
    pq, pk, v = rng.exponential(1.0, (150, 8)), rng.exponential(1.0, (150, 8)), rng.standard_normal((150, 5))
    w = np.tril(pq @ pk.T)
    np.testing.assert_allclose(bl.causal_linear(pq, pk, v), (w @ v) / w.sum(axis=1, keepdims=True), rtol=1e-10)


def test_randomized_svd_is_exact_on_a_low_rank_matrix():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((40, 3)) @ rng.standard_normal((3, 30))
    U, S, Vt = bl.randomized_svd(W, 3)
    np.testing.assert_allclose((U * S) @ Vt, W, atol=1e-10)
