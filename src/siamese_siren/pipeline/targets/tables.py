"""The paper's Tables 1-3 (and any table of ``tables``): each variant of a table on each of its datasets, at the
table's precision and denoising, with the sizes of the files of one quantize setting."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from siamese_siren.analysis.paper import PAPER_DATASET_OF_KIND, PAPER_RECIPE, PAPER_SOURCES
from siamese_siren.analysis.precision import PAPER_SETTING, Precision

from . import Reconstruction, Target, register_target

if TYPE_CHECKING:
    from ..plan import Plan

def table_datasets(plan: Plan, table: str) -> list[str]:
    wanted = plan.config["tables"][table]["datasets"] or plan.datasets
    return [plan.known_dataset(f"tables.{table}.datasets", d) for d in wanted]


def cells(plan: Plan, table: str) -> list[tuple[str, str]]:
    """(dataset, variant) of every row of a table, in the table's order."""
    return [(d, v) for d in table_datasets(plan, table) for v in plan.config["tables"][table]["variants"]]


def sized_setting(plan: Plan, table: str) -> str:
    """The quantize setting whose file sizes a table shows (a float table shows the paper's int8 file)."""
    return Precision.parse(plan.config["tables"][table]["precision"]).setting or PAPER_SETTING


def paper_comparison(plan: Plan, table: str) -> dict[str, Any]:
    """Which rows of a table compare with the paper's (``siamese_siren.analysis.paper.PaperMatch`` arguments).

    Only a table measured as the paper measured it compares: the paper's datasets, its clip, training steps and
    final weights, int8 paper-mode decoding with automatic denoising, and variants that are a library model
    unchanged. Otherwise ``datasets`` is empty and ``reason`` says what differs.
    """
    spec, config = plan.config["tables"][table], plan.config
    settings = {"clip.seconds": config["clip"]["seconds"], "clip.sample_rate": config["clip"]["sample_rate"],
                "training.steps": config["training"]["steps"], "training.keep": config["training"]["keep"],
                "precision": spec["precision"], "denoise": spec["denoise"]}
    wanted = {**PAPER_RECIPE, "precision": "int8-paper", "denoise": "auto"}
    scaled = plan.scaled_run()
    if scaled:
        del wanted["clip.seconds"]
    differs = [f"{key} is {settings[key]} (the paper's: {value})" for key, value in wanted.items()
               if settings[key] != value]
    if scaled:  # our recordings stand in for the paper's datasets of their kind, as the note says
        datasets = {d: PAPER_DATASET_OF_KIND[plan.kind(d)] for d in table_datasets(plan, table)}
        if not scaled["comparable"]:
            differs.append(scaled["problem"])
    else:
        datasets = {d: plan.source(d) for d in table_datasets(plan, table) if plan.source(d) in PAPER_SOURCES}
        if not datasets:
            differs.append("no dataset of the paper's (GTZAN or LibriSpeech)")
    models = {v: model for v in spec["variants"] if (model := plan.unchanged_model(v))}
    note = scaled["note"] if scaled else ""
    if differs:
        return {"datasets": {}, "models": models, "reason": "; ".join(differs), "scaled": note}
    return {"datasets": datasets, "models": models, "reason": "", "scaled": note}


def inputs(plan: Plan, batches: Mapping[str, Mapping[str, Sequence[str]]], table: str) -> dict[str, list[str]]:
    """A table job's inputs: the scores and compressed folders of every batch of its cells."""
    L = plan.layout  # noqa: N806
    return {"scores": [L.scores(d, v, b) for d, v in cells(plan, table) for b in batches[d]],
            "compressed": [L.compressed_batch(d, v, b) for d, v in cells(plan, table) for b in batches[d]]}


@register_target
class Tables(Target):
    key = "tables"
    in_tables = True

    def instances(self, config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {f"tables.{name}": spec for name, spec in config["tables"].items()}

    def reconstructions(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[Reconstruction]:
        table = key.removeprefix("tables.")
        return [(d, v, spec["precision"], spec["denoise"]) for d, v in cells(plan, table)]

    def files(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        table = key.removeprefix("tables.")
        return [(d, v, sized_setting(plan, table)) for d, v in cells(plan, table)]

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.table(key.removeprefix("tables."), ext) for ext in ("csv", "md", "tex")]
