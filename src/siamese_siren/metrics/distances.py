"""Signal-level distances, always computed: SNR and log-spectral distance."""

from __future__ import annotations

import numpy as np

LSD_N_FFT = 2048
LSD_HOP = 512
LSD_FLOOR = 1e-10  # power floor (-100 dB re a full-scale sine's ~0.25) so silent bins stay finite


def snr_db(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Signal-to-noise ratio in dB, the noise being ``degraded - reference`` (no gain or delay compensation).

    ``inf`` for identical signals; NaN for a silent reference.
    """
    ref = np.asarray(reference, dtype=np.float64)
    noise = np.asarray(degraded, dtype=np.float64) - ref
    signal_power, noise_power = float(np.sum(ref**2)), float(np.sum(noise**2))
    if signal_power == 0.0:
        return float("nan")
    if noise_power == 0.0:
        return float("inf")
    return float(10.0 * np.log10(signal_power / noise_power))


def log_spectral_distance(reference: np.ndarray, degraded: np.ndarray) -> float:
    """Log-spectral distance in dB, computed at the signals' own (common) sample rate.

    ``LSD = mean_t sqrt( mean_k ( 10 log10(P_ref[t, k] + e) - 10 log10(P_deg[t, k] + e) )^2 )``

    with ``P`` the power spectrogram (Hann window, ``LSD_N_FFT`` = 2048 samples, hop 512, zero-padded edges,
    amplitude-scaled so a full-scale sine peaks near 0.25) and ``e`` = 1e-10 (-100 dB) so silent bins stay finite.
    0 for identical signals, larger is worse. The frame covers different durations at different rates, so compare
    LSD only between records with the same ``sample_rate``.
    """
    from scipy.signal import stft

    def power_db(x: np.ndarray) -> np.ndarray:
        n = min(LSD_N_FFT, len(x))
        _, _, z = stft(np.asarray(x, dtype=np.float64), nperseg=n, noverlap=n * (LSD_N_FFT - LSD_HOP) // LSD_N_FFT)
        return 10.0 * np.log10(np.abs(z) ** 2 + LSD_FLOOR)

    diff = power_db(reference) - power_db(degraded)
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=0))))
