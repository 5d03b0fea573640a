"""KV-cache speed-up of greedy decoding on the tiny GPT architecture: full recompute against a cached loop.

    python -m benchmarks inference            # kv_cache_speedup_512 and kv_cache_speedup_1024
    python -m benchmarks inference --quick    # tiny sizes, for checking the plumbing

The model is llmcourse.model.TinyGPT with the course checkpoint's shapes (4 layers, 4 heads, C = 128) but
a block_size long enough for the generation and random weights: time per token depends on the shapes,
not the values. Both loops produce the same greedy tokens (asserted on every timed run). They run side by side,
interleaved, with llmcourse.bench.compare; the record's value is the median of per-round ratios.
The cached decoder lives here, not in llmcourse/, which never holds a graded solution.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from llmcourse import bench
from llmcourse.model import GPTConfig, TinyGPT


@torch.inference_mode()
def generate_recompute(model: TinyGPT, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding that runs the whole context through the model for every new token: (T0 + n_new,)."""
    ids = prompt[None]
    for _ in range(n_new):
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[0]


def _cached_pass(model: TinyGPT, ids: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                 start: int) -> torch.Tensor:
    """Logits (1, T_new, V) of ids (1, T_new) at positions start..; writes keys/values into the caches."""
    cfg = model.config
    B, T_new = ids.shape
    C, n_head = cfg.d_model, cfg.n_head
    end = start + T_new
    x = model.tok_emb(ids) + model.pos_emb.weight[start:end]  # positions start..end-1
    # a decode step (one query) may see every cached key; a prefill needs the causal mask offset by start
    mask = None if T_new == 1 else torch.ones(T_new, end, dtype=torch.bool, device=ids.device).tril(diagonal=start)
    for layer, block in enumerate(model.blocks):
        q, k, v = block.attn.qkv(block.ln1(x)).split(C, dim=-1)
        q, k, v = (t.view(B, T_new, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
        k_cache[layer, :, :, start:end] = k
        v_cache[layer, :, :, start:end] = v
        y = F.scaled_dot_product_attention(q, k_cache[layer, :, :, :end], v_cache[layer, :, :, :end], attn_mask=mask)
        x = x + block.attn.out(y.transpose(1, 2).reshape(B, T_new, C))
        x = x + block.mlp(block.ln2(x))
    return model.head(model.ln_f(x))


@torch.inference_mode()
def generate_cached(model: TinyGPT, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding with a preallocated KV cache: prefill the prompt, then one token per pass."""
    cfg = model.config
    p = next(model.parameters())
    shape = (cfg.n_layer, 1, cfg.n_head, len(prompt) + n_new, cfg.d_head)
    k_cache = torch.zeros(shape, device=p.device, dtype=p.dtype)
    v_cache = torch.zeros_like(k_cache)
    out = [prompt]
    logits = _cached_pass(model, prompt[None], k_cache, v_cache, 0)
    pos = len(prompt)
    for i in range(n_new):
        nxt = logits[0, -1].argmax().view(1)
        out.append(nxt)
        if i < n_new - 1:
            logits = _cached_pass(model, nxt[None], k_cache, v_cache, pos)
            pos += 1
    return torch.cat(out)


def measure(n_new: int, rounds: int, prompt_len: int = 16, cfg: GPTConfig | None = None,
            seed: int = 0) -> tuple[bench.Comparison, bool]:
    """Interleaved timings of recompute vs cache for n_new tokens, and whether their tokens are identical."""
    torch.manual_seed(seed)
    cfg = cfg or GPTConfig(block_size=prompt_len + n_new)
    model = TinyGPT(cfg).eval()
    prompt = torch.randint(0, cfg.vocab_size, (prompt_len,), generator=torch.Generator().manual_seed(seed))
    outputs: dict[str, list[torch.Tensor]] = {"recompute": [], "kv_cache": []}
    comparison = bench.compare(
        {"recompute": lambda: outputs["recompute"].append(generate_recompute(model, prompt, n_new)),
         "kv_cache": lambda: outputs["kv_cache"].append(generate_cached(model, prompt, n_new))},
        rounds=rounds, warmup=0, baseline="recompute")
    first = outputs["recompute"][0]
    same = all(torch.equal(first, out) for outs in outputs.values() for out in outs)
    return comparison, same


def run(quick: bool) -> list[dict]:
    """Records kv_cache_speedup_<n> (ratio of recompute time to cached time) for n new tokens."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is fastest, and stable on a shared machine
    try:
        if quick:
            plan = [(12, 1, GPTConfig(vocab_size=20, block_size=24, n_layer=2, n_head=2, d_model=16))]
        else:
            plan = [(512, 3, None), (1024, 1, None)]
        records = []
        for n_new, rounds, cfg in plan:
            comparison, same = measure(n_new, rounds, prompt_len=8 if quick else 16, cfg=cfg)
            if not same:
                raise AssertionError(f"cached and recomputed greedy tokens differ for {n_new} new tokens")
            records.append({
                "name": f"kv_cache_speedup_{n_new}",
                "value": comparison.ratio("kv_cache"),
                "unit": "x",
                "baseline": "full recompute of the context for every token (same model, same tokens)",
                "ratio": comparison.ratio("kv_cache"),
                "limit": None,
                "pct_of_limit": None,
                "recompute_s": comparison.timings["recompute"].median,
                "kv_cache_s": comparison.timings["kv_cache"].median,
                "tokens_identical": same,
            })
        return records
    finally:
        torch.set_num_threads(threads)
