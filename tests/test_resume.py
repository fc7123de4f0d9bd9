"""Kill the real Snakemake (and separately a training job) mid-run, run again: no finished clip is trained twice."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from snakemake_workdir import SNAKEFILE, workdir

pytestmark = pytest.mark.slow  # slow tier: runs the real Snakemake and trains (deselect with -m 'not slow')

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "tests" / "workflow" / "config.yaml"
# Three clips in one training job, one at a time, slow enough to be killed between clips.
OVERRIDES = {"datasets": {"speech": {"max_clips": 3}},
             "training": {"clips_per_job": 3, "clips_at_once": 1, "steps": 150, "snapshot_steps": [10]}}


def command(results: Path, *extra: str) -> list[str]:
    overrides = results.parent / f"{results.name}-overrides.yaml"
    overrides.write_text(yaml.safe_dump(OVERRIDES))
    target = str(results / "models" / "speech" / "t-pe-siren" / "b0000")
    return [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), target, *extra, "--cores", "1",
            "--configfile", str(CONFIG), str(overrides), "--config", f"results={results}"]


def cached_clips(results: Path) -> int:
    return len(list((results / ".train-cache").rglob("*.json")))


def start_and_kill_after_first_clip(results: Path, kill) -> None:
    run = subprocess.Popen(command(results), cwd=workdir(results), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    deadline = time.monotonic() + 300
    while cached_clips(results) < 1 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be interrupted"
    kill(run)
    run.wait(timeout=60)
    assert 1 <= cached_clips(results) < 3


def cached_records(results: Path) -> dict[str, dict]:
    """The finished clips a killed job left in the training cache: {clip: its model record}."""
    return {p.stem: json.loads(p.read_text()) for p in (results / ".train-cache").rglob("*.json")}


def resume(results: Path) -> None:
    subprocess.run(command(results, "--unlock"), cwd=workdir(results), check=True, capture_output=True)
    done = subprocess.run(command(results), cwd=workdir(results), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def check_resumed(results: Path, left: dict[str, dict]) -> None:
    """Every clip finished before the kill was published as it was (same record, same wall time), not retrained."""
    models = results / "models" / "speech" / "t-pe-siren" / "b0000"
    published = {p.stem: json.loads(p.read_text()) for p in models.glob("*.json")}
    assert len(published) == 3 and not list(models.glob(".*.tmp"))
    assert 1 <= len(left) < 3
    for clip, record in left.items():
        assert published[clip] == record, clip
    assert cached_clips(results) == 0


def jobs_left(group: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(group), "-f", r"\.train\.py"], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def test_sigkill_of_snakemake_alone_then_rerun_keeps_finished_clips(tmp_path):
    """As the README words it: `kill -9` of the Snakemake process only. Its jobs must not run on as orphans."""
    def kill_snakemake_only(run):
        os.kill(run.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while jobs_left(run.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not jobs_left(run.pid), "a training job ran on after Snakemake was killed"

    results = tmp_path / "results"
    start_and_kill_after_first_clip(results, kill_snakemake_only)
    left = cached_records(results)
    resume(results)
    check_resumed(results, left)


def test_sigkill_of_the_training_job_then_rerun_keeps_finished_clips(tmp_path):
    def kill_training_job(run):
        pids = jobs_left(run.pid)
        assert pids, "no training job found"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    results = tmp_path / "results"
    start_and_kill_after_first_clip(results, kill_training_job)
    left = cached_records(results)
    resume(results)
    check_resumed(results, left)
