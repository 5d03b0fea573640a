"""Module 12's benchmark plumbing: valid records from real process groups, and a ring equal to all_reduce."""

from __future__ import annotations

import torch
import torch.distributed as dist

from benchmarks import __main__ as runner
from benchmarks import bench_distributed, targets
from llmcourse import dist as launch


def _ring_equals_all_reduce(rank, world_size, n):
    x = torch.arange(n, dtype=torch.float64) * (rank + 1)
    want = x.clone()
    dist.all_reduce(want)
    bench_distributed.ring_allreduce(x)
    return torch.equal(x, want)


def test_the_benchmark_ring_sums_like_all_reduce_for_awkward_lengths():
    for world_size, n in ((2, 1), (3, 7), (4, 10), (4, 3)):
        assert all(launch.run(_ring_equals_all_reduce, world_size, n, timeout=60)), (world_size, n)


def test_quick_run_gives_valid_records_with_targets():
    records = bench_distributed.run(quick=True)
    assert [r["name"] for r in records] == ["ring_allreduce_4r_16MB", "comm_model_error_pct", "dp_step_scaling_2r"]
    for r in records:
        runner.validate(r)
    assert {r["name"] for r in records[:2]} <= set(targets.TARGETS)
    ring, model, scaling = records
    assert scaling["value"] > 0 and scaling["one_rank_s"] > 0
    assert ring["value"] > 0 and ring["ring_s"] > 0 and ring["gloo_s"] > 0
    assert len(model["errors_pct"]) == 4 and model["beta_s_per_byte"] == model["beta_s_per_byte"]
