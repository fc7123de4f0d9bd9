"""INR families: which activation and encoding family fits and compresses audio best, at the paper's parameter count.

Every family (sine, FINER, Gauss, real Gabor/WIRE, sine on random Fourier features; ``Variant.activation`` and
``Variant.encoding``) in the Siamese layout and in the plain layout of equal parameter count, trained with the
paper's recipe and with the family's own published one, against the paper's variant (the ``baseline``): the steps
each needs to reach the loss the paper's recipe ends with, quality at the paper file's bytes, and the kbps each
needs for the paper file's quality (docs/experiments/families.md).

The families' free parameters (FINER's first-layer bias scale, Gauss's sigma, Gabor's window and frequency, the
Fourier features' sigma) are chosen on windows no table scores (:func:`tune`, rule ``families_tune``, the split of
:func:`siamese_siren.experiments.inits.training_windows`). The chosen values reach the scored variants through the
configuration (config/experiments/families.yaml), not through the DAG: a variant is resolved when the workflow is
planned, before any job runs. The report says whether the configured values are the tuning's choice.

Steps to the paper's loss reuse :func:`siamese_siren.experiments.fast_fit.fast_fit_losses`, the kbps for a quality
:func:`siamese_siren.analysis.rate_distortion.kbps_for_quality`, the intervals
:mod:`siamese_siren.analysis.statistics`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib.lines
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd
import seaborn as sns

from siamese_siren.analysis.figures.drawing import metric_label, new_figure, save
from siamese_siren.analysis.rate_distortion import kbps_for_quality, read_points
from siamese_siren.analysis.statistics import MIN_N_FOR_INTERVAL, mean_ci
from siamese_siren.codec import files
from siamese_siren.codec.models import Variant, parameter_count
from siamese_siren.codec.train import TrainConfig, TrainingDiverged, read_losses, train_batch
from siamese_siren.metrics.vocabulary import higher_is_better
from siamese_siren.pipeline.config import config_error
from siamese_siren.pipeline.datasets import snakemake_path
from siamese_siren.pipeline.plan import Plan
from siamese_siren.pipeline.targets import Reconstruction, Target

from .fast_fit import fast_fit_losses
from .inits import Window, training_windows

#: Variants compared at "equal parameter count" may differ from the baseline's count by this share: a Fourier
#: encoding of m features gives 2m inputs where the positional encoding gives 33 (16 features: 0.2% fewer
#: parameters at full size, 0.5% at paper-small's widths).
PARAMETER_TOLERANCE = 0.03
#: The goals a family is held to: steps to the paper's final loss at most this share of the paper's steps, kbps at
#: the paper file's quality at most this share of the paper file's kbps.
STEPS_GOAL = 0.25
KBPS_GOAL = 0.5
#: The scope of rows pooled over every dataset.
ALL = "all"
#: Points per loss curve in the figure (log-spaced steps): enough for a smooth line, a small figure file.
CURVE_POINTS = 120

# ---- what a run is: family, layout, recipe -------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One variant of the comparison: its family, layout, recipe and parameter count."""

    variant: str
    family: str
    layout: str  # "siamese" (two heads) or "plain" (one)
    recipe: str  # "paper" (the baseline's recipe) or "own"
    params: int


def family_of(variant: Variant) -> str:
    """A variant's family: its activation, and its time encoding where it is not the paper's positional one
    (``sine``, ``finer``, ``gauss``, ``gabor``, ``sine + fourier``, ``sine + none``)."""
    encoding = variant.time_encoding
    return variant.activation if encoding == "positional" else f"{variant.activation} + {encoding}"


def _recipe(plan: Plan, name: str) -> tuple:
    return tuple(plan.recipe(name, key) for key in ("lr", "schedule", "warmup_steps", "init"))


def runs(plan: Plan) -> list[Run]:
    """The baseline first, then ``families.variants`` in their order (a repeat of the baseline left out)."""
    spec = plan.config["families"]
    baseline = spec["baseline"]
    names = [baseline] + [v for v in dict.fromkeys(spec["variants"]) if v != baseline]
    out = []
    for name in names:
        variant = plan.variant(name, "families.variants")
        out.append(Run(name, family_of(variant), "siamese" if variant.siam else "plain",
                       "paper" if _recipe(plan, name) == _recipe(plan, baseline) else "own", parameter_count(variant)))
    return out


# ---- the target: what it adds to a plan ------------------------------------------------------------------


def report_path(plan: Plan, ext: str) -> str:
    """``families.md`` and ``families.csv``: the comparison's tables."""
    return f"{plan.layout.root}/families.{ext}"


def tuning_path(plan: Plan) -> str:
    """The tuning record: every candidate's loss on every held-out window."""
    return f"{plan.layout.root}/families/tuning.csv"


def check_tune(plan: Plan) -> None:
    """Each tuned variant is compared, each candidate a valid variant, its schedule shorter than the tuning run."""
    spec = plan.config["families"]
    tune = spec.get("tune")
    if not tune:
        return
    for name, options in tune["candidates"].items():
        if name not in spec["variants"]:
            config_error(f"families.tune.candidates.{name}", "not one of families.variants",
                         f"tune some of {spec['variants']}")
        if plan.recipe(name, "warmup_steps") >= tune["steps"]:
            config_error("families.tune.steps", f"{tune['steps']} steps with {name}'s warm-up of "
                         f"{plan.recipe(name, 'warmup_steps')}", "tune for more steps than the warm-up")
        for fields in options:
            candidate_variant(plan, name, fields)


def tuned_keys(plan: Plan, name: str) -> list[str]:
    """The fields some candidate of a tuned variant sets."""
    return sorted({k for fields in plan.config["families"]["tune"]["candidates"][name] for k in fields})


def candidate_variant(plan: Plan, name: str, fields: Mapping[str, Any]) -> Variant:
    """One candidate of the tuning: a configured variant with ``fields`` replaced, and every other field some
    candidate of it sets at its default (so that ``{}`` is the family's defaults, such as FINER's biases unset)."""
    key = f"families.tune.candidates.{name}"
    if {"hidden", "siam", "name"} & set(fields):
        config_error(key, f"{sorted(fields)} change the architecture's widths or name",
                     "tune the family's parameters only (gauss_sigma, gabor_scale, omegas, fourier_sigma, ...)")
    defaults = {f.name: f.default for f in dataclasses.fields(Variant)
                if f.name in tuned_keys(plan, name) and f.name not in fields}
    try:
        return dataclasses.replace(plan.variant(name, key), **defaults, **fields)
    except (TypeError, ValueError) as err:
        config_error(key, f"{dict(fields)}: {err}", "give fields of siamese_siren.codec.models.Variant")


class Families(Target):
    """``families``: every variant of ``families.variants`` and the baseline, at every precision of
    ``families.precisions`` on every dataset, and the comparison's tables and figure."""

    key = "families"

    def check(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> None:
        compared = runs(plan)
        baseline = compared[0]
        for run in compared[1:]:
            if abs(run.params / baseline.params - 1) > PARAMETER_TOLERANCE:
                config_error("families.variants", f"{run.variant} has {run.params:,} parameters, the baseline "
                             f"{baseline.variant} {baseline.params:,}",
                             f"give it widths within {PARAMETER_TOLERANCE:.0%} of the baseline's count (the plain "
                             "layout of Siamese SIREN 2x256+1x128 is 3x256, optimized-siren)")
            if plan.steps(run.variant) != plan.steps(baseline.variant):
                config_error(f"variants.{run.variant}.steps", f"{plan.steps(run.variant)} steps, the baseline "
                             f"{plan.steps(baseline.variant)}", "train every compared variant as long as the baseline")
        if spec["reference"] not in spec["precisions"]:
            config_error("families.reference", f"{spec['reference']} is not one of families.precisions",
                         "add it to the precisions")
        for precision in spec["precisions"]:
            plan.precision("families.precisions", precision)
        check_tune(plan)

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        return [(d, run.variant, p, "auto") for d in plan.datasets for run in runs(plan) for p in spec["precisions"]]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        out = [report_path(plan, "md"), report_path(plan, "csv"), plan.layout.figure("families")]
        return out + ([tuning_path(plan)] if spec.get("tune") else [])


def inputs(plan: Plan, batches: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """The families job's inputs: scores, files and trained models of every compared variant, the codecs' scores,
    and the tuning record."""
    L, names = plan.layout, [run.variant for run in runs(plan)]  # noqa: N806
    cells = [(d, v, b) for d in plan.datasets for v in names for b in batches[d]]
    return {"scores": [L.scores(*c) for c in cells], "compressed": [L.compressed_batch(*c) for c in cells],
            "models": [L.models(*c) for c in cells],
            "codecs": [L.codec_scores(d, c, b) for d in plan.datasets for c in plan.codec_bitrates for b in batches[d]],
            "tuning": [tuning_path(plan)] if plan.config["families"].get("tune") else []}


def params(plan: Plan) -> dict[str, Any]:
    """What the families job needs besides its files."""
    spec, compared = plan.config["families"], runs(plan)
    names = [run.variant for run in compared]
    return {"spec": spec, "runs": [dataclasses.asdict(r) for r in compared],
            "steps": plan.steps(spec["baseline"]),
            "metrics": {d: [m for m in spec["metrics"] if m in plan.config["metrics"][plan.kind(d)]]
                        for d in plan.datasets},
            "denoise": {v: plan.denoise(v, "auto") for v in names},
            "float_bytes": {v: 4 * parameter_count(plan.variant(v)) for v in names},
            "settings": {p: plan.precision("families.precisions", p).setting for p in spec["precisions"]},
            "configured": configured_fields(plan)}


# ---- tuning on held-out windows ------------------------------------------------------------------------------


def tune_windows(plan: Plan, manifest_rows: Callable[[str], list[dict[str, str]]]) -> list[Window]:
    """``families.tune.windows`` clip-length windows per dataset that overlap no scored clip, drawn with its seed
    from the datasets' manifests (``manifest_rows(dataset)``): the split of the learned initialisations, drawn per
    dataset so that each kind of audio has its say in the choice."""
    tune, clip = plan.config["families"]["tune"], plan.config["clip"]
    datasets = [plan.known_dataset("families.tune.datasets", d) for d in tune["datasets"] or plan.datasets]
    return [w for d in datasets for w in training_windows({d: manifest_rows(d)}, clip["offset"], clip["seconds"],
                                                          tune["windows"], tune["seed"])]


def tune_sources(plan: Plan, manifest_rows: Callable[[str], list[dict[str, str]]]) -> list[str]:
    """The files the windows come from, as Snakemake inputs: a path with braces (a wildcard to Snakemake) through
    a link beside the tuning record."""
    links = Path(tuning_path(plan)).with_name("windows.links")
    sources = {w.source for w in tune_windows(plan, manifest_rows)}
    return sorted(snakemake_path(s, links / (hashlib.sha256(s.encode()).hexdigest()[:16]
                                             + (Path(s).suffix if Path(s).suffix[1:].isalnum() else "")))
                  for s in sources)


def tune_params(plan: Plan) -> dict[str, Any]:
    """Every candidate as an architecture and the recipe of the variant it tunes (run for ``tune.steps``)."""
    tune, clip = plan.config["families"]["tune"], plan.config["clip"]
    candidates = []
    for name, options in tune["candidates"].items():
        recipe = plan.train_params(name)
        for fields in options:
            candidates.append({"variant": name, "fields": dict(fields),
                               "architecture": candidate_variant(plan, name, fields).to_dict(),
                               "recipe": {k: recipe[k] for k in ("lr", "schedule", "warmup_steps", "weight_decay",
                                                                 "seed", "device")} | recipe["switches"]})
    return {"candidates": candidates, "steps": tune["steps"], "sample_rate": clip["sample_rate"],
            "seconds": clip["seconds"]}


def tune(candidates: Sequence[Mapping[str, Any]], windows: Mapping[str, np.ndarray], steps: int,
         progress: bool = True) -> pd.DataFrame:
    """Train every candidate on every window (together, as one batched network) for ``steps`` steps of its
    variant's recipe, keeping the final weights. One row per candidate and window: the final loss (inf where the
    candidate diverged)."""
    names, signals = list(windows), list(windows.values())
    rows = []
    for candidate in candidates:
        variant = Variant.from_dict(candidate["architecture"])
        config = TrainConfig(steps=steps, keep="final", progress=False, **candidate["recipe"])
        try:
            losses = [float(r.losses[-1]) for r in train_batch(variant, signals, config, names)]
        except TrainingDiverged:
            losses = [math.inf] * len(names)
        fields = _fields_text(candidate["fields"])
        if progress:
            print(f"{candidate['variant']} {fields}: median final loss {np.median(losses):.3e}", flush=True)
        rows += [{"variant": candidate["variant"], "fields": fields, "window": window, "steps": steps, "loss": loss}
                 for window, loss in zip(names, losses, strict=True)]
    return pd.DataFrame(rows, columns=["variant", "fields", "window", "steps", "loss"])


def _fields_text(fields: Mapping[str, Any]) -> str:
    """A candidate as it is written in the record: ``gauss_sigma=0.05, ...`` or ``(defaults)``."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(fields.items())) \
        or "(defaults)"


def configured_fields(plan: Plan) -> dict[str, dict[str, str]]:
    """{tuned variant: {candidate as written in the record: the compared variants of its family configured with
    exactly those values}}: whether the configuration carries the tuning's choice."""
    tune = plan.config["families"].get("tune") or {"candidates": {}}
    compared = runs(plan)
    out: dict[str, dict[str, str]] = {}
    for name, options in tune["candidates"].items():
        family, keys = family_of(plan.variant(name)), tuned_keys(plan, name)
        out[name] = {}
        for fields in options:
            wanted = candidate_variant(plan, name, fields)
            same = [r.variant for r in compared if r.family == family
                    and all(getattr(plan.variant(r.variant), k) == getattr(wanted, k) for k in keys)]
            out[name][_fields_text(fields)] = ", ".join(same)
    return out


def tuning_summary(record: pd.DataFrame, configured: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Per tuned variant and candidate: the geometric mean of the final losses over the windows (the score; one
    window's loss scale does not swamp another's), whether it is the chosen (lowest) one, and which compared
    variants are configured with it."""
    rows = []
    for (name, fields), group in record.groupby(["variant", "fields"], sort=False):
        loss = group["loss"].to_numpy(dtype=float)
        rows.append({"variant": name, "fields": fields, "windows": len(loss), "steps": int(group["steps"].iloc[0]),
                     "score": float(np.exp(np.mean(np.log(loss)))) if np.all(np.isfinite(loss)) else math.inf,
                     "configured in": configured.get(name, {}).get(fields, "")})
    table = pd.DataFrame(rows, columns=["variant", "fields", "windows", "steps", "score", "configured in"])
    table["chosen"] = table["score"] == table.groupby("variant")["score"].transform("min")
    return table


# ---- steps to the paper's loss ------------------------------------------------------------------------------


def steps_per_clip(losses: Mapping[tuple[str, str, str], np.ndarray], seconds_per_step: Mapping[tuple, float],
                   compared: Sequence[Run], steps: int) -> pd.DataFrame:
    """Per dataset, variant and clip: the first step at which the variant's loss reached the loss the baseline (the
    first run) ends that clip with (NaN: never within ``steps``), and that in seconds of its training job.

    ``losses``: {(dataset, variant, clip): the loss of every step}; ``seconds_per_step``: the same keys, the
    training job's wall time per step. The baseline's own row is the step it first reached its final loss.
    """
    baseline = compared[0].variant
    cells = [(run.variant, steps, run.variant, "float") for run in compared]
    per_clip = fast_fit_losses(dict(losses), cells, baseline).rename(columns={"recipe": "variant"})
    per_clip["seconds_to_target"] = [s * seconds_per_step.get((d, v, c), math.nan) for d, v, c, s in zip(
        per_clip["dataset"], per_clip["variant"], per_clip["clip"], per_clip["steps_to_target"], strict=True)]
    return per_clip.drop(columns=["budget"])


def steps_summary(per_clip: pd.DataFrame, compared: Sequence[Run], steps: int) -> pd.DataFrame:
    """Per dataset (and all pooled) and variant: clips, how many reached the paper's final loss, the median steps
    and seconds, and the geometric mean over clips of the steps relative to the baseline's own (the first step the
    paper's recipe reached its final loss) with its 95% interval (Student t on the log ratios; only when every clip
    reached it), and whether the median meets the goal (``STEPS_GOAL`` of the paper's ``steps``)."""
    baseline = compared[0].variant
    paper = per_clip[per_clip["variant"] == baseline][["dataset", "clip", "steps_to_target"]]
    frame = per_clip.merge(paper.rename(columns={"steps_to_target": "paper_steps"}), on=["dataset", "clip"])
    frame = pd.concat([frame, frame.assign(dataset=ALL)], ignore_index=True)  # each dataset, then all pooled
    rows = []
    for run in compared:
        for dataset, group in frame[frame["variant"] == run.variant].groupby("dataset", sort=False):
            needed = group["steps_to_target"].to_numpy(dtype=float)
            row = {"dataset": dataset, **dataclasses.asdict(run), "clips": len(needed),
                   "reached": int(np.isfinite(needed).sum()), "median_steps": math.nan, "median_seconds": math.nan,
                   "ratio": math.nan, "ratio_low": math.nan, "ratio_high": math.nan}
            if row["reached"] == row["clips"]:
                row["median_steps"] = float(np.median(needed))
                row["median_seconds"] = float(np.median(group["seconds_to_target"]))
                # at least one step each: a run at the target from its first step would make the log infinite
                logs = np.log(np.maximum(needed, 1) / np.maximum(group["paper_steps"].to_numpy(dtype=float), 1))
                mean, half, n = mean_ci(logs)
                row["ratio"] = math.exp(mean)
                if n >= MIN_N_FOR_INTERVAL and np.isfinite(half):
                    row["ratio_low"], row["ratio_high"] = math.exp(mean - half), math.exp(mean + half)
            row["goal"] = bool(row["median_steps"] <= STEPS_GOAL * steps)
            rows.append(row)
    columns = ["dataset", *(f.name for f in dataclasses.fields(Run)), "clips", "reached", "median_steps",
               "median_seconds", "ratio", "ratio_low", "ratio_high", "goal"]
    return pd.DataFrame(rows, columns=columns)


def loss_curves(losses: Mapping[tuple[str, str, str], np.ndarray], compared: Sequence[Run]) -> pd.DataFrame:
    """Per dataset, variant and step (log-spaced, :data:`CURVE_POINTS` of them): the median over clips of the loss
    over the baseline's final loss of the clip: 1 is the paper's recipe's end point."""
    baseline = compared[0].variant
    rows = []
    for run in compared:
        by_dataset: dict[str, list[np.ndarray]] = {}
        for (dataset, variant, clip), curve in losses.items():
            if variant == run.variant and (dataset, baseline, clip) in losses:
                by_dataset.setdefault(dataset, []).append(curve / losses[(dataset, baseline, clip)][-1])
        for dataset, curves in by_dataset.items():
            median = np.median(np.stack(curves), axis=0)
            shown = np.unique(np.geomspace(1, len(median), CURVE_POINTS).astype(int)) - 1
            rows += [{"dataset": dataset, "variant": run.variant, "step": int(s), "loss_over_target": float(median[s])}
                     for s in shown]
    return pd.DataFrame(rows, columns=["dataset", "variant", "step", "loss_over_target"])


# ---- quality at the paper file's bytes, kbps at the paper file's quality -------------------------------------


def _per_clip(points: pd.DataFrame, dataset: str, variant: str, method: str, metric: str) -> pd.Series:
    rows = points[(points["dataset"] == dataset) & (points["point"] == variant) & (points["method"] == method)]
    return rows.set_index("clip")[metric].astype(float)


def quality_at_paper_bytes(points: pd.DataFrame, compared: Sequence[Run], reference: str,
                           metrics: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Each variant's file at the reference precision (the paper's setting: at equal parameter count, the paper
    file's bytes) against the paper file, per dataset and metric: both means, their kbps, and the mean over clips
    of the paired difference with its 95% interval (Student t; N = clips scored by both)."""
    baseline, method = compared[0].variant, f"INR {reference}"
    rows = []
    for dataset, wanted in metrics.items():
        for metric in wanted:
            paper = _per_clip(points, dataset, baseline, method, metric)
            kbps_paper = _per_clip(points, dataset, baseline, method, "kbps").mean()
            for run in compared[1:]:
                mine = _per_clip(points, dataset, run.variant, method, metric)
                both = pd.concat([mine.rename("mine"), paper.rename("paper")], axis=1).dropna()
                diff, half, n = mean_ci(both["mine"] - both["paper"])
                low, high = diff - half, diff + half
                better = (low > 0 if higher_is_better(metric) else high < 0) if n >= MIN_N_FOR_INTERVAL else False
                worse = (high < 0 if higher_is_better(metric) else low > 0) if n >= MIN_N_FOR_INTERVAL else False
                rows.append({"dataset": dataset, **dataclasses.asdict(run), "metric": metric,
                             "mean": float(both["mine"].mean()), "paper": float(both["paper"].mean()),
                             "difference": diff, "ci95": half, "n": n,
                             "kbps": float(_per_clip(points, dataset, run.variant, method, "kbps").mean()),
                             "paper_kbps": float(kbps_paper),
                             "verdict": "better" if better else "worse" if worse else "no clear difference"})
    return pd.DataFrame(rows)


def _quality_matrix(points: pd.DataFrame, dataset: str, variant: str, metric: str,
                    clips: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(kbps, quality) of every INR file of one variant: (precisions, clips) arrays in ``clips``' order."""
    rows = points[(points["dataset"] == dataset) & (points["point"] == variant) & (points["family"] == "INR")]
    kbps = rows.pivot_table(index="method", columns="clip", values="kbps", aggfunc="first")
    quality = rows.pivot_table(index="method", columns="clip", values=metric, aggfunc="first")
    return kbps.reindex(columns=clips).to_numpy(dtype=float), quality.reindex(columns=clips).to_numpy(dtype=float)


def kbps_at_paper_quality(points: pd.DataFrame, compared: Sequence[Run], reference: str,
                          metrics: Mapping[str, Sequence[str]], draws: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The kbps each variant needs, over its files of every precision, to reach the paper file's mean quality, per
    dataset and metric (:func:`kbps_for_quality` on the means over clips), over the paper file's kbps.

    Intervals: a bootstrap over clips (``draws`` resamples drawn with ``seed``, the same clips for every variant
    and for the paper file), percentile 95%; a resample in which the target is not reached counts as infinitely
    many kbps. ``relative`` is the ratio over the baseline's own (the paper's family over the same precisions), with
    its interval: below 1 beats the paper's family at the same settings, and the interval says whether clearly.
    """
    baseline, rng = compared[0].variant, np.random.default_rng(seed)
    rows = []
    for dataset, wanted in metrics.items():
        for metric in wanted:
            paper = _per_clip(points, dataset, baseline, f"INR {reference}", metric).dropna()
            clips = sorted(paper.index)
            kbps_paper = _per_clip(points, dataset, baseline, f"INR {reference}", "kbps").reindex(clips).to_numpy()
            target, up = paper.reindex(clips).to_numpy(), higher_is_better(metric)
            resamples = rng.integers(0, len(clips), size=(draws, len(clips)))
            matrices = {run.variant: _quality_matrix(points, dataset, run.variant, metric, clips) for run in compared}
            ratios = {}
            for name, (kbps, quality) in matrices.items():
                ratios[name] = np.array([_kbps_needed(kbps, quality, target, take, up)[0] / np.mean(kbps_paper[take])
                                         for take in resamples])
                ratios[name][~np.isfinite(ratios[name])] = math.inf
            for run in compared:
                kbps, quality = matrices[run.variant]
                rate, found = _kbps_needed(kbps, quality, target, slice(None), up)
                ratio = rate / float(np.mean(kbps_paper))
                relative = ratios[run.variant] / ratios[baseline]
                relative[np.isnan(relative)] = 1.0  # neither reached the target in this resample: a tie
                # as the tables: no interval below MIN_N_FOR_INTERVAL clips (one clip resamples to itself)
                shown = len(clips) >= MIN_N_FOR_INTERVAL
                rows.append({"dataset": dataset, **dataclasses.asdict(run), "metric": metric,
                             "quality": float(np.mean(target)), "paper_kbps": float(np.mean(kbps_paper)),
                             "kbps": rate, "found": found, "ratio": ratio,
                             "ratio_low": _percentile(ratios[run.variant], 2.5) if shown else math.nan,
                             "ratio_high": _percentile(ratios[run.variant], 97.5) if shown else math.nan,
                             "relative_low": _percentile(relative, 2.5) if shown else math.nan,
                             "relative_high": _percentile(relative, 97.5) if shown else math.nan,
                             "n": len(clips), "draws": draws, "goal": bool(ratio <= KBPS_GOAL)})
    return pd.DataFrame(rows)


def _kbps_needed(kbps: np.ndarray, quality: np.ndarray, target: np.ndarray, take: np.ndarray | slice,
                 higher: bool) -> tuple[float, str]:
    """:func:`kbps_for_quality` of one variant's files on the clips ``take`` picks (a resample, or every clip):
    their mean kbps and quality per file against the paper file's mean quality on the same clips."""
    return kbps_for_quality(np.nanmean(kbps[:, take], axis=1), np.nanmean(quality[:, take], axis=1),
                            float(np.mean(target[take])), higher)


def _percentile(values: np.ndarray, q: float) -> float:
    """A percentile of values that may include inf (never interpolated, so inf stays inf)."""
    return float(np.percentile(values, q, method="lower" if q < 50 else "higher"))


# ---- the goals: which family does best on each, and whether the difference is real --------------------------


def targets(steps: pd.DataFrame, kbps: pd.DataFrame, baseline: str, total_steps: int) -> pd.DataFrame:
    """Per goal, the variant that does best, whether it meets the goal and whether it beats the paper clearly.

    Steps: pooled over every dataset, the lowest median steps to the paper's final loss among the variants (not the
    baseline) all of whose clips reached it (goal: ``STEPS_GOAL`` of ``total_steps``); clearly fewer than the
    paper's recipe when the interval of the ratio to its steps lies below 1. kbps: per dataset and metric, the
    lowest ratio to the paper file's kbps (goal: ``KBPS_GOAL``); clearly better than the paper's family when the
    interval of ``relative`` lies below 1.
    """
    rows = []
    goal = f"steps to the paper's final loss <= {STEPS_GOAL:g} x {total_steps}"
    pooled = steps[(steps["dataset"] == ALL) & (steps["variant"] != baseline) & (steps["reached"] == steps["clips"])]
    if len(pooled):
        best = pooled.loc[pooled["median_steps"].idxmin()]
        rows.append({"goal": goal, "dataset": ALL, "metric": "loss", "best": best["variant"],
                     "family": best["family"], "value": f"{best['median_steps']:g} steps (median of {best['clips']})",
                     "interval": _interval_text(best["ratio"], best["ratio_low"], best["ratio_high"],
                                                "x the paper recipe's steps"),
                     "meets goal": bool(best["goal"]), "clearly beats the paper": bool(best["ratio_high"] < 1)})
    else:
        rows.append({"goal": goal, "dataset": ALL, "metric": "loss", "best": "none", "family": "",
                     "value": "no variant reached it on every clip", "interval": "", "meets goal": False,
                     "clearly beats the paper": False})
    for (dataset, metric), group in kbps[kbps["variant"] != baseline].groupby(["dataset", "metric"], sort=False):
        best = group.loc[group["ratio"].fillna(math.inf).idxmin()]
        reached = bool(np.isfinite(best["ratio"]))
        rows.append({"goal": f"kbps at the paper file's quality <= {KBPS_GOAL:g} x", "dataset": dataset,
                     "metric": metric, "best": best["variant"] if reached else "none",
                     "family": best["family"] if reached else "",
                     "value": f"{best['ratio']:.2f} x ({best['kbps']:.1f} kbps)" if reached else "not reached",
                     "interval": _interval_text(best["ratio"], best["ratio_low"], best["ratio_high"], "x")
                     + (f"; over the paper's family's {best['relative_low']:.2f}-{best['relative_high']:.2f} x"
                        .replace("inf", "not reached") if reached and not np.isnan(best["relative_low"]) else ""),
                     "meets goal": bool(best["goal"]), "clearly beats the paper": bool(best["relative_high"] < 1)})
    return pd.DataFrame(rows)


def _interval_text(value: float, low: float, high: float, unit: str) -> str:
    if not np.isfinite(value):
        return "not reached"
    if np.isnan(low):
        return f"{value:.2f} {unit} (no interval)"
    return f"{value:.2f} {unit}, 95% interval {low:.2f}-{high:.2f}".replace("inf", "not reached")


# ---- the report ----------------------------------------------------------------------------------------------


def write_families(steps: pd.DataFrame, quality: pd.DataFrame, kbps: pd.DataFrame, verdicts: pd.DataFrame,
                   tuning: pd.DataFrame | None, csv_path: str | Path, md_path: str | Path, caption: str = "") -> None:
    """CSV in long form (one row per table, row and measure); Markdown: the targets, then each table."""
    long = pd.concat([
        steps.melt(id_vars=["dataset", "variant", "family", "layout", "recipe"],
                   value_vars=["clips", "reached", "median_steps", "median_seconds", "ratio", "ratio_low",
                               "ratio_high"], var_name="measure").assign(table="steps"),
        quality.melt(id_vars=["dataset", "variant", "family", "layout", "recipe", "metric"],
                     value_vars=["mean", "paper", "difference", "ci95", "n", "kbps", "paper_kbps"],
                     var_name="measure").assign(table="quality at the paper file's bytes"),
        kbps.melt(id_vars=["dataset", "variant", "family", "layout", "recipe", "metric"],
                  value_vars=["quality", "paper_kbps", "kbps", "ratio", "ratio_low", "ratio_high", "relative_low",
                              "relative_high", "n"],
                  var_name="measure").assign(table="kbps at the paper file's quality"),
    ], ignore_index=True)
    with files.atomic_write(csv_path, "w", newline="") as f:
        long.to_csv(f, index=False)

    steps_shown = steps.assign(**{
        "reached": [f"{r} of {c}" for r, c in zip(steps["reached"], steps["clips"], strict=True)],
        "median steps": steps["median_steps"].map(lambda s: "n/a" if np.isnan(s) else f"{s:g}"),
        "median s": steps["median_seconds"].map(lambda s: "n/a" if np.isnan(s) else f"{s:.1f}"),
        "x the paper's steps": [_interval_text(v, lo, hi, "x") if r == c else "n/a"
                                for v, lo, hi, r, c in zip(steps["ratio"], steps["ratio_low"], steps["ratio_high"],
                                                           steps["reached"], steps["clips"], strict=True)],
    })[["dataset", "variant", "family", "layout", "recipe", "params", "reached", "median steps", "median s",
        "x the paper's steps"]]
    quality_shown = quality.assign(cell=[
        f"{m:.2f} vs {p:.2f}: {d:+.2f} ± {h:.2f} (N={n}), {v}" if n >= MIN_N_FOR_INTERVAL
        else f"{m:.2f} vs {p:.2f}: {d:+.2f} (N={n})"
        for m, p, d, h, n, v in zip(quality["mean"], quality["paper"], quality["difference"], quality["ci95"],
                                    quality["n"], quality["verdict"], strict=True)])
    quality_wide = quality_shown.pivot_table(index=["dataset", "variant", "layout", "recipe"], columns="metric",
                                             values="cell", aggfunc="first", sort=False) if len(quality) else None
    kbps_shown = kbps.assign(cell=[
        "not reached" if not np.isfinite(r) else
        f"{'≤ ' if f == 'at most' else ''}{k:.1f} ({r:.2f}x" + (")" if np.isnan(lo) else
                                                               f", {lo:.2f}-{hi:.2f}; over the paper's family's "
                                                               f"{rlo:.2f}-{rhi:.2f})".replace("inf", "∞"))
        for k, r, f, lo, hi, rlo, rhi in zip(kbps["kbps"], kbps["ratio"], kbps["found"], kbps["ratio_low"],
                                            kbps["ratio_high"], kbps["relative_low"], kbps["relative_high"],
                                            strict=True)])
    kbps_wide = kbps_shown.pivot_table(index=["dataset", "variant", "layout", "recipe"], columns="metric",
                                       values="cell", aggfunc="first", sort=False) if len(kbps) else None
    text = [caption, "", "## Targets", "", verdicts.to_markdown(index=False, disable_numparse=True), "",
            "## Steps to the paper recipe's final loss", "",
            "The first step at which a variant's loss reached, clip by clip, the loss the paper's recipe (the "
            "baseline, first row) ends with; seconds: that many steps of the variant's own training job. x the "
            "paper's steps: geometric mean over clips of the steps over the paper's recipe's own first step at "
            "its final loss, 95% interval (Student t on the logs).", "",
            steps_shown.to_markdown(index=False, disable_numparse=True), "",
            "## Quality at the paper file's bytes", "",
            "Each variant's file at the paper's precision (equal parameter count: the paper file's bytes, the kbps "
            "are in families.csv) against the paper file: mean vs the paper's, paired difference ± 95% interval "
            "(N clips), and whether the interval excludes no difference.", "",
            quality_wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True)
            if quality_wide is not None else "(no variant besides the baseline)", "",
            "## kbps at the paper file's quality", "",
            "kbps a variant needs over its files of every precision for the paper file's mean quality (linear "
            "between two files; ≤: its cheapest file already reaches it), its ratio to the paper file's kbps with "
            "a bootstrap 95% interval over clips, and the interval of its ratio over the paper's family's own (the "
            "baseline over the same precisions).", "",
            kbps_wide.fillna("n/a").reset_index().to_markdown(index=False, disable_numparse=True)
            if kbps_wide is not None else "(no points)"]
    if tuning is not None:
        shown = tuning.assign(score=tuning["score"].map(lambda s: "diverged" if not np.isfinite(s) else f"{s:.3e}"),
                              chosen=tuning["chosen"].map({True: "chosen", False: ""}))
        text += ["", "## Hyper-parameters chosen on held-out windows", "",
                 "Each candidate trained on windows that overlap no scored clip for the steps shown, with its "
                 "variant's recipe; score: the geometric mean of the final losses over the windows (lowest chosen); "
                 "configured in: the compared variants of its family whose configuration has these values.", "",
                 shown.to_markdown(index=False, disable_numparse=True)]
    files.write_text(md_path, "\n".join(text).lstrip("\n") + "\n")


def report(inputs: Mapping[str, Sequence[str]], plan_params: Mapping[str, Any], csv_path: str | Path,
           md_path: str | Path, figure_path: str | Path) -> pd.DataFrame:
    """The families job: from its input files (:func:`inputs`) and :func:`params`, ``families.md``/``.csv`` and the
    figure. Returns the targets' verdicts."""
    p = plan_params
    spec, compared = p["spec"], [Run(**run) for run in p["runs"]]
    points = read_points(inputs["scores"], inputs["compressed"], inputs["codecs"], p["settings"], p["denoise"],
                         p["float_bytes"])
    losses, seconds = read_losses(inputs["models"])
    steps = steps_summary(steps_per_clip(losses, seconds, compared, p["steps"]), compared, p["steps"])
    quality = quality_at_paper_bytes(points, compared, spec["reference"], p["metrics"])
    kbps = kbps_at_paper_quality(points, compared, spec["reference"], p["metrics"], spec["draws"], spec["seed"])
    verdicts = targets(steps, kbps, compared[0].variant, p["steps"])
    tuning = tuning_summary(pd.read_csv(inputs["tuning"][0]), p["configured"]) if inputs["tuning"] else None
    caption = (f"INR families against the paper's variant ({compared[0].variant}, {compared[0].params:,} parameters, "
               f"the paper file: {spec['reference']}): {len(compared) - 1} variants, each family in the Siamese and "
               "the plain layout at equal parameter count, with the paper's recipe and the family's own; "
               f"{len({clip for _, _, clip in losses})} clips.")
    write_families(steps, quality, kbps, verdicts, tuning, csv_path, md_path, caption)
    families_figure(loss_curves(losses, compared), points, compared, spec["reference"], p["metrics"], figure_path)
    return verdicts


# ---- the figure ----------------------------------------------------------------------------------------------


def _styles(compared: Sequence[Run]) -> dict[str, dict[str, Any]]:
    """Colour per family, line style per layout, marker per recipe; the baseline black."""
    families = list(dict.fromkeys(r.family for r in compared))
    palette = dict(zip(families, sns.color_palette("tab10", len(families)), strict=True))
    styles = {}
    for i, run in enumerate(compared):
        styles[run.variant] = {"color": "black" if i == 0 else palette[run.family],
                               "linestyle": "-" if run.layout == "siamese" else "--",
                               "marker": "o" if run.recipe == "paper" else "^", "label": run.variant}
    return styles


def families_figure(curves: pd.DataFrame, points: pd.DataFrame, compared: Sequence[Run], reference: str,
                    metrics: Mapping[str, Sequence[str]], path: str | Path) -> plt.Figure:
    """One row per dataset: the loss over the paper recipe's final loss against the step for the paper's recipe and
    for the families' own (median over clips), then kbps against quality per metric: each variant's files of every
    precision as markers and its best quality at or under each rate as a line (colour: family; solid: Siamese,
    dashed: plain; circles: the paper's recipe, triangles: the family's own), the codecs in grey; the paper file is
    the crossing of the dotted lines."""
    datasets = list(metrics)
    widest = max(len(m) for m in metrics.values())
    styles = _styles(compared)
    fig, axes = new_figure(len(datasets), 2 + widest, 4.0 * (2 + widest) + 2.5, 3.4 * len(datasets))
    baseline, codecs = compared[0].variant, set()
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, recipe in zip(row[:2], ("paper", "own"), strict=True):
            shown = [r for r in compared if r.recipe == recipe or r.variant == baseline]
            for run in shown:
                curve = curves[(curves["dataset"] == dataset) & (curves["variant"] == run.variant)]
                style = styles[run.variant]
                ax.plot(curve["step"] + 1, curve["loss_over_target"], color=style["color"],
                        linestyle=style["linestyle"], linewidth=1.2)
            ax.set(xscale="log", yscale="log", xlabel="training step (log)", ylabel="loss / paper's final loss")
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.set_title(f"{dataset}: {'the paper' if recipe == 'paper' else 'their own'} recipe", fontsize=10)
        for ax, metric in zip(row[2:], list(metrics[dataset]) + [None] * widest, strict=False):
            if metric is None:
                ax.set_axis_off()
                continue
            data = points[(points["dataset"] == dataset) & points[metric].notna()]
            means = data.groupby(["family", "method", "point"], sort=False)[["kbps", metric]].mean().reset_index()
            for codec, group in means[means["family"] == "codec"].groupby("method"):
                group = group.sort_values("kbps")
                ax.plot(group["kbps"], group[metric], color="grey", marker="x", markersize=4, linewidth=1, alpha=0.8)
                codecs.add(codec)
            for run in compared:
                group = means[(means["family"] == "INR") & (means["point"] == run.variant)].sort_values("kbps")
                style = styles[run.variant]
                # every file a marker, the line its best quality at or under each rate, as kbps_for_quality reads it
                best = (group[metric].cummax() if higher_is_better(metric) else group[metric].cummin())
                ax.plot(group["kbps"], best, color=style["color"], linestyle=style["linestyle"], linewidth=1.2)
                ax.scatter(group["kbps"], group[metric], color=style["color"], marker=style["marker"], s=14)
            paper = means[(means["point"] == baseline) & (means["method"] == f"INR {reference}")]
            if len(paper):
                ax.axhline(float(paper[metric].iloc[0]), color="black", linestyle=":", linewidth=0.8)
                ax.axvline(float(paper["kbps"].iloc[0]), color="black", linestyle=":", linewidth=0.8)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            better = "higher" if higher_is_better(metric) else "lower"
            ax.set(xlabel="kbps (payload, log)", ylabel=f"{metric_label(metric)} ({better} is better)")
            ax.set_title(f"{dataset}: {metric_label(metric)}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
    handles = [matplotlib.lines.Line2D([], [], color=style["color"], linestyle=style["linestyle"],
                                       marker=style["marker"], markersize=4, label=style["label"])
               for style in styles.values()]
    handles += [matplotlib.lines.Line2D([], [], color="grey", marker="x", markersize=4, label=f"{codec} (codec)")
                for codec in sorted(codecs)]
    fig.legend(handles=handles, loc="outside right center", fontsize=7, frameon=False)
    return save(fig, path)
