"""Train the course checkpoint: `make model`, i.e. `python -m llmcourse.train [--steps N] [--out PATH] [--seed S]`.

Trains llmcourse.model.TinyGPT on load_corpus('train') with AdamW, a linear warm-up and a cosine decay,
on random windows of block_size + 1 characters, and writes

    llmcourse/assets/tiny_gpt.npz    the weights (layout in llmcourse/model.py)
    llmcourse/assets/tiny_gpt.json   what was trained and how well it does: config, steps, seconds,
                                     losses, held-out perplexity against an add-one bigram baseline on
                                     the same validation text, exact task accuracy per task

Everything is seeded, so a rerun with the same torch version and thread count repeats the run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import VOCAB, CharTokenizer, load_corpus
from .model import CHECKPOINT, GPTConfig, TinyGPT, perplexity, save_checkpoint, task_accuracies

DEFAULTS = {"steps": 4000, "batch_size": 32, "lr": 3e-3, "warmup": 100, "weight_decay": 0.1, "eval_every": 250}


def lr_at(step: int, steps: int, lr: float, warmup: int, final_frac: float = 0.1) -> float:
    """Learning rate at a step: linear warm-up to lr, then cosine decay to final_frac * lr."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * progress)))


def _batch(data: torch.Tensor, block_size: int, batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random windows: inputs (B, T) and targets (B, T) shifted by one character."""
    starts = torch.randint(0, len(data) - block_size - 1, (batch_size,), generator=gen)
    rows = torch.stack([data[s:s + block_size + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def _loss_on(model: TinyGPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    model.eval()
    losses = [torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item() for x, y in batches]
    model.train()
    return float(np.mean(losses))


def _optimizer(model: TinyGPT, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and embeddings only (not on biases or LayerNorm)."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def train(cfg: GPTConfig, steps: int, seed: int = 0, batch_size: int = DEFAULTS["batch_size"],
          lr: float = DEFAULTS["lr"], warmup: int = DEFAULTS["warmup"], weight_decay: float = DEFAULTS["weight_decay"],
          eval_every: int = DEFAULTS["eval_every"], progress: bool = True) -> tuple[TinyGPT, dict]:
    """Train a fresh TinyGPT; returns the model (eval mode) and a history of train/val losses."""
    torch.manual_seed(seed)
    tok = CharTokenizer()
    train_ids = torch.as_tensor(tok.encode(load_corpus("train")))
    val_ids = torch.as_tensor(tok.encode(load_corpus("val")))
    gen = torch.Generator().manual_seed(seed)
    val_gen = torch.Generator().manual_seed(seed + 1)
    val_batches = [_batch(val_ids, cfg.block_size, batch_size, val_gen) for _ in range(8)]
    model = TinyGPT(cfg)
    model.train()
    opt = _optimizer(model, lr, weight_decay)
    history: dict[str, list] = {"step": [], "train_loss": [], "val_step": [], "val_loss": []}
    bar = tqdm(range(steps), desc="training", disable=not progress, mininterval=1.0)
    smooth = None
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, min(warmup, max(1, steps // 10)))
        x, y = _batch(train_ids, cfg.block_size, batch_size, gen)
        loss = torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        smooth = loss.item() if smooth is None else 0.95 * smooth + 0.05 * loss.item()
        history["step"].append(step)
        history["train_loss"].append(loss.item())
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            history["val_step"].append(step + 1)
            history["val_loss"].append(_loss_on(model, val_batches))
            bar.set_postfix(loss=f"{smooth:.3f}", val=f"{history['val_loss'][-1]:.3f}")
        elif step % 10 == 0:
            bar.set_postfix(loss=f"{smooth:.3f}")
    return model.eval(), history


def _bigram_perplexity(train_text: str, eval_text: str, alpha: float = 1.0) -> float:
    """Perplexity on eval_text[1:] of an add-alpha smoothed character bigram counted on train_text."""
    tok = CharTokenizer()
    V = len(VOCAB)
    a, b = tok.encode(train_text), tok.encode(eval_text)
    table = np.full((V, V), alpha, dtype=np.float64)
    np.add.at(table, (a[:-1], a[1:]), 1.0)
    logp = np.log(table / table.sum(axis=1, keepdims=True))
    return float(np.exp(-logp[b[:-1], b[1:]].mean()))


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and write the checkpoint and its report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=DEFAULTS["steps"])
    parser.add_argument("--out", type=Path, default=CHECKPOINT, help="the .npz to write (the .json goes beside it)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the course machines have 2)")
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--eval-tasks", type=int, default=200, help="fresh examples per task for task accuracy")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = GPTConfig(n_layer=args.n_layer, n_head=args.n_head, d_model=args.d_model, block_size=args.block_size)
    t0 = time.perf_counter()
    model, history = train(cfg, args.steps, seed=args.seed)
    seconds = time.perf_counter() - t0
    path = save_checkpoint(model, args.out)
    print("evaluating ...", file=sys.stderr)
    train_text, val_text = load_corpus("train"), load_corpus("val")
    report = {
        "config": asdict(cfg),
        "n_params": model.n_params(),
        "steps": args.steps,
        "seed": args.seed,
        "batch_size": DEFAULTS["batch_size"],
        "lr": DEFAULTS["lr"],
        "train_seconds": round(seconds, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "final_train_loss": round(float(np.mean(history["train_loss"][-50:])), 4),
        "final_val_loss": round(history["val_loss"][-1], 4),
        "val_perplexity": round(perplexity(model, val_text), 4),
        "bigram_val_perplexity": round(_bigram_perplexity(train_text, val_text), 4),
        "task_accuracy": task_accuracies(model, n=args.eval_tasks),
        "task_examples": args.eval_tasks,
        "task_seed": 7,
        "val_loss_curve": [[s, round(v, 4)] for s, v in zip(history["val_step"], history["val_loss"], strict=True)],
        "checkpoint_bytes": path.stat().st_size,
    }
    path.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "val_loss_curve"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
