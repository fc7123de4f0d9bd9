"""Every path under the results folder, one method per artifact, and the batches clips are grouped in.

Rules call it with ``"{wildcard}"`` arguments to get their templates; input functions and tests call it with real
values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .config import config_error


@dataclass(frozen=True)
class Layout:
    """Every path under the results folder. Called with ``"{dataset}"``-style arguments it gives rule templates."""

    root: str

    def manifest(self, dataset: str) -> str:
        return f"{self.root}/manifests/{dataset}.csv"

    def clips(self, dataset: str, batch: str) -> str:
        """One job's prepared clips: ``<clip>.wav`` and ``<clip>.json`` (source, peak) of each clip of the batch.

        Prepared a batch at a time, as they are trained and scored: a job and an input per batch, not per clip,
        is what keeps planning train-clean-100's 28,539 utterances affordable (docs/performance.md)."""
        return f"{self.root}/clips/{dataset}/{batch}"

    def clip(self, dataset: str, batch: str, clip: str) -> str:
        return f"{self.clips(dataset, batch)}/{clip}.wav"

    def clip_meta(self, dataset: str, batch: str, clip: str) -> str:
        return f"{self.clips(dataset, batch)}/{clip}.json"

    def models(self, dataset: str, variant: str, batch: str) -> str:
        return f"{self.root}/models/{dataset}/{variant}/{batch}"

    def train_cache(self, dataset: str, variant: str) -> str:
        return f"{self.root}/.train-cache/{dataset}/{variant}"

    def compressed_batch(self, dataset: str, variant: str, batch: str) -> str:
        """One job's compressed files: a folder per quantize setting and one sizes.csv."""
        return f"{self.root}/compressed/{dataset}/{variant}/{batch}"

    def compressed(self, dataset: str, variant: str, setting: str, batch: str) -> str:
        return f"{self.compressed_batch(dataset, variant, batch)}/{setting}"

    def finetuned(self, dataset: str, variant: str, setting: str, batch: str) -> str:
        """A batch's networks after quantization-aware fine-tuning for one quantize setting (its ``qat_steps``)."""
        return f"{self.root}/qat/{dataset}/{variant}/{setting}/{batch}"

    def reconstructions(self, dataset: str, variant: str, batch: str) -> str:
        return f"{self.root}/reconstructions/{dataset}/{variant}/{batch}"

    def scores(self, dataset: str, variant: str, batch: str) -> str:
        return f"{self.root}/scores/{dataset}/{variant}/{batch}.csv"

    def all_scores(self) -> str:
        return f"{self.root}/scores.csv"

    def codec(self, dataset: str, codec: str, batch: str) -> str:
        return f"{self.root}/codecs/{dataset}/{codec}/{batch}"

    def codec_scores(self, dataset: str, codec: str, batch: str) -> str:
        return f"{self.root}/codec_scores/{dataset}/{codec}/{batch}.csv"

    def table(self, name: str, ext: str) -> str:
        return f"{self.root}/tables/{name}.{ext}"

    def figure(self, name: str) -> str:
        return f"{self.root}/figures/{name}.png"

    def rate_distortion(self, name: str) -> str:
        return f"{self.root}/rate_distortion/{name}"

    def resolution(self) -> str:
        return f"{self.root}/resolution"

    def log(self, *parts: str) -> str:
        return f"{self.root}/logs/{'/'.join(parts)}.log"

    def benchmark(self, *parts: str) -> str:
        return f"{self.root}/benchmarks/{'/'.join(parts)}.tsv"

    def findings(self, ext: str) -> str:
        return f"{self.root}/findings.{ext}"

    def fast_fit(self, ext: str) -> str:
        """Steps to the paper's loss and quality at each step budget (figures.fast_fit's table)."""
        return f"{self.root}/fast_fit.{ext}"

    def init(self, name: str) -> str:
        """A learned initialisation (``siamese_siren.codec.inits``)."""
        return f"{self.root}/inits/{name}.init.pt"

    def init_split(self, name: str) -> str:
        """The windows a learned initialisation was meta-trained on: its side of the split."""
        return f"{self.root}/inits/{name}.split.csv"

    def listen(self, name: str) -> str:
        """The listening page (``index.html``), its ``media`` folder, and the MUSHRA kit (``mushra``)."""
        return f"{self.root}/listen/{name}"


# ---- clips in batches ---------------------------------------------------------------------------------------



def batches(clips: Iterable[str], size: int) -> dict[str, list[str]]:
    """Clips grouped into training jobs of ``size``, in the given (sorted) order: {batch id: [clip ids]}."""
    ids = list(clips)
    return {f"b{i // size:04d}": ids[i : i + size] for i in range(0, len(ids), size)}


def batch_of(grouped: Mapping[str, Sequence[str]], clip: str) -> str:
    return next(batch for batch, ids in grouped.items() if clip in ids)


def spread(items: Sequence[str], n: int | None) -> list[str]:
    """``n`` of ``items`` evenly spaced from the first to the last (all of them when ``n`` is None or enough).

    Sorted GTZAN ids run genre by genre, so even spacing puts every genre on a 20-clip page where the first 20
    would all be blues; the choice depends only on the sorted ids, so reruns and readers agree on it.
    """
    if n is None or n >= len(items):
        return list(items)
    if n == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def choose_clip(key: str, wanted: str | None, clips: Sequence[str]) -> str:
    """The clip a figure shows: the configured one, or the dataset's first."""
    chosen = wanted or clips[0]
    if chosen not in clips:
        config_error(key, f"no clip {chosen!r} in the dataset", f"use one of {list(clips)[:10]}")
    return chosen
