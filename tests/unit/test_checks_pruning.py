"""Visible checks of module 09_pruning: correct functions pass, wrong ones fail naming the case.

The correct functions here are small test doubles written for these tests (not shipped in the package).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llmcourse.checks import CheckFailed
from llmcourse.checks import pruning as pc
from llmcourse.model import load_numpy

TORCH_NAMES = {"attn.w_qkv": "attn.qkv", "attn.w_out": "attn.out", "mlp.w_in": "mlp.fc_in", "mlp.w_out": "mlp.fc_out"}


def torch_param(model, name):
    block, i, rest = name.split(".", 2)
    return model.get_submodule(f"{block}.{i}.{TORCH_NAMES[rest]}").weight


def mag_ok(w, s):
    n = round(s * w.size)
    keep = np.ones(w.size, dtype=bool)
    keep[np.argsort(np.abs(w), axis=None, kind="stable")[:n]] = False
    return keep.reshape(w.shape)


def mag_quantile(w, s):
    return np.abs(w) > np.quantile(np.abs(w), s)


def prune_ok(params, names, s, scope="global", per_tensor=False):
    if scope == "layer" or per_tensor:
        masks = {n: mag_ok(params[n], s) for n in names}
    else:
        keep = mag_ok(np.concatenate([params[n].ravel() for n in names]), s)
        masks, i = {}, 0
        for n in names:
            masks[n] = keep[i:i + params[n].size].reshape(params[n].shape)
            i += params[n].size
    return {**params, **{n: params[n] * masks[n] for n in names}}, masks


def sparsity_ok(params, names):
    return sum(int((params[n] == 0).sum()) for n in names) / sum(params[n].size for n in names)


def sparsity_all(params, names):
    return sparsity_ok(params, list(params))


def taylor_ok(model, ids, names, transpose=True, zero=True):
    ids = torch.as_tensor(ids)
    if zero:
        model.zero_grad()
    F.cross_entropy(model(ids[:, :-1]).flatten(0, 1), ids[:, 1:].flatten()).backward()
    out = {}
    for n in names:
        p = torch_param(model, n)
        s = (p.detach() * p.grad).abs()
        out[n] = (s.T if transpose else s).double().numpy()
    return out


def wanda_ok(w, xn, s, axis=0):
    score = np.abs(w) * xn[:, None]
    keep = np.ones(w.shape, dtype=bool)
    n = round(s * w.shape[axis])
    np.put_along_axis(keep, np.argsort(score, axis=axis, kind="stable").take(range(n), axis=axis), False, axis=axis)
    return keep


def _ln(x, g, b):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g + b


def forward_np(p, ids, d=32):
    """The course GPT in NumPy (float64), heads and FFN width read from each layer's shapes."""
    B, T = ids.shape
    x = (p["tok_emb"][ids] + p["pos_emb"][:T]).astype(np.float64)
    causal = np.tril(np.ones((T, T), dtype=bool))
    for i in range(4):
        b = f"blocks.{i}."
        h = _ln(x, p[b + "ln1.weight"], p[b + "ln1.bias"])
        H = p[b + "attn.w_out"].shape[0] // d
        q, k, v = (t.reshape(B, T, H, d).transpose(0, 2, 1, 3)
                   for t in np.split(h @ p[b + "attn.w_qkv"] + p[b + "attn.b_qkv"], 3, axis=-1))
        s = np.where(causal, q @ k.transpose(0, 1, 3, 2) / np.sqrt(d), -np.inf)
        a = np.exp(s - s.max(-1, keepdims=True))
        y = (a / a.sum(-1, keepdims=True)) @ v
        x = x + y.transpose(0, 2, 1, 3).reshape(B, T, H * d) @ p[b + "attn.w_out"] + p[b + "attn.b_out"]
        u = _ln(x, p[b + "ln2.weight"], p[b + "ln2.bias"]) @ p[b + "mlp.w_in"] + p[b + "mlp.b_in"]
        u = 0.5 * u * (1 + np.tanh(np.sqrt(2 / np.pi) * (u + 0.044715 * u**3)))
        x = x + u @ p[b + "mlp.w_out"] + p[b + "mlp.b_out"]
    return _ln(x, p["ln_f.weight"], p["ln_f.bias"]) @ p["head.w"] + p["head.b"]


def heads_ok(params, layer, keep, d):
    b = f"blocks.{layer}.attn."
    C = params[b + "w_qkv"].shape[0]
    H = params[b + "w_out"].shape[0] // d
    return {**params, b + "w_qkv": params[b + "w_qkv"].reshape(C, 3, H, d)[:, :, keep].reshape(C, -1),
            b + "b_qkv": params[b + "b_qkv"].reshape(3, H, d)[:, keep].reshape(-1),
            b + "w_out": params[b + "w_out"].reshape(H, d, -1)[keep].reshape(len(keep) * d, -1)}


def heads_interleaved(params, layer, keep, d):
    b = f"blocks.{layer}.attn."
    cols = np.array([3 * h * d + i for h in keep for i in range(3 * d)])
    out = heads_ok(params, layer, keep, d)
    out[b + "w_qkv"] = params[b + "w_qkv"][:, cols]
    return out


def ffn_ok(params, layer, keep, bias=True):
    b = f"blocks.{layer}.mlp."
    return {**params, b + "w_in": params[b + "w_in"][:, keep], b + "w_out": params[b + "w_out"][keep],
            b + "b_in": params[b + "b_in"][keep] if bias else params[b + "b_in"]}


def m24_ok(w):
    N, K = w.shape
    if K % 4:
        raise ValueError("K")
    keep = np.zeros((N, K // 4, 4), dtype=bool)
    np.put_along_axis(keep, np.argsort(-np.abs(w).reshape(N, K // 4, 4), -1, kind="stable")[..., :2], True, -1)
    return keep.reshape(N, K)


def m24_strided(w):
    N, K = w.shape
    if K % 4:
        raise ValueError("K")
    keep = np.zeros((N, 4, K // 4), dtype=bool)
    np.put_along_axis(keep, np.argsort(-np.abs(w).reshape(N, 4, K // 4), 1, kind="stable")[:, :2], True, 1)
    return keep.reshape(N, K)


def m24_no_check(w):
    return m24_ok(w[:, : w.shape[1] // 4 * 4]) if w.shape[1] % 4 == 0 else np.ones(w.shape, dtype=bool)


def comp_ok(w, m, shift=2):
    N, K = w.shape
    pos = np.nonzero(m.reshape(N, K // 4, 4))[2].reshape(N, K // 4, 2)
    vals = np.take_along_axis(w.reshape(N, K // 4, 4), pos, -1).reshape(N, K // 2).astype(np.float32)
    return vals, (pos[..., 0] | (pos[..., 1] << shift)).astype(np.uint8)


def decomp_ok(v, meta, shift=2):
    N, G = meta.shape
    out = np.zeros((N, G, 4), dtype=np.float32)
    np.put_along_axis(out, np.stack([meta & 3, (meta >> shift) & 3], -1).astype(np.int64), v.reshape(N, G, 2), -1)
    return out.reshape(N, 4 * G)


def csr_ok(w, leading_zero=True):
    r, c = np.nonzero(w)
    counts = np.cumsum(np.bincount(r, minlength=w.shape[0]))
    p = np.concatenate([[0], counts]) if leading_zero else counts
    return w[r, c].astype(np.float32), c.astype(np.int32), p.astype(np.int64)


def csr_mv_ok(d, i, p, x, skip=0):
    return np.array([sum(d[j] * x[i[j]] for j in range(p[n] + skip, p[n + 1])) for n in range(len(p) - 1)],
                    dtype=np.float32)


def s24_ok(v, meta, x, shift=2):
    N, G = meta.shape
    base = 4 * np.arange(G)
    return (v[:, 0::2] * x[base + (meta & 3)] + v[:, 1::2] * x[base + ((meta >> shift) & 3)]).sum(1).astype(np.float32)


def alloc_ok(d, n, lv, b, per_weight=True):
    d, n, lv = np.asarray(d, float), np.asarray(n, float), np.asarray(lv, float)
    j = np.zeros(len(n), dtype=int)
    while (n * lv[j]).sum() < b * n.sum() - 1e-9 * n.sum():
        c = [(d[i, j[i] + 1] - d[i, j[i]]) / ((n[i] if per_weight else 1) * (lv[j[i] + 1] - lv[j[i]]))
             if j[i] + 1 < len(lv) else np.inf for i in range(len(n))]
        j[int(np.argmin(c))] += 1
    return j


def step_ok(model, opt, masks, x, y, mask_weights=True):
    opt.zero_grad()
    loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
    loss.backward()
    if not mask_weights:
        for p, m in masks.items():
            p.grad.mul_(m)
    opt.step()
    if mask_weights:
        with torch.no_grad():
            for p, m in masks.items():
                p.mul_(m)
    return float(loss.item())


@pytest.fixture(scope="module")
def params():
    return load_numpy()[1]


def test_right_answers_pass(params, capsys):
    pc.magnitude_mask(mag_ok)
    pc.prune_model(prune_ok)
    pc.prunable_sparsity(sparsity_ok)
    pc.taylor_scores(taylor_ok, torch_param)
    pc.wanda_mask(wanda_ok)
    pc.prune_heads(heads_ok, forward_np, params, 32)
    pc.prune_ffn(ffn_ok, forward_np, params)
    pc.mask_24(m24_ok)
    pc.compress_24(comp_ok, decomp_ok)
    pc.dense_to_csr(csr_ok)
    pc.csr_matvec(csr_mv_ok)
    pc.sparse24_matvec(s24_ok)
    pc.allocate_sparsity(alloc_ok)
    pc.masked_train_step(step_ok)
    assert capsys.readouterr().out.count("✔") == 14


@pytest.mark.parametrize(("check", "fn", "needle"), [
    ("magnitude_mask", mag_quantile, "ties"),
    ("prune_model", lambda p, n, s, scope="global": prune_ok(p, n, s, scope, per_tensor=True), "global"),
    ("prunable_sparsity", sparsity_all, "different sizes"),
    ("taylor_scores", lambda m, i, n: taylor_ok(m, i, n, transpose=False), "layout"),
    ("taylor_scores", lambda m, i, n: taylor_ok(m, i, n, zero=False), "accumulating"),
    ("wanda_mask", lambda w, x, s: wanda_ok(w, x, s, axis=1), "output column"),
    ("mask_24", m24_strided, "two rows"),
    ("mask_24", m24_no_check, "K = 6"),
    ("compress_24", lambda w, m: comp_ok(w, m, shift=4), "meta"),
    ("dense_to_csr", lambda w: csr_ok(w, leading_zero=False), "indptr"),
    ("csr_matvec", lambda d, i, p, x: csr_mv_ok(d, i, p, x, skip=1), "empty row"),
    ("sparse24_matvec", lambda v, m, x: s24_ok(v, m, x, shift=4), "K = 8"),
    ("allocate_sparsity", lambda d, n, lv, b: alloc_ok(d, n, lv, b, per_weight=False), "divide"),
    ("masked_train_step", lambda *a: step_ok(*a, mask_weights=False), "pruned weights are non-zero"),
])
def test_wrong_answers_fail_naming_the_case(check, fn, needle):
    args = (torch_param,) if check == "taylor_scores" else ()
    if check == "compress_24":
        args = (decomp_ok,)
    with pytest.raises(CheckFailed, match=needle):
        getattr(pc, check)(fn, *args)


def test_structural_checks_reject_wrong_cuts(params):
    with pytest.raises(CheckFailed, match="masked"):
        pc.prune_heads(heads_interleaved, forward_np, params, 32)
    with pytest.raises(CheckFailed, match="b_in"):
        pc.prune_ffn(lambda p, layer, keep: ffn_ok(p, layer, keep, bias=False), forward_np, params)


def test_stubs_report_not_implemented(params):
    def stub(*args, **kwargs):
        raise NotImplementedError()
    for name, extra in (("magnitude_mask", ()), ("taylor_scores", (torch_param,)), ("masked_train_step", ()),
                        ("compress_24", (stub,))):
        with pytest.raises(CheckFailed, match="not implemented"):
            getattr(pc, name)(stub, *extra)
