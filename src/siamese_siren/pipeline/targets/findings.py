"""Every per-clip record in one table (``scores.csv``), and the paper's qualitative claims checked on the run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from siamese_siren.analysis.paper import paper_size_measures
from siamese_siren.codec.models import parameter_count

from . import Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan


def _roles(plan: Plan, names: Sequence[str], steps: bool = False) -> dict[str, str]:
    """{library model: variant} of the variants that are a library model unchanged (but for ``steps``)."""
    roles: dict[str, str] = {}
    for name in names:
        if model := plan.unchanged_model(name, steps):
            roles.setdefault(model, name)
    return roles


def findings_spec(plan: Plan) -> dict[str, Any]:
    """What ``siamese_siren.analysis.findings`` needs to know of the run: which variant plays which of the paper's
    models in each table (a variant that is a library model unchanged, or its scaled twin), Figures 4 and 6, the
    parameter counts, and a header saying how the run was measured."""
    tables, sizes = {}, {}
    for table, spec in plan.config["tables"].items():
        names = spec["variants"]
        tables[table] = {"roles": _roles(plan, names), "precision": spec["precision"],
                         "denoise": {v: plan.denoise(v, spec["denoise"]) for v in names}}
        for name in names:
            variant = plan.variant(name)
            sizes[name] = {"exact": parameter_count(variant),
                           "torchsummary": round(paper_size_measures(variant)["params_k"] * 1000)}
    fig6 = plan.figure("fig6")
    if fig6:
        fig6 = {"dataset": plan.figure_dataset("fig6"), "roles": _roles(plan, fig6["variants"], steps=True),
                "steps": max(plan.steps(v) for v in fig6["variants"])}
    scaled = plan.scaled_run()
    training, clip = plan.config["training"], plan.config["clip"]
    header = (f"Run `{plan.config['results']}`: {scaled['note'] if scaled else 'full-size networks'}; "
              f"{clip['seconds']:g} s clips at {clip['sample_rate']} Hz, {training['steps']} training steps, "
              f"the {training['keep']} weights.")
    return {"tables": tables, "parameters": sizes, "fig4": plan.figure("fig4"), "fig6": fig6,
            "kinds": {d: plan.kind(d) for d in plan.datasets}, "header": header}


@register_target
class Scores(Target):
    """Always built: the per-clip records of everything the run scored."""

    def instances(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {"scores": {}}

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.all_scores()]


@register_target
class Findings(Target):
    """Always built: each of the paper's claims, holds, partly or not, with the numbers."""

    def instances(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {"findings": {}}

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.findings(ext) for ext in ("md", "csv")]
