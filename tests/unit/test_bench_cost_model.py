"""The cost-model benchmark: records well formed, predictor formulas right (no timing assertions)."""

from __future__ import annotations

import math

import numpy as np

from benchmarks import __main__ as runner
from benchmarks import bench_cost_model as bcm

NAMES = {"cost_model_read_bandwidth": "GB/s", "cost_model_fp32_peak": "GFLOP/s",
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
    assert math.isclose(err["value"], (meas - pred) / pred * 100, rel_tol=1e-9)
    assert err["pct_of_limit"] > 0
    one = by_name["cost_model_decode_error_pct_1thread"]
    assert one["limit"] == by_name["cost_model_read_bandwidth_1thread"]["value"] > 0


def test_predictor_formulas():
    s = bcm.Shape(n_layer=1, C=4, n_head=2, d_ff=8, V=10)
    # weights 4*16 + 2*4*8 = 128 per layer, head 40 -> 168 weights, 672 bytes; KV 2 * 1 * 4 * 3 tokens * 4 bytes
    assert bcm.weights_and_kv_bytes(s, 3) == (672, 96)
    assert bcm.decode_flops(s, 3) == 2 * 168 + 4 * 4 * 3
    # memory-bound: bytes / bandwidth wins
    assert math.isclose(bcm.predict_decode_seconds(s, 3, peak=1e12, bandwidth=768.0), 1.0)


def test_decode_step_shape_and_finite():
    s = bcm.Shape(n_layer=2, C=16, n_head=4, d_ff=32, V=7)
    m = bcm.random_model(s, T=5)
    out = bcm.decode_step(m, s, np.ones((1, 16), np.float32))
    assert out.shape == (1, 7) and np.all(np.isfinite(out))
