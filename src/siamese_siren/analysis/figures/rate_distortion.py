"""The rate-distortion figure: kbps against quality, reference codecs and rate control as curves, INR files as
points."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import pandas as pd
import seaborn as sns

from siamese_siren.metrics.vocabulary import higher_is_better

from ..rate_distortion import CONTROL_FAMILY
from .drawing import metric_label, new_figure, save


def rate_distortion(summary: pd.DataFrame, metrics: list[str], path: str | Path, title: str = "") -> plt.Figure:
    """kbps (log) against mean quality, one panel per metric: codecs and rate control as curves, INR files as
    points.

    ``summary``: rows of :func:`siamese_siren.analysis.tables.rd_summary` for one dataset (family, method, point, kbps,
    ``<metric>_mean``). INR points: colour = precision (method), marker = variant (point). Rate control
    (family ``INR control``): one curve per kind of target, a point per target.
    """
    metrics = [m for m in metrics if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()] or ["kbps"]
    fig, axes = new_figure(1, len(metrics), 5.2 * len(metrics) + 2.5, 4.2)
    codecs = summary[summary["family"] == "codec"].sort_values("kbps")
    inr = summary[summary["family"] == "INR"]
    controlled = summary[summary["family"] == CONTROL_FAMILY].sort_values("kbps")
    for i, (ax, metric) in enumerate(zip(axes[0], metrics, strict=True)):
        column = f"{metric}_mean" if metric != "kbps" else "kbps"
        for j, (method, group) in enumerate(codecs.groupby("method", sort=True)):
            ax.plot(group["kbps"], group[column], marker="o", markersize=3, linewidth=1.2,
                    color=sns.color_palette("Greys", 4)[j % 3 + 1], label=f"{method} (codec)")
        for j, (method, group) in enumerate(controlled.groupby("method", sort=True)):
            ax.plot(group["kbps"], group[column], marker="D", markersize=4, linewidth=1.6,
                    color=sns.color_palette("dark", 8)[(3 + j) % 8], label=method)
        if len(inr):
            sns.scatterplot(data=inr.rename(columns={"method": "precision", "point": "variant"}), x="kbps",
                            y=column, hue="precision", style="variant", s=55, ax=ax,
                            legend=i == len(metrics) - 1, zorder=3)  # above the curves: every legend entry visible
        ax.set_xscale("log")
        lo, hi = summary["kbps"].min(), summary["kbps"].max()
        ax.set_xticks([t for t in (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
                       if lo / 1.5 <= t <= hi * 1.5])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("kbps (payload)")
        better = "higher" if higher_is_better(metric) else "lower"
        ax.set_ylabel(f"{metric_label(metric)} ({better} is better)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0, -1].get_legend_handles_labels()
    for ax in axes[0]:
        if ax.get_legend():
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return save(fig, path)
