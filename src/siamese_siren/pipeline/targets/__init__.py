"""Targets register themselves: every kind of result the workflow makes is declared in one module of this package.

A kind of target (a paper table, a figure, the rate-distortion comparison, the listening page, ...) says, for the
plan it is given:

* which config section switches it on (:attr:`Target.key`; a section that is absent or null leaves it out),
* which reconstructions it reads (dataset x variant x precision x denoising: :meth:`Target.reconstructions`),
* which compressed files it measures besides those (:meth:`Target.files`), which training snapshots it needs
  (:meth:`Target.snapshots`) and which variants it adds (:meth:`Target.variants`),
* the checks of its config section that can run before any job (:meth:`Target.check`),
* and the files it writes (:meth:`Target.outputs`).

The plan (:class:`~siamese_siren.pipeline.plan.Plan`) iterates over the registry; it holds no list of targets. A
new kind of figure is its drawing module in :mod:`siamese_siren.analysis.figures`, its declaration here, its rule
and its schema entry. An experiment declares its targets in its own module and adds them to a plan
(:meth:`Plan.add_target <siamese_siren.pipeline.plan.Plan.add_target>`) from its own rules, so that nothing here
imports it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..plan import Plan

#: One reconstruction a target reads: (dataset, variant, precision, denoise).
Reconstruction = tuple[str, str, str, str]

_REGISTERED: list[Target] = []


class Target:
    """A kind of target. Subclasses set :attr:`key` and override what they need; every method gets the plan and
    one instance of the kind (its name and config section: a table of ``tables``, or the one section)."""

    #: The config section that switches the kind on, as a dotted path (``figures.fig3``, ``rate_distortion``).
    key: str = ""
    #: Whether ``snakemake tables`` (the paper's results in one target) builds it too.
    in_tables: bool = False

    def instances(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """{config key of an instance: its section} for every instance the config asks for."""
        section: Any = config
        for part in self.key.split("."):
            section = section.get(part) if isinstance(section, Mapping) else None
        return {self.key: section} if section else {}

    def variants(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        """Variants (config specs) the kind adds to the configured ones."""
        return {}

    def check(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> None:
        """Checks of the section that can run before any job; raise through ``config_error``."""

    def snapshots(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> dict[str, Iterable[int]]:
        """{variant: training steps} whose float snapshots a training job must keep for this kind."""
        return {}

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        """The decoded clips the kind reads."""
        return ()

    def files(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        """(dataset, variant, quantize setting) of compressed files it measures besides those it decodes."""
        return ()

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        """The files it writes."""
        return []


def register_target(cls: type[Target]) -> type[Target]:
    """Class decorator: one instance of the kind joins every plan made from now on."""
    _REGISTERED.append(cls())
    return cls


def registered() -> list[Target]:
    """Every kind declared in this package (its modules imported once, in name order)."""
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{module}")
    return list(_REGISTERED)
