"""One results folder, two working directories (two clones, or two folders of one clone): one run at a time
(siamese_siren.pipeline.jobs.hold_results, taken in workflow/rules/integrity.smk's onstart), a one-line refusal
naming the other run's working directory, and no planning blocked (issue 28, row 9). The training cache's own race
(an entry vanishing or appearing under train_and_save) is tested in tests/test_weight_integrity.py."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from snakemake_workdir import LINKED, ROOT, SNAKEFILE, workdir

from siamese_siren.pipeline import jobs

TEST_CONFIG = ROOT / "tests" / "workflow" / "config.yaml"


def other_workdir(folder: Path) -> Path:
    """A second working directory, as a second clone would be: its own .snakemake, the same results folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(ROOT / name)
    return folder


def command(results: Path, *args: str, overrides: dict | None = None) -> list[str]:
    configs = [str(TEST_CONFIG)]
    if overrides:
        extra = results.parent / "overrides.yaml"
        extra.write_text(yaml.safe_dump(overrides))
        configs.append(str(extra))
    return [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args, "--cores", "1",
            "--configfile", *configs, "--config", f"results={results}"]


HOLD = ("import sys, time\n"
        "from siamese_siren.pipeline.jobs import hold_results\n"
        "hold_results(sys.argv[1], workdir=sys.argv[2])\n"
        "print('held', flush=True)\n"
        "time.sleep(600)\n")


def test_a_results_folder_is_held_by_one_process_at_a_time(tmp_path):
    results = tmp_path / "results"
    assert jobs.hold_results(results, workdir=tmp_path / "here") == results / "logs" / ".run.lock"
    try:
        assert jobs.hold_results(results) == results / "logs" / ".run.lock"  # again in the same process: a no-op
        holder = json.loads((results / "logs" / ".run.lock").read_text())
        assert holder["workdir"] == str(tmp_path / "here") and holder["pid"] == os.getpid()
        other = subprocess.run([sys.executable, "-c", HOLD, str(results), "/elsewhere"], capture_output=True,
                               text=True, timeout=60)
        assert other.returncode == 1 and "held" not in other.stdout
        assert (f"ResultsInUse: results folder {results} is in use by the Snakemake run in working directory "
                f"{tmp_path / 'here'} (pid {os.getpid()} on ") in other.stderr
    finally:
        jobs.release_results(results)
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(results), "/elsewhere"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert other.stdout.readline() == "held\n"
        with pytest.raises(jobs.ResultsInUse, match=r"in use by the Snakemake run in working directory /elsewhere "):
            jobs.hold_results(results)
    finally:
        other.kill()
        other.wait()
    jobs.hold_results(results)  # the kernel let go when its holder died: no stale lock, nothing to delete
    jobs.release_results(results)


@pytest.mark.slow  # the real Snakemake three times, one job (12-20 s on a busy 2-core machine)
def test_a_second_working_directory_is_refused_in_one_line_and_planning_is_not_blocked(tmp_path):
    results = tmp_path / "results"
    first, second = workdir(results), other_workdir(tmp_path / "clone-b")
    manifest = results / "manifests" / "speech.csv"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(results), str(first)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "held\n"  # as the first run's Snakemake holds it while its jobs run
        plan = subprocess.run(command(results, str(manifest), "--dry-run"), cwd=second, capture_output=True,
                              text=True, timeout=300)
        assert plan.returncode == 0, plan.stderr[-3000:]
        refused = subprocess.run(command(results, str(manifest)), cwd=second, capture_output=True, text=True,
                                 timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert refused.returncode == 1
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: results folder {results} is in use by the Snakemake run in working directory "
                           f"{first} (pid {holder.pid} on ")
    assert last.endswith("; wait until it ends, or give this run a results folder of its own (--config results=...)")
    assert "Traceback" not in refused.stdout + refused.stderr
    assert not manifest.exists()  # no job ran
    # Snakemake's own lock of the second working directory was let go too: the same command now runs
    done = subprocess.run(command(results, str(manifest)), cwd=second, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert manifest.exists()


@pytest.mark.slow  # two real Snakemake runs at once, one of them training three clips (~30 s)
def test_two_clones_running_at_once_on_one_results_folder(tmp_path):
    results = tmp_path / "results"
    first, second = workdir(results), other_workdir(tmp_path / "clone-b")
    target = str(results / "models" / "speech" / "t-pe-siren" / "b0000")
    overrides = {"datasets": {"speech": {"max_clips": 3}},
                 "training": {"clips_per_job": 3, "clips_at_once": 1, "steps": 150}}
    run = subprocess.Popen(command(results, target, overrides=overrides), cwd=first, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    train_log = results / "logs" / "train" / "speech" / "t-pe-siren" / "b0000.log"
    deadline = time.monotonic() + 300
    while not train_log.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.poll() is None, "the first run ended before the second could start"
    refused = subprocess.run(command(results, target, overrides=overrides), cwd=second, capture_output=True,
                             text=True, timeout=300)
    first_output = run.communicate(timeout=600)[0]
    assert run.returncode == 0, first_output[-4000:]
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"Error: results folder {results} is in use by the Snakemake run in working directory {first} (pid {run.pid} ")
    assert "Traceback" not in first_output + train_log.read_text() + refused.stdout + refused.stderr
    models = Path(target)
    assert len(list(models.glob("*.json"))) == 3 and not list((results / ".train-cache").rglob("*.json"))
    # and the second run, once the first is done, has nothing left to train
    again = subprocess.run(command(results, target, overrides=overrides), cwd=second, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "rule train" not in again.stdout + again.stderr
