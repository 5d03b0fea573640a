"""benchmarks/__main__.py: each module runs in its own process and the JSON file holds valid records."""

from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as runner


def test_one_module_in_a_child_process_writes_valid_records(tmp_path):
    out = tmp_path / "bench.json"
    assert runner.main(["cost_model", "--quick", "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert {r["name"] for r in records} >= {"cost_model_decode_error_pct", "cost_model_read_bandwidth"}
    for r in records:
        runner.validate(r)


def test_unknown_module_is_a_clear_error():
    with pytest.raises(SystemExit, match="no benchmark module benchmarks/bench_nope.py"):
        runner.run_isolated("nope", quick=True)


def test_validate_rejects_missing_fields_and_non_finite_numbers():
    good = {"name": "x", "value": 1.0, "unit": "s", "baseline": None, "ratio": None, "limit": None,
            "pct_of_limit": None}
    assert runner.validate(dict(good)) == good
    with pytest.raises(ValueError, match="lacks"):
        runner.validate({"name": "x"})
    with pytest.raises(ValueError, match="finite"):
        runner.validate({**good, "ratio": float("nan")})
