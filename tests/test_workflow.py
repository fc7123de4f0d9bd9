"""The real Snakemake on the smallest config (tests/workflow/config.yaml), end to end, with real metrics."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.codec import bitstream
from siamese_siren.codec.inits import load_init
from siamese_siren.codec.models import Variant, parameter_count

pytestmark = pytest.mark.slow  # slow tier: runs the real Snakemake (deselect with -m 'not slow')

ROOT = Path(__file__).resolve().parents[1]
TEST_CONFIG = ROOT / "tests" / "workflow" / "config.yaml"
#: The runs here turn the fast-fitting experiment on too, so that an experiment's rules are run end to end.
TEST_EXPERIMENT = ROOT / "tests" / "workflow" / "fast-fitting.yaml"


def snakemake(results: Path, *args: str, overrides: dict | None = None, check: bool = True):
    """Run the real Snakemake on the test config; ``overrides`` is merged in as one more config file (values given
    with --config would arrive as strings)."""
    configs = [str(TEST_CONFIG), str(TEST_EXPERIMENT)]
    if overrides:
        extra = results.parent / f"{results.name}-overrides.yaml"
        extra.write_text(yaml.safe_dump(overrides))
        configs.append(str(extra))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args, "--cores", "2", "--configfile",
           *configs, "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=1200)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}")
    return done


def planned(results: Path, *targets: str, overrides: dict | None = None) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run would execute."""
    out = snakemake(results, *targets, "--dry-run", overrides=overrides)
    jobs, rule = [], None
    for line in (out.stdout + out.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule = m.group(1)
            jobs.append((rule, {}))
        elif (m := re.match(r"^\s+wildcards: (.*)$", line)) and rule:
            jobs[-1] = (rule, dict(kv.split("=", 1) for kv in m.group(1).split(", ")))
    return jobs


def test_one_figure_builds_only_its_inputs(tmp_path):
    # Until its manifest exists a dataset's clips are unknown (one checkpoint per dataset): make them first.
    snakemake(tmp_path, *(str(tmp_path / "manifests" / f"{d}.csv") for d in ("speech", "music")))
    jobs = planned(tmp_path, str(tmp_path / "figures" / "fig4.png"))
    rules = [rule for rule, _ in jobs]
    assert rules.count("score_figure") == 1 and "table" not in rules and "spectrogram_figure" not in rules
    assert {w["variant"] for rule, w in jobs if rule == "train"} == {"t-siamese-siren"}
    jobs = planned(tmp_path, str(tmp_path / "figures" / "fig5.png"))
    assert sorted(rule for rule, _ in jobs) == ["fig5", "prepare_clips"]


def test_config_errors_name_the_key(tmp_path):
    out = snakemake(tmp_path / "r", "--dry-run", overrides={"training": {"steps": "many"}}, check=False)
    assert out.returncode != 0 and "steps" in out.stdout + out.stderr
    out = snakemake(tmp_path / "r", "--dry-run", overrides={"figures": {"fig4": {"variant": "no-such-variant"}}},
                    check=False)
    assert out.returncode != 0 and "no variant named 'no-such-variant'" in out.stdout + out.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    snakemake(results)
    return results


def test_every_table_and_figure_exists(finished_run):
    for table in ("table1", "table2", "table3"):
        for ext in ("csv", "md", "tex"):
            assert (finished_run / "tables" / f"{table}.{ext}").stat().st_size > 0
    for name in ("fig3", "fig4", "fig5", "fig6", "training_curves"):
        assert (finished_run / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_tables_agree_with_the_per_clip_records(finished_run):
    records = pd.read_csv(finished_run / "scores.csv")
    table = pd.read_csv(finished_run / "tables" / "table1.csv")
    assert len(table) == 3 * 2  # variants x datasets
    for _, row in table.iterrows():
        denoise = "siamese" if row["variant"] == "t-siamese-siren" else "none"
        mine = records[(records["dataset"] == row["dataset"]) & (records["variant"] == row["variant"])
                       & (records["precision"] == "int8-paper") & (records["denoise"] == denoise)]
        assert len(mine) == row["visqol_n"] == 1
        assert row["visqol_mean"] == pytest.approx(mine["visqol"].mean())
        assert row["snr_db_mean"] == pytest.approx(mine["snr_db"].mean())
        if row["dataset"] == "speech":
            assert row["pesq_mean"] == pytest.approx(mine["pesq"].mean())
        models = finished_run / "models" / row["dataset"] / row["variant"] / "b0000"
        meta = json.loads(next(models.glob("*.json")).read_text())
        assert row["params"] == parameter_count(Variant.from_dict(meta["variant"]))
        ssr = next((finished_run / "compressed" / row["dataset"] / row["variant"] / "b0000" / "int8").glob("*.ssr"))
        assert row["file bytes"] == ssr.stat().st_size == bitstream.file_size(Variant.from_dict(meta["variant"]))
    assert "± " in (finished_run / "tables" / "table1.md").read_text() or "N=1" in (
        finished_run / "tables" / "table1.md").read_text()
    assert r"\begin{tabular}" in (finished_run / "tables" / "table1.tex").read_text()


def test_training_artifacts(finished_run):
    models = finished_run / "models" / "speech" / "t-siamese-siren" / "b0000"
    meta = json.loads(next(models.glob("*.json")).read_text())
    assert meta["steps"] == 30 and meta["device"] == "cpu" and meta["torch"] and meta["wall_seconds"] > 0
    losses = pd.read_csv(next(models.glob("*.loss.csv")))
    assert list(losses["step"]) == list(range(30))
    scores = pd.read_csv(finished_run / "scores" / "speech" / "t-siamese-siren" / "b0000.csv")
    assert set(scores["step"].dropna().astype(int)) == {10, 20}
    assert set(scores["denoise"]) == {"none", "stationary", "nonstationary", "siamese"}


def test_a_learned_init_is_meta_trained_on_windows_no_table_scores(finished_run):
    manifest = pd.read_csv(finished_run / "manifests" / "speech.csv")
    scored = set(manifest.loc[manifest["status"] == "selected", "source"])
    split = pd.read_csv(finished_run / "inits" / "t-siamese.split.csv")
    assert len(split) == 4 and set(split["status"]) == {"meta-train"}
    for _, window in split.iterrows():  # the test config scores [0.5, 1.5) of each selected file
        assert window["source"] not in scored or not (window["offset"] < 1.5 and 0.5 < window["offset"] + 1.0)
    init = load_init(finished_run / "inits" / "t-siamese.init.pt")
    assert init.provenance["meta"]["meta_steps"] == 3 and len(init.provenance["history"]) == 3
    models = finished_run / "models" / "speech" / "t-siamese-fast" / "b0000"
    fast = json.loads(next(models.glob("*.json")).read_text())
    assert fast["steps"] == 20 and fast["recipe"] == {"lr": 3e-3, "schedule": "cosine", "warmup_steps": 2,
                                                      "init": init.digest}
    table = pd.read_csv(finished_run / "tables" / "fast.csv")
    assert "t-siamese-fast" in set(table["variant"])
    budget = json.loads(next((finished_run / "models" / "music" / "t-siamese-fast-10steps" / "b0000").glob("*.json"))
                        .read_text())
    assert budget["steps"] == 10 and budget["recipe"]["init"] == init.digest
    text = (finished_run / "fast_fit.md").read_text()
    assert "Steps needed to reach the loss of the paper's recipe" in text and "t-siamese-fast" in text
    long = pd.read_csv(finished_run / "fast_fit.csv")
    assert set(long["budget"].dropna()) == {10, 20} and {"visqol", "pesq"} <= set(long["measure"])
    assert (finished_run / "figures" / "fast_fit.png").read_bytes()[:4] == b"\x89PNG"


def test_second_run_does_nothing(finished_run):
    assert planned(finished_run) == []


@pytest.mark.parametrize("speed", [{"metrics": {"workers": 2}}, {"training": {"clips_at_once": 2}},
                                   {"training": {"threads": 2}}, {"training": {"gpus": 1}}],
                         ids=["metrics.workers", "training.clips_at_once", "training.threads", "training.gpus"])
def test_a_setting_that_changes_only_speed_reruns_nothing(finished_run, speed):
    # batching is exact and the metric pool's size changes no score: after an out-of-memory error a user lowers
    # clips_at_once without retraining a single model
    assert planned(finished_run, overrides=speed) == []


def test_changing_one_variants_steps_retrains_only_that_variant(finished_run):
    jobs = planned(finished_run, overrides={"variants": {"t-pe-siren": {"steps": 31}}})
    trained = {(w["dataset"], w["variant"]) for rule, w in jobs if rule == "train"}
    assert trained == {("speech", "t-pe-siren"), ("music", "t-pe-siren")}
    assert {w.get("variant") for rule, w in jobs if rule == "evaluate"} == {"t-pe-siren"}


def test_rate_distortion_codecs_and_resolution(finished_run):
    points = pd.read_csv(finished_run / "rate_distortion" / "points.csv")
    assert set(points["family"]) == {"INR", "codec", "INR control"}
    assert {"opus", "mp3", "INR int8-paper", "INR int4-pc", "INR int6-zstd", "INR int3-pc-qat",
            "INR control (kbps)"} <= set(points["method"])
    # issue 19: the fine-tuned networks are a stage of their own, and its files are written from them
    for dataset in ("speech", "music"):
        finetuned = finished_run / "qat" / dataset / "t-siamese-siren" / "int3-pc-qat" / "b0000"
        meta = json.loads(next(finetuned.glob("*.json")).read_text())
        assert meta["steps"] == 10 and meta["recipe"]["qat"] == {"bits": 3, "per_channel": True}
        sizes = pd.read_csv(finished_run / "compressed" / dataset / "t-siamese-siren" / "b0000" / "sizes.csv")
        qat = sizes[sizes["setting"] == "int3-pc-qat"].iloc[0]
        assert qat["qat_steps"] == 10 and qat["entropy"] != "auto"  # the coding auto picked
    accuracy = pd.read_csv(finished_run / "rate_distortion" / "rate_control.csv")
    assert {"at most 16 kbps", "at most 64 kbps"} <= set(accuracy["target"])
    assert (accuracy.loc[accuracy["target"] == "at most 64 kbps", "kbps_max"] <= 64).all()
    equal = pd.read_csv(finished_run / "rate_distortion" / "equal_quality.csv")
    assert {"opus", "INR int8-paper", "INR control (kbps)"} <= set(equal["method"])
    assert "reference" in (finished_run / "rate_distortion" / "equal_quality.md").read_text()
    codec = points[points["family"] == "codec"]
    assert (codec["container_kbps"] > codec["kbps"]).all() and codec["snr_db"].notna().all()
    for folder in (finished_run / "compressed").glob("*/t-siamese-siren/b0000"):
        sizes = pd.read_csv(folder / "sizes.csv")
        for row in sizes[sizes["setting"] == "int6-zstd"].itertuples():  # entropy-coded: the size is what was written
            assert row.bytes == (folder / "int6-zstd" / f"{row.clip}.ssr").stat().st_size and row.entropy == "zstd"
    table = pd.read_csv(finished_run / "rate_distortion" / "kbps_needed.csv")
    assert {"opus", "mp3", "INR int8-paper", "INR (best setting)"} <= set(table["method"])  # (ViSQOL: NaN on 0.5 s)
    for name in ("rate_distortion_speech", "rate_distortion_music", "resolution"):
        assert (finished_run / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    decoded = sorted((finished_run / "resolution").glob("*.wav"))
    assert [int(p.stem.rsplit("__", 1)[1]) for p in decoded] == sorted([16000, 22050, 44100, 48000])


def test_bad_files_in_a_users_folder_are_skipped_with_their_reason_and_the_run_completes(tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    shutil.copy(ROOT / "resources" / "audio" / "speech_librivox_0870.flac", own / "good.flac")
    (own / "empty.wav").write_bytes(b"")
    (own / "notes.wav").write_text("a text file named .wav\n")
    sf.write(own / "silent.wav", np.zeros(3 * 22050, dtype=np.float32), 22050)
    with_nan = np.sin(np.arange(3 * 22050) / 20).astype(np.float32)
    with_nan[30000] = np.nan
    sf.write(own / "nan.wav", with_nan, 22050, subtype="FLOAT")
    results = tmp_path / "results"
    overrides = {"datasets": {"own": {"kind": "speech", "path": str(own)}},
                 "tables": {"table1": {"datasets": ["own"], "variants": ["t-pe-siren"]}}}
    snakemake(results, str(results / "tables" / "table1.csv"), overrides=overrides)

    manifest = pd.read_csv(results / "manifests" / "own.csv", keep_default_na=False).set_index("clip")
    assert manifest["status"].to_dict() == {"empty": "skipped", "good": "selected", "nan": "skipped",
                                            "notes": "skipped", "silent": "skipped"}
    assert "unreadable" in manifest.loc["notes", "reason"] and "unreadable" in manifest.loc["empty", "reason"]
    assert "NaN" in manifest.loc["nan", "reason"] and "silence" in manifest.loc["silent", "reason"]
    table = pd.read_csv(results / "tables" / "table1.csv")
    assert table["dataset"].tolist() == ["own"] and table["visqol_n"].tolist() == [1]


def test_the_readmes_demo_commands_work_as_written(finished_run):
    """The README's commands about the demo's results, word for word, with the demo's profile and results folder
    swapped for the test config and its finished run."""
    readme = (ROOT / "README.md").read_text()
    prefix = "snakemake --profile profiles/demo "
    commands = [line.split("#")[0].split()[3:] for line in readme.splitlines() if line.startswith(prefix)]
    assert len(commands) == 2, commands
    assert yaml.safe_load((ROOT / "profiles" / "demo" / "workflow.yaml").read_text())["results"] == "results/demo"
    for args in commands:
        snakemake(finished_run, *(a.replace("results/demo", str(finished_run)) for a in args))
    report = (finished_run / "report.html").read_text(errors="replace")
    assert "table1.csv" in report and "fig4.png" in report


#: Run as `python -c PROBE <snakemake arguments>`: Snakemake's own command line, then, at exit, whether any module of
#: siamese_siren.experiments was imported while the workflow was parsed and planned.
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print('experiment modules:', sorted(m for m in sys.modules\n"
         "                                 if m.startswith('siamese_siren.experiments'))))\n"
         "from snakemake.cli import main\n"
         "sys.argv[0] = 'snakemake'\n"
         "main()\n")


@pytest.mark.parametrize("experiment", [None, "fast-fitting", "bits"])
def test_an_experiments_code_is_read_only_when_its_file_asks_for_it(tmp_path, experiment):
    results = tmp_path / "r"
    files = {"fast-fitting": TEST_EXPERIMENT, "bits": ROOT / "config" / "experiments" / "bits.yaml"}  # test scale
    configs = [str(TEST_CONFIG)] + ([str(files[experiment])] if experiment else [])
    cmd = [sys.executable, "-c", PROBE, "--snakefile", str(SNAKEFILE), "--dry-run", "--cores", "1", "--configfile",
           *configs, "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    imported = re.search(r"experiment modules: (.*)", done.stdout + done.stderr).group(1)
    if experiment == "fast-fitting":
        assert "siamese_siren.experiments.fast_fit" in imported and "fast_fit" in done.stdout
    else:  # the default run and a configuration-only experiment read no experiment's rules or code
        assert imported == "[]" and "fast_fit" not in done.stdout
