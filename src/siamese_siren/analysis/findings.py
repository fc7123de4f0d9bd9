"""The paper's qualitative claims, checked on a run's per-clip scores: ``findings.md``.

Each claim is checked the same way on the paper's own numbers (``siamese_siren.analysis.paper``, LibriSpeech) and on the
run's means per dataset, and reports ``yes``, ``no``, ``partly (k of n)`` (the comparisons it makes: one per
dataset and metric) or ``not run`` (the run lacks what the claim needs). Thresholds are in the claim's text. A
claim that does not hold at a run's scale is reported as not holding: nothing here is tuned to the outcome.

Which variant plays which role comes from the run's plan (:meth:`siamese_siren.pipeline.plan.Plan.findings_spec`): the
variant of a table whose ``model`` is the library's ``pe-siren`` is the PE + SIREN of the claims, whatever its name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siamese_siren.codec import files
from siamese_siren.metrics.vocabulary import higher_is_better, label

from .paper import paper_tables

#: The metrics of the paper's tables (its "STOI" is extended STOI).
PAPER_METRICS = ("visqol", "cdpam", "pesq", "estoi")
#: Below both, a reconstruction has collapsed: ViSQOL's floor is 1, ESTOI's chance level 0.
COLLAPSE_VISQOL, COLLAPSE_ESTOI = 1.5, 0.2
#: The noisereduce modes without a noise estimate that Figure 4 compares the siamese estimate with.
BLIND_DENOISE = ("stationary", "nonstationary")


@dataclass(frozen=True)
class Finding:
    claim: str
    source: str
    paper: str
    ours: str
    holds: str


def verdict(results: Sequence[bool]) -> str:
    """yes / no / partly (k of n) over a claim's comparisons; ``not run`` when it made none."""
    if not results:
        return "not run"
    k = sum(results)
    return "yes" if k == len(results) else "no" if k == 0 else f"partly ({k} of {len(results)})"


def _better(metric: str, a: float, b: float) -> bool:
    return a > b if higher_is_better(metric) else a < b


class Run:
    """A run's per-clip records and the roles of its variants (``Plan.findings_spec``)."""

    def __init__(self, records: pd.DataFrame, spec: Mapping[str, Any]) -> None:
        self.records, self.spec = records, spec

    @property
    def datasets(self) -> list[str]:
        return list(self.spec["kinds"])

    def clips(self, dataset: str) -> int:
        return self.records.loc[self.records["dataset"] == dataset, "clip"].nunique()

    def variant(self, table: str, model: str) -> str | None:
        return self.spec["tables"].get(table, {}).get("roles", {}).get(model)

    def table_scores(self, table: str, model: str, dataset: str) -> pd.DataFrame:
        """Per-clip scores of one table cell at the table's precision and denoising (empty when not in the run)."""
        spec, name = self.spec["tables"].get(table), self.variant(table, model)
        if spec is None or name is None:
            return self.records.iloc[0:0]
        return self.scores(dataset, name, spec["precision"], spec["denoise"][name])

    def scores(self, dataset: str, variant: str, precision: str, denoise: str) -> pd.DataFrame:
        r = self.records
        return r[(r["dataset"] == dataset) & (r["variant"] == variant) & (r["precision"] == precision)
                 & (r["denoise"] == denoise)]

    def metrics(self, dataset: str, wanted: Sequence[str] = PAPER_METRICS) -> list[str]:
        """The wanted metrics this run scored on a dataset (music has no PESQ or ESTOI)."""
        rows = self.records[self.records["dataset"] == dataset]
        return [m for m in wanted if m in rows and rows[m].notna().any()]


def _mean(scores: pd.DataFrame, metric: str) -> float:
    return float(scores[metric].mean()) if metric in scores and len(scores) else float("nan")


def _paper(table: str, model: str) -> dict[str, float]:
    rows = paper_tables()
    rows = rows[(rows["table"] == table) & (rows["variant"] == model) & (rows["dataset"] == "librispeech")]
    return dict(zip(rows["metric"], rows["value"], strict=True))


def _ordered(means: Sequence[Mapping[str, float]], metrics: Sequence[str], chain: bool = False
             ) -> tuple[list[bool], list[str]]:
    """For each metric with every value: is the first of ``means`` better than each later one, or (``chain``) each
    better than the next? With the values as text."""
    results, texts = [], []
    for metric in metrics:
        values = [m.get(metric, np.nan) for m in means]
        if not all(np.isfinite(values)):
            continue
        pairs = zip(values, values[1:], strict=False) if chain else ((values[0], v) for v in values[1:])
        results.append(all(_better(metric, a, b) for a, b in pairs))
        texts.append(f"{label(metric)} " + " / ".join(f"{v:.2f}" for v in values))
    return results, texts


def _per_dataset(run: Run, check: Callable[[str], tuple[list[bool], list[str]]]) -> tuple[list[bool], str]:
    """A check run on every dataset: all comparisons, and the text ``dataset (N clips): ...; ...``."""
    results, parts = [], []
    for dataset in run.datasets:
        found, texts = check(dataset)
        if texts:
            n = run.clips(dataset)
            results += found
            parts.append(f"{dataset} (N={n}): " + ", ".join(texts))
    return results, "; ".join(parts) or "not in this run"


def _table_means(run: Run, table: str, models: Sequence[str], dataset: str) -> list[dict[str, float]]:
    return [{m: _mean(run.table_scores(table, model, dataset), m) for m in PAPER_METRICS} for model in models]


def _table_order(run: Run, table: str, models: Sequence[str], claim: str, source: str, chain: bool = False,
                 metrics: Sequence[str] = PAPER_METRICS) -> Finding:
    """``models[0]`` scores better than each of the others (``chain``: each better than the next) on each of
    ``metrics``, on the paper's numbers and on ours."""
    paper_results, paper_texts = _ordered([_paper(table, m) for m in models], metrics, chain)
    paper = f"{', '.join(paper_texts)} ({verdict(paper_results)})"
    if any(run.variant(table, m) is None for m in models):
        return Finding(claim, source, paper, f"{table} lacks one of {list(models)}", "not run")
    results, ours = _per_dataset(run, lambda d: _ordered(_table_means(run, table, models, d), run.metrics(d, metrics),
                                                         chain))
    return Finding(claim, source, paper, ours, verdict(results))


def original_siren_collapses(run: Run) -> Finding:
    claim = (f"The original SIREN collapses after int8 quantization (ViSQOL <= {COLLAPSE_VISQOL}, "
             f"ESTOI <= {COLLAPSE_ESTOI})")
    paper = _paper("table1", "original-siren")
    paper_text = f"ViSQOL {paper['visqol']:.2f}, ESTOI {paper['estoi']:.2f}"

    def check(dataset: str) -> tuple[list[bool], list[str]]:
        scores = run.table_scores("table1", "original-siren", dataset)
        found, texts = [], []
        for metric, limit in (("visqol", COLLAPSE_VISQOL), ("estoi", COLLAPSE_ESTOI)):
            if metric in run.metrics(dataset) and len(scores):
                value = _mean(scores, metric)
                found.append(value <= limit)
                texts.append(f"{label(metric)} {value:.2f}")
        return found, texts

    results, ours = _per_dataset(run, check)
    return Finding(claim, "Table 1, Fig. 3", paper_text, ours, verdict(results))


def siamese_has_fewer_parameters(run: Run) -> Finding:
    claim = "Siamese SIREN has fewer parameters than optimized SIREN"
    sizes = run.spec["parameters"]
    siamese, optimized = run.variant("table1", "siamese-siren"), run.variant("table1", "optimized-siren")
    paper = f"#Params {_paper('table1', 'siamese-siren')['params_k']:.0f}k vs " \
            f"{_paper('table1', 'optimized-siren')['params_k']:.0f}k (torchsummary's count)"
    if siamese is None or optimized is None:
        return Finding(claim, "Table 1", paper, "table1 lacks one of them", "not run")
    a, b = sizes[siamese], sizes[optimized]
    ours = (f"exact {a['exact']:,} vs {b['exact']:,}; torchsummary's count {a['torchsummary']:,} vs "
            f"{b['torchsummary']:,} (it counts the shared trunk once per head)")
    return Finding(claim, "Table 1", paper, ours, verdict([a["exact"] < b["exact"]]))


def denoising_ablation(run: Run) -> list[Finding]:
    """Figure 4: the siamese estimate vs no denoising, and vs noisereduce without an estimate (music most)."""
    spec = run.spec.get("fig4")
    source = "Fig. 4"
    better_claim = "Denoising with the siamese noise estimate scores above no denoising"
    blind_claim = ("Denoising with the siamese noise estimate scores above noisereduce without an estimate "
                   "(stationary, non-stationary), by more on music than on speech")
    paper_blind = "\"a more pronounced cut-off when no noise estimate is provided, especially for music\" (figure)"
    if spec is None:
        return [Finding(better_claim, source, "the figure", "Figure 4 is not in this run", "not run"),
                Finding(blind_claim, source, paper_blind, "Figure 4 is not in this run", "not run")]
    metric = spec["metric"]
    means = {d: {mode: _mean(run.scores(d, spec["variant"], spec["precision"], mode), metric)
                 for mode in ("none", *BLIND_DENOISE, "siamese")} for d in run.datasets}
    metric_label = label(metric)
    shown = "; ".join(f"{d}: " + ", ".join(f"{mode} {v:.2f}" for mode, v in m.items()) for d, m in means.items())
    gains = {d: m["siamese"] - max(m[mode] for mode in BLIND_DENOISE) for d, m in means.items()}
    better = [_better(metric, m["siamese"], m["none"]) for m in means.values()]
    blind = [gain > 0 for gain in gains.values()]
    kinds = run.spec["kinds"]
    music = [gains[d] for d in gains if kinds[d] == "music"]
    speech = [gains[d] for d in gains if kinds[d] == "speech"]
    if music and speech:
        blind.append(min(music) > max(speech))
    gain_text = ", ".join(f"{d} {g:+.2f}" for d, g in gains.items())
    return [Finding(better_claim, source, "the figure's siamese bars over its unprocessed ones",
                    f"{metric_label}: {shown}", verdict(better)),
            Finding(blind_claim, source, paper_blind,
                    f"{metric_label} gain of the siamese estimate over the better blind mode: {gain_text}",
                    verdict(blind))]


def pe_helps_after_long_training(run: Run) -> Finding:
    claim = "After long training (unquantized), SIREN with positional encoding reconstructs better than without"
    source = "Fig. 6, App. C"
    paper = "spectrograms: without PE the high bands are missing and stationary noise fills the mid and low bands"
    spec = run.spec.get("fig6")
    if spec is None or not {"pe-siren", "original-siren"} <= set(spec["roles"]):
        return Finding(claim, source, paper, "Figure 6's PE and original SIREN runs are not in this run", "not run")
    dataset = spec["dataset"]
    pair = [run.scores(dataset, spec["roles"][m], "float", "none") for m in ("pe-siren", "original-siren")]
    if not all(len(scores) for scores in pair):
        return Finding(claim, source, paper, "no scores of Figure 6's runs in these records", "not run")
    found, texts = _ordered([{m: _mean(s, m) for m in PAPER_METRICS} for s in pair], run.metrics(dataset))
    steps = spec["steps"]
    ours = f"{dataset} (N={len(pair[0])}, {steps} steps), PE / no PE: " + ", ".join(texts)
    return Finding(claim, source, paper, ours, verdict(found))


def check(records: pd.DataFrame, spec: Mapping[str, Any]) -> list[Finding]:
    """Every claim, in the paper's order."""
    run = Run(records, spec)
    return [
        original_siren_collapses(run),
        _table_order(run, "table1", ("optimized-siren", "pe-siren"),
                     "PE + SIREN scores below optimized SIREN (omega 100 instead of 30)", "Table 1"),
        _table_order(run, "table1", ("siamese-siren", "optimized-siren"),
                     "Siamese SIREN with denoising beats optimized SIREN on PESQ and CDPAM", "Table 1",
                     metrics=("cdpam", "pesq")),
        siamese_has_fewer_parameters(run),
        _table_order(run, "table2", ("siamese-siren", "siamese-2x128+1x64", "siamese-2x64+1x32"),
                     "Quality falls with size: Siamese SIREN 2x256+1x128 > 2x128+1x64 > 2x64+1x32 on every metric",
                     "Table 2", chain=True),
        _table_order(run, "table3", ("siamese-siren", "siamese-1x256+2x128", "siamese-0+3x128"),
                     "Two shared layers and one siamese layer is the best split of Table 3", "Table 3"),
        *denoising_ablation(run),
        pe_helps_after_long_training(run),
    ]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def write_findings(findings: Sequence[Finding], md_path: str | Path, csv_path: str | Path, header: str) -> None:
    """The Markdown summary (``header`` says what the run was) and the same rows as CSV."""
    rows = ["| claim | source | paper | ours | holds? |", "|---|---|---|---|---|"]
    rows += [f"| {_escape(f.claim)} | {f.source} | {_escape(f.paper)} | {_escape(f.ours)} | **{f.holds}** |"
             for f in findings]
    legend = ("Each comparison is of means over the run's clips per dataset; `partly (k of n)`: k of the claim's n "
              "comparisons (dataset x metric) agree with it. Paper values are LibriSpeech's (the paper gives no "
              "music numbers). Lower is better for CDPAM, higher for the others.")
    files.write_text(md_path, f"# Findings\n\n{header}\n\n" + "\n".join(rows) + f"\n\n{legend}\n")
    files.write_csv(pd.DataFrame([asdict(f) for f in findings]), csv_path)
