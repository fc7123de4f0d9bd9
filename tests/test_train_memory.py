"""Batches that fit (siamese_siren.codec.train): the memory estimate of K stacked clips, the K a GPU's free memory
allows, and an out-of-memory error answered by halving K, with weights equal to training each clip alone. No GPU
here: the free memory and the out-of-memory errors are injected."""

import json
import logging
import os

import numpy as np
import pytest
import torch

from siamese_siren.codec import train as train_module
from siamese_siren.codec.models import VARIANTS, SiameseSiren, parameter_count, time_grid
from siamese_siren.codec.train import (
    MEMORY_MARGIN,
    StackedSiren,
    TrainConfig,
    TrainingOutOfMemory,
    clips_that_fit,
    loss_function,
    train,
    training_memory,
)

SMALL = VARIANTS["siamese-2x64+1x32"]
CUDA = torch.device("cuda")  # only a name here: nothing runs on it
OUT_OF_MEMORY = [
    lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("CUDA error: out of memory"),  # what cuBLAS/cuDNN and older torch raise
]


def _clips(signal: np.ndarray, count: int, length: int = 400) -> dict[str, np.ndarray]:
    return {f"c{i}": signal[i * length : (i + 1) * length] for i in range(count)}


def _groups_fail_above(limit: int, make_error, sizes: list[int]):
    """train_batch that raises ``make_error()`` for groups of more than ``limit`` clips, recording every size."""
    real = train_module.train_batch

    def fake(variant, group, *args, **kwargs):
        sizes.append(len(group))
        if len(group) > limit:
            raise make_error()
        return real(variant, group, *args, **kwargs)

    return fake


@pytest.mark.slow  # trains 9 times (10-35 s on a busy 2-core machine)
@pytest.mark.parametrize("make_error", OUT_OF_MEMORY, ids=["OutOfMemoryError", "RuntimeError"])
def test_out_of_memory_halves_the_clips_at_once_and_changes_no_weight(speech_half_second, tmp_path, monkeypatch,
                                                                      caplog, make_error):
    signals = _clips(speech_half_second, 5)
    config = TrainConfig(steps=15, progress=False, device="cpu")
    sizes: list[int] = []
    monkeypatch.setattr(train_module, "train_batch", _groups_fail_above(2, make_error, sizes))
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        trained = train_module.train_and_save(SMALL, signals, config, tmp_path, label="d/v/", clips_at_once=8)
    assert trained == list(signals)
    assert sizes == [5, 2, 2, 1]  # 5 fail, then 2 at a time; the last group is what is left
    assert "d/v/c0: out of memory training 5 clips at once on cpu: training them 2 at once" in caplog.text
    monkeypatch.undo()
    for name, signal in signals.items():
        alone = train(SMALL, signal, config)
        saved = train_module.load_state(tmp_path / f"{name}.pt")
        for key, value in alone.state.items():
            torch.testing.assert_close(saved[key], value, rtol=1e-5, atol=1e-6)
        meta = json.loads((tmp_path / f"{name}.json").read_text())
        assert meta["cuda_visible_devices"] == os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.parametrize("make_error", OUT_OF_MEMORY, ids=["OutOfMemoryError", "RuntimeError"])
def test_a_single_clip_that_does_not_fit_names_its_sizes(speech_half_second, tmp_path, monkeypatch, make_error):
    signals = _clips(speech_half_second, 3)
    config = TrainConfig(steps=5, progress=False, device="cpu")
    sizes: list[int] = []
    monkeypatch.setattr(train_module, "train_batch", _groups_fail_above(0, make_error, sizes))
    estimate = training_memory(SMALL, 400, 1) / 2**30
    expected = (rf"d/v/c0: out of memory on cpu training a single clip of 400 samples with variant "
                rf"'siamese-2x64\+1x32' \({parameter_count(SMALL)} parameters\): it needs about {estimate:.2f} GiB "
                r"\(estimated\), free memory not measured on the CPU; use shorter clips")
    with pytest.raises(TrainingOutOfMemory, match=expected):
        train_module.train_and_save(SMALL, signals, config, tmp_path, label="d/v/", clips_at_once=4)
    assert sizes == [3, 1]


def test_train_batch_turns_only_a_single_clips_out_of_memory_into_training_out_of_memory(speech_half_second,
                                                                                         monkeypatch):
    def no_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(train_module, "_train_stacked", no_memory)
    config = TrainConfig(steps=5, progress=False, device="cpu")
    with pytest.raises(TrainingOutOfMemory, match="single clip of 400 samples"):
        train(SMALL, speech_half_second[:400], config, label="x")
    with pytest.raises(torch.cuda.OutOfMemoryError):  # several: the caller splits them
        train_module.train_batch(SMALL, [speech_half_second[:400]] * 2, config)


def test_other_errors_are_not_retried(speech_half_second, tmp_path, monkeypatch):
    sizes: list[int] = []
    monkeypatch.setattr(train_module, "train_batch",
                        _groups_fail_above(0, lambda: RuntimeError("mat1 and mat2 shapes cannot be multiplied"), sizes))
    with pytest.raises(RuntimeError, match="shapes"):
        train_module.train_and_save(SMALL, _clips(speech_half_second, 3), TrainConfig(steps=5, progress=False,
                                                                                      device="cpu"),
                                    tmp_path, clips_at_once=4)
    assert sizes == [3]


def test_clips_at_once_are_what_the_free_memory_allows(monkeypatch):
    samples = 220_500
    per_clip = training_memory(SMALL, samples, 2) - training_memory(SMALL, samples, 1)
    assert training_memory(SMALL, samples, 8) > 7 * per_clip  # it grows with K, a clip at a time
    # Free memory for exactly 3 clips within the margin.
    free = int(training_memory(SMALL, samples, 3) / MEMORY_MARGIN) + 1
    monkeypatch.setattr(train_module, "free_memory", lambda device: free)
    assert clips_that_fit(SMALL, samples, 8, CUDA) == 3
    assert clips_that_fit(SMALL, samples, 2, CUDA) == 2  # never more than asked
    monkeypatch.setattr(train_module, "free_memory", lambda device: 1000)
    assert clips_that_fit(SMALL, samples, 8, CUDA) == 1  # one clip is still tried: the estimate may be wrong
    monkeypatch.undo()
    assert clips_that_fit(SMALL, samples, 8, torch.device("cpu")) == 8  # no limit on the CPU


def test_a_job_trains_as_many_at_once_as_fit(speech_half_second, tmp_path, monkeypatch, caplog):
    free = int(training_memory(SMALL, 400, 2) / MEMORY_MARGIN) + 1
    monkeypatch.setattr(train_module, "free_memory", lambda device: free)
    sizes: list[int] = []
    monkeypatch.setattr(train_module, "train_batch", _groups_fail_above(8, RuntimeError, sizes))
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        train_module.train_and_save(SMALL, _clips(speech_half_second, 5), TrainConfig(steps=2, progress=False,
                                                                                      device="cpu"),
                                    tmp_path, label="d/v/", clips_at_once=8)
    assert sizes == [2, 2, 1]
    assert "d/v: 8 clips of 400 samples at once do not fit the free memory of cpu (estimated): training 2 at once" \
        in caplog.text


@pytest.mark.parametrize("name", ["siamese-siren", "original-siren", "siamese-0+3x128", "siamese-1x256+2x128"])
def test_the_estimate_covers_what_autograd_keeps(name):
    """The activations dominate the estimate: it must cover every tensor autograd saves for the backward pass
    (measured with saved-tensor hooks), without being wildly above it."""
    variant, samples, clips = VARIANTS[name], 3000, 3
    template = SiameseSiren(variant)
    model = StackedSiren(template, clips)
    inputs = template.encode_time(time_grid(samples))
    saved: dict[int, int] = {}

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        saved[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        loss_function(model, TrainConfig())(inputs, torch.zeros(clips, samples, 1))
    states = 4 * 4 * parameter_count(variant) * clips  # parameters, gradients, Adam's two moments
    need = sum(saved.values()) + states
    assert need <= training_memory(variant, samples, clips) <= 2 * need
