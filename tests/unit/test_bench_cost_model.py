"""The cost-model benchmark: records well formed, predictor formulas right (no timing assertions)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import __main__ as runner
from benchmarks import bench_cost_model as bcm

NAMES = {"cost_model_read_bandwidth": "GB/s", "cost_model_read_bandwidth_chunked": "GB/s",
         "cost_model_decode_error_pct_chunked_read": "%", "cost_model_fp32_peak": "GFLOP/s",
         "cost_model_decode_overhead_floor": "ms", "cost_model_decode_error_pct_roofline": "%",
         "cost_model_decode_predicted": "ms", "cost_model_decode_measured": "ms", "cost_model_decode_error_pct": "%",
         "cost_model_read_bandwidth_1thread": "GB/s", "cost_model_decode_error_pct_1thread": "%"}


def test_quick_run_gives_well_formed_records():
    records = [runner.validate(r) for r in bcm.run(quick=True)]
    assert {r["name"]: r["unit"] for r in records} == NAMES
    by_name = {r["name"]: r for r in records}
    for name in ("cost_model_read_bandwidth", "cost_model_fp32_peak", "cost_model_decode_predicted",
                 "cost_model_decode_measured"):
        assert by_name[name]["value"] > 0
    err = by_name["cost_model_decode_error_pct"]
    assert err["limit"] == by_name["cost_model_read_bandwidth"]["value"]
    pred, meas = by_name["cost_model_decode_predicted"]["value"], by_name["cost_model_decode_measured"]["value"]
    floor = by_name["cost_model_decode_overhead_floor"]["value"]
    assert floor > 0 and pred > floor
    roof = by_name["cost_model_decode_error_pct_roofline"]["value"]
    assert math.isclose(roof, (meas - (pred - floor)) / (pred - floor) * 100, rel_tol=1e-9)
    assert math.isfinite(err["value"])
    assert err["pct_of_limit"] > 0
    one = by_name["cost_model_decode_error_pct_1thread"]
    assert one["limit"] == by_name["cost_model_read_bandwidth_1thread"]["value"] > 0
    # every error carries its rounds' spread and the measured parameters it was predicted from
    for name in ("cost_model_decode_error_pct", "cost_model_decode_error_pct_1thread",
                 "cost_model_decode_error_pct_chunked_read"):
        r = by_name[name]
        assert r["value_rounds_min"] <= r["value"] <= r["value_rounds_max"] and r["rounds"] == 3
        assert r["bandwidth_gbs"] == r["limit"] and r["peak_gflops"] > 0 and r["overhead_floor_ms"] > 0
    assert err["peak_gflops"] == by_name["cost_model_fp32_peak"]["value"]
    assert by_name["cost_model_decode_error_pct_chunked_read"]["limit"] == \
        by_name["cost_model_read_bandwidth_chunked"]["value"]


def test_predictor_formulas():
    s = bcm.Shape(n_layer=1, C=4, n_head=2, d_ff=8, V=10)
    # weights 4*16 + 2*4*8 = 128 per layer, head 40 -> 168 weights, 672 bytes; KV 2 * 1 * 4 * 3 tokens * 4 bytes
    assert bcm.weights_and_kv_bytes(s, 3) == (672, 96)
    assert bcm.decode_flops(s, 3) == 2 * 168 + 4 * 4 * 3
    # memory-bound: bytes / bandwidth wins
    assert math.isclose(bcm.predict_decode_seconds(s, 3, peak=1e12, bandwidth=768.0), 1.0)
    assert math.isclose(bcm.predict_decode_seconds(s, 3, peak=1e12, bandwidth=768.0, overhead=0.25), 1.25)
    # compute-bound: FLOPs / peak wins (2 * 168 + 48 = 384 FLOPs)
    assert math.isclose(bcm.predict_decode_seconds(s, 3, peak=384.0, bandwidth=1e12), 1.0)


def test_error_pairs_each_round_with_its_own_read():
    s = bcm.Shape(n_layer=1, C=4, n_head=2, d_ff=8, V=10)          # 768 bytes a step at T = 3
    # round 1: read 768 B in 1 s -> 768 B/s, floor 0.5 s -> predicted 1.5 s, step 3 s -> +100%
    # round 2: the machine is twice as fast for everything -> still +100%; round 3: step on time -> 0%
    err = bcm.paired_error_pct(s, 3, 1e12, 768, steps=[3.0, 1.5, 1.5], floors=[0.5, 0.25, 0.5],
                               reads=[1.0, 0.5, 1.0])
    assert math.isclose(err, 100.0)
    assert bcm.paired_errors(s, 3, 1e12, 768, [3.0, 1.5, 1.5], [0.5, 0.25, 0.5], [1.0, 0.5, 1.0]) == \
        pytest.approx([100.0, 100.0, 0.0])
    # a median, not a mean: one wild round does not move it
    assert math.isclose(bcm.paired_error_pct(s, 3, 1e12, 768, [1.5, 1.5, 90.0], [0.5] * 3, [1.0] * 3), 0.0)


def test_floor_shape_keeps_the_graph():
    s = bcm.Shape(n_layer=6, C=1024, n_head=8, d_ff=4096, V=48)
    f = bcm.floor_shape(s)
    assert (f.n_layer, f.n_head, f.V) == (6, 8, 48) and f.C % f.n_head == 0
    assert sum(bcm.weights_and_kv_bytes(f, 512)) < sum(bcm.weights_and_kv_bytes(s, 512)) / 500


def test_decode_step_shape_and_finite():
    s = bcm.Shape(n_layer=2, C=16, n_head=4, d_ff=32, V=7)
    m = bcm.random_model(s, T=5)
    out = bcm.decode_step(m, s, np.ones((1, 16), np.float32))
    assert out.shape == (1, 7) and np.all(np.isfinite(out))


def test_matrix_count_and_no_machine_constant_in_the_prediction():
    assert bcm.matrix_count(bcm.Shape(n_layer=6, C=1024, n_head=8, d_ff=4096, V=48)) == 25
    # the prediction scales exactly with the measured parameters: nothing else about the machine enters it
    s = bcm.Shape(n_layer=2, C=64, n_head=4, d_ff=256, V=10)
    base = bcm.predict_decode_seconds(s, 16, peak=1e11, bandwidth=2e10, overhead=1e-3)
    assert math.isclose(bcm.predict_decode_seconds(s, 16, peak=2e11, bandwidth=4e10, overhead=5e-4), base / 2)
