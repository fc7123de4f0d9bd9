"""The paper's published numbers, and its size columns measured the way the authors measured them.

Published values (``data/paper_tables.csv``): Tables 1-3 of the paper, one row per (table, dataset, variant,
metric), each with where it was read. The paper's tables have one row per model and do not name a dataset;
PESQ and STOI are speech measures ("we evaluate our models for LibriSpeech with PESQ and STOI", Sec. 3), and the
authors' published LibriSpeech reconstructions reproduce Table 1's ViSQOL and PESQ with our metrics, so every row
is taken as LibriSpeech. The paper's "STOI" column is extended STOI (it matches ``pystoi`` with ``extended=True``,
negative value included), recorded here as ``estoi``.

Paper-faithful size measures: the paper's "#Params" is torchsummary's total and its "kB" the pickled state_dict,
both of the authors' module layout, in which the Siamese model registers its shared trunk three times (alone and
as the first module of each head). They overstate the real size; they are computed here only to compare with the
paper. The exact parameter count and the bytes of our ``.ssr`` file are the real measures.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd
import torch
from torch import nn

from siamese_siren.codec.models import SiameseSiren, Variant, time_grid

#: The paper's own datasets, the recipe its tables were measured with, and which dataset stands for each kind.
PAPER_SOURCES = ("gtzan", "librispeech")
PAPER_RECIPE = {"clip.seconds": 10.0, "clip.sample_rate": 22050, "training.steps": 2500, "training.keep": "final"}
PAPER_DATASET_OF_KIND = {"speech": "librispeech", "music": "gtzan"}

#: The paper-faithful size measures: key (as in the published data) -> column label in our tables.
PAPER_SIZE_COLUMNS = {
    "params_k": "paper-faithful #params (k)",
    "fp32_kB": "paper-faithful fp32 kB",
    "qint8_kB": "paper-faithful qint8 kB",
}


@cache
def _published() -> pd.DataFrame:
    with files("siamese_siren").joinpath("data", "paper_tables.csv").open() as f:
        return pd.read_csv(f)


def paper_tables() -> pd.DataFrame:
    """The paper's Tables 1-3: columns table, dataset, variant (a ``siamese_siren.codec.models.VARIANTS`` name), metric,
    value (as printed: params in thousands, sizes in kB), source (where in the paper it was read)."""
    return _published().copy()


@dataclass(frozen=True)
class PaperMatch:
    """Which rows of the paper's ``table`` a run's table rows compare with.

    ``datasets``: run dataset -> the paper's dataset (``librispeech`` or ``gtzan``, the ``source`` of a config
    dataset); a dataset not listed is not comparable (e.g. the demo's recordings). ``models``: run variant -> the
    library model whose paper row it reproduces; a variant not listed has no paper row. Only the caller knows
    whether the run's settings are the paper's (precision ``int8-paper``, denoise ``auto``, 2500 steps, final
    weights); when they are not, it leaves ``datasets`` empty and says why in ``reason``. ``scaled`` describes a
    scaled run (narrower networks on shorter clips), whose rows compare with the paper's full-size ones.
    """

    table: str
    datasets: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""
    scaled: str = ""

    def values(self, dataset: str, variant: str) -> dict[str, float]:
        """The paper's values (metric -> value) for one row of the run's table; empty when not comparable. A scaled
        run compares its scores only: its networks are smaller by design, so their sizes have no paper value."""
        paper = _published()
        rows = paper[(paper["table"] == self.table) & (paper["dataset"] == self.datasets.get(dataset))
                     & (paper["variant"] == self.models.get(variant))]
        if self.scaled:
            rows = rows[~rows["metric"].isin(PAPER_SIZE_COLUMNS)]
        return dict(zip(rows["metric"], rows["value"], strict=True))

    def status(self, dataset: str, variant: str) -> str:
        """One plain sentence on whether and how the row compares with the paper."""
        name = re.sub(r"^table(\d+)$", r"Table \1", self.table)
        if dataset not in self.datasets:
            why = self.reason or f"dataset {dataset!r} is not one of the paper datasets"
            return f"not comparable: {why}"
        paper = _published()
        if not ((paper["table"] == self.table) & (paper["dataset"] == self.datasets[dataset])).any():
            return f"no paper value: {name} reports nothing on {self.datasets[dataset]}"
        if not self.values(dataset, variant):
            return f"no paper value: {name} has no row for {variant!r}"
        compared = f"compared with {name} ({self.datasets[dataset]}, {self.models[variant]})"
        return f"{compared} as a scaled run" if self.scaled else compared


class AuthorsLayout(nn.Module):
    """A model's modules registered under the authors' names, for measuring sizes as they did.

    Their Siamese model holds ``net`` (the trunk) and ``left_siam`` / ``right_siam``, each a Sequential of that
    same trunk and one head (sine layers, then the final linear; a plain SIREN's heads share one final linear).
    Registering the trunk three times is what makes their pickled state_dict store it three times and
    torchsummary count it once per hook registration and call. Our ``SineLayer`` keeps its linear layer as
    ``linear``, as theirs does, so the state_dict keys are theirs.
    """

    def __init__(self, model: SiameseSiren) -> None:
        super().__init__()
        self.variant = model.variant
        # the model's own time encoding (positional, as the authors', or another family's), kept as a plain
        # attribute: registering the model would add its modules to the state_dict whose size is measured
        self.encode_time = model.encode_time
        self.net = model.trunk
        heads = [head if isinstance(head, nn.Sequential) else nn.Sequential(head) for head in model.heads]
        self.left_siam = nn.Sequential(self.net, heads[0])
        self.right_siam = nn.Sequential(self.net, heads[-1])

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        x = self.encode_time(t)
        return torch.cat([self.left_siam(x), self.right_siam(x)], dim=1)


def torchsummary_params(module: nn.Module, inputs: torch.Tensor) -> int:
    """The "Total params" the torchsummary package prints for ``module`` run on ``inputs``.

    torchsummary hooks every module except containers and the model itself through ``Module.apply`` (which visits
    a shared module once per path that reaches it) and adds the module's ``weight`` and ``bias`` at every call of
    every hook: shared layers are counted many times.
    """
    counts: list[int] = []

    def count(layer: nn.Module, _inputs: object, _output: object) -> None:
        counts.append(sum(p.numel() for p in (getattr(layer, "weight", None), getattr(layer, "bias", None))
                          if isinstance(p, torch.Tensor)))

    handles = []

    def register(layer: nn.Module) -> None:
        if not isinstance(layer, nn.Sequential | nn.ModuleList) and layer is not module:
            handles.append(layer.register_forward_hook(count))

    module.apply(register)
    try:
        with torch.no_grad():
            module(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return sum(counts)


def pickled_state_dict_bytes(module: nn.Module) -> int:
    """Bytes of ``np.save`` of the list of ``module.state_dict()`` items, the paper's file size measure."""
    items = list(module.state_dict().items())
    # The authors' numpy turned the (name, tensor) pairs into an (n, 2) object array; numpy >= 1.24 refuses that
    # ragged input, so the same array is filled explicitly.
    array = np.empty((len(items), 2), dtype=object)
    for row, (name, value) in enumerate(items):
        array[row, 0], array[row, 1] = name, value
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getbuffer().nbytes


def dynamic_qint8(module: nn.Module) -> nn.Module:
    """A copy of ``module`` with every ``nn.Linear`` dynamically quantized to qint8, as the authors' PTQ.

    The API is deprecated in PyTorch; it is used only to measure the paper's quantized size, so its deprecation
    warnings are not the user's concern.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(module, {nn.Linear}, dtype=torch.qint8)


@cache
def paper_size_measures(variant: Variant) -> dict[str, float]:
    """The paper's size columns for ``variant``, measured on the authors' layout (keys of PAPER_SIZE_COLUMNS).

    ``params_k``: torchsummary's total / 1000; ``fp32_kB`` and ``qint8_kB``: pickled state_dict bytes / 1000 of the
    float and the dynamically quantized model. They depend on the architecture only, not on the weights.
    """
    layout = AuthorsLayout(SiameseSiren(variant))
    return {
        "params_k": torchsummary_params(layout, time_grid(4)) / 1000,
        "fp32_kB": pickled_state_dict_bytes(layout) / 1000,
        "qint8_kB": pickled_state_dict_bytes(dynamic_qint8(layout)) / 1000,
    }
