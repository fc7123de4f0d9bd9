"""Fitting one network to one clip: full-batch Adam on MSE of both heads, keeping the lowest-loss state."""

from __future__ import annotations

import csv
import json
import platform
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .models import SiameseSiren, Variant, time_grid

#: The authors' snapshot steps (Figure 6 and the metric-vs-step curves).
PAPER_SNAPSHOT_STEPS = (50, 100, 150, 250, 500, 1000, 2500, 5000, 10000)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2500
    lr: float = 1e-4
    weight_decay: float = 1e-5
    seed: int = 0
    snapshot_steps: tuple[int, ...] = ()
    device: str | None = None  # None: CUDA when present, else CPU
    progress: bool = True
    #: How often the loss is read on the host (progress bar, divergence check); reading it forces a device sync.
    check_every: int = 50


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]  # the lowest-loss state, on the CPU
    best_step: int  # 0-based index of the step whose parameters gave the lowest loss
    best_loss: float
    losses: np.ndarray  # loss of every step, before its update
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # best state of the first s steps
    wall_seconds: float = 0.0
    device: str = "cpu"


def pick_device(device: str | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    warnings.warn("no CUDA device: training on the CPU, which is orders of magnitude slower", stacklevel=3)
    return torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train(
    variant: Variant, signal: np.ndarray, config: TrainConfig = TrainConfig(), label: str = "clip"
) -> TrainResult:
    """Fit a fresh ``SiameseSiren(variant)`` to ``signal`` (peak-normalised mono samples).

    The best state is tracked on the device without reading the loss back every step, so the GPU never waits
    for the host. ``label`` names the clip in error messages.
    """
    if config.steps < 1:
        raise ValueError(f"{label}: steps must be >= 1, got {config.steps}")
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = SiameseSiren(variant).to(device)
    target = torch.as_tensor(np.asarray(signal, dtype=np.float32), device=device).reshape(-1, 1)
    inputs = model.encode_time(time_grid(len(target), device))  # encoded once, reused every step
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    params = list(model.parameters())
    best = [p.detach().clone() for p in params]
    best_loss = torch.tensor(float("inf"), device=device)
    best_step = torch.tensor(0, device=device)
    losses = torch.empty(config.steps, device=device)
    snapshot_steps = sorted(s for s in set(config.snapshot_steps) if 0 < s <= config.steps)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    names = [name for name, _ in model.named_parameters()]

    def state_of(tensors: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: t.detach().cpu().clone() for name, t in zip(names, tensors, strict=True)}

    _sync(device)
    start = time.perf_counter()
    with tqdm(total=config.steps, desc=label, disable=not config.progress, unit="step") as bar:
        for step in range(config.steps):
            output = model.forward_encoded(inputs)
            loss = F.mse_loss(output, target.expand_as(output))
            with torch.no_grad():
                losses[step] = loss
                improved = loss < best_loss
                best_loss = torch.where(improved, loss, best_loss)
                best_step = torch.where(improved, step, best_step)
                for kept, current in zip(best, params, strict=True):
                    kept.copy_(torch.where(improved, current, kept))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done = step + 1
            if done in snapshot_steps:
                snapshots[done] = state_of(best)
            if done % config.check_every == 0 or done == config.steps:
                value = float(loss.detach())
                if not np.isfinite(value):
                    raise TrainingDiverged(
                        f"{label}: loss became {value} at step {step} with variant {variant.name!r}; "
                        "retry with another seed or a lower learning rate"
                    )
                bar.update(done - bar.n)
                bar.set_postfix(loss=f"{value:.3e}")
    _sync(device)
    wall = time.perf_counter() - start
    return TrainResult(
        state=state_of(best),
        best_step=int(best_step),
        best_loss=float(best_loss),
        losses=losses.cpu().numpy(),
        snapshots=snapshots,
        wall_seconds=wall,
        device=str(device),
    )


def load_model(variant: Variant, state: dict[str, torch.Tensor]) -> SiameseSiren:
    """A model of ``variant`` carrying ``state`` (e.g. :attr:`TrainResult.state`), in eval mode on the CPU."""
    model = SiameseSiren(variant)
    model.load_state_dict(state)
    return model.eval()


def save_result(result: TrainResult, directory: str | Path, clip_id: str, variant: Variant) -> None:
    """Write one clip's training artifacts: ``{clip}.pt`` (best float weights of both heads),
    ``{clip}.snapshots.pt``, ``{clip}.loss.csv`` and ``{clip}.json`` (device, versions, wall time).

    Each file is written to a temporary name and renamed, so a killed job never leaves a truncated artifact.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def atomic(name: str, write) -> None:
        tmp = directory / f".{name}.tmp"
        write(tmp)
        tmp.replace(directory / name)

    atomic(f"{clip_id}.pt", lambda p: torch.save(result.state, p))
    atomic(f"{clip_id}.snapshots.pt", lambda p: torch.save(result.snapshots, p))

    def write_losses(p: Path) -> None:
        with open(p, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["step", "loss"])
            writer.writerows((i, f"{loss:.8g}") for i, loss in enumerate(result.losses.tolist()))

    atomic(f"{clip_id}.loss.csv", write_losses)
    meta = {
        "clip": clip_id,
        "variant": variant.to_dict(),
        "steps": len(result.losses),
        "best_step": result.best_step,
        "best_loss": result.best_loss,
        "wall_seconds": result.wall_seconds,
        "device": result.device,
        "device_name": torch.cuda.get_device_name() if result.device.startswith("cuda") else platform.processor(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    atomic(f"{clip_id}.json", lambda p: p.write_text(json.dumps(meta, indent=2)))


def load_state(path: str | Path) -> dict:
    """Load saved weights (or snapshots) safely: tensors only, never arbitrary pickled code."""
    return torch.load(path, map_location="cpu", weights_only=True)


def train_and_save(
    variant: Variant, signals: dict[str, np.ndarray], config: TrainConfig, directory: str | Path, label: str = ""
) -> None:
    """Train one network per named signal and save each as soon as it is done (see :func:`save_result`)."""
    for clip_id, signal in signals.items():
        result = train(variant, signal, config, label=f"{label}{clip_id}")
        save_result(result, directory, clip_id, variant)
