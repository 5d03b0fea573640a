"""The timing harness: warm-up, repeats, medians, interleaving and device synchronisation."""

from __future__ import annotations

import itertools

import pytest

from llmcourse import bench


def fake_clock(step_seconds):
    """A clock that advances by the next value of step_seconds at every reading."""
    now = [0.0]
    steps = iter(step_seconds)

    def clock():
        now[0] += next(steps)
        return now[0]

    return clock


def test_time_fn_warms_up_then_takes_median():
    calls = []
    # readings come in (start, end) pairs; the durations are 5, 1, 3 seconds.
    clock = fake_clock([0, 5, 0, 1, 0, 3])
    t = bench.time_fn(lambda: calls.append(1), repeat=3, warmup=2, clock=clock)
    assert len(calls) == 5
    assert t.samples == [5, 1, 3]
    assert t.median == 3 and t.best == 1


def test_time_fn_divides_by_number():
    clock = fake_clock([0, 8, 0, 4])
    t = bench.time_fn(lambda: None, repeat=2, warmup=0, number=4, clock=clock)
    assert t.samples == [2, 1]


def test_time_fn_rejects_bad_arguments():
    with pytest.raises(ValueError):
        bench.time_fn(lambda: None, repeat=0)


def test_sync_called_after_each_sample(monkeypatch):
    synced = []
    monkeypatch.setattr(bench, "sync", lambda device: synced.append(device))
    bench.time_fn(lambda: None, repeat=4, warmup=1, device="cuda")
    assert synced == ["cuda"] * 5  # once after warm-up, once per sample


def test_sync_is_noop_on_cpu():
    bench.sync(None)
    bench.sync("cpu")
    torch = pytest.importorskip("torch")
    bench.sync(torch.device("cpu"))


def test_sync_unknown_device():
    pytest.importorskip("torch")
    with pytest.raises(ValueError, match="synchronise"):
        bench.sync("tpu")


def test_compare_interleaves_and_reports_ratio():
    order = []
    # two variants, three rounds: durations a=4, b=2 each round -> b is 2x faster than baseline a.
    clock = fake_clock(itertools.chain.from_iterable([[0, 4], [0, 2]] * 3))
    cmp = bench.compare({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                        rounds=3, warmup=0, clock=clock)
    assert order == ["a", "b"] * 3
    assert cmp.ratio("b") == pytest.approx(2.0)
    assert cmp.ratio("a") == pytest.approx(1.0)
    assert "2.00x" in cmp.table()


def test_compare_unknown_baseline():
    with pytest.raises(ValueError):
        bench.compare({"a": lambda: None}, baseline="z")


def test_timing_str_units():
    assert "ms" in str(bench.Timing([0.002, 0.003]))
    assert "µs" in str(bench.Timing([2e-6]))


def test_compare_primes_untimed_after_settle():
    calls = []
    clock = fake_clock([0, 1] * 4)
    cmp = bench.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, warmup=0,
                        prime=2, clock=clock)
    assert calls == ["a", "a", "a", "b", "b", "b"] * 2  # two untimed calls, then the timed one
    assert cmp.timings["a"].samples == [1, 1]


def test_spread_median_min_max():
    assert bench.spread([3, 1, 2, 10]) == {"median": 2.5, "min": 1.0, "max": 10.0, "n": 4}
    with pytest.raises(ValueError):
        bench.spread([])


def test_ratios_against_any_variant_and_their_spread():
    # three variants, two rounds: a = 6, 6; b = 3, 2; c = 2, 4 seconds
    clock = fake_clock([0, 6, 0, 3, 0, 2, 0, 6, 0, 2, 0, 4])
    cmp = bench.compare({"a": lambda: None, "b": lambda: None, "c": lambda: None}, rounds=2, warmup=0, clock=clock)
    assert cmp.ratios("b") == [2.0, 3.0]
    assert cmp.ratio_spread("b") == {"median": 2.5, "min": 2.0, "max": 3.0, "n": 2}
    assert cmp.ratios("b", baseline="c") == [2 / 3, 2.0]   # b against c in the same rounds
    assert cmp.ratio("c", baseline="b") == pytest.approx((1.5 + 0.5) / 2)


def test_compare_alternate_reverses_the_order_every_other_round():
    calls = []
    cmp = bench.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=4, warmup=0,
                        alternate=True)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert len(cmp.ratios("b")) == 4
