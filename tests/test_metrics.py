"""Tests for siamese_siren.metrics on short real clips (CDPAM costs ~2 s per 2 s clip on CPU, so clips stay short)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from siamese_siren import metrics as M
from siamese_siren.codec import numba_cache
from siamese_siren.codec.audio import load_clip, resample
from siamese_siren.metrics import cdpam as cdpam_metric

DATA = Path(__file__).resolve().parents[1] / "resources" / "audio"
SR = 22050
SECONDS = 2.0
SPEECH = DATA / "speech_librivox_0880.flac"
MUSIC = DATA / "music_sonicpi_loop_tabla.flac"
QUALITY = ("visqol", "pesq", "stoi", "estoi")  # higher is better; CDPAM, LSD: lower is better


def add_noise(x: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(len(x))
    noise *= np.sqrt(np.mean(x.astype(np.float64) ** 2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + noise).astype(np.float32)


@pytest.fixture(scope="session")
def clips() -> dict[str, np.ndarray]:
    return {
        "speech": load_clip(SPEECH, SR, offset=0.5, duration=SECONDS).samples,
        "music": load_clip(MUSIC, SR, offset=0.0, duration=SECONDS).samples,
    }


@pytest.fixture(scope="session")
def noisy(clips: dict[str, np.ndarray]) -> dict[tuple[str, int], np.ndarray]:
    return {(kind, snr): add_noise(x, snr, seed=snr) for kind, x in clips.items() for snr in (30, 10)}


@pytest.fixture(scope="session")
def scored(clips, noisy) -> dict[str, list[dict]]:
    """Each clip against itself, +30 dB and +10 dB white noise, with every metric its kind scores by default."""
    return {
        kind: M.score_many((x, SR), [(x, SR), (noisy[kind, 30], SR), (noisy[kind, 10], SR)], kind)
        for kind, x in clips.items()
    }


@pytest.mark.slow  # CDPAM (the `scored` fixture)
def test_reference_against_itself_gives_best_values(scored):
    speech, music = scored["speech"][0], scored["music"][0]
    assert music["visqol"] == pytest.approx(4.73, abs=0.01)
    assert 4.4 < speech["visqol"] <= 4.75  # speech mode with the lattice mapper tops out near 4.55
    assert speech["pesq"] == pytest.approx(4.644, abs=0.01)
    assert speech["stoi"] == pytest.approx(1.0, abs=1e-6) and speech["estoi"] == pytest.approx(1.0, abs=1e-6)
    for rec in (speech, music):
        assert rec["cdpam"] == pytest.approx(0.0, abs=1e-6)
        assert rec["snr_db"] == math.inf
        assert rec["lsd_db"] == 0.0
        assert all(rec[f"{m}_error"] is None for m in M.DEFAULT_METRICS[rec["kind"]])


@pytest.mark.slow  # CDPAM (the `scored` fixture)
@pytest.mark.parametrize("kind", ["speech", "music"])
def test_every_metric_gets_worse_with_more_noise(scored, kind):
    best, snr30, snr10 = scored[kind]
    for m in M.DEFAULT_METRICS[kind]:
        if m == "cdpam":
            assert best[m] < snr30[m] < snr10[m], m
        else:
            assert best[m] > snr30[m] > snr10[m], m
    assert best["snr_db"] > snr30["snr_db"] > snr10["snr_db"]
    assert snr30["snr_db"] == pytest.approx(30.0, abs=0.01)
    assert best["lsd_db"] < snr30["lsd_db"] < snr10["lsd_db"]


@pytest.mark.slow  # CDPAM (the `scored` fixture)
def test_records_say_how_they_were_made(scored):
    speech, music = scored["speech"][1], scored["music"][1]
    assert music["visqol_mode"].startswith("audio 48000") and speech["visqol_mode"].startswith("speech 16000")
    assert "lattice" in speech["visqol_mode"] and "ai-edge-litert" in speech["visqol_version"]
    assert speech["pesq_mode"] == "wb 16000 Hz" and speech["pesq_version"].startswith("pesq ")
    assert speech["stoi_mode"] == "classic 10000 Hz" and speech["estoi_mode"] == "extended 10000 Hz"
    assert speech["cdpam_version"].startswith("cdpam ") and "22050" in speech["cdpam_mode"]
    assert not {"pesq", "stoi", "estoi"} & set(music)  # not scored on music unless asked for
    assert speech["resampler"] == "soxr-VHQ" and speech["seconds"] == SECONDS


@pytest.mark.slow  # CDPAM (the `scored` fixture)
def test_cdpam_encodes_a_reference_once(clips, noisy, scored, monkeypatch):
    # Everything below was encoded by the `scored` fixture: scoring it again must not touch the encoder.
    model = cdpam_metric.load(cdpam_metric.device_for(None)).model

    def fail(*args, **kwargs):
        raise AssertionError("encoder called for a cached signal")

    monkeypatch.setattr(model.base_encoder, "forward", fail)
    x = clips["speech"]
    again = M.score_many((x, SR), [(x, SR), (noisy["speech", 30], SR)], "speech", metrics=("cdpam",))
    assert [r["cdpam"] for r in again] == [r["cdpam"] for r in scored["speech"][:2]]


def test_silence_and_too_short_give_nan_with_a_reason(clips):
    x = clips["speech"]
    short = x[: SR // 10]  # 0.1 s: below PESQ's 0.25 s and ViSQOL's minimum patch
    pairs = [
        ((np.zeros_like(x), SR), (x, SR)),  # silent reference
        ((x, SR), (np.zeros_like(x), SR)),  # silent degraded
        ((short, SR), (short, SR)),
        ((x, SR), (np.full_like(x, np.nan), SR)),
        ((x, SR), (x, SR)),  # a good pair in the same batch is still scored
    ]
    silent_ref, silent_deg, too_short, nan_deg, good = M.score_pairs(pairs, "speech", metrics=QUALITY)
    for rec, metrics in [
        (silent_ref, QUALITY),
        (silent_deg, ("visqol", "pesq")),
        (too_short, QUALITY),
        (nan_deg, QUALITY),
    ]:
        for m in metrics:
            assert math.isnan(rec[m]), (m, rec)
            assert isinstance(rec[f"{m}_error"], str) and rec[f"{m}_error"], (m, rec)
    assert "silence" in silent_ref["pesq_error"] and "silence" in silent_deg["pesq_error"]
    assert "BufferTooShort" in too_short["pesq_error"] and "STOI" in too_short["stoi_error"]
    assert too_short["estoi_error"] == too_short["stoi_error"]
    assert "too short for ViSQOL" in too_short["visqol_error"] and "at least 1 s" in too_short["visqol_error"]
    assert math.isnan(silent_ref["snr_db"]) and silent_deg["snr_db"] == pytest.approx(0.0)
    assert silent_deg["stoi"] == 0.0 and silent_deg["stoi_error"] is None  # a silent output is just unintelligible
    assert good["pesq"] == pytest.approx(4.644, abs=0.01) and good["visqol_error"] is None


@pytest.mark.slow  # CDPAM (the `scored` fixture)
@pytest.mark.parametrize("rate", [44100, 16000])
def test_wrong_sample_rate_is_resampled_not_misscored(clips, noisy, scored, rate):
    x, at_22k = clips["speech"], scored["speech"][1]
    deg = resample(noisy["speech", 30], SR, rate)
    metrics = M.DEFAULT_METRICS["speech"] if rate == 44100 else QUALITY  # CDPAM once is enough
    rec = M.score_pair((x, SR), (deg, rate), "speech", metrics=metrics)
    assert rec["sample_rate"] == SR and rec["degraded_rate"] == rate and rec["trimmed_samples"] <= 1
    # Exactly what converting it to the reference's rate by hand gives ...
    by_hand = M.score_pair((x, SR), (resample(deg, rate, SR), SR), "speech", metrics=metrics)
    for m in metrics + ("snr_db", "lsd_db"):
        assert rec[m] == pytest.approx(by_hand[m], rel=1e-9), m
    # ... and close to the noisy clip before its round trip (white noise loses its top band on the way).
    assert rec["visqol"] == pytest.approx(at_22k["visqol"], abs=0.1)
    assert rec["pesq"] == pytest.approx(at_22k["pesq"], abs=0.1)
    assert rec["stoi"] == pytest.approx(at_22k["stoi"], abs=0.005)


@pytest.mark.slow  # CDPAM (the `scored` fixture)
def test_pool_gives_the_same_records(clips, noisy, scored):
    pairs = [((x, SR), (noisy[kind, snr], SR)) for kind, x in clips.items() for snr in (30, 10)]
    pooled = M.score_pairs(pairs, "speech", metrics=QUALITY, workers=2)
    expected = scored["speech"][1:]
    for rec, exp in zip(pooled[:2], expected, strict=True):
        for m in QUALITY + ("snr_db", "lsd_db"):
            assert rec[m] == pytest.approx(exp[m], rel=1e-9), m
    assert all(r["pesq_error"] is None for r in pooled)


@pytest.mark.slow  # CDPAM (the `scored` fixture)
def test_visqol_speech_mapper_is_a_choice_recorded_in_the_mode(clips, noisy, scored):
    x = clips["speech"]
    rec = M.score_pair((x, SR), (noisy["speech", 30], SR), "speech", metrics=("visqol",),
                       visqol_speech_mapper="polynomial")
    assert rec["visqol_mode"] == "speech 16000 Hz polynomial" and "ai-edge-litert" not in rec["visqol_version"]
    assert rec["visqol"] > scored["speech"][1]["visqol"] + 0.5  # the polynomial fit reads far higher
    with pytest.raises(ValueError, match="speech mapper"):
        M.score_pair((x, SR), (x, SR), "speech", metrics=("visqol",), visqol_speech_mapper="svr")


def test_snr_and_lsd_definitions():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(SR)
    assert M.snr_db(x, x + 0.1 * x) == pytest.approx(20.0)
    assert M.log_spectral_distance(x, x) == 0.0
    # A uniform gain g moves every bin by 20 log10(g) dB.
    assert M.log_spectral_distance(x, 2 * x) == pytest.approx(20 * np.log10(2), abs=1e-4)  # up to the floor


def test_bad_arguments_are_rejected(clips):
    x = clips["speech"]
    with pytest.raises(ValueError, match="kind"):
        M.score_pair((x, SR), (x, SR), "podcast")
    with pytest.raises(ValueError, match="unknown metrics"):
        M.score_pair((x, SR), (x, SR), "speech", metrics=("pesq", "mcd"))
    with pytest.raises(ValueError, match="mono"):
        M.score_pair((np.stack([x, x], axis=1), SR), (x, SR), "speech")


def test_numba_cache_dir_falls_back_when_home_is_unwritable(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # makedirs under a file fails, even for root
    assert numba_cache.default_dir().startswith(os.path.realpath(__import__("tempfile").gettempdir()))


@pytest.mark.slow  # two fresh processes compile numba (~13 s)
def test_numba_cache_works_without_numba_cache_dir(tmp_path):
    """A read-only install: numba must cache in our per-user directory, and a second process must load it."""
    script = textwrap.dedent(
        f"""
        import os
        from siamese_siren import metrics as M
        from siamese_siren.codec.audio import load_clip
        x = load_clip({str(SPEECH)!r}, 16000, duration=1.5).samples
        rec = M.score_pair((x, 16000), (0.5 * x, 16000), "speech", metrics=("visqol",))
        print("CACHE", os.environ["NUMBA_CACHE_DIR"])
        print("SCORE", rec["visqol"], rec["visqol_error"])
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["HOME"] = str(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(M.__file__).parents[2]), env.get("PYTHONPATH", "")])
    expected = tmp_path / ".cache" / "siamese-siren" / "numba"

    def run(**extra: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", script], env={**env, **extra}, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    first = run()
    assert f"CACHE {expected}" in first
    score = float(first.split("SCORE ")[1].split()[0])
    assert 4.0 < score <= 4.75  # a gain change is nearly inaudible to ViSQOL
    assert list(expected.glob("visqol_*/numba_accel.*.nbi")), "numba wrote no cache index there"
    second = run(NUMBA_DEBUG_CACHE="1")
    assert f"data loaded from '{expected}" in second  # NUMBA_DEBUG_CACHE's log line


def test_importing_the_metrics_has_no_side_effects():
    """No numba setting and no heavy import until a metric runs: figures, tables and the CLI import this cheaply."""
    script = textwrap.dedent(
        """
        import os, sys
        import siamese_siren.metrics
        heavy = sorted({m.split(".")[0] for m in sys.modules} & {"numba", "visqol", "torch", "librosa", "cdpam"})
        print(heavy, os.environ.get("NUMBA_CACHE_DIR"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["[]", "None"]


def test_estoi_is_the_same_on_every_call():
    """pystoi's ESTOI draws noise from numpy's global generator; a near-silent pair showed it (0.01 apart unseeded)."""
    from siamese_siren.metrics.stoi import STOI_RATE, stoi

    rng = np.random.default_rng(1)
    ref = (rng.standard_normal(STOI_RATE) * np.linspace(0, 1e-3, STOI_RATE)).astype(np.float32)
    deg = (ref + 1e-3 * rng.standard_normal(STOI_RATE)).astype(np.float32)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    assert len({stoi(ref, deg, extended=True) for _ in range(4)}) == 1
    assert (np.random.get_state()[1] == before).all()  # the caller's generator is left as it was
