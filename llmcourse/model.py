"""The course's reference tiny GPT in PyTorch, and its checkpoint format readable from NumPy alone.

The model is a character-level, decoder-only Transformer with pre-norm residual blocks:

    x = tok_emb[ids] + pos_emb[:T]                                   # (B, T, C)
    for each block:
        x = x + attn(ln1(x))        # causal multi-head self-attention
        x = x + mlp(ln2(x))         # Linear(C, d_ff) -> GELU (tanh approximation) -> Linear(d_ff, C)
    logits = ln_f(x) @ head.w + head.b                               # (B, T, V)

It is the reference: it is built on library calls (`F.scaled_dot_product_attention(is_causal=True)`,
`nn.LayerNorm`, `nn.GELU(approximate="tanh")`) that the NumPy exercises of module 04 rebuild by hand.

Formulas, exactly as the reference computes them:

    LayerNorm(x) = (x - mean) / sqrt(var + eps) * weight + bias     over the last (feature) axis,
                   biased variance (divide by C), eps = 1e-5 inside the square root
    GELU(x)      = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))
    attention    = softmax(q @ k^T / sqrt(d_head) + causal mask) @ v, per head

Checkpoint format (`.npz`, every array float32; `load_numpy` needs no torch):

    __config__               0-d unicode array: JSON of GPTConfig (vocab_size, block_size, n_layer,
                             n_head, d_model, d_ff, ln_eps)
    tok_emb                  (V, C)           token embeddings, row i is token id i
    pos_emb                  (block_size, C)  learned positional embeddings, row t is position t
    blocks.{i}.ln1.weight    (C,)             LayerNorm before attention (i = 0 .. n_layer - 1)
    blocks.{i}.ln1.bias      (C,)
    blocks.{i}.attn.w_qkv    (C, 3C)          fused query/key/value projection
    blocks.{i}.attn.b_qkv    (3C,)
    blocks.{i}.attn.w_out    (C, C)           output projection after merging the heads
    blocks.{i}.attn.b_out    (C,)
    blocks.{i}.ln2.weight    (C,)             LayerNorm before the MLP
    blocks.{i}.ln2.bias      (C,)
    blocks.{i}.mlp.w_in      (C, d_ff)
    blocks.{i}.mlp.b_in      (d_ff,)
    blocks.{i}.mlp.w_out     (d_ff, C)
    blocks.{i}.mlp.b_out     (C,)
    ln_f.weight, ln_f.bias   (C,)             final LayerNorm
    head.w                   (C, V)           LM head (not tied to tok_emb)
    head.b                   (V,)

Layout convention: every matrix is stored (in_features, out_features) and applied as `y = x @ W + b`
(the transpose of torch's nn.Linear.weight). In w_qkv the columns are [q | k | v], C columns each, so
`q, k, v = np.split(x @ w_qkv + b_qkv, 3, axis=-1)`; inside each of q, k and v, head h owns columns
h * d_head .. (h + 1) * d_head - 1 (d_head = C / n_head), i.e. `q.reshape(B, T, n_head, d_head)`.
Merged heads are concatenated in the same order before `w_out`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .data import TASKS, VOCAB, CharTokenizer, task_examples

ASSETS = Path(__file__).with_name("assets")
CHECKPOINT = ASSETS / "tiny_gpt.npz"
REPORT = ASSETS / "tiny_gpt.json"
CONFIG_KEY = "__config__"


@dataclass
class GPTConfig:
    """Sizes of the tiny GPT; d_ff defaults to 4 * d_model."""

    vocab_size: int = len(VOCAB)
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int = field(default=0)
    ln_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.d_ff == 0:
            self.d_ff = 4 * self.d_model
        if self.d_model % self.n_head:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_head={self.n_head}")

    @property
    def d_head(self) -> int:
        """Width of one attention head."""
        return self.d_model // self.n_head


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention with a fused qkv projection: (B, T, C) -> (B, T, C)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=-1)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    """Position-wise feed-forward network: Linear -> GELU (tanh) -> Linear, (B, T, C) -> (B, T, C)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc_in = nn.Linear(cfg.d_model, cfg.d_ff)
        self.act = nn.GELU(approximate="tanh")
        self.fc_out = nn.Linear(cfg.d_ff, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C)."""
        return self.fc_out(self.act(self.fc_in(x)))


class Block(nn.Module):
    """Pre-norm residual block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C) -> (B, T, C)."""
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Decoder-only character GPT: ids (B, T) -> logits (B, T, V)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.config = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.apply(self._init)
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.fc_out.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (B, T) or (T,) int64 -> logits (B, T, V) or (T, V) in float32."""
        squeeze = ids.dim() == 1
        if squeeze:
            ids = ids[None]
        T = ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size={self.config.block_size}")
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))
        return logits[0] if squeeze else logits

    def n_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


# --- checkpoint format ------------------------------------------------------------------------------

def _name_map(cfg: GPTConfig) -> list[tuple[str, str, bool]]:
    """(npz name, torch state_dict name, transpose) for every parameter, in checkpoint order."""
    rows = [("tok_emb", "tok_emb.weight", False), ("pos_emb", "pos_emb.weight", False)]
    for i in range(cfg.n_layer):
        b = f"blocks.{i}"
        rows += [
            (f"{b}.ln1.weight", f"{b}.ln1.weight", False), (f"{b}.ln1.bias", f"{b}.ln1.bias", False),
            (f"{b}.attn.w_qkv", f"{b}.attn.qkv.weight", True), (f"{b}.attn.b_qkv", f"{b}.attn.qkv.bias", False),
            (f"{b}.attn.w_out", f"{b}.attn.out.weight", True), (f"{b}.attn.b_out", f"{b}.attn.out.bias", False),
            (f"{b}.ln2.weight", f"{b}.ln2.weight", False), (f"{b}.ln2.bias", f"{b}.ln2.bias", False),
            (f"{b}.mlp.w_in", f"{b}.mlp.fc_in.weight", True), (f"{b}.mlp.b_in", f"{b}.mlp.fc_in.bias", False),
            (f"{b}.mlp.w_out", f"{b}.mlp.fc_out.weight", True), (f"{b}.mlp.b_out", f"{b}.mlp.fc_out.bias", False),
        ]
    rows += [("ln_f.weight", "ln_f.weight", False), ("ln_f.bias", "ln_f.bias", False),
             ("head.w", "head.weight", True), ("head.b", "head.bias", False)]
    return rows


def parameter_names(config: GPTConfig | dict) -> list[str]:
    """The checkpoint's parameter names for a config, in a fixed order."""
    cfg = config if isinstance(config, GPTConfig) else GPTConfig(**config)
    return [name for name, _, _ in _name_map(cfg)]


def to_numpy(model: TinyGPT) -> tuple[dict, dict[str, np.ndarray]]:
    """A model's (config dict, float32 params in the checkpoint layout)."""
    state = model.state_dict()
    params = {}
    for name, tname, transpose in _name_map(model.config):
        t = state[tname].detach().to("cpu", torch.float32)
        params[name] = np.ascontiguousarray((t.T if transpose else t).numpy())
    return asdict(model.config), params


def from_numpy(config: dict, params: dict[str, np.ndarray]) -> TinyGPT:
    """Build a TinyGPT (eval mode, float32) from a config dict and params in the checkpoint layout."""
    cfg = GPTConfig(**config)
    model = TinyGPT(cfg)
    rows = _name_map(cfg)
    missing = [name for name, _, _ in rows if name not in params]
    if missing:
        raise KeyError(f"parameters missing from the checkpoint: {missing[:5]}")
    state = {}
    for name, tname, transpose in rows:
        t = torch.from_numpy(np.asarray(params[name], dtype=np.float32))
        state[tname] = (t.T if transpose else t).contiguous()
    model.load_state_dict(state)
    return model.eval()


def forward_params(config: GPTConfig | dict, params: dict[str, np.ndarray], ids: np.ndarray,
                   d_head: int | None = None) -> np.ndarray:
    """Logits (B, T, V) float32 for ids (B, T) from a parameter dict, with the reference's library calls.

    Unlike `from_numpy`, the widths may differ from the config: each layer's head count is read from the rows
    of its `attn.w_out` (`// d_head`, zero heads allowed) and its MLP width from `mlp.w_in`, so models with
    heads or FFN neurons cut out (module 09) run as they are. Built on `F.layer_norm`,
    `F.scaled_dot_product_attention` and `F.gelu`, like the reference, and computed in float32 on the CPU, in
    inference mode, on the arrays themselves (read-only ones are copied).
    """
    cfg = config if isinstance(config, GPTConfig) else GPTConfig(**config)
    d_head = d_head or cfg.d_model // cfg.n_head

    def t(name: str) -> torch.Tensor:  # the array itself when it can be shared, else a copy (read-only arrays)
        a = np.asarray(params[name], np.float32)
        return torch.from_numpy(a if a.flags.writeable else a.copy())

    ids_t = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    B, T = ids_t.shape
    C = cfg.d_model
    with torch.inference_mode():
        x = t("tok_emb")[ids_t] + t("pos_emb")[:T]
        for i in range(cfg.n_layer):
            b = f"blocks.{i}."
            h = F.layer_norm(x, (C,), t(b + "ln1.weight"), t(b + "ln1.bias"), cfg.ln_eps)
            w_out = t(b + "attn.w_out")
            H = w_out.shape[0] // d_head
            if H:
                q, k, v = (h @ t(b + "attn.w_qkv") + t(b + "attn.b_qkv")).split(H * d_head, dim=-1)
                q, k, v = (z.reshape(B, T, H, d_head).transpose(1, 2) for z in (q, k, v))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, H * d_head)
                x = x + y @ w_out
            x = x + t(b + "attn.b_out")
            h = F.layer_norm(x, (C,), t(b + "ln2.weight"), t(b + "ln2.bias"), cfg.ln_eps)
            u = F.gelu(h @ t(b + "mlp.w_in") + t(b + "mlp.b_in"), approximate="tanh")
            x = x + u @ t(b + "mlp.w_out") + t(b + "mlp.b_out")
        x = F.layer_norm(x, (C,), t("ln_f.weight"), t("ln_f.bias"), cfg.ln_eps)
        return (x @ t("head.w") + t("head.b")).numpy()


def save_checkpoint(model: TinyGPT, path: str | Path = CHECKPOINT) -> Path:
    """Write the model as a float32 .npz in the documented layout; returns the path."""
    config, params = to_numpy(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez(fh, **{CONFIG_KEY: np.array(json.dumps(config))}, **params)
    return path


def load_numpy(path: str | Path = CHECKPOINT) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a checkpoint without torch: (config dict, {name: float32 array}) in the documented layout."""
    with np.load(Path(path), allow_pickle=False) as data:
        config = json.loads(str(data[CONFIG_KEY]))
        params = {name: data[name].astype(np.float32) for name in data.files if name != CONFIG_KEY}
    return config, params


def load_checkpoint(path: str | Path = CHECKPOINT) -> TinyGPT:
    """Read a checkpoint into a TinyGPT in eval mode on the CPU."""
    return from_numpy(*load_numpy(path))


# --- using the model ----------------------------------------------------------------------------------

@torch.no_grad()
def generate(model: TinyGPT, prompt_ids: np.ndarray | list[int], n_new: int, greedy: bool = True,
             temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """Extend prompt_ids (T,) by n_new tokens (greedy, or sampled at a temperature); returns (T + n_new,)."""
    model.eval()
    device = next(model.parameters()).device
    ids = torch.as_tensor(np.asarray(prompt_ids, dtype=np.int64), device=device)[None]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for _ in range(n_new):
        logits = model(ids[:, -model.config.block_size:])[:, -1].float().cpu()
        if greedy:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            nxt = torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=gen)
        ids = torch.cat([ids, nxt.to(device)], dim=1)
    return ids[0].cpu().numpy()


@torch.no_grad()
def perplexity(model: TinyGPT, text: str) -> float:
    """Held-out perplexity exp(mean cross-entropy in nats) of every character of text after the first.

    The text is cut into consecutive windows of block_size inputs (the last one shorter); window w
    predicts characters w*block_size + 1 .. from the inputs before it within the window, so every
    target text[1:] is scored exactly once, as a bigram model scoring text[1:] from text[:-1] would.
    """
    model.eval()
    device = next(model.parameters()).device
    ids = torch.as_tensor(CharTokenizer().encode(text), device=device)
    T = model.config.block_size
    total, count = 0.0, 0
    for start in range(0, len(ids) - 1, T):
        chunk = ids[start:start + T + 1]
        logits = model(chunk[:-1][None])[0].float()
        total += F.cross_entropy(logits, chunk[1:], reduction="sum").item()
        count += len(chunk) - 1
    return math.exp(total / count)


@torch.no_grad()
def greedy_task_accuracy(next_logits: Callable[[np.ndarray], np.ndarray], task: str, n: int, seed: int,
                         block_size: int, max_new: int = 8) -> float:
    """Fraction of n fresh task_examples answered exactly: greedy continuation of '\\n' + prompt up to '\\n'.

    next_logits(ids (B, T) int array) -> (B, V) logits of the next token; it sees at most block_size positions.
    Prompts are batched by length. A continuation counts as right when the characters before the first
    newline equal the answer and that newline arrives within max_new tokens. task_accuracy (a TinyGPT) and
    llmcourse.capstone.task_accuracy (any logits function) both count with this one loop.
    """
    tok = CharTokenizer()
    examples = task_examples(task, n, seed)
    newline = int(tok.encode("\n")[0])
    by_len: dict[int, list[int]] = {}
    for i, (prompt, _) in enumerate(examples):
        by_len.setdefault(len(prompt), []).append(i)
    right = 0
    for idx in by_len.values():
        ids = np.stack([tok.encode("\n" + examples[i][0]) for i in idx])
        start = ids.shape[1]
        done = np.zeros(len(idx), dtype=bool)
        for _ in range(max_new):
            nxt = np.asarray(next_logits(ids[:, -block_size:])).argmax(-1)
            ids = np.concatenate([ids, nxt[:, None].astype(ids.dtype)], axis=1)
            done |= nxt == newline
            if done.all():
                break  # every row has its answer; greedy decoding would not change them
        for row, i in zip(ids[:, start:], idx, strict=True):
            text = tok.decode(row)
            right += "\n" in text and text.split("\n", 1)[0] == examples[i][1]
    return right / n


def task_accuracy(model: TinyGPT, task: str, n: int = 200, seed: int = 7, max_new: int = 8) -> float:
    """greedy_task_accuracy of a TinyGPT on its own device (fresh task_examples(task, n, seed))."""
    model.eval()
    device = next(model.parameters()).device

    def next_logits(ids: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(ids, device=device))[:, -1].float().cpu().numpy()
    return greedy_task_accuracy(next_logits, task, n, seed, model.config.block_size, max_new)


def task_accuracies(model: TinyGPT, n: int = 200, seed: int = 7) -> dict[str, float]:
    """task_accuracy for every task in llmcourse.data.TASKS."""
    return {task: task_accuracy(model, task, n, seed) for task in TASKS}
