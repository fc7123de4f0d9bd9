"""Per-clip records -> the paper's tables: mean, 95% confidence interval and N per cell, exact sizes.

Records are a tidy table with one row per (dataset, variant, clip, precision, denoise) and one column per metric.
Each table also carries the paper-faithful size measures (siamese_siren.analysis.paper) and, given a
:class:`~siamese_siren.analysis.paper.PaperMatch`, the paper's published value and our difference per cell, or says
that the paper's numbers are not comparable to the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from siamese_siren.codec import files
from siamese_siren.codec.bitstream import kbps
from siamese_siren.codec.models import Variant, parameter_count
from siamese_siren.metrics.vocabulary import BY_COLUMN, COLUMNS, VOCABULARY, label

from .paper import PAPER_SIZE_COLUMNS, PaperMatch, paper_size_measures
from .statistics import MIN_N_FOR_INTERVAL, mean_ci

#: Suffixes of the CSV's numeric companions of a shown cell: kept in the CSV, left out of Markdown and LaTeX.
_NUMERIC_SUFFIXES = ("_mean", "_ci95", "_n", "_paper", "_diff")
_PAPER_STATUS = "paper comparison"


def format_cell(metric: str, mean: float, half: float, n: int, why: str = "") -> str:
    """``mean ± half (N=n)``; no interval below MIN_N_FOR_INTERVAL, and a † where it leaves the metric's range.

    N = 0 (no clip has a score) reads ``n/a (why)``: a cell that is not a number says why.
    """
    if n == 0:
        return f"n/a ({why})" if why else "n/a"
    if n < MIN_N_FOR_INTERVAL or np.isnan(half):
        return f"{mean:.2f} (N={n})"
    known = BY_COLUMN.get(metric)
    beyond = "" if known is None or (known.in_range(mean - half) and known.in_range(mean + half)) else "†"
    return f"{mean:.2f} ± {half:.2f}{beyond} (N={n})"


def unscored_reason(records: pd.DataFrame, metric: str) -> str:
    """Why no record has a score of ``metric``: the reasons the records give (``<metric>_error``), or that the
    dataset does not score it (PESQ and STOI are speech measures)."""
    if metric not in records or f"{metric}_error" not in records:
        return "not scored on this dataset"
    reasons = records[f"{metric}_error"].dropna().astype(str).unique()
    if len(reasons) == 0:
        return "no score recorded"
    shown = "; ".join(r.split(";")[0] for r in reasons[:2])  # the problem, without the metric's consequence
    return shown + (f"; and {len(reasons) - 2} more reasons in scores.csv" if len(reasons) > 2 else "")


def variant_columns(variant: Variant, file_bytes: float, seconds: float) -> dict:
    """The architecture and size columns of the paper's tables: our exact counts and real file size, then the
    paper-faithful measures (the paper's #Params and kB, computed as the authors did; see
    siamese_siren.analysis.paper)."""
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
                row[label(metric)] = format_cell(metric, mean, half, n, unscored_reason(rec, metric))
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


_UNSCORED = re.compile(r"^n/a \((.+)\)$")


def _unscored_reasons(table: pd.DataFrame) -> dict[str, str]:
    """{reason: its letter} of the cells that say why they have no number, in the order they appear: Markdown and
    LaTeX print the letter in the cell and the reason once in the notes, so that a page-wide table stays one."""
    reasons = [m.group(1) for column in table.columns
               for cell in table[column] if isinstance(cell, str) and (m := _UNSCORED.match(cell))]
    return {reason: chr(ord("a") + i) for i, reason in enumerate(dict.fromkeys(reasons))}


def _shown(table: pd.DataFrame, separator: str) -> pd.DataFrame:
    """The cells Markdown and LaTeX show, as text: each compared quantity followed by the paper's value and the
    difference, each part after ``separator``; a cell without a number points to its reason's note."""
    shown = {}
    letters = _unscored_reasons(table)
    labels = {**{label(m): m for m in COLUMNS}, **{v: k for k, v in PAPER_SIZE_COLUMNS.items()}}
    for column in table.columns:
        if column.endswith(_NUMERIC_SUFFIXES) or column == _PAPER_STATUS:
            continue
        cells = table[column].map(_number).map(
            lambda text: f"n/a ({letters[m.group(1)]})" if (m := _UNSCORED.match(text)) else text)
        key = labels.get(column, column)
        if f"{key}_paper" in table:
            decimals = 2 if key in BY_COLUMN else 3
            versus = [f"{separator}paper {_number(p)}{separator}Δ {d:+.{decimals}f}" if np.isfinite(p) else ""
                      for p, d in zip(table[f"{key}_paper"], table[f"{key}_diff"], strict=True)]
            cells = cells + versus
        shown[column] = cells
    return pd.DataFrame(shown)


def _notes(table: pd.DataFrame) -> list[str]:
    """What a reader of the Markdown and LaTeX tables needs to read the cells."""
    scaled = [m for m in VOCABULARY if math.isfinite(m.low)]
    scaled.sort(key=lambda m: not math.isfinite(m.high))  # closed scales first, then those bounded below only
    scales = ", ".join(f"{m.label} {m.low:g} to {m.high:g}" if math.isfinite(m.high) else f"{m.label} ≥ {m.low:g}"
                       for m in scaled)
    notes = [f"Cells: mean ± half-width of the 95% confidence interval over N clips (no interval below "
             f"N={MIN_N_FOR_INTERVAL}); †: the interval reaches past the metric's scale ({scales}); n/a (a): no clip "
             "has a score, for the reason noted under that letter (scores.csv has it per clip).",
             "params and file kB are our exact parameter count and our real compressed file; the paper-faithful "
             "columns are measured as the paper did (torchsummary's total, which counts the shared trunk once per "
             "head, and the pickled state_dict of the authors' layout, which stores the trunk three times)."]
    notes += [f"n/a ({letter}): {reason}." for reason, letter in _unscored_reasons(table).items()]
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
    lines = ["% Written by siamese_siren.analysis.tables; \\input into a plain \\documentclass{article}, needs no "
             "package."]
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
