"""Learned initialisations: the split, Reptile, and the versioned file."""

import dataclasses

import numpy as np
import pytest
import torch

from siamese_siren.codec.inits import INIT_FORMAT, InitError, LearnedInit, load_init, save_init
from siamese_siren.codec.models import SiameseSiren, Variant
from siamese_siren.codec.train import TrainConfig, state_digest, train
from siamese_siren.experiments.inits import MetaConfig, meta_train, training_windows

TINY = Variant((16, 16), (8,))


def _row(source, duration, status="selected"):
    return {"source": source, "duration": str(duration), "status": status}


def test_training_windows_never_overlap_a_scored_clip_and_are_seeded():
    manifests = {"speech": [_row("a.flac", 5.0), _row("b.flac", 2.5, "unselected"), _row("c.flac", 9.0, "skipped")],
                 "music": [_row("m.flac", 3.0)]}
    every = training_windows(manifests, offset=0.5, seconds=1.0, count=100, seed=0)
    # a.flac scores [0.5, 1.5): windows at 0 and 1 overlap it; b.flac is not scored; c.flac is unusable
    assert [(w.dataset, w.source, w.offset) for w in every] == [
        ("speech", "a.flac", 2.0), ("speech", "a.flac", 3.0), ("speech", "a.flac", 4.0),
        ("speech", "b.flac", 0.0), ("speech", "b.flac", 1.0), ("music", "m.flac", 2.0)]
    drawn = training_windows(manifests, 0.5, 1.0, count=3, seed=1)
    assert len(drawn) == 3 and set(drawn) <= set(every)
    assert drawn == training_windows(manifests, 0.5, 1.0, count=3, seed=1)
    assert {tuple(training_windows(manifests, 0.5, 1.0, 3, seed)) for seed in range(6)} != {tuple(drawn)}
    with pytest.raises(InitError, match="no window of 1 s outside the scored clips.*inits.<name>.datasets"):
        training_windows({"speech": [_row("a.flac", 1.6)]}, 0.5, 1.0, 4, 0)


@pytest.mark.slow  # meta-trains (26-30 s on a busy 2-core machine with torch's 2 threads)
def test_reptile_learns_what_a_family_of_clips_shares():
    t = np.linspace(-1, 1, 300)
    family = [(np.sin(2 * np.pi * 3 * t) * (1 + 0.1 * k)).astype(np.float32) for k in range(6)]
    config = MetaConfig(meta_steps=12, inner_steps=10, inner_lr=1e-3, clips_at_once=3, device="cpu",
                        learn_output=True)  # these clips share a waveform, so the output layer has something to learn
    init = meta_train(TINY, family, config, progress=False)
    history = init.provenance["history"]
    assert len(history) == 12 and init.provenance["clips"] == 6 and init.provenance["wall_seconds"] > 0
    assert type(init.provenance["torch"]) is str
    assert history[-1]["loss_start"] < 0.4 * history[0]["loss_start"]
    # a new member of the family starts far closer from the learned init than from the random one
    unseen = (np.sin(2 * np.pi * 3 * t) * 1.05).astype(np.float32)
    quick = TrainConfig(steps=1, progress=False, device="cpu")
    assert train(TINY, unseen, quick, init=init.state).losses[0] < 0.4 * train(TINY, unseen, quick).losses[0]
    # by default only the sine layers move: the output layers keep SIREN's seeded initialisation
    sines_only = meta_train(TINY, family, dataclasses.replace(config, meta_steps=2, learn_output=False), progress=False)
    torch.manual_seed(0)
    seeded = SiameseSiren(TINY).state_dict()
    assert all(torch.equal(sines_only.state[k], seeded[k]) for k in ("heads.0.1.weight", "heads.1.1.bias"))
    assert not torch.equal(sines_only.state["trunk.0.linear.weight"], seeded["trunk.0.linear.weight"])
    with pytest.raises(ValueError, match="meta_lr must be in"):
        meta_train(TINY, family, MetaConfig(meta_lr=1.5), progress=False)


def _init() -> LearnedInit:
    torch.manual_seed(3)
    state = {k: v.detach().clone() for k, v in SiameseSiren(TINY).state_dict().items()}
    # torch.__version__ is a TorchVersion, which torch.load(weights_only=True) refuses unless allowed
    return LearnedInit(TINY, state, state_digest(state), {"meta": {"meta_steps": 1}, "torch": torch.__version__})


def test_the_init_file_round_trips_and_is_checked(tmp_path):
    path = tmp_path / "inits" / "tiny.init.pt"
    save_init(_init(), path)
    loaded = load_init(path, TINY)
    assert loaded.digest == _init().digest and loaded.variant == TINY and loaded.provenance["meta"]["meta_steps"] == 1
    assert all(torch.equal(loaded.state[k], v) for k, v in _init().state.items())
    assert [p.name for p in path.parent.iterdir()] == ["tiny.init.pt"]  # atomic: no temporary file left

    with pytest.raises(InitError, match=r"an initialisation of 2x16\+1x8.*not of 2x32\+1x8"):
        load_init(path, Variant((32, 32), (8,)))
    with pytest.raises(InitError, match="no such learned initialisation.*init: random"):
        load_init(tmp_path / "missing.init.pt")
    payload = torch.load(path, weights_only=False)  # our own file, read back to damage it
    payload["state"]["trunk.0.linear.bias"][0] += 1.0
    torch.save(payload, tmp_path / "damaged.init.pt")
    with pytest.raises(InitError, match="do not match their digest.*rebuild it"):
        load_init(tmp_path / "damaged.init.pt")
    torch.save({**payload, "version": 99}, tmp_path / "future.init.pt")
    with pytest.raises(InitError, match="version 99"):
        load_init(tmp_path / "future.init.pt")
    torch.save({"format": "other"}, tmp_path / "other.init.pt")
    with pytest.raises(InitError, match=f"not a {INIT_FORMAT} file"):
        load_init(tmp_path / "other.init.pt")
    (tmp_path / "truncated.init.pt").write_bytes(path.read_bytes()[:100])
    with pytest.raises(InitError, match="not a readable learned initialisation"):
        load_init(tmp_path / "truncated.init.pt")
