"""Rate-distortion against the reference codecs: every variant x precision of ``rate_distortion`` on every dataset
as per-clip points, the kbps each method needs for each quality, a figure per dataset, and where asked for, the
equal-quality table, rate control's accuracy and what quantization-aware fine-tuning buys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from siamese_siren.analysis.precision import Precision

from ..config import config_error
from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


def measured_settings(plan: Plan) -> list[str]:
    """Quantize settings whose files the rate-distortion points measure."""
    return sorted({Precision.parse(p).setting for p in plan.config["rate_distortion"]["precisions"]} - {None})


def qat_pairs(plan: Plan) -> dict[str, str]:
    """Rate-distortion precisions written after quantization-aware fine-tuning, each with the precision of the
    same bits, scales and coding written straight from training, where both are points: what fine-tuning buys."""
    rd = plan.config.get("rate_distortion") or {}
    by_layout: dict[tuple, dict[bool, str]] = {}
    for name in rd.get("precisions", []):
        precision = Precision.parse(name)
        if precision.setting is None or precision.paper_mode:
            continue
        params = plan.quantize_params(precision.setting)
        layout = (params["bits"], params["per_channel"], params["entropy"])
        by_layout.setdefault(layout, {}).setdefault(params["qat_steps"] > 0, name)
    return {pair[True]: pair[False] for pair in by_layout.values() if len(pair) == 2}


def inputs(plan: Plan, batches: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """The rate-distortion job's inputs: every batch's scores and files of its variants, and the codecs' scores."""
    L, variants = plan.layout, plan.config["rate_distortion"]["variants"]  # noqa: N806
    return {
        "scores": [L.scores(d, v, b) for d in plan.datasets for v in variants for b in batches[d]],
        "compressed": [L.compressed_batch(d, v, b) for d in plan.datasets for v in variants for b in batches[d]],
        "codecs": [L.codec_scores(d, c, b) for d in plan.datasets for c in plan.codec_bitrates for b in batches[d]],
    }


@register_target
class RateDistortion(Target):
    key = "rate_distortion"

    def check(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> None:
        """The equal-quality reference is one of the points; rate control's objective is scored on every dataset."""
        if ref := spec.get("reference"):
            if ref["variant"] not in spec["variants"] or ref["precision"] not in spec["precisions"]:
                config_error("rate_distortion.reference", f"{ref['variant']} at {ref['precision']} is not one of the "
                             "points", "add it to rate_distortion.variants and precisions")
        if (control := spec.get("control")) and control["objective"] != "snr":
            for dataset in plan.datasets:
                if control["objective"] not in plan.config["metrics"][plan.kind(dataset)]:
                    config_error("rate_distortion.control.objective", f"{control['objective']} is not scored on "
                                 f"{dataset} ({plan.kind(dataset)})", "use snr or a metric every dataset scores")

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        return [(d, v, p, spec["denoise"]) for d in plan.datasets for v in spec["variants"] for p in spec["precisions"]]

    def files(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        return [(d, v, s) for d in plan.datasets for v in spec["variants"] for s in measured_settings(plan)]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        L = plan.layout  # noqa: N806
        out = [L.rate_distortion(f"kbps_needed.{ext}") for ext in ("csv", "md")]
        out += [L.rate_distortion("points.csv")] + [L.figure(f"rate_distortion_{d}") for d in plan.datasets]
        if spec.get("reference"):
            out += [L.rate_distortion(f"equal_quality.{ext}") for ext in ("csv", "md")]
        if spec.get("control"):
            out += [L.rate_distortion(f"rate_control.{ext}") for ext in ("csv", "md")]
        if qat_pairs(plan):
            out += [L.rate_distortion(f"qat.{ext}") for ext in ("csv", "md")]
        return out
