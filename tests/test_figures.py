"""Every figure, drawn on small synthetic data: it is written, and no two of its texts overlap."""

import numpy as np
import pandas as pd
import pytest

from siamese_siren.analysis.figures import drawing, rate_distortion, scores, spectrograms

RATE = 22050


def assert_no_overlapping_text(fig) -> None:
    overlaps = drawing.overlapping_text(fig)
    assert not overlaps, f"overlapping texts: {overlaps}"


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """Two seconds of a decaying tone with harmonics: spectrograms with structure, fast to compute."""
    t = np.arange(2 * RATE) / RATE
    tone = sum(np.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 6)) * np.exp(-t)
    return (0.5 * tone / np.abs(tone).max()).astype(np.float32)


def _scores(rng: np.random.Generator, **levels: list) -> pd.DataFrame:
    """ViSQOL-like scores, three clips for every combination of ``levels``."""
    keys = list(levels)
    combos = pd.MultiIndex.from_product([*levels.values(), range(3)], names=[*keys, "clip"]).to_frame(index=False)
    return combos.assign(visqol=rng.uniform(1, 4, len(combos)))


def _spectrograms(tmp_path, clip):
    noisy = spectrograms.add_white_noise(clip, 20)
    signals = {"reference": clip, "original-siren\nint8-paper, 2500 steps": noisy,
               "siamese-siren\nint8-paper, 2500 steps": noisy}
    return spectrograms.spectrograms(signals, RATE, tmp_path / "fig3.png", title="clip speech_librivox_0870")


def _denoise_ablation(tmp_path, clip):
    records = _scores(np.random.default_rng(0), kind=["music", "speech"], denoise=scores.DENOISE_ORDER)
    return scores.denoise_ablation(records, "visqol", tmp_path / "fig4.png")


def _noise_perception(tmp_path, clip):
    return spectrograms.noise_perception(clip, RATE, 20, tmp_path / "fig5.png")


def _training_curves(tmp_path, clip, steps=(50, 100, 150, 250, 500, 1000, 2500, 5000, 10000)):
    """The paper's snapshot steps by default; the demo's (10, 20, 30) span less than a decade."""
    records = _scores(np.random.default_rng(1), dataset=["speech", "music"],
                      variant=["optimized-siren", "siamese-siren"], step=list(steps))
    return scores.training_curves(records.assign(denoise="none"), "visqol", tmp_path / "training_curves.png")


def _training_curves_short(tmp_path, clip):
    return _training_curves(tmp_path, clip, steps=(10, 20, 30))


def _rate_distortion(tmp_path, clip):
    codecs = pd.DataFrame([{"family": "codec", "method": codec, "point": f"{kbps} kbps", "kbps": kbps,
                            "visqol_mean": 1 + np.log2(kbps) / 2, "pesq_mean": 1 + np.log2(kbps) / 3}
                           for codec in ("opus", "mp3") for kbps in (8, 16, 32, 64, 128)])
    inr = pd.DataFrame([{"family": "INR", "method": f"INR {precision}", "point": variant, "kbps": kbps,
                         "visqol_mean": 2.0, "pesq_mean": 1.8}
                        for precision, scale in (("int8-paper", 1.0), ("int6-pc-rans", 0.7))
                        for variant, kbps in (("siamese-siren", 450 * scale), ("siamese-2x64+1x32", 40 * scale))])
    controlled = pd.DataFrame([{"family": "INR control", "method": "INR control (kbps)", "point": f"at most {k} kbps",
                                "kbps": 0.9 * k, "visqol_mean": 1 + np.log2(k) / 2.2, "pesq_mean": 1.5}
                               for k in (16, 32, 64)])
    summary = pd.concat([codecs, inr, controlled], ignore_index=True).assign(dataset="speech")
    return rate_distortion.rate_distortion(summary, ["visqol", "pesq"], tmp_path / "rate_distortion_speech.png",
                                   title="Rate-distortion, speech")


def _resolution(tmp_path, clip):
    import soxr

    signals = {rate: soxr.resample(clip, RATE, rate) for rate in (16000, 22050, 44100, 48000)}
    return spectrograms.resolution(signals, tmp_path / "resolution.png", title="siamese-siren, int8")


FIGURES = [_spectrograms, _denoise_ablation, _noise_perception, _training_curves, _training_curves_short,
           _rate_distortion, _resolution]


@pytest.mark.filterwarnings("error::FutureWarning")  # seaborn's deprecations become errors in its next release
@pytest.mark.parametrize("draw", FIGURES, ids=[f.__name__.strip("_") for f in FIGURES])
def test_every_figure_is_written_without_overlapping_text(tmp_path, clip, draw):
    fig = draw(tmp_path, clip)
    assert next(tmp_path.glob("*.png")).read_bytes()[:4] == b"\x89PNG"
    assert_no_overlapping_text(fig)


def test_the_overlap_check_sees_an_overall_title_printed_over_a_panel_title():
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax in axes:
        ax.set_title("a panel title")
    fig.suptitle("an overall title", y=0.9)
    assert {"an overall title", "a panel title"} in [set(pair) for pair in drawing.overlapping_text(fig)]
    plt.close(fig)


def test_time_axes_say_their_unit_and_figure5_labels_every_axis(tmp_path, clip):
    fig = _noise_perception(tmp_path, clip)
    waveform, log_mel = fig.axes[0], fig.axes[2]
    assert "(seconds)" in waveform.get_xlabel() and waveform.get_ylabel()
    assert "(seconds)" in log_mel.get_xlabel()
    assert any("dB" in ax.get_ylabel() for ax in fig.axes)  # the log-mel colour bar


def test_training_curves_legend_names_only_variants(tmp_path, clip):
    fig = _training_curves(tmp_path, clip)
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["optimized-siren", "siamese-siren"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][:3] == ["50", "100", "150"]


def test_score_figures_draw_an_interval_only_where_the_tables_print_one(tmp_path):
    """Figures and tables share one rule: a Student-t 95% interval from N=3 clips on, none below."""
    def error_bars(clips: int) -> int:
        records = _scores(np.random.default_rng(0), kind=["music", "speech"], denoise=["none", "siamese"])
        records = records[records["clip"] < clips]
        fig = scores.denoise_ablation(records, "visqol", tmp_path / f"fig4-{clips}.png")
        return sum(len(line.get_xdata()) > 0 and np.isfinite(line.get_ydata()).all() for line in fig.axes[0].lines)

    assert error_bars(2) == 0
    assert error_bars(3) == 4  # one bar per kind and denoising mode


def test_rate_distortion_points_lie_above_the_curves_so_every_legend_entry_is_seen(tmp_path, clip):
    """A file chosen by rate control sits exactly on an INR point: the point must be drawn over the diamond."""
    import matplotlib.collections

    fig = _rate_distortion(tmp_path, clip)
    for ax in fig.axes[:2]:
        points = [c for c in ax.collections if isinstance(c, matplotlib.collections.PathCollection)]
        curves = [line for line in ax.lines if len(line.get_xdata())]  # seaborn adds empty lines for its legend
        assert points and curves and min(c.get_zorder() for c in points) > max(line.get_zorder() for line in curves)
