"""GPU slots (siamese_siren.pipeline.jobs.take_gpu): how many there are, who decides, and that a slot is the kernel's
lock, released however its holder ends. Without a GPU: the devices are fake, named by the override."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.pipeline import jobs

SRC = Path(__file__).resolve().parents[1] / "src"

NVIDIA_SMI = """\
GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-11111111-2222-3333-4444-555555555555)
GPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-66666666-7777-8888-9999-000000000000)
  MIG 3g.20gb     Device  0: (UUID: MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee)
  MIG 3g.20gb     Device  1: (UUID: MIG-ffffffff-0000-1111-2222-333333333333)
GPU 2: NVIDIA H100 80GB HBM3 (UUID: GPU-44444444-5555-6666-7777-888888888888)
"""


@pytest.mark.parametrize(("value", "ids"), [
    (None, None), ("", None), ("  ", None),
    (3, ["0", "1", "2"]), ("2", ["0", "1"]), (0, []), ("0", []),
    ("0,2", ["0", "2"]), ("2,", ["2"]), (" 1 , 3 ", ["1", "3"]),
    ([1, 3], ["1", "3"]), (["GPU-abc"], ["GPU-abc"]), ("GPU-abc,GPU-def", ["GPU-abc", "GPU-def"]),
])
def test_override_is_a_count_or_device_ids(value, ids):
    assert jobs.parse_gpus(value) == ids


@pytest.mark.parametrize("value", [-1, True, "1,1", ",", []])
def test_override_that_names_no_devices_is_refused(value):
    with pytest.raises(ValueError, match="GPU"):
        jobs.parse_gpus(value)


def test_nvidia_smi_listing_gives_indices_and_mig_instances():
    ids = jobs.parse_nvidia_smi(NVIDIA_SMI)
    assert ids == ["0", "MIG-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "MIG-ffffffff-0000-1111-2222-333333333333", "2"]
    assert jobs.parse_nvidia_smi("No devices were found\n") == []


def test_machine_gpus_without_nvidia_smi_counts_the_driver_folders(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    for address in ("0000:17:00.0", "0000:65:00.0"):
        (tmp_path / address).mkdir()
    monkeypatch.setattr(jobs.subprocess, "run", missing)
    monkeypatch.setattr(jobs, "PROC_GPUS", tmp_path)
    jobs.machine_gpus.cache_clear()
    try:
        assert jobs.machine_gpus() == ("0", "1")
        monkeypatch.setattr(jobs, "PROC_GPUS", tmp_path / "no-driver")
        jobs.machine_gpus.cache_clear()
        assert jobs.machine_gpus() == ()
    finally:
        jobs.machine_gpus.cache_clear()


def test_slots_are_the_environment_else_the_config_else_the_machine(monkeypatch):
    monkeypatch.setattr(jobs, "machine_gpus", lambda: ("0", "1", "2", "3"))
    assert jobs.slot_devices(None, {}) == ["0", "1", "2", "3"]
    assert jobs.slot_devices(2, {}) == ["0", "1"]
    assert jobs.slot_devices([3], {jobs.GPUS_ENV: ""}) == ["3"]
    assert jobs.slot_devices([3], {jobs.GPUS_ENV: "5,6"}) == ["5", "6"]
    assert jobs.slot_devices(None, {jobs.GPUS_ENV: "0"}) == []  # slots turned off
    with pytest.raises(ValueError, match=f"^{jobs.GPUS_ENV}: GPU ids must be distinct"):
        jobs.slot_devices(None, {jobs.GPUS_ENV: "1,1"})
    with pytest.raises(ValueError, match="^training.gpus: GPU count must be >= 0"):
        jobs.slot_devices(-2, {})


def test_a_scheduler_given_device_is_kept(tmp_path):
    said = []
    environ = {"CUDA_VISIBLE_DEVICES": "7", jobs.GPUS_ENV: "3", jobs.LOCKS_ENV: str(tmp_path)}
    assert jobs.take_gpu(None, environ, say=said.append) is None
    assert environ["CUDA_VISIBLE_DEVICES"] == "7" and not any(tmp_path.iterdir())
    assert "CUDA_VISIBLE_DEVICES=7 was set for this job: kept" in said[0]
    # An empty value (all GPUs hidden on purpose) is a choice too.
    environ = {"CUDA_VISIBLE_DEVICES": "", jobs.GPUS_ENV: "3", jobs.LOCKS_ENV: str(tmp_path)}
    assert jobs.take_gpu(None, environ, say=said.append) is None and environ["CUDA_VISIBLE_DEVICES"] == ""


def test_no_gpu_and_no_override_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "machine_gpus", lambda: ())
    said, environ = [], {jobs.LOCKS_ENV: str(tmp_path / "locks")}
    assert jobs.take_gpu(None, environ, say=said.append) is None
    assert "CUDA_VISIBLE_DEVICES" not in environ and not (tmp_path / "locks").exists()
    assert "no slot taken" in said[0]


def test_lock_folder_is_per_user_and_host():
    folder = jobs.lock_folder({"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert folder.parent == Path("/run/user/1000") and str(os.getuid()) in folder.name
    assert jobs.lock_folder({jobs.LOCKS_ENV: "/somewhere"}) == Path("/somewhere")


TAKER = textwrap.dedent("""
    import sys, time
    from siamese_siren.pipeline import jobs
    jobs.take_gpu(None, poll=0.05, say=lambda line: print(line, flush=True))
    if sys.argv[1] == "hold":
        time.sleep(120)
""")


def _taker(tmp_path: Path, mode: str, slots: str = "1") -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    environ.update({jobs.GPUS_ENV: slots, jobs.LOCKS_ENV: str(tmp_path), "PYTHONPATH": str(SRC)})
    return subprocess.Popen([sys.executable, "-c", TAKER, mode], env=environ, stdout=subprocess.PIPE, text=True)


def test_a_killed_jobs_slot_is_taken_again(tmp_path):
    holder = _taker(tmp_path, "hold")
    waiter = None
    try:
        assert "GPU slot 1 of 1: CUDA_VISIBLE_DEVICES=0" in holder.stdout.readline()
        waiter = _taker(tmp_path, "exit")
        line = waiter.stdout.readline()
        assert f"all 1 slots are held (by pids {holder.pid})" in line, line
        holder.send_signal(signal.SIGKILL)  # no handler, no atexit: only the kernel can release the lock
        holder.wait(timeout=10)
        out, _ = waiter.communicate(timeout=30)
        assert waiter.returncode == 0 and "GPU slot 1 of 1: CUDA_VISIBLE_DEVICES=0" in out and "after waiting" in out
        assert [p.name for p in tmp_path.iterdir()] == ["gpu-0.lock"]  # the lock file stays; no one must delete it
    finally:
        for process in (holder, waiter):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()


def test_concurrent_holders_get_distinct_slots(tmp_path):
    holders = [_taker(tmp_path, "hold", slots="0,1") for _ in range(2)]
    try:
        devices = sorted(h.stdout.readline().split("CUDA_VISIBLE_DEVICES=")[1].split()[0] for h in holders)
        assert devices == ["0", "1"]
    finally:
        for process in holders:
            process.kill()
            process.wait()


# -- the real Snakemake: more GPU jobs at once than (fake) GPUs

TEST_CONFIG = Path(__file__).resolve().parent / "workflow" / "config.yaml"
TAKEN = re.compile(r"^GPU slot \d+ of (\d+): CUDA_VISIBLE_DEVICES=(\S+) \(lock .*\), taken at ([\d.]+)", re.M)


@pytest.mark.slow  # runs Snakemake: 8 trainings, a fine-tuning and a scoring with CDPAM (1-3 min on 2 busy cores)
def test_snakemake_gpu_jobs_get_one_fake_gpu_each(tmp_path):
    """3 fake GPUs, 4 GPU jobs allowed at once (--resources gpu=4): every job holds a slot of its own while it runs,
    one job too many waits for a slot, and every slot is used. A job's slot is held from the moment its log says it
    was taken until the process ends, which is at or after the log's last write (its mtime)."""
    results, locks = tmp_path / "results", tmp_path / "locks"
    overrides = tmp_path / "overrides.yaml"
    # The scoring's metric is CDPAM alone (its GPU metric; ViSQOL would only add minutes here).
    overrides.write_text(yaml.safe_dump({"metrics": {"music": ["cdpam"]},
                                         "rate_distortion": {"control": {"objective": "snr", "quality": {}}}}))
    datasets, variants = ("speech", "music"), ("t-original-siren", "t-pe-siren", "t-siamese-siren", "t-siamese-0+2x8")
    targets = [str(results / "models" / d / v / "b0000") for d in datasets for v in variants]
    targets += [str(results / "scores" / "music" / "t-siamese-siren" / "b0000.csv")]  # its fine-tunings too
    environ = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    environ.update({jobs.GPUS_ENV: "3", jobs.LOCKS_ENV: str(locks)})
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *targets, "--cores", "4", "--resources",
           "gpu=4", "--configfile", str(TEST_CONFIG), str(overrides), "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), env=environ, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"

    held = []  # (device, taken, released, rule)
    for rule in ("train", "qat", "evaluate"):
        for log in sorted((results / "logs" / rule).rglob("*.log")):
            (slots, device, taken), = TAKEN.findall(log.read_text())
            assert slots == "3"
            held.append((device, float(taken), log.stat().st_mtime, rule))
    assert sorted(rule for *_, rule in held) == ["evaluate", "qat"] + ["train"] * 8
    for dataset in datasets:  # each trained clip's .json records the GPU its job got
        for variant in variants:
            log_text = (results / "logs" / "train" / dataset / variant / "b0000.log").read_text()
            (_, device, _), = TAKEN.findall(log_text)
            metas = list((results / "models" / dataset / variant / "b0000").glob("*.json"))
            assert metas and all(json.loads(m.read_text())["cuda_visible_devices"] == device for m in metas)

    assert {device for device, *_ in held} == {"0", "1", "2"}  # every slot was used
    for device in ("0", "1", "2"):  # and never by two jobs at once
        spans = sorted((taken, released) for d, taken, released, _ in held if d == device)
        for (_, released), (taken, _) in zip(spans, spans[1:], strict=False):
            assert taken >= released, f"GPU {device} held by two jobs at once: {spans}"
    events = sorted([(taken, 1) for _, taken, _, _ in held] + [(released, -1) for _, _, released, _ in held])
    running = np.cumsum([change for _, change in events])
    waited = sum("slots are held" in log.read_text() for log in (results / "logs").rglob("*.log"))
    print(f"\nGPU jobs {len(held)}, slots used {sorted({d for d, *_ in held})}, at most {running.max()} at once, "
          f"{waited} waited for a slot")
    assert running.max() >= 2  # the jobs did run side by side, so the check above means something
