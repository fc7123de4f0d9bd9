"""The paper's Figures 3-6 and the metric-vs-training-step curves, each written to one file."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes

import librosa  # noqa: E402
import librosa.display  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

DENOISE_ORDER = ["none", "stationary", "nonstationary", "siamese"]


def log_mel_db(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrogram as in the authors' figures: power mel, dB relative to the maximum."""
    mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sample_rate)
    return librosa.power_to_db(mel, ref=np.max)


def _save(fig: plt.Figure, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def spectrograms(signals: dict[str, np.ndarray], sample_rate: int, path: str | Path, title: str = "") -> None:
    """Log-mel spectrograms side by side (Figures 3 and 6): reference first, then each reconstruction."""
    fig, axes = plt.subplots(1, len(signals), figsize=(4.2 * len(signals), 3.6), squeeze=False, sharey=True)
    for ax, (label, y) in zip(axes[0], signals.items(), strict=True):
        image = librosa.display.specshow(log_mel_db(y, sample_rate), sr=sample_rate, x_axis="time", y_axis="mel",
                                         ax=ax, vmin=-80, vmax=0)
        ax.set_title(label, fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def denoise_ablation(records: pd.DataFrame, metric: str, path: str | Path, title: str = "") -> None:
    """Figure 4: a metric per denoising mode (no estimate vs the siamese estimate), music vs speech."""
    order = [m for m in DENOISE_ORDER if m in set(records["denoise"])]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    sns.barplot(data=records, x="denoise", y=metric, hue="kind", order=order, errorbar=("ci", 95), ax=ax)
    sns.stripplot(data=records, x="denoise", y=metric, hue="kind", order=order, dodge=True, color="black",
                  size=3, alpha=0.5, legend=False, ax=ax)
    ax.set_xlabel("denoising")
    ax.set_ylabel(metric)
    ax.set_title(title or f"Denoising ablation ({metric}, mean and 95% CI)")
    _save(fig, path)


def add_white_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``clean`` plus white Gaussian noise at the given signal-to-noise ratio."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise


def noise_perception(clean: np.ndarray, sample_rate: int, snr_db: float, path: str | Path, seed: int = 0) -> None:
    """Figure 5: added noise barely changes the waveform but clearly changes the log-mel spectrogram."""
    noisy = add_white_noise(clean, snr_db, seed)
    t = np.arange(len(clean)) / sample_rate
    fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex="col")
    for column, (label, y) in enumerate([("clean", clean), (f"white noise, {snr_db:g} dB SNR", noisy)]):
        axes[0, column].plot(t, y, linewidth=0.4)
        axes[0, column].set_title(f"waveform: {label}", fontsize=10)
        axes[0, column].set_ylim(-1.1, 1.1)
        librosa.display.specshow(log_mel_db(y, sample_rate), sr=sample_rate, x_axis="time", y_axis="mel",
                                 ax=axes[1, column], vmin=-80, vmax=0)
        axes[1, column].set_title(f"log-mel: {label}", fontsize=10)
    _save(fig, path)


def training_curves(records: pd.DataFrame, metric: str, path: str | Path) -> None:
    """A metric against training step (snapshots of one run), one line per variant, one panel per dataset."""
    datasets = list(records["dataset"].unique())
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        data = records[records["dataset"] == dataset]
        sns.lineplot(data=data, x="step", y=metric, hue="variant", style="denoise", marker="o",
                     errorbar=("ci", 95), ax=ax)
        ax.set_xscale("log")
        ax.set_title(dataset)
    _save(fig, path)
