"""The INR families experiment through the real Snakemake at the test config's scale (tests/workflow/families.yaml):
the tuning on windows no table scores, the comparison's tables and figure, and a row per family on the listening
page."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.codec.models import Variant, parameter_count

pytestmark = pytest.mark.slow  # slow tier: runs the real Snakemake (deselect with -m 'not slow')

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [ROOT / "tests" / "workflow" / "config.yaml", ROOT / "tests" / "workflow" / "families.yaml"]
#: Only the experiment's table and the metrics it compares: the paper's tables would train three more variants.
SHORTER = {"tables": {"table1": None, "table2": None, "table3": None},
           "metrics": {"speech": ["visqol", "pesq"], "music": ["visqol"]}}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("families") / "results"
    extra = results.parent / "shorter.yaml"
    extra.write_text(yaml.safe_dump(SHORTER))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), str(results / "families.md"),
           str(results / "listen" / "index.html"), "--cores", "2", "--configfile", *map(str, CONFIGS), str(extra),
           "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-6000:]
    return results


def test_the_comparison_is_written_with_every_variant(finished):
    text = re.sub(r" +", " ", (finished / "families.md").read_text())
    for section in ("## Targets", "## Steps to the paper recipe's final loss", "## Quality at the paper file's bytes",
                    "## kbps at the paper file's quality", "## Hyper-parameters chosen on held-out windows"):
        assert section in text
    assert "| all | t-siamese-siren | sine | siamese | paper | 834 | 2 of 2 |" in text
    assert "| all | t-plain | sine | plain | paper | 833 | 2 of 2 |" in text  # equal parameter count, one head
    assert "| all | t-fourier-plain | sine + fourier | plain | paper | 817 |" in text
    assert "| all | t-gauss-own | gauss | siamese | own | 834 |" in text
    long = pd.read_csv(finished / "families.csv")
    assert set(long["variant"]) == {"t-siamese-siren", "t-plain", "t-gauss-own", "t-fourier-plain"}
    assert {"median_steps", "ratio", "difference", "kbps"} <= set(long["measure"])
    assert set(long.loc[long["table"] == "kbps at the paper file's quality", "metric"]) == {"visqol", "pesq"}
    assert (finished / "figures" / "families.png").read_bytes()[:4] == b"\x89PNG"


def test_the_families_are_trained_and_written_as_configured(finished):
    plain = json.loads(next((finished / "models" / "speech" / "t-plain" / "b0000").glob("*.json")).read_text())
    assert plain["steps"] == 30 and parameter_count(Variant.from_dict(plain["variant"])) == 833
    gauss = json.loads(next((finished / "models" / "music" / "t-gauss-own" / "b0000").glob("*.json")).read_text())
    assert gauss["variant"]["activation"] == "gauss" and gauss["recipe"]["lr"] == 5e-3
    sizes = pd.read_csv(finished / "compressed" / "speech" / "t-fourier-plain" / "b0000" / "sizes.csv")
    assert set(sizes["setting"]) >= {"int8", "int4-pc"}


def test_the_tuning_uses_only_windows_no_table_scores(finished):
    record = pd.read_csv(finished / "families" / "tuning.csv")
    assert sorted(set(record["fields"])) == ["gauss_sigma=0.1", "gauss_sigma=0.3"]
    assert len(record) == 2 * 2 and (record["steps"] == 5).all()  # one window per dataset
    for dataset in ("speech", "music"):
        manifest = pd.read_csv(finished / "manifests" / f"{dataset}.csv")
        scored = {Path(s).name for s in manifest.loc[manifest["status"] == "selected", "source"]}
        for window in record.loc[record["window"].str.startswith(f"{dataset}/"), "window"]:
            name, offset = re.fullmatch(rf"{dataset}/(.+)@([\d.]+)s", window).groups()
            # the test config scores [0.5, 1.5) of each selected file
            assert name not in scored or not (float(offset) < 1.5 and 0.5 < float(offset) + 1.0)


def test_the_listening_page_has_a_row_per_family(finished):
    page = (finished / "listen" / "index.html").read_text()
    for variant in ("t-siamese-siren", "t-gauss-own", "t-fourier-plain"):
        assert variant in page
