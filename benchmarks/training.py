"""Training speed, measured side by side in one run; prints ratios, never asserts a time.

    python benchmarks/training.py                # CPU: small sizes, a few seconds per measurement
    python benchmarks/training.py --paper        # paper sizes (10 s clips, 2500 steps on CUDA)

1. one training step of our Siamese SIREN (trunk once) vs the same network with the trunk run once per head
   (the authors' structure), same weights and outputs;
2. K clips trained as one batched network vs the same K clips one after another;
3. on CUDA: seconds per clip for full-batch training of each paper variant, achieved TFLOP/s, the fraction of
   the device's peak, peak GPU memory per clip; the compile/TF32/bf16 switches with their quality effect;
4. the workflow's own overhead: wall time of a small Snakemake run vs the sum of its training times;
5. ``--cpu-setups``: the ways to train profiles/paper-small's networks on a CPU (widths x5/16, 1.1 s clips), side
   by side: threads, clips batched, torch.compile, and widths that are or are not a multiple of 8.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from siamese_siren.codec.audio import load_clip
from siamese_siren.codec.bitstream import layer_shapes
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Variant, time_grid
from siamese_siren.codec.train import TrainConfig, train, train_batch

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "resources" / "audio" / "speech_librivox_0870.flac"
#: Dense bf16/TF32 peak without sparsity, for the fraction-of-peak figure (FP32 without tensor cores in brackets).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "RTX 4090": 165.0}


def step_flops(variant: Variant, points: int) -> float:
    """Forward + backward FLOP of one full-batch step: about 3 x (2 x points x weights), trunk counted once."""
    return 6.0 * points * sum(out * inp for out, inp in layer_shapes(variant))


def timed(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def trunk_once_vs_per_head(variant: Variant, points: int, device: torch.device, repeats: int) -> None:
    torch.manual_seed(0)
    model = SiameseSiren(variant).to(device)
    x = model.encode_time(time_grid(points, device))
    target = torch.randn(points, 1, device=device)

    def authors_forward(encoded: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(model.trunk(encoded)) for head in model.heads], dim=1)  # trunk once per head

    with torch.no_grad():
        assert torch.allclose(authors_forward(x), model.forward_encoded(x), atol=1e-6), "structures disagree"

    def step(forward):
        def run():
            out = forward(x)
            model.zero_grad(set_to_none=True)
            F.mse_loss(out, target.expand_as(out)).backward()

        return run

    ours = timed(step(model.forward_encoded), repeats, device)
    theirs = timed(step(authors_forward), repeats, device)
    print(f"[1] {variant.label} on {points} points, {device.type}: trunk once {ours * 1e3:.1f} ms/step, "
          f"once per head {theirs * 1e3:.1f} ms/step -> {theirs / ours:.2f}x")


def batched_vs_sequential(variant: Variant, signal: np.ndarray, clips: int, steps: int, device: str) -> None:
    signals = [np.roll(signal, 97 * k) for k in range(clips)]
    config = TrainConfig(steps=steps, progress=False, device=device)
    start = time.perf_counter()
    for s in signals:
        train(variant, s, config)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    train_batch(variant, signals, config)
    batched = time.perf_counter() - start
    print(f"[2] {clips} clips x {steps} steps of {variant.label} on {len(signal)} points, {device}: "
          f"sequential {sequential:.2f} s, batched {batched:.2f} s -> {sequential / batched:.2f}x")


def cuda_variants(signal: np.ndarray, steps: int, clips: int) -> None:
    name = torch.cuda.get_device_name()
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    print(f"[3] {name}; {clips} clips per batch, {steps} steps, {len(signal)} points")
    for variant_name in ("original-siren", "optimized-siren", "siamese-siren", "siamese-2x128+1x64",
                         "siamese-2x64+1x32"):
        variant = VARIANTS[variant_name]
        torch.cuda.reset_peak_memory_stats()
        results = train_batch(variant, [signal] * clips, TrainConfig(steps=steps, progress=False))
        per_clip = results[0].wall_seconds
        tflops = step_flops(variant, len(signal)) * steps / per_clip / 1e12
        share = f", {tflops / peak:.1%} of the {peak:.0f} TFLOP/s peak" if peak else ""
        memory = torch.cuda.max_memory_allocated() / clips / 2**30
        print(f"    {variant_name:22s} {per_clip:6.2f} s/clip, {tflops:6.1f} TFLOP/s{share}, {memory:.2f} GiB/clip, "
              f"best loss {np.mean([r.best_loss for r in results]):.3e}")


def switches(signal: np.ndarray, steps: int, clips: int, device: str) -> None:
    variant = VARIANTS["siamese-siren"]
    base = None
    for label, extra in [("fp32", {}), ("tf32", {"tf32": True}), ("bf16", {"bf16": True}),
                         ("compile", {"compile": True})]:
        config = TrainConfig(steps=steps, progress=False, device=device, **extra)
        if extra.get("compile"):
            train_batch(variant, [signal] * clips, TrainConfig(steps=2, progress=False, device=device, compile=True))
        results = train_batch(variant, [signal] * clips, config)
        seconds = results[0].wall_seconds
        loss = float(np.mean([r.best_loss for r in results]))
        base = base or (seconds, loss)
        print(f"[3] switch {label:8s} {seconds:6.2f} s/clip ({base[0] / seconds:.2f}x), best loss {loss:.3e} "
              f"({loss / base[1]:.2f}x fp32's)")


def workflow_overhead() -> None:
    with tempfile.TemporaryDirectory() as results:
        config = ROOT / "tests" / "workflow" / "config.yaml"
        targets = [f"{results}/models/speech/{v}/b0000" for v in ("t-pe-siren", "t-siamese-siren")]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--quiet", "all",
                        "--configfile", str(config), "--config", f"results={results}"], cwd=ROOT, check=True,
                       capture_output=True)
        wall = time.perf_counter() - start
        trained = sum(json.loads(p.read_text())["wall_seconds"] for p in Path(results, "models").rglob("*.json"))
        print(f"[4] workflow: prepare+train of 2 variants took {wall:.1f} s wall for {trained:.2f} s of "
              f"training -> overhead {wall - trained:.1f} s ({wall / max(trained, 1e-9):.0f}x the training time)")


def cpu_setups(steps: int) -> None:
    """ms per training step per clip of paper-small's Siamese SIREN (2x80+1x40) and its unaligned twin (2x77+1x38,
    a plain 0.3 of the widths) on 1.1 s of speech, for each CPU setup; the profile uses the fastest per core."""
    signal = load_clip(SPEECH, duration=1.1).samples
    base = None
    print(f"[5] CPU setups, {steps} steps on {len(signal)} points (ms per step per clip; core-ms = ms x threads)")
    for widths in ((80, 40), (77, 38)):
        variant = Variant((widths[0],) * 2, (widths[1],), name=f"{widths}")
        for threads, clips, compiled in ((1, 1, False), (2, 1, False), (1, 4, False), (2, 4, False), (1, 1, True),
                                         (1, 4, True), (2, 1, True)):
            torch.set_num_threads(threads)
            config = TrainConfig(steps=steps, progress=False, device="cpu", compile=compiled)
            if compiled:  # compilation happens once per job; not part of the per-step figure
                train_batch(variant, [signal] * clips, TrainConfig(steps=2, progress=False, device="cpu",
                                                                    compile=True))
            start = time.perf_counter()
            train_batch(variant, [signal] * clips, config)
            ms = (time.perf_counter() - start) / steps / clips * 1e3
            base = base or ms * threads
            print(f"    {variant.label:10s} threads {threads} clips {clips} compile {compiled!s:5s}: {ms:6.1f} ms, "
                  f"{ms * threads:6.1f} core-ms ({base / (ms * threads):.2f}x the first line per core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true", help="paper sizes: 10 s clips, 2500 steps")
    parser.add_argument("--skip-workflow", action="store_true")
    parser.add_argument("--cpu-setups", action="store_true", help="only [5], the CPU setups of profiles/paper-small")
    args = parser.parse_args()
    if args.cpu_setups:
        cpu_setups(steps=100)
        return
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    seconds = 10.0 if args.paper else 1.0
    signal = load_clip(SPEECH, duration=seconds).samples
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads")

    trunk_once_vs_per_head(VARIANTS["siamese-siren"], len(signal), device, repeats=5 if cuda else 2)
    if cuda:
        batched_vs_sequential(VARIANTS["siamese-siren"], signal, clips=8, steps=100, device="cuda")
        cuda_variants(signal, steps=2500 if args.paper else 300, clips=8)
        switches(signal, steps=2500 if args.paper else 300, clips=8, device="cuda")
    else:
        print("[3] skipped: no CUDA device")
    small = load_clip(SPEECH, duration=0.5).samples
    batched_vs_sequential(VARIANTS["siamese-2x64+1x32"], small, clips=4, steps=30, device=str(device))
    if not args.skip_workflow:
        workflow_overhead()


if __name__ == "__main__":
    main()
