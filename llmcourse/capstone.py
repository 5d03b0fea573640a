"""Module 13 (capstone): the compressed-model format, its honest byte count, and the measuring harness.

It holds no graded solution: the learner writes `compress(config, params) -> compressed` and
`forward(compressed, ids) -> logits`; this module says what a compressed model is, counts its bytes,
measures it on held-out text and times it against the fp32 checkpoint run by the course's PyTorch
reference model (`fp32_forward`; no NumPy transformer forward lives here: module 04 builds that one).

The compressed-model format (version "llmcourse-capstone/1")
-------------------------------------------------------------
A compressed model is a plain ``dict`` from ``str`` names to NumPy arrays, nothing else:

    "manifest"        uint8 (n,)     UTF-8 JSON: {"format": "llmcourse-capstone/1", "config": {...GPTConfig...},
                                     ...anything else the learner's forward needs (bit widths, group sizes,
                                     which blocks are shared, ranks)}; its bytes count like any other array
    any other name    an ndarray of dtype bool, int8, uint8, int16, uint16, int32, uint32, int64, float16 or
                      float32: int8 or packed int4 codes, scales and zero points, sparse indices (CSR indptr,
                      column indices, 2:4 positions), low-rank factors, shared blocks, biases, LayerNorms

Shared blocks are stored once under one name and referred to by name in the manifest. Python objects,
lists, object arrays and float64 arrays are refused: every byte the forward pass reads must be counted.

Stored bytes (`stored_bytes`) = every array's ``nbytes`` (codes, scales, zero points, indices, factors,
biases, the manifest) + the UTF-8 length of every name. The fp32 checkpoint is counted the same way
(`fp32_bytes`), so the ratio compares like with like.

Measurements
------------
* `heldout_text(n_chars, seed)`: fresh corpus text from a seed that is neither the training nor the
  validation seed; graded runs use seeds the notebook does not show.
* `evaluate(fn, text, n_tasks, seed)`: perplexity (consecutive block_size windows, the last partial one
  dropped) and exact task accuracy (greedy continuation of each prompt, batched by prompt length, exactly
  as `llmcourse.model.task_accuracy` does) for any ``fn(ids (B, T)) -> logits (B, T, V)``.
* `fp32_forward(config, params, ids)`: the fp32 reference, `llmcourse.model.TinyGPT` (PyTorch) on the CPU in
  inference mode with one torch thread, float32 NumPy logits; the quality reference and the speed baseline.
* `speed_ratio(...)`: how many times faster the learner's forward is than `fp32_forward`, on the
  same token ids in the same process: pairs (fp32, learner) with the order alternating, ratio per pair,
  median over pairs. Never an absolute time.
* `checkpoint_guard()`: while active, opening the shipped checkpoint file raises (an audit hook), so a
  forward pass that reads the fp32 weights from disk fails.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import hashlib
import json
import math
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from . import bench
from .data import SPLIT_SEEDS, TASKS, CharTokenizer, generate_lines
from .model import CHECKPOINT, GPTConfig, TinyGPT, _name_map, greedy_task_accuracy, load_numpy

FORMAT = "llmcourse-capstone/1"
ALLOWED_DTYPES = {np.dtype(t) for t in ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
                                        "float16", "float32")}
# The budget and the tiers (fractions of the fp32 checkpoint's bytes; speed as a ratio to fp32).
PPL_BUDGET = 1.10          # held-out perplexity at most 1.10 x fp32
TASK_BUDGET = 0.05         # mean exact task accuracy at most 5 points below fp32
BYTE_TIERS = (0.50, 0.25, 0.15)
SPEED_TIERS = (0.4, 0.55, 0.7)  # x the fp32 PyTorch reference's speed, one thread each


class CapstoneError(ValueError):
    """A compressed model that breaks the format or the rules, with the reason in words."""


# --- the format ------------------------------------------------------------------------------------

def make_manifest(config: dict, **extra: object) -> np.ndarray:
    """The manifest array: UTF-8 JSON of {"format", "config", **extra} as uint8 (n,)."""
    doc = {"format": FORMAT, "config": dict(config), **extra}
    return np.frombuffer(json.dumps(doc, sort_keys=True).encode(), dtype=np.uint8).copy()


def read_manifest(compressed: dict) -> dict:
    """The manifest of a compressed model as a dict."""
    man = compressed.get("manifest")
    if not isinstance(man, np.ndarray) or man.dtype != np.uint8 or man.ndim != 1:
        raise CapstoneError("compressed['manifest'] must be a uint8 (n,) array of UTF-8 JSON (use make_manifest)")
    try:
        doc = json.loads(man.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CapstoneError(f"the manifest is not UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("config"), dict):
        raise CapstoneError(f"the manifest must be a JSON object with format {FORMAT!r} and a config")
    return doc


def validate(compressed: object) -> dict:
    """Check the format (see the module docstring); returns the manifest, raises CapstoneError naming the problem."""
    if type(compressed) is not dict:  # a subclass could hide entries from the byte count
        raise CapstoneError("a compressed model is a plain dict of named NumPy arrays, "
                            f"got {type(compressed).__name__}")
    for name, value in compressed.items():
        if not isinstance(name, str):
            raise CapstoneError(f"every name must be a str, got {name!r}")
        if type(value) is not np.ndarray:
            raise CapstoneError(f"compressed[{name!r}] is a {type(value).__name__}: only NumPy arrays are stored "
                                "(and counted); put settings in the manifest")
        if value.dtype not in ALLOWED_DTYPES:
            raise CapstoneError(f"compressed[{name!r}] has dtype {value.dtype}; allowed: "
                                f"{sorted(str(d) for d in ALLOWED_DTYPES)}")
    return read_manifest(compressed)


def stored_bytes(compressed: dict) -> int:
    """Every byte of a compressed model: all arrays' nbytes (codes, scales, indices, manifest) + all names."""
    validate(compressed)
    return sum(int(a.nbytes) + len(k.encode()) for k, a in compressed.items())


def fp32_bytes(config: dict, params: dict[str, np.ndarray]) -> int:
    """The fp32 checkpoint counted like a compressed model: float32 arrays + names + the config as JSON."""
    body = sum(int(np.asarray(a, dtype=np.float32).nbytes) + len(k.encode()) for k, a in params.items())
    return body + len(json.dumps(config, sort_keys=True).encode())


def load() -> tuple[dict, dict[str, np.ndarray]]:
    """The course checkpoint as (config, float32 params), read once here so the caller's copy can be hidden."""
    return load_numpy()


# --- BLAS threads -----------------------------------------------------------------------------------

_BLAS: list = []


def _openblas() -> tuple | None:
    """(set, get) thread functions of the OpenBLAS that NumPy loaded, or None where there is none."""
    if not _BLAS:
        found = None
        with contextlib.suppress(OSError):
            paths = {line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                     if "openblas" in line.lower() and line.split()[-1].startswith("/")}
            for path in sorted(paths):
                lib = ctypes.CDLL(path)
                for setter, getter in (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                                       ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                                       ("openblas_set_num_threads", "openblas_get_num_threads")):
                    if hasattr(lib, setter) and hasattr(lib, getter):
                        found = (getattr(lib, setter), getattr(lib, getter))
                        break
                if found:
                    break
        _BLAS.append(found)
    return _BLAS[0]


def blas_threads(n: int | None = None) -> int | None:
    """Set NumPy's OpenBLAS to n threads (None: leave it); returns the previous count (None without OpenBLAS).

    The capstone's matrices are small: one thread is as fast and much steadier on a shared 2-core machine,
    where idle BLAS threads spinning against other processes can make a forward pass ten times slower."""
    fns = _openblas()
    if fns is None:
        return None
    before = int(fns[1]())
    if n is not None:
        fns[0](int(n))
    return before


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with one OpenBLAS thread, then restore the previous count."""
    before = blas_threads(1)
    try:
        yield
    finally:
        if before is not None:
            blas_threads(before)


# --- the fp32 reference: the course's PyTorch model (library attention and LayerNorm), one CPU thread -----

_SKELETONS: dict[str, TinyGPT] = {}


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the body with one torch intra-op thread (as NumPy runs with one BLAS thread), then restore."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def _tensor(a: np.ndarray) -> torch.Tensor:
    a = np.asarray(a, dtype=np.float32)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def fp32_forward(config: dict, params: dict[str, np.ndarray], ids: np.ndarray) -> np.ndarray:
    """The fp32 reference: ids (B, T) int -> logits (B, T, V) float32, computed by `llmcourse.model.TinyGPT`
    (PyTorch: `F.scaled_dot_product_attention`, `nn.LayerNorm`, `nn.GELU`) on the CPU in inference mode with
    one torch thread, from the float32 `params` of the checkpoint layout (used in place, not copied).

    It is the quality reference (perplexity, task accuracy) and the speed baseline of `speed_ratio`."""
    key = json.dumps(config, sort_keys=True)
    if key not in _SKELETONS:
        _SKELETONS[key] = TinyGPT(GPTConfig(**config)).eval()  # only its structure is used
    model = _SKELETONS[key]
    state = {}
    for name, tname, transpose in _name_map(model.config):
        t = _tensor(params[name])
        state[tname] = t.T if transpose else t  # (K, N) stored, (N, K) as nn.Linear wants: a view
    with one_torch_thread(), torch.inference_mode():
        out = torch.func.functional_call(model, state, (torch.from_numpy(np.asarray(ids, dtype=np.int64)),))
    return out.numpy().astype(np.float32, copy=False)


# --- held-out measurements ---------------------------------------------------------------------------

def heldout_text(n_chars: int, seed: int) -> str:
    """About n_chars of fresh corpus text (whole lines) from a seed that is not a training or validation seed."""
    if seed in SPLIT_SEEDS.values():
        raise ValueError(f"seed {seed} is the seed of a corpus split the learner trains or calibrates on")
    lines = generate_lines(max(1, n_chars // 20), seed)
    out, total = [], 0
    for line in lines:
        if total >= n_chars:
            break
        out.append(line + "\n")
        total += len(line) + 1
    return "".join(out)


def perplexity(fn: Callable[[np.ndarray], np.ndarray], text: str, block_size: int, batch: int = 16) -> float:
    """exp(mean cross-entropy) of fn on consecutive block_size windows of text (the last partial window dropped)."""
    ids = CharTokenizer().encode(text)
    n = (len(ids) - 1) // block_size
    if n < 1:
        raise ValueError(f"text of {len(ids)} characters is shorter than one window of {block_size + 1}")
    x = ids[: n * block_size].reshape(n, block_size)
    y = ids[1: n * block_size + 1].reshape(n, block_size)
    total = 0.0
    for s in range(0, n, batch):
        logits = np.asarray(fn(x[s:s + batch]), dtype=np.float64)
        if logits.shape != (*x[s:s + batch].shape, len(CharTokenizer().vocab)):
            raise CapstoneError(f"forward returned shape {logits.shape} for ids {x[s:s + batch].shape}")
        if not np.isfinite(logits).all():
            raise CapstoneError("forward returned inf or NaN logits")
        m = logits.max(-1, keepdims=True)
        logp = logits - m - np.log(np.exp(logits - m).sum(-1, keepdims=True))
        total -= float(np.take_along_axis(logp, y[s:s + batch, :, None], -1).sum())
    return math.exp(total / y.size)


def task_accuracy(fn: Callable[[np.ndarray], np.ndarray], task: str, n: int, seed: int, block_size: int,
                  max_new: int = 8) -> float:
    """Fraction of n task_examples(task, n, seed) answered exactly by greedy decoding with fn (model.py's loop)."""
    return greedy_task_accuracy(lambda ids: np.asarray(fn(ids))[:, -1], task, n, seed, block_size, max_new)


def evaluate(fn: Callable[[np.ndarray], np.ndarray], text: str, n_tasks: int, seed: int,
             block_size: int = 128) -> dict:
    """{"perplexity", "tasks": {task: accuracy}, "task_mean"} of fn on held-out text and fresh task prompts."""
    tasks = {t: task_accuracy(fn, t, n_tasks, seed, block_size) for t in TASKS}
    return {"perplexity": perplexity(fn, text, block_size), "tasks": tasks,
            "task_mean": sum(tasks.values()) / len(tasks)}


# --- the rules ----------------------------------------------------------------------------------------

_GUARD = {"on": False, "hooked": False, "paths": (str(Path(CHECKPOINT).resolve()),)}


def _audit(event: str, args: tuple) -> None:
    if _GUARD["on"] and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        resolved = None
        with contextlib.suppress(OSError, ValueError, UnicodeDecodeError):
            resolved = str(Path(args[0].decode() if isinstance(args[0], bytes) else args[0]).resolve())
        if resolved in _GUARD["paths"]:
            raise CapstoneError("the fp32 checkpoint was opened during a graded call: the compressed model "
                                "must be computed and run without it at run time")


@contextlib.contextmanager
def checkpoint_guard() -> Iterator[None]:
    """While active, any attempt to open the fp32 checkpoint file raises CapstoneError."""
    if not _GUARD["hooked"]:  # module attributes are never rebound: the grader's helper guard watches them
        sys.addaudithook(_audit)
        _GUARD["hooked"] = True
    _GUARD["on"] = True
    try:
        yield
    finally:
        _GUARD["on"] = False


def other_checkpoint(config: dict, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A different model of the same shapes: the blocks in reverse order (a forward that uses the course
    checkpoint instead of what it is given gives the course model's logits, not this one's)."""
    n = GPTConfig(**config).n_layer
    out = dict(params)
    for name, value in params.items():
        if name.startswith("blocks."):
            i = int(name.split(".")[1])
            out[f"blocks.{n - 1 - i}." + name.split(".", 2)[2]] = value.copy()
    return out


def budget_problems(fp32: dict, got: dict) -> list[str]:
    """Why a measured model misses the budget (empty when it meets it)."""
    problems = []
    ratio = got["perplexity"] / fp32["perplexity"]
    if not ratio <= PPL_BUDGET:
        problems.append(f"held-out perplexity {got['perplexity']:.4f} is {ratio:.3f}x fp32's "
                        f"{fp32['perplexity']:.4f} (budget {PPL_BUDGET:.2f}x)")
    if not got["task_mean"] >= fp32["task_mean"] - TASK_BUDGET - 1e-9:
        problems.append(f"mean task accuracy {got['task_mean']:.1%} is more than {TASK_BUDGET:.0%} points below "
                        f"fp32's {fp32['task_mean']:.1%} ({got['tasks']} against {fp32['tasks']})")
    return problems


def tier(value: float, tiers: tuple[float, ...], smaller_is_better: bool) -> int:
    """How many tiers a value reaches (0 .. len(tiers))."""
    return sum((value <= t) if smaller_is_better else (value >= t) for t in tiers)


# --- speed ------------------------------------------------------------------------------------------------

def speed_ratio(forward: Callable, compressed: dict, config: dict, params: dict[str, np.ndarray],
                ids: np.ndarray, pairs: int = 15, number: int = 3,
                clock: Callable[[], float] = time.perf_counter) -> dict:
    """How many times faster forward(compressed, ids) is than the fp32 reference (`fp32_forward`) on the same ids.

    Pairs of (fp32, learner) timings with the order alternating pair by pair (`bench.compare` with
    `alternate=True`), `number` calls each after two warm-up calls of each;
    returns {"ratio": median of fp32/learner over pairs, "ratios": every pair's ratio}.
    """
    cmp = bench.compare({"fp32": lambda: fp32_forward(config, params, ids), "mine": lambda: forward(compressed, ids)},
                        rounds=pairs, warmup=2, number=number, baseline="fp32", clock=clock, alternate=True)
    ratios = cmp.ratios("mine")
    return {"ratio": statistics.median(ratios), "ratios": ratios}


# --- the graded measurements ------------------------------------------------------------------------

def _copy_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float32, copy=True) for k, v in params.items()}


def _compress(compress: Callable, config: dict, params: dict[str, np.ndarray]) -> dict:
    given = _copy_params(params)
    with checkpoint_guard():
        compressed = compress(dict(config), given)
    changed = [k for k in params if not np.array_equal(given.get(k), params[k])]
    if changed:
        raise CapstoneError(f"compress changed the checkpoint it was given ({changed[:3]}): work on copies")
    validate(compressed)
    return compressed


def _logits(forward: Callable, compressed: dict, ids: np.ndarray) -> np.ndarray:
    with checkpoint_guard():
        out = np.asarray(forward(compressed, ids))
    if out.shape != (*ids.shape, len(CharTokenizer().vocab)):
        raise CapstoneError(f"forward(compressed, ids {ids.shape}) returned shape {out.shape}, "
                            f"expected {(*ids.shape, len(CharTokenizer().vocab))}")
    if not np.isfinite(out).all():
        raise CapstoneError("forward returned inf or NaN logits")
    return out.astype(np.float64)


@one_blas_thread()
def check_self_contained(compress: Callable, forward: Callable, config: dict, params: dict[str, np.ndarray],
                         ids: np.ndarray) -> dict:
    """Raise CapstoneError unless forward computes from the compressed dict it is given and nothing else.

    A second model (`other_checkpoint`) is compressed after the first: the first model's logits must not
    change (no state left behind by compress), the second's must follow the second fp32 model (not the
    course checkpoint), and after the first dict's contents are swapped in place for the second's, the
    forward pass must follow the swap (no cache keyed by the dict, no fp32 copy made once and reused).
    Returns the first compressed model (pass it to `measure` to save compressing it again).
    Runs with one BLAS thread (`one_blas_thread`, as a decorator), as `measure` does.
    """
    first = _compress(compress, config, params)
    y1 = _logits(forward, first, ids)
    other = other_checkpoint(config, params)
    second = _compress(compress, config, other)
    y2 = _logits(forward, second, ids)
    again = _logits(forward, first, ids)
    if not np.allclose(again, y1, rtol=1e-4, atol=1e-4):
        raise CapstoneError("the first model's logits changed after compress() ran on a second checkpoint: "
                            "compress left state behind (a global, a closure, a cache) that forward reads; "
                            "everything forward needs must be in the compressed dict, where it is counted")
    f_course = fp32_forward(config, params, ids).astype(np.float64)
    f_other = fp32_forward(config, other, ids).astype(np.float64)
    if not np.linalg.norm(y2 - f_other) < np.linalg.norm(y2 - f_course):
        raise CapstoneError("compressing a different checkpoint (the course model with its blocks reversed) gave "
                            "logits that do not follow that checkpoint: forward must run from the compressed "
                            "dict alone, not from the course's fp32 weights")
    saved = dict(first)
    try:
        first.clear()
        first.update({k: v.copy() for k, v in second.items()})
        swapped = _logits(forward, first, ids)
    finally:
        first.clear()
        first.update(saved)
    if not np.allclose(swapped, y2, rtol=1e-4, atol=1e-4):
        raise CapstoneError("after the compressed dict's contents were replaced in place, forward still gave the "
                            "old model's logits: it reuses something computed earlier (for example weights "
                            "dequantized to fp32 once); it must read the compressed arrays on every call")
    return first


_FP32_CACHE: dict[tuple, dict] = {}


def _fp32_evaluation(config: dict, params: dict[str, np.ndarray], seed: int, n_chars: int, n_tasks: int) -> dict:
    """evaluate() of the fp32 model, remembered per (checkpoint contents, seed, sizes): it is deterministic."""
    digest = hashlib.blake2b(json.dumps(config, sort_keys=True).encode(), digest_size=16)
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name], dtype=np.float32).tobytes())
    key = (digest.hexdigest(), seed, n_chars, n_tasks)
    if key not in _FP32_CACHE:
        text = heldout_text(n_chars, seed)
        block = GPTConfig(**config).block_size
        _FP32_CACHE[key] = evaluate(lambda ids: fp32_forward(config, params, ids), text, n_tasks, seed, block)
    return copy.deepcopy(_FP32_CACHE[key])


@one_blas_thread()
def measure(compress: Callable, forward: Callable, config: dict, params: dict[str, np.ndarray], seed: int,
            n_chars: int, n_tasks: int, compressed: dict | None = None) -> dict:
    """Compress, check the format, count bytes and measure both models on held-out text from `seed`.

    Returns {"bytes", "fp32_bytes", "bytes_ratio", "fp32", "model", "ppl_ratio", "task_drop", "problems"}
    ("fp32" and "model" as `evaluate` returns them; "problems" lists budget misses, empty when met).
    `compressed`: a model that compress already made from this checkpoint here (check_self_contained's).
    """
    if compressed is None:
        compressed = _compress(compress, config, params)  # validated there
    else:
        validate(compressed)
    text = heldout_text(n_chars, seed)
    block = GPTConfig(**config).block_size
    fp32 = _fp32_evaluation(config, params, seed, n_chars, n_tasks)
    model = evaluate(lambda ids: _logits(forward, compressed, ids), text, n_tasks, seed, block)
    nbytes, base = stored_bytes(compressed), fp32_bytes(config, params)
    return {"bytes": nbytes, "fp32_bytes": base, "bytes_ratio": nbytes / base, "fp32": fp32, "model": model,
            "ppl_ratio": model["perplexity"] / fp32["perplexity"],
            "task_drop": fp32["task_mean"] - model["task_mean"], "problems": budget_problems(fp32, model),
            "compressed": compressed}


def speed(forward: Callable, compressed: dict, config: dict, params: dict[str, np.ndarray], seed: int,
          context: int = 64, pairs: int = 15, attempts: int = 3, enough: float = SPEED_TIERS[-1]) -> float:
    """The speed ratio against fp32 on one `context`-token window of held-out text: the best of up to
    `attempts` medians of `pairs` alternating pairs (stops early once `enough` is reached), so a burst
    of load on a shared machine does not cost a tier."""
    ids = CharTokenizer().encode(heldout_text(4 * context, seed)[:context])[None]
    best = 0.0
    with checkpoint_guard(), one_blas_thread():
        for _ in range(attempts):
            best = max(best, speed_ratio(forward, compressed, config, params, ids, pairs=pairs)["ratio"])
            if best >= enough:
                break
    return best


LEADERBOARD_TAG = "[capstone-leaderboard]"


def leaderboard_line(result: dict, speed_ratio_value: float | None = None) -> str:
    """The one line a graded cell prints for the class leaderboard (autograde reads it from that cell)."""
    rec = {"bytes": result["bytes"], "bytes_ratio": round(result["bytes_ratio"], 5),
           "ppl_ratio": round(result["ppl_ratio"], 5), "task_mean": round(result["model"]["task_mean"], 4),
           "fp32_task_mean": round(result["fp32"]["task_mean"], 4), "budget_met": not result["problems"]}
    if speed_ratio_value is not None:
        rec["speed_ratio"] = round(speed_ratio_value, 3)
    return f"{LEADERBOARD_TAG} {json.dumps(rec, sort_keys=True)}"


_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?")


def justification_problems(text: object, facts: dict[str, tuple[float, float]], min_words: int = 60) -> list[str]:
    """What a written justification misses: facts maps a description to (value, tolerance); a number in the
    text within tolerance of the value (or of 100 x the value, for percentages) counts as stating it."""
    if not isinstance(text, str):
        return [f"the justification must be a str, got {type(text).__name__}"]
    problems = []
    words = len(text.split())
    if words < min_words:
        problems.append(f"the justification has {words} words; explain your choices in at least {min_words}")
    numbers = [float(m) for m in _NUMBER.findall(text.replace(",", ""))]
    for what, (value, tol) in facts.items():
        if not any(abs(n - value) <= tol or abs(n - 100 * value) <= 100 * tol for n in numbers):
            problems.append(f"no number in the text states {what} (measured {value:.4g}, tolerance ±{tol:.2g})")
    return problems
