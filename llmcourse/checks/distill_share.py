"""Visible self-checks for module 11_distill_share.

Expected values are worked out by hand on two-token vocabularies (the arithmetic sits next to each case)
or are properties any correct answer has. Models and decoding loops are driven through toy "bigram"
models: a table whose row `i` holds the logits after token `i`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ._core import Case, CheckFailed, run

LN3, LN2 = math.log(3.0), math.log(2.0)


def _np(fn: Callable) -> Callable:
    """Wrap fn so that tensor inputs are built from lists and a tensor result comes back as float64 NumPy."""
    def wrapped(*args: Any) -> Any:
        targs = [torch.tensor(a, dtype=torch.float64) if isinstance(a, list) else a for a in args]
        out = fn(*targs)
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"expected a torch.Tensor, got {type(out).__name__}")
        return out.detach().double().numpy()
    return wrapped


def soft_log_probs(fn: Callable) -> None:
    """Check soft_log_probs(logits, T) on two- and three-token rows."""
    run("soft_log_probs", _np(fn), [
        # softmax([0, ln 3]) = [1/4, 3/4]
        Case("[0, ln 3] at T = 1", ([0.0, LN3], 1.0), expected=np.log([0.25, 0.75]), rtol=1e-9, atol=1e-9),
        # the same row doubled, at T = 2, shifted by 1000: still [1/4, 3/4]
        Case("[1000, 1000 + 2 ln 3] at T = 2 (overflow?)", ([1000.0, 1000.0 + 2 * LN3], 2.0),
             expected=np.log([0.25, 0.75]), rtol=1e-9, atol=1e-9),
        # softmax([0, -1000]) = [1, e^-1000]: log-probs [0, -1000] (a softmax underflows to 0 there, its log to -inf)
        Case("[0, -1000] at T = 1 (log of an underflowed softmax?)", ([0.0, -1000.0], 1.0),
             expected=np.array([0.0, -1000.0]), rtol=1e-9, atol=1e-9),
        Case("all-equal logits near -1000, T = 0.1, two rows", ([[-1000.0] * 3, [5.0] * 3], 0.1),
             expected=np.full((2, 3), -math.log(3)), rtol=1e-9, atol=1e-9),
    ])


def distill_kl(fn: Callable) -> None:
    """Check distill_kl(z_s, z_t, T): forward KL, teacher as target, times T**2, mean over positions."""
    def call(zs: list, zt: list, T: float) -> Any:
        zs_t = torch.tensor(zs, dtype=torch.float64, requires_grad=True)
        out = fn(zs_t, torch.tensor(zt, dtype=torch.float64), T)
        if not isinstance(out, torch.Tensor) or out.dim() != 0:
            raise CheckFailed("distill_kl should return a scalar tensor (the mean over positions)")
        out.backward()
        if zs_t.grad is None:
            raise CheckFailed("distill_kl: no gradient reached the student logits z_s")
        return out.item()

    run("distill_kl", call, [
        # p = [1/4, 3/4] (teacher), q = [1/2, 1/2]: KL(p||q) = 1/4 ln(1/2) + 3/4 ln(3/2) = 0.130812
        # (the reversed KL(q||p) = 1/2 ln 2 + 1/2 ln(2/3) = 0.143841)
        Case("T = 1: teacher [1/4, 3/4], student [1/2, 1/2]", ([[0.0, 0.0]], [[0.0, LN3]], 1.0),
             expected=0.13081203594113697, rtol=1e-7, atol=1e-9),
        # T = 2, teacher logits [0, 2 ln 3] -> p = [1/4, 3/4] in both rows
        # row 0: student [0, 2 ln 2] -> q = [1/3, 2/3]: KL = 1/4 ln(3/4) + 3/4 ln(9/8) = 0.016417, x4 = 0.065667
        # row 1: student [0, 0] -> q = [1/2, 1/2]: 0.130812 x 4 = 0.523248; mean of the rows = 0.294458
        Case("T = 2, two positions (times T**2, mean)", ([[0.0, 2 * LN2], [0.0, 0.0]], [[0.0, 2 * LN3]] * 2, 2.0),
             expected=(4 * 0.01641675862934236 + 4 * 0.13081203594113697) / 2, rtol=1e-7, atol=1e-9),
        Case("student equal to teacher: 0", ([[1.0, -2.0, 0.5]], [[1.0, -2.0, 0.5]], 3.0), expected=0.0, atol=1e-12),
    ])


def distill_kl_grad(fn: Callable) -> None:
    """Check distill_kl_grad(z_s, z_t, T) = T * (q - p) / N on the rows of distill_kl's check."""
    run("distill_kl_grad", _np(fn), [
        # q - p = [1/2 - 1/4, 1/2 - 3/4] = [1/4, -1/4]; T = 1, N = 1
        Case("T = 1, one position", ([[0.0, 0.0]], [[0.0, LN3]], 1.0), expected=np.array([[0.25, -0.25]]),
             rtol=1e-9, atol=1e-12),
        # T = 2, N = 2, so T / N = 1: row 0 q - p = [1/3 - 1/4, 2/3 - 3/4] = [1/12, -1/12]; row 1 [1/4, -1/4]
        Case("T = 2, two positions", ([[0.0, 2 * LN2], [0.0, 0.0]], [[0.0, 2 * LN3]] * 2, 2.0),
             expected=np.array([[1 / 12, -1 / 12], [0.25, -0.25]]), rtol=1e-9, atol=1e-12),
    ])


def distill_loss(fn: Callable) -> None:
    """Check distill_loss(z_s, z_t, targets, T, alpha): alpha * soft + (1 - alpha) * hard at temperature 1."""
    def call(zs: list, zt: list, targets: list, T: float, alpha: float) -> Any:
        out = fn(torch.tensor(zs, dtype=torch.float64), torch.tensor(zt, dtype=torch.float64),
                 torch.tensor(targets), T, alpha)
        if not isinstance(out, torch.Tensor) or out.dim() != 0:
            raise CheckFailed("distill_loss should return a scalar tensor")
        return out.item()

    run("distill_loss", call, [
        # 0.5 * 0.130812 + 0.5 * (-ln 1/2) = 0.065406 + 0.346574
        Case("T = 1, alpha = 0.5, target 1", ([[0.0, 0.0]], [[0.0, LN3]], [1], 1.0, 0.5),
             expected=0.5 * 0.13081203594113697 + 0.5 * LN2, rtol=1e-7, atol=1e-9),
        # alpha weighs the soft term: 0.25 * 0.130812 + 0.75 * ln 2
        Case("T = 1, alpha = 0.25, target 1", ([[0.0, 0.0]], [[0.0, LN3]], [1], 1.0, 0.25),
             expected=0.25 * 0.13081203594113697 + 0.75 * LN2, rtol=1e-7, atol=1e-9),
        # soft: T**2 KL at T = 2 = 0.065667 (row 0 of distill_kl's check); hard at T = 1: softmax([0, 2 ln 2]) =
        # [1/5, 4/5], -ln(4/5) = 0.223144; 0.5 * 0.065667 + 0.5 * 0.223144 = 0.144405
        Case("T = 2, alpha = 0.5: the hard loss stays at T = 1", ([[0.0, 2 * LN2]], [[0.0, 2 * LN3]], [1], 2.0, 0.5),
             expected=0.5 * 4 * 0.01641675862934236 + 0.5 * math.log(5 / 4), rtol=1e-7, atol=1e-9),
    ])


def _tiny(n_layer: int = 3, seed: int = 0) -> nn.Module:
    from ..model import GPTConfig, TinyGPT

    torch.manual_seed(seed)
    return TinyGPT(GPTConfig(vocab_size=7, block_size=8, n_layer=n_layer, n_head=2, d_model=8))


def share_blocks(fn: Callable) -> None:
    """Check share_blocks(model): one storage for every layer, layer 0's values, counted once, no drift."""
    def call(n_layer: int) -> tuple:
        model = _tiny(n_layer)
        values0 = [p.detach().clone() for p in model.blocks[0].parameters()]
        n0 = sum(p.numel() for p in model.parameters())
        return fn(model), values0, n0

    def prop(got: tuple) -> str | None:
        out, values0, n0 = got
        if out is None or not hasattr(out, "blocks"):
            return "return the model"
        n_layer, per_block = len(out.blocks), sum(v.numel() for v in values0)
        for i, block in enumerate(out.blocks):
            for p, p0, v0 in zip(block.parameters(), out.blocks[0].parameters(), values0, strict=True):
                if p is not p0:
                    return f"layer {i}'s parameters are separate tensors from layer 0's (copied, not shared)"
                if not torch.equal(p, v0):
                    return f"layer {i}: keep layer 0's values"
        if sum(p.numel() for p in out.parameters()) != n0 - (n_layer - 1) * per_block:
            return "model.parameters() should hold the shared block once"
        out(torch.tensor([[1, 2, 3]])).sum().backward()
        torch.optim.SGD(out.parameters(), lr=1.0).step()
        if not all(torch.equal(a, b) for a, b in zip(out.blocks[0].parameters(), out.blocks[-1].parameters(),
                                                      strict=True)):
            return "after one optimizer step the layers differ: they are not one tensor"
        return None

    run("share_blocks", call, [Case("3 layers, width 8", (3,), prop=prop)])


def tie_embeddings(fn: Callable) -> None:
    """Check tie_embeddings(model): the head uses the embedding Parameter itself."""
    def call(n_layer: int) -> tuple:
        model = _tiny(n_layer)
        emb = model.tok_emb.weight.detach().clone()
        n0 = sum(p.numel() for p in model.parameters())
        return fn(model), emb, n0

    def prop(got: tuple) -> str | None:
        out, emb, n0 = got
        if out is None or not hasattr(out, "head"):
            return "return the model"
        if out.head.weight is not out.tok_emb.weight:
            return "model.head.weight should be the very Parameter model.tok_emb.weight (not a copy)"
        if not torch.equal(out.tok_emb.weight, emb):
            return "keep the embedding's values"
        if sum(p.numel() for p in out.parameters()) != n0 - emb.numel():
            return "model.parameters() should hold one (V, C) matrix"
        return None

    run("tie_embeddings", call, [Case("V = 7, C = 8", (1,), prop=prop)])


def unique_parameters(fn: Callable) -> None:
    """Check unique_parameters(model) -> (elements, bytes) on small modules that reuse a tensor."""
    def call(kind: str) -> tuple:
        torch.manual_seed(0)
        if kind == "reused":
            lin = nn.Linear(3, 2)
            module: nn.Module = nn.Sequential(lin, nn.Tanh(), lin)
        else:
            emb, head = nn.Embedding(5, 3), nn.Linear(3, 5)
            head.weight = emb.weight
            module = nn.ModuleDict({"emb": emb, "head": head})
        out = fn(module)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailed("return a tuple (n_elements, n_bytes)")
        return int(out[0]), int(out[1])

    run("unique_parameters", call, [
        # Linear(3, 2): 6 weights + 2 biases = 8 float32 numbers, used twice but stored once
        Case("one Linear(3, 2) used twice", ("reused",), expected=(8, 32)),
        # Embedding(5, 3) = 15, tied to the head's weight; head bias 5: 20 numbers, 80 bytes
        Case("tied embedding (5, 3) and head bias", ("tied",), expected=(20, 80)),
    ])


def accept_probs(fn: Callable) -> None:
    """Check accept_probs(p, q, tokens) = min(1, p(x) / q(x)) per drafted position."""
    def call(p: list, q: list, tokens: list) -> Any:
        return _np(fn)(p, q, torch.tensor(tokens))

    p, q = [[0.5, 0.5], [0.2, 0.8]], [[0.25, 0.75], [0.4, 0.6]]
    run("accept_probs", call, [
        # p/q = [0.5/0.25 = 2 -> 1, 0.2/0.4 = 0.5]
        Case("tokens [0, 0]", (p, q, [0, 0]), expected=np.array([1.0, 0.5]), rtol=1e-9),
        # p/q = [0.5/0.75 = 2/3, 0.8/0.6 = 4/3 -> 1]
        Case("tokens [1, 1]", (p, q, [1, 1]), expected=np.array([2 / 3, 1.0]), rtol=1e-9),
    ])


def residual_dist(fn: Callable) -> None:
    """Check residual_dist(p, q) = norm(max(0, p - q)), and p where p == q."""
    run("residual_dist", _np(fn), [
        # max(0, p - q) = [0.3, 0, 0] -> [1, 0, 0]
        Case("one token above q", ([0.5, 0.3, 0.2], [0.2, 0.5, 0.3]), expected=np.array([1.0, 0.0, 0.0]), atol=1e-12),
        # [0.2, 0.2, 0] -> [0.5, 0.5, 0]
        Case("two tokens above q, batched with p == q", ([[0.4, 0.4, 0.2], [0.1, 0.6, 0.3]],
                                                          [[0.2, 0.2, 0.6], [0.1, 0.6, 0.3]]),
             expected=np.array([[0.5, 0.5, 0.0], [0.1, 0.6, 0.3]]), atol=1e-12),
    ])


def verify(fn: Callable) -> None:
    """Check verify(p, q, drafts, gen) on cases whose outcome does not depend on the random draws."""
    def call(p: list, q: list, drafts: list, seed: int) -> Any:
        out = fn(torch.tensor(p, dtype=torch.float64), torch.tensor(q, dtype=torch.float64), torch.tensor(drafts),
                 torch.Generator().manual_seed(seed))
        return [int(t) for t in out]

    def call_many(p: list, q: list, drafts: list, n: int) -> Any:
        seen = set()
        for seed in range(n):
            seen.update(call(p, q, drafts, seed))
        return tuple(sorted(seen))

    def either(many: bool, *args: Any) -> Any:
        return call_many(*args) if many else call(*args)

    one_hot = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    run("verify", either, [
        # q == p: every draft accepted (p/q = 1), then the bonus token from p[k] = one-hot 0
        Case("draft equals target: all accepted, plus the bonus", (False, one_hot, one_hot[:2], [1, 2], 0),
             expected=[1, 2, 0]),
        # p(x0) = 0: rejected; the residual max(0, p - q) = [0, 1, 0] gives token 1; stop there
        Case("first draft impossible for the target",
             (False, one_hot, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [0, 2], 1), expected=[1]),
        # p = [0, 1/2, 1/2], q = [1/2, 1/2, 0], draft 0: always rejected (p(0) = 0); the residual is
        # max(0, p - q) = [0, 0, 1/2] -> token 2 only. Sampling from p instead gives 1 half of the time.
        Case("rejection resamples from the residual (200 seeds)",
             (True, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], [[0.5, 0.5, 0.0]], [0], 200), expected=(2,)),
    ])


def _table_model(table: list) -> Callable:
    t = torch.tensor(table, dtype=torch.float64)
    return lambda ids: t[ids]


# logits after token i: a certain chain 0 -> 1 -> 2 -> 0 for the target
_CHAIN = [[0.0, 50.0, 0.0], [0.0, 0.0, 50.0], [50.0, 0.0, 0.0]]
_WRONG = [[50.0, 0.0, 0.0], [0.0, 50.0, 0.0], [0.0, 0.0, 50.0]]


def speculative_decode(fn: Callable) -> None:
    """Check speculative_decode on a certain target chain, with a perfect draft and with a useless one."""
    def call(draft_table: list, k: int) -> Any:
        ids, acc, drafted = fn(_table_model(_CHAIN), _table_model(draft_table), torch.tensor([0]), 7, k,
                               torch.Generator().manual_seed(0))
        return [int(t) for t in ids], int(acc), int(drafted)

    run("speculative_decode", call, [
        # perfect draft, k = 3: rounds of 4 tokens (3 accepted + bonus), 2 rounds for 7 tokens
        Case("perfect draft, k = 3", (_CHAIN, 3), expected=([0, 1, 2, 0, 1, 2, 0, 1], 6, 6)),
        # a draft that always repeats its token is never accepted: one target token per round, 7 rounds
        Case("useless draft, k = 2", (_WRONG, 2), expected=([0, 1, 2, 0, 1, 2, 0, 1], 0, 14)),
    ])


def speculative_greedy(fn: Callable) -> None:
    """Check speculative_greedy on toy tables: plain greedy output whatever the draft."""
    # greedy under the target table [[0, 2, 1], [1, 0, 3], [4, 0, 0]]: 0 -> 1 -> 2 -> 0 -> ...
    target = [[0.0, 2.0, 1.0], [1.0, 0.0, 3.0], [4.0, 0.0, 0.0]]
    # a draft that agrees after 0 and 2 but proposes 0 after 1
    draft = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]

    def call(draft_table: list, k: int, n_new: int) -> Any:
        ids, acc, drafted = fn(_table_model(target), _table_model(draft_table), torch.tensor([0]), n_new, k)
        if not 0 <= int(acc) <= int(drafted):
            raise CheckFailed(f"accepted {acc} of {drafted} drafted: impossible")
        return [int(t) for t in ids]

    run("speculative_greedy", call, [
        Case("draft equal to the target, k = 2", (target, 2, 6), expected=[0, 1, 2, 0, 1, 2, 0]),
        Case("draft wrong after token 1, k = 3", (draft, 3, 8), expected=[0, 1, 2, 0, 1, 2, 0, 1, 2]),
    ])


def pareto_front(fn: Callable) -> None:
    """Check pareto_front(rows) on four hand-placed models."""
    rows = [("a", 4.0, 1.7), ("b", 1.0, 2.0), ("c", 2.0, 2.5), ("d", 4.0, 1.8)]
    run("pareto_front", lambda r: tuple(fn(r)), [
        # c: b is smaller and better; d: a is as small and better
        Case("four models", (rows,), expected=("a", "b")),
        Case("one model", ([("only", 3.0, 9.0)],), expected=("only",)),
    ])
