"""Fast fitting: steps a faster recipe (a schedule, a learned initialisation) needs to reach the loss of the paper's
recipe, and quality at each step budget. Measured: no learned initialisation helped, the schedule did."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from siamese_siren.analysis.figures.drawing import metric_label, new_figure, save
from siamese_siren.analysis.statistics import shown_interval, summarise
from siamese_siren.analysis.tables import format_cell
from siamese_siren.codec import files
from siamese_siren.pipeline.config import config_error
from siamese_siren.pipeline.plan import Plan
from siamese_siren.pipeline.targets import Reconstruction, Target

# ---- the target: what it adds to a plan --------------------------------------------------------------------


def budget_variant(recipe: str, steps: int) -> str:
    """The name of a recipe's run with another step budget."""
    return f"{recipe}-{steps}steps"


def runs(plan: Plan) -> list[tuple[str, int, str, str]]:
    """(recipe, step budget, variant, precision) of every cell of fast_fit: the baseline's snapshots, each
    recipe's run of that many steps."""
    fit = plan.figure("fast_fit")
    baseline = fit["baseline"]
    plan.variant(baseline, "figures.fast_fit.baseline")
    cells = []
    for steps in fit["steps"]:
        if steps > plan.steps(baseline):
            config_error("figures.fast_fit.steps", f"{steps} is beyond the baseline's {plan.steps(baseline)} "
                         "steps", f"use budgets up to {plan.steps(baseline)}")
        cells.append((baseline, steps, baseline, "float" if steps == plan.steps(baseline) else f"float-step{steps}"))
        for recipe in fit["recipes"]:
            name = recipe if steps == plan.steps(recipe) else budget_variant(recipe, steps)
            cells.append((recipe, steps, name, "float"))
    return cells


def inputs(plan: Plan, batches: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """The fast_fit job's inputs: every batch's scores and trained models of every variant of its runs."""
    variants = sorted({name for _, _, name, _ in runs(plan)})
    L = plan.layout  # noqa: N806
    return {"scores": [L.scores(d, v, b) for d in plan.datasets for v in variants for b in batches[d]],
            "models": [L.models(d, v, b) for d in plan.datasets for v in variants for b in batches[d]]}


class FastFit(Target):
    """``figures.fast_fit``: each recipe run once per step budget it does not already run, against the snapshots
    of the baseline (the paper's recipe)."""

    key = "figures.fast_fit"

    def variants(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        fit = config["figures"].get("fast_fit")
        if not fit:
            return {}
        added = {}
        for recipe in fit["recipes"]:
            if recipe not in config["variants"]:
                config_error("figures.fast_fit.recipes", f"no variant named {recipe!r}",
                             f"use some of {list(config['variants'])}")
            spec = config["variants"][recipe]
            for steps in fit["steps"]:
                if steps != spec.get("steps", config["training"]["steps"]):
                    added[budget_variant(recipe, steps)] = {**spec, "steps": steps}
        return added

    def snapshots(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> dict[str, Iterable[int]]:
        return {spec["baseline"]: spec["steps"]}

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        return [(d, name, precision, "none") for _, _, name, precision in runs(plan) for d in plan.datasets]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("fast_fit")] + [plan.layout.fast_fit(ext) for ext in ("csv", "md")]


# ---- the analysis: steps to the paper's loss, quality per budget ----------------------------------------------


def fast_fit_losses(losses: dict[tuple[str, str, str], np.ndarray], runs: Sequence[tuple[str, int, str, str]],
                    baseline: str) -> pd.DataFrame:
    """Steps each recipe needs to reach, per clip, the loss the paper's recipe (``baseline``) ends with.

    ``losses``: {(dataset, variant, clip): the loss of every step, i.e. of the weights after that many updates}.
    ``runs``: (recipe, budget, variant, precision) as :meth:`siamese_siren.pipeline.plan.Plan.fast_fit_runs` gives them.
    One row per dataset, recipe and budget: the median over clips of the run's final loss over the target, and the
    first step at which the run reached the target (NaN where it never did).
    """
    rows = []
    for (dataset, variant, clip), curve in losses.items():
        if variant != baseline:
            continue
        target = float(curve[-1])
        for recipe, budget, name, _ in runs:
            if recipe == baseline:
                run = curve[:budget]
            elif (dataset, name, clip) in losses:
                run = losses[(dataset, name, clip)]
            else:
                continue
            reached = np.flatnonzero(run <= target)
            rows.append({"dataset": dataset, "recipe": recipe, "budget": budget, "clip": clip, "target": target,
                         "final_over_target": float(run[-1]) / target,
                         "steps_to_target": int(reached[0]) if len(reached) else math.nan})
    return pd.DataFrame(rows)


def steps_to_target(per_clip: pd.DataFrame) -> pd.DataFrame:
    """Per dataset and recipe: the steps needed by each clip (its fewest over the budgets), as a median and a
    maximum over clips, and how many clips reached the paper's final loss at all."""
    needed = per_clip.groupby(["dataset", "recipe", "clip"], sort=False)["steps_to_target"].min().reset_index()
    rows = []
    for (dataset, recipe), group in needed.groupby(["dataset", "recipe"], sort=False):
        reached = group["steps_to_target"].dropna()
        rows.append({"dataset": dataset, "recipe": recipe, "clips": len(group), "reached": len(reached),
                     "median_steps": float(reached.median()) if len(reached) == len(group) else math.nan,
                     "max_steps": float(reached.max()) if len(reached) == len(group) else math.nan})
    return pd.DataFrame(rows)


def fast_fit_records(records: pd.DataFrame, runs: Sequence[tuple[str, int, str, str]]) -> pd.DataFrame:
    """The per-clip scores of fast_fit's runs, not denoised (the network alone), with their recipe and budget."""
    cells = pd.DataFrame(runs, columns=["recipe", "budget", "variant", "precision"])
    return records[records["denoise"] == "none"].merge(cells, on=["variant", "precision"])


def quality_at_steps(records: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, 95% CI and N of each metric per dataset, recipe and step budget, of :func:`fast_fit_records`."""
    return summarise(records, ["dataset", "recipe", "budget"], [m for m in metrics if m in records])


def write_fast_fit(steps: pd.DataFrame, losses: pd.DataFrame, quality: pd.DataFrame, csv_path: str | Path,
                   md_path: str | Path, caption: str = "") -> None:
    """CSV in long form (one row per measure); Markdown: the steps-to-target table, then quality at each budget."""
    ratio = losses.groupby(["dataset", "recipe", "budget"], sort=False)["final_over_target"].median()
    long = pd.concat([
        steps.melt(id_vars=["dataset", "recipe"], var_name="measure").assign(budget=math.nan),
        ratio.rename("value").reset_index().assign(measure="median final loss / paper's final loss"),
        quality.assign(measure=quality["metric"]).rename(columns={"mean": "value"})
        [["dataset", "recipe", "budget", "measure", "value", "ci95", "n"]],
    ], ignore_index=True)
    with files.atomic_write(csv_path, "w", newline="") as f:
        long.to_csv(f, index=False)

    def steps_cell(row: pd.Series) -> str:
        if row["reached"] < row["clips"]:
            return f"not reached by {row['clips'] - row['reached']} of {row['clips']} clips"
        return f"{row['median_steps']:g} (max {row['max_steps']:g})"

    shown_steps = steps.assign(**{"steps to the paper's final loss, median over clips": steps.apply(steps_cell, axis=1)
                                  if len(steps) else []})[["dataset", "recipe", "clips",
                                                           "steps to the paper's final loss, median over clips"]]
    wide = ratio.map(lambda r: f"{r:.2f}").rename("loss / paper's final").to_frame()
    cells = quality.assign(cell=[format_cell(m, mean, half, n) for m, mean, half, n in
                                 zip(quality["metric"], quality["mean"], quality["ci95"], quality["n"], strict=True)])
    if len(cells):
        wide = cells.pivot_table(index=["dataset", "recipe", "budget"], columns="metric", values="cell",
                                 aggfunc="first", sort=False).join(wide, how="outer").reindex(ratio.index)
    text = [caption, "", "Steps needed to reach the loss of the paper's recipe after all its steps:", "",
            shown_steps.to_markdown(index=False, disable_numparse=True), "",
            "Quality at each step budget (float weights, not denoised; mean ± 95% CI, N):", "",
            wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True)]
    files.write_text(md_path, "\n".join(text).lstrip("\n") + "\n")


def fast_fit_figure(records: pd.DataFrame, losses: pd.DataFrame, metrics: list[str], path: str | Path) -> plt.Figure:
    """Quality and loss against the step budget, one line per recipe, one row per dataset.

    ``records``: per-clip scores with ``recipe`` and ``budget`` columns; ``losses``: per-clip rows of
    :func:`siamese_siren.analysis.tables.fast_fit_losses`. The loss panel shows each run's final loss over the loss the
    paper's recipe ends with: at or below 1 the recipe has caught up.
    """
    datasets = list(losses["dataset"].unique())
    recipes = list(dict.fromkeys(losses["recipe"]))  # the baseline first, the same colour in every panel
    shown = [m for m in metrics if m in records and records[m].notna().any()]
    fig, axes = new_figure(len(datasets), len(shown) + 1, 4.2 * (len(shown) + 1), 3.4 * len(datasets))
    for row, dataset in zip(axes, datasets, strict=True):
        data = records[records["dataset"] == dataset]
        panels = [(m, data, m) for m in shown] + [("loss", losses[losses["dataset"] == dataset], "final_over_target")]
        for ax, (metric, frame, column) in zip(row, panels, strict=True):
            if frame[column].notna().any():
                sns.lineplot(data=frame, x="budget", y=column, hue="recipe", hue_order=recipes, marker="o",
                             errorbar=shown_interval, ax=ax)
            else:  # a speech-only metric on music
                ax.text(0.5, 0.5, f"no {metric_label(metric)} for {dataset}", ha="center", va="center",
                        transform=ax.transAxes)
            budgets = sorted(frame["budget"].unique())
            ax.set_xscale("log")
            ax.set_xticks(budgets, labels=[f"{b:g}" for b in budgets])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel("training steps (log scale)")
            if metric == "loss":
                ax.set_yscale("log")
                ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
                ax.set_ylabel("final loss / paper's final loss")
            else:
                ax.set_ylabel(metric_label(metric))
            ax.set_title(f"{dataset}: {metric_label(metric) if metric != 'loss' else 'loss'}", fontsize=10)
    return save(fig, path)
