"""Visible self-checks of module 11_distill_share: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from llmcourse import checks
from llmcourse.checks import CheckFailed

# --- small implementations, right and wrong --------------------------------------------------------


def soft_log_probs(z, T, shift=True):
    z = z / T
    if shift:
        z = z - z.amax(-1, keepdim=True)
    return z - torch.log(torch.exp(z).sum(-1, keepdim=True))


def distill_kl(zs, zt, T, reverse=False, t2=True):
    lp, lq = torch.log_softmax(zt / T, -1), torch.log_softmax(zs / T, -1)
    if reverse:
        lp, lq = lq, lp
    return (T**2 if t2 else 1) * (lp.exp() * (lp - lq)).sum(-1).mean()


def distill_kl_grad(zs, zt, T, t2=True):
    n = zs.numel() // zs.shape[-1]
    return (T if t2 else 1 / T) * (torch.softmax(zs / T, -1) - torch.softmax(zt / T, -1)) / n


def distill_loss(zs, zt, y, T, alpha, hard_T=1.0):
    ce = -torch.log_softmax(zs / hard_T, -1).gather(-1, y.unsqueeze(-1)).mean()
    return alpha * distill_kl(zs, zt, T) + (1 - alpha) * ce


def share_blocks(model, how="same"):
    if how == "same":
        model.blocks = nn.ModuleList([model.blocks[0]] * len(model.blocks))
    elif how == "deepcopy":
        model.blocks = nn.ModuleList(copy.deepcopy(model.blocks[0]) for _ in model.blocks)
    else:  # .data aliasing
        for block in model.blocks[1:]:
            for p, p0 in zip(block.parameters(), model.blocks[0].parameters(), strict=True):
                p.data = p0.data
    return model


def tie_embeddings(model, clone=False):
    model.head.weight = nn.Parameter(model.tok_emb.weight.detach().clone()) if clone else model.tok_emb.weight
    return model


def unique_parameters(model, dedup=True):
    seen, n, b = set(), 0, 0
    for _, p in model.named_parameters(remove_duplicate=False):
        if dedup and p.data_ptr() in seen:
            continue
        seen.add(p.data_ptr())
        n, b = n + p.numel(), b + p.numel() * p.element_size()
    return n, b


def accept_probs(p, q, x, use_min=True):
    r = torch.arange(len(x))
    ratio = torch.nan_to_num(p[r, x] / q[r, x], nan=1.0, posinf=1.0)
    return torch.clamp(ratio, max=1.0) if use_min else ratio


def residual_dist(p, q, from_p=False):
    if from_p:
        return p.clone()
    r = (p - q).clamp(min=0)
    s = r.sum(-1, keepdim=True)
    return torch.where(s > 0, r / s.clamp(min=1e-300), p)


def verify(p, q, drafts, gen, bonus=True, from_p=False):
    k = len(drafts)
    acc = accept_probs(p[:k], q, drafts)
    out = []
    for i in range(k):
        if torch.rand((), generator=gen) < acc[i]:
            out.append(int(drafts[i]))
        else:
            return out + [int(torch.multinomial(residual_dist(p[i], q[i], from_p), 1, generator=gen))]
    return out + [int(torch.multinomial(p[k], 1, generator=gen))] if bonus else out


def speculative_decode(target, draft, prompt, n_new, k, gen, bonus=True):
    ids, acc, drafted = prompt.clone(), 0, 0
    while len(ids) < len(prompt) + n_new:
        seq, qs = ids, []
        for _ in range(k):
            q = torch.softmax(draft(seq)[-1].double(), -1)
            qs.append(q)
            seq = torch.cat([seq, torch.multinomial(q, 1, generator=gen)])
        p = torch.softmax(target(seq)[-k - 1:].double(), -1)
        new = verify(p, torch.stack(qs), seq[len(ids):], gen, bonus=bonus)
        acc += min(len(new), k) if len(new) > k or not bonus else len(new) - 1
        drafted += k
        ids = torch.cat([ids, torch.tensor(new, dtype=ids.dtype)])
    return ids[:len(prompt) + n_new], acc, drafted


def speculative_greedy(target, draft, prompt, n_new, k, keep_draft=False):
    ids, acc, drafted = prompt.clone(), 0, 0
    while len(ids) < len(prompt) + n_new:
        seq = ids
        for _ in range(k):
            seq = torch.cat([seq, draft(seq)[-1].argmax().view(1)])
        best = target(seq)[-k - 1:].argmax(-1)
        d = seq[len(ids):]
        n = 0
        while n < k and d[n] == best[n]:
            n += 1
        acc, drafted = acc + n, drafted + k
        tail = d[n:n + 1] if keep_draft and n < k else best[n].view(1)
        ids = torch.cat([ids, d[:n], tail])
    return ids[:len(prompt) + n_new], acc, drafted


def pareto_front(rows, strict_both=False):
    def dom(b2, p2, b, p):
        return (b2 < b and p2 < p) if strict_both else (b2 <= b and p2 <= p and (b2 < b or p2 < p))
    return [n for n, b, p in rows if not any(dom(b2, p2, b, p) for _, b2, p2 in rows)]


# --- right answers pass ----------------------------------------------------------------------------

RIGHT = [
    ("soft_log_probs", soft_log_probs), ("distill_kl", distill_kl), ("distill_kl_grad", distill_kl_grad),
    ("distill_loss", distill_loss), ("share_blocks", share_blocks), ("tie_embeddings", tie_embeddings),
    ("unique_parameters", unique_parameters), ("accept_probs", accept_probs), ("residual_dist", residual_dist),
    ("verify", verify), ("speculative_decode", speculative_decode), ("speculative_greedy", speculative_greedy),
    ("pareto_front", pareto_front),
]


@pytest.mark.parametrize("name, fn", RIGHT, ids=[n for n, _ in RIGHT])
def test_right_answers_pass(name, fn, capsys):
    getattr(checks.distill_share, name)(fn)
    assert "✔" in capsys.readouterr().out


# --- wrong answers fail, naming the case -----------------------------------------------------------

WRONG = [
    ("soft_log_probs", lambda z, T: soft_log_probs(z, T, shift=False), "overflow"),
    ("soft_log_probs", lambda z, T: torch.log_softmax(z * T, -1), "T = 2"),
    ("distill_kl", lambda zs, zt, T: distill_kl(zs, zt, T, reverse=True), "T = 1"),
    ("distill_kl", lambda zs, zt, T: distill_kl(zs, zt, T, t2=False), "times T**2"),
    ("distill_kl_grad", lambda zs, zt, T: distill_kl_grad(zs, zt, T, t2=False), "T = 2"),
    ("distill_loss", lambda zs, zt, y, T, a: distill_loss(zs, zt, y, T, a, hard_T=T), "hard loss stays"),
    ("share_blocks", lambda m: share_blocks(m, "deepcopy"), "copied, not shared"),
    ("share_blocks", lambda m: share_blocks(m, "alias"), "copied, not shared"),
    ("tie_embeddings", lambda m: tie_embeddings(m, clone=True), "not a copy"),
    ("unique_parameters", lambda m: unique_parameters(m, dedup=False), "used twice"),
    ("accept_probs", lambda p, q, x: accept_probs(p, q, x, use_min=False), "tokens [0, 0]"),
    ("residual_dist", lambda p, q: residual_dist(p, q, from_p=True), "one token above q"),
    ("verify", lambda p, q, d, g: verify(p, q, d, g, bonus=False), "plus the bonus"),
    ("verify", lambda p, q, d, g: verify(p, q, d, g, from_p=True), "resamples from the residual"),
    ("speculative_decode", lambda *a: speculative_decode(*a, bonus=False), "perfect draft"),
    ("speculative_greedy", lambda *a: speculative_greedy(*a, keep_draft=True), "wrong after token 1"),
    ("pareto_front", lambda rows: pareto_front(rows, strict_both=True), "four models"),
]


@pytest.mark.parametrize("name, fn, case", WRONG, ids=[f"{n}-{c}" for n, _, c in WRONG])
def test_wrong_answers_fail_naming_the_case(name, fn, case):
    with pytest.raises(CheckFailed, match=case.replace("*", r"\*").replace("[", r"\[").replace("]", r"\]")):
        getattr(checks.distill_share, name)(fn)


def test_stub_says_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    for name, _ in RIGHT:
        with pytest.raises(CheckFailed, match="not implemented yet"):
            getattr(checks.distill_share, name)(stub)


def test_visible_checks_catch_the_log_of_softmax_and_swapped_alpha():
    with pytest.raises(CheckFailed, match="underflowed"):
        checks.distill_share.soft_log_probs(lambda z, T: torch.log(torch.softmax(z / T, -1)))
    with pytest.raises(CheckFailed, match="alpha = 0.25"):
        checks.distill_share.distill_loss(lambda zs, zt, y, T, a: distill_loss(zs, zt, y, T, 1 - a))
