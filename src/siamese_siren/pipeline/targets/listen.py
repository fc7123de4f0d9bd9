"""The listening page and the blind MUSHRA kit: the tables' reconstructions of a few clips, playable side by side,
from files the run made anyway (the page adds no decoding of its own)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from siamese_siren.analysis.precision import Precision
from siamese_siren.codec.models import parameter_count

from ..config import config_error
from ..layout import batch_of, spread
from . import Target, register_target
from .tables import table_datasets

if TYPE_CHECKING:
    from ..plan import Plan


def page_variants(plan: Plan) -> list[str]:
    """Variants on the page, checked: each must be in a table (the page plays what the tables score)."""
    tables = plan.config["tables"]
    in_tables = {v for spec in tables.values() for v in spec["variants"]}
    wanted = plan.config["listen"]["variants"]
    for name in wanted or ():
        if name not in in_tables:
            config_error("listen.variants", f"{name!r} is in no table", f"use some of {sorted(in_tables)}")
    ordered = dict.fromkeys(v for s in tables.values() for v in s["variants"])
    return [v for v in ordered if wanted is None or v in wanted]


def entries(plan: Plan, dataset: str) -> list[tuple[str, str, str, list[str]]]:
    """(variant, precision, denoise, tables) of every reconstruction the page plays for one dataset, in table order.

    Each table's variants at the table's precision and denoising, plus the float and the not-denoised versions
    the run decodes anyway for a figure, and those of ``listen.precisions`` the run decodes (the rate-distortion
    points' files).
    """
    listened = page_variants(plan)
    shown: dict[tuple[str, str, str], list[str]] = {}
    for table, table_spec in plan.config["tables"].items():
        if dataset not in table_datasets(plan, table):
            continue
        for name in table_spec["variants"]:
            if name not in listened:
                continue
            precision, denoise = table_spec["precision"], plan.denoise(name, table_spec["denoise"])
            shown.setdefault((name, precision, denoise), []).append(table)
            for extra in (("float", "none"), (precision, "none")):
                if extra in plan.needs.get((dataset, name), ()):
                    shown.setdefault((name, *extra), [])
    for precision in plan.config["listen"].get("precisions", []):
        plan.precision("listen.precisions", precision)
        for name in listened:
            for decoded in sorted(plan.needs.get((dataset, name), ())):
                if decoded[0] == precision:
                    shown.setdefault((name, *decoded), [])
    return [(*key, tables) for key, tables in shown.items()]


def page_clips(plan: Plan, clips: Mapping[str, Sequence[str]], batches: Mapping[str, Mapping[str, Sequence[str]]],
               dataset: str) -> dict[str, str]:
    """{clip: batch} of the clips on the page: ``listen.clips`` of them, evenly spaced (:func:`spread`)."""
    return {c: batch_of(batches[dataset], c) for c in spread(list(clips[dataset]), plan.config["listen"]["clips"])}


def inputs(plan: Plan, clips: Mapping[str, Sequence[str]],
           batches: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[str]]:
    """Only the batches of the page's clips: a 1000-clip run's page reads 20 clips' files, not 1000."""
    L = plan.layout  # noqa: N806
    out: dict[str, list[str]] = {"clips": [], "reconstructions": [], "scores": [], "compressed": [], "codec_scores": [],
                                 "codecs": [], "tables": [L.table(t, "csv") for t in plan.config["tables"]]}
    for dataset in plan.datasets:
        chosen = page_clips(plan, clips, batches, dataset)
        used = sorted(set(chosen.values()))
        played = entries(plan, dataset)
        out["clips"] += [L.clips(dataset, b) for b in used]
        for name in dict.fromkeys(name for name, *_ in played):
            out["reconstructions"] += [L.reconstructions(dataset, name, b) for b in used]
            out["scores"] += [L.scores(dataset, name, b) for b in used]
        compressed = sorted({name for name, p, *_ in played if Precision.parse(p).setting})
        out["compressed"] += [L.compressed_batch(dataset, name, b) for name in compressed for b in used]
        if plan.config["listen"]["codecs"]:
            out["codecs"] += [L.codec(dataset, c, b) for c in plan.codec_bitrates for b in used]
            out["codec_scores"] += [L.codec_scores(dataset, c, b) for c in plan.codec_bitrates for b in used]
    return out


def params(plan: Plan, clips: Mapping[str, Sequence[str]],
           batches: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, Any]:
    """What the page script needs besides its files: the clips, what it plays, sizes it cannot read, and the results
    folder (every path of :class:`~siamese_siren.pipeline.layout.Layout`, the links between the page and the run's
    files)."""
    return {
        "results": plan.config["results"],
        "clips": {d: page_clips(plan, clips, batches, d) for d in plan.datasets},
        "entries": {d: entries(plan, d) for d in plan.datasets},
        "float_bytes": {v: 4 * parameter_count(plan.variant(v)) for v in page_variants(plan)},
    }


@register_target
class ListeningPage(Target):
    key = "listen"

    def outputs(self, plan: Plan, key: str, spec: Mapping[str, Any]) -> list[str]:
        return [plan.layout.listen("index.html"), plan.layout.listen("mushra")]
