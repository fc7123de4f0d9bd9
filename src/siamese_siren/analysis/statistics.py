"""Means with Student-t confidence intervals over clips: what every table, figure, page and kit reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Fewer clips than this: no interval is shown (with N=2 the t quantile is 12.7, the interval meaningless).
MIN_N_FOR_INTERVAL = 3


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, int]:
    """Mean, half-width of its Student-t confidence interval, and N, ignoring NaN (N = 1: half-width NaN)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(x[0]), float("nan"), 1
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * x.std(ddof=1) / np.sqrt(n)
    return float(x.mean()), float(half), n


def shown_interval(values: Sequence[float]) -> tuple[float, float]:
    """The interval a table or a figure shows around a mean: Student t at 95%, none (NaN) below
    :data:`MIN_N_FOR_INTERVAL` clips. Figures pass it to seaborn as ``errorbar``, so they follow the tables' rule."""
    mean, half, n = mean_ci(values)
    if n < MIN_N_FOR_INTERVAL or np.isnan(half):
        return float("nan"), float("nan")
    return mean - half, mean + half


def summarise(records: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """One row per group and metric: mean, ci95 (half-width), n."""
    rows = []
    for key, group in records.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for metric in metrics:
            if metric not in group:
                continue
            mean, half, n = mean_ci(group[metric])
            rows.append({**dict(zip(by, key, strict=True)), "metric": metric, "mean": mean, "ci95": half, "n": n})
    return pd.DataFrame(rows)
