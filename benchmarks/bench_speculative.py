"""Greedy speculative decoding of the course GPT with a distilled 2-layer draft, against plain greedy decoding.

    python -m benchmarks speculative            # speculative_decode_speedup_k4
    python -m benchmarks speculative --quick    # tiny sizes, for checking the plumbing

The target is the course checkpoint. The draft is the student of module 11 (2 layers, width 64), distilled
here from the checkpoint with the notebook's recipe (600 steps, T = 2, alpha = 0.9, teacher logits of a
pool of 1200 windows), because the repository ships no student checkpoint. Both decoders recompute the whole context on
every call (no KV cache), and both produce the same greedy tokens (asserted on every run). They are timed
side by side, interleaved, with llmcourse.bench.compare; the record's value is the median of per-round
ratios. Beside it: the greedy acceptance rate (drafts accepted / drafted), the tokens each round yielded,
the measured cost c of a draft call relative to a target call, and the speed-up these predict,
tokens per round / (k c + 1), as the record's limit.
The speculative loop lives here, not in llmcourse/, which never holds a graded solution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from llmcourse import bench
from llmcourse.data import CharTokenizer, load_corpus
from llmcourse.model import GPTConfig, TinyGPT, load_checkpoint


@torch.no_grad()
def plain_greedy(model, prompt: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy decoding, one full forward pass per new token: (len(prompt) + n_new,)."""
    ids = prompt.clone()
    for _ in range(n_new):
        ids = torch.cat([ids, model(ids)[-1].argmax().view(1)])
    return ids


@torch.no_grad()
def speculative_greedy(target, draft, prompt: torch.Tensor, n_new: int, k: int) -> tuple[torch.Tensor, int, int]:
    """Greedy speculative decoding: (ids equal to plain_greedy(target), drafts accepted, drafts proposed)."""
    ids = prompt.clone()
    accepted = proposed = 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[-k - 1:].argmax(dim=-1)  # (k + 1,)
        drafts = seq[len(ids):]
        n = 0
        while n < k and drafts[n] == best[n]:
            n += 1
        accepted, proposed = accepted + n, proposed + k
        ids = torch.cat([ids, drafts[:n], best[n].view(1)])
    return ids[:len(prompt) + n_new], accepted, proposed


def distil_draft(teacher: TinyGPT, cfg: GPTConfig, steps: int, pool: int, batch: int = 8, seed: int = 0,
                 temperature: float = 2.0, alpha: float = 0.9) -> TinyGPT:
    """Module 11's student recipe: `steps` of alpha * T^2 KL(teacher || student) + (1 - alpha) * CE.

    The teacher's logits are computed once for `pool` windows of block_size characters; batches are
    drawn from that pool. Warm-up over the first tenth of the steps, then cosine decay to a tenth.
    """
    tok = CharTokenizer()
    data = torch.as_tensor(tok.encode(load_corpus("train")[:400_000]))
    gen = torch.Generator().manual_seed(11)
    T = cfg.block_size
    starts = torch.randint(0, len(data) - T - 1, (pool,), generator=gen)
    xs = torch.stack([data[s:s + T] for s in starts])
    ys = torch.stack([data[s + 1:s + T + 1] for s in starts])
    with torch.no_grad():
        zt = torch.cat([teacher(xs[i:i + 50]) for i in range(0, pool, 50)])
    torch.manual_seed(seed)
    student = TinyGPT(cfg)
    opt = torch.optim.AdamW(student.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    warm = max(1, steps // 10)
    for step in range(steps):
        frac = (step - warm) / max(1, steps - warm)
        lr = 3e-3 * ((step + 1) / warm if step < warm else 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = lr
        rows = torch.randint(0, pool, (batch,), generator=gen)
        zs = student(xs[rows]).flatten(0, 1)
        log_p = F.log_softmax(zt[rows].flatten(0, 1) / temperature, -1)
        log_q = F.log_softmax(zs / temperature, -1)
        soft = temperature**2 * F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
        loss = alpha * soft + (1 - alpha) * F.cross_entropy(zs, ys[rows].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
    return student.eval()


def measure(quick: bool, k: int = 4) -> dict:
    """Time plain and speculative greedy decoding side by side; the record's fields."""
    if quick:
        torch.manual_seed(0)
        teacher = TinyGPT(GPTConfig(n_layer=2, n_head=2, d_model=16, block_size=32)).eval()
        draft = distil_draft(teacher, GPTConfig(n_layer=1, n_head=2, d_model=8, block_size=32), steps=3, pool=4,
                             batch=2)
        teacher, draft = teacher.double(), draft.double()  # random weights: near-ties, so compare in float64
        n_new, rounds = 8, 1
    else:
        teacher = load_checkpoint()
        draft = distil_draft(teacher, GPTConfig(n_layer=2, n_head=4, d_model=64), steps=600, pool=1200)
        n_new, rounds = 64, 7
    tok = CharTokenizer()
    prompt = torch.as_tensor(tok.encode(load_corpus("val")[:16 if quick else 40]))
    reference = plain_greedy(teacher, prompt, n_new)
    got, accepted, proposed = speculative_greedy(teacher, draft, prompt, n_new, k)
    same = bool(torch.equal(got, reference))
    if not same:
        raise AssertionError("speculative greedy decoding differs from plain greedy decoding")
    ctx = reference[:len(prompt) + n_new // 2]
    calls = bench.compare({"target": lambda: teacher(ctx), "draft": lambda: draft(ctx)},
                          rounds=rounds, prime=2, number=2 if quick else 10)
    cost = 1 / calls.ratio("draft")
    cmp = bench.compare({"plain": lambda: plain_greedy(teacher, prompt, n_new),
                         "speculative": lambda: speculative_greedy(teacher, draft, prompt, n_new, k)},
                        rounds=rounds, warmup=1)
    rounds = proposed // k
    per_round = (accepted + rounds) / rounds  # tokens per target call
    predicted = per_round / (k * cost + 1)
    ratio = cmp.ratio("speculative")
    return {
        "name": f"speculative_decode_speedup_k{k}",
        "value": ratio,
        "unit": "x",
        "baseline": "plain greedy decoding of the course GPT, full recompute per token (same tokens)",
        "ratio": ratio,
        "limit": predicted,
        "pct_of_limit": 100 * ratio / predicted,
        "acceptance_rate": accepted / proposed,
        "tokens_per_round": per_round,
        "draft_call_cost": cost,
        "tokens_identical": same,
        "plain_s": cmp.timings["plain"].median,
        "speculative_s": cmp.timings["speculative"].median,
        "note": "limit = tokens per round / (k * draft-call cost + 1), both measured in this run",
    }


def run(quick: bool) -> list[dict]:
    """Records speculative_decode_speedup_k4."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small models: one thread is fastest, and stable on a shared machine
    try:
        return [measure(quick)]
    finally:
        torch.set_num_threads(threads)
