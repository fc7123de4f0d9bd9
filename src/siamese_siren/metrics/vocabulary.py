"""The metric vocabulary: every metric's name, record column, direction, range, label and unit, in one place.

Tables, figures, findings, the listening page, rate control and the codec's ``--quality``/``--objective`` all read
it, so that a metric is spelled, ordered and judged the same way everywhere. A metric has two spellings: its
``name``, how configs, targets and objectives say it (``snr``), and its ``column`` in a score record (``snr_db``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # in configs, rate-control targets and objectives
    column: str  # in score records (siamese_siren.metrics.scoring)
    label: str  # in tables, figures and pages
    higher_is_better: bool
    low: float  # the values it can take: a target outside them cannot be met, an interval past them is flagged
    high: float
    unit: str = ""

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` beats ``b`` (NaN never beats anything)."""
        if math.isnan(a):
            return False
        return math.isnan(b) or (a > b if self.higher_is_better else a < b)

    def reaches(self, value: float, target: float) -> bool:
        """Whether ``value`` is at least as good as ``target`` (NaN reaches nothing)."""
        if math.isnan(value):
            return False
        return value >= target if self.higher_is_better else value <= target

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high


#: In the order of the paper's tables. The paper's "STOI" column is extended STOI, so it compares with ``estoi``.
VOCABULARY = (
    Metric("visqol", "visqol", "ViSQOL", True, 1.0, 5.0, "MOS-LQO"),
    Metric("cdpam", "cdpam", "CDPAM", False, 0.0, math.inf),
    Metric("pesq", "pesq", "PESQ", True, -0.5, 4.64, "MOS-LQO"),
    Metric("estoi", "estoi", "ESTOI", True, -1.0, 1.0),
    Metric("stoi", "stoi", "STOI", True, 0.0, 1.0),
    Metric("snr", "snr_db", "SNR (dB)", True, -math.inf, math.inf, "dB"),
    Metric("lsd", "lsd_db", "LSD (dB)", False, 0.0, math.inf, "dB"),
)
BY_NAME = {m.name: m for m in VOCABULARY}
BY_COLUMN = {m.column: m for m in VOCABULARY}
#: Record columns of every metric, in table order.
COLUMNS = tuple(BY_COLUMN)
#: The metrics a run or a call chooses to compute, in the order they are computed (SNR and LSD always are).
CHOSEN = ("visqol", "cdpam", "pesq", "stoi", "estoi")
#: What rate control may target or optimise (every metric but the log-spectral distance, a diagnostic).
TARGETABLE = ("snr", "visqol", "pesq", "stoi", "estoi", "cdpam")


def metric(name: str) -> Metric:
    """A metric by its name (``snr``) or its record column (``snr_db``)."""
    found = BY_NAME.get(name) or BY_COLUMN.get(name)
    if found is None:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(BY_NAME)}")
    return found


def label(column: str) -> str:
    """How a record column is labelled (the column itself where it is no metric)."""
    return BY_COLUMN[column].label if column in BY_COLUMN else column


def higher_is_better(column: str) -> bool:
    """Direction of a record column (a column that is no metric counts as higher-is-better)."""
    return BY_COLUMN[column].higher_is_better if column in BY_COLUMN else True
