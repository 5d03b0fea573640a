"""Timing that survives scrutiny: warm-up, device synchronisation, medians, interleaved comparisons.

    t = bench.time_fn(lambda: x @ w, repeat=20)                  # Timing(median=..., ...)
    r = bench.compare({"numpy": f_np, "numba": f_nb}, rounds=15)  # medians and ratios, interleaved
    r.ratio_spread("numba")                                       # {"median", "min", "max", "n"} over rounds

Work queued on a GPU returns before it finishes; timing it without synchronising measures only the
launch. `sync` below waits for the device when one is involved, and is a no-op on the CPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def sync(device: Any = None) -> None:
    """Wait for queued work on `device` ('cuda', 'cuda:0', torch.device, 'mps'); no-op on CPU/None."""
    if device is None:
        return
    kind = getattr(device, "type", str(device)).split(":")[0]
    if kind == "cpu":
        return
    import torch

    if kind == "cuda":
        torch.cuda.synchronize(device)
    elif kind == "mps":
        torch.mps.synchronize()
    else:
        raise ValueError(f"don't know how to synchronise device {device!r}")


def spread(values: list[float]) -> dict[str, float]:
    """Median, min, max and count of repeated measurements: what a record quotes instead of one number.

    >>> spread([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0, 'n': 3}
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("spread needs at least one value")
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


@dataclass
class Timing:
    """Seconds per call over repeats."""

    samples: list[float]
    median: float = field(init=False)
    best: float = field(init=False)
    spread: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("Timing needs at least one sample")
        self.median = statistics.median(self.samples)
        self.best = min(self.samples)
        q = statistics.quantiles(self.samples, n=4) if len(self.samples) >= 2 else [self.median] * 3
        self.spread = q[2] - q[0]

    def __str__(self) -> str:
        return (f"{_fmt_s(self.median)} median (best {_fmt_s(self.best)}, "
                f"IQR {_fmt_s(self.spread)}, n={len(self.samples)})")


def _fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def time_fn(fn: Callable[[], Any], repeat: int = 20, warmup: int = 3, number: int = 1, device: Any = None,
            clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time fn() `repeat` times after `warmup` calls; each sample is seconds per call over `number` calls."""
    if repeat < 1 or number < 1 or warmup < 0:
        raise ValueError("repeat and number must be >= 1 and warmup >= 0")
    for _ in range(warmup):
        fn()
    sync(device)
    samples = []
    for _ in range(repeat):
        start = clock()
        for _ in range(number):
            fn()
        sync(device)
        samples.append((clock() - start) / number)
    return Timing(samples)


@dataclass
class Comparison:
    """Interleaved timings of several variants, with ratios against a baseline."""

    timings: dict[str, Timing]
    baseline: str

    def ratios(self, name: str, baseline: str | None = None) -> list[float]:
        """Per-round speed-ups of `name` over `baseline` (default: the comparison's baseline)."""
        base = self.timings[baseline or self.baseline].samples
        return [b / o for b, o in zip(base, self.timings[name].samples, strict=True)]

    def ratio(self, name: str, baseline: str | None = None) -> float:
        """How many times faster `name` is than the baseline (median of per-round ratios)."""
        return statistics.median(self.ratios(name, baseline))

    def ratio_spread(self, name: str, baseline: str | None = None) -> dict[str, float]:
        """spread() of the per-round ratios: median, min, max and the number of rounds."""
        return spread(self.ratios(name, baseline))

    def table(self) -> str:
        """Plain-text table: variant, median time, speed-up against the baseline."""
        lines = [f"{'variant':<24}{'median':>14}{'speed-up':>10}"]
        for name, t in self.timings.items():
            lines.append(f"{name:<24}{_fmt_s(t.median):>14}{self.ratio(name):>9.2f}x")
        return "\n".join(lines)


def compare(variants: dict[str, Callable[[], Any]], rounds: int = 15, warmup: int = 2, number: int = 1,
            baseline: str | None = None, device: Any = None, settle: float = 0.0, prime: int = 0,
            clock: Callable[[], float] = time.perf_counter, alternate: bool = False) -> Comparison:
    """Time variants round-robin (A B C A B C ...) so drift hits all alike; ratios are per-round medians.

    settle: seconds to pause before each variant (lets another library's spinning threads go idle);
    prime: untimed calls after the pause, so the sample sees the steady state of back-to-back calls;
    alternate: reverse the order every other round (A B, B A, A B, ...), so that neither variant always runs
    first after the other (with two variants: pairs of alternating order).
    """
    if not variants:
        raise ValueError("compare needs at least one variant")
    baseline = baseline or next(iter(variants))
    if baseline not in variants:
        raise ValueError(f"baseline {baseline!r} is not one of {list(variants)}")
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    sync(device)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants.items())
    for r in range(rounds):
        for name, fn in (order[::-1] if alternate and r % 2 else order):
            if settle:
                time.sleep(settle)
            for _ in range(prime):
                fn()
            sync(device)
            start = clock()
            for _ in range(number):
                fn()
            sync(device)
            samples[name].append((clock() - start) / number)
    return Comparison({name: Timing(s) for name, s in samples.items()}, baseline)
