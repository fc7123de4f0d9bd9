from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "resources" / "audio"
SPEECH = DATA / "speech_librivox_0880.flac"
MUSIC = DATA / "music_sonicpi_guit_em9.flac"


@pytest.fixture(scope="session")
def speech_path() -> Path:
    return SPEECH


@pytest.fixture(scope="session")
def music_path() -> Path:
    return MUSIC


@pytest.fixture(scope="session")
def speech_half_second() -> np.ndarray:
    """0.5 s of real speech at 22050 Hz, peak-normalised: small enough to train on in seconds."""
    from siamese_siren.codec.audio import load_clip

    return load_clip(SPEECH, offset=0.5, duration=0.5).samples


@pytest.fixture(scope="session")
def trained_small(speech_half_second):
    """A small Siamese SIREN fitted briefly to real speech, as a model in eval mode."""
    import torch

    from siamese_siren.codec.models import VARIANTS
    from siamese_siren.codec.train import TrainConfig, load_model, train

    variant = VARIANTS["siamese-2x64+1x32"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 5 s alone; with two threads on two busy cores it took 30-70 s of the quick tier
    try:
        result = train(variant, speech_half_second, TrainConfig(steps=150, progress=False, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    return load_model(variant, result.state)
