"""Planning at dataset scale: how long ``snakemake -n`` takes, and how much memory, for the paper's datasets.

    python benchmarks/planning.py                      # 1,000 GTZAN + 1,000 LibriSpeech, then 28,539 LibriSpeech
    python benchmarks/planning.py --utterances 2000    # a quicker look
    python benchmarks/planning.py --profile            # also where the 28,539-clip plan spends its time

The dataset folders are fake (every clip is a hard link to one 0.1 s FLAC or WAV, named and laid out as GTZAN and
train-clean-100 are) but everything the workflow does with them is real: the manifest checkpoint scans and
selects them, then a dry run of ``config/paper.yaml`` (default ``training.clips_per_job``) plans every job.
Reported per scale: the manifests' wall time, the dry run's wall time and peak RSS, and its job count; the
target is the 28,539-clip plan in under 60 s and 2 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

from siamese_siren.codec import files

ROOT = Path(__file__).resolve().parents[1]
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
TRAIN_CLEAN_100 = 28_539  # utterances in LibriSpeech train-clean-100
UTTERANCES_PER_CHAPTER = 49  # about train-clean-100's 28,539 utterances over 585 chapters of 251 speakers


def fake_gtzan(root: Path) -> Path:
    """genres/<genre>/<genre>.000NN.wav, 100 per genre, each a hard link to one short tone."""
    one = root / "tone.wav"
    sf.write(one, 0.5 * np.sin(np.linspace(0, 400, 2205)).astype(np.float32), 22050)
    for genre in GENRES:
        (root / "genres" / genre).mkdir(parents=True)
        for n in range(100):
            os.link(one, root / "genres" / genre / f"{genre}.{n:05d}.wav")
    return root / "genres"


def fake_librispeech(root: Path, utterances: int) -> Path:
    """LibriSpeech/train-clean-100/<speaker>/<chapter>/<speaker>-<chapter>-<n>.flac, each a hard link to one."""
    one = root / "tone.flac"
    sf.write(one, 0.5 * np.sin(np.linspace(0, 300, 1600)).astype(np.float32), 16000)
    top = root / "LibriSpeech" / "train-clean-100"
    for i in range(utterances):
        chapter, n = divmod(i, UTTERANCES_PER_CHAPTER)
        speaker = 19 + chapter // 3
        folder = top / str(speaker) / str(100 + chapter)
        folder.mkdir(parents=True, exist_ok=True)
        os.link(one, folder / f"{speaker}-{100 + chapter}-{n:04d}.flac")
    return root / "LibriSpeech"


def timed_run(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB of the process tree's largest process, output) of one command."""
    start = time.perf_counter()
    process = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{output[-4000:]}")
    return wall, usage.ru_maxrss / 1024, output


def job_counts(dry_run_output: str) -> dict[str, int]:
    """{rule: jobs} of the dry run's job stats table, with ``total``."""
    table = dry_run_output.split("Job stats:", 1)[-1]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^([A-Za-z_]\w*)\s+(\d+)\s*$", table, re.MULTILINE)}
    if "total" not in counts:
        raise SystemExit(f"no job count in the dry run's output:\n{dry_run_output[-2000:]}")
    return counts


def measure(scratch: Path, name: str, datasets: dict, sources: dict, profile: Path | None,
            clips_per_job: int | None) -> dict:
    """Manifests first (the checkpoint), then the dry run that plans every job."""
    work = scratch / name
    work.mkdir()
    (work / "config.yaml").symlink_to(ROOT / "config.yaml")
    mine = work / "bench.yaml"
    settings = {"results": str(work / "results"), "datasets": datasets,
                "sources": {"folder": str(work / "downloads"), **sources}}
    if clips_per_job:
        settings["training"] = {"clips_per_job": clips_per_job}
    files.write_text(mine, yaml.safe_dump(settings))
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]
    # options with lists last: each swallows what follows it
    options = ["--cores", "8", "--resources", "gpu=1", "--configfile", str(ROOT / "config" / "paper.yaml"), str(mine)]
    manifests = [str(work / "results" / "manifests" / f"{d}.csv") for d, spec in datasets.items() if spec]
    manifest_wall, _, _ = timed_run([*snakemake, *manifests, *options], work)
    dry = [*snakemake, "--dry-run", "--quiet", "rules", *options]
    wall, rss, output = timed_run(dry, work)
    jobs = job_counts(output)
    row = {"scale": name, "clips": {d: len(_selected(work, d)) for d, spec in datasets.items() if spec},
           "jobs": jobs["total"], "jobs_per_rule": jobs, "manifest_s": round(manifest_wall, 1),
           "dry_run_s": round(wall, 1), "peak_rss_mb": round(rss)}
    if profile:
        stats = profile
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(stats), *dry[1:]], cwd=work, check=True,
                       capture_output=True)
        row["profile"] = str(stats)
    return row


def _selected(work: Path, dataset: str) -> list[str]:
    from siamese_siren.pipeline.datasets import selected_clips

    return list(selected_clips(work / "results" / "manifests" / f"{dataset}.csv"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=TRAIN_CLEAN_100, help="LibriSpeech files to fake")
    parser.add_argument("--profile", type=Path, help="cProfile the largest dry run into this file (prints the top)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--clips-per-job", type=int, help="training.clips_per_job (default: the workflow's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="planning-") as tmp:
        scratch = Path(tmp)
        (scratch / "gtzan").mkdir()
        (scratch / "librispeech").mkdir()
        sources = {"gtzan": {"path": str(fake_gtzan(scratch / "gtzan"))},
                   "librispeech": {"path": str(fake_librispeech(scratch / "librispeech", args.utterances))}}
        paper = {"gtzan": {"kind": "music", "source": "gtzan", "clips": None},
                 "librispeech": {"kind": "speech", "source": "librispeech", "clips": 1000, "seed": 0}}
        every = {"gtzan": None, "librispeech": {**paper["librispeech"], "clips": None}}
        print(f"{'scale':<16} {'clips':<32} {'jobs':>6} {'manifests s':>11} {'dry run s':>9} {'peak RSS MB':>11}",
              flush=True)
        rows = []
        for name, datasets, profile in (("paper", paper, None), ("train-clean-100", every, args.profile)):
            row = measure(scratch, name, datasets, sources, profile, args.clips_per_job)
            clips = " + ".join(f"{n:,} {d}" for d, n in row["clips"].items())
            print(f"{row['scale']:<16} {clips:<32} {row['jobs']:>6,} {row['manifest_s']:>11} {row['dry_run_s']:>9} "
                  f"{row['peak_rss_mb']:>11,}", flush=True)
            rows.append(row)
        if args.profile:
            import pstats

            pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(40)
            rows[-1].pop("profile")
        if args.json:
            files.write_text(args.json, json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
