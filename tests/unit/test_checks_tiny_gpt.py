"""Visible self-checks of module 04_tiny_gpt: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import re

import numpy as np
import pytest

from llmcourse import checks
from llmcourse.checks import CheckFailed
from llmcourse.checks import tiny_gpt as ct

# --- small implementations, right and wrong ------------------------------------------------------


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def embed(ids, tok_emb, pos_emb):
    return tok_emb[ids] + pos_emb[: ids.shape[-1]]


def layer_norm(x, weight, bias, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(-1, keepdims=True) + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def mlp(x, w_in, b_in, w_out, b_out):
    return gelu(x @ w_in + b_in) @ w_out + b_out


def attention(x, w_qkv, b_qkv, w_out, b_out, n_head, causal=True):
    *lead, T, C = x.shape
    d = C // n_head
    q, k, v = (np.swapaxes(t.reshape(*lead, T, n_head, d), -3, -2) for t in np.split(x @ w_qkv + b_qkv, 3, -1))
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    if causal:
        s = np.where(np.triu(np.ones((T, T), bool), 1), -np.inf, s)
    return np.swapaxes(softmax(s) @ v, -3, -2).reshape(*lead, T, C) @ w_out + b_out


def block(x, p, n_head, eps=1e-5):
    x = x + attention(layer_norm(x, p["ln1.weight"], p["ln1.bias"], eps), p["attn.w_qkv"], p["attn.b_qkv"],
                      p["attn.w_out"], p["attn.b_out"], n_head)
    h = layer_norm(x, p["ln2.weight"], p["ln2.bias"], eps)
    return x + mlp(h, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"])


def forward(ids, config, params):
    x = embed(ids, params["tok_emb"], params["pos_emb"])
    for i in range(config["n_layer"]):
        p = {k[len(f"blocks.{i}."):]: v for k, v in params.items() if k.startswith(f"blocks.{i}.")}
        x = block(x, p, config["n_head"], config["ln_eps"])
    return layer_norm(x, params["ln_f.weight"], params["ln_f.bias"], config["ln_eps"]) @ params["head.w"] + params[
        "head.b"]


def count_params(config):
    V, L, C, F = config["vocab_size"], config["n_layer"], config["d_model"], config["d_ff"]
    return V * C + config["block_size"] * C + L * (4 * C + 4 * C * C + 4 * C + 2 * C * F + F + C) + 2 * C + C * V + V


def cross_entropy(logits, targets):
    z = np.asarray(logits, dtype=np.float64)
    lse = np.logaddexp.reduce(z, axis=-1)
    return float((lse - np.take_along_axis(z, np.asarray(targets)[..., None], -1)[..., 0]).mean())


def top_k(logits, k):
    z = np.asarray(logits, dtype=np.float64)
    return np.where(z >= np.sort(z)[-min(k, len(z))], z, -np.inf)


def top_p(logits, p):
    z = np.asarray(logits, dtype=np.float64)
    pr = softmax(z)
    above = np.array([pr[pr > q].sum() for q in pr])
    return np.where(above < p, z, -np.inf)


def sample_next(logits, rng, temperature=1.0, top_k_=None, top_p_=None, **kw):
    top_k_, top_p_ = kw.get("top_k", top_k_), kw.get("top_p", top_p_)
    z = np.asarray(logits, dtype=np.float64)
    if temperature == 0:
        return int(np.argmax(z))
    z = z / temperature
    if top_k_ is not None:
        z = top_k(z, top_k_)
    if top_p_ is not None:
        z = top_p(z, top_p_)
    return int(rng.choice(len(z), p=softmax(z)))


def generate(fwd, prompt_ids, n_new, rng, block_size, temperature=1.0, top_k=None, top_p=None):
    ids = list(prompt_ids)
    for _ in range(n_new):
        ids.append(sample_next(fwd(np.array(ids[-block_size:]))[-1], rng, temperature, top_k=top_k, top_p=top_p))
    return np.array(ids)


def stub(*args, **kwargs):
    raise NotImplementedError()


RIGHT = [
    (ct.softmax, softmax), (ct.embed, embed), (ct.layer_norm, layer_norm), (ct.gelu, gelu), (ct.mlp, mlp),
    (ct.causal_self_attention, attention), (ct.transformer_block, block), (ct.gpt_forward, forward),
    (ct.count_params, count_params), (ct.cross_entropy, cross_entropy), (ct.top_k_filter, top_k),
    (ct.top_p_filter, top_p), (ct.sample_next, sample_next), (ct.generate, generate),
]


@pytest.mark.parametrize("check, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_right_answers_pass_with_one_line(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("✔"), out


@pytest.mark.parametrize("check, fn", RIGHT, ids=lambda x: getattr(x, "__name__", ""))
def test_stubs_are_reported_as_not_implemented(check, fn):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(stub)


def test_checks_are_reachable_from_the_package():
    assert checks.tiny_gpt is ct


# --- wrong answers: each fails, naming the case --------------------------------------------------

WRONG = [
    (ct.softmax, lambda x, axis=-1: np.exp(x) / np.exp(x).sum(axis=axis, keepdims=True), "large logits"),
    (ct.embed, lambda ids, t, p: t[ids] + p[ids], "ids [3, 1]"),
    (ct.layer_norm, lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdims=True))
     / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) * w + b, "eps=0 -> unchanged"),
    (ct.layer_norm, lambda x, w, b, eps=1e-5: (x - x.mean(-1, keepdims=True))
     / (x.std(-1, keepdims=True) + eps) * w + b, "eps goes inside"),
    (ct.layer_norm, lambda x, w, b, eps=1e-5: (x - x.mean(0, keepdims=True))
     / np.sqrt(x.var(0, keepdims=True) + eps) * w + b, "every row"),
    (ct.gelu, lambda x: np.maximum(x, 0.0), "x = 1 and x = -1"),
    (ct.mlp, lambda x, w1, b1, w2, b2: np.maximum(x @ w1 + b1, 0) @ w2 + b2, "hidden [1, -1, 10]"),
    (ct.causal_self_attention, lambda *a: attention(*a, causal=False), "never the future"),
    (ct.transformer_block, lambda x, p, n, eps=1e-5: layer_norm(
        x + mlp(x, p["mlp.w_in"], p["mlp.b_in"], p["mlp.w_out"], p["mlp.b_out"]), p["ln2.weight"], p["ln2.bias"]),
     "all weights 0"),
    (ct.gpt_forward, lambda ids, c, p: forward(ids, c, p) + 1e-3, "the checkpoint"),
    (ct.count_params, lambda c: count_params(c) - c["vocab_size"], "97 by hand"),
    (ct.cross_entropy, lambda z, y: cross_entropy(z, y) / np.log(2), "target 1"),
    (ct.cross_entropy, lambda z, y: float((np.log(np.exp(z).sum(-1))
                                           - np.take_along_axis(z, np.asarray(y)[..., None], -1)[..., 0]).mean()),
     "no overflow"),
    (ct.top_k_filter, lambda z, k: softmax(top_k(z, k)), "k=2"),
    (ct.top_k_filter, lambda z, k: np.where(np.isin(np.arange(len(z)), np.argsort(-z, kind="stable")[:k]), z, -np.inf),
     "tie"),
    (ct.top_p_filter, lambda z, p: np.where(np.isin(np.arange(len(z)), np.argsort(-softmax(z))[
        np.cumsum(np.sort(softmax(z))[::-1]) <= p]), z, -np.inf), "p=0.3"),
    (ct.top_p_filter, lambda z, p: np.where(np.isin(np.arange(len(z)), np.argsort(-softmax(z), kind="stable")[
        np.cumsum(np.sort(softmax(z))[::-1]) - np.sort(softmax(z))[::-1] < p]), z, -np.inf), "ties"),
    (ct.sample_next, lambda z, rng, **kw: int(np.argmax(z)), "temperature 1"),
    (ct.sample_next, lambda z, rng, temperature=1.0, top_k=None, top_p=None: sample_next(
        z, np.random.default_rng(), temperature, top_k_=top_k), "same seed"),
    (ct.sample_next, lambda z, rng, temperature=1.0, **kw: int(np.argmax(z)) if temperature == 0 else
     int(rng.choice(len(z), p=softmax(z))), "top_k=1"),
    (ct.generate, lambda f, ids, n, rng, bs, **kw: generate(f, ids, n, rng, 10**6, **kw), "cropped"),
    (ct.generate, lambda f, ids, n, rng, bs, **kw: generate(f, ids, n, rng, bs, **kw)[len(ids):], "count up"),
]


@pytest.mark.parametrize("check, fn, case", WRONG, ids=lambda x: x if isinstance(x, str) else "")
def test_wrong_answers_fail_naming_the_case(check, fn, case):
    with pytest.raises(CheckFailed, match=re.escape(case)):
        check(fn)


def test_wrong_shape_and_nan_are_explained():
    with pytest.raises(CheckFailed, match="wrong shape"):
        ct.embed(lambda ids, t, p: (t[ids] + p[: ids.shape[-1]]).reshape(-1))
    with pytest.raises(CheckFailed, match="NaN"):
        ct.layer_norm(lambda x, w, b, eps=1e-5: x * np.nan)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        ct.count_params(lambda c: 1 // 0)


def test_answers_must_be_numbers(capsys):
    ct.answers(a=1, b=2.5, c=np.int64(3))
    assert "3 answers recorded" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="still None"):
        ct.answers(a=None)
    with pytest.raises(CheckFailed, match="should be a number"):
        ct.answers(a="48")
