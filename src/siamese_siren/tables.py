"""Per-clip records -> the paper's tables: mean, 95% confidence interval and N per cell, exact sizes.

Records are a tidy table with one row per (dataset, variant, clip, precision, denoise) and one column per metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .bitstream import kbps
from .models import Variant, parameter_count

#: Metrics in the order of the paper's tables, with whether higher is better.
METRIC_COLUMNS = {"visqol": True, "cdpam": False, "pesq": True, "stoi": True, "snr_db": True, "lsd_db": False}


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


def _cell(mean: float, half: float, n: int) -> str:
    if n == 0:
        return "n/a"
    spread = "" if np.isnan(half) else f" ± {half:.2f}"
    return f"{mean:.2f}{spread} (N={n})"


def variant_columns(variant: Variant, file_bytes: float, seconds: float) -> dict:
    """The architecture and size columns of the paper's tables, with exact counts and our real file size."""
    params = parameter_count(variant)
    return {
        "shared": variant.label.split("+")[0],
        "siamese": variant.label.split("+")[1],
        "PE": variant.pe_frequencies,
        "omega_first": variant.omega_first,
        "omega_hidden": variant.omega_hidden,
        "params": params,
        "float32 kB": round(params * 4 / 1000, 1),
        "file bytes": int(file_bytes) if np.isfinite(file_bytes) else None,
        "file kB": round(file_bytes / 1000, 1),
        "kbps": round(kbps(file_bytes, seconds), 1),
    }


def build_table(
    records: pd.DataFrame,
    sizes: pd.DataFrame,
    variants: dict[str, Variant],
    metrics: Sequence[str],
) -> pd.DataFrame:
    """A paper table: one row per (dataset, variant) in the order given, size columns, then one cell per metric.

    ``records`` must already be filtered to the table's precision and denoising; ``sizes`` has columns
    dataset, variant, clip, bytes, seconds (one row per compressed file).
    """
    rows = []
    for dataset in records["dataset"].unique():
        for name, variant in variants.items():
            rec = records[(records["dataset"] == dataset) & (records["variant"] == name)]
            size = sizes[(sizes["dataset"] == dataset) & (sizes["variant"] == name)]
            row = {"dataset": dataset, "variant": name}
            row.update(variant_columns(variant, size["bytes"].mean(), size["seconds"].mean()))
            for metric in metrics:
                mean, half, n = mean_ci(rec[metric]) if metric in rec else (np.nan, np.nan, 0)
                row[metric] = _cell(mean, half, n)
                row[f"{metric}_mean"], row[f"{metric}_ci95"], row[f"{metric}_n"] = mean, half, n
            rows.append(row)
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, tex_path: str | Path,
                caption: str = "") -> None:
    """CSV keeps every number; Markdown and LaTeX show the formatted cells only."""
    table.to_csv(csv_path, index=False)
    shown = table[[c for c in table.columns if not c.endswith(("_mean", "_ci95", "_n"))]]
    Path(md_path).write_text((f"{caption}\n\n" if caption else "") + shown.to_markdown(index=False) + "\n")
    latex = shown.to_latex(index=False, caption=caption or None, escape=True)
    Path(tex_path).write_text(latex)
