"""The paper's Figures 3-6 and the metric-vs-training-step curves, each written to one file.

Every figure function returns its (closed) figure, so tests can check its layout: :func:`overlapping_text`
lists the text boxes that overlap once drawn.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path
from types import ModuleType

import matplotlib

matplotlib.use("Agg")  # files only; no display on cluster nodes

import matplotlib.collections  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from . import files, numba_cache  # noqa: E402

DENOISE_ORDER = ["none", "stationary", "nonstationary", "siamese"]


@functools.cache
def _librosa() -> ModuleType:
    """librosa, imported once its numba cache has a writable home (numba compiles on import)."""
    numba_cache.configure()
    import librosa
    import librosa.display

    return librosa


#: Log-mel panels share one colour scale: dB relative to each spectrogram's maximum.
DB_RANGE = (-80, 0)


def overlapping_text(fig: plt.Figure) -> list[tuple[str, str]]:
    """Pairs of non-empty texts drawn on ``fig`` whose boxes overlap, by the renderer's extents.

    Only texts that a draw actually renders count: axes keep tick labels outside their view limits (and hidden
    ones of shared axes) at stale positions, which would read as false overlaps.
    """
    # A closed figure (every figure function closes its own) is left with a canvas that cannot draw: give it one.
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    drawn: dict[int, matplotlib.text.Text] = {}
    draw_text = matplotlib.text.Text.draw

    @functools.wraps(draw_text)
    def record(text: matplotlib.text.Text, renderer: object) -> None:
        drawn[id(text)] = text
        draw_text(text, renderer)

    matplotlib.text.Text.draw = record
    try:
        canvas.draw()
    finally:
        matplotlib.text.Text.draw = draw_text
    renderer = canvas.get_renderer()
    boxes = [(text.get_text(), text.get_window_extent(renderer)) for text in drawn.values()
             if text.get_visible() and text.get_text().strip()]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]


def _metric_label(metric: str) -> str:
    from .tables import METRIC_LABELS  # tables imports torch: only figures that name a metric pay for it

    return METRIC_LABELS.get(metric, metric)


def log_mel_db(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrogram as in the authors' figures: power mel, dB relative to the maximum."""
    mel = _librosa().feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sample_rate)
    return _librosa().power_to_db(mel, ref=np.max)


def _figure(rows: int, columns: int, width: float, height: float, **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A grid of panels whose layout engine keeps the overall title, panel titles and colour bars apart."""
    return plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained", **kwargs)


def _save(fig: plt.Figure, path: str | Path) -> plt.Figure:
    with files.atomic_write(path) as f:  # the temporary file ends in .tmp, so name the format
        fig.savefig(f, dpi=120, format=Path(path).suffix.lstrip(".") or None)
    plt.close(fig)
    return fig


def _log_mel_panel(ax: plt.Axes, y: np.ndarray, sample_rate: int, title: str) -> matplotlib.collections.QuadMesh:
    image = _librosa().display.specshow(log_mel_db(y, sample_rate), sr=sample_rate, x_axis="s", y_axis="mel", ax=ax,
                                     vmin=DB_RANGE[0], vmax=DB_RANGE[1])
    ax.set_title(title, fontsize=10)
    return image


def spectrograms(signals: dict[str, np.ndarray], sample_rate: int, path: str | Path, title: str = "") -> plt.Figure:
    """Log-mel spectrograms side by side (Figures 3 and 6): reference first, then each reconstruction."""
    fig, axes = _figure(1, len(signals), 4.2 * len(signals), 3.8, sharey=True)
    for ax, (label, y) in zip(axes[0], signals.items(), strict=True):
        image = _log_mel_panel(ax, y, sample_rate, label)
        ax.label_outer()  # the panels share their frequency axis: one label on the left
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8, label="dB relative to the maximum")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def denoise_ablation(records: pd.DataFrame, metric: str, path: str | Path, title: str = "") -> plt.Figure:
    """Figure 4: a metric per denoising mode (no estimate vs the siamese estimate), music vs speech."""
    order = [m for m in DENOISE_ORDER if m in set(records["denoise"])]
    fig, axes = _figure(1, 1, 6.5, 3.8)
    ax = axes[0, 0]
    sns.barplot(data=records, x="denoise", y=metric, hue="kind", order=order, errorbar=("ci", 95), ax=ax)
    # The clips as black dots over their bars: one colour per hue level (seaborn 0.14 drops color= with hue).
    sns.stripplot(data=records, x="denoise", y=metric, hue="kind", order=order, dodge=True,
                  palette={kind: "black" for kind in records["kind"].unique()}, size=3, alpha=0.5, legend=False,
                  ax=ax)
    ax.set_xlabel("denoising")
    ax.set_ylabel(_metric_label(metric))
    ax.set_title(title or f"Denoising ablation ({_metric_label(metric)}, mean and 95% CI)")
    return _save(fig, path)


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
    fig, axes = _figure(2, 2, 10, 6, sharex="col")
    for column, (label, y) in enumerate([("clean", clean), (f"white noise, {snr_db:g} dB SNR", noisy)]):
        axes[0, column].plot(t, y, linewidth=0.4)
        axes[0, column].set_title(f"waveform: {label}", fontsize=10)
        axes[0, column].set_ylim(-1.1, 1.1)
        axes[0, column].set_ylabel("amplitude (full scale)")
        axes[0, column].set_xlabel("Time (seconds)")  # as librosa labels the spectrograms' axis
        image = _log_mel_panel(axes[1, column], y, sample_rate, f"log-mel: {label}")
    fig.colorbar(image, ax=axes[1].tolist(), format="%+2.0f dB", label="dB relative to the maximum")
    return _save(fig, path)


def training_curves(records: pd.DataFrame, metric: str, path: str | Path) -> plt.Figure:
    """A metric against training step (snapshots of one run), one line per variant, one panel per dataset."""
    datasets = list(records["dataset"].unique())
    fig, axes = _figure(1, len(datasets), 5 * len(datasets), 3.6)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        data = records[records["dataset"] == dataset]
        sns.lineplot(data=data, x="step", y=metric, hue="variant", marker="o", errorbar=("ci", 95), ax=ax)
        ax.set_xscale("log")
        # Ticks at the snapshot steps, in plain numbers: the log axis' own labelled minor ticks ("3x10^1 4x10^1")
        # collide when the steps span less than a decade.
        ax.set_xticks(sorted(data["step"].unique()), labels=[f"{step:g}" for step in sorted(data["step"].unique())])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("training step (log scale)")
        ax.set_ylabel(_metric_label(metric))
        ax.set_title(dataset)
    return _save(fig, path)


def rate_distortion(summary: pd.DataFrame, metrics: list[str], path: str | Path, title: str = "") -> plt.Figure:
    """kbps (log) against mean quality, one panel per metric: codecs and rate control as curves, INR files as
    points.

    ``summary``: rows of :func:`siamese_siren.tables.rd_summary` for one dataset (family, method, point, kbps,
    ``<metric>_mean``). INR points: colour = precision (method), marker = variant (point). Rate control
    (family ``INR control``): one curve per kind of target, a point per target.
    """
    from .tables import CONTROL_FAMILY, METRIC_COLUMNS

    metrics = [m for m in metrics if f"{m}_mean" in summary and summary[f"{m}_mean"].notna().any()] or ["kbps"]
    fig, axes = _figure(1, len(metrics), 5.2 * len(metrics) + 2.5, 4.2)
    codecs = summary[summary["family"] == "codec"].sort_values("kbps")
    inr = summary[summary["family"] == "INR"]
    controlled = summary[summary["family"] == CONTROL_FAMILY].sort_values("kbps")
    for i, (ax, metric) in enumerate(zip(axes[0], metrics, strict=True)):
        column = f"{metric}_mean" if metric != "kbps" else "kbps"
        for j, (method, group) in enumerate(codecs.groupby("method", sort=True)):
            ax.plot(group["kbps"], group[column], marker="o", markersize=3, linewidth=1.2,
                    color=sns.color_palette("Greys", 4)[j % 3 + 1], label=f"{method} (codec)")
        for j, (method, group) in enumerate(controlled.groupby("method", sort=True)):
            ax.plot(group["kbps"], group[column], marker="D", markersize=4, linewidth=1.6,
                    color=sns.color_palette("dark", 8)[(3 + j) % 8], label=method)
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
        ax.set_ylabel(f"{_metric_label(metric)} ({better} is better)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0, -1].get_legend_handles_labels()
    for ax in axes[0]:
        if ax.get_legend():
            ax.get_legend().remove()
    fig.legend(handles, labels, loc="outside right center", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def resolution(signals: dict[int, np.ndarray], path: str | Path, title: str = "") -> plt.Figure:
    """Spectrograms (linear frequency, up to each rate's Nyquist) of one file decoded at several rates."""
    rates = sorted(signals)
    fig, axes = _figure(1, len(rates), 4.2 * len(rates), 3.8, sharey=True)
    for ax, rate in zip(axes[0], rates, strict=True):
        y = np.asarray(signals[rate], dtype=np.float32)
        n_fft = 1 << int(np.round(np.log2(rate * 0.046)))  # about 46 ms at every rate
        power = np.abs(_librosa().stft(y, n_fft=n_fft, hop_length=n_fft // 4)) ** 2
        image = _librosa().display.specshow(_librosa().power_to_db(power, ref=np.max), sr=rate, hop_length=n_fft // 4,
                                         x_axis="s", y_axis="linear", ax=ax, vmin=DB_RANGE[0], vmax=DB_RANGE[1])
        ax.set_title(f"{rate / 1000:g} kHz, {len(y)} samples", fontsize=10)
        ax.set_ylim(0, max(rates) / 2)
        ax.label_outer()
    fig.colorbar(image, ax=axes[0].tolist(), format="%+2.0f dB", shrink=0.8, label="dB relative to the maximum")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def fast_fit(records: pd.DataFrame, losses: pd.DataFrame, metrics: list[str], path: str | Path) -> plt.Figure:
    """Quality and loss against the step budget, one line per recipe, one row per dataset.

    ``records``: per-clip scores with ``recipe`` and ``budget`` columns; ``losses``: per-clip rows of
    :func:`siamese_siren.tables.fast_fit_losses`. The loss panel shows each run's final loss over the loss the
    paper's recipe ends with: at or below 1 the recipe has caught up.
    """
    datasets = list(losses["dataset"].unique())
    recipes = list(dict.fromkeys(losses["recipe"]))  # the baseline first, the same colour in every panel
    shown = [m for m in metrics if m in records and records[m].notna().any()]
    fig, axes = _figure(len(datasets), len(shown) + 1, 4.2 * (len(shown) + 1), 3.4 * len(datasets))
    for row, dataset in zip(axes, datasets, strict=True):
        data = records[records["dataset"] == dataset]
        panels = [(m, data, m) for m in shown] + [("loss", losses[losses["dataset"] == dataset], "final_over_target")]
        for ax, (metric, frame, column) in zip(row, panels, strict=True):
            if frame[column].notna().any():
                sns.lineplot(data=frame, x="budget", y=column, hue="recipe", hue_order=recipes, marker="o",
                             errorbar=("ci", 95), ax=ax)
            else:  # a speech-only metric on music
                ax.text(0.5, 0.5, f"no {_metric_label(metric)} for {dataset}", ha="center", va="center",
                        transform=ax.transAxes)
            budgets = sorted(frame["budget"].unique())
            ax.set_xscale("log")
            ax.set_xticks(budgets, labels=[f"{b:g}" for b in budgets])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.set_xlabel("training steps (log scale)")
            if metric == "loss":
                ax.set_yscale("log")
                ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
                ax.set_ylabel("final loss / paper's final loss")
            else:
                ax.set_ylabel(_metric_label(metric))
            ax.set_title(f"{dataset}: {_metric_label(metric) if metric != 'loss' else 'loss'}", fontsize=10)
    return _save(fig, path)
