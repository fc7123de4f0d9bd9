"""Learned initialisations, meta-trained (Reptile) on clips that are never scored, so that a clip's own fit might
need far fewer steps than from the random SIREN initialisation. Measured not to help (docs: fast fitting); kept as an
experiment, opt-in.

Reptile (Nichol et al. 2018) and not MAML: the inner loop is our own Adam training, batched over clips
(:class:`~siamese_siren.codec.train.StackedSiren`), and Reptile only needs its end point, while MAML differentiates
through the inner loop; ``benchmarks/fast_fit.py --meta-cost`` measures what that costs per meta-step.
The file it writes is :mod:`siamese_siren.codec.inits`'s.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siamese_siren.codec.inits import InitError, LearnedInit
from siamese_siren.codec.models import SiameseSiren, Variant, time_grid
from siamese_siren.codec.train import (
    StackedSiren,
    TrainConfig,
    check_finite,
    loss_function,
    pick_device,
    state_digest,
)
from siamese_siren.pipeline.datasets import snakemake_path
from siamese_siren.pipeline.plan import Plan


@dataclass(frozen=True)
class MetaConfig:
    """Reptile's settings. Each meta-step fits ``clips_at_once`` clips for ``inner_steps`` Adam steps from the
    current initialisation and moves it ``meta_lr`` of the way to their mean; ``meta_lr`` falls linearly to 0."""

    meta_steps: int = 40
    inner_steps: int = 50
    inner_lr: float = 1e-3
    meta_lr: float = 1.0
    clips_at_once: int = 4
    weight_decay: float = 0.0
    #: Meta-learn the final linear layers too. Off by default: clips share no waveform, so what Reptile moves the
    #: output layer towards is their average, silence; the sine layers, the frequencies a fit starts from, are what
    #: a learned start can share.
    learn_output: bool = False
    seed: int = 0
    device: str | None = None
    compile: bool = False

    def check(self) -> None:
        for key in ("meta_steps", "inner_steps", "clips_at_once"):
            if getattr(self, key) < 1:
                raise ValueError(f"meta-training: {key} must be >= 1, got {getattr(self, key)}")
        if not 0 < self.meta_lr <= 1:
            raise ValueError(f"meta-training: meta_lr must be in (0, 1], got {self.meta_lr}")


# ---- what a plan's meta-training job needs --------------------------------------------------------------------


def init_datasets(plan: Plan, init: str) -> list[str]:
    """The datasets an initialisation is meta-trained on (``inits.<name>.datasets``, default all)."""
    wanted = plan.config["inits"][init]["datasets"] or plan.datasets
    return [plan.known_dataset(f"inits.{init}.datasets", d) for d in wanted]


def windows(plan: Plan, manifest_rows: Callable[[str], list[dict[str, str]]], init: str) -> list[Window]:
    """The meta-training side of the split (:func:`training_windows`) of one initialisation, from the manifests of
    its datasets (``manifest_rows(dataset)``)."""
    params = meta_params(plan, init)
    manifests = {d: manifest_rows(d) for d in init_datasets(plan, init)}
    return training_windows(manifests, params["offset"], params["seconds"], params["clips"], params["seed"])


def window_sources(plan: Plan, manifest_rows: Callable[[str], list[dict[str, str]]], init: str) -> list[str]:
    """The files an initialisation's windows come from, as Snakemake inputs: a path with braces, which Snakemake
    would read as a wildcard, through a link beside the initialisation (:func:`snakemake_path`)."""
    links = Path(plan.layout.init(init).removesuffix(".init.pt") + ".links")
    sources = {w.source for w in windows(plan, manifest_rows, init)}
    return sorted(snakemake_path(s, links / (hashlib.sha256(s.encode()).hexdigest()[:16] + _plain_suffix(s)))
                  for s in sources)


def _plain_suffix(path: str) -> str:
    suffix = Path(path).suffix
    return suffix if suffix[1:].isalnum() else ""


def meta_params(plan: Plan, init: str) -> dict[str, Any]:
    """What meta-training an initialisation needs: its architecture, Reptile's settings, the split's draw."""
    spec, clip = plan.config["inits"][init], plan.config["clip"]
    meta = {k: spec[k] for k in ("meta_steps", "inner_steps", "inner_lr", "meta_lr", "clips_at_once", "seed",
                                 "compile", "learn_output")}
    meta["device"] = plan.config["training"]["device"]
    return {"variant": plan.init_variant(init).to_dict(), "meta": meta,
            "clips": spec["clips"], "seed": spec["seed"], "sample_rate": clip["sample_rate"],
            "offset": clip["offset"], "seconds": clip["seconds"]}


# ---- the training split ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """A clip-length stretch of one dataset file that meta-training may use."""

    dataset: str
    source: str
    offset: float


def training_windows(
    manifests: dict[str, Iterable[dict[str, str]]], offset: float, seconds: float, count: int, seed: int
) -> list[Window]:
    """``count`` clip-length windows (or all there are), drawn with ``seed``, from the manifests' files, none of
    which overlaps a scored clip: the split that keeps meta-training away from every clip the tables score.

    Candidates start every ``seconds`` from 0 in every usable file (selected or not); in a selected (scored) file
    the windows that overlap its clip ``[offset, offset + seconds)`` are left out. With a large dataset most
    windows come from files that are never scored; with a few shipped recordings they share recordings (speakers,
    instruments) with the scored clips, but never samples.
    """
    candidates = []
    for dataset, rows in manifests.items():
        for row in rows:
            if row["status"] == "skipped":
                continue
            duration, scored = float(row["duration"]), row["status"] == "selected"
            for start in np.arange(0.0, duration - seconds + 1e-9, seconds):
                if scored and start < offset + seconds and offset < start + seconds:
                    continue
                candidates.append(Window(dataset, row["source"], round(float(start), 6)))
    if not candidates:
        raise InitError(f"no window of {seconds:g} s outside the scored clips in datasets {list(manifests)}; "
                        "add audio files to those datasets or meta-train on another dataset (inits.<name>.datasets)")
    if count >= len(candidates):
        return candidates
    chosen = np.sort(np.random.default_rng(seed).choice(len(candidates), size=count, replace=False))
    return [candidates[i] for i in chosen]


# ---- meta-training -----------------------------------------------------------------------------------------


def reptile(
    variant: Variant, signals: Sequence[np.ndarray], config: MetaConfig = MetaConfig(), progress: bool = True
) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Meta-train an initialisation of ``variant`` on ``signals`` (equal-length clips). Returns its state and one
    record per meta-step: the mean loss of the batch at the start and at the end of its inner fit."""
    config.check()
    if len({len(s) for s in signals}) != 1:
        raise ValueError(f"meta-training clips must share one length, got {sorted({len(s) for s in signals})}")
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    template = SiameseSiren(variant)
    batch = min(config.clips_at_once, len(signals))
    model = StackedSiren(template, batch).to(device)
    init = [p.detach()[0].clone() for p in model.stacked]
    output = {id(p) for head in template.heads for p in _output_layer(head).parameters()}
    learned = [config.learn_output or id(p) not in output for p in template.parameters()]
    targets = torch.as_tensor(np.stack(signals).astype(np.float32), device=device).unsqueeze(2)
    inputs = template.to(device).encode_time(time_grid(targets.shape[1], device))
    step_fn = loss_function(model, TrainConfig(compile=config.compile))
    history = []
    for meta_step in range(config.meta_steps):
        picked = torch.as_tensor(rng.choice(len(signals), size=batch, replace=False), device=device)
        with torch.no_grad():
            for stacked, start in zip(model.stacked, init, strict=True):
                stacked.copy_(start.expand_as(stacked))
        optimizer = torch.optim.Adam(model.parameters(), lr=config.inner_lr, weight_decay=config.weight_decay)
        picked_targets = targets[picked]  # gathered once per meta-step, not once per inner step
        for inner in range(config.inner_steps):
            per_clip = step_fn(inputs, picked_targets)
            if inner == 0:
                first = per_clip.detach()
            optimizer.zero_grad(set_to_none=True)
            per_clip.sum().backward()
            optimizer.step()
        last = check_finite(per_clip, meta_step, [f"meta-step {meta_step}"] * batch, variant)
        step_size = config.meta_lr * (1 - meta_step / config.meta_steps)
        with torch.no_grad():
            for start, stacked, moves in zip(init, model.stacked, learned, strict=True):
                if moves:
                    start.add_(stacked.mean(dim=0) - start, alpha=step_size)
        history.append({"meta_step": meta_step + 1, "loss_start": float(first.mean()), "loss_end": last})
        if progress and (meta_step + 1) % 25 == 0:
            print(f"meta-step {meta_step + 1}/{config.meta_steps}: inner fit {history[-1]['loss_start']:.3e} -> "
                  f"{last:.3e}", flush=True)
    return {name: t.cpu().clone() for name, t in zip(model.names, init, strict=True)}, history


def _output_layer(head: torch.nn.Module) -> torch.nn.Module:
    """A head's final linear layer (a plain SIREN's one head is that layer)."""
    return head[-1] if isinstance(head, torch.nn.Sequential) else head


def meta_train(
    variant: Variant, signals: Sequence[np.ndarray], config: MetaConfig, provenance: dict | None = None,
    progress: bool = True,
) -> LearnedInit:
    """:func:`reptile`, timed, as a :class:`LearnedInit` whose provenance records the settings and the history."""
    start = time.perf_counter()
    state, history = reptile(variant, signals, config, progress)
    made = {"meta": asdict(config), "clips": len(signals), "wall_seconds": time.perf_counter() - start,
            "history": history, "torch": str(torch.__version__), **(provenance or {})}
    return LearnedInit(variant, state, state_digest(state), made)
