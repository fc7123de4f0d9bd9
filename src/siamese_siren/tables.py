"""Per-clip records -> the paper's tables: mean, 95% confidence interval and N per cell, exact sizes.

Records are a tidy table with one row per (dataset, variant, clip, precision, denoise) and one column per metric.
Each table also carries the paper-faithful size measures (siamese_siren.paper) and, given a
:class:`~siamese_siren.paper.PaperMatch`, the paper's published value and our difference per cell, or says
that the paper's numbers are not comparable to the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from . import files
from .bitstream import kbps
from .models import Variant, parameter_count
from .paper import PAPER_SIZE_COLUMNS, PaperMatch, paper_size_measures
from .rate_control import HIGHER_IS_BETTER, Candidate, Target, choose

#: Metrics in the order of the paper's tables, with whether higher is better.
METRIC_COLUMNS = {"visqol": True, "cdpam": False, "pesq": True, "estoi": True, "stoi": True, "snr_db": True,
                  "lsd_db": False}

#: How tables label each metric. The paper's "STOI" column is extended STOI, so it is compared with ``estoi``.
METRIC_LABELS = {"visqol": "ViSQOL", "cdpam": "CDPAM", "pesq": "PESQ", "estoi": "ESTOI", "stoi": "STOI",
                 "snr_db": "SNR (dB)", "lsd_db": "LSD (dB)"}

#: The values each metric can take; a confidence interval reaching past them is flagged in its cell.
METRIC_RANGES = {"visqol": (1.0, 5.0), "pesq": (-0.5, 4.64), "estoi": (-1.0, 1.0), "stoi": (0.0, 1.0),
                 "cdpam": (0.0, math.inf), "lsd_db": (0.0, math.inf)}

#: Fewer clips than this: no interval is shown (with N=2 the t quantile is 12.7, the interval meaningless).
MIN_N_FOR_INTERVAL = 3

#: Suffixes of the CSV's numeric companions of a shown cell: kept in the CSV, left out of Markdown and LaTeX.
_NUMERIC_SUFFIXES = ("_mean", "_ci95", "_n", "_paper", "_diff")
_PAPER_STATUS = "paper comparison"


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


def _cell(metric: str, mean: float, half: float, n: int) -> str:
    """``mean ± half (N=n)``; no interval below MIN_N_FOR_INTERVAL, and a † where it leaves the metric's range.

    N = 0 (no score, e.g. a speech-only metric on music) reads ``n/a``.
    """
    if n == 0:
        return "n/a"
    if n < MIN_N_FOR_INTERVAL or np.isnan(half):
        return f"{mean:.2f} (N={n})"
    low, high = METRIC_RANGES.get(metric, (-math.inf, math.inf))
    beyond = "" if low <= mean - half and mean + half <= high else "†"
    return f"{mean:.2f} ± {half:.2f}{beyond} (N={n})"


def variant_columns(variant: Variant, file_bytes: float, seconds: float) -> dict:
    """The architecture and size columns of the paper's tables: our exact counts and real file size, then the
    paper-faithful measures (the paper's #Params and kB, computed as the authors did; see siamese_siren.paper)."""
    params = parameter_count(variant)
    faithful = paper_size_measures(variant)
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
        **{label: faithful[key] for key, label in PAPER_SIZE_COLUMNS.items()},
    }


def build_table(
    records: pd.DataFrame,
    sizes: pd.DataFrame,
    variants: dict[str, Variant],
    metrics: Sequence[str],
    paper: PaperMatch | None = None,
) -> pd.DataFrame:
    """A paper table: one row per (dataset, variant) in the order given, size columns, then one cell per metric.

    ``records`` must already be filtered to the table's precision and denoising; ``sizes`` has columns
    dataset, variant, clip, bytes, seconds (one row per compressed file). With ``paper``, each row says how it
    compares with the paper (column ``paper comparison``) and each compared quantity gets numeric companions
    ``<key>_paper`` (the published value) and ``<key>_diff`` (ours - paper), NaN where the paper has no value.
    """
    rows = []
    for dataset in records["dataset"].unique():
        for name, variant in variants.items():
            rec = records[(records["dataset"] == dataset) & (records["variant"] == name)]
            size = sizes[(sizes["dataset"] == dataset) & (sizes["variant"] == name)]
            row = {"dataset": dataset, "variant": name}
            row.update(variant_columns(variant, size["bytes"].mean(), size["seconds"].mean()))
            ours = {key: row[label] for key, label in PAPER_SIZE_COLUMNS.items()}
            for metric in metrics:
                mean, half, n = mean_ci(rec[metric]) if metric in rec else (np.nan, np.nan, 0)
                half = half if n >= MIN_N_FOR_INTERVAL else np.nan
                row[METRIC_LABELS.get(metric, metric)] = _cell(metric, mean, half, n)
                row[f"{metric}_mean"], row[f"{metric}_ci95"], row[f"{metric}_n"] = mean, half, n
                ours[metric] = mean
            if paper is not None:
                row[_PAPER_STATUS] = paper.status(dataset, name)
                published = paper.values(dataset, name)
                for key, value in ours.items():
                    row[f"{key}_paper"] = published.get(key, np.nan)
                    row[f"{key}_diff"] = value - row[f"{key}_paper"]
            rows.append(row)
    return pd.DataFrame(rows)


def _number(value: object) -> str:
    """A table number as a reader wants it: integers without decimals, others with at most three, NaN as n/a."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if isinstance(value, int | np.integer) or (isinstance(value, float | np.floating) and float(value).is_integer()):
        return f"{int(value)}"
    if isinstance(value, float | np.floating):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return str(value)


def _shown(table: pd.DataFrame, separator: str) -> pd.DataFrame:
    """The cells Markdown and LaTeX show, as text: each compared quantity followed by the paper's value and the
    difference, each part after ``separator``."""
    shown = {}
    labels = {**{METRIC_LABELS.get(m, m): m for m in METRIC_COLUMNS}, **{v: k for k, v in PAPER_SIZE_COLUMNS.items()}}
    for column in table.columns:
        if column.endswith(_NUMERIC_SUFFIXES) or column == _PAPER_STATUS:
            continue
        cells = table[column].map(_number)
        key = labels.get(column, column)
        if f"{key}_paper" in table:
            decimals = 2 if key in METRIC_COLUMNS else 3
            versus = [f"{separator}paper {_number(p)}{separator}Δ {d:+.{decimals}f}" if np.isfinite(p) else ""
                      for p, d in zip(table[f"{key}_paper"], table[f"{key}_diff"], strict=True)]
            cells = cells + versus
        shown[column] = cells
    return pd.DataFrame(shown)


def _notes(table: pd.DataFrame) -> list[str]:
    """What a reader of the Markdown and LaTeX tables needs to read the cells."""
    scales = ", ".join(f"{METRIC_LABELS[m]} {low:g} to {high:g}" if math.isfinite(high) else
                       f"{METRIC_LABELS[m]} ≥ {low:g}" for m, (low, high) in METRIC_RANGES.items())
    notes = [f"Cells: mean ± half-width of the 95% confidence interval over N clips (no interval below "
             f"N={MIN_N_FOR_INTERVAL}); †: the interval reaches past the metric's scale ({scales}); n/a: no score "
             "(e.g. a speech-only metric on music).",
             "params and file kB are our exact parameter count and our real compressed file; the paper-faithful "
             "columns are measured as the paper did (torchsummary's total, which counts the shared trunk once per "
             "head, and the pickled state_dict of the authors' layout, which stores the trunk three times)."]
    if _PAPER_STATUS in table:
        compared = table[_PAPER_STATUS].str.startswith("compared")
        others = list(dict.fromkeys(table.loc[~compared, _PAPER_STATUS]))
        if compared.any():
            notes.append("paper X; Δ Y: the paper's published value, and ours minus the paper's.")
            notes += [f"{status}." for status in others]
        else:
            notes.append(f"The paper's numbers are not comparable to this run, so none are shown "
                         f"({'; '.join(others)}).")
    return notes


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "±": r"$\pm$", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "†": r"$^\dagger$", "−": "-"}


def _tex(text: str) -> str:
    """``text`` escaped for LaTeX with no package: special characters and the few non-ASCII symbols we print."""
    return "".join(_TEX_ESCAPES.get(c, c) for c in text)


def _tex_cell(text: str) -> str:
    """A cell; text with line breaks as a stacked inner tabular (plain LaTeX has no line break in a cell)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return _tex(text)
    return r"\begin{tabular}[t]{@{}r@{}}" + r"\\".join(_tex(line) for line in lines) + r"\end{tabular}"


def latex_table(table: pd.DataFrame, caption: str = "") -> str:
    """Tables for ``\\input`` into a plain ``\\documentclass{article}``: no package needed (no booktabs).

    Transposed to fit a page (one column per variant) and one float per dataset, each captioned with its
    dataset. A caption's own "Table N:" is dropped, since LaTeX numbers tables itself.
    """
    shown = _shown(table, "\n")
    variants = list(dict.fromkeys(shown["variant"]))
    quantities = [c for c in shown.columns if c not in ("dataset", "variant")]
    caption = re.sub(r"^\s*Table\s+\d+\s*[:.]\s*", "", caption)
    lines = ["% Written by siamese_siren.tables; \\input into a plain \\documentclass{article}, needs no package."]
    for dataset, block in shown.groupby("dataset", sort=False):
        block = block.set_index("variant")
        title = f"{caption} ({dataset})" if caption else str(dataset)
        # A paragraph column lets the long row labels wrap: the table then fits the text width.
        lines += [r"\begin{table}[ht]", r"\centering", r"\scriptsize", r"\setlength{\tabcolsep}{2pt}",
                  rf"\caption{{{_tex(title)}}}", rf"\begin{{tabular}}{{p{{6.5em}}{'r' * len(variants)}}}", r"\hline",
                  " & ".join(["variant", *map(_tex, variants)]) + r" \\", r"\hline"]
        lines += [" & ".join([_tex(q), *(_tex_cell(block.at[v, q]) if v in block.index else "" for v in variants)])
                  + r" \\" for q in quantities]
        notes = [_tex(note) + r"\par" for note in _notes(table[table["dataset"] == dataset])]
        lines += [r"\hline", r"\end{tabular}", r"\par\smallskip", *notes, r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, csv_path: str | Path, md_path: str | Path, tex_path: str | Path,
                caption: str = "") -> None:
    """CSV keeps every number (NaN as n/a); Markdown and LaTeX show the formatted cells and the notes."""
    with files.atomic_write(csv_path, "w", newline="") as f:
        table.to_csv(f, index=False, na_rep="n/a")
    notes = "\n".join(f"- {note}" for note in _notes(table))
    markdown = _shown(table, "; ").to_markdown(index=False, disable_numparse=True)
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + f"{markdown}\n\n{notes}\n")
    files.write_text(tex_path, latex_table(table, caption))


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
    with files.atomic_write(csv_path, "w", newline="") as f:
        table.to_csv(f, index=False)

    def cell(row: pd.Series) -> str:
        if row["found"] == "not reached":
            return "not reached"
        return ("≤ " if row["found"] == "at most" else "") + f"{row['kbps']:.1f}"

    shown = table.assign(cell=table.apply(cell, axis=1) if len(table) else [],
                         target=[f"{m} {'≤' if not METRIC_COLUMNS.get(m, True) else '≥'} {q:g}"
                                 for m, q in zip(table["metric"], table["quality"], strict=True)])
    wide = shown.pivot_table(index=["dataset", "method"], columns="target", values="cell", aggfunc="first", sort=False)
    # A metric a dataset has no score for (PESQ on music) reads n/a, not a blank; cells stay as formatted.
    text = (wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True) if len(wide)
            else "(no points)")
    files.write_text(md_path, (f"{caption}\n\n" if caption else "") + text + "\n")


# ---- rate control and equal quality (rate_distortion.control, rate_distortion.reference) ----------------------

CONTROL_FAMILY = "INR control"


def _score_column(name: str) -> str:
    """The per-clip column of a rate-control metric (rate control calls SNR ``snr``)."""
    return "snr_db" if name == "snr" else name


def controlled_points(points: pd.DataFrame, kbps_targets: Sequence[float], quality: dict[str, Sequence[float]],
                      objective: str) -> pd.DataFrame:
    """Rate control over a run's files: per clip and target, the INR file :func:`siamese_siren.rate_control.choose`
    picks among that clip's INR points (every variant x precision of the rate-distortion points).

    One row per clip and target, as a point of method ``INR control (<kbps|metric>)`` whose ``point`` is the
    target; ``asked``, ``met`` and ``chosen`` (variant and precision) say what was asked and what it got.
    """
    targets = [Target.of("kbps", k) for k in kbps_targets]
    targets += [Target.of(metric, q) for metric, values in quality.items() for q in values]
    inr = points[points["family"] == "INR"]
    rows = []
    for (dataset, _), clip in inr.groupby(["dataset", "clip"], sort=False):
        scored = inr[inr["dataset"] == dataset]  # a metric the dataset does not score (PESQ on music) has no target
        names = [n for n in HIGHER_IS_BETTER if _score_column(n) in scored and scored[_score_column(n)].notna().any()]
        records = clip.to_dict("records")
        candidates = [Candidate(f"{r['point']} {r['method'].removeprefix('INR ')}", int(r["bytes"]),
                                float(r["file_seconds"]), {n: float(r[_score_column(n)]) for n in names})
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
        got = group["kbps"] if target == "kbps" else group[_score_column(target)]
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

    heads = {(r.dataset, r.metric): f"{METRIC_LABELS.get(r.metric, r.metric)} {r.quality:.2f} "
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
        column=[METRIC_LABELS.get(m, m) for m in table["metric"]],
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


# ---- fast fitting (figures.fast_fit): steps and quality of faster recipes against the paper's ------------------


def fast_fit_losses(losses: dict[tuple[str, str, str], np.ndarray], runs: Sequence[tuple[str, int, str, str]],
                    baseline: str) -> pd.DataFrame:
    """Steps each recipe needs to reach, per clip, the loss the paper's recipe (``baseline``) ends with.

    ``losses``: {(dataset, variant, clip): the loss of every step, i.e. of the weights after that many updates}.
    ``runs``: (recipe, budget, variant, precision) as :meth:`siamese_siren.plan.Plan.fast_fit_runs` gives them.
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
    cells = quality.assign(cell=[_cell(m, mean, half, n) for m, mean, half, n in
                                 zip(quality["metric"], quality["mean"], quality["ci95"], quality["n"], strict=True)])
    if len(cells):
        wide = cells.pivot_table(index=["dataset", "recipe", "budget"], columns="metric", values="cell",
                                 aggfunc="first", sort=False).join(wide, how="outer").reindex(ratio.index)
    text = [caption, "", "Steps needed to reach the loss of the paper's recipe after all its steps:", "",
            shown_steps.to_markdown(index=False, disable_numparse=True), "",
            "Quality at each step budget (float weights, not denoised; mean ± 95% CI, N):", "",
            wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True)]
    files.write_text(md_path, "\n".join(text).lstrip("\n") + "\n")
