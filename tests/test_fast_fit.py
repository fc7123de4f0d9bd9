"""Fast fitting (an experiment): its runs in a plan, steps to the paper's final loss, and quality per step budget."""

import re

import numpy as np
import pandas as pd
import pytest
from test_plan import ROOT, load

from siamese_siren.experiments import fast_fit
from siamese_siren.experiments.fast_fit import (
    fast_fit_losses,
    fast_fit_records,
    quality_at_steps,
    steps_to_target,
    write_fast_fit,
)
from siamese_siren.pipeline.config import ConfigError
from siamese_siren.pipeline.plan import Plan


def test_fast_fit_counts_the_steps_to_the_papers_final_loss_per_clip(tmp_path):
    runs = [("paper", 2, "paper", "float-step2"), ("fast", 2, "fast-2steps", "float"),
            ("paper", 4, "paper", "float"), ("fast", 4, "fast", "float")]
    curves = {("paper", "a"): [8.0, 4.0, 2.0, 1.0], ("paper", "b"): [8, 6, 4, 2.0], ("fast-2steps", "a"): [3.0, 1.5],
              ("fast-2steps", "b"): [3.0, 2.5], ("fast", "a"): [3.0, 0.9, 0.5, 0.4], ("fast", "b"): [3, 2.5, 2, 1.0]}
    losses = {("speech", variant, clip): np.array(curve) for (variant, clip), curve in curves.items()}
    per_clip = fast_fit_losses(losses, runs, "paper")
    fast = per_clip[per_clip["recipe"] == "fast"].set_index(["clip", "budget"])
    assert fast.loc[("a", 2), "final_over_target"] == 1.5 and np.isnan(fast.loc[("a", 2), "steps_to_target"])
    assert fast.loc[("a", 4), "steps_to_target"] == 1 and fast.loc[("b", 4), "steps_to_target"] == 2
    paper = per_clip[per_clip["recipe"] == "paper"].set_index(["clip", "budget"])
    assert paper.loc[("a", 2), "final_over_target"] == 4.0 and paper.loc[("a", 4), "steps_to_target"] == 3
    steps = steps_to_target(per_clip).set_index("recipe")
    assert steps.loc["fast", "median_steps"] == 1.5 and steps.loc["fast", "max_steps"] == 2
    assert steps.loc["paper", "median_steps"] == 3 and steps.loc["fast", "reached"] == 2

    records = pd.DataFrame({"dataset": "speech", "variant": ["paper", "paper", "fast", "fast", "fast"],
                            "clip": ["a", "a", "a", "a", "a"], "precision": ["float-step2", "float", "float",
                                                                              "float", "int8"],
                            "denoise": ["none", "none", "none", "siamese", "none"], "pesq": [1.0, 2.0, 3.0, 9, 9]})
    chosen = fast_fit_records(records, runs)
    assert sorted(zip(chosen["recipe"], chosen["budget"], chosen["pesq"], strict=True)) == [
        ("fast", 4, 3.0), ("paper", 2, 1.0), ("paper", 4, 2.0)]
    quality = quality_at_steps(chosen, ["pesq", "cdpam"])
    write_fast_fit(steps_to_target(per_clip), per_clip, quality, tmp_path / "f.csv", tmp_path / "f.md", "Fast")
    text = re.sub(r" +", " ", (tmp_path / "f.md").read_text())
    assert "| speech | fast | 2 | 1.5 (max 2) |" in text and "| speech | paper | 2 | 3 (max 3) |" in text
    assert "| speech | paper | 2 | 1.00 (N=1) | 3.50 |" in text and "| speech | fast | 2 | n/a | 1.38 |" in text
    long = pd.read_csv(tmp_path / "f.csv")
    assert set(long["measure"]) >= {"median_steps", "pesq", "median final loss / paper's final loss"}


def fast_fit_plan(overlay: dict) -> Plan:
    """The test config with ``overlay``, planned with the experiment's target added, as its rules add it."""
    plan = Plan(load(ROOT / "tests" / "workflow" / "config.yaml", ROOT / "tests" / "workflow" / "fast-fitting.yaml",
                     {"results": "res"}, overlay))
    plan.add_target(fast_fit.FastFit())
    return plan


def test_fast_fit_runs_each_recipe_once_per_budget_against_the_baselines_snapshots():
    plan = fast_fit_plan({"variants": {"t-fast": {"hidden": [16], "siam": [8], "steps": 20,
                                                           "schedule": "cosine"}},
                                   "figures": {"fast_fit": {"baseline": "t-siamese-siren", "recipes": ["t-fast"],
                                                            "steps": [7, 20, 30]}}})
    assert fast_fit.runs(plan) == [
        ("t-siamese-siren", 7, "t-siamese-siren", "float-step7"), ("t-fast", 7, "t-fast-7steps", "float"),
        ("t-siamese-siren", 20, "t-siamese-siren", "float-step20"), ("t-fast", 20, "t-fast", "float"),
        ("t-siamese-siren", 30, "t-siamese-siren", "float"), ("t-fast", 30, "t-fast-30steps", "float")]
    assert plan.steps("t-fast-7steps") == 7 and plan.recipe("t-fast-30steps", "schedule") == "cosine"
    assert plan.snapshot_steps("t-siamese-siren") == [7, 10, 20]  # the budgets join the configured snapshots
    assert ("float-step7", "none") in plan.reconstructions("music", "t-siamese-siren")
    assert plan.reconstructions("speech", "t-fast-7steps") == [("float", "none")]
    assert {"res/figures/fast_fit.png", "res/fast_fit.csv", "res/fast_fit.md"} <= set(plan.targets())
    with pytest.raises(ConfigError, match="figures.fast_fit.steps: 40 is beyond the baseline's 30 steps"):
        fast_fit_plan({"figures": {"fast_fit": {"baseline": "t-siamese-siren", "recipes": ["t-pe-siren"],
                                                         "steps": [40]}}})
    with pytest.raises(ConfigError, match=r"\['t-pe-siren-10steps'\] are names figures.fast_fit gives"):
        fast_fit_plan({"variants": {"t-pe-siren-10steps": {"hidden": [4]}},
                                "figures": {"fast_fit": {"baseline": "t-siamese-siren", "recipes": ["t-pe-siren"],
                                                         "steps": [10]}}})
