"""GTZAN and LibriSpeech: small archives with the real layouts, made from the shipped recordings, served over a
loopback HTTP server, through the real download -> verify -> extract -> manifest -> prepare rules of Snakemake."""

import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.codec.audio import resample
from siamese_siren.pipeline import datasets
from siamese_siren.pipeline.datasets import SOURCES, build_manifest, download, selected_clips
from siamese_siren.pipeline.layout import Layout, batch_of, batches

CLIPS_PER_JOB = 64  # training.clips_per_job's default: clips are prepared a batch at a time

ROOT = Path(__file__).resolve().parents[1]
AUDIO = ROOT / "resources" / "audio"
SPEECH = sorted(AUDIO.glob("speech_*.flac"))
MUSIC = sorted(AUDIO.glob("music_*.flac"))
# LibriSpeech: <speaker>-<chapter>-<utterance>
UTTERANCES = ["19-198-0000", "19-198-0001", "26-495-0000", "26-495-0001", "26-495-0002"]


def _wav_bytes(samples: np.ndarray, sr: int, fmt: str = "WAV", subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


def _gtzan_files() -> dict[str, bytes]:
    """genres/<genre>/<genre>.000NN.wav as GTZAN has them (22050 Hz mono 16 bit), plus the usual trouble."""
    files = {}
    for genre, (i, path) in zip(["blues", "country", "disco", "rock"], enumerate(MUSIC), strict=True):
        x, sr = sf.read(path, dtype="float32", always_2d=True)
        mono = x.mean(axis=1)[: 4 * sr]
        files[f"genres/{genre}/{genre}.0000{i}.wav"] = _wav_bytes(resample(mono, sr, 22050), 22050)
    # the original distribution's format (Sun .au) is accepted too
    x, sr = sf.read(MUSIC[0], dtype="float32", frames=22050 * 3)
    files["genres/blues/blues.00007.au"] = _wav_bytes(x, sr, fmt="AU")
    files["genres/blues/._blues.00000.wav"] = b"\x00\x05\x16\x07 macOS AppleDouble metadata"
    files["genres/jazz/jazz.00054.wav"] = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4  # corrupt
    files["genres/classical/classical.00000.wav"] = _wav_bytes(np.zeros(22050 * 2, np.float32), 22050)  # silent
    files["genres/bextract_single.mf"] = b"genres/blues/blues.00000.wav\tblues\n"
    return files


def _librispeech_files() -> dict[str, bytes]:
    files = {"LibriSpeech/README.TXT": b"LibriSpeech ASR corpus (test copy)\n", "LibriSpeech/SPEAKERS.TXT": b""}
    chapters = {}
    for utt, path in zip(UTTERANCES, SPEECH, strict=True):
        spk, chap, _ = utt.split("-")
        files[f"LibriSpeech/train-clean-100/{spk}/{chap}/{utt}.flac"] = path.read_bytes()
        chapters.setdefault((spk, chap), []).append(f"{utt} SOME WORDS READ ALOUD")
    for (spk, chap), lines in chapters.items():
        files[f"LibriSpeech/train-clean-100/{spk}/{chap}/{spk}-{chap}.trans.txt"] = "\n".join(lines).encode()
    return files


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_300_000_000
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Server:
    """A loopback HTTP server of in-memory files with HTTP Range support; `cut_after` bytes simulates a dropped
    connection (the full Content-Length is announced, then the connection closes)."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.cut_after, self.requests = files, None, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                data = server.files.get(self.path.lstrip("/"))
                server.requests.append((self.path, self.headers.get("Range")))
                if data is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                if rng := self.headers.get("Range"):
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    status = 206
                self.send_response(status)
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body = body[: server.cut_after]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def archives():
    gtzan, libri = _tar_gz(_gtzan_files()), _tar_gz(_librispeech_files())
    return {"genres.tar.gz": gtzan, "train-clean-100.tar.gz": libri}


@pytest.fixture(scope="module")
def server(archives):
    s = Server(dict(archives))
    yield s
    s.close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snakemake(*args: str, configfiles: list[Path], results: Path, check: bool = True):
    """Targets and options first: --config swallows what follows it."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args, "--cores", "2", "--configfile",
           *map(str, configfiles), "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(f"snakemake failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}")
    return done


def write_config(path: Path, downloads: Path, server: Server, archives: dict, **overrides) -> Path:
    config = {
        "sources": {
            "folder": str(downloads),
            "gtzan": {"urls": [f"{server.url}/genres.tar.gz"], "sha256": sha(archives["genres.tar.gz"])},
            "librispeech": {
                # a dead mirror first: the next one is tried
                "urls": [f"{server.url}/gone/train-clean-100.tar.gz", f"{server.url}/train-clean-100.tar.gz"],
                "sha256": sha(archives["train-clean-100.tar.gz"]),
                "bytes": len(archives["train-clean-100.tar.gz"]),
            },
        },
        "datasets": {
            "gtzan": {"kind": "music", "source": "gtzan"},
            "libri": {"kind": "speech", "source": "librispeech", "clips": 3, "seed": 1},
        },
    }
    for key, value in overrides.items():
        config[key].update(value)
    path.write_text(yaml.safe_dump(config))
    return path


def manifest_rows(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {r["clip"]: r for r in csv.DictReader(f)}


# ---- the library, without Snakemake ---------------------------------------------------------------------------


def test_schema_defaults_match_the_library():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    for name, source in SOURCES.items():
        spec = schema["properties"]["sources"]["properties"][name]["properties"]
        assert spec["urls"]["default"] == list(source.urls)
        assert spec["sha256"]["default"] == source.sha256
        assert spec["bytes"]["default"] == source.size
    assert SOURCES["librispeech"].size == 6_387_309_499


def test_manifest_and_seeded_selection(tmp_path):
    for name, data in {**_gtzan_files(), **_librispeech_files()}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    rows = {r.clip: r for r in build_manifest("gtzan", tmp_path / "genres")}
    assert sorted(rows) == ["blues.00000", "blues.00007", "classical.00000", "country.00001", "disco.00002",
                            "jazz.00054", "rock.00003"]
    assert rows["jazz.00054"].status == "skipped" and "unreadable" in rows["jazz.00054"].reason
    assert rows["classical.00000"].status == "skipped" and "silence" in rows["classical.00000"].reason
    assert rows["blues.00007"].source.endswith(".au") and rows["blues.00007"].status == "selected"
    assert rows["blues.00000"].genre == "blues" and rows["blues.00000"].sample_rate == 22050
    assert rows["blues.00000"].channels == 1 and rows["blues.00000"].duration == pytest.approx(4.0)
    # N of M by the seeded rule: reproducible, different seeds can differ, labels parsed from the path
    picks = {seed: [r.clip for r in build_manifest("librispeech", tmp_path, clips=2, seed=seed)
                    if r.status == "selected"] for seed in range(6)}
    assert all(len(p) == 2 for p in picks.values()) and len({tuple(p) for p in picks.values()}) > 1
    assert picks[3] == [r.clip for r in build_manifest("librispeech", tmp_path, clips=2, seed=3)
                        if r.status == "selected"]
    libri = {r.clip: r for r in build_manifest("librispeech", tmp_path / "LibriSpeech")}
    assert sorted(libri) == UTTERANCES and (libri["26-495-0001"].speaker, libri["26-495-0001"].chapter) == ("26", "495")
    assert {r.status for r in libri.values()} == {"selected"} and libri["19-198-0000"].sample_rate == 16000


def test_download_from_python_resumes_and_checks(server, archives, tmp_path):
    data = archives["genres.tar.gz"]
    server.cut_after = len(data) // 3
    dest = tmp_path / "g.tar.gz"
    with pytest.raises(datasets.DatasetError, match="kept in .*to resume"):
        download([f"{server.url}/genres.tar.gz"], sha(data), dest, progress=False)
    kept = (tmp_path / "g.tar.gz.part").stat().st_size
    assert 0 < kept <= len(data) // 3 and not dest.exists()
    server.cut_after = None
    server.requests.clear()
    download([f"{server.url}/genres.tar.gz"], sha(data), dest, progress=False)
    assert server.requests == [("/genres.tar.gz", f"bytes={kept}-")]
    assert dest.read_bytes() == data and sorted(p.name for p in tmp_path.iterdir()) == ["g.tar.gz"]


# ---- through Snakemake ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(server, archives, tmp_path_factory):
    """The real path: download (with a dead mirror) -> verify -> extract -> manifest -> prepared clips."""
    tmp = tmp_path_factory.mktemp("datasets")
    results, downloads = tmp / "results", tmp / "downloads"
    config = write_config(tmp / "datasets.yaml", downloads, server, archives)
    targets = [str(results / "manifests" / f"{d}.csv") for d in ("gtzan", "libri")]
    snakemake(*targets, configfiles=[config], results=results)
    clips = {d: selected_clips(results / "manifests" / f"{d}.csv") for d in ("gtzan", "libri")}
    snakemake(*clip_folders(results, clips), configfiles=[config], results=results)
    return results, downloads, config, clips


def clip_folders(results: Path, clips: dict) -> list[str]:
    return [Layout(str(results)).clips(d, b) for d in clips for b in batches(list(clips[d]), CLIPS_PER_JOB)]


def prepared_clip(results: Path, clips: dict, dataset: str, clip: str) -> str:
    return Layout(str(results)).clip(dataset, batch_of(batches(list(clips[dataset]), CLIPS_PER_JOB), clip), clip)


@pytest.mark.slow  # runs the real Snakemake
def test_manifests_list_every_file_and_skip_the_bad_ones(prepared):
    results, downloads, _, clips = prepared
    gtzan = manifest_rows(results / "manifests" / "gtzan.csv")
    assert list(next(iter(gtzan.values()))) == ["clip", "source", "duration", "sample_rate", "channels", "genre",
                                                "speaker", "chapter", "status", "reason"]
    assert gtzan["jazz.00054"]["status"] == "skipped" and gtzan["jazz.00054"]["reason"].startswith("unreadable")
    assert gtzan["classical.00000"]["status"] == "skipped" and "silence" in gtzan["classical.00000"]["reason"]
    assert not any("._" in r["source"] for r in gtzan.values())
    assert sorted(clips["gtzan"]) == ["blues.00000", "blues.00007", "country.00001", "disco.00002", "rock.00003"]
    libri = manifest_rows(results / "manifests" / "libri.csv")
    assert sorted(libri) == UTTERANCES
    assert sorted(r["status"] for r in libri.values()) == ["selected"] * 3 + ["unselected"] * 2
    assert len(clips["libri"]) == 3 and set(clips["libri"]) < set(UTTERANCES)
    # the archives stay where sources.folder says, nothing half-written beside them
    assert sorted(p.name for p in downloads.iterdir()) == ["gtzan", "gtzan.tar.gz", "librispeech",
                                                           "librispeech.tar.gz"]


@pytest.mark.slow  # runs the real Snakemake
def test_prepared_clips_are_the_papers(prepared):
    results, _, _, clips = prepared
    for dataset, ids in clips.items():
        rows = manifest_rows(results / "manifests" / f"{dataset}.csv")
        for cid in ids:
            x, sr = sf.read(prepared_clip(results, clips, dataset, cid), dtype="float32")
            assert sr == 22050 and x.shape == (220_500,)  # mono, first 10 s, zero-padded
            assert np.max(np.abs(x)) == pytest.approx(1.0)  # peak-normalised
            end = int(np.ceil(float(rows[cid]["duration"]) * 22050))  # every test recording is shorter than 10 s
            assert x[end - 2000 : end].any() and not x[end + 1 :].any()


@pytest.mark.slow  # runs the real Snakemake
def test_a_second_run_does_nothing(prepared):
    results, _, config, clips = prepared
    out = snakemake(*clip_folders(results, clips), "--dry-run", configfiles=[config], results=results)
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow  # runs the real Snakemake
def test_wrong_checksum_is_a_clear_error_and_leaves_no_file(server, archives, tmp_path):
    downloads = tmp_path / "downloads"
    config = write_config(tmp_path / "c.yaml", downloads, server, archives, sources={
        "folder": str(downloads), "gtzan": {"urls": [f"{server.url}/genres.tar.gz"], "sha256": "0" * 64}})
    out = snakemake(str(downloads / "gtzan.tar.gz"), configfiles=[config], results=tmp_path / "r", check=False)
    assert out.returncode != 0
    assert "wrong checksum" in out.stderr and "sources.gtzan.sha256" in out.stderr
    assert "0" * 64 in (tmp_path / "r" / "logs" / "datasets" / "download_gtzan.log").read_text()
    assert not downloads.exists() or list(downloads.iterdir()) == []  # no archive, no .part, no temporary file


@pytest.mark.slow  # runs the real Snakemake
def test_interrupted_download_resumes(server, archives, tmp_path):
    downloads, data = tmp_path / "downloads", archives["train-clean-100.tar.gz"]
    config = write_config(tmp_path / "c.yaml", downloads, server, archives)
    target = str(downloads / "librispeech.tar.gz")
    server.cut_after = len(data) // 2
    try:
        out = snakemake(target, configfiles=[config], results=tmp_path / "r", check=False)
    finally:
        server.cut_after = None
    assert out.returncode != 0 and not (downloads / "librispeech.tar.gz").exists()
    kept = (downloads / "librispeech.tar.gz.part").stat().st_size
    assert 0 < kept <= len(data) // 2
    server.requests.clear()
    snakemake(target, configfiles=[config], results=tmp_path / "r")
    assert ("/train-clean-100.tar.gz", f"bytes={kept}-") in server.requests
    assert (downloads / "librispeech.tar.gz").read_bytes() == data
    assert not (downloads / "librispeech.tar.gz.part").exists()


@pytest.mark.slow  # runs the real Snakemake
def test_paper_config_with_an_archive_and_a_folder_the_user_has(prepared, archives, tmp_path):
    """config/paper.yaml (the README's command) with sources.*.path: nothing is downloaded, the DAG trains only
    the manifest's clips."""
    _, downloads, _, _ = prepared
    archive = tmp_path / "my-genres.tar.gz"
    archive.write_bytes(archives["genres.tar.gz"])
    folder = tmp_path / "LibriSpeech"
    shutil.copytree(downloads / "librispeech" / "LibriSpeech", folder)
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"sources": {"folder": str(tmp_path / "dl"), "gtzan": {"path": str(archive)},
                                                "librispeech": {"path": str(folder)}}}))
    results = tmp_path / "results"
    # the small test variants, then the paper's datasets, then where the user's data is
    configs = [ROOT / "tests" / "workflow" / "config.yaml", ROOT / "config" / "paper.yaml", mine]
    manifests = [str(results / "manifests" / f"{d}.csv") for d in ("gtzan", "librispeech")]
    snakemake(*manifests, configfiles=configs, results=results)
    out = snakemake("--dry-run", configfiles=configs, results=results)
    jobs = out.stdout + out.stderr
    assert "download_dataset" not in jobs and "rule train:" in jobs
    assert "dataset=gtzan" in jobs and "dataset=librispeech" in jobs and "dataset=speech" not in jobs
    assert "jazz.00054" not in jobs and "classical.00000" not in jobs
    assert "using it anyway" in (results / "logs" / "datasets" / "extract_gtzan.log").read_text()
