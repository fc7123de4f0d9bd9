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


# --- rate-distortion: INR files and reference codecs on the same clips ------------------------------------------

#: Per-clip columns every rate-distortion point carries besides its metrics.
POINT_COLUMNS = ["dataset", "family", "method", "point", "clip", "kbps", "bytes"]


def inr_points(scores: pd.DataFrame, sizes: pd.DataFrame, settings: dict[str, str | None],
               denoise: dict[str, str], float_bytes: dict[str, int]) -> pd.DataFrame:
    """Per-clip rate-distortion points of INR files: method ``INR <precision>``, point = the variant.

    ``scores``: per-clip records (dataset, variant, clip, precision, denoise, metrics...); ``sizes``: one row per
    compressed file (dataset, variant, setting, clip, bytes, seconds); ``settings``: precision -> the quantize
    setting whose file it decodes (None: float weights, counted as ``float_bytes`` of the variant).
    """
    frames = []
    for precision, setting in settings.items():
        for name, mode in denoise.items():
            rec = scores[(scores["variant"] == name) & (scores["precision"] == precision) & (scores["denoise"] == mode)]
            if rec.empty:
                continue
            if setting is None:
                size = sizes[sizes["variant"] == name].drop_duplicates(["dataset", "clip"])
                size = size[["dataset", "clip", "seconds"]].assign(bytes=float_bytes[name])
            else:
                size = sizes[(sizes["variant"] == name) & (sizes["setting"] == setting)][
                    ["dataset", "clip", "bytes", "seconds"]]
            size = size.rename(columns={"seconds": "file_seconds"})  # scores carry their own (scored) seconds
            merged = rec.drop(columns=["bytes", "file_seconds"], errors="ignore").merge(
                size, on=["dataset", "clip"], how="left", validate="one_to_one")
            frames.append(merged.assign(family="INR", method=f"INR {precision}", point=name,
                                        kbps=8.0 * merged["bytes"] / merged["file_seconds"] / 1000.0))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=POINT_COLUMNS)


def codec_points(codec_scores: pd.DataFrame) -> pd.DataFrame:
    """Per-clip points of the reference codecs: method = codec, point = its nominal bitrate; kbps = payload."""
    return codec_scores.assign(family="codec", method=codec_scores["codec"],
                               point=codec_scores["target_kbps"].astype(int).astype(str) + " kbps",
                               bytes=codec_scores["payload_bytes"])


def rd_summary(points: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """One row per (dataset, family, method, point): mean kbps and mean, ci95 and n of each metric."""
    rows = []
    for key, group in points.groupby(["dataset", "family", "method", "point"], sort=False):
        row = dict(zip(["dataset", "family", "method", "point"], key, strict=True))
        row["kbps"] = float(group["kbps"].mean())
        if "container_kbps" in group:
            row["container_kbps"] = float(group["container_kbps"].mean())
        for metric in metrics:
            values = group[metric] if metric in group else []
            row[f"{metric}_mean"], row[f"{metric}_ci95"], row[f"{metric}_n"] = mean_ci(values)
        rows.append(row)
    return pd.DataFrame(rows)


def kbps_for_quality(kbps: Sequence[float], quality: Sequence[float], target: float,
                     higher_is_better: bool = True) -> tuple[float, str]:
    """The lowest rate at which a method reaches ``target``, and how it was found.

    Points are sorted by rate and replaced by their running best (spending more never makes a method worse: it
    can pick the cheaper point); between the last point below the target and the first one reaching it, the rate
    is interpolated linearly. Returns (kbps, "interpolated"), (lowest kbps, "at most") when even the cheapest
    point reaches the target, or (NaN, "not reached").
    """
    k, q = np.asarray(kbps, dtype=float), np.asarray(quality, dtype=float)
    keep = np.isfinite(k) & np.isfinite(q)
    k, q = k[keep], q[keep]
    if len(k) == 0:
        return float("nan"), "not reached"
    order = np.argsort(k, kind="stable")
    k, q = k[order], (q[order] if higher_is_better else -q[order])
    target = target if higher_is_better else -target
    best = np.maximum.accumulate(q)
    hit = np.flatnonzero(best >= target)
    if len(hit) == 0:
        return float("nan"), "not reached"
    i = int(hit[0])
    if i == 0:
        return float(k[0]), "at most"
    return float(k[i - 1] + (target - best[i - 1]) / (q[i] - best[i - 1]) * (k[i] - k[i - 1])), "interpolated"


def kbps_needed(summary: pd.DataFrame, quality: dict[str, Sequence[float]]) -> pd.DataFrame:
    """Per dataset and method (each codec, each INR precision across variants, and the best INR file of any
    precision and variant, ``INR (any)``): the kbps needed for each mean quality in ``quality`` {metric: [Q]}."""
    rows = []
    for dataset, data in summary.groupby("dataset", sort=False):
        methods = [(m, g) for m, g in data.groupby("method", sort=False)]
        inr = data[data["family"] == "INR"]
        if inr["method"].nunique() > 1:
            methods.append(("INR (any)", inr))
        for method, group in methods:
            for metric, targets in quality.items():
                if f"{metric}_mean" not in group or group[f"{metric}_mean"].isna().all():
                    continue
                for target in targets:
                    rate, how = kbps_for_quality(group["kbps"], group[f"{metric}_mean"], target,
                                                 METRIC_COLUMNS.get(metric, True))
                    rows.append({"dataset": dataset, "method": method, "metric": metric, "quality": target,
                                 "kbps": rate, "found": how})
    return pd.DataFrame(rows, columns=["dataset", "method", "metric", "quality", "kbps", "found"])


def write_kbps_needed(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    """CSV in long form; Markdown with one row per (dataset, method) and one column per quality target."""
    table.to_csv(csv_path, index=False)

    def cell(row: pd.Series) -> str:
        if row["found"] == "not reached":
            return "not reached"
        return ("≤ " if row["found"] == "at most" else "") + f"{row['kbps']:.1f}"

    shown = table.assign(cell=table.apply(cell, axis=1) if len(table) else [],
                         target=[f"{m} {'≤' if not METRIC_COLUMNS.get(m, True) else '≥'} {q:g}"
                                 for m, q in zip(table["metric"], table["quality"], strict=True)])
    wide = shown.pivot_table(index=["dataset", "method"], columns="target", values="cell", aggfunc="first", sort=False)
    text = wide.fillna("").reset_index().to_markdown(index=False) if len(wide) else "(no points)"
    Path(md_path).write_text((f"{caption}\n\n" if caption else "") + text + "\n")
