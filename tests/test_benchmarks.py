"""The benchmarks whose figures the README quotes run, so that they work the day they are needed: the GPU
acceptance script, every stage of it, on the CPU; the planning benchmark at a small scale."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # trains, scores with CDPAM and runs Table 1 through the real Snakemake (about 2 minutes)
def test_the_cpu_smoke_run_fills_every_figure_of_the_summary(tmp_path):
    out = tmp_path / "gpu-check"
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoke"] and summary["device"]["device"] == "cpu"
    trained = {(r["variant"], r["clips_at_once"]) for r in summary["training"]}
    assert trained == {(v, k) for v in ("original-siren", "pe-siren", "optimized-siren", "siamese-siren")
                       for k in (1, 2)}
    assert all(r["seconds_per_clip"] > 0 and r["tflops"] > 0 for r in summary["training"])
    assert [r["switch"] for r in summary["switches"]] == ["fp32", "tf32", "bf16", "compile"]
    assert all(r["seconds_per_clip"] > 0 and r["loss_vs_fp32"] > 0 for r in summary["switches"])
    assert len(summary["largest_k"]) == 4
    assert summary["cdpam"]["seconds_per_pair"] > 0 and summary["cdpam"]["pairs"] == 1
    workflow = summary["workflow"]
    assert workflow["finished"], workflow["why"]
    assert workflow["clips_trained"] == 3 and 0 < workflow["training_seconds"] < workflow["wall_seconds"]
    assert (out / "workflow" / "tables" / "table1.md").read_text().count("|") > 10
    markdown = (out / "summary.md").read_text()
    for heading in ("## Training", "Switches", "## CDPAM", "## The workflow"):
        assert heading in markdown
    assert "siamese-siren (2x256+1x128) | 2 |" in markdown


@pytest.mark.slow  # two manifests and two dry runs of config/paper.yaml through the real Snakemake (about 40 s)
def test_the_planning_benchmark_plans_the_paper_at_a_small_scale(tmp_path):
    rows = tmp_path / "planning.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "planning.py"), "--utterances", "40",
                           "--json", str(rows)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    paper, every = json.loads(rows.read_text())
    assert paper["clips"] == {"gtzan": 1000, "librispeech": 40} and every["clips"] == {"librispeech": 40}
    # clips are prepared a batch of 64 (the default training.clips_per_job) at a time; every batch trains the
    # paper's 8 variants, on speech also Figure 6's 2
    for row, batches, trainings in ((paper, 16 + 1, 8 * 16 + 10 * 1), (every, 1, 10 * 1)):
        assert row["jobs_per_rule"]["prepare_clips"] == batches
        assert row["jobs_per_rule"]["train"] == trainings
        assert row["jobs"] == row["jobs_per_rule"]["total"] and row["dry_run_s"] > 0 and row["peak_rss_mb"] > 0
