"""The visible checks of 03_causal_masking: right answers pass, wrong ones fail naming the case."""

from __future__ import annotations

import numpy as np
import pytest

from llmcourse.checks import CheckFailed, masking


def causal_mask(T):
    return np.tril(np.ones((T, T), dtype=bool))


def cached_causal_mask(T_q, T_k):
    return np.tril(np.ones((T_q, T_k), dtype=bool), k=T_k - T_q)


def additive_mask(mask, dtype=np.float32):
    return np.where(mask, 0.0, -np.inf).astype(dtype)


def _attention(q, k, v, mask, safe):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    mask = np.ones(s.shape, dtype=bool) if mask is None else np.broadcast_to(mask, np.broadcast_shapes(s.shape,
                                                                                                      mask.shape))
    s = np.where(mask, s, -1e9)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    w = e / e.sum(axis=-1, keepdims=True)
    if safe:
        w = w * mask.any(axis=-1, keepdims=True)
    return w @ v, w


def masked_attention(q, k, v, mask=None):
    return _attention(q, k, v, mask, safe=False)


def safe_masked_attention(q, k, v, mask=None):
    return _attention(q, k, v, mask, safe=True)


def padding_mask(lengths, T):
    return np.arange(T)[None, :] < np.asarray(lengths)[:, None]


def padding_causal_mask(lengths, T):
    real = padding_mask(lengths, T)
    return causal_mask(T)[None] & real[:, None, :] & real[:, :, None]


def cross_attention(x, memory, memory_lengths, Wq, Wk, Wv):
    ok = padding_mask(memory_lengths, memory.shape[1])[:, None, :]
    return masked_attention(x @ Wq, memory @ Wk, memory @ Wv, ok)


def causal_self_attention(x, Wq, Wk, Wv):
    return masked_attention(x @ Wq, x @ Wk, x @ Wv, causal_mask(x.shape[1]))[0]


def leaks_future(seq_fn, B=2, T=6, C=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, C))
    base = np.asarray(seq_fn(x.copy()))
    for t in range(T - 1):
        x2 = x.copy()
        x2[:, t + 1:] = rng.standard_normal((B, T - t - 1, C))
        if not np.allclose(np.asarray(seq_fn(x2))[:, : t + 1], base[:, : t + 1]):
            return True
    return False


RIGHT = {
    "causal_mask": causal_mask,
    "cached_causal_mask": cached_causal_mask,
    "additive_mask": additive_mask,
    "masked_attention": masked_attention,
    "padding_mask": padding_mask,
    "padding_causal_mask": padding_causal_mask,
    "safe_masked_attention": safe_masked_attention,
    "cross_attention": cross_attention,
    "causal_self_attention": causal_self_attention,
    "leaks_future": leaks_future,
}


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_right_answers_pass_with_one_line(name, capsys):
    getattr(masking, name)(RIGHT[name])
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"✔ {name}: all ") and out.endswith("visible cases passed") and "\n" not in out


def _post_softmax(q, k, v, mask=None):
    _, w = masked_attention(q, k, v)
    w = w if mask is None else w * mask
    return w @ v, w


def _nan_rows(q, k, v, mask=None):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    s = s if mask is None else np.where(mask, s, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        w = e / e.sum(axis=-1, keepdims=True)
    return w @ v, w


def _raises(*args, **kwargs):
    raise ValueError("boom")


WRONG = [
    ("causal_mask", lambda T: np.triu(np.ones((T, T), dtype=bool)), "case 'T = 3", "wrong values"),
    ("causal_mask", lambda T: np.tril(np.ones((T, T), dtype=bool), k=-1), "case 'T = 1", "wrong values"),
    ("causal_mask", lambda T: np.tril(np.ones((T, T))), "case 'T = 1", "boolean"),
    ("causal_mask", lambda T: np.ones((T, T + 1), dtype=bool), "case 'T = 1", "wrong shape"),
    ("causal_mask", _raises, "case 'T = 1", "ValueError: boom"),
    ("cached_causal_mask", lambda T_q, T_k: np.tril(np.ones((T_q, T_k), dtype=bool)), "one decode step",
     "wrong values"),
    ("additive_mask", lambda m, dtype=np.float32: ((~m) * -np.inf).astype(dtype), "case '2 x 2", "RuntimeWarning"),
    ("additive_mask", lambda m, dtype=np.float32: np.where(m, np.nan, -np.inf).astype(dtype), "case '2 x 2", "NaN"),
    ("additive_mask", lambda m, dtype=np.float32: m.astype(dtype), "case '2 x 2", "allowed positions"),
    ("additive_mask", lambda m, dtype=np.float32: np.where(m, 0.0, -np.inf), "case '2 x 2", "dtype"),
    ("additive_mask", lambda m, dtype=np.float32: m.astype(dtype) - 1, "case '2 x 2", "at most -1e4"),
    ("masked_attention", _post_softmax, "largest score", "wrong values"),
    ("masked_attention", lambda q, k, v, mask=None: masked_attention(q * 2, k, v, mask), "no mask",
     "wrong values"),
    ("masked_attention", lambda q, k, v, mask=None: (np.full((1, 2), np.nan), np.full((1, 2), np.nan)), "no mask",
     "NaN"),
    ("padding_mask", lambda L, T: np.arange(T)[None, :] <= np.asarray(L)[:, None], "lengths [3, 1, 0]",
     "wrong values"),
    ("padding_mask", lambda L, T: np.arange(T)[:, None] < np.asarray(L)[None, :], "lengths [3, 1, 0]",
     "wrong shape"),
    ("padding_causal_mask", lambda L, T: causal_mask(T)[None] & padding_mask(L, T)[:, None, :],
     "padded query", "wrong values"),
    ("safe_masked_attention", _nan_rows, "row 1 has no allowed key", "NaN"),
    ("safe_masked_attention", masked_attention, "row 1 has no allowed key", "wrong values"),
    ("cross_attention", lambda x, m, L, Wq, Wk, Wv: masked_attention(x @ Wq, m @ Wk, m @ Wv), "lengths [3, 1]",
     "wrong values"),
    ("cross_attention", lambda x, m, L, Wq, Wk, Wv: masked_attention(
        x @ Wq, m @ Wk, m @ Wv,
        padding_mask(L, m.shape[1])[:, None, :] & np.tril(np.ones((x.shape[1], m.shape[1]), bool))),
     "lengths [3, 1]", "wrong values"),
    ("cross_attention", lambda x, m, L, Wq, Wk, Wv: masked_attention(x @ Wq, m @ Wk, m @ Wv, padding_mask(
        L, m.shape[1])[:, None, :])[0], "lengths [3, 1]", "tuple"),
    ("causal_self_attention", lambda x, Wq, Wk, Wv: masked_attention(x @ Wq, x @ Wk, x @ Wv)[0], "Wq = Wk = 0",
     "wrong values"),
    ("leaks_future", lambda fn, B=2, T=6, C=4, seed=0: True, "running sum over positions", "expected False"),
    ("leaks_future", lambda fn, B=2, T=6, C=4, seed=0: 1, "running sum over positions", "expected False"),
    ("leaks_future", lambda fn, B=2, T=6, C=4, seed=0: False, "running sum from the end", "expected True"),
]


@pytest.mark.parametrize("name, fn, case, message", WRONG)
def test_wrong_answers_fail_naming_the_case(name, fn, case, message):
    with pytest.raises(CheckFailed) as info:
        getattr(masking, name)(fn)
    text = str(info.value)
    assert text.startswith(name) and case in text and message in text, text


def test_causal_self_attention_catches_a_leak_through_the_normaliser():
    def after_softmax(x, Wq, Wk, Wv):
        _, w = masked_attention(x @ Wq, x @ Wk, x @ Wv)
        return (w * causal_mask(x.shape[1])) @ (x @ Wv)

    with pytest.raises(CheckFailed, match="wrong values"):
        masking.causal_self_attention(after_softmax)

    def leaky_but_right_on_small_cases(x, Wq, Wk, Wv):
        out = causal_self_attention(x, Wq, Wk, Wv)
        if x.shape[1] > 3:
            out = out.copy()
            out[:, 0] += 1e-3 * x[:, -1, :1]
        return out

    with pytest.raises(CheckFailed, match="no future leakage"):
        masking.causal_self_attention(leaky_but_right_on_small_cases)


def test_not_implemented_is_explained():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    for name in RIGHT:
        with pytest.raises(CheckFailed, match="not implemented yet"):
            getattr(masking, name)(stub)


def test_warnings_are_failures():
    def warns(q, k, v, mask=None):
        out, w = safe_masked_attention(q, k, v, mask)
        np.float64(1.0) / np.float64(0.0)
        return out, w

    with pytest.raises(CheckFailed, match="RuntimeWarning"):
        masking.safe_masked_attention(warns)
