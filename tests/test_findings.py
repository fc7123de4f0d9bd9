"""The paper's claims checked on per-clip records: verdicts follow the numbers, both ways."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_plan import ROOT, load

from siamese_siren.analysis.findings import check, verdict, write_findings
from siamese_siren.pipeline.plan import Plan
from siamese_siren.pipeline.targets.findings import findings_spec

#: Speech quality per (library model) in the paper's direction: Table 1's order and Table 2-3's sizes.
GOOD = {"original-siren": 1.0, "pe-siren": 2.0, "optimized-siren": 2.5, "siamese-siren": 3.0,
        "siamese-2x128+1x64": 2.2, "siamese-2x64+1x32": 1.8, "siamese-1x256+2x128": 2.4, "siamese-0+3x128": 2.1}


@pytest.fixture(scope="module")
def small() -> Plan:
    return Plan(load(ROOT / "profiles" / "paper-small" / "workflow.yaml"))


def records(plan: Plan, quality: dict[str, float], clips: int = 4, denoise_gain: float = 0.3) -> pd.DataFrame:
    """Per-clip records of every cell the findings read, each metric a monotone function of ``quality``."""
    rng = np.random.default_rng(0)
    rows = []

    def add(dataset: str, variant: str, precision: str, denoise: str, q: float) -> None:
        speech = plan.kind(dataset) == "speech"
        for k in range(clips):
            e = rng.normal(0, 0.01)
            rows.append({"dataset": dataset, "variant": variant, "clip": f"c{k}", "precision": precision,
                         "denoise": denoise, "visqol": q + e, "cdpam": 1 / q + e,
                         "pesq": q + e if speech else np.nan,
                         "estoi": (q - 1) / 2 + e if speech else np.nan})

    spec = findings_spec(plan)
    for dataset in plan.datasets:
        # Figure 4's records first: its siamese-denoised one is also the tables' Siamese SIREN cell.
        fig4 = spec["fig4"]
        gain = {"none": 0.0, "stationary": 0.1, "nonstationary": 0.05,
                "siamese": 0.1 + denoise_gain * (2 if plan.kind(dataset) == "music" else 1)}
        for mode, g in gain.items():
            add(dataset, fig4["variant"], fig4["precision"], mode, quality["siamese-siren"] - 0.3 + g)
        for table in spec["tables"].values():
            for model, name in table["roles"].items():
                add(dataset, name, table["precision"], table["denoise"][name], quality[model])
        for model, name in spec["fig6"]["roles"].items():
            add(dataset, name, "float", "none", {"pe-siren": 3.0, "original-siren": 1.5}[model])
    frame = pd.DataFrame(rows)
    return frame.drop_duplicates(["dataset", "variant", "clip", "precision", "denoise"])


def by_claim(findings) -> dict[str, str]:
    return {f.claim.split(" (")[0].split(":")[0]: f.holds for f in findings}


def test_a_run_in_the_papers_direction_holds_every_claim_it_can(small, tmp_path: Path):
    spec = findings_spec(small)
    assert spec["tables"]["table1"]["roles"]["siamese-siren"] == "siamese-siren"
    assert spec["fig6"]["roles"] == {"original-siren": "original-siren-long", "pe-siren": "pe-siren-long"}
    findings = check(records(small, GOOD), spec)
    verdicts = by_claim(findings)
    assert verdicts["The original SIREN collapses after int8 quantization"] == "yes"
    assert verdicts["PE + SIREN scores below optimized SIREN"] == "yes"
    assert verdicts["Siamese SIREN with denoising beats optimized SIREN on PESQ and CDPAM"] == "yes"
    assert verdicts["Quality falls with size"] == "yes"
    assert verdicts["Two shared layers and one siamese layer is the best split of Table 3"] == "yes"
    assert verdicts["Denoising with the siamese noise estimate scores above no denoising"] == "yes"
    assert verdicts["Denoising with the siamese noise estimate scores above noisereduce without an estimate"] == "yes"
    assert verdicts["After long training"] == "yes"
    # The paper's "fewer parameters" is torchsummary's count; the exact counts differ by one parameter at full
    # size and are larger for the scaled Siamese SIREN, so the claim is reported as not holding.
    fewer = next(f for f in findings if f.claim.startswith("Siamese SIREN has fewer"))
    assert fewer.holds == "no" and "513k vs 843k" in fewer.paper
    md, csv = tmp_path / "findings.md", tmp_path / "findings.csv"
    write_findings(findings, md, csv, spec["header"])
    text = md.read_text()
    assert "scaled run: every width x0.3125" in text and text.count("\n| ") == len(findings) + 1
    assert len(pd.read_csv(csv)) == len(findings)


def test_claims_that_the_numbers_contradict_do_not_hold(small):
    reversed_quality = {**GOOD, "pe-siren": 2.8, "siamese-2x64+1x32": 2.9, "original-siren": 2.0}
    verdicts = by_claim(check(records(small, reversed_quality, denoise_gain=-0.2), findings_spec(small)))
    assert verdicts["The original SIREN collapses after int8 quantization"] == "no"
    assert verdicts["PE + SIREN scores below optimized SIREN"] == "no"
    assert verdicts["Quality falls with size"] == "no"
    assert verdicts["Denoising with the siamese noise estimate scores above no denoising"] == "no"


def test_what_a_run_lacks_is_not_run_and_the_papers_own_verdicts_are_computed(small):
    spec = {**findings_spec(small), "fig6": None, "fig4": None}
    findings = check(records(small, GOOD), spec)
    verdicts = by_claim(findings)
    assert verdicts["After long training"] == "not run"
    unscored = records(small, GOOD)
    unscored = unscored[~unscored["variant"].str.endswith("-long")]
    assert by_claim(check(unscored, findings_spec(small)))["After long training"] == "not run"
    assert verdicts["Denoising with the siamese noise estimate scores above no denoising"] == "not run"
    # The paper's Table 2 ViSQOL rises from 2x128+1x64 (1.28) to 2x64+1x32 (1.34): its own claim holds in 3 of 4.
    size = next(f for f in findings if f.claim.startswith("Quality falls"))
    assert "ViSQOL 1.92 / 1.28 / 1.34" in size.paper and "partly (3 of 4)" in size.paper
    assert verdict([]) == "not run" and verdict([True, False, True]) == "partly (2 of 3)"
