"""Visible self-checks for module 13_capstone: the format, the rules and the budget on visible held-out text.

No reference solution here: the checks run the learner's compress and forward through the harness in
llmcourse.capstone (format, honest byte count, held-out measurements, the self-containment rules).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from llmcourse import capstone

from ._core import CheckFailed

VISIBLE_SEED = 1301  # the held-out text the notebook shows; graded runs also use seeds it does not show


def _fail(label: str, exc: Exception) -> CheckFailed:
    return CheckFailed(f"{label}: {exc}")


def compress(compress_fn: Callable, forward_fn: Callable, n_chars: int = 2000, n_tasks: int = 60) -> dict:
    """Format, honest bytes and the budget on the visible held-out text; returns the measurement."""
    config, params = capstone.load()
    try:
        result = capstone.measure(compress_fn, forward_fn, config, params, VISIBLE_SEED, n_chars, n_tasks)
    except capstone.CapstoneError as exc:
        raise _fail("compress", exc) from None
    if result["problems"]:
        raise CheckFailed("compress: over the budget on the visible held-out text: " + "; ".join(result["problems"]))
    print(f"compress: format ok, {result['bytes']:,} bytes = {result['bytes_ratio']:.1%} of fp32, perplexity "
          f"{result['ppl_ratio']:.3f}x fp32, task accuracy {result['model']['task_mean']:.1%} "
          f"(fp32 {result['fp32']['task_mean']:.1%}): within the budget")
    return result


def forward(compress_fn: Callable, forward_fn: Callable) -> None:
    """Shapes, finite logits and the self-containment rules on a short visible prompt."""
    config, params = capstone.load()
    from llmcourse.data import CharTokenizer

    ids = CharTokenizer().encode("\nthe old fox found a key near the river.\ncopy abcde>abcde\n")
    batch = np.stack([ids[:20], ids[20:40]])
    try:
        compressed = capstone.check_self_contained(compress_fn, forward_fn, config, params, batch)
        got = capstone._logits(forward_fn, compressed, batch)
    except capstone.CapstoneError as exc:
        raise _fail("forward", exc) from None
    want = capstone.fp32_forward(config, params, batch)
    agree = float((got.argmax(-1) == want.argmax(-1)).mean())
    if agree < 0.8:
        raise CheckFailed(f"forward: the next-token choice agrees with fp32 at only {agree:.0%} of 40 positions")
    print(f"forward: shapes ok, runs from the compressed dict alone, next token as fp32's at {agree:.0%} "
          "of 40 positions")


def justification(text: object, result: dict, speed_ratio: float) -> None:
    """The written justification states the measured numbers (bytes %, perplexity, its ratio, tasks, speed)."""
    problems = capstone.justification_problems(text, justification_facts(result, speed_ratio))
    if problems:
        raise CheckFailed("justification: " + "; ".join(problems))
    print("justification: states the measured bytes, perplexity, task accuracy and speed")


def justification_facts(result: dict, speed_ratio: float) -> dict[str, tuple[float, float]]:
    """The numbers a justification must state, with their tolerances."""
    return {
        "stored bytes as a fraction (or %) of fp32": (result["bytes_ratio"], 0.0006),
        "the held-out perplexity": (result["model"]["perplexity"], 0.0015),
        "the perplexity ratio to fp32": (result["ppl_ratio"], 0.0015),
        "the mean task accuracy": (result["model"]["task_mean"], 0.006),
        "the speed ratio to fp32": (speed_ratio, 0.35 * speed_ratio),
    }
