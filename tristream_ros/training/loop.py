"""A small resumable training loop shared by the three phases.

    loop = TrainLoop(params, LoopConfig(steps=600, lr=1e-3), out_dir, name="phase2")
    loop.resume(modules)                          # no-op on a fresh run
    for step in loop:                             # tqdm bar; yields step numbers from the resume point
        losses = compute_losses(...)              # dict of scalar tensors, "total" is optimised
        loop.update(losses)
    loop.finish(modules)                          # final state + loss curves (PNG + JSON)

Resumable: every `save_every` steps the loop writes OUT/<name>_state.safetensors (module
weights and optimizer moments, safetensors only: nothing is ever unpickled) and
OUT/<name>_state.json (step, RNG seeds, loss history). `resume()` restores both, so an
interrupted run continues from its last save with the same learning-rate schedule.

The learning-rate schedule is a pure function (`lr_at`): linear warm-up, cosine decay to
`min_lr_ratio * lr`.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tristream_ros.errors import InputError, ModelFileError


@dataclass(frozen=True)
class LoopConfig:
    """steps: optimizer steps; lr: peak learning rate; warmup: linear warm-up steps;
    min_lr_ratio: the cosine ends at lr * min_lr_ratio; weight_decay: AdamW decay;
    grad_clip: max global grad norm (0 = off); save_every: steps between resumable saves;
    log_every: steps between loss-history entries (averaged over the interval)."""

    steps: int = 1000
    lr: float = 1e-3
    warmup: int = 50
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    save_every: int = 200
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise InputError(f"LoopConfig.steps={self.steps} must be >= 1")
        if self.lr <= 0:
            raise InputError(f"LoopConfig.lr={self.lr} must be > 0")
        if self.warmup < 0 or self.save_every < 1 or self.log_every < 1:
            raise InputError(f"LoopConfig warmup/save_every/log_every must be >= 0/1/1, got "
                             f"{self.warmup}/{self.save_every}/{self.log_every}")


def lr_at(step: int, cfg: LoopConfig) -> float:
    """Learning rate for optimizer step `step` (0-based): warm-up, then cosine decay."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    span = max(1, cfg.steps - cfg.warmup)
    progress = min(1.0, (step - cfg.warmup) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class TrainLoop:
    def __init__(self, params, cfg: LoopConfig, out_dir: str | Path, name: str, progress: bool = True):
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise InputError(f"{name}: nothing to train (no parameter requires grad)")
        self.cfg = cfg
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.progress = progress
        decay = [p for p in self.params if p.dim() >= 2]
        no_decay = [p for p in self.params if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
        self.step = 0
        self.history: list[dict] = []  # {"step": s, "loss": {...}, "lr": x, "seconds": t}
        self._acc: dict[str, list[float]] = {}
        self._t0 = time.perf_counter()
        self._seconds_before = 0.0  # wall-clock of earlier (resumed) sessions
        self._bar = None
        self._save_modules: dict[str, nn.Module] | None = None

    # -- paths -------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.out / f"{self.name}_state.safetensors"

    @property
    def meta_file(self) -> Path:
        return self.out / f"{self.name}_state.json"

    # -- iteration -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[int]:
        if self.progress:
            from tqdm import tqdm
            self._bar = tqdm(total=self.cfg.steps, initial=self.step, desc=self.name, unit="step",
                             dynamic_ncols=True, mininterval=2.0)
        while self.step < self.cfg.steps:
            yield self.step
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def update(self, losses: dict[str, torch.Tensor]) -> None:
        """Backward on losses["total"], clip, step with the scheduled learning rate."""
        total = losses["total"]
        if not torch.isfinite(total):
            raise FloatingPointError(f"{self.name}: non-finite loss at step {self.step}: "
                                     f"{ {k: float(v) for k, v in losses.items()} }")
        lr = lr_at(self.step, self.cfg)
        for g in self.opt.param_groups:
            g["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        if self.cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.grad_clip)
        self.opt.step()
        for k, v in losses.items():
            self._acc.setdefault(k, []).append(float(v.detach()) if isinstance(v, torch.Tensor) else float(v))
        self.step += 1
        if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
            entry = {"step": self.step, "lr": lr, "seconds": round(self.seconds, 2),
                     "loss": {k: float(np.mean(v)) for k, v in self._acc.items()}}
            self.history.append(entry)
            self._acc = {}
            if self._bar is not None:
                self._bar.set_postfix(loss=f"{entry['loss']['total']:.3f}", refresh=False)
        if self._bar is not None:
            self._bar.update(1)
        if self.step % self.cfg.save_every == 0 and self.step < self.cfg.steps and self._save_modules:
            self.save_state(self._save_modules)

    @property
    def seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._t0

    # -- persistence -----------------------------------------------------------------------------
    def save_state(self, modules: dict[str, nn.Module]) -> None:
        """Weights of `modules` + optimizer moments -> safetensors; step + history -> JSON."""
        tensors = {}
        for mname, mod in modules.items():
            for k, v in mod.state_dict().items():
                tensors[f"module.{mname}.{k}"] = v.detach().cpu().contiguous().clone()
        index = {id(p): i for i, p in enumerate(self.params)}
        for p, st in self.opt.state.items():
            i = index[id(p)]
            for k, v in st.items():
                t = v if isinstance(v, torch.Tensor) else torch.tensor(v)
                tensors[f"optim.{i}.{k}"] = t.detach().cpu().contiguous().clone()
        tmp = self.state_file.with_suffix(".tmp")
        save_file(tensors, str(tmp))
        tmp.replace(self.state_file)
        meta = {"step": self.step, "config": asdict(self.cfg), "history": self.history,
                "seconds": self.seconds, "python_random": random.getstate()[1][0],
                "torch_seed": int(torch.initial_seed())}
        self.meta_file.write_text(json.dumps(meta) + "\n")

    def attach(self, modules: dict[str, nn.Module]) -> None:
        """Modules saved by the periodic saves (and restored by resume)."""
        self._save_modules = modules

    def start(self, modules: dict[str, nn.Module], resume: bool) -> bool:
        """Attach `modules` for the periodic saves and, with `resume`, restore this loop's last
        save (True if there was one)."""
        if resume:
            return self.resume(modules)
        self.attach(modules)
        return False

    def resume(self, modules: dict[str, nn.Module]) -> bool:
        """Restore a previous save of this loop (same name, same out dir). False if none."""
        self.attach(modules)
        if not (self.state_file.is_file() and self.meta_file.is_file()):
            return False
        meta = json.loads(self.meta_file.read_text())
        tensors = load_file(str(self.state_file))
        for mname, mod in modules.items():
            prefix = f"module.{mname}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            missing = set(mod.state_dict()) - set(state)
            if missing:
                raise ModelFileError(f"{self.state_file}: no saved weights for {mname}: {sorted(missing)[:5]}")
            mod.load_state_dict(state)
        for i, p in enumerate(self.params):
            st = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"optim.{i}.")}
            if st:
                self.opt.state[p] = {k: (v if k != "step" else v.float()) for k, v in st.items()}
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))
        self._seconds_before = float(meta.get("seconds", 0.0))
        self._t0 = time.perf_counter()
        torch.manual_seed(int(meta.get("torch_seed", 0)) + self.step)
        random.seed(self.step)
        return True

    def finish(self, modules: dict[str, nn.Module] | None = None) -> dict:
        """Final save (if modules given), loss history JSON and a PNG of the curves."""
        if modules is not None:
            self.save_state(modules)
        (self.out / f"{self.name}_losses.json").write_text(json.dumps(self.history) + "\n")
        plot_losses(self.history, self.out / f"{self.name}_loss.png", title=self.name)
        return {"steps": self.step, "seconds": round(self.seconds, 1),
                "final_loss": self.history[-1]["loss"] if self.history else {}}


def plot_losses(history: list[dict], path: str | Path, title: str = "") -> Path | None:
    """One line per loss term against the step (log y), saved as PNG."""
    if not history:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    keys = sorted({k for h in history for k in h["loss"]})
    fig, ax = plt.subplots(figsize=(7, 4), dpi=80)
    for k in keys:
        ys = [h["loss"].get(k, float("nan")) for h in history]
        ax.plot(steps, [max(y, 1e-4) for y in ys], label=k, linewidth=2.0 if k == "total" else 1.0)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
