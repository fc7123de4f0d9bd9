"""The paper's datasets: checksummed download, extraction, and a manifest of clips.

Usable without Snakemake. The workflow calls, per public dataset (GTZAN, LibriSpeech train-clean-100):

1. :func:`download` - the archive from a list of mirrors with pooch (SHA-256 check; a download that is cut off
   resumes from ``<archive>.part`` on the next try; a file whose checksum is wrong is deleted, never kept);
2. :func:`extract` - the archive (tar or zip) into a folder, all or nothing;
3. :func:`build_manifest` - every audio file of the layout with its duration, native rate, channels and label,
   a seeded selection of N clips, and every unreadable or silent file recorded as skipped with the reason;
   :func:`write_manifest` / :func:`read_manifest` / :func:`selected_clips` for the CSV.

Clip ids are file names and Snakemake wildcard values: GTZAN's and LibriSpeech's come from their file names; a
user's folder's from each file's relative path (:func:`folder_clip_ids`: non-empty, unique, ``A-Za-z0-9_.+-``
only, at most :data:`MAX_CLIP_ID` characters, the same on every run for the same names). The manifest's
``source`` keeps the file's own path, whatever its characters.

Selection rule (:func:`select`): the readable files sorted by clip id are the candidates. With ``clips`` unset
(or at least the number of candidates) every candidate is taken. Otherwise the candidates are visited in the
order ``numpy.random.default_rng(seed).permutation(len(candidates))`` and the first ``clips`` of them that load
as a clip (:func:`siamese_siren.codec.audio.load_clip` with the run's rate, offset and length) are taken; a candidate
that fails to load (unreadable, or silent in the selected window) is recorded as skipped and the next one is
visited. The same files, seed and settings always give the same clips.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import sys
import tarfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import soundfile as sf

from siamese_siren.codec.audio import AudioError, load_clip
from siamese_siren.codec.files import atomic_write

SELECTED, UNSELECTED, SKIPPED = "selected", "unselected", "skipped"


class DatasetError(RuntimeError):
    """A dataset cannot be downloaded, extracted or read; the message names the file or URL and the fix."""


@dataclass(frozen=True)
class Source:
    """A public dataset: where its archive lives and how its clip files are named."""

    name: str
    archive: str  # file name of the archive
    urls: tuple[str, ...]  # mirrors, tried in order
    sha256: str
    size: int | None  # bytes of the archive, when known
    #: the file name of one clip; named groups become label columns of the manifest
    file_pattern: re.Pattern
    id_format: str  # clip id from the pattern's groups

    def clip_id(self, filename: str) -> tuple[str, dict[str, str]] | None:
        m = self.file_pattern.match(filename)
        return (self.id_format.format(**m.groupdict()), m.groupdict()) if m else None


SOURCES: dict[str, Source] = {
    # The original host (opihi.cs.uvic.ca) is gone since 2022; the checksum is the one torchaudio uses.
    "gtzan": Source(
        name="gtzan",
        archive="genres.tar.gz",
        urls=("https://huggingface.co/datasets/marsyas/gtzan/resolve/main/data/genres.tar.gz",),
        sha256="24347e0223d2ba798e0a558c4c172d9d4a19c00bb7963fe055d183dadb4ef2c6",
        size=None,
        file_pattern=re.compile(r"^(?P<genre>[a-z]+)\.(?P<number>\d{5})\.(?:wav|au)$", re.IGNORECASE),
        id_format="{genre}.{number}",
    ),
    # OpenSLR resource 12, train-clean-100.
    "librispeech": Source(
        name="librispeech",
        archive="train-clean-100.tar.gz",
        urls=(
            "https://www.openslr.org/resources/12/train-clean-100.tar.gz",
            "https://us.openslr.org/resources/12/train-clean-100.tar.gz",
            "https://openslr.elda.org/resources/12/train-clean-100.tar.gz",
            "https://openslr.magicdatatech.com/resources/12/train-clean-100.tar.gz",
        ),
        sha256="d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2",
        size=6_387_309_499,
        file_pattern=re.compile(r"^(?P<speaker>\d+)-(?P<chapter>\d+)-(?P<utterance>\d+)\.flac$", re.IGNORECASE),
        id_format="{speaker}-{chapter}-{utterance}",
    ),
}


# ---- download -----------------------------------------------------------------------------------------------


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class ResumableDownloader:
    """A pooch downloader that keeps what it got in ``partial`` and asks only for the rest next time (HTTP Range).

    pooch hands it a temporary file; the finished ``partial`` is moved there, so pooch's hash check decides
    whether it becomes the archive or is deleted.
    """

    def __init__(self, partial: Path, progress: bool = True, size: int | None = None, timeout: float = 60.0):
        self.partial, self.progress, self.size, self.timeout = Path(partial), progress, size, timeout

    def __call__(self, url: str, output_file: str, pooch_obj: object = None, check_only: bool = False) -> bool | None:
        import requests
        from tqdm.auto import tqdm

        if check_only:
            with requests.head(url, allow_redirects=True, timeout=self.timeout) as r:
                return r.status_code == 200
        have = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        with requests.get(url, headers=headers, stream=True, timeout=self.timeout, allow_redirects=True) as r:
            if have and r.status_code == 416:  # nothing left to fetch: the partial file is complete
                shutil.move(self.partial, output_file)
                return None
            r.raise_for_status()
            resumed = have > 0 and r.status_code == 206
            if have and not resumed:
                print(f"{url}: the server does not resume downloads; starting again", file=sys.stderr)
            elif resumed:
                print(f"{url}: resuming after {have} bytes", file=sys.stderr)
            start = have if resumed else 0
            length = r.headers.get("Content-Length")
            total = start + int(length) if length is not None else self.size
            interactive = sys.stderr.isatty()
            with open(self.partial, "ab" if resumed else "wb") as f, tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, desc=self.partial.name,
                disable=not self.progress, mininterval=0.5 if interactive else 30, file=sys.stderr,
            ) as bar:
                # raw bytes (never a decoded Content-Encoding), in blocks small enough that a dropped
                # connection loses little of what arrived
                for block in r.raw.stream(1 << 16, decode_content=False):
                    f.write(block)
                    bar.update(len(block))
        shutil.move(self.partial, output_file)
        return None


def download(
    urls: Sequence[str], sha256: str, dest: str | Path, *, size: int | None = None, progress: bool = True
) -> Path:
    """Download ``dest`` from the first mirror that works and check its SHA-256.

    A cut-off download leaves ``<dest>.part`` and resumes from it next time (from any mirror). A download whose
    checksum is wrong is deleted and the next mirror is tried. Raises :class:`DatasetError` naming every mirror's
    failure when none gives the right file; ``dest`` then does not exist.
    """
    import pooch
    import requests
    import urllib3

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        downloader = ResumableDownloader(partial, progress=progress, size=size)
        try:
            pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=dest.name, path=dest.parent,
                           downloader=downloader)
            return dest
        except ValueError as err:  # pooch: the hash does not match; its temporary file is already deleted
            partial.unlink(missing_ok=True)
            failures.append(f"{url}: wrong checksum ({' '.join(str(err).split())})")
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            kept = f"; {partial.stat().st_size} bytes kept in {partial} to resume" if partial.exists() else ""
            failures.append(f"{url}: {type(err).__name__}: {err}{kept}")
    raise DatasetError(
        f"could not download {dest.name} with SHA-256 {sha256}:\n  " + "\n  ".join(failures)
        + "\nRun again to resume, add a working mirror, or download the archive yourself and point the config at it"
    )


# ---- extraction ---------------------------------------------------------------------------------------------


def extract(archive: str | Path, dest: str | Path) -> Path:
    """Unpack a tar (any compression) or zip archive into the folder ``dest``: all of it or, on error, nothing."""
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise DatasetError(f"{archive}: no such archive; check the path")
    tmp = dest.with_name(dest.name + ".extracting")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tar:
                if hasattr(tarfile, "data_filter"):  # refuses absolute paths, .. and links out of the folder
                    tar.extractall(tmp, filter="data")
                else:  # pragma: no cover - Python < 3.10.12 / 3.11.4
                    for member in tar.getmembers():
                        target = (tmp / member.name).resolve()
                        if not target.is_relative_to(tmp.resolve()) or member.issym() or member.islnk():
                            raise DatasetError(f"{archive}: unsafe member {member.name!r}; refusing to extract")
                    tar.extractall(tmp)
        elif zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)  # zipfile never writes outside the folder
        else:
            raise DatasetError(f"{archive}: neither a tar nor a zip archive; download it again")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DatasetError(f"{archive}: cannot extract ({err}); the file is damaged, download it again") from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


# ---- manifest -----------------------------------------------------------------------------------------------


@dataclass
class ManifestRow:
    clip: str
    source: str  # the audio file
    duration: float | None = None  # seconds, native
    sample_rate: int | None = None  # native
    channels: int | None = None
    genre: str = ""
    speaker: str = ""
    chapter: str = ""
    status: str = UNSELECTED  # selected | unselected | skipped
    reason: str = ""


COLUMNS = [f.name for f in fields(ManifestRow)]


def _audio_files(root: Path) -> Iterable[Path]:
    """Every file under root in sorted order, without macOS metadata (``._*``, ``__MACOSX``) or hidden folders."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__MACOSX")
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


#: The longest clip id: names that would give a longer one are cut and given a hash. Later stages add up to
#: ``__<precision>__<denoise>.wav`` and a temporary name's 14 bytes to an id, within a file name's 255 bytes.
MAX_CLIP_ID = 128
#: What the workflow accepts as a clip id (its ``clip`` wildcard constraint, workflow/rules/common.smk).
CLIP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]")
#: Snakemake refuses a wildcard value whose end repeats one substring 20 times or more (its PeriodicityDetector).
_PERIODIC_REPEATS = 20


def _digest(relative_path: str | Path, length: int = 8, raw: bool = False) -> str:
    """A stable hash of a relative path, in Unicode's NFC form (the same for a copy on macOS, which stores names
    in NFD) or, ``raw``, of its bytes exactly as the filesystem has them; any name, even one that is not UTF-8."""
    text = Path(relative_path).as_posix()
    return hashlib.sha256(os.fsencode(text if raw else unicodedata.normalize("NFC", text))).hexdigest()[:length]


def _periodic(text: str) -> bool:
    return any(text[-_PERIODIC_REPEATS * n:] == text[-n:] * _PERIODIC_REPEATS
               for n in range(1, len(text) // _PERIODIC_REPEATS + 1))


def _with_hash(base: str, digest: str) -> str:
    """``base-<digest>`` within :data:`MAX_CLIP_ID` (``base`` cut as needed), or ``clip-<digest>`` without a base."""
    base = (base or "clip")[: MAX_CLIP_ID - len(digest) - 1]
    return f"{base}-{digest}"


def _asked_id(relative_path: str | Path) -> tuple[str, str, bool]:
    """(the id a file asks for alone, that id without a hash, whether the id is the name itself: ASCII, nothing
    replaced, cut or added)."""
    text = str(Path(relative_path).with_suffix(""))
    lost = False
    if not text.isascii():  # accents and compatibility forms folded to ASCII (é -> e, ﬁ -> fi); the rest is lost
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
        lost = not text.isascii()
    base = _UNSAFE.sub("_", text).lstrip("._+-")
    if lost or not base or len(base) > MAX_CLIP_ID or _periodic(base):
        return _with_hash(base, _digest(relative_path)), base, False
    return base, base, base == text


def folder_clip_id(relative_path: str | Path) -> str:
    """The clip id of a file of a user's folder, from its path relative to the folder, when no other file's name
    gives the same id (:func:`folder_clip_ids` decides between those).

    An ASCII name keeps the id it always had: the path without its suffix, every character other than
    ``A-Za-z0-9_.+-`` (``/`` too) replaced by ``_``, leading ``._-`` removed (``sub/a b.wav`` -> ``sub_a_b``); a
    leading ``+``, which the workflow never took, is now removed too. Other names are first folded to ASCII
    (NFKD without accents: ``café`` -> ``cafe``). A short hash of the relative path is appended (``<id>-<hash>``)
    when some of the name could not be folded (``日本語 1`` -> ``1-<hash>``), when nothing is left
    (``clip-<hash>``), to a name cut to :data:`MAX_CLIP_ID` characters, and to one that Snakemake would refuse as
    periodic (20 repeats at its end). The id is non-empty, matches
    :data:`CLIP_ID` and depends only on the relative path.
    """
    return _asked_id(relative_path)[0]


def folder_clip_ids(relative_paths: Iterable[str | Path]) -> list[str]:
    """The clip ids of a folder's files (paths relative to it), in the given order: unique per name without suffix.

    Files whose paths differ only in the suffix (``a.wav``, ``a.flac``) share an id (the manifest keeps the
    first, sorted, and records the other as a duplicate). Different names that give the same id
    (``a b.wav``, ``a?b.wav``, ``a_b.wav``; ``café`` in NFC and NFD) are told apart: the name that is its own id
    (``a_b``) keeps it, or else the first by sorted path; each of the others gets ``<id>-<hash of its path>``.
    The ids depend on the set of names, not on the order they are given in.
    """
    paths = [Path(p) for p in relative_paths]
    stems: dict[Path, Path] = {}  # name without suffix -> the first (sorted) path with it
    for path in sorted(paths):
        stems.setdefault(path.with_suffix(""), path)
    asked = {stem: _asked_id(path) for stem, path in stems.items()}

    def preference(stem: Path) -> tuple:  # the name that is its id, then a name in NFC form (as Linux keeps it)
        return not asked[stem][2], unicodedata.normalize("NFC", str(stem)) != str(stem), stem

    claims: dict[str, list[Path]] = {}
    for stem in stems:
        claims.setdefault(asked[stem][0], []).append(stem)
    ids = {min(claimants, key=preference): cid for cid, claimants in claims.items()}
    taken = set(ids.values())
    for stem in sorted(set(stems) - set(ids), key=preference):
        for length, raw in ((8, False), (8, True), (16, True), (64, True)):  # raw: NFC and NFD of one name
            cid = _with_hash(asked[stem][1], _digest(stems[stem], length, raw))
            if cid not in taken:
                break
        ids[stem] = cid
        taken.add(cid)
    return [ids[path.with_suffix("")] for path in paths]


def _rows(named_files: Iterable[tuple[Path, str, dict[str, str]]]) -> list[ManifestRow]:
    """A row per (file, clip id, labels), sorted by clip id, with header facts or why the file is skipped.

    Duration, rate and channels come from the file header; a file whose header cannot be read, or a second file
    with the same clip id (e.g. both ``.au`` and ``.wav``), is recorded as skipped with the reason.
    """
    rows: dict[str, ManifestRow] = {}
    duplicates: list[ManifestRow] = []
    for path, cid, labels in named_files:
        row = ManifestRow(clip=cid, source=str(path), **labels)
        if not _utf8(row.source):  # the manifest is UTF-8 text: keep the name readable, escaped, and skip the file
            row.source = row.source.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            row.status, row.reason = SKIPPED, "the file name is not UTF-8 text; rename the file"
            duplicates.append(row)
            continue
        if cid in rows:
            row.status, row.reason = SKIPPED, f"duplicate of {rows[cid].source}"
            duplicates.append(row)
            continue
        try:
            info = sf.info(str(path))
            row.duration, row.sample_rate, row.channels = round(info.duration, 6), info.samplerate, info.channels
            if info.frames == 0:
                row.status, row.reason = SKIPPED, "no samples"
        except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as err:
            row.status, row.reason = SKIPPED, f"unreadable: {' '.join(str(err).split())}"
        rows[cid] = row
    return sorted([*rows.values(), *duplicates], key=lambda r: (r.clip, r.status == SKIPPED, r.source))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a name of bytes that are not UTF-8, as Python's surrogate escapes
        return False
    return True


def _folder(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder; point the config at the extracted dataset or its archive")
    return root


def scan(source: Source, root: str | Path) -> list[ManifestRow]:
    """One row per clip file of ``source``'s layout under ``root`` (any depth), sorted by clip id."""
    root = _folder(root)
    named = ((path, *source.clip_id(path.name)) for path in _audio_files(root) if source.clip_id(path.name))
    rows = _rows((path, cid, {k: v for k, v in groups.items() if k in ("genre", "speaker", "chapter")})
                 for path, cid, groups in named)
    if not rows:
        raise DatasetError(
            f"{root}: no {source.name} files (like {source.id_format}) found; point the config at the extracted "
            "dataset or its archive"
        )
    return rows


def scan_folder(root: str | Path, pattern: str = "*") -> list[ManifestRow]:
    """One row per file of a user's own folder matching ``pattern`` (a glob, ``**`` recursive), by clip id.

    Any file counts, audio or not: a text file named ``.wav`` is listed as skipped with the reason, not ignored.
    """
    root = _folder(root)
    files = sorted(p for p in root.glob(pattern) if p.is_file()
                   and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts))
    ids = folder_clip_ids(path.relative_to(root) for path in files)
    rows = _rows((path, cid, {}) for path, cid in zip(files, ids, strict=True))
    if not rows:
        raise DatasetError(f"{root}: no files match {pattern!r}; fix the dataset's path or pattern")
    return rows


def clip_problem(path: str | Path, sample_rate: int, offset: float, seconds: float) -> str | None:
    """Why ``path`` cannot become a clip with these settings (unreadable, empty, silent...), or None."""
    try:
        load_clip(path, sample_rate=sample_rate, offset=offset, duration=seconds)
    except AudioError as err:
        message = str(err)
        return message.split(": ", 1)[1] if message.startswith(f"{path}: ") else message
    return None


def select(
    rows: list[ManifestRow], clips: int | None, seed: int | None, problem: Callable[[str], str | None]
) -> None:
    """Mark ``clips`` rows as selected by the module's seeded rule (in place); ``problem(source)`` vets each.

    ``seed=None`` takes the first usable clips in sorted order instead (a user folder's ``max_clips``).
    """
    candidates = [r for r in rows if r.status != SKIPPED]
    if clips is None or clips >= len(candidates) or seed is None:
        order = candidates  # sorted by clip id
    else:
        order = [candidates[i] for i in np.random.default_rng(seed).permutation(len(candidates))]
    taken = 0
    for row in order:
        if clips is not None and taken >= clips:
            row.status = UNSELECTED
            continue
        reason = problem(row.source)
        if reason:
            row.status, row.reason = SKIPPED, reason
        else:
            row.status, taken = SELECTED, taken + 1


def build_manifest(
    source: str | Source,
    root: str | Path,
    clips: int | None = None,
    seed: int | None = 0,
    sample_rate: int = 22050,
    offset: float = 0.0,
    seconds: float = 10.0,
    pattern: str = "*",
) -> list[ManifestRow]:
    """Scan ``root`` for ``source``'s files (``"folder"``: any file matching ``pattern``) and select ``clips`` of
    them (None = all) with ``seed`` (None = the first usable ones in sorted order)."""
    if source == "folder":
        rows = scan_folder(root, pattern)
    else:
        rows = scan(SOURCES[source] if isinstance(source, str) else source, root)
    select(rows, clips, seed, lambda path: clip_problem(path, sample_rate, offset, seconds))
    return rows


def write_manifest(rows: Iterable[ManifestRow], path: str | Path) -> None:
    """The manifest as CSV (UTF-8; any name, with commas, quotes, tabs or newlines, reads back as it was)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})


def read_manifest(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


#: What Snakemake reads in a path as a wildcard (``{name}``, ``{name,constraint}``): any brace, to be safe.
_SNAKEMAKE_PATTERN = re.compile(r"[{}]")


def source_links(manifest: str | Path) -> Path:
    """The folder beside a manifest with the links :func:`selected_clips` gives Snakemake for some sources."""
    manifest = Path(manifest)
    return manifest.with_name(manifest.stem + ".links")


def snakemake_path(path: str | Path, link: str | Path) -> str:
    """``path``, or where Snakemake would read braces in it as a wildcard (``{wild}.wav``), ``link``: a symbolic
    link to it, made when missing or pointing elsewhere and otherwise left as it is (its own time stays old).
    Snakemake follows a link to its target's time and contents, so a changed file is still seen."""
    path = str(path)
    if not _SNAKEMAKE_PATTERN.search(path):
        return path
    link, target = Path(link), os.path.abspath(path)
    if not (link.is_symlink() and os.readlink(link) == target):
        link.parent.mkdir(parents=True, exist_ok=True)
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, link)
    return str(link)


def _clip_link(manifest: str | Path, clip: str, source: str) -> Path:
    suffix = Path(source).suffix
    return source_links(manifest) / (clip + (suffix if re.fullmatch(r"\.[A-Za-z0-9]+", suffix) else ""))


def selected_clips(path: str | Path) -> dict[str, str]:
    """{clip id: audio file} of the selected clips of a manifest, sorted by clip id.

    The audio file is the manifest's ``source``, except where Snakemake would read braces in it as a wildcard
    (``{wild}.wav``): then it is a link to the source, ``<manifest>.links/<clip id><suffix>`` beside the manifest,
    made here when missing. A clip id the workflow cannot take (not :data:`CLIP_ID`, or periodic; as in a manifest
    an older version wrote for ``日本語.wav``: an empty id) is a :class:`DatasetError` saying to list the folder
    again.
    """
    rows = [r for r in read_manifest(path) if r["status"] == SELECTED]
    for r in rows:
        if not CLIP_ID.fullmatch(r["clip"]) or _periodic(r["clip"]):
            raise DatasetError(f"{path}: clip id {r['clip']!r} of {r['source']!r} is not a valid clip id (this "
                               "manifest was written by an older version); delete the manifest and run again")
    return dict(sorted((r["clip"], snakemake_path(r["source"], _clip_link(path, r["clip"], r["source"])))
                       for r in rows))
