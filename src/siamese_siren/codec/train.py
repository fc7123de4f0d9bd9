"""Fitting one network to one clip: full-batch Adam on MSE of both heads, from a seeded random initialisation or a
learned one (:mod:`siamese_siren.codec.inits`), at a
constant learning rate (the paper's) or a warm-up + cosine schedule,
keeping the lowest-loss state or the final one (``TrainConfig.keep``)."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import platform
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from . import files, integrity
from .integrity import CacheContention
from .models import SiameseSiren, Variant, parameter_count, time_grid
from .quantize import SUPPORTED_BITS, fake_quantize

#: The authors' snapshot steps (Figure 6 and the metric-vs-step curves).
PAPER_SNAPSHOT_STEPS = (50, 100, 150, 250, 500, 1000, 2500, 5000, 10000)
#: What a training keeps (stores, quantizes, scores), snapshots included: the lowest-loss weights so far, or the
#: weights after the last update. The authors' sweep meant "best" but, keeping ``state_dict()`` without a copy,
#: evaluated "final": the paper's numbers are of final weights.
KEEP = ("best", "final")
#: Learning-rate schedules: the paper's constant rate, or a cosine decay to zero over the run; either may start
#: with a linear warm-up (``TrainConfig.warmup_steps``).
SCHEDULES = ("constant", "cosine")
#: Peak learning rate of quantization-aware fine-tuning (:func:`qat_config`): 3e-4 beat 1e-4 and 1e-3 (which
#: never improved on its start) on a paper-small clip at 6 and 4 bits (docs/experiments/bits.md).
QAT_LR = 3e-4
#: The share of a GPU's free memory that K stacked clips' estimated need (:func:`training_memory`) may take: the
#: rest is for what the estimate leaves out (cuBLAS workspaces, the caching allocator's fragmentation, its error).
MEMORY_MARGIN = 0.8

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


class TrainingOutOfMemory(RuntimeError):
    """A single clip does not fit in the device's memory (more clips at once are split: :func:`train_and_save`)."""


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
    #: Speed switches (docs/performance.md has their measured effect): torch.compile of the step, TF32 matmuls on
    #: CUDA, bf16 autocast of the forward pass.
    compile: bool = False
    tf32: bool = False
    bf16: bool = False
    keep: str = "best"  # one of KEEP
    schedule: str = "constant"  # one of SCHEDULES
    warmup_steps: int = 0
    #: Quantization-aware fine-tuning: the forward pass sees every weight rounded to this many bits (per output
    #: channel or per tensor) as the compressed file will store it
    #: (:func:`~siamese_siren.codec.quantize.fake_quantize`).
    qat_bits: int | None = None
    qat_per_channel: bool = False


def learning_rate_factor(step: int, steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """The multiple of ``lr`` used by update ``step`` (0-based) of a run of ``steps`` updates."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def check_recipe(config: TrainConfig, label: str = "training") -> None:
    """Every setting of ``config`` that can be wrong, checked before any work, naming the setting and the fix."""
    if config.steps < 1:
        raise ValueError(f"{label}: steps must be >= 1, got {config.steps}")
    if config.keep not in KEEP:
        raise ValueError(f"{label}: keep must be one of {KEEP}, got {config.keep!r}")
    if config.schedule not in SCHEDULES:
        raise ValueError(f"{label}: schedule must be one of {SCHEDULES}, got {config.schedule!r}")
    if not 0 <= config.warmup_steps < config.steps:
        raise ValueError(f"{label}: warmup_steps must be 0..steps-1 ({config.steps - 1}), got {config.warmup_steps}")
    if config.qat_bits is not None and config.qat_bits not in SUPPORTED_BITS:
        raise ValueError(f"{label}: qat_bits must be in 2..8 (the file's weight bits), got {config.qat_bits}")


@dataclass
class TrainResult:
    state: dict[str, torch.Tensor]  # the kept state (``TrainConfig.keep``), on the CPU
    best_step: int  # 0-based index of the step whose parameters gave the lowest loss
    best_loss: float
    losses: np.ndarray  # loss of every step, before its update
    #: Kept state at step s: the best of the first s steps, or the weights after s updates.
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    device: str = "cpu"
    keep: str = "best"
    #: How it was trained beyond the architecture: lr, schedule, warm-up, and the initialisation's digest or "random".
    recipe: dict = field(default_factory=dict)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """A short hash of a state dict's names, shapes and float32 values: how a learned initialisation is named."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().to(torch.float32).contiguous()
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]


@cache
def _say_no_cuda() -> None:
    # A log line, once per process: a warning printed its source line on every encode and training job.
    log.warning("no CUDA device: training on the CPU, which is orders of magnitude slower")


def pick_device(device: str | None = None) -> torch.device:
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    _say_no_cuda()
    return torch.device("cpu")


def training_memory(variant: Variant, samples: int, clips: int, keep: str = "best") -> int:
    """Estimated peak device bytes of training ``clips`` (K) stacked clips of ``samples`` (N) samples in float32::

        bytes = 4 x [ P x K x (6 + kept)     parameters, gradients, Adam's two moments, its foreach temporaries (2),
                                             and with keep="best" the kept copy (kept = 1)
                    + N x F                  the encoded time grid, shared by the clips
                    + N x K x (A + 3W + 48) ]

    per sample of each clip, with P the parameters of one network and F = 1 + 2 x pe_frequencies: A = 2 x the sum
    of the sine layers' widths (trunk once, each head): autograd keeps each sine's input (for its derivative) and
    its output (the next layer's input); 3W is the backward's working set at the widest layer W (incoming and
    outgoing gradients, the sine's derivative); 48 covers the heads' outputs and the loss terms (autograd's saved
    tensors measured on the CPU: A plus 22 to 46 floats per sample, tests/test_train.py). The activations dominate:
    a paper Siamese SIREN (2x256+1x128) on a 10 s clip at 22,050 Hz needs about 2.1 GB per clip.
    An estimate, not a measurement: bf16 autocast and torch.compile need less, and an out-of-memory error halves
    the clips at once anyway (:func:`train_and_save`).
    """
    sine_widths = sum(variant.hidden) + 2 * sum(variant.siam)
    per_sample = 2 * sine_widths + 3 * max(variant.hidden + variant.siam) + 48
    floats = (parameter_count(variant) * clips * (6 + (keep == "best")) + samples * variant.in_features
              + samples * clips * per_sample)
    return 4 * floats


def free_memory(device: torch.device) -> int | None:
    """Free bytes of a CUDA device; None on the CPU, where batches are not limited here (the OS decides)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return free


def clips_that_fit(variant: Variant, samples: int, clips_at_once: int, device: torch.device, keep: str = "best") -> int:
    """The largest K <= ``clips_at_once`` whose :func:`training_memory` fits :data:`MEMORY_MARGIN` of the device's
    free memory; ``clips_at_once`` on the CPU. At least 1: one clip is tried even when its estimate does not fit,
    as the estimate may be wrong, and only a real out-of-memory error stops the job."""
    free = free_memory(device)
    if free is None:
        return clips_at_once
    fit = clips_at_once
    while fit > 1 and training_memory(variant, samples, fit, keep) > MEMORY_MARGIN * free:
        fit -= 1
    return fit


def is_out_of_memory(err: BaseException) -> bool:
    """An allocation failure that fewer clips at once may avoid: CUDA's OutOfMemoryError, or a RuntimeError that
    says so (cuBLAS and cuDNN workspaces, other backends, the CPU allocator)."""
    if isinstance(err, TrainingOutOfMemory):
        return False
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    message = str(err).lower()
    return isinstance(err, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def single_clip_out_of_memory(variant: Variant, samples: int, device: torch.device, label: str,
                              keep: str = "best") -> TrainingOutOfMemory:
    """The error of one clip that does not fit, with the sizes that decide it."""
    free = free_memory(device)
    free_text = f"{free / 2**30:.2f} GiB free" if free is not None else "free memory not measured on the CPU"
    return TrainingOutOfMemory(
        f"{label}: out of memory on {device} training a single clip of {samples} samples with variant "
        f"{variant.name!r} ({parameter_count(variant)} parameters): it needs about "
        f"{training_memory(variant, samples, 1, keep) / 2**30:.2f} GiB (estimated), {free_text}; use shorter clips "
        "(clip.seconds), a smaller variant or a device with more memory"
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _FromEncoded(nn.Module):
    """A network called on already-encoded time, so training encodes its time grid once per job."""

    def __init__(self, net: SiameseSiren) -> None:
        super().__init__()
        self.net = net

    def forward(self, encoded: torch.Tensor) -> torch.Tensor:
        return self.net.forward_encoded(encoded)


class StackedSiren(nn.Module):
    """K independent copies of one ``SiameseSiren``, trained as one: every parameter is stacked along a leading
    clip axis and the network's own forward pass is vectorised over it (``torch.func.vmap``), so K small clips fill
    a GPU that one would leave idle.

    Adam and its weight decay act element by element and the loss is a sum of per-clip losses, so every clip sees
    exactly the gradients and optimizer state it would see alone: the result equals K separate trainings up to
    float rounding.
    """

    def __init__(self, template: SiameseSiren, copies: int, qat_bits: int | None = None,
                 qat_per_channel: bool = False) -> None:
        super().__init__()
        self.names = [name for name, _ in template.named_parameters()]
        self.qat = (qat_bits, qat_per_channel) if qat_bits is not None else None
        self.stacked = nn.ParameterList(
            [nn.Parameter(p.detach().expand(copies, *p.shape).clone()) for p in template.parameters()]
        )
        wrapped = _FromEncoded(template)
        one_clip = lambda params, x: functional_call(wrapped, params, (x,))  # noqa: E731
        self._batched = vmap(one_clip, in_dims=(0, None))

    def forward_encoded(self, encoded: torch.Tensor) -> torch.Tensor:
        """(N, features) encoded time -> (K, N, 2): both heads of every clip's network, trunk run once each."""
        params = {f"net.{name}": fake_quantize(p, *self.qat) if self.qat and name.endswith("weight") else p
                  for name, p in zip(self.names, self.stacked, strict=True)}
        return self._batched(params, encoded)

    def state_of(self, clip: int, tensors: list[torch.Tensor]) -> dict:
        """One clip's slice of stacked tensors, as a ``SiameseSiren`` state dict on the CPU."""
        return {name: t[clip].detach().cpu().clone() for name, t in zip(self.names, tensors, strict=True)}


class _BestState:
    """Each clip's lowest-loss parameters, kept on the device with ``torch.where``: no host sync per step."""

    def __init__(self, model: StackedSiren, losses: torch.Tensor) -> None:
        self.model = model
        self.params = list(model.stacked)
        self.kept = [p.detach().clone() for p in self.params]
        self.loss = torch.full_like(losses[0], float("inf"))

    @torch.no_grad()
    def update(self, per_clip: torch.Tensor) -> None:
        improved = per_clip < self.loss
        self.loss = torch.where(improved, per_clip, self.loss)
        for kept, current in zip(self.kept, self.params, strict=True):
            mask = improved.view(-1, *([1] * (current.dim() - 1)))
            kept.copy_(torch.where(mask, current, kept))

    def state(self, clip: int) -> dict:
        return self.model.state_of(clip, self.kept)


class _FinalState:
    """Each clip's current parameters: what the authors' code evaluated."""

    def __init__(self, model: StackedSiren) -> None:
        self.model = model

    def update(self, per_clip: torch.Tensor) -> None:
        pass

    def state(self, clip: int) -> dict:
        return self.model.state_of(clip, list(self.model.stacked))


def check_finite(per_clip: torch.Tensor, step: int, labels: list[str], variant: Variant) -> float:
    """The mean loss on the host (this syncs the device); a NaN/inf loss stops training naming its clip."""
    values = per_clip.detach().cpu().numpy()
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise TrainingDiverged(
            f"{labels[bad]}: loss became {values[bad]} at step {step} with variant {variant.name!r}; "
            "retry with another seed (training.seed or the variant's seed) or a lower learning rate"
        )
    return float(values.mean())


def train_batch(
    variant: Variant,
    signals: list[np.ndarray],
    config: TrainConfig = TrainConfig(),
    labels: list[str] | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> list[TrainResult]:
    """Fit one network per signal, all at once (see :class:`StackedSiren`); signals must share a length.

    Every network starts from the same initialisation: ``init`` (a learned one, a ``SiameseSiren(variant)`` state)
    or the seeded random one, as separate runs with the same seed would. With
    ``config.keep == "best"`` the best state of each clip is tracked on the device without reading losses back
    every step, so the GPU never waits for the host; ``labels`` name the clips in progress and error messages.

    Out of memory, a single clip raises :class:`TrainingOutOfMemory` with its sizes; several clips raise the
    device's own error, which :func:`train_and_save` answers by training fewer at once.
    """
    labels = labels or [f"clip {i}" for i in range(len(signals))]
    try:
        return _train_stacked(variant, signals, config, labels, init)
    except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
        if len(signals) == 1 and is_out_of_memory(err):
            raise single_clip_out_of_memory(variant, len(signals[0]), pick_device(config.device), labels[0],
                                            config.keep) from err
        raise


def _train_stacked(
    variant: Variant,
    signals: list[np.ndarray],
    config: TrainConfig,
    labels: list[str],
    init: dict[str, torch.Tensor] | None,
) -> list[TrainResult]:
    count = len(signals)
    check_recipe(config, labels[0])
    if len({len(s) for s in signals}) != 1:
        raise ValueError(f"clips trained together must have one length, got {sorted({len(s) for s in signals})}")
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    template = SiameseSiren(variant)
    if init is not None:
        template.load_state_dict(init)
    model = StackedSiren(template, count, config.qat_bits, config.qat_per_channel).to(device)
    targets = torch.as_tensor(np.stack(signals).astype(np.float32), device=device).unsqueeze(2)  # (K, N, 1)
    inputs = template.to(device).encode_time(time_grid(targets.shape[1], device))  # encoded once per job
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, config.steps, config.schedule, config.warmup_steps))
    step_fn = loss_function(model, config)
    losses = torch.empty(config.steps, count, device=device)
    kept = _BestState(model, losses) if config.keep == "best" else _FinalState(model)
    snapshot_steps = set(s for s in config.snapshot_steps if 0 < s <= config.steps)
    snapshots: list[dict[int, dict]] = [{} for _ in range(count)]

    _sync(device)
    start = time.perf_counter()
    desc = labels[0] if count == 1 else f"{count} clips"
    with tqdm(total=config.steps, desc=desc, disable=not config.progress, unit="step") as bar:
        for step in range(config.steps):
            per_clip = step_fn(inputs, targets)
            losses[step] = per_clip.detach()
            kept.update(per_clip.detach())
            optimizer.zero_grad(set_to_none=True)
            per_clip.sum().backward()
            optimizer.step()
            schedule.step()
            done = step + 1
            if done in snapshot_steps:
                for k in range(count):
                    snapshots[k][done] = kept.state(k)
            if done % config.check_every == 0 or done == config.steps:
                mean = check_finite(per_clip, step, labels, variant)
                bar.update(done - bar.n)
                # the loss is read on the host only every check_every steps (a device sync): say whose it is
                bar.set_postfix_str(f"loss {mean:.3e} at step {done}, shown every {config.check_every} steps")
    _sync(device)
    wall = time.perf_counter() - start
    all_losses = losses.cpu().numpy()
    recipe = {"lr": config.lr, "schedule": config.schedule, "warmup_steps": config.warmup_steps,
              "init": "random" if init is None else state_digest(init)}
    if config.qat_bits is not None:
        recipe["qat"] = {"bits": config.qat_bits, "per_channel": config.qat_per_channel}
    return [
        TrainResult(
            state=kept.state(k),
            best_step=int(np.argmin(all_losses[:, k])),
            best_loss=float(all_losses[:, k].min()),
            losses=all_losses[:, k].copy(),
            snapshots=snapshots[k],
            wall_seconds=wall / count,
            device=str(device),
            keep=config.keep,
            recipe=recipe,
        )
        for k in range(count)
    ]


def loss_function(model: StackedSiren, config: TrainConfig):
    """The forward pass and per-clip MSE, optionally under torch.compile, TF32 matmuls or bf16 autocast."""
    device_type = next(model.parameters()).device.type
    if device_type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = config.tf32

    def per_clip_loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=config.bf16):
            output = model.forward_encoded(inputs)
        return ((output.float() - targets) ** 2).mean(dim=(1, 2))  # MSE of both heads against the same target

    return torch.compile(per_clip_loss) if config.compile else per_clip_loss


def train(
    variant: Variant,
    signal: np.ndarray,
    config: TrainConfig = TrainConfig(),
    label: str = "clip",
    init: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Fit a ``SiameseSiren(variant)`` to ``signal`` (peak-normalised mono samples), from ``init`` if given."""
    return train_batch(variant, [signal], config, [label], init)[0]


def qat_config(base: TrainConfig, bits: int, per_channel: bool, steps: int, lr: float) -> TrainConfig:
    """The fine-tuning recipe of a file of ``bits`` weight bits: ``base``'s device and speed switches, ``steps``
    of Adam from ``lr`` decaying to 0 (cosine; a constant rate ended worse, docs/experiments/bits.md),
    keeping the best rounded network."""
    return dataclasses.replace(base, steps=steps, lr=lr, keep="best", schedule="cosine", warmup_steps=0,
                               snapshot_steps=(), qat_bits=bits, qat_per_channel=per_channel)


def finetune_quantized(
    variant: Variant,
    signals: dict[str, np.ndarray],
    states: dict[str, dict[str, torch.Tensor]],
    config: TrainConfig,
    directory: str | Path,
) -> None:
    """Quantization-aware fine-tuning: each named clip's trained network (``states``), trained on for
    ``config.steps`` with its weights rounded to ``config.qat_bits`` in the forward pass, written as a training's
    artifacts (:func:`save_result`) in ``directory``.

    With ``keep == "best"`` the kept float weights are those whose *rounded* network fitted best, and step 0 is
    the trained network itself, so the fine-tuned file is never worse than post-training quantization on the
    training loss. Each clip starts from its own weights, hence one clip at a time.
    """
    if config.qat_bits is None:
        raise ValueError("quantization-aware fine-tuning needs qat_bits (the bits of the file it prepares)")
    for name, signal in signals.items():
        save_result(train(variant, signal, config, label=name, init=states[name]), directory, name, variant)


def load_model(variant: Variant, state: dict[str, torch.Tensor]) -> SiameseSiren:
    """A model of ``variant`` carrying ``state`` (e.g. :attr:`TrainResult.state`), in eval mode on the CPU."""
    model = SiameseSiren(variant)
    model.load_state_dict(state)
    return model.eval()


def _torch_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_result(result: TrainResult, directory: str | Path, clip_id: str, variant: Variant) -> None:
    """Write one clip's training artifacts: ``{clip}.pt`` (the kept float weights of both heads),
    ``{clip}.snapshots.pt``, ``{clip}.loss.csv`` and ``{clip}.json`` (device, versions, wall time, and the size and
    SHA-256 of the three files before it: :mod:`siamese_siren.codec.integrity`).

    Each file is written atomically (:mod:`siamese_siren.codec.files`), so a killed job never leaves a truncated
    artifact; the record is written last and its digests catch one damaged afterwards.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    losses = io.StringIO()  # csv's own "\r\n" line ends, as a file opened with newline="" gets them
    writer = csv.writer(losses)
    writer.writerow(["step", "loss"])
    writer.writerows((i, f"{loss:.8g}") for i, loss in enumerate(result.losses.tolist()))
    payloads = {f"{clip_id}.pt": _torch_bytes(result.state), f"{clip_id}.snapshots.pt": _torch_bytes(result.snapshots),
                f"{clip_id}.loss.csv": losses.getvalue().encode()}
    for name, data in payloads.items():
        files.write_bytes(directory / name, data)
    meta = {
        "clip": clip_id,
        "variant": variant.to_dict(),
        "steps": len(result.losses),
        "keep": result.keep,
        "recipe": result.recipe,
        "best_step": result.best_step,
        "best_loss": result.best_loss,
        "wall_seconds": result.wall_seconds,
        "device": result.device,
        # The GPU the job was given (its slot, siamese_siren.pipeline.jobs, or a scheduler's); null when none was.
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "device_name": torch.cuda.get_device_name() if result.device.startswith("cuda") else platform.processor(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        integrity.FILES_KEY: {name: integrity.describe(data) for name, data in payloads.items()},
    }
    files.write_text(directory / f"{clip_id}.json", json.dumps(meta, indent=2))


def load_state(path: str | Path) -> dict:
    """Load saved weights (or snapshots) safely: tensors only, never arbitrary pickled code.

    The bytes are checked against the digest the clip's record beside them lists (:mod:`~siamese_siren.codec.
    integrity`; a file without a record, or whose record predates digests, is only loaded). A missing, truncated or
    damaged file raises :class:`~siamese_siren.codec.integrity.DamagedArtifact`: one line naming it and the fix.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise integrity.damaged(path, "is missing") from None
    integrity.check_bytes(path, data)
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ... on bad bytes
        raise integrity.damaged(path, f"cannot be loaded as weights ({integrity.short(err)})") from err


def read_losses(folders: Iterable[str | Path]) -> tuple[dict[tuple[str, str, str], np.ndarray],
                                                        dict[tuple[str, str, str], float]]:
    """The loss of every step and the wall seconds per step of every clip trained in ``folders``
    (``models/<dataset>/<variant>/<batch>``), keyed (dataset, variant, clip)."""
    losses, seconds = {}, {}
    for folder in map(Path, folders):
        dataset, variant = folder.parts[-3], folder.parts[-2]
        for curve in sorted(folder.glob("*.loss.csv")):
            clip = curve.name.removesuffix(".loss.csv")
            with curve.open(newline="") as f:
                losses[(dataset, variant, clip)] = np.array([float(row["loss"]) for row in csv.DictReader(f)])
            meta = json.loads((folder / f"{clip}.json").read_text())
            seconds[(dataset, variant, clip)] = meta["wall_seconds"] / meta["steps"]
    return losses, seconds


ARTIFACT_SUFFIXES = (".pt", ".snapshots.pt", ".loss.csv", ".json")  # .json is written last: it marks completion


def _cache_key(variant: Variant, config: TrainConfig, signal: np.ndarray, init: str) -> str:
    """What determines a clip's training result: architecture, every setting that changes it, the initialisation
    (``init``: a learned one's digest, or "random") and the audio."""
    settings = {k: getattr(config, k) for k in ("steps", "lr", "weight_decay", "seed", "compile", "tf32", "bf16",
                                                 "keep", "schedule", "warmup_steps", "qat_bits",
                                                 "qat_per_channel")}
    settings["snapshot_steps"] = sorted(config.snapshot_steps)
    settings["init"] = init
    digest = hashlib.sha256(json.dumps([variant.to_dict(), settings], sort_keys=True).encode())
    digest.update(np.ascontiguousarray(signal, dtype=np.float32).tobytes())
    return digest.hexdigest()[:20]


#: How many times :func:`train_and_save` trains again the clips whose cache entries vanished or changed while it
#: published them (another process using the same cache) before it gives up.
PUBLISH_ROUNDS = 3


def train_and_save(
    variant: Variant,
    signals: dict[str, np.ndarray],
    config: TrainConfig,
    directory: str | Path,
    label: str = "",
    clips_at_once: int = 1,
    cache: str | Path | None = None,
    init: dict[str, torch.Tensor] | None = None,
) -> list[str]:
    """Train one network per named signal, up to ``clips_at_once`` together, from ``init`` if given (else the
    seeded random initialisation), and write each clip's artifacts.

    On a GPU the clips at once are first lowered to what fits its free memory (:func:`clips_that_fit`), and an
    out-of-memory error halves them and trains that group again, down to one clip: batching is exact, so the
    results are those of ``clips_at_once``. Only a single clip that does not fit raises :class:`TrainingOutOfMemory`.

    With a ``cache`` folder, every finished group is kept there (keyed by architecture, settings and audio) before
    the job's output is assembled, so a job killed halfway redoes only its unfinished clips; the cache entries
    are removed once ``directory`` holds them. A finished clip (in the cache, or in ``directory`` without one) is
    reused only when its files match the digests its record lists (:mod:`~siamese_siren.codec.integrity`); a
    damaged one is trained again, with a warning. Another process using the same cache is tolerated: an entry
    that vanishes or changes while it is published is trained again, and every published clip is checked.
    Returns the clips that were actually trained.
    """
    directory = Path(directory)
    store = Path(cache) if cache is not None else directory
    init_id = "random" if init is None else state_digest(init)
    where = {name: store / f"{name}-{_cache_key(variant, config, signal, init_id)}" if cache is not None else directory
             for name, signal in signals.items()}
    trained: list[str] = []
    pending = list(signals)
    for attempt in range(PUBLISH_ROUNDS):
        todo = [n for n in pending if not _reusable(where[n], n, f"{label}{n}", cache is not None)]
        _train_groups(variant, {n: signals[n] for n in todo}, config, where, label, clips_at_once, init)
        trained += [n for n in todo if n not in trained]
        if cache is None:
            return trained
        directory.mkdir(parents=True, exist_ok=True)  # the job's output, even for no clip
        pending = [n for n in pending if not _publish(where[n], directory, n)]
        if not pending:
            break
        if attempt + 1 < PUBLISH_ROUNDS:
            log.warning("%s: the cache entries of %s vanished or changed while they were published (another run using "
                        "%s?): training them again", label.rstrip("/") or variant.name, ", ".join(pending), store)
    else:
        raise CacheContention(f"{label}{pending[0]}: its cache entry in {store} vanished or changed {PUBLISH_ROUNDS} "
                           "times while it was published: another run is using this results folder; let one run "
                           "finish, then run again")
    for name in signals:
        shutil.rmtree(where[name], ignore_errors=True)
    with contextlib.suppress(OSError):  # an empty cache folder is left to no one (another job may be using it)
        store.rmdir()
    return trained


def _train_groups(variant: Variant, signals: dict[str, np.ndarray], config: TrainConfig, where: dict[str, Path],
                  label: str, clips_at_once: int, init: dict[str, torch.Tensor] | None) -> None:
    """Train ``signals`` up to ``clips_at_once`` together (fewer where memory says so) and save each in its folder
    of ``where``."""
    todo = list(signals)
    device = pick_device(config.device)
    samples = max((len(signals[n]) for n in todo), default=0)
    size = clips_that_fit(variant, samples, clips_at_once, device, config.keep) if todo else clips_at_once
    if size < clips_at_once:
        log.warning("%s: %d clips of %d samples at once do not fit the free memory of %s (estimated): training %d at "
                    "once", label.rstrip("/") or variant.name, clips_at_once, samples, device, size)
    done = 0
    while done < len(todo):
        group = todo[done : done + size]
        try:
            results = train_batch(variant, [signals[n] for n in group], config, [f"{label}{n}" for n in group], init)
        except (torch.cuda.OutOfMemoryError, RuntimeError) as err:
            if not is_out_of_memory(err):
                raise
            if len(group) == 1:  # train_batch says so itself; a replaced one (tests) may not
                raise single_clip_out_of_memory(variant, len(signals[group[0]]), device, f"{label}{group[0]}",
                                                config.keep) from err
            size = len(group) // 2
            log.warning("%s%s: out of memory training %d clips at once on %s: training them %d at once",
                        label, group[0], len(group), device, size)
            continue
        for name, result in zip(group, results, strict=True):
            _save(result, where[name], name, variant)
        done += len(group)


def _save(result: TrainResult, folder: Path, name: str, variant: Variant) -> None:
    """:func:`save_result`, again when another process removed the cache entry's folder under it (it published an
    entry of the same key and cleaned up)."""
    for attempt in range(PUBLISH_ROUNDS):
        try:
            save_result(result, folder, name, variant)
            return
        except FileNotFoundError:
            if attempt + 1 == PUBLISH_ROUNDS:
                raise


def _loads_as_weights(path: Path) -> None:
    torch.load(path, map_location="cpu", weights_only=True)


def _reusable(folder: Path, name: str, label: str, cached: bool) -> bool:
    """Whether ``name``'s finished artifacts in ``folder`` can be reused: its record is there and every file matches
    it (:func:`~siamese_siren.codec.integrity.clip_problem`; a record without digests: its weights load). A damaged
    entry is said and removed (a cache entry) or overwritten (the output folder)."""
    if not (folder / f"{name}.json").exists():
        return False  # not finished: no news
    problem = integrity.clip_problem(folder, name, load=_loads_as_weights)
    if problem is None:
        return True
    path, what = problem
    log.warning("%s: a finished training %s is damaged (%s %s): training it again",
                label, "in the cache" if cached else "in the output folder", path, what)
    if cached:
        shutil.rmtree(folder, ignore_errors=True)
    return False


def _publish(entry: Path, directory: Path, name: str) -> bool:
    """Link a cache entry's artifacts into ``directory``, its record last, and check what ``directory`` then holds;
    False when the entry vanished or changed meanwhile (another process published and removed it, or wrote it again)
    and ``directory`` holds no sound copy."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for suffix in ARTIFACT_SUFFIXES:
            files.publish(entry / f"{name}{suffix}", directory / f"{name}{suffix}")
    except FileNotFoundError:
        pass  # checked below: another process may have published the same entry here
    return (directory / f"{name}.json").exists() and integrity.clip_problem(directory, name, load=None) is None
