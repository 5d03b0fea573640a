"""The KV-cache benchmark's plumbing: well-formed records and identical tokens (no timing assertions)."""

from __future__ import annotations

import torch

from benchmarks import __main__ as runner
from benchmarks import bench_inference
from llmcourse.model import GPTConfig, TinyGPT


def test_quick_run_gives_valid_records():
    records = bench_inference.run(quick=True)
    assert records
    for r in records:
        runner.validate(r)
        assert r["name"].startswith("kv_cache_speedup_")
        assert r["tokens_identical"] is True
        assert r["value"] > 0 and r["limit"] is None and r["pct_of_limit"] is None


def test_cached_decoding_equals_recompute_on_random_prompts():
    torch.manual_seed(3)
    model = TinyGPT(GPTConfig(vocab_size=13, block_size=40, n_layer=2, n_head=2, d_model=16)).double().eval()
    gen = torch.Generator().manual_seed(4)
    for prompt_len, n_new in ((1, 1), (5, 20), (17, 23)):
        prompt = torch.randint(0, 13, (prompt_len,), generator=gen)
        want = bench_inference.generate_recompute(model, prompt, n_new)
        got = bench_inference.generate_cached(model, prompt, n_new)
        assert got.shape == (prompt_len + n_new,)
        assert torch.equal(got, want)
