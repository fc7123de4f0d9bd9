"""Log-mel figures: reference against reconstructions (Figures 3 and 6), the noise that the eye misses and the
spectrogram shows (Figure 5), and one file decoded at several rates (resolution)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from .drawing import DB_RANGE, librosa_module, log_mel_panel, new_figure, save


def spectrograms(signals: dict[str, np.ndarray], sample_rate: int, path: str | Path, title: str = "") -> plt.Figure:
    """Log-mel spectrograms side by side (Figures 3 and 6): reference first, then each reconstruction."""
    fig, axes = new_figure(1, len(signals), 4.2 * len(signals), 3.8, sharey=True)
    for ax, (label, y) in zip(axes[0], signals.items(), strict=True):
        image = log_mel_panel(ax, y, sample_rate, label)
        ax.label_outer()  # the panels share their frequency axis: one label on the left
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8, label="dB relative to the maximum")
    if title:
        fig.suptitle(title)
    return save(fig, path)


def add_white_noise(clean: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """``clean`` plus white Gaussian noise at the given signal-to-noise ratio."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return clean + noise


def noise_perception(clean: np.ndarray, sample_rate: int, snr_db: float, path: str | Path,
                     seed: int = 0) -> plt.Figure:
    """Figure 5: added noise barely changes the waveform but clearly changes the log-mel spectrogram."""
    noisy = add_white_noise(clean, snr_db, seed)
    t = np.arange(len(clean)) / sample_rate
    fig, axes = new_figure(2, 2, 10, 6, sharex="col")
    for column, (label, y) in enumerate([("clean", clean), (f"white noise, {snr_db:g} dB SNR", noisy)]):
        axes[0, column].plot(t, y, linewidth=0.4)
        axes[0, column].set_title(f"waveform: {label}", fontsize=10)
        axes[0, column].set_ylim(-1.1, 1.1)
        axes[0, column].set_ylabel("amplitude (full scale)")
        axes[0, column].set_xlabel("Time (seconds)")  # as librosa labels the spectrograms' axis
        image = log_mel_panel(axes[1, column], y, sample_rate, f"log-mel: {label}")
    fig.colorbar(image, ax=axes[1].tolist(), format="%+2.0f dB", label="dB relative to the maximum")
    return save(fig, path)


def resolution(signals: dict[int, np.ndarray], path: str | Path, title: str = "") -> plt.Figure:
    """Spectrograms (linear frequency, up to each rate's Nyquist) of one file decoded at several rates."""
    rates = sorted(signals)
    fig, axes = new_figure(1, len(rates), 4.2 * len(rates), 3.8, sharey=True)
    for ax, rate in zip(axes[0], rates, strict=True):
        y = np.asarray(signals[rate], dtype=np.float32)
        n_fft = 1 << int(np.round(np.log2(rate * 0.046)))  # about 46 ms at every rate
        power = np.abs(librosa_module().stft(y, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
        librosa = librosa_module()
        image = librosa.display.specshow(librosa.power_to_db(power, ref=np.max), sr=rate, hop_length=n_fft // 4,
                                         x_axis="s", y_axis="linear", ax=ax, vmin=DB_RANGE[0], vmax=DB_RANGE[1])
        ax.set_title(f"{rate / 1000:g} kHz, {len(y)} samples", fontsize=10)
        ax.set_ylim(0, max(rates) / 2)
        ax.label_outer()
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8, label="dB relative to the maximum")
    if title:
        fig.suptitle(title)
    return save(fig, path)
