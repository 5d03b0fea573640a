"""Visible self-checks of module 02_multihead: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcourse import checks
from llmcourse.checks import CheckFailed
from llmcourse.checks import multihead as cm

# --- small implementations, right and wrong --------------------------------------------------------


def attention(q, k, v):
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    w = w / w.sum(axis=-1, keepdims=True)
    return w @ v, w


def split_heads(x, n_head):
    B, T, C = x.shape
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(h):
    B, n_head, T, d_head = h.shape
    return h.transpose(0, 2, 1, 3).reshape(B, T, n_head * d_head)


def _heads(x, params, n_head, n_kv_head, scale_by_C=False, tile=False, check=True):
    if check and n_head % n_kv_head:
        raise ValueError(f"n_kv_head={n_kv_head} must divide n_head={n_head}")
    C = x.shape[-1]
    q = split_heads(x @ params["Wq"] + params["bq"], n_head)
    k = split_heads(x @ params["Wk"] + params["bk"], n_kv_head)
    v = split_heads(x @ params["Wv"] + params["bv"], n_kv_head)
    g = n_head // n_kv_head
    k, v = ((np.tile(t, (1, g, 1, 1)) if tile else np.repeat(t, g, axis=1)) for t in (k, v))
    if scale_by_C:
        q = q * math.sqrt(q.shape[-1] / C)
    o, w = attention(q, k, v)
    return merge_heads(o) @ params["Wo"] + params["bo"], w


def mha(x, params, n_head):
    return _heads(x, params, n_head, n_head)


def gqa(x, params, n_head, n_kv_head):
    return _heads(x, params, n_head, n_kv_head)


def param_count(C, n_head, n_kv_head=None, bias=True):
    kv = (n_head if n_kv_head is None else n_kv_head) * (C // n_head)
    return 2 * C * C + 2 * C * kv + (2 * C + 2 * kv if bias else 0)


def kv_bytes(n_layer, C, n_head, n_kv_head, n_tokens=1, B=1, bits=16):
    return 2 * n_layer * n_kv_head * (C // n_head) * bits / 8 * n_tokens * B


def stub(*args, **kwargs):
    raise NotImplementedError()


RIGHT = [
    (cm.attention, attention),
    (cm.split_heads, split_heads),
    (cm.merge_heads, merge_heads),
    (cm.multi_head_attention, mha),
    (cm.grouped_query_attention, gqa),
    (cm.attention_param_count, param_count),
    (cm.kv_cache_bytes, kv_bytes),
]


@pytest.mark.parametrize("check, fn", RIGHT, ids=[c.__name__ for c, _ in RIGHT])
def test_correct_answers_pass_with_one_line(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.strip()
    assert out.startswith("✔") and "\n" not in out


@pytest.mark.parametrize("check", [c for c, _ in RIGHT], ids=[c.__name__ for c, _ in RIGHT])
def test_stubs_are_reported_as_not_implemented(check):
    with pytest.raises(CheckFailed, match="not implemented yet"):
        check(stub)


def test_lazy_import_finds_the_module():
    assert checks.multihead is cm


WRONG = [
    (cm.attention, lambda q, k, v: attention(q * math.sqrt(q.shape[-1]), k, v), "case 'one query"),
    (cm.attention, lambda q, k, v: (attention(q, k, v)[0][..., :1], attention(q, k, v)[1]), "wrong shape"),
    (cm.attention, lambda q, k, v: (attention(q, k, v)[0] * np.nan, attention(q, k, v)[1]), "NaN"),
    (cm.split_heads, lambda x, n: x.reshape(x.shape[0], n, x.shape[1], -1), "wrong values"),
    (cm.split_heads, lambda x, n: x.reshape(x.shape[0], x.shape[1], n, -1), "wrong shape"),
    (cm.split_heads, lambda x, n: 1 / 0, "ZeroDivisionError"),
    (cm.merge_heads, lambda h: h.reshape(h.shape[0], h.shape[2], -1), "wrong values"),
    (cm.multi_head_attention, lambda x, p, n: _heads(x, p, n, n, scale_by_C=True), "case '2 heads of width 1"),
    (cm.multi_head_attention, lambda x, p, n: (mha(x, p, n)[0][..., :1], mha(x, p, n)[1]), "wrong shape"),
    (cm.multi_head_attention, lambda x, p, n: (mha(x, p, n)[0] - p["bo"], mha(x, p, n)[1]), "bo = \\[1, -1\\]"),
    (cm.grouped_query_attention, lambda x, p, n, m: _heads(x, p, n, m, tile=True), "n_head = 4, n_kv_head = 2"),
    (cm.grouped_query_attention, lambda x, p, n, m: _heads(x, p, n, m, check=False), "must raise ValueError"),
    (cm.attention_param_count, lambda C, n, n_kv_head=None, bias=True: 4 * C * C + 4 * C * bias, "n_kv_head = 1"),
    (cm.attention_param_count, lambda C, n, n_kv_head=None, bias=True: n * param_count(C, n, n_kv_head, bias),
     "wrong values"),
    (cm.kv_cache_bytes, lambda *a, **k: kv_bytes(*a, **k) / 2, "case '1 layer"),
    (cm.kv_cache_bytes, lambda *a, **k: kv_bytes(*a, **k) * 8, "wrong values"),
]


@pytest.mark.parametrize("check, fn, message", WRONG)
def test_wrong_answers_fail_naming_the_case(check, fn, message):
    with pytest.raises(CheckFailed, match=message) as info:
        check(fn)
    assert "case '" in str(info.value)


def test_gqa_error_message_must_say_divide():
    def vague(x, params, n_head, n_kv_head):
        if n_head % n_kv_head:
            raise ValueError("bad shapes")
        return gqa(x, params, n_head, n_kv_head)

    with pytest.raises(CheckFailed, match="does not say"):
        cm.grouped_query_attention(vague)


def test_input_modification_is_caught():
    def in_place(x, n_head):
        x *= 1
        x[...] = x[..., ::-1].copy()
        return split_heads(x, n_head)

    with pytest.raises(CheckFailed, match="modified its input"):
        cm.split_heads(in_place)


@pytest.mark.parametrize("keys, letter, message", [
    (None, "c", "no answer yet"), (12, "", "no answer yet"), (12.5, "c", "whole number"), (12, "e", "one of"),
    ("twelve", "c", "whole number"), (12, 3, "one of"),
])
def test_heads_question_format(keys, letter, message):
    with pytest.raises(CheckFailed, match=message):
        cm.heads_question(keys, letter)


def test_question_checks_accept_well_formed_answers(capsys):
    cm.heads_question(np.int64(12), " C ")
    cm.cache_questions(3.0, 10)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("✔") for line in lines)


@pytest.mark.parametrize("head, gib, message", [
    (None, 10.0, "no answer yet"), (3, None, "no answer yet"), (3, "ten", "number of GiB"), (3, -1.0, "positive"),
    (3.5, 10.0, "whole number"),
])
def test_cache_questions_format(head, gib, message):
    with pytest.raises(CheckFailed, match=message):
        cm.cache_questions(head, gib)
