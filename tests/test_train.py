import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from siamese_siren.codec import train as train_module
from siamese_siren.codec.models import VARIANTS, Variant, time_grid
from siamese_siren.codec.train import KEEP, TrainConfig, TrainingDiverged, load_model, train, train_batch

SMALL = VARIANTS["siamese-2x64+1x32"]


def _loss_of(state, signal):
    model = load_model(SMALL, state)
    with torch.no_grad():
        out = model(time_grid(len(signal)))
        return F.mse_loss(out, torch.from_numpy(signal).reshape(-1, 1).expand_as(out)).item()


@pytest.mark.slow  # trains on real speech (~5 s)
def test_short_training_on_real_speech_lowers_the_loss_and_returns_the_best_state(speech_half_second):
    config = TrainConfig(steps=200, snapshot_steps=(50, 200), progress=False, device="cpu")
    result = train(SMALL, speech_half_second, config)
    assert result.losses.shape == (200,)
    assert result.losses[0] / result.best_loss > 5  # a large factor within 200 steps
    assert result.best_loss == pytest.approx(result.losses.min())
    assert result.best_step == int(np.argmin(result.losses))
    # The returned state really is the one that produced the lowest loss.
    assert _loss_of(result.state, speech_half_second) == pytest.approx(result.best_loss, rel=1e-4)
    assert _loss_of(result.snapshots[50], speech_half_second) == pytest.approx(result.losses[:50].min(), rel=1e-4)
    assert set(result.snapshots) == {50, 200}
    assert result.wall_seconds > 0 and result.device == "cpu"


def test_training_is_seeded(speech_half_second):
    config = TrainConfig(steps=5, progress=False, device="cpu", seed=3)
    a, b = train(SMALL, speech_half_second, config), train(SMALL, speech_half_second, config)
    for name in a.state:
        assert torch.equal(a.state[name], b.state[name])
    c = train(SMALL, speech_half_second, TrainConfig(steps=5, progress=False, device="cpu", seed=4))
    assert not torch.equal(a.state["trunk.0.linear.weight"], c.state["trunk.0.linear.weight"])


def test_cpu_fallback_is_logged_once_per_process(speech_half_second, caplog):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    train_module._say_no_cuda.cache_clear()
    with caplog.at_level(logging.WARNING, logger="siamese_siren.codec.train"):
        for _ in range(2):
            train(SMALL, speech_half_second[:100], TrainConfig(steps=1, progress=False))
    assert [r.getMessage() for r in caplog.records].count(
        "no CUDA device: training on the CPU, which is orders of magnitude slower") == 1


def test_diverging_loss_stops_with_a_clear_error():
    exploding = Variant((8,), (), pe_frequencies=0, omega_first=30.0, omega_hidden=30.0, name="exploding")
    config = TrainConfig(steps=20, lr=1e30, check_every=5, progress=False, device="cpu")
    with pytest.raises(TrainingDiverged, match="clip-7: loss became .* 'exploding'.*retry"):
        train(exploding, np.sin(np.linspace(0, 50, 500)).astype(np.float32), config, label="clip-7")


def _three_clips(signal):
    return [signal[:2000], signal[3000:5000], signal[6000:8000]]


@pytest.mark.slow  # trains 6 times (5-15 s on a busy 2-core machine)
@pytest.mark.parametrize("keep", KEEP)
def test_batched_training_equals_sequential_training(speech_half_second, keep):
    config = TrainConfig(steps=40, snapshot_steps=(15,), progress=False, device="cpu", keep=keep)
    signals = _three_clips(speech_half_second)
    together = train_batch(SMALL, signals, config)
    for signal, batched in zip(signals, together, strict=True):
        alone = train(SMALL, signal, config)
        assert batched.best_step == alone.best_step
        np.testing.assert_allclose(batched.losses, alone.losses, rtol=1e-5)
        for name, value in alone.state.items():
            torch.testing.assert_close(batched.state[name], value, rtol=1e-5, atol=1e-6)
        for name, value in alone.snapshots[15].items():
            torch.testing.assert_close(batched.snapshots[15][name], value, rtol=1e-5, atol=1e-6)
    # The clips really are different problems: their best losses differ.
    assert len({round(r.best_loss, 8) for r in together}) == 3


def test_batched_training_names_the_diverging_clip():
    exploding = Variant((8,), (), pe_frequencies=0, omega_first=30.0, omega_hidden=30.0, name="exploding")
    signals = [np.sin(np.linspace(0, 50, 500)).astype(np.float32)] * 2
    config = TrainConfig(steps=10, lr=1e30, check_every=5, progress=False, device="cpu")
    with pytest.raises(TrainingDiverged, match="first: loss became"):
        train_batch(exploding, signals, config, labels=["first", "second"])
    with pytest.raises(ValueError, match="one length"):
        train_batch(SMALL, [signals[0], signals[0][:100]], config)


# torch.compile imports torch's own torch/utils/mkldnn.py, whose 14 @torch.jit.script_method decorators warn.
@pytest.mark.slow  # torch.compile (~12 s)
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compile_switch_keeps_results_within_tolerance(speech_half_second):
    # Stated tolerance for torch.compile: losses within 1e-4 relative of eager mode (kernel fusion reorders sums).
    signal = speech_half_second[:1500]
    base = TrainConfig(steps=8, progress=False, device="cpu")
    eager = train(SMALL, signal, base)
    compiled = train(SMALL, signal, TrainConfig(steps=8, progress=False, device="cpu", compile=True))
    np.testing.assert_allclose(compiled.losses, eager.losses, rtol=1e-4)
    # TF32 only affects CUDA matmuls: on the CPU the switch must change nothing at all.
    tf32 = train(SMALL, signal, TrainConfig(steps=8, progress=False, device="cpu", tf32=True))
    np.testing.assert_array_equal(tf32.losses, eager.losses)


@pytest.mark.slow  # trains (4-6 s on a busy 2-core machine)
def test_a_killed_job_keeps_its_finished_clips(speech_half_second, tmp_path, monkeypatch):
    signals = dict(zip("abc", _three_clips(speech_half_second), strict=True))
    config = TrainConfig(steps=5, progress=False, device="cpu")
    cache, out = tmp_path / "cache", tmp_path / "out"
    real_train_batch, calls = train_module.train_batch, []

    def dies_on_the_third_clip(variant, group, *args, **kwargs):
        calls.append(len(group))
        if len(calls) == 3:
            raise KeyboardInterrupt("job killed")
        return real_train_batch(variant, group, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_batch", dies_on_the_third_clip)
    with pytest.raises(KeyboardInterrupt):
        train_module.train_and_save(SMALL, signals, config, out, cache=cache)
    assert not out.exists()  # nothing half-done is published as the job's output
    monkeypatch.setattr(train_module, "train_batch", real_train_batch)
    retrained = train_module.train_and_save(SMALL, signals, config, out, cache=cache)
    assert retrained == ["c"]
    expected = sorted(f"{clip}{suffix}" for clip in "abc" for suffix in train_module.ARTIFACT_SUFFIXES)
    assert sorted(p.name for p in out.iterdir()) == expected
    assert not cache.exists()  # the cache is emptied, its folder too, once the output holds everything
    fresh = train(SMALL, signals["a"], config)
    for name, value in fresh.state.items():
        assert torch.equal(train_module.load_state(out / "a.pt")[name], value)
    # A changed setting is a different training: nothing is reused.
    assert train_module.train_and_save(SMALL, signals, TrainConfig(steps=6, progress=False, device="cpu"),
                                       tmp_path / "out2", cache=cache) == ["a", "b", "c"]


@pytest.mark.slow  # trains (5-20 s on a busy 2-core machine)
def test_keep_best_or_final_on_a_run_with_a_loss_spike(speech_half_second):
    """``best``: the lowest-loss weights so far; ``final``: the weights after the last update (what the authors'
    code evaluated), for the result and every snapshot alike."""
    signal = speech_half_second[:1000]
    runs = {
        keep: train(SMALL, signal, TrainConfig(steps=200, lr=1e-3, snapshot_steps=(100, 199, 200), progress=False,
                                               device="cpu", keep=keep))
        for keep in KEEP
    }
    best, final = runs["best"], runs["final"]
    np.testing.assert_array_equal(best.losses, final.losses)  # one training, two choices of what to keep
    losses = best.losses
    assert losses[-1] > 1.3 * losses.min() and best.best_step < 190  # Adam spiked after its best step
    assert best.keep == "best" and final.keep == "final"

    assert _loss_of(best.state, signal) == pytest.approx(losses.min(), rel=1e-4)
    assert _loss_of(best.snapshots[100], signal) == pytest.approx(losses[:100].min(), rel=1e-4)
    # losses[s] is the loss of the weights after s updates: exactly what a "final" snapshot at step s holds.
    for step in (100, 199):
        assert _loss_of(final.snapshots[step], signal) == pytest.approx(losses[step], rel=1e-4)
    for name, value in final.snapshots[200].items():
        assert torch.equal(final.state[name], value)
    assert _loss_of(final.state, signal) > 1.3 * _loss_of(best.state, signal)


def test_keep_schedule_and_init_are_part_of_the_training_cache_key_and_checked(speech_half_second):
    signal = speech_half_second[:100]
    key = train_module._cache_key
    assert key(SMALL, TrainConfig(keep="final"), signal, "random") != key(SMALL, TrainConfig(keep="best"), signal,
                                                                         "random")
    assert key(SMALL, TrainConfig(schedule="cosine"), signal, "random") != key(SMALL, TrainConfig(), signal, "random")
    assert key(SMALL, TrainConfig(), signal, "0123abcd") != key(SMALL, TrainConfig(), signal, "random")
    with pytest.raises(ValueError, match="keep must be one of"):
        train(SMALL, signal, TrainConfig(steps=1, progress=False, device="cpu", keep="last"))
    with pytest.raises(ValueError, match="schedule must be one of"):
        train(SMALL, signal, TrainConfig(steps=1, progress=False, device="cpu", schedule="linear"))
    with pytest.raises(ValueError, match="warmup_steps must be 0..steps-1"):
        train(SMALL, signal, TrainConfig(steps=10, progress=False, device="cpu", warmup_steps=10))


def test_learning_rate_schedules():
    factor = train_module.learning_rate_factor
    assert [factor(s, 100) for s in (0, 50, 99)] == [1.0, 1.0, 1.0]  # the paper's constant rate
    assert [factor(s, 100, "constant", 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    cosine = [factor(s, 104, "cosine", 4) for s in range(104)]
    assert cosine[:4] == [0.25, 0.5, 0.75, 1.0] and cosine[4] == 1.0
    assert cosine[54] == pytest.approx(0.5) and cosine[-1] < 0.001
    assert all(a >= b for a, b in zip(cosine[4:], cosine[5:], strict=False))


def test_training_from_an_init_starts_where_it_ends_and_records_it(speech_half_second):
    signal = speech_half_second[:2000]
    first = train(SMALL, signal, TrainConfig(steps=30, keep="final", progress=False, device="cpu"))
    again = train(SMALL, signal, TrainConfig(steps=5, progress=False, device="cpu"), init=first.state)
    assert again.losses[0] == pytest.approx(_loss_of(first.state, signal), rel=1e-5)
    assert again.losses[0] < 0.5 * first.losses[0]
    assert again.recipe["init"] == train_module.state_digest(first.state) != first.recipe["init"] == "random"
    with pytest.raises(RuntimeError, match="size mismatch"):
        train(VARIANTS["siamese-2x128+1x64"], signal, TrainConfig(steps=1, progress=False, device="cpu"),
              init=first.state)


@pytest.mark.parametrize("per_channel", [False, True])
def test_fake_quantization_is_the_files_rounding_with_a_straight_through_gradient(per_channel):
    from siamese_siren.codec.quantize import fake_quantize, quantize_weight

    stacked = (torch.randn(3, 12, 20) * 0.05).requires_grad_()
    for bits in (3, 5, 8):
        rounded = fake_quantize(stacked, bits, per_channel)
        for clip in range(3):  # each clip of a stacked training has its own scales, exactly as its file will
            q, scales = quantize_weight(stacked[clip], bits, per_channel)
            assert torch.equal(rounded[clip].detach(), torch.from_numpy(q.astype(np.float32) * scales.reshape(-1, 1)))
        (grad,) = torch.autograd.grad((rounded * 2.0).sum(), stacked)
        assert torch.equal(grad, torch.full_like(stacked, 2.0))  # rounding passes the gradient through unchanged


@pytest.mark.slow  # trains 300 steps, then fine-tunes (~9 s)
def test_quantization_aware_fine_tuning_beats_post_training_quantization(speech_half_second, tmp_path):
    from siamese_siren.codec.quantize import load_quantized, quantize_model
    from siamese_siren.codec.train import SiameseSiren, finetune_quantized, load_state

    trained = train(SMALL, speech_half_second, TrainConfig(steps=300, lr=1e-3, progress=False, device="cpu")).state

    def quantized_loss(state, bits=4):
        model = load_quantized(SiameseSiren(SMALL), quantize_model(load_model(SMALL, state), bits, True))
        with torch.no_grad():
            out = model(time_grid(len(speech_half_second)))
        return F.mse_loss(out, torch.from_numpy(speech_half_second).reshape(-1, 1).expand_as(out)).item()

    config = TrainConfig(steps=100, lr=1e-4, keep="best", progress=False, device="cpu", qat_bits=4,
                         qat_per_channel=True)
    finetune_quantized(SMALL, {"clip": speech_half_second}, {"clip": trained}, config, tmp_path)
    finetuned = load_state(tmp_path / "clip.pt")
    meta = (tmp_path / "clip.json").read_text()
    assert '"qat"' in meta and '"bits": 4' in meta
    ptq, qat = quantized_loss(trained), quantized_loss(finetuned)
    assert qat < 0.8 * ptq
    # The kept weights are the best *rounded* network's: their 4-bit file has exactly the loss training saw.
    losses = np.loadtxt(tmp_path / "clip.loss.csv", delimiter=",", skiprows=1)[:, 1]
    assert qat == pytest.approx(losses.min(), rel=1e-4)
    assert losses[0] == pytest.approx(ptq, rel=1e-4)  # step 0 is post-training quantization itself
    with pytest.raises(ValueError, match="qat_bits must be in 2..8"):
        finetune_quantized(SMALL, {"clip": speech_half_second}, {"clip": trained},
                           TrainConfig(steps=1, qat_bits=9, progress=False), tmp_path)
