"""The speculative-decoding benchmark's plumbing: a valid record and greedy output equal to plain greedy."""

from __future__ import annotations

import torch

from benchmarks import __main__ as runner
from benchmarks import bench_speculative
from llmcourse.model import GPTConfig, TinyGPT


def test_quick_run_gives_a_valid_record():
    (record,) = bench_speculative.run(quick=True)
    runner.validate(record)
    assert record["name"] == "speculative_decode_speedup_k4"
    assert record["tokens_identical"] is True
    assert 0.0 <= record["acceptance_rate"] <= 1.0 and record["value"] > 0 and record["limit"] > 0


def test_speculative_greedy_equals_plain_greedy_for_any_draft():
    torch.manual_seed(5)
    target = TinyGPT(GPTConfig(vocab_size=11, block_size=48, n_layer=2, n_head=2, d_model=16)).double().eval()
    drafts = [target, TinyGPT(GPTConfig(vocab_size=11, block_size=48, n_layer=1, n_head=2, d_model=8)).double()]
    prompt = torch.tensor([3, 1, 4])
    want = bench_speculative.plain_greedy(target, prompt, 20)
    for draft in drafts:
        for k in (1, 3, 6):
            got, accepted, proposed = bench_speculative.speculative_greedy(target, draft, prompt, 20, k)
            assert torch.equal(got, want) and 0 <= accepted <= proposed and proposed % k == 0
    _, accepted, proposed = bench_speculative.speculative_greedy(target, target, prompt, 20, 4)
    assert accepted == proposed == 16  # 4 rounds of 4 drafts + 1 bonus = 20 tokens
