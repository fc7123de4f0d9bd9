"""Figure 4: the denoising ablation, one variant's metric under each denoising mode, music against speech."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan

#: Denoising modes Figure 4 compares.
ABLATION_DENOISE = ("none", "stationary", "nonstationary", "siamese")


@register_target
class Figure4(Target):
    key = "figures.fig4"
    in_tables = True  # the paper's fourth result: `snakemake tables` builds it with Tables 1-3

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        return [(d, spec["variant"], spec["precision"], mode) for d in plan.datasets for mode in ABLATION_DENOISE]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("fig4")]
