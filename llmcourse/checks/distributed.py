"""Visible self-checks for module 12_distributed.

Each check starts real ranks with llmcourse.dist.run and calls the learner's function inside them.
Expected values are small integers worked out by hand (the arithmetic sits next to each case) or
properties any correct answer has; no check holds a reference solution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .. import dist as launch
from ._core import CheckFailed


def _launch(label: str, worker: Callable, world_size: int, *args: Any) -> list[Any]:
    """Run worker on world_size ranks; turn a failed run into a CheckFailed that says what happened."""
    try:
        return launch.run(worker, world_size, *args, timeout=30)
    except launch.DistError as err:
        text = str(err)
        if "NotImplementedError" in text:
            raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                              ) from None
        raise CheckFailed(f"{label} on {world_size} ranks: {text}") from None


def _passed(label: str, n: int) -> None:
    print(f"✔ {label}: all {n} visible cases passed")


def _tensor(label: str, case: str, got: Any, expected: list, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{label}, {case}: expected a torch.Tensor, got {type(got).__name__}")
    exp = torch.tensor(expected, dtype=torch.float64)
    if tuple(got.shape) != tuple(exp.shape):
        raise CheckFailed(f"{label}, {case}: expected shape {tuple(exp.shape)}, got {tuple(got.shape)}")
    if not torch.allclose(got.detach().double(), exp, rtol=rtol, atol=atol):
        raise CheckFailed(f"{label}, {case}: expected {exp.tolist()}, got {got.detach().double().tolist()}")


# ------------------------------------------------------------------------------------------ §1 collectives


def _w_mean(rank: int, world_size: int, fn: Callable) -> Any:
    t = torch.tensor([float(rank), 2.0 * rank + 1, -float(rank)])
    out = fn(t)
    return out, t


def all_reduce_mean(fn: Callable) -> None:
    """Check all_reduce_mean(t) on 3 ranks: rank r holds [r, 2r + 1, -r]."""
    label = "all_reduce_mean"
    for r, (out, t) in enumerate(_launch(label, _w_mean, 3, fn)):
        # mean over r = 0, 1, 2 of [r, 2r + 1, -r] = [1, 3, -1]; a sum would give [3, 9, -3]
        _tensor(label, f"3 ranks, rank {r}", t, [1.0, 3.0, -1.0])
        if out is not t:
            raise CheckFailed(f"{label}: return the tensor you were given, averaged in place")
    _passed(label, 3)


def _w_gather(rank: int, world_size: int, fn: Callable) -> Any:
    x = torch.tensor([[10.0 * rank, 10.0 * rank + 1]])  # (1, 2): this rank's one row
    return fn(x)


def gather_shards(fn: Callable) -> None:
    """Check gather_shards(x) on 3 ranks, rank r holding the row [10r, 10r + 1]."""
    label = "gather_shards"
    for r, got in enumerate(_launch(label, _w_gather, 3, fn)):
        _tensor(label, f"3 ranks, rank {r}", got, [[0.0, 1.0], [10.0, 11.0], [20.0, 21.0]])
    _passed(label, 3)


# ------------------------------------------------------------------------------------------------ §2 ring


def _w_ring(rank: int, world_size: int, fn: Callable, n: int) -> Any:
    t = torch.arange(n, dtype=torch.float64) + 100.0 * rank  # rank r: [100r, 100r + 1, ...]
    sent = fn(t)
    return t, sent


def ring_allreduce(fn: Callable) -> None:
    """Check ring_allreduce on 3 ranks (length 6, then 7: not divisible by 3) and 2 ranks (length 5)."""
    label = "ring_allreduce"
    cases = 0
    for world_size, n in ((3, 6), (3, 7), (2, 5)):
        # sum over ranks of [100r + i] = N * i + 100 * (0 + 1 + ... + N-1)
        expected = [world_size * i + 100.0 * world_size * (world_size - 1) / 2 for i in range(n)]
        out = _launch(label, _w_ring, world_size, fn, n)
        for r, (t, sent) in enumerate(out):
            _tensor(label, f"{world_size} ranks, length {n}, rank {r}", t, expected, rtol=0, atol=0)
            if not isinstance(sent, int):
                raise CheckFailed(f"{label}: return the number of bytes this rank sent (an int), got {sent!r}")
        total = sum(s for _, s in out)
        # every chunk goes round the ring twice, N - 1 hops each time: 2 (N - 1) * n * 8 bytes in all
        if total != 2 * (world_size - 1) * n * 8:
            raise CheckFailed(f"{label}, {world_size} ranks, {n} float64: the ranks report {total} bytes sent in "
                              f"all, a ring sends 2 (N - 1) S = {2 * (world_size - 1) * n * 8}")
        cases += 1
    _passed(label, cases)


# ------------------------------------------------------------------------------------------- §3 data parallel


def _w_dp(rank: int, world_size: int, fn: Callable) -> Any:
    model = torch.nn.Embedding(2, 2).double()  # logits = the embedding row of each id
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], dtype=torch.float64))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    ids = torch.tensor([[rank]])  # rank 0 sees token 0, rank 1 token 1
    targets = torch.tensor([[0]])  # both should predict class 0
    loss = fn(model, opt, ids, targets)
    return loss, model.weight.detach().clone()


def dp_train_step(fn: Callable) -> None:
    """Check dp_train_step on 2 ranks with a 2x2 embedding as the model (logits = row of the id)."""
    label = "dp_train_step"
    out = _launch(label, _w_dp, 2, fn)
    # rank 0: logits [0, ln 3] -> p = [1/4, 3/4], loss ln 4; rank 1: logits [0, 0] -> loss ln 2; the mean 1.5 ln 2.
    # Gradients p - onehot(0): row 0 [-3/4, 3/4] from rank 0, row 1 [-1/2, 1/2] from rank 1. Averaged over the
    # 2 ranks and one SGD step of lr 1: row 0 [3/8, ln 3 - 3/8], row 1 [1/4, -1/4] (a sum would move twice as far)
    expected_w = [[0.375, math.log(3.0) - 0.375], [0.25, -0.25]]
    for r, (loss, weight) in enumerate(out):
        if not isinstance(loss, float):
            raise CheckFailed(f"{label}: return the loss as a Python float, got {type(loss).__name__}")
        if not math.isclose(loss, 1.5 * math.log(2), rel_tol=1e-9):
            raise CheckFailed(f"{label}, rank {r}: returned loss {loss}; the mean over ranks is (ln 4 + ln 2) / 2 = "
                              f"{1.5 * math.log(2):.6f}")
        _tensor(label, f"2 ranks, rank {r}, weights after one SGD step", weight, expected_w)
    _passed(label, 2)


def stale_sgd(fn: Callable) -> None:
    """Check stale_sgd on g(w, t) = w - 1 (the gradient of (w - 1)^2 / 2), one dimension."""
    label = "stale_sgd"

    def grad(w: torch.Tensor, t: int) -> torch.Tensor:
        return w - 1.0

    cases = [
        # tau = 0, lr 0.5: w halves its distance to 1 each step: 0, 0.5, 0.75, 0.875
        (0, [0.0, 0.5, 0.75, 0.875]),
        # tau = 1: step 0 and step 1 both use w_0 = 0 (g = -1): 0.5, 1.0; step 2 uses w_1 = 0.5: 1.0 + 0.25
        (1, [0.0, 0.5, 1.0, 1.25]),
    ]
    for tau, expected in cases:
        try:
            got = fn(grad, torch.zeros(1, dtype=torch.float64), 0.5, 3, tau)
        except NotImplementedError:
            raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                              ) from None
        _tensor(label, f"tau = {tau}, lr 0.5, 3 steps from 0", got, [[v] for v in expected], atol=1e-12)
    _passed(label, len(cases))


# -------------------------------------------------------------------------------------------- §4 tensor par.


def shard_mlp(fn: Callable) -> None:
    """Check shard_mlp on W1 (2, 4), b1 (4,), W2 (4, 2) split over 2 ranks."""
    label = "shard_mlp"
    W1 = torch.arange(8.0).view(2, 4)  # [[0 1 2 3], [4 5 6 7]]
    b1 = torch.tensor([10.0, 11.0, 12.0, 13.0])
    W2 = torch.arange(8.0).view(4, 2) + 20  # rows [20 21], [22 23], [24 25], [26 27]
    expected = {0: ([[0.0, 1.0], [4.0, 5.0]], [10.0, 11.0], [[20.0, 21.0], [22.0, 23.0]]),
                1: ([[2.0, 3.0], [6.0, 7.0]], [12.0, 13.0], [[24.0, 25.0], [26.0, 27.0]])}
    for r, (e1, eb, e2) in expected.items():
        try:
            got = fn(W1, b1, W2, r, 2)
        except NotImplementedError:
            raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                              ) from None
        if not isinstance(got, tuple) or len(got) != 3:
            raise CheckFailed(f"{label}: return (W1_r, b1_r, W2_r)")
        _tensor(label, f"rank {r} of 2: W1_r (columns of W1)", got[0], e1, atol=0)
        _tensor(label, f"rank {r} of 2: b1_r", got[1], eb, atol=0)
        _tensor(label, f"rank {r} of 2: W2_r (rows of W2)", got[2], e2, atol=0)
    _passed(label, 2)


def _w_tp(rank: int, world_size: int, fn: Callable) -> Any:
    # C = 1, H = 2: W1 = [[1, -1]], b1 = [0, 0], W2 = [[1], [1]], b2 = [0.5]; rank r owns hidden unit r
    W1, b1 = torch.tensor([[1.0, -1.0]]), torch.zeros(2)
    W2, b2 = torch.tensor([[1.0], [1.0]]), torch.tensor([0.5])
    x = torch.tensor([[2.0], [-3.0]])
    return fn(x, W1[:, rank:rank + 1], b1[rank:rank + 1], W2[rank:rank + 1, :], b2)


def tp_mlp(fn: Callable) -> None:
    """Check tp_mlp on 2 ranks, one hidden unit each."""
    label = "tp_mlp"
    g = [float(torch.nn.functional.gelu(torch.tensor(v))) for v in (2.0, -2.0, -3.0, 3.0)]
    # y = gelu(x) + gelu(-x) + 0.5 for x = 2 and x = -3; b2 once (twice would add 1.0)
    expected = [[g[0] + g[1] + 0.5], [g[2] + g[3] + 0.5]]
    for r, got in enumerate(_launch(label, _w_tp, 2, fn)):
        _tensor(label, f"2 ranks, rank {r}", got, expected, rtol=1e-6, atol=1e-6)
    _passed(label, 2)


def _w_heads(rank: int, world_size: int, fn: Callable) -> Any:
    # B = 1, T = 2, C = 2, 2 heads of width 1; Wq = Wk = 0 (uniform attention over the allowed keys),
    # Wv = Wo = identity: head h's output at position t is the mean of x[:t+1, h]
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0]]])
    eye, zero = torch.eye(2), torch.zeros(2, 2)
    return fn(x, zero, zero, eye, eye, 2)


def head_parallel_attention(fn: Callable) -> None:
    """Check head_parallel_attention on 2 ranks with uniform causal attention (Wq = Wk = 0)."""
    label = "head_parallel_attention"
    # position 0 sees only itself: [1, 10]; position 1 averages positions 0 and 1: [2, 20]
    # (no causal mask would give [2, 20] at position 0 too)
    for r, got in enumerate(_launch(label, _w_heads, 2, fn)):
        _tensor(label, f"2 ranks, rank {r}", got, [[[1.0, 10.0], [2.0, 20.0]]], rtol=1e-6, atol=1e-6)
    _passed(label, 2)


# --------------------------------------------------------------------------------------------- §5 pipeline


def _w_pipe(rank: int, world_size: int, fn: Callable) -> Any:
    x = torch.arange(4.0).view(4, 1)  # rows 0, 1, 2, 3

    def stage(h: torch.Tensor) -> torch.Tensor:
        return h * 10 + (rank + 1)  # rank 0: 10x + 1, rank 1: 10(10x + 1) + 2 = 100x + 12
    return fn(stage, x, 2)


def pipeline_forward(fn: Callable) -> None:
    """Check pipeline_forward on 2 ranks, 4 rows in 2 micro-batches."""
    label = "pipeline_forward"
    out = _launch(label, _w_pipe, 2, fn)
    if out[0] is not None:
        raise CheckFailed(f"{label}: rank 0 is not the last stage; it should return None")
    _tensor(label, "2 ranks, last rank", out[1], [[12.0], [112.0], [212.0], [312.0]], atol=0)
    _passed(label, 2)


def gpipe_schedule(fn: Callable) -> None:
    """Check gpipe_schedule(p=2, m=3)."""
    label = "gpipe_schedule"
    try:
        grid, bubble = fn(2, 3)
    except NotImplementedError:
        raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                          ) from None
    # 4 ticks; stage 0 runs 0, 1, 2 then idles; stage 1 idles, then runs 0, 1, 2: 2 idle of 8 slots
    expected = [[0, -1], [1, 0], [2, 1], [-1, 2]]
    if np.asarray(grid).tolist() != expected:
        raise CheckFailed(f"{label}(p=2, m=3): expected the schedule {expected}, got {np.asarray(grid).tolist()}")
    if not math.isclose(float(bubble), 0.25):
        raise CheckFailed(f"{label}(p=2, m=3): 2 idle slots of 8, bubble 0.25; got {bubble}")
    _passed(label, 2)


# ----------------------------------------------------------------------------------------- §6 inference


def _shout(request: str) -> str:
    return request.upper()


def _w_map(rank: int, world_size: int, fn: Callable, requests: list) -> Any:
    return fn(_shout, requests)


def sharded_map(fn: Callable) -> None:
    """Check sharded_map on 2 ranks with five requests."""
    label = "sharded_map"
    requests = ["a", "b", "c", "d", "e"]
    for r, got in enumerate(_launch(label, _w_map, 2, fn, requests)):
        # rank 0 computes a, c, e and rank 1 b, d; an all_gather in rank order would give A C E B D
        if got != ["A", "B", "C", "D", "E"]:
            raise CheckFailed(f"{label}, 2 ranks, rank {r}: expected ['A', 'B', 'C', 'D', 'E'] (request order), "
                              f"got {got}")
    _passed(label, 2)


def lpt_assign(fn: Callable) -> None:
    """Check lpt_assign on two small instances."""
    label = "lpt_assign"
    cases = [
        # sorted: 7 (i=1), 5 (i=3), 4 (i=0), 3 (i=2), 1 (i=4); loads: w0 7; w1 5; w1 9; w0 10; w1 10
        (([4.0, 7.0, 3.0, 5.0, 1.0], 2), [[1, 2], [3, 0, 4]]),
        # ties: equal costs in index order, equal loads to the lowest worker
        (([2.0, 2.0, 2.0], 3), [[0], [1], [2]]),
    ]
    for (costs, n), expected in cases:
        try:
            got = fn(list(costs), n)
        except NotImplementedError:
            raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                              ) from None
        if [list(map(int, w)) for w in got] != expected:
            raise CheckFailed(f"{label}(costs={costs}, n_workers={n}): expected {expected}, got {got}")
    _passed(label, len(cases))


# ------------------------------------------------------------------------------------------ §7 cost model


def fit_alpha_beta(fn: Callable) -> None:
    """Check fit_alpha_beta on exact points of t = 5 + 2 n."""
    label = "fit_alpha_beta"
    try:
        got = fn(np.array([0.0, 1.0, 2.0, 10.0]), np.array([5.0, 7.0, 9.0, 25.0]))
    except NotImplementedError:
        raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                          ) from None
    if len(got) != 2 or not np.allclose([float(v) for v in got], [5.0, 2.0], rtol=1e-9, atol=1e-9):
        raise CheckFailed(f"{label}: points on t = 5 + 2 n should give (alpha, beta) = (5, 2), got {got}")
    _passed(label, 1)


def ring_allreduce_time(fn: Callable) -> None:
    """Check ring_allreduce_time on round numbers."""
    label = "ring_allreduce_time"
    try:
        # 2 (4 - 1) (1e-5 + 1e-9 * 4e6 / 4) = 6 * (1e-5 + 1e-3) = 6.06e-3
        got = fn(1e-5, 1e-9, 4e6, 4)
        one = fn(1e-5, 1e-9, 4e6, 1)
    except NotImplementedError:
        raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)"
                          ) from None
    if not math.isclose(got, 6.06e-3, rel_tol=1e-9):
        raise CheckFailed(f"{label}(alpha=1e-5, beta=1e-9, 4e6 bytes, N=4): expected 6.06e-3 s, got {got}")
    if one != 0:
        raise CheckFailed(f"{label}: one rank sends nothing; expected 0, got {one}")
    _passed(label, 2)

