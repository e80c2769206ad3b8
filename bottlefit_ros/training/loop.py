"""The one training loop every stage and baseline shares.

Per epoch: iterate the batches (bf16 autocast and channels-last on CUDA), step the
optimizer and the schedule, average the loss over ranks, run the quick evaluation,
append the metrics (``metrics.jsonl`` and ``metrics.csv`` in the run folder), and save a
resumable checkpoint ``<stage>.ckpt`` (model, optimizer, scheduler, epoch, every RNG
state). At the end the weights alone go to ``<stage>.pt``. A stage whose ``.pt`` and
completed checkpoint exist is not trained again. Only rank 0 writes files.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .config import OptimConfig
from .distributed import DistInfo, all_reduce_mean, barrier

__all__ = ["RunContext", "Stage", "fit", "seed_everything"]

StepFn = Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class RunContext:
    """Where and how a run trains: folder, process group, precision, progress."""

    out_dir: Path
    dist: DistInfo = field(default_factory=DistInfo)
    amp: bool = True
    channels_last: bool = True
    progress: str = "auto"
    resume: bool = True
    eval_every: int = 1
    stop_after_epochs: int = 0
    """Stop after this many epochs of this invocation (0: never); for tests of resuming."""
    mean: Tensor | None = None
    std: Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.dist.device

    def autocast(self):  # noqa: ANN201
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def prepare(self, x: Tensor) -> Tensor:
        """0..255 images -> normalized float input (3 channels), channels-last on CUDA."""
        x = x.float()
        if self.mean is not None and self.std is not None:
            x = (x - self.mean.to(x.device)) / self.std.to(x.device)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.channels_last and x.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def show_progress(self) -> bool:
        if not self.dist.main or self.progress == "off":
            return False
        return self.progress == "on" or sys.stderr.isatty()


@dataclass
class Stage:
    """What one stage trains.

    ``module`` holds the state saved in checkpoints; ``step(x, y) -> (loss, logits)``
    is the forward pass that DDP wraps (an ``nn.Module`` holding the trainable model);
    ``params`` are optimized; ``train_mode()`` puts each part in train or eval mode.
    """

    name: str
    module: nn.Module
    step: nn.Module
    params: list[nn.Parameter]
    train_mode: Callable[[], None]
    config: OptimConfig


def _optimizer(params: Iterable[nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    params = list(params)
    if not params:
        raise ValueError("nothing to train: no parameter requires a gradient")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=False)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, steps_per_epoch: int
               ) -> tuple[torch.optim.lr_scheduler.LRScheduler, bool]:
    """``(scheduler, per_iteration)``."""
    total = max(8, cfg.epochs * steps_per_epoch)  # one-cycle needs a few steps per phase
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total,
                                                   pct_start=0.25), True
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total), True
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0), False
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(cfg.milestones),
                                                gamma=cfg.gamma), False


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(),
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class MetricsWriter:
    """Appends one row per epoch to ``metrics.jsonl`` and rewrites ``metrics.csv``."""

    def __init__(self, out_dir: Path) -> None:
        self.jsonl, self.csv = out_dir / "metrics.jsonl", out_dir / "metrics.csv"

    def rows(self) -> list[dict[str, Any]]:
        if not self.jsonl.is_file():
            return []
        return [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]

    def append(self, row: Mapping[str, Any]) -> None:
        with self.jsonl.open("a") as f:
            f.write(json.dumps(dict(row)) + "\n")
        rows = self.rows()
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        with self.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)

    def drop_after(self, stage: str, epoch: int) -> None:
        """Forget rows of ``stage`` past ``epoch`` (written before an interruption)."""
        rows = [r for r in self.rows() if not (r.get("stage") == stage and r["epoch"] > epoch)]
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))


def fit(stage: Stage, batches: Any, run: RunContext,
        evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None) -> bool:
    """Train ``stage`` for ``stage.config.epochs`` epochs; ``True`` when it completed.

    ``batches`` has ``__iter__`` (``(images 0..255, labels or None)``), ``__len__`` and
    ``set_epoch``. ``evaluate(module)`` returns metrics added to the epoch's row (rank 0).
    """
    cfg, dist = stage.config, run.dist
    out = run.out_dir
    ckpt_path, final_path = out / f"{stage.name}.ckpt", out / f"{stage.name}.pt"
    metrics = MetricsWriter(out)
    if dist.main:
        out.mkdir(parents=True, exist_ok=True)
    barrier(dist)

    optimizer = _optimizer(stage.params, cfg)
    steps = len(batches)
    scheduler, per_iteration = _scheduler(optimizer, cfg, steps)
    start = 0
    if run.resume and ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        stage.module.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        _set_rng_state(ckpt["rng"])
        start = int(ckpt["epoch"])
        if dist.main:
            metrics.drop_after(stage.name, start)
        if ckpt.get("complete") and final_path.is_file():
            return True

    step_module: nn.Module = stage.step
    if dist.distributed:
        from torch.nn.parallel import DistributedDataParallel

        ids = [dist.device.index] if dist.device.type == "cuda" else None
        step_module = DistributedDataParallel(stage.step, device_ids=ids)

    from tqdm.auto import tqdm

    ran = 0
    for epoch in range(start, cfg.epochs):
        if run.stop_after_epochs and ran >= run.stop_after_epochs:
            return False
        batches.set_epoch(epoch)
        stage.train_mode()
        t0 = time.perf_counter()
        loss_sum = torch.zeros((), device=dist.device)
        correct = torch.zeros((), device=dist.device)
        seen = 0
        labelled = 0
        bar = tqdm(total=steps, desc=f"{stage.name} {epoch + 1}/{cfg.epochs}", leave=False,
                   disable=not run.show_progress(), dynamic_ncols=True)
        for i, (x, y) in enumerate(batches):
            x = run.prepare(x)
            with run.autocast():
                loss, logits = step_module(x, y)
            if i % 50 == 0 and not torch.isfinite(loss.detach()).all():
                raise FloatingPointError(f"{stage.name}: loss is {loss.item()} at epoch "
                                         f"{epoch + 1}, step {i + 1}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(stage.params, cfg.grad_clip)
            optimizer.step()
            if per_iteration:
                scheduler.step()
            loss_sum += loss.detach().float() * len(x)
            seen += len(x)
            if logits is not None and y is not None:
                correct += (logits.detach().argmax(1) == y).sum()
                labelled += len(y)
            if bar.n % 20 == 0 and not bar.disable:
                bar.set_postfix(loss=f"{loss.item():.4g}")
            bar.update(1)
        bar.close()
        lr = optimizer.param_groups[0]["lr"]
        if not per_iteration:
            scheduler.step()
        seconds = time.perf_counter() - t0
        mean_loss = all_reduce_mean(loss_sum / max(1, seen), dist)
        row: dict[str, Any] = {"stage": stage.name, "epoch": epoch + 1, "lr": lr,
                               "loss": float(mean_loss), "seconds": round(seconds, 3),
                               "images_per_s": round(seen * dist.world / max(seconds, 1e-9), 1)}
        if labelled:
            row["train_top1"] = float(all_reduce_mean(correct / labelled, dist))
        last = epoch + 1 == cfg.epochs
        if dist.main and evaluate is not None and (
                last or (run.eval_every and (epoch + 1) % run.eval_every == 0)):
            row.update(evaluate(stage.module))
            stage.train_mode()
        if not math.isfinite(row["loss"]):
            raise FloatingPointError(f"{stage.name}: loss is {row['loss']} after epoch {epoch + 1}")
        if dist.main:
            metrics.append(row)
            _atomic_save({"model": stage.module.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict(), "epoch": epoch + 1,
                          "rng": _rng_state(), "complete": last,
                          "config": vars(cfg)}, ckpt_path)
            if last:
                _atomic_save(stage.module.state_dict(), final_path)
            if not run.show_progress():
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                print(json.dumps(shown), file=sys.stderr, flush=True)
        barrier(dist)
        ran += 1
    if cfg.epochs == 0 and dist.main:
        _atomic_save(stage.module.state_dict(), final_path)
    return True
