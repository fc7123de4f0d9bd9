"""A blind listening test kit (MUSHRA, ITU-R BS.1534-3) for webMUSHRA, and the analysis of its ratings.

The kit (``results/listen/mushra/``, made by :func:`write_kit`): one webMUSHRA ``mushra`` page per clip with the
hidden reference, the 3.5 kHz low-pass anchor the recommendation asks for, and the chosen conditions (variants
and codec baselines). Within a page every stimulus has the clip's sample rate, one loudness (equal RMS, lowered
together where a peak would clip) and one length (with 20 ms fades, so that no cut clicks), as 24-bit WAV, the
format webMUSHRA loads. Condition names are the stimuli keys, which webMUSHRA shows to nobody (the page is blind)
and writes into its ratings.

The analysis: :func:`read_ratings` reads the CSV webMUSHRA exports (``results/<testId>/mushra.csv``:
``trial_id``, ``rating_stimulus``, ``rating_score``, ...), :func:`ratings_table` makes one row per condition: mean
score, 95% confidence interval (Student t) and N, and :func:`screen` first applies the recommendation's
post-screening: a listener who rates the hidden reference below 90 in more than 15% of the trials is left out.
From the shell: ``siamese-siren mushra mushra.csv --listener COLUMN`` (see :mod:`siamese_siren.cli`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from siamese_siren.codec import files
from siamese_siren.codec.audio import write_audio

#: The low-pass anchor's cut-off (ITU-R BS.1534-3, the "low-quality anchor").
ANCHOR_CUTOFF_HZ = 3500.0
#: Where the kit's folder goes inside webMUSHRA: its config paths are relative to webMUSHRA's root.
WEBMUSHRA_FOLDER = "configs/siamese-siren"
REFERENCE, ANCHOR = "reference", "anchor35"
FADE_SECONDS = 0.02
#: Post-screening (BS.1534-3): the hidden reference below this score ...
SCREEN_SCORE = 90
#: ... in more than this share of a listener's trials excludes the listener.
SCREEN_SHARE = 0.15
#: The columns of webMUSHRA's ``mushra.csv`` the analysis needs.
RATING_COLUMNS = ("rating_stimulus", "rating_score")


class RatingsError(ValueError):
    """A ratings file cannot be analysed; the message names the file and the fix."""


def lowpass_anchor(reference: np.ndarray, rate: int, cutoff: float = ANCHOR_CUTOFF_HZ) -> np.ndarray:
    """The reference low-passed at ``cutoff``: zero-phase (no delay against the others), 8th-order Butterworth."""
    from scipy.signal import butter, sosfiltfilt

    return sosfiltfilt(butter(8, cutoff, fs=rate, output="sos"), reference).astype(np.float32)


def nearest_bitrate(bitrates: Sequence[int], kbps: float) -> int:
    """The bitrate closest to ``kbps`` (the lower one on a tie)."""
    return min(sorted(bitrates), key=lambda b: abs(b - kbps))


def match_loudness(signals: Mapping[str, np.ndarray], target_rms: float = 0.1,
                   headroom: float = 0.99) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every signal scaled to one RMS level, and the gains in dB.

    The level is ``target_rms`` (-20 dBFS) or lower where needed so that no scaled peak passes ``headroom``:
    clipping one stimulus would be a difference of the kit's making.
    """
    rms = {k: float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) for k, x in signals.items()}
    peak = {k: float(np.max(np.abs(x))) for k, x in signals.items()}
    level = min([target_rms] + [headroom * rms[k] / peak[k] for k in signals if peak[k] > 0])
    gains = {k: level / rms[k] if rms[k] > 0 else 1.0 for k in signals}
    return ({k: (x * gains[k]).astype(np.float32) for k, x in signals.items()},
            {k: float(20 * np.log10(g)) for k, g in gains.items()})


def trim(signals: Mapping[str, np.ndarray], samples: int, rate: int) -> dict[str, np.ndarray]:
    """Every signal cut to ``samples`` (or the shortest) with raised-cosine fades at both ends."""
    n = min([samples] + [len(x) for x in signals.values()])
    fade = min(int(FADE_SECONDS * rate), n // 2)
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade, dtype=np.float32))
    envelope = np.ones(n, dtype=np.float32)
    if fade:
        envelope[:fade], envelope[n - fade:] = ramp, ramp[::-1]
    return {k: x[:n] * envelope for k, x in signals.items()}


@dataclass(frozen=True)
class Trial:
    """One page of the test: a clip, its reference and the conditions to rate, all at ``rate``."""

    id: str
    dataset: str
    clip: str
    rate: int
    reference: np.ndarray
    conditions: Mapping[str, np.ndarray]  # condition name -> signal
    described: Mapping[str, Mapping[str, object]]  # condition name -> what it is (variant, precision, kbps, ...)


def write_kit(folder: Path, trials: Sequence[Trial], seconds: float, title: str) -> pd.DataFrame:
    """The kit in ``folder``: ``config.yaml`` (webMUSHRA), ``audio/<trial>/<condition>.wav``, ``conditions.csv``
    (what every stimulus is, its gain) and ``README.md`` (how to run it); returns the conditions table."""
    pages, rows = [], []
    for trial in trials:
        signals = {REFERENCE: trial.reference, ANCHOR: lowpass_anchor(trial.reference, trial.rate),
                   **trial.conditions}
        matched, gains = match_loudness(trim(signals, round(seconds * trial.rate), trial.rate))
        paths = {}
        for name, signal in matched.items():
            relative = f"audio/{trial.id}/{name}.wav"
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            write_audio(folder / relative, signal, trial.rate, subtype="PCM_24")
            paths[name] = f"{WEBMUSHRA_FOLDER}/{relative}"
            rows.append({"trial_id": trial.id, "condition": name, "dataset": trial.dataset, "clip": trial.clip,
                         "seconds": len(signal) / trial.rate, "gain_db": gains[name], "file": relative,
                         **trial.described.get(name, {})})
        pages.append({
            "type": "mushra", "id": trial.id, "name": f"{trial.dataset}: {trial.clip}",
            "content": "Rate the basic audio quality of each condition against the reference (0-100).",
            "showWaveform": True, "enableLooping": True, "randomize": True, "reference": paths[REFERENCE],
            "createAnchor35": False, "createAnchor70": False,  # the kit's own anchor is a stimulus
            "stimuli": {k: v for k, v in paths.items() if k != REFERENCE}})
    config = {"testname": title, "testId": "siamese_siren", "bufferSize": 2048, "stopOnErrors": True,
              "showButtonPreviousPage": True, "remoteService": "service/write.php",
              "pages": [["random", *pages],
                        {"type": "finish", "name": "Thank you", "content": "Thank you for listening.",
                         "showResults": False, "writeResults": True}]}
    # JSON is YAML: webMUSHRA reads it, and the kit needs no YAML package in the report environment
    files.write_text(folder / "config.yaml", json.dumps(config, indent=2) + "\n")
    table = pd.DataFrame(rows)
    with files.atomic_write(folder / "conditions.csv", "w", newline="") as f:
        table.to_csv(f, index=False)
    files.write_text(folder / "README.md", _readme(folder.name))
    return table


def _readme(name: str) -> str:
    return f"""# MUSHRA kit (ITU-R BS.1534-3)

One page per clip: hidden reference, 3.5 kHz low-pass anchor (`{ANCHOR}`) and the conditions of
`conditions.csv`, loudness-matched (equal RMS) and trimmed to one length, pages in random order.

1. Copy this folder into webMUSHRA as `{WEBMUSHRA_FOLDER}/` (config paths are relative to webMUSHRA's root).
2. Serve webMUSHRA (its PHP service writes the ratings) and open
   `?config={WEBMUSHRA_FOLDER.split('/', 1)[1]}/config.yaml`.
3. After the sessions: `siamese-siren mushra results/siamese_siren/mushra.csv --listener <a questionnaire
   column naming the listener>` prints the mean score and 95% CI of every condition.

Made from the run's files by the workflow's `listen` rule (folder `{name}`).
"""


def read_ratings(path: str | Path) -> pd.DataFrame:
    """The ratings webMUSHRA wrote to ``path`` (its ``mushra.csv``), checked: a CSV with at least one rating, the
    columns of :data:`RATING_COLUMNS` and numeric scores; else :class:`RatingsError`."""
    fix = "give the mushra.csv webMUSHRA wrote (results/<testId>/mushra.csv)"
    try:
        ratings = pd.read_csv(path)
    except pd.errors.EmptyDataError as err:
        raise RatingsError(f"{path}: holds no CSV table; {fix}") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise RatingsError(f"{path}: is not a CSV file ({str(err).strip().splitlines()[0]}); {fix}") from err
    missing = [c for c in RATING_COLUMNS if c not in ratings.columns]
    if missing:
        raise RatingsError(f"{path}: no column {', '.join(missing)}, so not webMUSHRA's ratings of mushra pages; {fix}")
    if ratings.empty:
        raise RatingsError(f"{path}: holds no ratings, only a header; run the sessions first")
    if not pd.api.types.is_numeric_dtype(ratings["rating_score"]):
        raise RatingsError(f"{path}: column rating_score holds text, not numbers; {fix}")
    return ratings


def screen(ratings: pd.DataFrame, listener: str) -> tuple[pd.DataFrame, list[str]]:
    """BS.1534-3 post-screening: ratings without the listeners who scored the hidden reference below
    SCREEN_SCORE in more than SCREEN_SHARE of their trials, and those listeners."""
    hidden = ratings[ratings["rating_stimulus"] == REFERENCE]
    share_low = (hidden["rating_score"] < SCREEN_SCORE).groupby(hidden[listener]).mean()
    excluded = sorted(str(x) for x in share_low[share_low > SCREEN_SHARE].index)
    return ratings[~ratings[listener].astype(str).isin(excluded)], excluded


def ratings_table(ratings: pd.DataFrame) -> pd.DataFrame:
    """Mean, 95% CI half-width and N of the scores of each condition (``rating_stimulus``), best first."""
    from .statistics import mean_ci

    rows = [{"condition": name, **dict(zip(("mean", "ci95", "n"), mean_ci(group["rating_score"]), strict=True))}
            for name, group in ratings.groupby("rating_stimulus")]
    return pd.DataFrame(rows).sort_values("mean", ascending=False, ignore_index=True)

