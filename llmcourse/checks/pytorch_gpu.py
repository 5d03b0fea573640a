"""Visible self-checks for module 05_pytorch_gpu.

Model outputs are compared with the course's reference TinyGPT (llmcourse.model), which is built on
library calls the exercise forbids; timing and placement are checked on hand-worked cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np

from ._core import Case, CheckFailed, run

PROMPT = "\nthe brave fox found a red apple near the river.\ncopy abc>"


def _torch():
    import torch

    return torch


@contextmanager
def _library_attention_off() -> Iterator[None]:
    """Make F.scaled_dot_product_attention and nn.MultiheadAttention raise while the learner's code runs."""
    torch = _torch()

    def forbidden(*args: Any, **kwargs: Any) -> None:
        raise CheckFailed("F.scaled_dot_product_attention and nn.MultiheadAttention are not allowed: "
                          "write the attention yourself (scores, mask, softmax, weighted sum)")

    with mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", forbidden), \
            mock.patch.object(torch.nn.MultiheadAttention, "forward", forbidden):
        yield


def _attempt(label: str, case: str, thunk: Callable[[], Any]) -> Any:
    """Run the learner's code for one case, turning exceptions into a CheckFailed naming the case."""
    try:
        with _library_attention_off():
            return thunk()
    except NotImplementedError:
        raise CheckFailed(f"{label}: not implemented yet (replace `raise NotImplementedError()` with your code)") \
            from None
    except CheckFailed as exc:
        raise CheckFailed(f"{label}, case '{case}': {exc}") from None
    except Exception as exc:
        raise CheckFailed(f"{label}, case '{case}': your code raised {type(exc).__name__}: {exc}") from exc


def _close(label: str, case: str, got: Any, want: Any, atol: float) -> None:
    """Compare two tensors (shape, finiteness, values) and raise CheckFailed naming the case."""
    torch = _torch()
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{label}, case '{case}': expected a torch.Tensor, got {type(got).__name__}")
    got = got.detach().to("cpu", torch.float64)
    want = want.detach().to("cpu", torch.float64)
    if got.shape != want.shape:
        raise CheckFailed(f"{label}, case '{case}': wrong shape, expected {tuple(want.shape)}, got {tuple(got.shape)}")
    if not torch.isfinite(got).all():
        raise CheckFailed(f"{label}, case '{case}': got NaN or inf")
    err = (got - want).abs().max().item() if got.numel() else 0.0
    if err > atol:
        raise CheckFailed(f"{label}, case '{case}': values differ from the reference by up to {err:.3g} "
                          f"(tolerance {atol:g})")


def _load_model(label: str, load: Callable, config: dict, params: dict) -> Any:
    """The learner's load_gpt(config, params), with a clear message when it is not ready."""
    try:
        return load(config, params)
    except Exception as exc:
        raise CheckFailed(f"{label}: this check loads the checkpoint with your load_gpt from section 2.2, which "
                          f"raised {type(exc).__name__}: {exc}. Make section 2.2 pass first.") from None


def _done(label: str, n: int) -> None:
    print(f"✔ {label}: all {n} visible cases passed")


# --- 1. devices ----------------------------------------------------------------------------------------------

def pick_device(fn: Callable) -> None:
    """Check pick_device() with cuda/mps availability faked: nothing -> cpu, cuda -> cuda."""
    torch = _torch()
    cases = ((False, False, "cpu"), (True, False, "cuda"))
    for cuda, mps, want in cases:
        name = f"cuda available={cuda}, mps available={mps}"
        with mock.patch.object(torch.cuda, "is_available", lambda c=cuda: c), \
                mock.patch.object(torch.backends.mps, "is_available", lambda m=mps: m):
            got = _attempt("pick_device", name, fn)
        try:
            kind = torch.device(got).type
        except (TypeError, RuntimeError):
            raise CheckFailed(f"pick_device, case '{name}': expected a torch.device, got {got!r}") from None
        if kind != want:
            raise CheckFailed(f"pick_device, case '{name}': expected {want!r}, got {got!r}")
    _done("pick_device", len(cases))


# --- 2. the model ---------------------------------------------------------------------------------------------

def _block_weights(ref_block: Any) -> dict:
    """Reference Block state dict under the exercise's names (qkv, out, fc_in, fc_out)."""
    rename = {"attn.qkv": "qkv", "attn.out": "out", "mlp.fc_in": "fc_in", "mlp.fc_out": "fc_out"}
    out = {}
    for key, value in ref_block.state_dict().items():
        module, leaf = key.rsplit(".", 1)
        out[f"{rename.get(module, module)}.{leaf}"] = value
    return out


def block(cls: Callable) -> None:
    """Check the Block class against the reference block (random weights, float64) and for causality."""
    torch = _torch()
    from llmcourse.model import Block as RefBlock
    from llmcourse.model import GPTConfig

    label = "Block"
    cases = [("C=8, one head, T=3", GPTConfig(d_model=8, n_head=1, d_ff=16), 1, 3),
             ("C=16, n_head=4, batch 2, T=6", GPTConfig(d_model=16, n_head=4), 2, 6)]
    for i, (name, cfg, B, T) in enumerate(cases):
        torch.manual_seed(i)
        ref = RefBlock(cfg).double()
        with torch.no_grad():
            for p in ref.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        x = torch.randn(B, T, cfg.d_model, dtype=torch.float64)

        def go(cfg=cfg, ref=ref, x=x):
            mine = cls(cfg.d_model, cfg.n_head, cfg.d_ff, cfg.ln_eps).double()
            mine.load_state_dict(_block_weights(ref))
            with torch.no_grad():
                return mine(x)

        with torch.no_grad():
            want = ref(x)
        _close(label, name, _attempt(label, name, go), want, 1e-9)
    name = "changing tokens 3..5 leaves outputs 0..2 alone (causal mask)"
    cfg = cases[1][1]
    torch.manual_seed(9)
    x = torch.randn(1, 6, cfg.d_model, dtype=torch.float64)
    x2 = x.clone()
    x2[:, 3:] += 1.0

    def pair():
        mine = cls(cfg.d_model, cfg.n_head, cfg.d_ff, cfg.ln_eps).double()
        with torch.no_grad():
            return mine(x), mine(x2)

    a, b = _attempt(label, name, pair)
    _close(label, name, b[:, :3], a[:, :3], 1e-12)
    _done(label, 3)


def gpt(cls: Callable, load: Callable) -> None:
    """Check load_gpt(config, params) and GPT.forward against the reference on the course checkpoint."""
    torch = _torch()
    from llmcourse.data import CharTokenizer
    from llmcourse.model import load_checkpoint, load_numpy

    label = "GPT / load_gpt"
    config, params = load_numpy()
    reference = load_checkpoint()
    model = _attempt(label, "load_gpt(config, params)", lambda: load(config, params))
    if not isinstance(model, cls):
        raise CheckFailed(f"{label}: load_gpt should return a GPT, got {type(model).__name__}")
    ids = torch.as_tensor(CharTokenizer().encode(PROMPT))[None]
    cases = [("one sequence of real text", ids), ("a batch of 2, 7 positions", ids[0, 3:17].view(2, 7)),
             ("the full 128-character context", torch.arange(128)[None] % config["vocab_size"])]
    for name, x in cases:
        with torch.no_grad():
            want = reference(x)
            got = _attempt(label, name, lambda x=x: model(x))
        _close(label, name, got, want, 1e-4)
    _done(label, len(cases))


# --- 3. timing ------------------------------------------------------------------------------------------------

class FakeDevice:
    """An asynchronous fake device: fn() queues the next duration and returns; sync() waits; clock() reads."""

    def __init__(self, durations: list[float]) -> None:
        self.durations = list(durations)
        self.now = self.free_at = 0.0
        self.calls = 0

    def fn(self) -> None:
        """Queue the next piece of work (costs the host nothing)."""
        if self.calls >= len(self.durations):
            raise CheckFailed(f"fn() was called more than warmup + repeat = {len(self.durations)} times")
        self.free_at = max(self.free_at, self.now) + self.durations[self.calls]
        self.calls += 1

    def sync(self) -> None:
        """Wait until all queued work is done."""
        self.now = max(self.now, self.free_at)

    def clock(self) -> float:
        """The host's time."""
        return self.now


def time_it(fn: Callable) -> None:
    """Check time_it(fn, repeat, warmup, sync, clock) on a fake asynchronous device with known durations."""
    label = "time_it"
    cases = [
        # timed durations 4, 1, 3: median 3 (the mean would be 2.67, the minimum 1)
        ("no warm-up, work of 4, 1, 3 s -> median 3", [], [4.0, 1.0, 3.0], 3.0),
        # without sync() before reading the clock the work seems to take 0 s
        ("asynchronous work of 2, 2, 2 s must be waited for -> 2", [], [2.0, 2.0, 2.0], 2.0),
        # a 10 s warm-up that is not waited for would be counted in the first sample: 10 + 5 = 15
        ("one 10 s warm-up call, then 5 s -> 5 (sync after the warm-up)", [10.0], [5.0], 5.0),
    ]
    for name, warm, timed, want in cases:
        dev = FakeDevice(warm + timed)
        got = _attempt(label, name, lambda dev=dev, warm=warm, timed=timed: fn(
            dev.fn, repeat=len(timed), warmup=len(warm), sync=dev.sync, clock=dev.clock))
        if dev.calls != len(warm) + len(timed):
            raise CheckFailed(f"{label}, case '{name}': fn() was called {dev.calls} times, "
                              f"expected warmup + repeat = {len(warm) + len(timed)}")
        try:
            value = float(got)
        except (TypeError, ValueError):
            raise CheckFailed(f"{label}, case '{name}': expected a number of seconds, got {got!r}") from None
        if not math.isclose(value, want, abs_tol=1e-9):
            raise CheckFailed(f"{label}, case '{name}': expected {want}, got {value}")
    _done(label, len(cases))


# --- 4. KV cache ----------------------------------------------------------------------------------------------

def forward_cached(fn: Callable, load: Callable, cache_cls: Callable) -> None:
    """Check forward_cached: prefill then single tokens give the reference's full-forward logits."""
    torch = _torch()
    from llmcourse.data import CharTokenizer
    from llmcourse.model import load_checkpoint, load_numpy

    label = "forward_cached"
    config, params = load_numpy()
    reference = load_checkpoint()
    model = _load_model(label, load, config, params)
    ids = torch.as_tensor(CharTokenizer().encode(PROMPT))[None]
    with torch.no_grad():
        want = reference(ids)
    d_head = config["d_model"] // config["n_head"]
    n_cases = 0
    for chunks in ([12, 1, 1, 1, 1], [1, 1, 1], [6, 4, 1]):
        cache = cache_cls(config["n_layer"], 1, config["n_head"], ids.shape[1], d_head)
        done = 0
        for n in chunks:
            name = f"chunks {chunks}: positions {done}..{done + n - 1}"
            with torch.no_grad():
                got = _attempt(label, name, lambda done=done, n=n, cache=cache: fn(model, ids[:, done:done + n], cache))
            _close(label, name, got, want[:, done:done + n], 1e-4)
            if cache.length != done + n:
                raise CheckFailed(f"{label}, case '{name}': cache.length is {cache.length}, expected {done + n}")
            done += n
            n_cases += 1
    _done(label, n_cases)


def generate_cached(fn: Callable, load: Callable) -> None:
    """Check generate_cached against the reference model's greedy generation on the checkpoint."""
    torch = _torch()
    from llmcourse.data import CharTokenizer
    from llmcourse.model import generate, load_checkpoint, load_numpy

    label = "generate_cached"
    tok = CharTokenizer()
    reference = load_checkpoint()
    model = _load_model(label, load, *load_numpy())
    cases = [("copy task, 12 new tokens", "\ncopy kqzvt>", 12), ("story, 30 new tokens", "\nthe old king", 30),
             ("one-token prompt, 1 new token", "\n", 1)]
    for name, text, n in cases:
        prompt = tok.encode(text)
        want = generate(reference, prompt, n)
        got = _attempt(label, name, lambda prompt=prompt, n=n: fn(model, torch.as_tensor(prompt), n))
        got = np.asarray(torch.as_tensor(got).cpu())
        if got.shape != want.shape or not np.array_equal(got, want):
            raise CheckFailed(f"{label}, case '{name}': expected {tok.decode(want)!r}, got "
                              f"{got.tolist() if got.shape != want.shape else tok.decode(got)!r}")
    _done(label, len(cases))


# --- 5. heterogeneous compute ---------------------------------------------------------------------------------

def offloaded_forward(fn: Callable, load: Callable, transfers_cls: Callable) -> None:
    """Check offloaded_forward on the CPU: reference logits, one transfer per block parameter, blocks stay."""
    torch = _torch()
    from llmcourse.data import CharTokenizer
    from llmcourse.model import load_checkpoint, load_numpy

    label = "offloaded_forward"
    config, params = load_numpy()
    model = _load_model(label, load, config, params)
    reference = load_checkpoint()
    ids = torch.as_tensor(CharTokenizer().encode(PROMPT))[None]
    with torch.no_grad():
        want = reference(ids)
    transfers = transfers_cls()
    with torch.no_grad():
        got = _attempt(label, "checkpoint on the CPU", lambda: fn(model, ids, "cpu", transfers.fetch))
    _close(label, "checkpoint on the CPU", got, want, 1e-4)
    block_params = [p for b in model.blocks for p in b.parameters()]
    n_bytes = sum(p.numel() * p.element_size() for p in block_params)
    if transfers.count != len(block_params):
        raise CheckFailed(f"{label}, case 'transfer count': {transfers.count} calls of fetch, expected one per block "
                          f"parameter: {config['n_layer']} blocks x {len(block_params) // config['n_layer']} = "
                          f"{len(block_params)}")
    if transfers.bytes != n_bytes:
        raise CheckFailed(f"{label}, case 'bytes moved': {transfers.bytes}, expected {n_bytes}")
    _done(label, 3)


def _placement(want: list[str]) -> Callable[[Any], str | None]:
    """Property: the returned placement equals want (a list of 'device'/'host')."""
    def prop(got: Any) -> str | None:
        if got is None:
            return "returned None: did you forget a `return`?"
        try:
            got = [str(p) for p in got]
        except TypeError:
            return f"expected a list of 'device'/'host', got {got!r}"
        return None if got == want else f"expected {want}, got {got}"

    return prop


def place_layers(fn: Callable) -> None:
    """Check place_layers on hand-worked knapsack cases where the greedy rules fail."""
    run("place_layers", fn, [
        Case("everything fits: all on the device", ([1, 2], [5.0, 5.0], [1.0, 1.0], 3),
             prop=_placement(["device", "device"])),
        Case("budget 0: all on the host", ([1, 2], [5.0, 5.0], [1.0, 1.0], 0), prop=_placement(["host", "host"])),
        # savings 6 (3 MiB), 5 (2 MiB), 5 (2 MiB), budget 4: greedy by saving keeps 6; the best is 5 + 5 = 10
        Case("largest saving first is not optimal", ([3, 2, 2], [10.0, 10.0, 10.0], [4.0, 5.0, 5.0], 4),
             prop=_placement(["host", "device", "device"])),
        # savings 2 (1 MiB, 2/MiB) and 6 (4 MiB, 1.5/MiB), budget 4: greedy by saving per MiB keeps 2; best 6
        Case("largest saving per MiB first is not optimal", ([1, 4], [3.0, 7.0], [1.0, 1.0], 4),
             prop=_placement(["host", "device"])),
        Case("a layer that is faster on the host stays there", ([1, 1], [1.0, 5.0], [2.0, 1.0], 2),
             prop=_placement(["host", "device"])),
    ])
