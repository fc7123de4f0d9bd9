"""Rate-distortion analysis: per-clip points of every INR file and reference codec, the kbps each method needs for
a quality, rate control over a run's files, equal quality against a reference file, and what fine-tuning buys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from siamese_siren.codec import files
from siamese_siren.metrics import vocabulary

from .rate_control import Candidate, Target, choose
from .statistics import mean_ci

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


def read_points(score_paths: Sequence[str | Path], compressed_folders: Sequence[str | Path],
                codec_score_paths: Sequence[str | Path], settings: dict[str, str | None], denoise: dict[str, str],
                float_bytes: dict[str, int]) -> pd.DataFrame:
    """Every per-clip point of a run's INR files and codecs, read from the scoring jobs' CSVs and the compression
    jobs' ``sizes.csv`` (:func:`inr_points`, :func:`codec_points`)."""
    scores = pd.concat([pd.read_csv(f) for f in score_paths], ignore_index=True)
    sizes = [pd.read_csv(Path(folder) / "sizes.csv") for folder in compressed_folders]
    sizes = pd.concat(sizes, ignore_index=True) if sizes else pd.DataFrame(
        columns=["dataset", "variant", "setting", "clip", "bytes", "seconds"])
    frames = [inr_points(scores, sizes, settings, denoise, float_bytes)]
    if codec_score_paths:
        frames.append(codec_points(pd.concat([pd.read_csv(f) for f in codec_score_paths], ignore_index=True)))
    return pd.concat(frames, ignore_index=True)


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


#: The best single INR setting (one variant and precision for every clip). Rate control (``INR control``) picks a
#: file per clip instead, so its curve can reach a mean quality that no single setting reaches.
BEST_SETTING = "INR (best setting)"
#: How the tables say it, in their captions.
METHODS_NOTE = (f"{BEST_SETTING}: the best single variant and precision, the same for every clip; INR control "
                "(when configured): rate control's file chosen per clip, which can reach a mean quality no single "
                "setting reaches")


def kbps_needed(summary: pd.DataFrame, quality: dict[str, Sequence[float]]) -> pd.DataFrame:
    """Per dataset and method (each codec, each INR precision across variants, and :data:`BEST_SETTING`): the kbps
    needed for each mean quality in ``quality`` {metric: [Q]}."""
    rows = []
    for dataset, data in summary.groupby("dataset", sort=False):
        methods = [(m, g) for m, g in data.groupby("method", sort=False)]
        inr = data[data["family"] == "INR"]
        if inr["method"].nunique() > 1:
            methods.append((BEST_SETTING, inr))
        for method, group in methods:
            for metric, targets in quality.items():
                if f"{metric}_mean" not in group or group[f"{metric}_mean"].isna().all():
                    continue
                for target in targets:
                    rate, how = kbps_for_quality(group["kbps"], group[f"{metric}_mean"], target,
                                                 vocabulary.higher_is_better(metric))
                    rows.append({"dataset": dataset, "method": method, "metric": metric, "quality": target,
                                 "kbps": rate, "found": how})
    return pd.DataFrame(rows, columns=["dataset", "method", "metric", "quality", "kbps", "found"])


def write_kbps_needed(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    """CSV in long form; Markdown with one row per (dataset, method) and one column per quality target."""
    with files.atomic_write(csv_path, "w", newline="") as f:
        table.to_csv(f, index=False)

    def cell(row: pd.Series) -> str:
        if row["found"] == "not reached":
            return "not reached"
        return ("≤ " if row["found"] == "at most" else "") + f"{row['kbps']:.1f}"

    shown = table.assign(cell=table.apply(cell, axis=1) if len(table) else [],
                         target=[f"{m} {'≤' if not vocabulary.higher_is_better(m) else '≥'} {q:g}"
                                 for m, q in zip(table["metric"], table["quality"], strict=True)])
    wide = shown.pivot_table(index=["dataset", "method"], columns="target", values="cell", aggfunc="first", sort=False)
    # A metric a dataset has no score for (PESQ on music) reads n/a, not a blank; cells stay as formatted.
    text = (wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True) if len(wide)
            else "(no points)")
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + text + "\n")


# ---- rate control and equal quality (rate_distortion.control, rate_distortion.reference) ----------------------

CONTROL_FAMILY = "INR control"


def controlled_points(points: pd.DataFrame, kbps_targets: Sequence[float], quality: dict[str, Sequence[float]],
                      objective: str) -> pd.DataFrame:
    """Rate control over a run's files: per clip and target, the INR file
    :func:`siamese_siren.analysis.rate_control.choose` picks among that clip's INR points (every variant x precision
    of the rate-distortion points).

    One row per clip and target, as a point of method ``INR control (<kbps|metric>)`` whose ``point`` is the
    target; ``asked``, ``met`` and ``chosen`` (variant and precision) say what was asked and what it got.
    """
    targets = [Target.of("kbps", k) for k in kbps_targets]
    targets += [Target.of(metric, q) for metric, values in quality.items() for q in values]
    inr = points[points["family"] == "INR"]
    rows = []
    for (dataset, _), clip in inr.groupby(["dataset", "clip"], sort=False):
        scored = inr[inr["dataset"] == dataset]  # a metric the dataset does not score (PESQ on music) has no target
        columns = {n: vocabulary.metric(n).column for n in vocabulary.TARGETABLE}
        names = [n for n, c in columns.items() if c in scored and scored[c].notna().any()]
        records = clip.to_dict("records")
        candidates = [Candidate(f"{r['point']} {r['method'].removeprefix('INR ')}", int(r["bytes"]),
                                float(r["file_seconds"]), {n: float(r[columns[n]]) for n in names})
                      for r in records]
        for target in (t for t in targets if t.is_rate or t.name in names):
            choice = choose(candidates, target, objective)
            chosen = records[candidates.index(choice.candidate)]
            rows.append({**chosen, "family": CONTROL_FAMILY, "method": f"{CONTROL_FAMILY} ({target.name})",
                         "point": str(target), "target": target.name, "asked": target.value, "met": choice.met,
                         "chosen": choice.candidate.label})
    return pd.DataFrame(rows)


def control_accuracy(points: pd.DataFrame) -> pd.DataFrame:
    """Asked against got, per dataset and rate-control target: mean and largest kbps, mean of the target's own
    quantity, the share of clips whose file meets the target, and the files chosen."""
    rows = []
    for (dataset, point), group in points[points["family"] == CONTROL_FAMILY].groupby(["dataset", "point"],
                                                                                     sort=False):
        target = group["target"].iloc[0]
        got = group["kbps"] if target == "kbps" else group[vocabulary.metric(target).column]
        chosen = group["chosen"].value_counts()
        rows.append({"dataset": dataset, "target": point, "asked": float(group["asked"].iloc[0]),
                     "got_mean": float(got.mean()), "got_min": float(got.min()), "got_max": float(got.max()),
                     "kbps_mean": float(group["kbps"].mean()), "kbps_max": float(group["kbps"].max()),
                     "met": f"{int(group['met'].sum())} of {len(group)}",
                     "chosen": ", ".join(f"{label} x{n}" for label, n in chosen.items())})
    return pd.DataFrame(rows, columns=["dataset", "target", "asked", "got_mean", "got_min", "got_max", "kbps_mean",
                                       "kbps_max", "met", "chosen"])


def equal_quality(summary: pd.DataFrame, method: str, point: str, metrics: Sequence[str]) -> pd.DataFrame:
    """The kbps every method needs to reach the reference file's mean quality, per dataset and metric.

    ``summary``: :func:`rd_summary` rows; the reference is its (``method``, ``point``) row, e.g. ``INR int8-paper``
    of ``siamese-siren``: the paper's file. Methods as in :func:`kbps_needed`, rate control included; ``ratio`` is
    the method's kbps over the reference's.
    """
    rows = []
    for dataset, data in summary.groupby("dataset", sort=False):
        reference = data[(data["method"] == method) & (data["point"] == point)]
        if reference.empty:
            raise ValueError(f"{dataset}: no rate-distortion point {method} of {point} to compare with")
        ref = reference.iloc[0]
        for metric in metrics:
            quality = float(ref.get(f"{metric}_mean", np.nan))
            if not np.isfinite(quality):
                continue
            needed = kbps_needed(data, {metric: [quality]})
            for row in needed.itertuples():
                rows.append({"dataset": dataset, "metric": metric, "quality": quality, "reference_kbps": ref["kbps"],
                             "method": row.method, "kbps": row.kbps, "found": row.found,
                             "ratio": row.kbps / ref["kbps"]})
    return pd.DataFrame(rows, columns=["dataset", "metric", "quality", "reference_kbps", "method", "kbps", "found",
                                       "ratio"])


def write_equal_quality(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    """CSV in long form; Markdown with one row per (dataset, method) and one column per metric: kbps and ratio."""
    files.write_csv(table, csv_path)

    def cell(row: pd.Series) -> str:
        if row["found"] == "not reached":
            return "not reached"
        return f"{'≤ ' if row['found'] == 'at most' else ''}{row['kbps']:.1f} ({row['ratio']:.2f}x)"

    heads = {(r.dataset, r.metric): f"{vocabulary.label(r.metric)} {r.quality:.2f} "
             f"(reference {r.reference_kbps:.1f} kbps)" for r in table.itertuples()}
    shown = table.assign(cell=table.apply(cell, axis=1) if len(table) else [],
                         column=[heads[(d, m)] for d, m in zip(table["dataset"], table["metric"], strict=True)])
    parts = []
    for dataset, data in shown.groupby("dataset", sort=False):
        wide = data.pivot_table(index="method", columns="column", values="cell", aggfunc="first", sort=False)
        parts.append(f"### {dataset}\n\n" + wide.fillna("n/a").reset_index().to_markdown(index=False,
                                                                                        disable_numparse=True))
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + ("\n\n".join(parts) or "(no points)") + "\n")


def qat_effect(points: pd.DataFrame, pairs: dict[str, str], metrics: Sequence[str]) -> pd.DataFrame:
    """What quantization-aware fine-tuning buys: per dataset, variant and fine-tuned precision, each metric's mean
    and kbps after fine-tuning and straight from training (``pairs``: fine-tuned precision -> its twin), and the
    difference."""
    inr = points[points["family"] == "INR"]
    rows = []
    for qat, ptq in pairs.items():
        for (dataset, variant), group in inr[inr["method"].isin([f"INR {qat}", f"INR {ptq}"])].groupby(
                ["dataset", "point"], sort=False):
            tuned, plain = (group[group["method"] == f"INR {p}"] for p in (qat, ptq))
            if tuned.empty or plain.empty:
                continue
            for metric in metrics:
                if metric not in group or group[metric].isna().all():
                    continue
                rows.append({"dataset": dataset, "variant": variant, "precision": qat, "without": ptq,
                             "metric": metric, "qat": float(tuned[metric].mean()), "ptq": float(plain[metric].mean()),
                             "gain": float(tuned[metric].mean() - plain[metric].mean()),
                             "qat_kbps": float(tuned["kbps"].mean()), "ptq_kbps": float(plain["kbps"].mean()),
                             "n": int(min(tuned[metric].notna().sum(), plain[metric].notna().sum()))})
    return pd.DataFrame(rows, columns=["dataset", "variant", "precision", "without", "metric", "qat", "ptq", "gain",
                                       "qat_kbps", "ptq_kbps", "n"])


def write_qat_effect(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    """CSV in long form; Markdown with one row per (dataset, variant, precision) and a column per metric."""
    files.write_csv(table, csv_path)
    shown = table.assign(
        cell=[f"{q:.2f} vs {p:.2f} ({g:+.2f})" for q, p, g in zip(table["qat"], table["ptq"], table["gain"],
                                                                  strict=True)],
        column=[vocabulary.label(m) for m in table["metric"]],
        kbps=[f"{q:.1f} / {p:.1f}" for q, p in zip(table["qat_kbps"], table["ptq_kbps"], strict=True)])
    wide = shown.pivot_table(index=["dataset", "variant", "precision", "without", "kbps"], columns="column",
                             values="cell", aggfunc="first", sort=False)
    text = wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True) if len(wide) else \
        "(no fine-tuned precision with a twin among the points)"
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + text + "\n")


def write_control_accuracy(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    files.write_csv(table, csv_path)
    shown = table.round({c: 2 for c in ("asked", "got_mean", "got_min", "got_max", "kbps_mean", "kbps_max")})
    text = shown.to_markdown(index=False, disable_numparse=True) if len(shown) else "(no rate control targets)"
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + text + "\n")
