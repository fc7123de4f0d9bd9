"""The listening page: every reconstruction and codec baseline of a run's clips as audio players, with its sizes and
scores, in one static HTML file (``results/listen/index.html``). No Snakemake here.

Why these choices:

* **Audio format**: 24-bit FLAC, one file per player under ``media/``, each stored once however many tables show
  it. FLAC is lossless and plays in every current browser (Chrome, Edge, Firefox, Safari); 24 bits keep the
  float reconstructions to within 2^-24 of full scale (the page clips at full scale, as any player would), so what
  is heard is what was scored. A lossy page format (Opus, MP3) would add its own artefacts to the artefacts being
  compared. The exact float WAVs and the compressed files (``.ssr``, ``.opus``, ``.mp3``) are linked beside each
  player.
* **Static and relative**: no script, no server, no network; every link is relative to the page, so it works
  opened from disk and in a copy of the whole results folder.
* **Large runs**: the page holds ``listen.clips`` clips per dataset (see :func:`siamese_siren.pipeline.plan.spread`);
  players have ``preload="none"`` and thumbnails ``loading="lazy"``, so the browser fetches only what is played or
  scrolled to.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import numpy as np
import pandas as pd
import soundfile as sf

from siamese_siren.codec import files, numba_cache
from siamese_siren.codec.audio import resample, write_audio
from siamese_siren.codec.bitstream import kbps as file_kbps
from siamese_siren.metrics import vocabulary

from .mushra import Trial, nearest_bitrate
from .precision import Precision, reconstruction_file

#: Thumbnail size in pixels (mel bands x time columns) and its dB range below the reference's loudest band.
THUMB_BANDS, THUMB_COLUMNS, THUMB_FLOOR_DB = 48, 192, -80.0


class RunFiles(Protocol):
    """Where a run keeps the files the page plays (the workflow's results layout is one)."""

    def clip(self, dataset: str, batch: str, clip: str) -> str: ...
    def reconstructions(self, dataset: str, variant: str, batch: str) -> str: ...
    def compressed(self, dataset: str, variant: str, setting: str, batch: str) -> str: ...
    def codec(self, dataset: str, codec: str, batch: str) -> str: ...


@dataclass(frozen=True)
class Player:
    """One row of a clip's table: a file to hear and what is known about it."""

    label: str  # what is heard: "reference", a variant, "opus 12 kbps"
    slug: str  # its media file name, without extension, unique within the clip
    audio: Path  # the exact decoded file the page's FLAC is made from
    original: Path | None = None  # what a user would store: the .ssr or the codec's own file
    precision: str = ""
    denoise: str = ""
    tables: tuple[str, ...] = ()
    bytes: float = math.nan
    kbps: float = math.nan
    scores: Mapping[str, float] = field(default_factory=dict)
    codec: str = ""  # a codec baseline's codec and nominal bitrate
    bitrate: int = 0


def _scores(row: pd.Series | None) -> dict[str, float]:
    if row is None:
        return {}
    return {m: float(row[m]) for m in vocabulary.COLUMNS if m in row and pd.notna(row[m])}


def _one(frame: pd.DataFrame, **match: object) -> pd.Series | None:
    """The row of ``frame`` whose columns equal ``match``, or None (a missing score shows as a blank, not an error)."""
    hit = frame[np.logical_and.reduce([frame[k] == v for k, v in match.items()])] if len(frame) else frame
    return hit.iloc[0] if len(hit) else None


def clip_players(
    layout: RunFiles,
    dataset: str,
    clip: str,
    batch: str,
    entries: Sequence[tuple[str, str, str, Sequence[str]]],
    scores: pd.DataFrame,
    sizes: pd.DataFrame,
    codec_scores: pd.DataFrame,
    float_bytes: Mapping[str, int],
    codec_extensions: Mapping[str, str],
    seconds: float,
) -> list[Player]:
    """The reference, then every reconstruction and codec decode of one clip ordered by kbps.

    ``entries``: (variant, precision, denoise, tables) as :meth:`Plan.listen_entries` gives them; ``scores``: the
    per-batch score records; ``sizes``: the compressed folders' sizes.csv rows (dataset, variant, setting, clip,
    bytes); ``codec_scores``: the codec score records, which carry their sizes (kbps of the payload, as the
    rate-distortion table counts them); ``float_bytes``: a variant's float32 weights in bytes (what a float
    precision would store); ``seconds``: the clip's length.
    """
    players = []
    for name, precision, denoise, tables in entries:
        setting = Precision.parse(precision).setting
        if setting is None:
            n_bytes = float(float_bytes[name])
        else:
            size = _one(sizes, dataset=dataset, variant=name, clip=clip, setting=setting)
            n_bytes = float(size["bytes"]) if size is not None else math.nan
        players.append(Player(
            label=name, slug=f"{name}__{precision}__{denoise}", precision=precision, denoise=denoise,
            tables=tuple(tables), bytes=n_bytes, kbps=file_kbps(n_bytes, seconds),
            audio=Path(layout.reconstructions(dataset, name, batch)) / reconstruction_file(clip, precision, denoise),
            original=Path(layout.compressed(dataset, name, setting, batch)) / f"{clip}.ssr" if setting else None,
            scores=_scores(_one(scores, dataset=dataset, variant=name, clip=clip, precision=precision,
                                denoise=denoise))))
    for row in codec_scores[(codec_scores["dataset"] == dataset) & (codec_scores["clip"] == clip)].itertuples():
        folder, stem = Path(layout.codec(dataset, row.codec, batch)), f"{clip}__{row.target_kbps}k"
        players.append(Player(
            label=f"{row.codec} {row.target_kbps} kbps", slug=f"{row.codec}-{row.target_kbps}k",
            audio=folder / f"{stem}.wav", original=folder / f"{stem}.{codec_extensions[row.codec]}",
            bytes=float(row.payload_bytes), kbps=float(row.kbps), scores=_scores(pd.Series(row._asdict())),
            codec=row.codec, bitrate=int(row.target_kbps)))
    players.sort(key=lambda p: (math.isnan(p.kbps), p.kbps, p.label))
    return [Player(label="reference", slug="reference", audio=Path(layout.clip(dataset, batch, clip))), *players]


def mel_power(samples: np.ndarray, rate: int, clip_rate: int) -> np.ndarray:
    """A thumbnail's mel power (THUMB_BANDS x at most THUMB_COLUMNS), always computed at the clip's rate.

    Every player of a clip is drawn the same way (a 48 kHz Opus decode is resampled first), so that two thumbnails
    differ only where the sounds do.
    """
    numba_cache.configure()  # numba compiles as librosa is imported
    import librosa

    y = resample(np.asarray(samples, dtype=np.float32), rate, clip_rate) if rate != clip_rate else samples
    hop = max(1, math.ceil(len(y) / THUMB_COLUMNS))
    return librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=clip_rate, n_fft=1024,
                                          hop_length=hop, n_mels=THUMB_BANDS)[:, :THUMB_COLUMNS]


def write_thumbnail(power: np.ndarray, reference_power: float, path: Path) -> None:
    """A PNG of ``power`` in dB below ``reference_power`` (THUMB_FLOOR_DB to 0 dB), low bands at the bottom."""
    from matplotlib.image import imsave  # no figure, no backend: a PNG of the array itself

    db = 10.0 * np.log10(np.maximum(power, 1e-20) / max(reference_power, 1e-20))
    with files.atomic_write(path) as f:
        imsave(f, db[::-1], cmap="magma", vmin=THUMB_FLOOR_DB, vmax=0.0, format="png")


def write_media(players: Sequence[Player], folder: Path, clip_rate: int) -> dict[str, float]:
    """Each player's FLAC and thumbnail in ``folder`` (``<slug>.flac``, ``<slug>.png``); returns seconds per slug.

    The first player (the reference) sets every thumbnail's 0 dB: its loudest band.
    """
    folder.mkdir(parents=True, exist_ok=True)
    seconds, reference_power = {}, None
    for player in players:
        samples, rate = sf.read(player.audio, dtype="float32")
        write_audio(folder / f"{player.slug}.flac", samples, rate, subtype="PCM_24")
        power = mel_power(samples, rate, clip_rate)
        reference_power = float(power.max()) if reference_power is None else reference_power
        write_thumbnail(power, reference_power, folder / f"{player.slug}.png")
        seconds[player.slug] = len(samples) / rate
    return seconds


# ---- HTML ---------------------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:middle;white-space:nowrap}
td.w{white-space:normal;min-width:9em}
th{background:#f4f4f4}
td.l,th.l{text-align:left}
tr.ref td{background:#f7fbff}
audio{width:160px;height:32px}
img{display:block;width:192px;height:48px;image-rendering:pixelated}
.tag{font-size:11px;background:#eef;border-radius:3px;padding:0 4px;margin-right:2px}
nav a{margin-right:.8em}
"""


def _href(path: Path | str, page_folder: Path) -> str:
    return quote(Path(os.path.relpath(path, page_folder)).as_posix())


def _number(value: float, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _means_table(name: str, table: pd.DataFrame) -> str:
    """A paper table's shown cells (mean ± CI, N), rows by dataset then kbps."""
    columns = [c for c in ("dataset", "variant", "params", "file bytes", "kbps") if c in table]
    columns += [m.label for m in vocabulary.VOCABULARY if m.label in table]
    rows = table.sort_values(["dataset", "kbps"], kind="stable") if "kbps" in table else table
    head = "".join(f'<th class="{"l" if c in ("dataset", "variant") else ""}">{html.escape(c)}</th>' for c in columns)
    def cell(row: pd.Series, column: str) -> str:
        text = "n/a" if pd.isna(row[column]) else str(row[column])  # CSV reads the tables' "n/a" back as NaN
        return f'<td class="{"l" if column in ("dataset", "variant") else ""}">{html.escape(text)}</td>'

    body = "".join("<tr>" + "".join(cell(r, c) for c in columns) + "</tr>" for _, r in rows.iterrows())
    return f'<h3>{html.escape(name)}</h3><div class="wide"><table><tr>{head}</tr>{body}</table></div>'


def _clip_table(dataset: str, clip: str, players: Sequence[Player], media: Path, page_folder: Path,
                metrics: Sequence[str]) -> str:
    head = ("<tr><th class=l>listen</th><th class=l>log-mel</th><th class=l>what</th><th class=l>precision</th>"
            "<th class=l>denoise</th><th>bytes</th><th>kbps</th>"
            + "".join(f"<th>{html.escape(vocabulary.label(m))}</th>" for m in metrics)
            + "<th class=l>files</th></tr>")
    rows = []
    for p in players:
        stem = media / dataset / clip / p.slug
        links = [f'<a href="{_href(p.audio, page_folder)}">wav</a>']
        if p.original is not None:
            links.append(f'<a href="{_href(p.original, page_folder)}">{html.escape(p.original.suffix[1:])}</a>')
        tags = "".join(f'<span class="tag">{html.escape(t)}</span>' for t in p.tables)
        row_class = ' class="ref"' if p.slug == "reference" else ""
        rows.append(
            f"<tr{row_class}>"
            f'<td class=l><audio controls preload="none" src="{_href(stem.with_suffix(".flac"), page_folder)}">'
            f"</audio></td>"
            f'<td class=l><img loading="lazy" alt="log-mel of {html.escape(p.label)}" '
            f'src="{_href(stem.with_suffix(".png"), page_folder)}"></td>'
            f"<td class='l w'>{html.escape(p.label)} {tags}</td><td class=l>{html.escape(p.precision)}</td>"
            f"<td class=l>{html.escape(p.denoise)}</td><td>{_number(p.bytes, 0)}</td><td>{_number(p.kbps, 1)}</td>"
            + "".join(f"<td>{_number(p.scores.get(m, math.nan), 2)}</td>" for m in metrics)
            + f"<td class=l>{' '.join(links)}</td></tr>")
    anchor = html.escape(f"{dataset}--{clip}")
    return f'<h3 id="{anchor}">{html.escape(clip)}</h3><div class="wide"><table>{head}{"".join(rows)}</table></div>'


def render(
    title: str,
    page: Mapping[str, Mapping[str, Sequence[Player]]],
    tables: Mapping[str, pd.DataFrame],
    media: Path,
    page_folder: Path,
    note: str = "",
) -> str:
    """The page: per-table means, then per dataset and clip a table of players. ``page``: {dataset: {clip: players}}."""
    metrics = [m for m in vocabulary.COLUMNS
               if any(m in p.scores for clips in page.values() for ps in clips.values() for p in ps)]
    nav = "".join(f'<a href="#{html.escape(d)}">{html.escape(d)} ({len(clips)} clips)</a>' for d, clips in page.items())
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{note}</p><nav>{nav}</nav>", "<h2>Table means (every clip of the run)</h2>"]
    parts += [_means_table(name, table) for name, table in tables.items()]
    for dataset, clips in page.items():
        parts.append(f'<h2 id="{html.escape(dataset)}">{html.escape(dataset)}</h2>')
        parts += [_clip_table(dataset, clip, players, media, page_folder, metrics) for clip, players in clips.items()]
    parts.append("</body></html>\n")
    return "".join(parts)


def build_page(
    index: Path,
    media: Path,
    page: Mapping[str, Mapping[str, Sequence[Player]]],
    tables: Mapping[str, pd.DataFrame],
    clip_rate: int,
    title: str,
    note: str = "",
) -> dict[str, float]:
    """Write every player's media under ``media/<dataset>/<clip>/`` and the page at ``index``; the page is written
    last, so a page on disk always finds its files. Returns seconds per media file (relative to ``media``)."""
    seconds = {}
    for dataset, clips in page.items():
        for clip, players in clips.items():
            made = write_media(players, media / dataset / clip, clip_rate)
            seconds.update({f"{dataset}/{clip}/{slug}.flac": s for slug, s in made.items()})
    files.write_text(index, render(title, page, tables, media, index.parent, note))
    return seconds


# ---- the MUSHRA kit's trials --------------------------------------------------------------------------------


def kit_trial(dataset: str, clip: str, players: Sequence[Player], codecs: Mapping[str, Sequence[int]] | None,
              clip_rate: int) -> Trial:
    """A MUSHRA trial of one clip from its page players: each variant once, at its first table's precision and
    denoising, and each codec at the bitrates ``codecs`` names (None: the run bitrate nearest the median kbps of
    the variants' files on this clip), every signal at the clip's rate."""
    variants: dict[str, Player] = {}
    for player in players:
        if player.tables and player.label not in variants:
            variants[player.label] = player
    median = float(np.nanmedian([p.kbps for p in variants.values()])) if variants else math.nan
    run: dict[str, list[int]] = {}
    for player in players:
        if player.codec:
            run.setdefault(player.codec, []).append(player.bitrate)
    wanted = codecs if codecs is not None else {c: [nearest_bitrate(rates, median)] for c, rates in run.items()}
    chosen = list(variants.values()) + [p for p in players if p.codec and p.bitrate in wanted.get(p.codec, ())]

    def load(player: Player) -> np.ndarray:
        samples, rate = sf.read(player.audio, dtype="float32")
        return resample(samples, rate, clip_rate) if rate != clip_rate else samples

    return Trial(
        id=f"{dataset}--{clip}", dataset=dataset, clip=clip, rate=clip_rate, reference=load(players[0]),
        conditions={p.slug: load(p) for p in chosen},
        described={p.slug: {"label": p.label, "precision": p.precision, "denoise": p.denoise, "kbps": p.kbps}
                   for p in chosen})
