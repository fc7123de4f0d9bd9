"""Figure 3: the log-mel spectrogram of one clip, the reference against each variant after quantization."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


@register_target
class Figure3(Target):
    key = "figures.fig3"

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        dataset = plan.figure_dataset("fig3")
        return [(dataset, v, spec["precision"], "none") for v in spec["variants"]]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("fig3")]
