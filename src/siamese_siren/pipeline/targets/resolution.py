"""Resolution: one compressed file decoded at several sample rates (the representation is continuous in time)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..config import config_error
from . import Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


@register_target
class Resolution(Target):
    key = "resolution"

    def check(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> None:
        plan.known_dataset("resolution.dataset", spec["dataset"])
        plan.variant(spec["variant"], "resolution.variant")
        if plan.precision("resolution.precision", spec["precision"]).setting is None:
            config_error("resolution.precision", "float weights have no compressed file", "name a quantize setting")

    def files(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        # its file must exist; the resolution rule decodes it itself
        return [(spec["dataset"], spec["variant"], plan.precision("resolution.precision", spec["precision"]).setting)]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.figure("resolution")]
