"""The authors' own published reconstructions, scored with our metrics, against the paper's Table 1.

A guard against drift in the metric settings (rates, resampler, ViSQOL mapper, ESTOI): whatever we change, the
paper's numbers for the authors' outputs must still come out. The files are the LibriSpeech examples of the
authors' web page (clips 4 and 5, reconstructed after int8 quantization, re-encoded as MP3), copied with their
MIT license into ``tests/data/authors-published/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from siamese_siren import metrics as M
from siamese_siren.analysis.paper import paper_tables

DATA = Path(__file__).resolve().parent / "data" / "authors-published"
CLIPS = ("4", "5")
#: The file suffix of each Table 1 model on the authors' page -> our variant name.
MODELS = {"model_0": "original-siren", "model_1": "pe-siren", "model_2": "optimized-siren",
          "model_3_nr": "siamese-siren"}
#: Measured (mean of the two clips minus the paper; original / PE / optimized / Siamese SIREN): ViSQOL -0.01, +0.20,
#: +0.24, -0.01; PESQ -0.03, +0.03, -0.03, -0.05; ESTOI +0.00, -0.00, -0.01, -0.00. ViSQOL's margin is wider than
#: the others': two clips are a small sample of the paper's dataset mean (optimized SIREN scores 2.00 and 2.41 on
#: them). ESTOI's is tight on purpose: classic STOI would miss the original SIREN by 0.11.
TOLERANCE = {"visqol": 0.25, "pesq": 0.15, "estoi": 0.02}


def load(name: str) -> tuple[np.ndarray, int]:
    """Mono float32 samples of an MP3 (the samples are stereo: their channels are averaged)."""
    x, rate = sf.read(DATA / f"{name}.mp3", dtype="float32")
    return (x.mean(axis=1) if x.ndim == 2 else x), rate


def paper_row(variant: str) -> dict[str, float]:
    table = paper_tables()
    rows = table[(table["table"] == "table1") & (table["dataset"] == "librispeech") & (table["variant"] == variant)]
    return dict(zip(rows["metric"], rows["value"], strict=True))


@pytest.fixture(scope="module")
def means() -> dict[str, dict[str, float]]:
    """Per model, the mean of each metric over the two clips."""
    scores: dict[str, list[dict]] = {model: [] for model in MODELS}
    for clip in CLIPS:
        records = M.score_many(load(f"ref_{clip}"), [load(f"sample_{clip}_{m}") for m in MODELS], "speech",
                               metrics=tuple(TOLERANCE))
        for model, record in zip(MODELS, records, strict=True):
            scores[model].append(record)
    return {model: {m: float(np.mean([r[m] for r in recs])) for m in TOLERANCE} for model, recs in scores.items()}


@pytest.mark.slow  # ViSQOL, PESQ, ESTOI on eight 10 s clips (~6 s)
@pytest.mark.parametrize("model", MODELS)
def test_our_metrics_reproduce_table1_on_the_authors_files(means, model):
    paper = paper_row(MODELS[model])
    for metric, tolerance in TOLERANCE.items():
        assert means[model][metric] == pytest.approx(paper[metric], abs=tolerance), (metric, means[model], paper)


def test_the_files_are_what_the_readme_says():
    ref, rate = load("ref_4")
    sample, sample_rate = load("sample_4_model_3_nr")
    assert rate == sample_rate == 16000 and len(ref) == len(sample) == 10 * rate
    assert (DATA / "LICENSE").read_text().startswith("MIT License")


#: Measured on the CPU: mean of the two clips minus the paper, +0.12 / -0.03 / -0.03 / -0.01. CDPAM holds 0.05 for
#: every model that reconstructs; the original SIREN's noise-only output (0.96 vs 0.84) is far from any other.
CDPAM_TOLERANCE = {"model_0": 0.15, "model_1": 0.05, "model_2": 0.05, "model_3_nr": 0.05}


@pytest.mark.slow  # CDPAM on ten 10 s clips
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="CDPAM costs ~20 s per 10 s clip encode on a CPU core: these 10 encodes take minutes, "
                           "over this module's one-minute budget; it runs where CUDA is present")
def test_cdpam_reproduces_table1_on_the_authors_files():
    values: dict[str, list[float]] = {model: [] for model in MODELS}
    for clip in CLIPS:
        records = M.score_many(load(f"ref_{clip}"), [load(f"sample_{clip}_{m}") for m in MODELS], "speech",
                               metrics=("cdpam",))
        for model, record in zip(MODELS, records, strict=True):
            values[model].append(record["cdpam"])
    for model, tolerance in CDPAM_TOLERANCE.items():
        expected = paper_row(MODELS[model])["cdpam"]
        assert np.mean(values[model]) == pytest.approx(expected, abs=tolerance), (model, values[model])
