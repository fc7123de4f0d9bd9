"""Digests of a training's artifacts, checked before anything trusts them.

:func:`~siamese_siren.codec.train.save_result` records in ``{clip}.json``, which it writes last, the size and
SHA-256 of every file it wrote before it (``{clip}.pt``, ``{clip}.snapshots.pt``, ``{clip}.loss.csv``), under
``"files"``. Whoever reuses or loads them checks them first, so a truncated or damaged file is never trusted:

- the training cache (:func:`~siamese_siren.codec.train.train_and_save`) trains a clip again, with a warning;
- :func:`~siamese_siren.codec.train.load_state` and the workflow's ``verify_models`` jobs stop with one line naming
  the file, what is wrong with it and the fix (:class:`DamagedArtifact`).

A record written before digests were recorded (no ``"files"``) is accepted as it is, but its weights must still load
with torch (:func:`load_check`): such a folder was written by an earlier version of this package, and retraining all
of it for lack of a digest would cost hours. This module imports no torch unless it meets such a record, so a check
of a folder of digests costs a few file reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path

#: The key of ``{clip}.json`` that lists the files written before it: {file name: {"bytes": n, "sha256": hex}}.
FILES_KEY = "files"
#: The artifacts of a clip that its record lists, each ``{clip}{suffix}``; the record itself is ``{clip}.json``.
RECORDED_SUFFIXES = (".pt", ".snapshots.pt", ".loss.csv")
_CHUNK = 1 << 20


class DamagedArtifact(ValueError):
    """A training artifact that is missing, truncated or damaged: one line naming the file, what is wrong and the
    fix."""


class CacheContention(RuntimeError):
    """Another process kept removing or rewriting the training-cache entries this one was publishing
    (:func:`~siamese_siren.codec.train.train_and_save`): one line naming the clip, the cache and the fix."""


#: The errors whose message is one line naming the file and the fix: a workflow job ends with that line, not a
#: traceback (:func:`siamese_siren.pipeline.jobs.start`).
ONE_LINE_ERRORS = (DamagedArtifact, CacheContention)


def describe(data: bytes) -> dict:
    """What a record lists of a file: its size and SHA-256."""
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def file_sha256(path: str | Path) -> tuple[int, str]:
    """(bytes, SHA-256) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def fix(folder: str | Path) -> str:
    """What to do about a damaged artifact of ``folder``: in the workflow, a missing folder is what makes Snakemake
    train the batch again; for :func:`~siamese_siren.codec.train.train_and_save` any clip without its record is."""
    return f"delete the folder {folder} and run again, which trains its clips again"


def damaged(path: str | Path, problem: str) -> DamagedArtifact:
    return DamagedArtifact(f"{path}: {problem}; {fix(Path(path).parent)}")


def short(err: BaseException) -> str:
    """An exception as a few words: its type and the first line of its message."""
    text = (str(err).strip() or "no detail").splitlines()[0]
    return f"{type(err).__name__}: {text if len(text) <= 100 else text[:97] + '...'}"


def clip_of(path: str | Path) -> str | None:
    """The clip whose artifact ``path`` is (``x.snapshots.pt`` -> ``x``), or None for another kind of file."""
    name = Path(path).name
    for suffix in sorted(RECORDED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _record(path: Path) -> tuple[dict | None, str | None]:
    """(the record, None), or (None, what is wrong with it)."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None, "is missing (it is written last, when the clip's training has finished)"
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return None, f"cannot be read as a JSON record ({short(err)}): truncated or damaged"
    if not isinstance(record, dict):
        return None, "is not a training record (a JSON object)"
    return record, None


def read_record(path: str | Path) -> dict:
    """A clip's ``.json`` record; a record that cannot be read is a :class:`DamagedArtifact`."""
    record, problem = _record(Path(path))
    if problem:
        raise damaged(path, problem)
    return record


def listed(record: dict) -> dict | None:
    """The files a record lists with their digests; None for a record written before digests were recorded."""
    files = record.get(FILES_KEY)
    return files if isinstance(files, dict) else None


def mismatch(size: int, sha256: str, entry: object, record_name: str) -> str | None:
    """What is wrong with a file of ``size`` bytes and digest ``sha256`` against its record's ``entry``; None: it
    matches."""
    if not isinstance(entry, dict) or "sha256" not in entry:
        return f"is not listed in its record {record_name}"
    expected = entry.get("bytes")
    if isinstance(expected, int) and size < expected:
        return f"is truncated ({size} of the {expected} bytes its record {record_name} lists)"
    if sha256 != entry["sha256"]:
        return f"does not match the SHA-256 its record {record_name} lists ({size} bytes): it is damaged"
    return None


def check_bytes(path: str | Path, data: bytes) -> None:
    """Raise :class:`DamagedArtifact` when ``data``, read from ``path``, does not match the digest the clip's record
    beside it lists. Nothing is checked for a file that is no clip's artifact, or whose folder holds no record, or
    whose record predates digests."""
    clip = clip_of(path)
    record_path = Path(path).with_name(f"{clip}.json") if clip else None
    if record_path is None or not record_path.exists():
        return
    files = listed(read_record(record_path))
    if files is None:
        return
    size, sha256 = describe(data).values()
    problem = mismatch(size, sha256, files.get(Path(path).name), record_path.name)
    if problem:
        raise damaged(path, problem)


def load_check(path: str | Path) -> None:
    """Whether torch can load ``path`` as weights (only for records without digests: this imports torch)."""
    import torch

    torch.load(path, map_location="cpu", weights_only=True)


def clip_problem(folder: str | Path, clip: str,
                 load: Callable[[Path], object] | None = load_check) -> tuple[Path, str] | None:
    """The first artifact of ``clip`` in ``folder`` that is missing or does not match its record, and what is wrong
    with it; None when every one matches. With a record without digests, the ``.pt`` files must load with ``load``
    (skipped when None)."""
    folder = Path(folder)
    record_path = folder / f"{clip}.json"
    record, problem = _record(record_path)
    if problem:
        return record_path, problem
    files = listed(record)
    for suffix in RECORDED_SUFFIXES:
        path = folder / f"{clip}{suffix}"
        try:
            problem = _file_problem(path, files, record_path.name, load)
        except FileNotFoundError:
            problem = f"is missing (its record {record_path.name} is there)"
        if problem:
            return path, problem
    return None


def _file_problem(path: Path, files: dict | None, record_name: str,
                  load: Callable[[Path], object] | None) -> str | None:
    if files is not None:
        return mismatch(*file_sha256(path), files.get(path.name), record_name)
    path.stat()  # a record without digests: the file must at least be there, and its weights load
    if load is None or not path.name.endswith(".pt"):
        return None
    try:
        load(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001 - whatever a truncated file makes torch raise
        return f"cannot be loaded as weights ({short(err)}): truncated or damaged"
    return None


def verify_folder(folder: str | Path, clips: Iterable[str],
                  load: Callable[[Path], object] | None = load_check) -> list[str]:
    """Check every artifact of ``clips`` in ``folder`` (:func:`clip_problem`); ``sha256sum``-style lines
    (``<digest>  <folder name>/<file>``) of every file when all are sound, else :class:`DamagedArtifact` naming the
    first bad file (and how many more there are) and the fix."""
    folder = Path(folder)
    clips = list(clips)
    problems = [p for p in (clip_problem(folder, clip, load) for clip in clips) if p]
    if problems:
        (path, problem), more = problems[0], len(problems) - 1
        others = f" (and {more} more clip{'s' if more > 1 else ''} of this folder)" if more else ""
        raise damaged(path, problem + others)
    lines = []
    for clip in clips:
        for suffix in (*RECORDED_SUFFIXES, ".json"):
            _size, sha256 = file_sha256(folder / f"{clip}{suffix}")
            lines.append(f"{sha256}  {folder.name}/{clip}{suffix}\n")
    return lines
