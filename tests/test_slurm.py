"""profiles/slurm against a real single-node SLURM (tests/slurm/cluster.sh: munged, slurmctld, slurmd, one fake GPU).

The workflow's test config builds one figure through `snakemake --profile` with a profile made of
profiles/slurm/config.yaml plus tests/slurm/profile.yaml. Checked: every job ran inside a SLURM job submitted by
sbatch, grouped (fewer submissions than jobs), GPU jobs got the GPU (CUDA_VISIBLE_DEVICES) and no others did,
and the one GPU was enforced. Needs root and Debian's slurmctld slurmd slurm-client munge (`.ci/run` installs
them); with CI set a SLURM that cannot start fails the test, elsewhere it skips with the reason.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from snakemake_workdir import SNAKEFILE, workdir

pytestmark = pytest.mark.slow  # slow tier: a real SLURM cluster and Snakemake (deselect with -m 'not slow')

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
TEST_CONFIG = ROOT / "tests" / "workflow" / "config.yaml"
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false", "no")
RUN_LIMIT_S = 900  # the whole snakemake run; a SLURM job status snakemake never sees would otherwise hang it


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"SLURM test cluster unavailable under CI: {reason}")
    pytest.skip(reason)


def merged_profile(folder: Path) -> Path:
    """profiles/slurm/config.yaml with tests/slurm/profile.yaml over it (mappings merged one level deeper)."""
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    for key, value in yaml.safe_load((ROOT / "tests" / "slurm" / "profile.yaml").read_text()).items():
        if isinstance(value, dict) and isinstance(profile.get(key), dict):
            for sub, subvalue in value.items():
                base = profile[key].get(sub)
                profile[key][sub] = {**base, **subvalue} if isinstance(subvalue, dict) and base else subvalue
        else:
            profile[key] = value
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def slurm_env():
    """Environment for SLURM clients talking to a cluster started for this module and stopped after it."""
    if os.geteuid() != 0:
        unavailable("the SLURM test cluster needs root (munged runs as user munge)")
    if missing := [c for c in ("slurmctld", "slurmd", "sbatch", "munged") if shutil.which(c) is None]:
        unavailable(f"{', '.join(missing)} not installed (apt-get install slurmctld slurmd slurm-client munge)")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")
    # Not under pytest's tmp folders: those are private to root, and munged (user munge) must reach its files.
    state = Path(tempfile.mkdtemp(prefix="siamese-slurm-", dir="/tmp"))
    try:
        started = subprocess.run(["timeout", "-s", "KILL", "90", "bash", str(CLUSTER), "start", str(state)],
                                 capture_output=True, text=True)
        if started.returncode != 0:
            unavailable(f"cluster.sh start failed ({started.returncode}): {started.stderr[-3000:]}")
        env = dict(os.environ)
        env.update(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
        yield env
    finally:
        subprocess.run(["timeout", "-s", "KILL", "60", "bash", str(CLUSTER), "stop", str(state)])
        shutil.rmtree(state, ignore_errors=True)


def slurm_jobs(env) -> dict[str, dict[str, str]]:
    """Every job slurmctld still remembers (MinJobAge=600 in the test cluster), as {id: {field: value}}."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], env=env, capture_output=True, text=True,
                         timeout=30, check=True).stdout
    jobs = {}
    for line in out.splitlines():
        fields = dict(re.findall(r"(\w[\w/:]*)=(\S*)", line))
        if "JobId" in fields:  # not "No jobs in the system"
            jobs[fields["JobId"]] = fields
    return jobs


def test_figure_through_slurm_with_gpu_groups(slurm_env, tmp_path):
    results, logs = tmp_path / "results", tmp_path / "slurm_logs"
    target = str(results / "figures" / "fig4.png")
    base = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), "--configfile", str(TEST_CONFIG),
            "--config", f"results={results}",
            # only ViSQOL (Figure 4's metric): the test is about SLURM, and the others take minutes on 2 cores
            "metrics={'speech': ['visqol'], 'music': ['visqol']}"]
    # The dataset manifests first (two small local jobs), so that the dry run below shows every job to come.
    manifests = [str(results / "manifests" / f"{d}.csv") for d in ("speech", "music")]
    work = workdir(results)
    subprocess.run([*base, "--cores", "1", *manifests], cwd=work, check=True, capture_output=True, timeout=300)
    plan = subprocess.run([*base, "--dry-run", "--cores", "1", target], cwd=work, env=slurm_env,
                          capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    planned = Counter(re.findall(r"^rule (\w+):", plan.stdout, flags=re.M))
    assert planned["train"] == 2 and planned["evaluate"] == 2 and planned["prepare_clips"] == 2

    before = set(slurm_jobs(slurm_env))
    run = subprocess.run(["timeout", "-s", "KILL", str(RUN_LIMIT_S), *base, "--profile",
                          str(merged_profile(tmp_path / "profile")), "--slurm-logdir", str(logs), target],
                         cwd=work, env=slurm_env, capture_output=True, text=True)
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"snakemake --profile failed ({run.returncode}):\n{output[-8000:]}"
    assert Path(target).read_bytes()[:4] == b"\x89PNG"

    # Every submission went through sbatch and finished in SLURM, fewer submissions than jobs (groups).
    submitted = re.findall(r"submitted with SLURM jobid (\d+)", output)
    jobs = {i: j for i, j in slurm_jobs(slurm_env).items() if i not in before}
    assert sorted(submitted) == sorted(jobs), (submitted, sorted(jobs))
    assert all(j["JobState"] == "COMPLETED" for j in jobs.values()), jobs
    assert "localrule" not in output
    assert len(jobs) < sum(planned.values())

    # Every planned job ran inside one of those SLURM jobs: its snakemake log is the SLURM job's output file.
    ran = Counter()
    for slurm_id in jobs:
        (log,) = logs.rglob(f"{slurm_id}.log")
        ran.update(re.findall(r"^rule (\w+):", log.read_text(), flags=re.M))
    assert ran == planned

    # GPU jobs (the batch group: train .. score) and only they asked SLURM for the GPU, and got it.
    gpu_jobs = {i for i, j in jobs.items() if "gpu" in j.get("TresPerJob", "")}
    assert gpu_jobs == {i for i, j in jobs.items() if "train" in j["Comment"]} and len(gpu_jobs) == 2
    for train_log in (results / "logs" / "train").rglob("*.log"):
        text = train_log.read_text()
        assert re.search(r"^CUDA_VISIBLE_DEVICES=0$", text, flags=re.M), text[:500]
        assert re.search(r"^SLURM_JOB_ID=(\d+)$", text, flags=re.M).group(1) in gpu_jobs
    # The node has one GPU, so its two GPU jobs ran one after the other.
    first, second = sorted((datetime.fromisoformat(jobs[i]["StartTime"]), datetime.fromisoformat(jobs[i]["EndTime"]))
                           for i in gpu_jobs)
    assert second[0] >= first[1]
