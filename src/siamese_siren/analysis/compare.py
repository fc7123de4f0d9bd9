"""Compare two results folders: did a change alter any result? From the shell: ``siamese-siren compare A B``.

What counts as a result, and is compared exactly: every ``.ssr`` byte, every sample of every WAV/FLAC file (not its
header: libsndfile stamps float WAVs with the time they were written), every Ogg packet (not the stream serial
the muxer draws at random), every value of every CSV (tables, per-clip
scores, sizes, losses, manifests), trained weights, and JSON records. What is not: logs,
benchmarks, the training cache, and the fields that record when, how fast or where a job ran. Figures (PNG) are
compared byte for byte but listed apart, since a figure's look may change on purpose while its data does not.

CSV files are compared as tables: rows in any order (sorted on every column), and a column present on one side
only is reported as a note (a refactor may add a column, as the plan layer added dataset/variant/setting to
``sizes.csv``), never silently dropped from the comparison of the columns both have. A file that differs and
cannot be parsed as its kind (a damaged CSV, WAV or ``.pt`` on one side) is a difference, named as such; a file
that cannot be read at all raises the :class:`OSError`.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Folders that record how a run went, not what it produced.
NOT_RESULTS = ("logs", "benchmarks", ".train-cache", ".snakemake")
#: Record fields that change from run to run with the same results.
VOLATILE_FIELDS = ("wall_seconds", "device_name", "seconds_per_step")
#: Score-record columns that say which package version produced a value: differ after an upgrade, not a change.
VOLATILE_COLUMNS = ("_version",)


@dataclass
class Comparison:
    differences: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: int = 0

    @property
    def identical(self) -> bool:
        return not self.differences

    def report(self) -> list[str]:
        """The comparison as lines of text: notes, differing figures, differences, then a one-line verdict."""
        verdict = "identical results" if self.identical else f"{len(self.differences)} results differ"
        return ([f"note: {line}" for line in self.notes] + [f"figure: {line}" for line in self.figures]
                + [f"DIFFERENT: {line}" for line in self.differences]
                + [f"{self.compared} files compared: {verdict}; {len(self.figures)} figures differ"])


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not set(p.relative_to(root).parts[:1]) & set(NOT_RESULTS)}


def _csv_difference(a: Path, b: Path, rtol: float, atol: float) -> tuple[str | None, str | None]:
    left, right = pd.read_csv(a), pd.read_csv(b)
    note = None
    if set(left.columns) != set(right.columns):
        only = sorted(set(left.columns) ^ set(right.columns))
        note = f"columns on one side only: {only}"
    common = [c for c in left.columns if c in right.columns and not c.endswith(VOLATILE_COLUMNS)]
    if len(left) != len(right):
        return f"{len(left)} vs {len(right)} rows", note
    left = left[common].sort_values(common, ignore_index=True, na_position="first")
    right = right[common].sort_values(common, ignore_index=True, na_position="first")
    for column in common:
        x, y = left[column], right[column]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            x, y = x.to_numpy(float), y.to_numpy(float)
            same = (np.array_equal(x, y, equal_nan=True) if rtol == atol == 0
                    else np.allclose(x, y, rtol, atol, equal_nan=True))
        else:
            same = x.astype(str).equals(y.astype(str))
        if not same:
            return f"column {column!r} differs", note
    return None, note


def _json_difference(a: Path, b: Path) -> str | None:
    def stable(path: Path) -> object:
        record = json.loads(path.read_text())
        if isinstance(record, dict):
            return {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
        return record

    return None if stable(a) == stable(b) else "values differ"


def _ogg_payload(data: bytes) -> bytes:
    """An Ogg file with each page's stream serial number and checksum zeroed: the muxer draws the serial at
    random, so two encodes of the same audio differ there and nowhere else."""
    out, pos = bytearray(data), 0
    while pos + 27 <= len(data) and data[pos : pos + 4] == b"OggS":
        segments = data[pos + 26]
        size = 27 + segments + sum(data[pos + 27 : pos + 27 + segments])
        out[pos + 14 : pos + 18] = out[pos + 22 : pos + 26] = bytes(4)
        pos += size
    return bytes(out)


def _audio_difference(a: Path, b: Path) -> str | None:
    import soundfile as sf

    (x, rate_x), (y, rate_y) = sf.read(a, dtype="float64"), sf.read(b, dtype="float64")
    if (rate_x, sf.info(a).subtype) != (rate_y, sf.info(b).subtype):
        return "sample rate or sample format differs"
    return None if x.shape == y.shape and np.array_equal(x, y) else "samples differ"


def _weights_difference(a: Path, b: Path, roots: tuple[str, str]) -> str | None:
    import torch

    left, right = (torch.load(p, map_location="cpu", weights_only=True) for p in (a, b))

    def flat(state: object, prefix: str = "") -> dict:
        if isinstance(state, dict):
            return {k: v for key, value in state.items() for k, v in flat(value, f"{prefix}{key}.").items()}
        return {prefix: state}

    def stable(state: object, root: str) -> dict:
        """Its values but those that record how the run went, with the folder's own path made the same."""
        return {key: _unrooted(value, root) if isinstance(value, str) else value
                for key, value in flat(state).items() if not set(key.rstrip(".").split(".")) & set(VOLATILE_FIELDS)}

    left, right = stable(left, roots[0]), stable(right, roots[1])
    if left.keys() != right.keys():
        return "different tensors"
    same = all(torch.equal(left[k], right[k]) if isinstance(left[k], torch.Tensor) else left[k] == right[k]
               for k in left)
    return None if same else "weights differ"


#: What parsing a damaged file raises (pandas' and json's errors are ValueErrors; libsndfile's a RuntimeError);
#: TypeError: a CSV column mixing numbers and text, which cannot be sorted.
_DAMAGED = (ValueError, TypeError, RuntimeError, EOFError, pickle.UnpicklingError)


def _unrooted(text: str, root: str) -> str:
    """``text`` with a results folder's own path (absolute, or as given when it names a subfolder) as <results>."""
    for spelling in dict.fromkeys([str(Path(root).resolve()), root if "/" in root.strip("/") else ""]):
        if spelling:
            text = text.replace(spelling, "<results>")
    return text


def _text_difference(a: Path, b: Path, roots: tuple[str, str]) -> str | None:
    """Text whose only difference is each run's own results folder (a report names the run) is the same."""
    try:
        left, right = a.read_text(), b.read_text()
    except UnicodeDecodeError:
        return "bytes differ"
    return None if _unrooted(left, roots[0]) == _unrooted(right, roots[1]) else "bytes differ"


def _difference(x: Path, y: Path, rtol: float, atol: float, notes: list[str], name: str,
                roots: tuple[str, str]) -> str | None:
    """What differs between the results ``x`` and ``y``, whose bytes differ, by their kind; None: nothing."""
    suffix = x.suffix
    if suffix == ".csv":
        problem, note = _csv_difference(x, y, rtol, atol)
        if note:
            notes.append(f"{name}: {note}")
        return problem
    if suffix == ".json":
        return _json_difference(x, y)
    if suffix in (".opus", ".ogg"):
        return None if _ogg_payload(x.read_bytes()) == _ogg_payload(y.read_bytes()) else "packets differ"
    if suffix in (".wav", ".flac"):
        return _audio_difference(x, y)
    if suffix == ".pt":
        return _weights_difference(x, y, roots)
    return _text_difference(x, y, roots)


def compare_results(a: str | Path, b: str | Path, rtol: float = 0.0, atol: float = 0.0) -> Comparison:
    """Every result of folder ``a`` against folder ``b``; see the module docstring for what counts.

    ``rtol`` > 0 lets numbers in CSV files differ by that relative amount: ViSQOL's parallel numba code and CDPAM's
    float32 network change the last bits of a score from run to run on the same inputs. ``atol`` > 0 lets them
    differ by that much: pystoi's ESTOI moves by up to about 1e-6 between two calls on the same arrays in one
    process (numpy's vectorised sums depend on where the arrays happen to lie in memory), which near 0 is a large
    relative change.
    """
    a, b = Path(a), Path(b)
    roots = (str(a), str(b))
    out = Comparison()
    left, right = _files(a), _files(b)
    for name in sorted(left ^ right):
        out.differences.append(f"{name}: only in {a if name in left else b}")
    for name in sorted(left & right):
        x, y = a / name, b / name
        out.compared += 1
        if x.read_bytes() == y.read_bytes():
            continue
        suffix = x.suffix
        if suffix == ".png":
            out.figures.append(f"{name}: figure pixels or metadata differ")
            continue
        try:
            problem = _difference(x, y, rtol, atol, out.notes, name, roots)
        except _DAMAGED as err:  # one side (at least) is not a file of its kind: that is a difference too
            detail = (str(err).strip() or "no detail").splitlines()[0]
            detail = detail if len(detail) <= 80 else detail[:77] + "..."
            problem = f"cannot be compared as {suffix or 'a file'} ({type(err).__name__}: {detail})"
        if problem:
            out.differences.append(f"{name}: {problem}")
    return out

