"""Every GPU figure of the README in one run: training speed and memory, CDPAM speed, and the workflow end to end.

    python benchmarks/gpu_check.py                 # on a GPU (bash benchmarks/gpu_check.sh calls this)
    python benchmarks/gpu_check.py --cpu-smoke     # the same stages, tiny, on the CPU (the test suite runs it)

Writes ``<out>/summary.json`` and ``<out>/summary.md`` (default ``results/gpu-check``); the README's GPU table is
made from the Markdown. Stages, each timed on its own:

1. training: for each Table 1 variant at K = 1, 8 and 32 clips trained at once (one network of K stacked clips,
   as the workflow trains them), seconds per clip for the paper's 2,500 steps (measured over 60 steps after a
   warm-up, scaled), achieved TFLOP/s and the fraction of the device's peak, peak memory per clip; the switches
   (tf32, bf16, compile) against fp32, speed and the loss reached in 500 steps; and the largest K that fits the
   free memory (the workflow's own estimate, then confirmed by training it for two steps);
2. CDPAM: seconds per 10 s (reference, reconstruction) pair, batched on the device as the evaluate jobs do;
3. the workflow: a real Snakemake run of Table 1 (the paper's four Table 1 variants, full size, 2,500 steps,
   ``keep: final`` as config/paper.yaml) on the shipped recordings, its wall time, the training time inside it,
   and what the workflow adds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from siamese_siren.codec import files
from siamese_siren.codec.audio import load_clip
from siamese_siren.codec.bitstream import layer_shapes
from siamese_siren.codec.models import VARIANTS, Variant
from siamese_siren.codec.train import TrainConfig, clips_that_fit, free_memory, train_batch

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "resources" / "audio"
SPEECH = AUDIO / "speech_librivox_0870.flac"
MUSIC = AUDIO / "music_sonicpi_guit_em9.flac"
TABLE1 = ("original-siren", "pe-siren", "optimized-siren", "siamese-siren")
PAPER_STEPS = 2500
#: Dense bf16/TF32 tensor-core peak without sparsity, TFLOP/s: what "fraction of peak" divides by.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "RTX 4090": 165.0}


class Scale:
    """What one mode measures: the paper's sizes on a GPU, or tiny sizes on the CPU that only prove it runs."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        self.device = torch.device("cpu" if smoke else "cuda")
        self.seconds = 0.25 if smoke else 10.0
        self.steps = 3 if smoke else 60
        self.switch_steps = 3 if smoke else 500
        self.clips_at_once = (1, 2) if smoke else (1, 8, 32)
        self.cdpam_pairs = 1 if smoke else 16
        self.cdpam_seconds = 1.0 if smoke else 10.0


def step_flops(variant: Variant, points: int) -> float:
    """Forward + backward FLOP of one full-batch step: about 3 x (2 x points x weights), the trunk counted once."""
    return 6.0 * points * sum(out * inp for out, inp in layer_shapes(variant))


def device_facts(scale: Scale) -> dict:
    facts = {"torch": torch.__version__, "python": platform.python_version(), "device": str(scale.device),
             "commit": _commit()}
    if scale.device.type == "cuda":
        props = torch.cuda.get_device_properties(scale.device)
        facts |= {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                  "peak_tflops": next((v for k, v in PEAK_TFLOPS.items() if k in props.name), None)}
    else:
        facts |= {"name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    return facts


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def training_rows(scale: Scale, peak: float | None) -> list[dict]:
    """Seconds per clip for 2,500 steps, TFLOP/s and memory per clip, per Table 1 variant and clips at once."""
    signal = load_clip(SPEECH, duration=scale.seconds).samples
    rows = []
    for name in TABLE1:
        variant = VARIANTS[name]
        train_batch(variant, [signal], TrainConfig(steps=2, progress=False, device=str(scale.device)))  # warm-up
        for k in scale.clips_at_once:
            if scale.device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            _sync(scale.device)
            start = time.perf_counter()
            train_batch(variant, [signal] * k, TrainConfig(steps=scale.steps, progress=False,
                                                           device=str(scale.device)))
            _sync(scale.device)
            per_step_per_clip = (time.perf_counter() - start) / scale.steps / k
            tflops = step_flops(variant, len(signal)) / per_step_per_clip / 1e12
            row = {"variant": name, "label": variant.label, "clips_at_once": k,
                   "seconds_per_clip": round(per_step_per_clip * PAPER_STEPS, 3), "tflops": round(tflops, 2),
                   "fraction_of_peak": round(tflops / peak, 4) if peak else None}
            if scale.device.type == "cuda":
                row["gib_per_clip"] = round(torch.cuda.max_memory_allocated() / k / 2**30, 3)
            rows.append(row)
            print(f"training {name:16s} K={k:<3d} {row['seconds_per_clip']:8.2f} s/clip for {PAPER_STEPS} steps, "
                  f"{tflops:7.2f} TFLOP/s", flush=True)
    return rows


def switch_rows(scale: Scale) -> list[dict]:
    """The training switches (docs/performance.md) against fp32 on Siamese SIREN: speed, and the loss they reach in
    the same steps (sin(100 x) amplifies rounding, so a faster switch may cost quality)."""
    signal = load_clip(SPEECH, duration=scale.seconds).samples
    variant = VARIANTS["siamese-siren"]
    k, steps = scale.clips_at_once[-1] // 4 or 1, scale.switch_steps
    rows, base = [], None
    for label, switch in (("fp32", {}), ("tf32", {"tf32": True}), ("bf16", {"bf16": True}),
                          ("compile", {"compile": True})):
        config = TrainConfig(steps=steps, progress=False, device=str(scale.device), **switch)
        train_batch(variant, [signal] * k, dataclasses.replace(config, steps=2))  # warm-up, and compilation
        _sync(scale.device)
        start = time.perf_counter()
        results = train_batch(variant, [signal] * k, config)
        _sync(scale.device)
        seconds = (time.perf_counter() - start) / steps / k * PAPER_STEPS
        loss = float(np.mean([r.best_loss for r in results]))
        base = base or (seconds, loss)
        rows.append({"switch": label, "clips_at_once": k, "steps": steps, "seconds_per_clip": round(seconds, 3),
                     "speed_vs_fp32": round(base[0] / seconds, 3), "best_loss": loss,
                     "loss_vs_fp32": round(loss / base[1], 4)})
        print(f"switch {label:8s} {seconds:8.2f} s/clip for {PAPER_STEPS} steps ({base[0] / seconds:.2f}x fp32), "
              f"best loss after {steps} steps {loss:.3e} ({loss / base[1]:.3f}x fp32's)", flush=True)
    return rows


def largest_batches(scale: Scale) -> list[dict]:
    """The largest K the workflow's memory estimate lets one job train at once, confirmed by two steps of it."""
    if scale.device.type != "cuda":
        return [{"variant": name, "largest_k": None, "confirmed": None,
                 "why": "not limited on the CPU (see siamese_siren.codec.train.clips_that_fit)"} for name in TABLE1]
    signal = load_clip(SPEECH, duration=scale.seconds).samples
    rows = []
    for name in TABLE1:
        variant = VARIANTS[name]
        torch.cuda.empty_cache()
        k = clips_that_fit(variant, len(signal), 4096, scale.device)
        try:
            train_batch(variant, [signal] * k, TrainConfig(steps=2, progress=False, device="cuda"))
            confirmed = True
        except torch.cuda.OutOfMemoryError:
            confirmed = False
        rows.append({"variant": name, "largest_k": k, "confirmed": confirmed,
                     "free_gib": round((free_memory(scale.device) or 0) / 2**30, 1)})
        print(f"largest K {name:16s} {k} ({'trained' if confirmed else 'OUT OF MEMORY'})", flush=True)
    return rows


def cdpam_row(scale: Scale) -> dict:
    """Seconds per pair of CDPAM on the device, batched as the evaluate jobs batch it; the model load apart."""
    from siamese_siren.metrics.cdpam import cdpam_distances

    rate = 22050
    reference = load_clip(MUSIC, rate, duration=scale.cdpam_seconds).samples
    noise = np.random.default_rng(0).normal(0, 0.01, (scale.cdpam_pairs, len(reference))).astype(np.float32)
    pairs = [(reference, reference + n) for n in noise]
    start = time.perf_counter()
    # loads the model; other signals than those timed, as embeddings are cached by content
    cdpam_distances([(0.5 * reference, 0.4 * reference)], rate, device=str(scale.device))
    first = time.perf_counter() - start
    _sync(scale.device)
    start = time.perf_counter()
    cdpam_distances(pairs, rate, device=str(scale.device))
    _sync(scale.device)
    per_pair = (time.perf_counter() - start) / len(pairs)
    print(f"cdpam {per_pair:.3f} s per {scale.cdpam_seconds:g} s pair ({len(pairs)} pairs), first call {first:.1f} s",
          flush=True)
    return {"pairs": len(pairs), "pair_seconds": scale.cdpam_seconds, "seconds_per_pair": round(per_pair, 4),
            "first_call_seconds": round(first, 2)}


def workflow_row(scale: Scale, out: Path, timeout: float) -> dict:
    """Table 1 through the real Snakemake; the training seconds inside it come from each clip's ``.json``."""
    results = out / "workflow"
    work = out / "workflow-workdir"  # Snakemake's bookkeeping, outside the repository
    work.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "resources"):
        if not (work / name).exists():
            (work / name).symlink_to(ROOT / name)
    override = out / "workflow.yaml"  # config/paper.yaml's training, on config.yaml's shipped recordings
    settings = {"results": str(results), "training": {"keep": "final"}}
    if scale.smoke:  # the test config's tiny Table 1, on speech only
        settings["datasets"] = {"music": None}
    files.write_text(override, yaml.safe_dump(settings))
    configs = [ROOT / "tests" / "workflow" / "config.yaml", override] if scale.smoke else [override]
    cores = "2" if scale.smoke else "16"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), str(results / "tables" /
           "table1.md"), "--quiet", "all", "--cores", cores, "--resources", "gpu=1", "--configfile",
           *map(str, configs)]
    start = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout)
        finished = done.returncode == 0
        why = "" if finished else (done.stderr or done.stdout).strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        finished, why = False, f"not finished in {timeout:.0f} s"
    wall = time.perf_counter() - start
    clips = [json.loads(p.read_text()) for p in (results / "models").rglob("*.json")] if results.exists() else []
    training = sum(c["wall_seconds"] for c in clips)
    row = {"finished": finished, "why": why, "wall_seconds": round(wall, 1), "clips_trained": len(clips),
           "training_seconds": round(training, 1), "outside_training_seconds": round(wall - training, 1),
           "command": " ".join(cmd[2:])}
    print(f"workflow: Table 1 {'done' if finished else 'NOT DONE'} in {wall:.1f} s wall, {len(clips)} clip trainings "
          f"took {training:.1f} s", flush=True)
    return row


def markdown(summary: dict) -> str:
    facts = summary["device"]
    lines = [f"# GPU check: {facts['name']} ({'CPU smoke run' if summary['smoke'] else 'paper sizes'})", "",
             f"torch {facts['torch']}, commit {facts['commit']}, {summary['date']}; total {summary['wall_seconds']} s.",
             "", f"## Training ({PAPER_STEPS} steps, {summary['clip_seconds']:g} s clip; measured over "
             f"{summary['steps_measured']} steps)", "",
             "| variant | clips at once | s per clip | TFLOP/s | of peak | GiB per clip |", "|---|---|---|---|---|---|"]
    for r in summary["training"]:
        share = f"{r['fraction_of_peak']:.1%}" if r["fraction_of_peak"] is not None else "n/a"
        lines.append(f"| {r['variant']} ({r['label']}) | {r['clips_at_once']} | {r['seconds_per_clip']} | "
                     f"{r['tflops']} | {share} | {r.get('gib_per_clip', 'n/a')} |")
    lines += ["", f"Switches, Siamese SIREN, {summary['switches'][0]['clips_at_once']} clips at once, best loss after "
              f"{summary['switches'][0]['steps']} steps:", "",
              "| switch | s per clip | speed vs fp32 | best loss vs fp32 |", "|---|---|---|---|"]
    lines += [f"| {r['switch']} | {r['seconds_per_clip']} | {r['speed_vs_fp32']}x | {r['loss_vs_fp32']}x |"
              for r in summary["switches"]]
    lines += ["", "| variant | largest clips at once that fit | trained |", "|---|---|---|"]
    lines += [f"| {r['variant']} | {r['largest_k'] if r['largest_k'] is not None else r['why']} | "
              f"{r['confirmed'] if r['confirmed'] is not None else 'n/a'} |" for r in summary["largest_k"]]
    c = summary["cdpam"]
    lines += ["", "## CDPAM", "", f"{c['seconds_per_pair']} s per {c['pair_seconds']:g} s pair, {c['pairs']} pairs "
              f"batched (first call, with the model load: {c['first_call_seconds']} s).", ""]
    w = summary["workflow"]
    where = "the test configuration" if summary["smoke"] else "the shipped recordings"
    lines += [f"## The workflow: Table 1 on {where}", "",
              f"{'Finished' if w['finished'] else 'Not finished: ' + str(w['why'])} in {w['wall_seconds']} s wall; "
              f"{w['clips_trained']} clip trainings took {w['training_seconds']} s; everything else (preparation, "
              f"compression, decoding, scoring, Snakemake) {w['outside_training_seconds']} s.", "",
              f"`{w['command']}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU: proves every stage runs")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu-check")
    parser.add_argument("--workflow-timeout", type=float, default=330.0, help="seconds for the Snakemake stage")
    args = parser.parse_args()
    scale = Scale(smoke=args.cpu_smoke)
    if not scale.smoke and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run it on a GPU machine, or with --cpu-smoke")
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    facts = device_facts(scale)
    summary = {"smoke": scale.smoke, "date": time.strftime("%Y-%m-%d"), "device": facts,
               "clip_seconds": scale.seconds, "steps_measured": scale.steps,
               "training": training_rows(scale, facts.get("peak_tflops")),
               "switches": switch_rows(scale), "largest_k": largest_batches(scale), "cdpam": cdpam_row(scale),
               "workflow": workflow_row(scale, args.out, args.workflow_timeout)}
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    files.write_text(args.out / "summary.json", json.dumps(summary, indent=2))
    files.write_text(args.out / "summary.md", markdown(summary))
    print(f"wrote {args.out / 'summary.md'} and summary.json in {summary['wall_seconds']} s")


if __name__ == "__main__":
    main()
