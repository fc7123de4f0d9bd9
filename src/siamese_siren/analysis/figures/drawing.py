"""What every figure shares: files only (Agg), one layout engine, one colour scale for log-mel panels, metric labels
from the vocabulary, atomic saving, and a check that no two texts overlap.

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
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402

from siamese_siren.codec import files, numba_cache  # noqa: E402
from siamese_siren.metrics.vocabulary import label  # noqa: E402


@functools.cache
def librosa_module() -> ModuleType:
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


def metric_label(metric: str) -> str:
    return label(metric)


def log_mel_db(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Log-mel spectrogram as in the authors' figures: power mel, dB relative to the maximum."""
    mel = librosa_module().feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=sample_rate)
    return librosa_module().power_to_db(mel, ref=np.max)


def new_figure(rows: int, columns: int, width: float, height: float, **kwargs) -> tuple[plt.Figure, np.ndarray]:
    """A grid of panels whose layout engine keeps the overall title, panel titles and colour bars apart."""
    return plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained", **kwargs)


def save(fig: plt.Figure, path: str | Path) -> plt.Figure:
    with files.atomic_write(path) as f:  # the temporary file ends in .tmp, so name the format
        fig.savefig(f, dpi=120, format=Path(path).suffix.lstrip(".") or None)
    plt.close(fig)
    return fig


def log_mel_panel(ax: plt.Axes, y: np.ndarray, sample_rate: int, title: str) -> matplotlib.collections.QuadMesh:
    image = librosa_module().display.specshow(log_mel_db(y, sample_rate), sr=sample_rate, x_axis="s", y_axis="mel",
                                              ax=ax, vmin=DB_RANGE[0], vmax=DB_RANGE[1])
    ax.set_title(title, fontsize=10)
    return image
