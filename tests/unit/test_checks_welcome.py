"""The 00_welcome self-checks: correct answers pass, wrong ones fail with a message naming the case."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcourse import checks
from llmcourse.checks import CheckFailed

# --- small correct implementations (test-only; the package never holds these) --------------------


def good_pick_device(report):
    return "cuda" if report.get("cuda") else "mps" if report.get("mps") else "cpu"


def good_counts(ids, V):
    counts = np.zeros((V, V), dtype=np.int64)
    np.add.at(counts, (ids[:-1], ids[1:]), 1)
    return counts


def good_probs(counts, alpha=1.0):
    V = counts.shape[0]
    s = counts + float(alpha)
    t = s.sum(axis=1, keepdims=True)
    return np.where(t == 0, 1.0 / V, s / np.where(t == 0, 1.0, t))


def good_ce(probs, ids):
    with np.errstate(divide="ignore"):
        return float(-np.log(probs[ids[:-1], ids[1:]]).mean())


def good_ppl(ce):
    return math.exp(ce)


def good_greedy(probs, start, n):
    out, cur = [], start
    for _ in range(n):
        cur = int(np.argmax(probs[cur]))
        out.append(cur)
    return np.array(out, dtype=np.int64)


def good_sample(probs, start, n, rng):
    out, cur = np.empty(n, dtype=np.int64), start
    for i in range(n):
        cur = int(rng.choice(probs.shape[0], p=probs[cur]))
        out[i] = cur
    return out


def good_sample_inverse_cdf(probs, start, n, rng):
    cdf = np.cumsum(probs, axis=1)
    out, cur = np.empty(n, dtype=np.int64), start
    for i in range(n):
        cur = min(int(np.searchsorted(cdf[cur], rng.random(), side="right")), probs.shape[0] - 1)
        out[i] = cur
    return out


def sharpened(probs):
    """Temperature 0.5: one-hot rows are unchanged, every other row is distorted."""
    q = probs ** 2
    return q / q.sum(axis=1, keepdims=True)


ZERO_CASE = "a zero probability on the path (return inf, no warning)"


def boom(*args):
    raise ValueError("boom")


# --- correct answers pass, printing one line -------------------------------------------------------


@pytest.mark.parametrize("check, fn", [
    (checks.welcome.pick_device, good_pick_device),
    (checks.welcome.bigram_counts, good_counts),
    (checks.welcome.bigram_probs, good_probs),
    (checks.welcome.cross_entropy, good_ce),
    (checks.welcome.perplexity, good_ppl),
    (checks.welcome.greedy_continue, good_greedy),
    (checks.welcome.sample_continue, good_sample),
    (checks.welcome.sample_continue, good_sample_inverse_cdf),
])
def test_correct_answers_pass(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("✔")


def test_interview_answers_pass(capsys):
    checks.welcome.interview_answers(48, math.log(48), 2 ** 1.5, math.inf)
    assert capsys.readouterr().out.startswith("✔")


# --- wrong answers fail, naming the case ------------------------------------------------------------


@pytest.mark.parametrize("check, fn, case, message", [
    (checks.welcome.pick_device, lambda r: "cuda" if "cuda" in r else "cpu", "an Apple GPU only", "expected 'mps'"),
    (checks.welcome.pick_device, boom, "an NVIDIA GPU is visible", "ValueError: boom"),
    (checks.welcome.bigram_counts, lambda ids, V: good_counts(ids, V).astype(float), "ids [0, 1, 1, 2], V=3",
     "integer"),
    (checks.welcome.bigram_counts, lambda ids, V: good_counts(ids, V)[:, :-1], "ids [0, 1, 1, 2], V=3",
     "wrong shape"),
    (checks.welcome.bigram_counts, lambda ids, V: good_counts(ids, V).T, "ids [0, 1, 1, 2], V=3", "wrong values"),
    (checks.welcome.bigram_counts, lambda ids, V: good_counts(np.concatenate([ids, ids[:1]]), V),
     "ids [0, 1, 1, 2], V=3", "wrong values"),
    (checks.welcome.bigram_counts, boom, "ids [0, 1, 1, 2], V=3", "ValueError: boom"),
    (checks.welcome.bigram_probs, lambda c, alpha=1.0: (c + alpha) / (c + alpha).sum(axis=1, keepdims=True),
     "alpha=0, one empty row", "RuntimeWarning"),
    (checks.welcome.bigram_probs, lambda c, alpha=1.0: good_probs(c.T, alpha).T, "alpha=0, one empty row",
     "wrong values"),
    (checks.welcome.bigram_probs, lambda c, alpha=1.0: np.full(c.shape, np.nan), "alpha=0, one empty row", "NaN"),
    (checks.welcome.bigram_probs, lambda c, alpha=1.0: (c + 1) // (c + 1).sum(axis=1, keepdims=True),
     "alpha=0, one empty row", "floating-point"),
    (checks.welcome.cross_entropy, lambda p, ids: -np.log(p[ids[:-1], ids[1:]]).sum(), "ids [0, 1, 1]",
     "wrong values"),
    (checks.welcome.cross_entropy, lambda p, ids: float(-np.log(p[ids[:-1], ids[1:]] + 1e-10).mean()),
     ZERO_CASE, "expected inf"),
    (checks.welcome.cross_entropy, lambda p, ids: float(-np.log(p[ids[:-1], ids[1:]]).mean()),
     ZERO_CASE, "RuntimeWarning"),
    (checks.welcome.cross_entropy, lambda p, ids: -np.log(p[ids[:-1], ids[1:]]), "ids [0, 1, 1]", "wrong shape"),
    (checks.welcome.perplexity, lambda ce: 2.0 ** ce, "uniform over 4 tokens (ce = ln 4 nats)", "wrong values"),
    (checks.welcome.perplexity, lambda ce: math.nan, "a perfect model (ce = 0)", "NaN"),
    (checks.welcome.perplexity, boom, "a perfect model (ce = 0)", "ValueError"),
    (checks.welcome.greedy_continue, lambda p, s, n: good_greedy(p, s, n).astype(float), "start 0, n=4", "integer"),
    (checks.welcome.greedy_continue, lambda p, s, n: np.full(n, np.argmax(p[s])), "start 0, n=4", "wrong values"),
    (checks.welcome.greedy_continue, lambda p, s, n: np.concatenate([[s], good_greedy(p, s, n)]), "start 0, n=4",
     "wrong shape"),
    (checks.welcome.sample_continue, lambda p, s, n, rng: good_sample(p, s, n, rng).astype(float),
     "one-hot rows 0->2->1->0, start 0, n=5", "integer"),
    (checks.welcome.sample_continue, lambda p, s, n, rng: rng.choice(p.shape[0], size=n, p=p[s]),
     "one-hot rows 0->2->1->0, start 0, n=5", "wrong values"),
    (checks.welcome.sample_continue, lambda p, s, n, rng: good_sample(p, s, n, np.random.default_rng()),
     "same seed twice gives the same tokens", "same seed"),
    (checks.welcome.sample_continue, lambda p, s, n, rng: good_sample(p, s, n, np.random.default_rng(0)),
     "different seeds give different tokens", "different seeds"),
    (checks.welcome.sample_continue, lambda p, s, n, rng: good_sample(sharpened(p), s, n, rng),
     "4000 tokens from a 2-token chain: frequencies match the rows", "transition frequencies"),
    (checks.welcome.sample_continue, boom, "one-hot rows 0->2->1->0, start 0, n=5", "ValueError: boom"),
])
def test_wrong_answers_name_the_case(check, fn, case, message):
    with pytest.raises(CheckFailed, match=message) as info:
        check(fn)
    assert f"case '{case}'" in str(info.value)


def test_stubs_say_not_implemented():
    def stub(*args):
        raise NotImplementedError()

    for check in (checks.welcome.bigram_counts, checks.welcome.sample_continue):
        with pytest.raises(CheckFailed, match="not implemented yet"):
            check(stub)


def test_sample_check_does_not_touch_global_random_state():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    checks.welcome.sample_continue(good_sample)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("answers, case", [
    (("48", math.log(48), 2 ** 1.5, math.inf), "uniform_perplexity"),
    ((48, math.nan, 2 ** 1.5, math.inf), "uniform_cross_entropy"),
    ((48, math.log(48), 0.35, math.inf), "perplexity_from_bits"),
    ((48, math.log2(48), 2 ** 1.5, math.inf), "uniform cross-entropy and perplexity agree"),
    ((48, math.log(48), 2 ** 1.5, True), "perplexity_with_one_zero"),
])
def test_interview_answers_name_the_case(answers, case):
    with pytest.raises(CheckFailed) as info:
        checks.welcome.interview_answers(*answers)
    assert f"case '{case}'" in str(info.value)
