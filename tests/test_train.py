import numpy as np
import pytest
import torch
import torch.nn.functional as F

from siamese_siren.models import VARIANTS, Variant, time_grid
from siamese_siren.train import TrainConfig, TrainingDiverged, load_model, train

SMALL = VARIANTS["siamese-2x64+1x32"]


def _loss_of(state, signal):
    model = load_model(SMALL, state)
    with torch.no_grad():
        out = model(time_grid(len(signal)))
        return F.mse_loss(out, torch.from_numpy(signal).reshape(-1, 1).expand_as(out)).item()


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


def test_cpu_fallback_warns(speech_half_second):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.warns(UserWarning, match="no CUDA device"):
        train(SMALL, speech_half_second[:100], TrainConfig(steps=1, progress=False))


def test_diverging_loss_stops_with_a_clear_error():
    exploding = Variant((8,), (), pe_frequencies=0, omega_first=30.0, omega_hidden=30.0, name="exploding")
    config = TrainConfig(steps=20, lr=1e30, check_every=5, progress=False, device="cpu")
    with pytest.raises(TrainingDiverged, match="clip-7: loss became .* 'exploding'.*retry"):
        train(exploding, np.sin(np.linspace(0, 50, 500)).astype(np.float32), config, label="clip-7")
