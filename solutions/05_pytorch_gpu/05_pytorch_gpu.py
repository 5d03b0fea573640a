# %% [markdown]
# # 05 · PyTorch, devices and the KV cache
#
# Module 04 built the tiny GPT in NumPy. This module moves it to PyTorch and then makes it fast in the
# ways every inference engine does. You will port the block to an `nn.Module` and load the course
# checkpoint into it (same logits as the reference, to float32 rounding); write code that runs
# unchanged on a CPU, an NVIDIA GPU or an Apple GPU; build a timing harness that gives honest numbers for
# asynchronous devices; add a **KV cache**, so that generating a token costs one position's work instead of
# the whole context's, and measure the speed-up; and run the model with its layers kept in host memory and
# streamed to the compute device one at a time, then decide which layers deserve the scarce device memory.
#
# | § | exercise | points |
# |---|---|---|
# | 1.1 | `pick_device`: cuda, then mps, then cpu | 1 |
# | 2.1 | `Block.forward`: the transformer block as an `nn.Module` | 3 |
# | 2.2 | `GPT.forward` and `load_gpt`: the whole model, from the checkpoint | 3 |
# | 3.1 | `time_it`: warm-up, synchronise, median | 2 |
# | 4.1 | `block_step` and `forward_cached`: attention over a KV cache | 4 |
# | 4.2 | `generate_cached`: prefill, then one token at a time | 2 |
# | 5.1 | `offloaded_forward`: weights on the host, streamed layer by layer | 2 |
# | 5.2 | `place_layers`: which layers get the device memory | 2 |
#
# **How to work.** Replace each `raise NotImplementedError()` with your code and run the test cell under
# it. The visible check prints one line when your code passes a few cases and names the case otherwise;
# the grader's hidden tests use other sizes, seeds and dtypes, and reject the popular wrong answers the
# text names. Everything runs on a CPU. If this machine has a CUDA GPU, the same cells use it.
#
# **Names.** `B` batch, `T` sequence length, `C` model width, `V` vocabulary size, `n_head` and
# `d_head = C // n_head`, `x` activations `(B, T, C)`, `ids` token ids, `logits` over the vocabulary.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("05_pytorch_gpu")

# %%
# %matplotlib inline
import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse import bench, checks, env, plot, quiz
from llmcourse.data import CharTokenizer
from llmcourse.model import GPTConfig, TinyGPT, load_checkpoint, load_numpy, to_numpy

torch.manual_seed(0)
# The tiny model's matrices are too small to share between CPU threads: one thread is faster, and on a busy
# machine threads that wait for each other can slow every small operation down by a large factor.
torch.set_num_threads(1)
tok = CharTokenizer()
config, params = load_numpy()  # the course checkpoint as NumPy arrays, (in, out) layout
reference = load_checkpoint()  # the course's reference TinyGPT in PyTorch (built on library calls)
print(config)
print(env.hardware_report())

# %% [markdown]
# ## 1. Devices
#
# A PyTorch tensor lives on one **device**: `cpu`, `cuda` (an NVIDIA GPU, also AMD through ROCm) or `mps`
# (Apple's GPU). An operation needs all its inputs on the same device, and the result stays there. So
# device-agnostic code has three habits:
#
# 1. choose the device once, at the top: the fastest one present;
# 2. move the model (`model.to(device)` moves its parameters and buffers in place) and every input
#    (`ids.to(device)`, which returns a copy) there;
# 3. create new tensors *on the device of an existing one*: `torch.arange(T, device=ids.device)`,
#    `torch.zeros(..., device=x.device, dtype=x.dtype)`. A bare `torch.zeros(...)` lands on the CPU in
#    float32, whatever the model uses, and is the classic source of "Expected all tensors to be on the same
#    device" and "expected both operands to have the same dtype" errors.
#
# dtypes matter the same way: `float64` is not supported on `mps`; `float16` and `bfloat16` halve the bytes
# (module 08). In this notebook the tests use `float64` models to make comparisons exact, and your code
# must follow whatever dtype and device the model has.

# %% [markdown]
# ### 1.1 Pick a device (1 point)
#
# Return the best available device: `cuda` when `torch.cuda.is_available()`, else `mps` when
# `torch.backends.mps.is_available()`, else `cpu`. A popular wrong answer is
# `"cuda" if torch.cuda.is_available() else "cpu"`, which leaves a Mac's GPU idle.

# %% nbgrader={"grade": false, "grade_id": "pick_device", "locked": false, "solution": true, "schema_version": 3}
def pick_device() -> torch.device:
    """The fastest available device: torch.device('cuda'), else 'mps', else 'cpu'."""
    ### BEGIN SOLUTION
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pick_device_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.pytorch_gpu.pick_device(pick_device)
### BEGIN HIDDEN TESTS
from unittest import mock

for _cuda, _mps, _want in ((True, True, "cuda"), (False, True, "mps"), (False, False, "cpu"), (True, False, "cuda")):
    with mock.patch.object(torch.cuda, "is_available", lambda c=_cuda: c), \
            mock.patch.object(torch.backends.mps, "is_available", lambda m=_mps: m):
        _got = pick_device()
    assert torch.device(_got).type == _want, f"cuda={_cuda}, mps={_mps}: expected {_want}, got {_got}"
### END HIDDEN TESTS

# %%
device = pick_device()
print("this notebook computes on:", device)

# %% [markdown]
# ## 2. The tiny GPT as an `nn.Module`
#
# An `nn.Module` holds parameters (registered automatically when you assign an `nn.Linear`, `nn.LayerNorm`,
# `nn.Embedding` or `nn.Parameter` to an attribute in `__init__`) and computes in `forward`. Calling
# `block(x)` runs `forward` plus any hooks. The layers you need:
#
# * `nn.Linear(C_in, C_out)`: `y = x @ weight.T + bias`, with `weight` of shape **`(C_out, C_in)`**: the
#   transpose of the checkpoint's `(in, out)` matrices. Loading a checkpoint matrix without `.T` fails
#   loudly for rectangular ones, and silently for square ones (`w_out` is `C x C`).
# * `nn.LayerNorm(C, eps)`, `F.gelu(x, approximate="tanh")` (the checkpoint's GELU is the tanh form),
#   `torch.softmax`, `tensor.masked_fill`, `transpose`, `view`/`reshape`, `@`.
#
# The block is the one of module 04: `x = x + attn(ln1(x))`, then `x = x + mlp(ln2(x))`, with causal
# multi-head attention on a fused `qkv` projection whose columns are `[q | k | v]`, head `h` owning features
# `h*d_head ... (h+1)*d_head - 1` of each. Write attention yourself: `F.scaled_dot_product_attention`
# and `nn.MultiheadAttention` do it for you and are switched off while the grader runs your block.
#
# Popular wrong answers: splitting heads with `view(B, n_head, T, d_head)` (that cuts the *sequence*
# into pieces; reshape to `(B, T, n_head, d_head)` first, then transpose); scaling by `sqrt(C)`; forgetting
# the mask; the exact `erf` GELU (close, but not the checkpoint's function).

# %% [markdown]
# ### 2.1 The block (3 points)

# %% nbgrader={"grade": false, "grade_id": "block", "locked": false, "solution": true, "schema_version": 3}
class Block(nn.Module):
    """Pre-norm transformer block: (B, T, C) -> (B, T, C), causal multi-head self-attention then an MLP."""

    def __init__(self, C: int, n_head: int, d_ff: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(C, eps=eps)
        self.qkv = nn.Linear(C, 3 * C)  # fused projection, output features [q | k | v]
        self.out = nn.Linear(C, C)  # after the heads are merged
        self.ln2 = nn.LayerNorm(C, eps=eps)
        self.fc_in = nn.Linear(C, d_ff)
        self.fc_out = nn.Linear(d_ff, C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C). Any dtype and device; build the mask on x.device."""
        ### BEGIN SOLUTION
        B, T, C = x.shape
        n_head, d_head = self.n_head, C // self.n_head
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)  # each (B, T, C)
        q, k, v = (t.view(B, T, n_head, d_head).transpose(1, 2) for t in (q, k, v))  # (B, n_head, T, d_head)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # (B, n_head, T, T)
        allowed = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()  # (T, T)
        weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, n_head, d_head) -> (B, T, C)
        x = x + self.out(y)
        return x + self.fc_out(F.gelu(self.fc_in(self.ln2(x)), approximate="tanh"))
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "block_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.pytorch_gpu.block(Block)
### BEGIN HIDDEN TESTS
from contextlib import contextmanager

import llmcourse.model as _lm


@contextmanager
def _no_library_attention():
    def _forbidden(*a, **k):
        raise AssertionError("F.scaled_dot_product_attention / nn.MultiheadAttention are not allowed here")

    saved = (F.scaled_dot_product_attention, nn.MultiheadAttention.forward)
    F.scaled_dot_product_attention = _forbidden
    torch.nn.functional.scaled_dot_product_attention = _forbidden
    nn.MultiheadAttention.forward = _forbidden
    try:
        yield
    finally:
        F.scaled_dot_product_attention = saved[0]
        torch.nn.functional.scaled_dot_product_attention = saved[0]
        nn.MultiheadAttention.forward = saved[1]


def _ref_block_weights(ref_block):
    s = ref_block.state_dict()
    names = {"ln1": "ln1", "attn.qkv": "qkv", "attn.out": "out", "ln2": "ln2", "mlp.fc_in": "fc_in",
             "mlp.fc_out": "fc_out"}
    return {f"{names[k.rsplit('.', 1)[0]]}.{k.rsplit('.', 1)[1]}": v for k, v in s.items()}


def _loud_qkv(qkv, C, n_head):
    """Scores near +-1000 (an overflow test): feature h*d_head of q is a_h * L and of k is L for every token
    (bias only), so head h's scores all gain a_h * L^2 / sqrt(d_head) = 1000 a_h; the rows stay unsaturated."""
    d = C // n_head
    L = math.sqrt(1000.0 * math.sqrt(d))
    with torch.no_grad():
        for h in range(n_head):
            qkv.weight[h * d], qkv.bias[h * d] = 0.0, (1.0, -1.0, 1.2, -0.8)[h % 4] * L
            qkv.weight[C + h * d], qkv.bias[C + h * d] = 0.0, L


def _hidden_block_case(cfg, B, T, dtype, seed, dev="cpu", loud=False):
    torch.manual_seed(seed)
    ref = _lm.Block(cfg).to(dev, dtype).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    if loud:
        _loud_qkv(ref.attn.qkv, cfg.d_model, cfg.n_head)
    mine = Block(cfg.d_model, cfg.n_head, cfg.d_ff, cfg.ln_eps).to(dev, dtype)
    mine.load_state_dict(_ref_block_weights(ref))
    x = torch.randn(B, T, cfg.d_model, dtype=dtype, device=dev)
    with torch.no_grad():
        want = ref(x)
        with _no_library_attention():
            got = mine(x)
            x2 = x.clone()
            x2[:, T // 2:] = torch.randn_like(x2[:, T // 2:])
            got2 = mine(x2)
    assert got.shape == want.shape and got.dtype == dtype, f"{cfg}: shape/dtype {got.shape} {got.dtype}"
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    assert torch.allclose(got, want, atol=tol, rtol=tol), (
        f"C={cfg.d_model}, n_head={cfg.n_head}, T={T}, {dtype}: largest difference {(got - want).abs().max():.3g}")
    assert torch.allclose(got2[:, : T // 2], got[:, : T // 2], atol=tol), "future tokens changed earlier outputs"


for _cfg, _B, _T, _dt, _seed in ((GPTConfig(d_model=24, n_head=3, d_ff=40), 2, 9, torch.float64, 1),
                                 (GPTConfig(d_model=16, n_head=1), 1, 5, torch.float64, 2),
                                 (GPTConfig(d_model=32, n_head=8), 3, 12, torch.float32, 3),
                                 (GPTConfig(d_model=16, n_head=4), 2, 1, torch.float64, 4)):
    _hidden_block_case(_cfg, _B, _T, _dt, _seed)
_hidden_block_case(GPTConfig(d_model=16, n_head=4), 2, 7, torch.float64, 6, loud=True)
if torch.cuda.is_available():  # GPU twin of the cases above
    _hidden_block_case(GPTConfig(d_model=32, n_head=4), 2, 10, torch.float32, 5, "cuda")
### END HIDDEN TESTS

# %% [markdown]
# ### 2.2 The whole model, and the checkpoint (3 points)
#
# `GPT.__init__` below creates the layers; write `forward` (embeddings of tokens plus positions, the
# blocks, the final LayerNorm, the head). Positions `0 .. T-1` must be created on the device of `ids`.
#
# Then write `load_gpt(config, params)`: build a `GPT` and copy every checkpoint array into it. Map the
# names (table below), convert with `torch.from_numpy`, and **transpose the matrices**: the checkpoint
# stores `(in, out)`, `nn.Linear.weight` is `(out, in)`. Copy under `torch.no_grad()` with
# `param.copy_(...)`, or build a state dict and call `load_state_dict` (it refuses missing or misshapen
# entries, a useful check).
#
# | checkpoint | `GPT` |
# |---|---|
# | `tok_emb`, `pos_emb` | `tok_emb.weight`, `pos_emb.weight` (no transpose: rows are tokens and positions) |
# | `blocks.{i}.ln1.weight/bias`, `ln2...` | `blocks[i].ln1.weight/bias`, `blocks[i].ln2...` |
# | `blocks.{i}.attn.w_qkv`, `b_qkv` | `blocks[i].qkv.weight` (**transpose**), `blocks[i].qkv.bias` |
# | `blocks.{i}.attn.w_out`, `b_out` | `blocks[i].out.weight` (**transpose**), `.bias` |
# | `blocks.{i}.mlp.w_in`, `b_in`, `w_out`, `b_out` | `blocks[i].fc_in...`, `blocks[i].fc_out...` (**transpose** the weights) |
# | `ln_f.weight/bias`, `head.w`, `head.b` | `ln_f...`, `head.weight` (**transpose**), `head.bias` |

# %% nbgrader={"grade": false, "grade_id": "gpt", "locked": false, "solution": true, "schema_version": 3}
class GPT(nn.Module):
    """The tiny GPT: ids (B, T) int64 -> logits (B, T, V)."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = dict(config)
        C, V = config["d_model"], config["vocab_size"]
        self.tok_emb = nn.Embedding(V, C)
        self.pos_emb = nn.Embedding(config["block_size"], C)
        self.blocks = nn.ModuleList(Block(C, config["n_head"], config["d_ff"], config["ln_eps"])
                                    for _ in range(config["n_layer"]))
        self.ln_f = nn.LayerNorm(C, eps=config["ln_eps"])
        self.head = nn.Linear(C, V)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) int64 on the model's device -> logits (B, T, V) in the model's dtype."""
        ### BEGIN SOLUTION
        T = ids.shape[-1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))  # (B, T, V)
        ### END SOLUTION


def load_gpt(config: dict, params: dict[str, np.ndarray]) -> GPT:
    """A GPT (float32, on the CPU, eval mode) holding the checkpoint's weights; params use the (in, out) layout."""
    ### BEGIN SOLUTION
    model = GPT(config)
    state = {"tok_emb.weight": params["tok_emb"], "pos_emb.weight": params["pos_emb"],
             "ln_f.weight": params["ln_f.weight"], "ln_f.bias": params["ln_f.bias"],
             "head.weight": params["head.w"].T, "head.bias": params["head.b"]}
    for i in range(config["n_layer"]):
        p = f"blocks.{i}."
        for norm in ("ln1", "ln2"):
            state[f"{p}{norm}.weight"] = params[f"{p}{norm}.weight"]
            state[f"{p}{norm}.bias"] = params[f"{p}{norm}.bias"]
        for mine, theirs in (("qkv", "attn.w_qkv"), ("out", "attn.w_out"), ("fc_in", "mlp.w_in"),
                             ("fc_out", "mlp.w_out")):
            state[f"{p}{mine}.weight"] = params[p + theirs].T  # (in, out) -> (out, in)
            state[f"{p}{mine}.bias"] = params[p + theirs.replace(".w_", ".b_")]
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()})
    return model.eval()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "gpt_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.pytorch_gpu.gpt(GPT, load_gpt)
### BEGIN HIDDEN TESTS
import llmcourse.model as _lm


def _hidden_gpt_case(cfg_kwargs, B, T, seed, dev="cpu"):
    torch.manual_seed(seed)
    ref = _lm.TinyGPT(_lm.GPTConfig(**cfg_kwargs)).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    cfg, prm = _lm.to_numpy(ref)
    mine = load_gpt(cfg, prm)
    assert isinstance(mine, nn.Module), "load_gpt must return the GPT module"
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in mine.parameters())
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    with torch.no_grad():
        want = ref(ids)
        with _no_library_attention():
            got = mine.to(dev)(ids.to(dev)).cpu()
    assert got.shape == want.shape, f"{cfg_kwargs}: expected shape {tuple(want.shape)}, got {tuple(got.shape)}"
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4), (
        f"{cfg_kwargs}, T={T}: logits differ from the reference by up to {(got - want).abs().max():.3g}")
    return mine


_hidden_gpt_case({"vocab_size": 11, "block_size": 16, "n_layer": 2, "n_head": 2, "d_model": 8, "d_ff": 12}, 3, 16, 7)
_hidden_gpt_case({"vocab_size": 48, "block_size": 32, "n_layer": 3, "n_head": 4, "d_model": 16}, 2, 5, 8)
_hidden_gpt_case({"vocab_size": 9, "block_size": 20, "n_layer": 1, "n_head": 1, "d_model": 12}, 1, 1, 9)
# the course checkpoint on real text, and a double-precision copy (forward must follow the dtype)
_ids = torch.as_tensor(tok.encode("\nthe brave fox found a red apple near the river.\ncopy abc>"))[None]
with torch.no_grad():
    _want = reference(_ids)
    with _no_library_attention():
        _got = load_gpt(config, params)(_ids)
        _got64 = load_gpt(config, params).double()(_ids)
        _got_cuda = load_gpt(config, params).cuda()(_ids.cuda()).cpu() if torch.cuda.is_available() else _want
assert torch.allclose(_got, _want, atol=1e-4), "checkpoint logits differ from the reference"
assert _got64.dtype == torch.float64 and torch.allclose(_got64.float(), _want, atol=1e-4), "float64 copy"
assert torch.allclose(_got_cuda, _want, atol=1e-4), "checkpoint on cuda"
### END HIDDEN TESTS

# %%
model = load_gpt(config, params)
prompt = "\nthe clever robot found a"
ids = torch.as_tensor(tok.encode(prompt))[None]  # (1, T)
with torch.no_grad():
    mine_logits = model(ids)
    ref_logits = reference(ids)
print(f"largest |difference| from the reference on {ids.shape[1]} positions: "
      f"{(mine_logits - ref_logits).abs().max().item():.2e}")
model_dev = load_gpt(config, params).to(device)
with torch.no_grad():
    on_device = model_dev(ids.to(device)).cpu()  # inputs follow the model; results come back for printing
print(f"on {device}: largest |difference| {(on_device - ref_logits).abs().max().item():.2e}")
print("float64 copy agrees to", f"{(load_gpt(config, params).double()(ids).float() - ref_logits).abs().max():.1e}")

# %% [markdown]
# Differences around `1e-6` are float32 rounding: the reference adds and multiplies in another order
# (its attention is a fused kernel). That is the honest meaning of "equal" for floating-point models:
# equal to a tolerance that you can justify, here a few units of float32 precision times the size of the
# logits.
#
# ## 3. Timing honestly
#
# A CUDA kernel launch returns as soon as the work is *queued*. The Python line `y = x @ w` on a GPU takes
# microseconds whatever the matrix size; the multiplication runs later, and only an operation that needs
# the result (`y.cpu()`, `print(y)`, `torch.cuda.synchronize()`) waits for it. So a timing loop that reads
# the clock without synchronising measures how fast Python can queue work, which is the popular wrong
# benchmark. A correct harness:
#
# 1. **warms up** (the first calls pay for memory allocation, library loading, kernel selection,
#    compilation), then synchronises so that warm-up work cannot leak into the first sample;
# 2. per sample: reads the clock, runs the work, **synchronises**, reads the clock;
# 3. reports the **median** of several samples: robust to the odd slow sample (another process, a page
#    fault), unlike the mean, and less optimistic than the minimum.
#
# Let us see the trap on any machine. Below, `launch` hands a matrix product to a worker thread and returns
# at once, as a GPU launch does; `wait` blocks until the queued work is done, as `torch.cuda.synchronize`
# does.

# %%
worker = ThreadPoolExecutor(max_workers=1)
pending = []
a = torch.randn(256, 256)


def launch():
    """Queue 10 matrix products on the worker and return immediately (like a CUDA launch)."""
    pending.append(worker.submit(lambda: [a @ a for _ in range(10)]))


def wait():
    """Block until all queued work is done (like torch.cuda.synchronize())."""
    while pending:
        pending.pop().result()


for label, sync_fn in (("without synchronising", lambda: None), ("with synchronising", wait)):
    launch()
    wait()  # warm-up
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        launch()
        sync_fn()
        times.append(time.perf_counter() - t0)
    wait()
    print(f"{label:22s} median {statistics.median(times) * 1e3:8.3f} ms")
worker.shutdown()

# %% [markdown]
# ### 3.1 A timing harness (2 points)
#
# Write `time_it(fn, repeat, warmup, sync, clock)`: call `fn()` `warmup` times, call `sync()`, then take
# `repeat` samples, each `clock()`, `fn()`, `sync()`, `clock()`; return the median seconds per call
# (`statistics.median`). `sync` and `clock` are arguments so that the grader can hand you a fake device
# and a fake clock; on a real GPU you would pass `torch.cuda.synchronize`. The rule the tests check: when
# you read the clock to end a sample, `sync()` must have been called after the last `fn()`.

# %% nbgrader={"grade": false, "grade_id": "time_it", "locked": false, "solution": true, "schema_version": 3}
def time_it(fn, repeat: int = 11, warmup: int = 2, sync=lambda: None, clock=time.perf_counter) -> float:
    """Median seconds of one fn() call over `repeat` synchronised samples, after `warmup` untimed calls."""
    ### BEGIN SOLUTION
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = clock()
        fn()
        sync()
        samples.append(clock() - start)
    return statistics.median(samples)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "time_it_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pytorch_gpu.time_it(time_it)
### BEGIN HIDDEN TESTS
class _FakeDevice:
    """Asynchronous fake: fn() queues work of the next duration and returns; sync() waits; clock() reads."""

    def __init__(self, durations, launch=0.0):
        self.durations, self.launch = list(durations), launch
        self.now = self.free_at = 0.0
        self.calls = 0

    def fn(self):
        d = self.durations[self.calls]
        self.calls += 1
        self.free_at = max(self.free_at, self.now) + d
        self.now += self.launch

    def sync(self):
        self.now = max(self.now, self.free_at)

    def clock(self):
        return self.now


for _warm, _timed, _want in (([100.0, 50.0], [4.0, 1.0, 2.0, 9.0, 3.0], 3.0),
                             ([70.0], [7.0], 7.0),
                             ([30.0, 30.0, 30.0], [2.0, 2.0, 8.0, 8.0, 8.0, 1.0, 8.0], 8.0),
                             ([], [5.0, 6.0, 1.0], 5.0),
                             ([9.0], [4.0, 1.0, 2.0, 9.0], 3.0)):  # an even count: the mean of the middle two
    _dev = _FakeDevice(_warm + _timed, launch=0.001)
    _got = time_it(_dev.fn, repeat=len(_timed), warmup=len(_warm), sync=_dev.sync, clock=_dev.clock)
    assert _dev.calls == len(_warm) + len(_timed), f"fn called {_dev.calls} times, expected warmup + repeat"
    assert abs(float(_got) - _want) < 1e-9, (
        f"warm-up {_warm}, timed work {_timed}: expected median {_want}, got {_got}")
### END HIDDEN TESTS

# %% [markdown]
# With the harness, time the full forward pass of the checkpoint at a few lengths. On a GPU the `sync`
# is `torch.cuda.synchronize`; on a CPU there is nothing to wait for.

# %%
sync = (lambda: torch.cuda.synchronize()) if device.type == "cuda" else (lambda: None)
for T in (16, 64, 128):
    x_ids = torch.randint(0, config["vocab_size"], (1, T), device=device)
    with torch.no_grad():
        s = time_it(lambda x_ids=x_ids: model_dev(x_ids), repeat=env.size(11, 3), sync=sync)
    print(f"forward of {T:3d} tokens on {device}: {s * 1e3:6.2f} ms")

# %% [markdown]
# ## 4. The KV cache
#
# Greedy generation without a cache runs the whole context through the model for every new token, then
# throws away all rows of the output but the last. Yet the keys and values of the earlier positions do not
# change when a token is appended: causal attention means position `j` never looks at anything after
# itself. So an inference engine keeps them. Generation becomes two phases:
#
# * **prefill**: run the prompt (`T0` tokens) once, as a batch of positions, storing every layer's keys and
#   values in the cache;
# * **decode**: for each new token, run *one* position through the model: its query attends to all keys in
#   the cache plus its own, and its key and value are appended.
#
# A decode step then costs the weights once (every matrix multiplies a single row) plus attention over the
# `t` cached positions, instead of the whole `(t, C)` context through every matrix. `KVCache` below is
# preallocated for `max_T` positions and records how many are filled (`length`, the same for all layers,
# advanced once per forward pass).

# %%
class KVCache:
    """Keys and values of every layer: k, v of shape (n_layer, B, n_head, max_T, d_head); `length` filled."""

    def __init__(self, n_layer: int, B: int, n_head: int, max_T: int, d_head: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        shape = (n_layer, B, n_head, max_T, d_head)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0

    @property
    def max_T(self) -> int:
        """How many positions fit."""
        return self.k.shape[3]

    def nbytes(self) -> int:
        """Memory of keys and values together."""
        return self.k.numel() * self.k.element_size() * 2


cache = KVCache(config["n_layer"], 1, config["n_head"], config["block_size"], config["d_model"] // config["n_head"])
print(f"cache for one sequence of {config['block_size']} tokens: {tuple(cache.k.shape)} x 2, "
      f"{cache.nbytes() / 2**20:.2f} MiB in float32")

# %% [markdown]
# ### 4.1 Attention over the cache (4 points)
#
# Write two functions.
#
# `block_step(block, x, cache, layer)` runs one of your `Block`s on `x (B, T_new, C)`, the activations
# of the **new** positions `cache.length ... cache.length + T_new - 1`. It computes their `q, k, v` with
# `block.qkv` as before, writes `k` and `v` into `cache.k[layer]`, `cache.v[layer]` at those positions,
# and lets the queries attend to all keys `0 ... cache.length + T_new - 1`. A query at absolute position
# `p` may see keys `j <= p`: in prefill (`T_new > 1`) that is a causal mask offset by `cache.length`
# (`torch.ones(T_new, L).tril(diagonal=cache.length)`); in a decode step (`T_new == 1`) nothing is
# masked. Then the output projection, residual and MLP exactly as in `Block.forward`. Do not change
# `cache.length` here: all layers of one pass write the same positions.
#
# `forward_cached(model, ids, cache)` is `GPT.forward` for new tokens `ids (B, T_new)`: token embeddings
# plus position embeddings **of positions `cache.length ...`** (not `0 ...`), `block_step` for every
# layer, the final LayerNorm and head; then advance `cache.length` by `T_new`. Return the logits of the
# new positions, `(B, T_new, V)`.
#
# The traps the tests look for: attending only to the new keys (the cache is never read), storing the
# keys but not advancing `length` (every token overwrites position 0), position embeddings that restart at
# 0 or start one late, and the un-offset mask `tril()` in a prefill that follows other tokens.

# %% nbgrader={"grade": false, "grade_id": "forward_cached", "locked": false, "solution": true, "schema_version": 3}
def block_step(block: Block, x: torch.Tensor, cache: KVCache, layer: int) -> torch.Tensor:
    """Block on new positions x (B, T_new, C) using and filling cache layer `layer`; returns (B, T_new, C)."""
    ### BEGIN SOLUTION
    B, T_new, C = x.shape
    n_head, d_head = block.n_head, C // block.n_head
    start, end = cache.length, cache.length + T_new
    q, k, v = block.qkv(block.ln1(x)).split(C, dim=-1)  # each (B, T_new, C)
    q, k, v = (t.view(B, T_new, n_head, d_head).transpose(1, 2) for t in (q, k, v))  # (B, n_head, T_new, d_head)
    cache.k[layer, :, :, start:end] = k
    cache.v[layer, :, :, start:end] = v
    keys, values = cache.k[layer, :, :, :end], cache.v[layer, :, :, :end]  # (B, n_head, end, d_head)
    scores = q @ keys.transpose(-2, -1) / math.sqrt(d_head)  # (B, n_head, T_new, end)
    allowed = torch.ones(T_new, end, dtype=torch.bool, device=x.device).tril(diagonal=start)  # (T_new, end)
    weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
    y = (weights @ values).transpose(1, 2).reshape(B, T_new, C)  # (B, T_new, C)
    x = x + block.out(y)
    return x + block.fc_out(F.gelu(block.fc_in(block.ln2(x)), approximate="tanh"))
    ### END SOLUTION


def forward_cached(model: GPT, ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits (B, T_new, V) of new tokens ids (B, T_new) at positions cache.length...; advances cache.length."""
    ### BEGIN SOLUTION
    T_new = ids.shape[-1]
    positions = torch.arange(cache.length, cache.length + T_new, device=ids.device)  # (T_new,)
    x = model.tok_emb(ids) + model.pos_emb(positions)  # (B, T_new, C)
    for layer, block in enumerate(model.blocks):
        x = block_step(block, x, cache, layer)
    cache.length += T_new
    return model.head(model.ln_f(x))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "forward_cached_test", "locked": true, "points": 4, "solution": false, "schema_version": 3}
checks.pytorch_gpu.forward_cached(forward_cached, load_gpt, KVCache)
### BEGIN HIDDEN TESTS
import llmcourse.model as _lm


def _random_gpt(seed, dtype=torch.float64, loud=False, **cfg_kwargs):
    torch.manual_seed(seed)
    ref = _lm.TinyGPT(_lm.GPTConfig(**cfg_kwargs))
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    if loud:  # scores near +-1000 in every block (see _loud_qkv in the Block test): an overflow test
        for b in ref.blocks:
            _loud_qkv(b.attn.qkv, ref.config.d_model, ref.config.n_head)
    cfg, prm = _lm.to_numpy(ref)
    return load_gpt(cfg, prm).to(dtype), ref.to(dtype).eval()


def _check_chunks(m, ref, chunks, B, seed, dev="cpu", tol=1e-4):
    g = torch.Generator().manual_seed(seed)
    cfgd = m.config
    total = sum(chunks)
    ids = torch.randint(0, cfgd["vocab_size"], (B, total), generator=g).to(dev)
    dtype = next(m.parameters()).dtype
    c = KVCache(cfgd["n_layer"], B, cfgd["n_head"], total + 2, cfgd["d_model"] // cfgd["n_head"], dev, dtype)
    with torch.no_grad():
        want = ref.to(dev)(ids)
        done = 0
        for n in chunks:
            with _no_library_attention():
                got = forward_cached(m.to(dev), ids[:, done:done + n], c)
            assert tuple(got.shape) == (B, n, cfgd["vocab_size"]), f"chunks {chunks}: shape {tuple(got.shape)}"
            assert c.length == done + n, f"chunks {chunks}: cache.length is {c.length} after {done + n} tokens"
            err = (got - want[:, done:done + n]).abs().max().item()
            assert err < tol, (f"chunks {chunks}: logits of positions {done}..{done + n - 1} differ from a full "
                               f"forward pass by {err:.3g}")
            done += n


_m, _r = _random_gpt(11, vocab_size=13, block_size=40, n_layer=2, n_head=2, d_model=8, d_ff=16)
_check_chunks(_m, _r, [5, 1, 1, 1, 1, 1], 2, 1)
_check_chunks(_m, _r, [1] * 12, 1, 2)
_check_chunks(_m, _r, [4, 3, 1, 6, 1], 3, 3)  # a second prefill after cached tokens: offset mask
_m, _r = _random_gpt(12, vocab_size=20, block_size=64, n_layer=3, n_head=4, d_model=16)
_g = torch.Generator().manual_seed(4)
for _trial in range(3):
    _T0 = int(torch.randint(1, 20, (1,), generator=_g))
    _n = int(torch.randint(3, 30, (1,), generator=_g))
    _check_chunks(_m, _r, [_T0] + [1] * _n, 1, 10 + _trial)
_m, _r = _random_gpt(14, loud=True, vocab_size=20, block_size=32, n_layer=2, n_head=4, d_model=16)
_check_chunks(_m, _r, [6, 1, 1, 3, 1], 2, 30)
# the course checkpoint in float32 and the tolerance of the issue
_check_chunks(load_gpt(config, params), reference, [17] + [1] * 40, 1, 20)
if torch.cuda.is_available():
    _m, _r = _random_gpt(13, dtype=torch.float32, vocab_size=20, block_size=64, n_layer=2, n_head=4, d_model=16)
    _check_chunks(_m, _r, [9] + [1] * 20, 2, 21, dev="cuda")
### END HIDDEN TESTS

# %% [markdown]
# ### 4.2 Generation with the cache (2 points)
#
# `generate_cached(model, prompt_ids, n_new)` extends a prompt `(T0,)` greedily by `n_new` tokens: make a
# `KVCache` for one sequence of `T0 + n_new` positions **on the model's device and in its dtype** (read them
# from `next(model.parameters())`; a default float32 cache breaks a float64 or float16 model), prefill the
# prompt in one call of `forward_cached`, then feed back one token at a time. Return `(T0 + n_new,)` ids on
# the model's device. Do not call `model(...)` itself: the test checks that your loop uses the cache.

# %% nbgrader={"grade": false, "grade_id": "generate_cached", "locked": false, "solution": true, "schema_version": 3}
@torch.no_grad()
def generate_cached(model: GPT, prompt_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy continuation of prompt_ids (T0,) by n_new tokens with a KV cache: (T0 + n_new,) int64."""
    ### BEGIN SOLUTION
    p = next(model.parameters())
    cfg = model.config
    prompt_ids = prompt_ids.to(p.device)
    cache = KVCache(cfg["n_layer"], 1, cfg["n_head"], len(prompt_ids) + n_new, cfg["d_model"] // cfg["n_head"],
                    device=p.device, dtype=p.dtype)
    out = [prompt_ids]
    logits = forward_cached(model, prompt_ids[None], cache)  # (1, T0, V): prefill
    for i in range(n_new):
        nxt = logits[0, -1].argmax().view(1)  # (1,)
        out.append(nxt)
        if i < n_new - 1:
            logits = forward_cached(model, nxt[None], cache)  # (1, 1, V): one decode step
    return torch.cat(out)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "generate_cached_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pytorch_gpu.generate_cached(generate_cached, load_gpt)
### BEGIN HIDDEN TESTS
@torch.no_grad()
def _greedy_full(m, prompt, n):
    ids = prompt[None]
    for _ in range(n):
        ids = torch.cat([ids, m(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids[0]


def _hidden_generate(m, prompt, n, dev="cpu"):
    m = m.to(dev)
    want = _greedy_full(m, prompt.to(dev), n)
    calls = []
    hook = m.register_forward_hook(lambda *a: calls.append(1))
    try:
        got = generate_cached(m, prompt.to(dev), n)
    finally:
        hook.remove()
    assert not calls, "generate_cached called model(...): the point is to use forward_cached and the cache"
    got = torch.as_tensor(got)
    assert got.device.type == torch.device(dev).type, f"result on {got.device}, the model is on {dev}"
    assert got.shape == want.shape, f"prompt of {len(prompt)}, n_new={n}: shape {tuple(got.shape)}"
    assert torch.equal(got.cpu(), want.cpu()), f"prompt of {len(prompt)}, n_new={n}: tokens differ from recompute"


with _no_library_attention():
    _m, _ = _random_gpt(21, vocab_size=17, block_size=48, n_layer=2, n_head=2, d_model=16)
    _g = torch.Generator().manual_seed(5)
    for _trial in range(5):
        _T0 = int(torch.randint(1, 12, (1,), generator=_g))
        _n = int(torch.randint(1, 30, (1,), generator=_g))
        _hidden_generate(_m, torch.randint(0, 17, (_T0,), generator=_g), _n)
    _hidden_generate(load_gpt(config, params), torch.as_tensor(tok.encode("\ncopy kqzvt>")), 20)
    if torch.cuda.is_available():
        _hidden_generate(load_gpt(config, params), torch.as_tensor(tok.encode("\nthe old king")), 30, "cuda")
### END HIDDEN TESTS

# %%
start = torch.as_tensor(tok.encode("\ncopy kqzvt>"))
print(repr(tok.decode(generate_cached(model, start, 12).tolist())))
start = torch.as_tensor(tok.encode("\nthe happy girl"))
print(repr(tok.decode(generate_cached(model_dev, start, 80).cpu().tolist())))

# %% [markdown]
# ### How much faster?
#
# The checkpoint's context is 128 characters, too short to show what happens at the lengths real models
# decode. For the measurements below we build a model of **the same architecture with `block_size = 640`
# and random weights**: time per token does not depend on what the weights are, only on their shapes, and
# the test of correctness (the cached and the recomputing loop produce the same tokens) holds for any
# weights. The baseline is the same model recomputing the whole context each step. Both loops run side by
# side, interleaved (`llmcourse.bench.compare`), and we report medians.

# %%
@torch.no_grad()
def generate_full(m: GPT, prompt_ids: torch.Tensor, n_new: int) -> torch.Tensor:
    """Greedy continuation that recomputes the whole context for every new token (the baseline)."""
    ids = prompt_ids[None]  # (1, T)
    for _ in range(n_new):
        ids = torch.cat([ids, m(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)  # (1, T + 1)
    return ids[0]


long_cfg, long_params = to_numpy(TinyGPT(GPTConfig(block_size=640)))  # random weights, checkpoint's shapes
long_model = load_gpt(long_cfg, long_params).to(device)
long_prompt = torch.as_tensor(tok.encode("\nthe tall horse")).to(device)  # 15 tokens
rows = []
for n_new in (env.size(128, 8), env.size(256, 16), env.size(512, 32)):
    outs = []  # every run's tokens, to check that both loops agree
    r = bench.compare({"recompute": lambda n=n_new, o=outs: o.append(generate_full(long_model, long_prompt, n)),
                       "kv cache": lambda n=n_new, o=outs: o.append(generate_cached(long_model, long_prompt, n))},
                      rounds=env.size(2, 1), warmup=0, device=device)
    same = all(torch.equal(outs[0], o) for o in outs)
    rows.append((n_new, r.timings["recompute"].median, r.timings["kv cache"].median, r.ratio("kv cache"), same))
print(f"{'new tokens':>10} {'recompute':>12} {'kv cache':>12} {'speed-up':>9}  same tokens")
for n_new, t_full, t_cached, ratio, same in rows:
    print(f"{n_new:10d} {t_full:10.3f} s {t_cached:10.3f} s {ratio:8.1f}x  {same}")

# %% [markdown]
# The speed-up grows with the length. Recomputing pushes the whole context through every matrix at every
# step, so one token costs time proportional to its position (more than that once attention's `T x T`
# scores dominate), and `n` tokens cost about `n**2`. A cached step multiplies one row by each matrix, a
# fixed cost, plus attention over the cache, which grows only slowly with the position at these sizes.
# Your numbers depend on the machine and how busy it is; the ratio, measured side by side, is the robust
# part. The picture below times single steps at increasing positions.

# %%
@torch.no_grad()
def step_times(m: GPT, positions: list[int], repeat: int = 3) -> tuple[list[float], list[float]]:
    """Seconds for one new token at each position: full recompute of the prefix, and one cached decode step."""
    cfg = m.config
    full, cached = [], []
    for t in positions:
        ids = torch.randint(0, cfg["vocab_size"], (1, t + 1), device=device)
        full.append(time_it(lambda ids=ids: m(ids), repeat=repeat, warmup=1, sync=sync))
        kv = KVCache(cfg["n_layer"], 1, cfg["n_head"], t + 1, cfg["d_model"] // cfg["n_head"], device)
        forward_cached(m, ids[:, :t], kv)

        def one_step(ids=ids, kv=kv, t=t):
            kv.length = t  # rewind, so every repeat decodes position t again
            forward_cached(m, ids[:, t:], kv)

        cached.append(time_it(one_step, repeat=repeat, warmup=1, sync=sync))
    return full, cached


positions = list(range(16, env.size(624, 80) + 1, env.size(64, 32)))
full_t, cached_t = step_times(long_model, positions, repeat=env.size(5, 1))
fig = plot.time_per_token(positions, {"recompute the whole context": np.array(full_t),
                                      "one decode step with the KV cache": np.array(cached_t)},
                          title=f"tiny GPT (4 layers, C=128, random weights) on {device}")

# %% [markdown]
# ## 5. Heterogeneous compute: weights on the host, compute on the device
#
# When a model does not fit in device memory, one option is **offloading**: keep some (or all) layers'
# weights in host memory and copy each to the device just before it runs, dropping the copy afterwards.
# The price is the transfer: every forward pass moves those bytes across the bus (PCIe: tens of GB/s,
# against hundreds or thousands for device memory). Engines hide part of it by **prefetching**: copying
# layer `i + 1` on a second stream while layer `i` computes.
#
# `torch.func.functional_call(module, weights, (x,))` runs a module with the tensors in the dictionary
# `weights` in place of its own parameters (same names as `module.named_parameters()`), which is exactly
# what we need: the module object stays on the host and a device copy of its weights is used once.
#
# This machine may have only a CPU. Then the "device" is the CPU too, and the copy is a real copy in host
# memory: what we check (identical outputs, the bytes and the number of transfers) does not depend on
# where the copy lands, and the timings below say honestly that no bus was crossed.

# %%
class Transfers:
    """fetch(tensor, device) copies a tensor to a device and counts the copies and the bytes moved."""

    def __init__(self) -> None:
        self.count = 0
        self.bytes = 0

    def fetch(self, t: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        """A fresh copy of t on device (a real copy even when t is already there)."""
        self.count += 1
        self.bytes += t.numel() * t.element_size()
        return t.to(device, copy=True)


# %% [markdown]
# ### 5.1 Offloaded forward pass (2 points)
#
# `offloaded_forward(model, ids, device, fetch)`: the model's embeddings, final LayerNorm and head are
# already on `device` (they are small); its **blocks stay on the CPU**. For each block in order, fetch
# each of its parameters to `device` with `fetch(p, device)` (once each, per forward pass), run the block
# with `torch.func.functional_call`, and let the copies go before the next block. Return the logits on
# `device`. Wrong answers the tests catch: `block.to(device)` (moves the weights for good, and nothing is
# counted), fetching all blocks before the first runs (the whole model on the device at once, which is
# what offloading is meant to avoid), and fetching a parameter twice.

# %% nbgrader={"grade": false, "grade_id": "offloaded_forward", "locked": false, "solution": true, "schema_version": 3}
def offloaded_forward(model: GPT, ids: torch.Tensor, device: torch.device | str, fetch) -> torch.Tensor:
    """Logits (B, T, V) on device; blocks' weights live on the CPU and are fetched one block at a time."""
    ### BEGIN SOLUTION
    T = ids.shape[-1]
    ids = ids.to(device)
    x = model.tok_emb(ids) + model.pos_emb(torch.arange(T, device=ids.device))  # (B, T, C)
    for block in model.blocks:
        weights = {name: fetch(p, device) for name, p in block.named_parameters()}
        x = torch.func.functional_call(block, weights, (x,))
        del weights
    return model.head(model.ln_f(x))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "offloaded_forward_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pytorch_gpu.offloaded_forward(offloaded_forward, load_gpt, Transfers)
### BEGIN HIDDEN TESTS
import weakref


class _Watch(Transfers):
    """Transfers that also records which block each copy belongs to and how many copies are alive."""

    def __init__(self, owner):
        super().__init__()
        self.owner, self.alive, self.order, self.peak = owner, [], [], 0

    def fetch(self, t, device):
        out = super().fetch(t, device)
        self.order.append(self.owner.get(id(t), "?"))
        self.alive = [r for r in self.alive if r() is not None] + [weakref.ref(out)]
        self.peak = max(self.peak, len(self.alive))
        return out


def _hidden_offload(m, B, T, dev, seed):
    torch.manual_seed(seed)
    cfgd = m.config
    m = m.cpu()
    for name in ("tok_emb", "pos_emb", "ln_f", "head"):
        getattr(m, name).to(dev)
    owner = {id(p): i for i, b in enumerate(m.blocks) for p in b.parameters()}
    per_block = len(list(m.blocks[0].parameters()))
    ids = torch.randint(0, cfgd["vocab_size"], (B, T))
    w = _Watch(owner)
    with torch.no_grad():
        got = offloaded_forward(m, ids.to(dev), dev, w.fetch)
        for name in ("tok_emb", "pos_emb", "ln_f", "head"):
            getattr(m, name).cpu()
        want = m(ids)
    assert all(p.device.type == "cpu" for b in m.blocks for p in b.parameters()), "the blocks must stay on the CPU"
    assert torch.allclose(got.cpu(), want, atol=1e-5), f"offloaded logits differ by {(got.cpu() - want).abs().max():.3g}"
    n_expected = sum(1 for b in m.blocks for _ in b.parameters())
    bytes_expected = sum(p.numel() * p.element_size() for b in m.blocks for p in b.parameters())
    assert w.count == n_expected, f"{w.count} transfers, expected one per block parameter ({n_expected})"
    assert w.bytes == bytes_expected, f"{w.bytes} bytes moved, expected {bytes_expected}"
    assert w.order == sorted(w.order), f"blocks fetched out of order: {w.order}"
    assert w.peak <= 2 * per_block, (f"{w.peak} fetched tensors alive at once: fetch a block's weights just before it "
                                     "runs and drop them after, not the whole model at once")


with _no_library_attention():
    _m, _ = _random_gpt(31, dtype=torch.float32, vocab_size=15, block_size=24, n_layer=4, n_head=2, d_model=8)
    _hidden_offload(_m, 2, 9, "cpu", 1)
    _hidden_offload(load_gpt(config, params), 1, 30, "cpu", 2)
    if torch.cuda.is_available():
        _hidden_offload(load_gpt(config, params), 2, 40, "cuda", 3)
### END HIDDEN TESTS

# %%
host_model = load_gpt(config, params)
for name in ("tok_emb", "pos_emb", "ln_f", "head"):
    getattr(host_model, name).to(device)
transfers = Transfers()
ids = torch.as_tensor(tok.encode(prompt))[None]
with torch.no_grad():
    off = offloaded_forward(host_model, ids.to(device), device, transfers.fetch)
print(f"offloaded logits vs reference: largest |difference| {(off.cpu() - ref_logits).abs().max().item():.2e}")
print(f"one forward pass moved {transfers.bytes / 2**20:.2f} MiB in {transfers.count} transfers")
with torch.no_grad():
    t_off = time_it(lambda: offloaded_forward(host_model, ids.to(device), device, Transfers().fetch),
                    repeat=env.size(11, 3), sync=sync)
    t_res = time_it(lambda: model_dev(ids.to(device)), repeat=env.size(11, 3), sync=sync)
where = "host -> GPU over the bus" if device.type == "cuda" else "host -> host (no bus on this machine: simulated)"
print(f"resident: {t_res * 1e3:.2f} ms, offloaded ({where}): {t_off * 1e3:.2f} ms per forward pass")

# %% [markdown]
# ### 5.2 Placement under a memory budget (2 points)
#
# Now the planning question an engine answers before loading a model: the device has room for `budget`
# MiB of weights; layer `i` needs `sizes[i]` MiB and runs in `time_device[i]` seconds when its weights
# are resident, or `time_host[i]` when they stay on the host (streamed each pass, or computed on the CPU).
# Return one of `"device"` or `"host"` per layer so that the resident layers fit (`sum of sizes <= budget`)
# and the total time is as small as possible.
#
# This is the 0/1 knapsack problem: the value of a layer is the time it saves, `time_host - time_device`,
# its weight is its size. Popular wrong answers are greedy: take layers by largest saving, or by largest
# saving per MiB, while they fit. Both can leave room unused that a different choice would have filled
# better (the visible check has a two-layer example of each). Sizes are whole MiB, so a dynamic programme
# over `(layer, MiB used)` is exact; so is trying all `2 ** n` placements for the few layers of the tests.

# %% nbgrader={"grade": false, "grade_id": "place_layers", "locked": false, "solution": true, "schema_version": 3}
def place_layers(sizes: list[int], time_host: list[float], time_device: list[float], budget: int) -> list[str]:
    """'device' or 'host' for each layer: resident sizes sum to <= budget, total time minimal."""
    ### BEGIN SOLUTION
    n = len(sizes)
    best = [[0.0] * (budget + 1) for _ in range(n + 1)]  # best[i][c]: time saved by layers < i within c MiB
    for i in range(n):
        gain = time_host[i] - time_device[i]
        for c in range(budget + 1):
            best[i + 1][c] = best[i][c]
            if sizes[i] <= c and gain > 0 and best[i][c - sizes[i]] + gain > best[i + 1][c]:
                best[i + 1][c] = best[i][c - sizes[i]] + gain
    placement, c = ["host"] * n, budget
    for i in range(n - 1, -1, -1):
        if best[i + 1][c] != best[i][c]:
            placement[i], c = "device", c - sizes[i]
    return placement
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "place_layers_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.pytorch_gpu.place_layers(place_layers)
### BEGIN HIDDEN TESTS
import itertools
import random as _random


def _cost(pl, th, td):
    return sum(td[i] if p == "device" else th[i] for i, p in enumerate(pl))


def _best_cost(sz, th, td, budget):
    best = float("inf")
    for choice in itertools.product((0, 1), repeat=len(sz)):
        if sum(s for s, c in zip(sz, choice, strict=True) if c) <= budget:
            best = min(best, sum(td[i] if c else th[i] for i, c in enumerate(choice)))
    return best


_rnd = _random.Random(17)
for _trial in range(40):
    _n = _rnd.randint(1, 9)
    _sz = [_rnd.randint(1, 12) for _ in range(_n)]
    _td = [round(_rnd.uniform(0.5, 3.0), 3) for _ in range(_n)]
    _th = [round(t + _rnd.uniform(-0.5, 6.0), 3) for t in _td]  # usually slower on the host, not always
    _budget = _rnd.randint(0, sum(_sz))
    _pl = list(place_layers(list(_sz), list(_th), list(_td), _budget))
    assert len(_pl) == _n and set(_pl) <= {"device", "host"}, f"sizes {_sz}: got {_pl}"
    _used = sum(s for s, p in zip(_sz, _pl, strict=True) if p == "device")
    assert _used <= _budget, f"sizes {_sz}, budget {_budget}: resident layers use {_used} MiB"
    _want = _best_cost(_sz, _th, _td, _budget)
    assert abs(_cost(_pl, _th, _td) - _want) < 1e-9, (
        f"sizes {_sz}, host {_th}, device {_td}, budget {_budget}: total {_cost(_pl, _th, _td):.3f}, best {_want:.3f}")
# edges: layers of 0 MiB (free to place, even with budget 0), a budget filled exactly, a layer slower on the device
for _sz, _th, _td, _budget in (([0, 5, 3, 0], [2.0, 5.0, 4.0, 1.0], [1.0, 1.0, 1.0, 3.0], 8),
                               ([0, 2], [3.0, 3.0], [1.0, 1.0], 0), ([4, 4], [2.0, 3.0], [1.0, 1.0], 8)):
    _pl = list(place_layers(list(_sz), list(_th), list(_td), _budget))
    _want = _best_cost(_sz, _th, _td, _budget)
    assert sum(s for s, p in zip(_sz, _pl, strict=True) if p == "device") <= _budget, f"sizes {_sz}: over budget"
    assert abs(_cost(_pl, _th, _td) - _want) < 1e-9, (
        f"sizes {_sz}, host {_th}, device {_td}, budget {_budget}: got {_pl} (total {_cost(_pl, _th, _td):.3f}), "
        f"best {_want:.3f} (a layer fits when its size is <= the budget left; 0 MiB always fits)")
### END HIDDEN TESTS

# %% [markdown]
# The tiny GPT fits anywhere, so here is a made-up plan at a realistic scale: 32 layers of 400 MiB, every
# fourth one twice as large, each taking 2 ms<!--const: an input of the made-up plan--> per 400 MiB when resident, plus a PCIe copy at
# 25 GB/s<!--const: an input of the made-up plan-->
# when it stays on the host. The budgets are a few GiB of free device memory.

# %%
rng = np.random.default_rng(0)
n_layers = 32
sizes = [800 if i % 4 == 3 else 400 for i in range(n_layers)]  # MiB
time_device = [s / 400 * 0.002 for s in sizes]  # seconds per token when resident
time_host = [td + s * 2**20 / 25e9 for td, s in zip(time_device, sizes, strict=True)]  # + a PCIe copy at 25 GB/s
for budget_mib in (4096, 8192, 12288):
    plan = place_layers(sizes, time_host, time_device, budget_mib)
    total = sum(td if p == "device" else th for p, th, td in zip(plan, time_host, time_device, strict=True))
    print(f"budget {budget_mib // 1024:2d} GiB: {plan.count('device'):2d} resident layers, "
          f"{total * 1e3:6.1f} ms per token (all resident: {sum(time_device) * 1e3:.1f} ms)")

# %% [markdown]
# In this example every MiB saves the same time, so the planner simply fills the budget; with real
# profiles (attention layers that are cheap to stream, big MLPs that are not, a CPU that can compute some
# layers instead of streaming them) the choice is less obvious, and the knapsack view makes it exact.
#
# ## Practice quiz
#
# Not graded: pick an answer, press Check, read why each option is right or wrong.

# %%
quiz.show("05_pytorch_gpu")

# %% [markdown]
# ## Summary
#
# * Device-agnostic PyTorch: pick the device once (cuda, mps, cpu), move the model and inputs there, and
#   create new tensors with `device=` and `dtype=` taken from existing ones.
# * `nn.Linear.weight` is `(out, in)`: loading `(in, out)` matrices needs a transpose, and square matrices
#   load silently wrong without it. Equal logits means equal up to float32 rounding.
# * GPU work is asynchronous: a correct timing harness warms up, synchronises before reading the clock,
#   and reports the median of repeats; comparisons interleave the variants.
# * The KV cache stores each layer's keys and values; prefill runs the prompt once, each decode step runs
#   one position, attends to the cache and appends to it. Position embeddings and the mask use absolute
#   positions (`cache.length + i`). The tokens are identical to recomputing, and the speed-up grows with
#   the number of tokens generated.
# * Offloading keeps weights on the host and streams them layer by layer: it trades memory for bytes over
#   the bus, which you can count. Deciding which layers stay resident under a budget is a knapsack
#   problem; greedy rules are not optimal.
#
# ## Going further
#
# * Prefetching: on CUDA, copy layer `i + 1` from pinned host memory with `non_blocking=True` on a second
#   `torch.cuda.Stream` while layer `i` runs, and make the compute stream wait for it with an event.
#   Measure how much of the transfer time disappears.
# * Grow the cache instead of preallocating it (`torch.cat` each step) and time both; then read how
#   paged attention (Kwon et al., "Efficient Memory Management for Large Language Model Serving with
#   PagedAttention", 2023) allocates the cache in fixed blocks to serve many sequences.
# * Batch decoding of several prompts of different lengths needs per-sequence lengths and padding masks:
#   extend `KVCache` and `forward_cached`.
# * Module 06 turns the measurements of this notebook into a model: bytes and FLOPs per token, and why a
#   decode step is limited by memory bandwidth.
