"""Figure 5: white noise barely changes a clip's waveform but clearly changes its log-mel spectrogram."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


@register_target
class Figure5(Target):
    key = "figures.fig5"

    def check(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> None:
        plan.figure_dataset("fig5")

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("fig5")]
