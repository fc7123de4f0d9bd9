"""INR families (an experiment): its variants in a plan at equal parameter count, the tuning on held-out windows,
steps to the paper's loss, quality at the paper file's bytes, kbps at its quality, and the report."""

import re

import numpy as np
import pandas as pd
import pytest
from test_plan import ROOT, load

from siamese_siren.experiments import families
from siamese_siren.experiments.families import Run
from siamese_siren.pipeline.config import ConfigError
from siamese_siren.pipeline.plan import Plan
from siamese_siren.pipeline.targets import listen

EXPERIMENT = ROOT / "config" / "experiments" / "families.yaml"
SMALL = ROOT / "profiles" / "paper-small" / "workflow.yaml"


def planned(*overlays) -> Plan:
    plan = Plan(load(*overlays))
    plan.add_target(families.Families())
    return plan


@pytest.mark.parametrize("scale", ["full size", "paper-small"])
def test_every_family_runs_in_both_layouts_with_both_recipes_at_the_papers_parameter_count(scale):
    plan = planned(*([SMALL] if scale == "paper-small" else []), EXPERIMENT, {"results": "res"})
    runs = families.runs(plan)
    baseline = runs[0]
    assert (baseline.variant, baseline.family, baseline.layout, baseline.recipe) == (
        "siamese-siren", "sine", "siamese", "paper")
    assert baseline.params == (140_546 if scale == "full size" else 15_762)
    cells = {(r.family, r.layout, r.recipe) for r in runs}
    for family in ("finer", "gauss", "gabor", "sine + fourier"):
        assert {(family, layout, recipe) for layout in ("siamese", "plain") for recipe in ("paper", "own")} <= cells
    assert ("sine", "plain", "paper") in cells  # optimized-siren: the paper's own plain layout
    for run in runs:
        assert abs(run.params / baseline.params - 1) <= families.PARAMETER_TOLERANCE
        assert plan.steps(run.variant) == 2500
        # every compared file at every precision, the paper file among them
        for precision in ("int8-paper", "int6-pc-auto", "int4-auto"):
            assert (precision, plan.denoise(run.variant, "auto")) in plan.reconstructions("speech", run.variant)
    assert {"res/families.md", "res/families.csv", "res/figures/families.png", "res/families/tuning.csv"} <= set(
        plan.targets())
    on_page = listen.page_variants(plan)  # a row per family on the listening page
    assert {families.family_of(plan.variant(v)) for v in on_page} >= {"sine", "finer", "gauss", "gabor",
                                                                      "sine + fourier"}
    # the own recipes as published, and the tuned values in every variant of a family
    assert plan.recipe("gabor-siamese-own", "lr") == 5e-3 and plan.recipe("finer-plain-own", "lr") == 5e-4
    configured = families.configured_fields(plan)
    for name, candidates in configured.items():
        assert sum(bool(variants) for variants in candidates.values()) == 1, (name, candidates)
        assert len(next(v for v in candidates.values() if v).split(", ")) == 4  # both layouts, both recipes


def test_a_variant_of_another_size_or_length_is_refused_naming_the_key():
    experiment = load(EXPERIMENT, {"results": "res"})
    bigger = {"families": {"variants": ["siamese-2x128+1x64"]}}
    with pytest.raises(ConfigError, match=r"families.variants: siamese-2x128\+1x64 has 37,506 parameters"):
        planned(EXPERIMENT, bigger)
    longer = {"variants": {"finer-siamese-own": {"steps": 100}}}
    with pytest.raises(ConfigError, match="variants.finer-siamese-own.steps: 100 steps, the baseline 2500"):
        planned(EXPERIMENT, longer)
    unknown = {"families": {"tune": {"candidates": {"gauss-siamese-own": [{"gauss_width": 0.1}]}}}}
    with pytest.raises(ConfigError, match="families.tune.candidates.gauss-siamese-own"):
        planned(EXPERIMENT, unknown)
    widths = {"families": {"tune": {"candidates": {"gauss-siamese-own": [{"hidden": [8]}]}}}}
    with pytest.raises(ConfigError, match="change the architecture's widths"):
        planned(EXPERIMENT, widths)
    assert experiment["families"]["reference"] == "int8-paper"


def test_the_experiments_config_does_nothing_until_its_rules_add_the_target():
    plan = Plan(load(EXPERIMENT, {"results": "res"}))
    assert "res/families.md" not in plan.targets()
    assert not plan.reconstructions("speech", "gauss-plain-own")  # not trained: nothing reads it


def test_tuning_trains_every_candidate_on_every_window_and_keeps_the_lowest_geometric_mean():
    plan = planned(ROOT / "tests" / "workflow" / "config.yaml", ROOT / "tests" / "workflow" / "families.yaml",
                   {"results": "res"})
    params = families.tune_params(plan)
    assert [c["fields"] for c in params["candidates"]] == [{"gauss_sigma": 0.1}, {"gauss_sigma": 0.3}]
    assert params["candidates"][1]["architecture"]["gauss_sigma"] == pytest.approx(0.3)
    assert params["candidates"][0]["recipe"]["lr"] == 5e-3 and params["candidates"][0]["recipe"]["schedule"] == "cosine"
    t = np.linspace(0, 1, 400, dtype=np.float32)
    windows = {"a": 0.5 * np.sin(2 * np.pi * 5 * t), "b": 0.5 * np.sin(2 * np.pi * 9 * t)}
    record = families.tune(params["candidates"], windows, steps=3, progress=False)
    assert list(record["window"]) == ["a", "b", "a", "b"] and (record["steps"] == 3).all()
    assert np.isfinite(record["loss"]).all()
    assert record["fields"].tolist()[::2] == ["gauss_sigma=0.1", "gauss_sigma=0.3"]

    record = pd.DataFrame({"variant": "v", "fields": ["x=1"] * 2 + ["x=2"] * 2 + ["x=3"] * 2,
                           "window": ["a", "b"] * 3, "steps": 3,
                           "loss": [1.0, 100.0, 9.0, 9.0, np.inf, 1e-9]})  # geometric means 10, 9, diverged
    summary = families.tuning_summary(record, {"v": {"x=2": "v, w"}})
    assert summary["score"].tolist() == pytest.approx([10.0, 9.0, np.inf])
    assert summary["chosen"].tolist() == [False, True, False] and summary["configured in"].tolist() == ["", "v, w", ""]


def runs_abc() -> list[Run]:
    return [Run("paper", "sine", "siamese", "paper", 100), Run("fast", "gauss", "siamese", "own", 100),
            Run("slow", "finer", "plain", "paper", 99)]


def test_steps_to_the_papers_final_loss_clip_by_clip_with_an_interval():
    clips = ["c1", "c2", "c3", "c4"]
    losses, seconds = {}, {}
    for i, clip in enumerate(clips):
        paper = np.geomspace(100, 1, 100)  # the paper's recipe ends at 1: first there at step 99
        losses[("speech", "paper", clip)] = paper
        losses[("speech", "fast", clip)] = np.geomspace(100, 0.01, 100) * (1 + 0.1 * i)  # about 2x sooner
        losses[("speech", "slow", clip)] = np.full(100, 2.0) if clip == "c4" else paper * 0.999
        for name in ("paper", "fast", "slow"):
            seconds[("speech", name, clip)] = 0.5
    per_clip = families.steps_per_clip(losses, seconds, runs_abc(), 100)
    fast = per_clip[per_clip["variant"] == "fast"].set_index("clip")
    assert fast.loc["c1", "steps_to_target"] == 50 and fast.loc["c1", "seconds_to_target"] == 25
    summary = families.steps_summary(per_clip, runs_abc(), 100).set_index(["dataset", "variant"])
    assert summary.loc[("speech", "paper"), "median_steps"] == 99 and summary.loc[("speech", "paper"), "ratio"] == 1
    row = summary.loc[("speech", "fast")]
    assert row["reached"] == 4 and row["ratio_low"] < row["ratio"] < row["ratio_high"] < 1
    assert 0.5 < row["ratio"] < 0.56 and not row["goal"]  # half the steps: not the quarter of the goal
    assert summary.loc[("all", "fast"), "clips"] == 4  # pooled over the datasets (one here)
    slow = summary.loc[("speech", "slow")]
    assert slow["reached"] == 3 and np.isnan(slow["median_steps"]) and np.isnan(slow["ratio"])
    curves = families.loss_curves(losses, runs_abc())
    last = curves[(curves["variant"] == "paper")].iloc[-1]
    assert last["step"] == 99 and last["loss_over_target"] == pytest.approx(1.0)


def points_frame() -> pd.DataFrame:
    """Per-clip INR points of three variants (two precisions each) and a codec on 4 speech clips."""
    rows = []
    quality = {("paper", "int8-paper"): 3.0, ("paper", "int4"): 2.0, ("fast", "int8-paper"): 3.5,
               ("fast", "int4"): 3.1, ("slow", "int8-paper"): 2.0, ("slow", "int4"): 1.5}
    kbps = {"int8-paper": 100.0, "int4": 50.0}
    for i in range(4):
        for (variant, precision), q in quality.items():
            rows.append({"dataset": "speech", "family": "INR", "method": f"INR {precision}", "point": variant,
                         "clip": f"c{i}", "kbps": kbps[precision] + i, "visqol": q + 0.05 * (i - 1.5)})
        rows.append({"dataset": "speech", "family": "codec", "method": "opus", "point": "12 kbps", "clip": f"c{i}",
                     "kbps": 12.0, "visqol": 4.0})
    return pd.DataFrame(rows)


def test_quality_at_the_paper_files_bytes_is_a_paired_difference_per_clip():
    quality = families.quality_at_paper_bytes(points_frame(), runs_abc(), "int8-paper", {"speech": ["visqol"]})
    rows = quality.set_index("variant")
    assert rows.loc["fast", "difference"] == pytest.approx(0.5) and rows.loc["fast", "n"] == 4
    assert rows.loc["fast", "ci95"] == pytest.approx(0.0, abs=1e-9) and rows.loc["fast", "verdict"] == "better"
    assert rows.loc["slow", "verdict"] == "worse" and rows.loc["fast", "paper_kbps"] == pytest.approx(101.5)


def test_kbps_at_the_paper_files_quality_with_bootstrap_intervals_over_clips():
    kbps = families.kbps_at_paper_quality(points_frame(), runs_abc(), "int8-paper", {"speech": ["visqol"]},
                                          draws=300, seed=1).set_index("variant")
    paper, fast, slow = kbps.loc["paper"], kbps.loc["fast"], kbps.loc["slow"]
    assert paper["ratio"] == pytest.approx(1.0) and paper["relative_low"] == paper["relative_high"] == 1
    # fast reaches 3.0 between its 4-bit file (3.1 at 51.5 kbps) and nothing cheaper: at most its cheapest file
    assert fast["found"] == "at most" and fast["ratio"] == pytest.approx(51.5 / 101.5)
    assert fast["ratio_low"] <= fast["ratio"] <= fast["ratio_high"] and fast["relative_high"] < 1 and not fast["goal"]
    assert np.isnan(slow["ratio"]) and slow["ratio_high"] == np.inf
    verdicts = families.targets(families.steps_summary(pd.DataFrame(
        columns=["dataset", "variant", "clip", "steps_to_target", "seconds_to_target"]), runs_abc(), 100),
        kbps.reset_index(), "paper", 100)
    assert verdicts["best"].tolist() == ["none", "fast"] and verdicts["clearly beats the paper"].tolist() == [False,
                                                                                                             True]
    few = families.kbps_at_paper_quality(points_frame()[points_frame()["clip"].isin(["c0", "c1"])], runs_abc(),
                                         "int8-paper", {"speech": ["visqol"]}, draws=100)
    assert few["ratio_low"].isna().all() and few["n"].eq(2).all()  # no interval below 3 clips, as the tables


def test_the_report_and_the_figure(tmp_path):
    points = points_frame()
    losses = {("speech", v, f"c{i}"): np.geomspace(10, s, 50) for v, s in (("paper", 1), ("fast", 0.1), ("slow", 2))
              for i in range(4)}
    seconds = dict.fromkeys(losses, 0.1)
    steps = families.steps_summary(families.steps_per_clip(losses, seconds, runs_abc(), 50), runs_abc(), 50)
    quality = families.quality_at_paper_bytes(points, runs_abc(), "int8-paper", {"speech": ["visqol"]})
    kbps = families.kbps_at_paper_quality(points, runs_abc(), "int8-paper", {"speech": ["visqol"]}, draws=100)
    verdicts = families.targets(steps, kbps, "paper", 50)
    tuning = families.tuning_summary(pd.DataFrame({"variant": "fast", "fields": ["a=1", "a=2"], "window": "w",
                                                   "steps": 3, "loss": [1.0, 2.0]}), {})
    families.write_families(steps, quality, kbps, verdicts, tuning, tmp_path / "f.csv", tmp_path / "f.md", "Families")
    text = re.sub(r" +", " ", (tmp_path / "f.md").read_text())
    assert text.startswith("Families\n\n## Targets")
    assert "| steps to the paper's final loss <= 0.25 x 50 | all | loss | fast | gauss |" in text
    assert "## Hyper-parameters chosen on held-out windows" in text
    assert "| fast | a=1 | 1 | 3 | 1.000e+00 | | chosen |" in text
    long = pd.read_csv(tmp_path / "f.csv")
    assert set(long["table"]) == {"steps", "quality at the paper file's bytes", "kbps at the paper file's quality"}
    fig = families.families_figure(families.loss_curves(losses, runs_abc()), points, runs_abc(), "int8-paper",
                                   {"speech": ["visqol"]}, tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert {t.get_text() for t in fig.legends[0].get_texts()} == {"paper", "fast", "slow", "opus (codec)"}


def test_without_tuning_the_comparison_runs_on_the_configured_values():
    config = load(EXPERIMENT, {"results": "res"})
    del config["families"]["tune"]
    plan = Plan(config)
    plan.add_target(families.Families())
    assert "res/families/tuning.csv" not in plan.targets() and "res/families.md" in plan.targets()
    assert families.configured_fields(plan) == {}
