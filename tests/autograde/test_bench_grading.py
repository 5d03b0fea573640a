"""benchmarks/bench_grading.py: records are well formed and computed from the timings (no timing assertions)."""

from __future__ import annotations

import pytest

from benchmarks import __main__ as runner
from benchmarks import bench_grading


def test_records_from_timings():
    got = bench_grading.records(stock=[30.0, 36.0, 33.0], ours=[33.0, 36.0, 30.0], n=6, class_seconds=60.0,
                                class_n=30, sandbox="bwrap")
    for r in got:
        runner.validate(r)
    by_name = {r["name"]: r for r in got}
    assert set(by_name) == {"grading_overhead_ratio", "grading_seconds_per_student_sandboxed",
                            "grading_seconds_per_student_class30"}
    assert by_name["grading_overhead_ratio"]["value"] == pytest.approx(1.0)  # median 33 s over median 33 s
    assert by_name["grading_overhead_ratio"]["round_ratios"] == [1.1, 1.0, 0.909]
    assert by_name["grading_seconds_per_student_sandboxed"]["value"] == pytest.approx(5.5)
    assert by_name["grading_seconds_per_student_class30"]["value"] == pytest.approx(2.0)
    assert by_name["grading_seconds_per_student_class30"]["ratio"] == pytest.approx(5.5 / 2.0)
