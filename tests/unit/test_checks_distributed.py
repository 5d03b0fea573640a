"""Visible self-checks of module 12_distributed: right answers pass, wrong ones fail naming the case.

The implementations below run inside real ranks (the checks start them with llmcourse.dist.run).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from llmcourse import checks
from llmcourse.checks import CheckFailed


def mean_right(t):
    dist.all_reduce(t)
    t /= dist.get_world_size()
    return t


def mean_sum(t):
    dist.all_reduce(t)
    return t


def mean_stub(t):
    raise NotImplementedError()


def gather_right(x):
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x)
    return torch.cat(parts)


def gather_reversed(x):
    return gather_right(x).flip(0)


def ring_as_collective(t):
    dist.all_reduce(t)
    return 0


def ring_right(t):
    rank, n = dist.get_rank(), dist.get_world_size()
    chunks = torch.tensor_split(t.view(-1), n)
    buf, sent = torch.empty_like(chunks[0]), 0
    for phase in (0, 1):
        for s in range(n - 1):
            send_i = (rank - s) % n if phase == 0 else (rank + 1 - s) % n
            recv_i = (send_i - 1) % n
            req = dist.isend(chunks[send_i], dst=(rank + 1) % n)
            b = buf[:chunks[recv_i].numel()]
            dist.recv(b, src=(rank - 1) % n)
            req.wait()
            chunks[recv_i].add_(b) if phase == 0 else chunks[recv_i].copy_(b)
            sent += chunks[send_i].numel() * t.element_size()
    return sent


def dp_right(model, opt, ids, targets, average=True):
    loss = F.cross_entropy(model(ids).flatten(0, 1), targets.flatten())
    opt.zero_grad()
    loss.backward()
    for p in model.parameters():
        dist.all_reduce(p.grad)
        if average:
            p.grad /= dist.get_world_size()
    opt.step()
    logged = loss.detach().clone()
    dist.all_reduce(logged)
    return logged.item() / dist.get_world_size()


def dp_sum(model, opt, ids, targets):
    return dp_right(model, opt, ids, targets, average=False)


def tp_right(x, W1, b1, W2, b2):
    y = F.gelu(x @ W1 + b1) @ W2
    dist.all_reduce(y)
    return y + b2


def tp_bias_twice(x, W1, b1, W2, b2):
    y = F.gelu(x @ W1 + b1) @ W2 + b2
    dist.all_reduce(y)
    return y


def heads_right(x, Wq, Wk, Wv, Wo, n_head, causal=True):
    B, T, C = x.shape
    d = C // n_head
    heads = torch.tensor_split(torch.arange(n_head), dist.get_world_size())[dist.get_rank()]
    cols = (heads[:, None] * d + torch.arange(d)).reshape(-1)
    q, k, v = ((x @ W[:, cols]).view(B, T, len(heads), d).transpose(1, 2) for W in (Wq, Wk, Wv))
    s = q @ k.transpose(-2, -1) / math.sqrt(d)
    if causal:
        s = s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
    y = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, -1) @ Wo[cols, :]
    dist.all_reduce(y)
    return y


def heads_no_mask(x, Wq, Wk, Wv, Wo, n_head):
    return heads_right(x, Wq, Wk, Wv, Wo, n_head, causal=False)


def pipe_right(stage, x, m):
    rank, p = dist.get_rank(), dist.get_world_size()
    outs = []
    for mb in torch.tensor_split(x, m):
        if rank > 0:
            mb = torch.empty_like(mb)
            dist.recv(mb, src=rank - 1)
        y = stage(mb)
        if rank < p - 1:
            dist.send(y.contiguous(), dst=rank + 1)
        else:
            outs.append(y)
    return torch.cat(outs) if rank == p - 1 else None


def map_right(fn, requests):
    rank, n = dist.get_rank(), dist.get_world_size()
    everyone = [None] * n
    dist.all_gather_object(everyone, {i: fn(requests[i]) for i in range(rank, len(requests), n)})
    merged = {i: r for part in everyone for i, r in part.items()}
    return [merged[i] for i in range(len(requests))]


def map_rank_order(fn, requests):
    rank, n = dist.get_rank(), dist.get_world_size()
    everyone = [None] * n
    dist.all_gather_object(everyone, [fn(requests[i]) for i in range(rank, len(requests), n)])
    return [r for part in everyone for r in part]


def stale_right(grad_fn, w0, lr, steps, tau):
    ws = [w0.clone()]
    for t in range(steps):
        ws.append(ws[-1] - lr * grad_fn(ws[max(0, t - tau)], t))
    return torch.stack(ws)


def stale_ignores_tau(grad_fn, w0, lr, steps, tau):
    return stale_right(grad_fn, w0, lr, steps, 0)


def shard_right(W1, b1, W2, rank, n):
    cols = torch.tensor_split(torch.arange(W1.shape[1]), n)[rank]
    return W1[:, cols], b1[cols], W2[cols, :]


def shard_swapped(W1, b1, W2, rank, n):
    rows = torch.tensor_split(torch.arange(W1.shape[0]), n)[rank]
    return W1[rows, :], b1, W2[:, rows]


def gpipe_right(p, m):
    grid = np.full((m + p - 1, p), -1)
    for s in range(p):
        grid[s:s + m, s] = np.arange(m)
    return grid, (p - 1) / (m + p - 1)


def lpt_right(costs, n):
    loads, out = [0.0] * n, [[] for _ in range(n)]
    for i in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = min(range(n), key=lambda w: (loads[w], w))
        out[w].append(i)
        loads[w] += costs[i]
    return out


CASES = [
    ("all_reduce_mean", mean_right, mean_sum, "expected [1.0, 3.0, -1.0]"),
    ("gather_shards", gather_right, gather_reversed, "3 ranks, rank 0"),
    ("ring_allreduce", ring_right, ring_as_collective, "bytes sent in all"),
    ("dp_train_step", dp_right, dp_sum, "weights after one SGD step"),
    ("stale_sgd", stale_right, stale_ignores_tau, "tau = 1"),
    ("shard_mlp", shard_right, shard_swapped, "columns of W1"),
    ("tp_mlp", tp_right, tp_bias_twice, "2 ranks, rank 0"),
    ("head_parallel_attention", heads_right, heads_no_mask, "2 ranks, rank 0"),
    ("pipeline_forward", pipe_right, None, ""),
    ("gpipe_schedule", gpipe_right, lambda p, m: (gpipe_right(p, m)[0], (p - 1) / m), "bubble 0.25"),
    ("sharded_map", map_right, map_rank_order, "request order"),
    ("lpt_assign", lpt_right, lambda c, n: [list(range(w, len(c), n)) for w in range(n)], "expected [[1, 2]"),
    ("fit_alpha_beta", lambda n, t: tuple(np.polyfit(n, t, 1)[::-1]), lambda n, t: (0.0, float(n @ t / (n @ n))),
     "(5, 2)"),
    ("ring_allreduce_time", lambda a, b, n, N: 2 * (N - 1) * (a + b * n / N),
     lambda a, b, n, N: 2 * (N - 1) * (a + b * n), "expected 6.06e-3"),
]


@pytest.mark.parametrize("name, right, wrong, message", CASES, ids=[c[0] for c in CASES])
def test_right_answers_pass_and_wrong_ones_fail_naming_the_case(name, right, wrong, message, capsys):
    check = getattr(checks.distributed, name)
    check(right)
    assert f"✔ {name}: all" in capsys.readouterr().out
    if wrong is not None:
        with pytest.raises(CheckFailed, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            check(wrong)


def test_a_stub_says_not_implemented_even_inside_the_ranks():
    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.distributed.all_reduce_mean(mean_stub)
