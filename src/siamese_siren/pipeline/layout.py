"""Every path under the results folder, one method per artifact.

Rules call it with ``"{wildcard}"`` arguments to get their templates; input functions and tests call it with real
values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """Every path under the results folder. Called with ``"{dataset}"``-style arguments it gives rule templates."""

    root: str

    def manifest(self, dataset: str) -> str:
        return f"{self.root}/manifests/{dataset}.csv"

    def clip(self, dataset: str, clip: str) -> str:
        return f"{self.root}/clips/{dataset}/{clip}.wav"

    def clip_meta(self, dataset: str, clip: str) -> str:
        return f"{self.root}/clips/{dataset}/{clip}.json"

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
