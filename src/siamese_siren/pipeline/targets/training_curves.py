"""A metric against the training step: each variant's float snapshots and final weights, on every dataset."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


@register_target
class TrainingCurves(Target):
    key = "figures.training_curves"

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        return [(d, v, precision, "none") for v in spec["variants"] for d in plan.datasets
                for precision in [f"float-step{s}" for s in plan.snapshot_steps(v)] + ["float"]]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("training_curves")]
