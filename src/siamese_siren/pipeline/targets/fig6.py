"""Figure 6: long training, the float weights of each variant after its (longer) run, against the reference."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


@register_target
class Figure6(Target):
    key = "figures.fig6"

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        dataset = plan.figure_dataset("fig6")
        return [(dataset, v, "float", "none") for v in spec["variants"]]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("fig6")]
