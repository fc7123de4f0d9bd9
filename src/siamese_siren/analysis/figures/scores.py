"""Score figures: the denoising ablation (Figure 4) and the metric against the training step."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns

from ..statistics import MIN_N_FOR_INTERVAL, shown_interval
from .drawing import metric_label, new_figure, save

DENOISE_ORDER = ["none", "stationary", "nonstationary", "siamese"]


def denoise_ablation(records: pd.DataFrame, metric: str, path: str | Path, title: str = "") -> plt.Figure:
    """Figure 4: a metric per denoising mode (no estimate vs the siamese estimate), music vs speech."""
    order = [m for m in DENOISE_ORDER if m in set(records["denoise"])]
    fig, axes = new_figure(1, 1, 6.5, 3.8)
    ax = axes[0, 0]
    sns.barplot(data=records, x="denoise", y=metric, hue="kind", order=order, errorbar=shown_interval, ax=ax)
    # The clips as black dots over their bars: one colour per hue level (seaborn 0.14 drops color= with hue).
    sns.stripplot(data=records, x="denoise", y=metric, hue="kind", order=order, dodge=True,
                  palette={kind: "black" for kind in records["kind"].unique()}, size=3, alpha=0.5, legend=False,
                  ax=ax)
    ax.set_xlabel("denoising")
    ax.set_ylabel(metric_label(metric))
    ax.set_title(title or f"Denoising ablation ({metric_label(metric)}, mean and 95% CI; none below "
                          f"N={MIN_N_FOR_INTERVAL})")
    return save(fig, path)


def training_curves(records: pd.DataFrame, metric: str, path: str | Path) -> plt.Figure:
    """A metric against training step (snapshots of one run), one line per variant, one panel per dataset."""
    datasets = list(records["dataset"].unique())
    fig, axes = new_figure(1, len(datasets), 5 * len(datasets), 3.6)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        data = records[records["dataset"] == dataset]
        sns.lineplot(data=data, x="step", y=metric, hue="variant", marker="o", errorbar=shown_interval, ax=ax)
        ax.set_xscale("log")
        # Ticks at the snapshot steps, in plain numbers: the log axis' own labelled minor ticks ("3x10^1 4x10^1")
        # collide when the steps span less than a decade.
        ax.set_xticks(sorted(data["step"].unique()), labels=[f"{step:g}" for step in sorted(data["step"].unique())])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("training step (log scale)")
        ax.set_ylabel(metric_label(metric))
        ax.set_title(dataset)
    return save(fig, path)
