"""The paper's Figures 3-6 and the metric-vs-training-step curves, each written to one file."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes

import librosa  # noqa: E402
import librosa.display  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
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


def rate_distortion(summary: pd.DataFrame, metrics: list[str], path: str | Path, title: str = "") -> None:
    """kbps (log) against mean quality, one panel per metric: codecs as curves, INR files as points.

    ``summary``: rows of :func:`siamese_siren.tables.rd_summary` for one dataset (family, method, point, kbps,
    ``<metric>_mean``). INR points: colour = precision (method), marker = variant (point).
    """
    from .tables import METRIC_COLUMNS

    metrics = [m for m in metrics if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()] or ["kbps"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics) + 2.5, 4.2), squeeze=False)
    codecs = summary[summary["family"] == "codec"].sort_values("kbps")
    inr = summary[summary["family"] == "INR"]
    for i, (ax, metric) in enumerate(zip(axes[0], metrics, strict=True)):
        column = f"{metric}_mean" if metric != "kbps" else "kbps"
        for j, (method, group) in enumerate(codecs.groupby("method", sort=True)):
            ax.plot(group["kbps"], group[column], marker="o", markersize=3, linewidth=1.2,
                    color=sns.color_palette("Greys", 4)[j % 3 + 1], label=f"{method} (codec)")
        if len(inr):
            sns.scatterplot(data=inr.rename(columns={"method": "precision", "point": "variant"}), x="kbps",
                            y=column, hue="precision", style="variant", s=55, ax=ax,
                            legend=i == len(metrics) - 1)
        ax.set_xscale("log")
        lo, hi = summary["kbps"].min(), summary["kbps"].max()
        ax.set_xticks([t for t in (2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024)
                       if lo / 1.5 <= t <= hi * 1.5])
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("kbps (payload)")
        better = "higher" if METRIC_COLUMNS.get(metric, True) else "lower"
        ax.set_ylabel(f"{metric} ({better} is better)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0, -1].get_legend_handles_labels()
    for ax in axes[0]:
        if ax.get_legend():
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def resolution(signals: dict[int, np.ndarray], path: str | Path, title: str = "") -> None:
    """Spectrograms (linear frequency, up to each rate's Nyquist) of one file decoded at several rates."""
    rates = sorted(signals)
    fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates), 3.8), squeeze=False, sharey=True)
    for ax, rate in zip(axes[0], rates, strict=True):
        y = np.asarray(signals[rate], dtype=np.float32)
        n_fft = 1 << int(np.round(np.log2(rate * 0.046)))  # about 46 ms at every rate
        power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
        image = librosa.display.specshow(librosa.power_to_db(power, ref=np.max), sr=rate, hop_length=n_fft // 4,
                                         x_axis="time", y_axis="linear", ax=ax, vmin=-80, vmax=0)
        ax.set_title(f"{rate / 1000:g} kHz, {len(y)} samples", fontsize=10)
        ax.set_ylim(0, max(rates) / 2)
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8)
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
