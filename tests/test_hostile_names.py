"""Hostile file names in a user's dataset folder (issue 28, rows 4 and 5): a name that is entirely non-ASCII gave
an empty clip id and planning failed on ``clips/<dataset>/.wav``; braces (``{wild}.wav``) stopped planning with a
Snakemake WildcardError. Clip ids are now non-empty, unique, wildcard-safe, bounded and stable, ASCII names keep
the ids they had, the manifest keeps every name as it is, and a source with braces reaches Snakemake through a
link. The unit tests run in the quick tier; the last test runs the real Snakemake on such a folder."""

import csv
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.codec.audio import load_clip
from siamese_siren.pipeline.datasets import (
    CLIP_ID,
    MAX_CLIP_ID,
    SELECTED,
    SKIPPED,
    DatasetError,
    ManifestRow,
    build_manifest,
    folder_clip_id,
    folder_clip_ids,
    read_manifest,
    selected_clips,
    source_links,
    write_manifest,
)
from siamese_siren.pipeline.layout import Layout, batch_of, batches

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "resources" / "audio" / "speech_librivox_0870.flac"
TEST_CONFIG = ROOT / "tests" / "workflow" / "config.yaml"  # clips: 1 s from 0.5 s


def legacy_id(relative_path: str) -> str:
    """The id every folder file had before issue 28 (ASCII names must keep it: caches are named after it)."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(Path(relative_path).with_suffix(""))).lstrip("._-")


def periodic(value: str) -> bool:
    """Snakemake's PeriodicityDetector (min_repeat=20): refused as a wildcard value."""
    from snakemake.io import PeriodicityDetector

    return PeriodicityDetector().is_periodic(value) is not None


def wildcard_safe(cid: str) -> bool:
    return (bool(CLIP_ID.fullmatch(cid)) and len(cid) <= MAX_CLIP_ID and not periodic(cid)
            and not cid.startswith((".", "-")))


# ---- the ids ----------------------------------------------------------------------------------------------------


LONG = "".join(f"n{i:03d}" for i in range(MAX_CLIP_ID // 4))  # as long as an id can be, not periodic


def test_ascii_names_keep_their_ids():
    for name, cid in {"blues.00000.wav": "blues.00000", "speech_librivox_0870.flac": "speech_librivox_0870",
                      "good.flac": "good", "sub/a b.wav": "sub_a_b", "-lead.wav": "lead", "{wild}.wav": "wild_",
                      "x..y.wav": "x..y", "a+b-c.d.wav": "a+b-c.d", "q'\"uote.wav": "q__uote",
                      "new\nline.wav": "new_line", "%s.wav": "s", LONG + ".wav": LONG}.items():
        assert folder_clip_id(name) == cid == legacy_id(name)
    assert legacy_id("+x.wav") == "+x" and folder_clip_id("+x.wav") == "x"  # "+x" was never a clip the workflow took


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="ascii", exclude_characters="/\0"), min_size=1, max_size=140))
def test_every_usable_ascii_id_is_unchanged(name):
    old = legacy_id(name + ".wav")
    if CLIP_ID.fullmatch(old) and len(old) <= MAX_CLIP_ID and not periodic(old):  # one the workflow took
        assert folder_clip_id(name + ".wav") == old


def test_names_that_gave_no_usable_id():
    assert folder_clip_id("é.wav") == "e" and folder_clip_id("café.wav") == "cafe"  # accents folded
    assert folder_clip_id("ﬁle①.wav") == "file1"  # compatibility forms folded
    assert re.fullmatch(r"clip-[0-9a-f]{8}", folder_clip_id("日本語.wav"))  # nothing left: a hash of the path
    assert re.fullmatch(r"clip-[0-9a-f]{8}", folder_clip_id("*.wav"))
    assert folder_clip_id("日本語.wav") != folder_clip_id("中文.wav")
    assert re.fullmatch(r"1-[0-9a-f]{8}", folder_clip_id("日本語 1.wav"))  # too little left: hashed too
    assert re.fullmatch(r"emoji_-[0-9a-f]{8}", folder_clip_id("emoji🎵.wav"))
    long = folder_clip_id("x" * 251 + ".wav")  # 255 bytes, and its id periodic for Snakemake
    assert len(long) == MAX_CLIP_ID and re.fullmatch(r"x+-[0-9a-f]{8}", long)
    assert re.fullmatch(r"a{20}-[0-9a-f]{8}", folder_clip_id("a" * 20 + ".wav"))  # periodic: refused by Snakemake
    assert folder_clip_id("a" * 19 + ".wav") == "a" * 19
    assert len(folder_clip_id("é" * 125 + ".wav")) <= MAX_CLIP_ID  # 254 bytes of UTF-8


def test_names_that_collide_are_told_apart():
    names = ["a b.wav", "a?b.wav", "a_b.wav", "a{b}.wav", "café.wav", "cafe\u0301.wav", "cafe.wav", "a.wav", "a.flac",
             "sub/a.wav", "sub_a.wav", "é.wav", "e.wav", "한국어.wav", unicodedata.normalize("NFD", "한국어.wav")]
    ids = dict(zip(names, folder_clip_ids(names), strict=True))
    # a name that is its own id keeps it; the others get <id>-<hash of their path>
    assert (ids["a_b.wav"], ids["cafe.wav"], ids["sub_a.wav"], ids["e.wav"]) == ("a_b", "cafe", "sub_a", "e")
    for name in ("a b.wav", "a?b.wav"):
        assert re.fullmatch(r"a_b-[0-9a-f]{8}", ids[name]), name
    assert ids["a{b}.wav"] == "a_b_"
    assert ids["a.wav"] == ids["a.flac"] == "a"  # one name in two formats: the manifest keeps one, as before
    assert len(set(ids.values())) == len(names) - 1
    assert ids["한국어.wav"] == folder_clip_id("한국어.wav")  # NFC keeps its id, NFD (macOS's form) is told apart
    assert all(wildcard_safe(cid) for cid in ids.values())


NAME = st.text(st.sampled_from("aAé_ ?{}.-日/\u0301x1"), min_size=1, max_size=12).filter(
    lambda n: not any(part in ("", ".", "..") or part.startswith(".") for part in n.split("/")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(NAME, min_size=1, max_size=12, unique=True), st.randoms(use_true_random=False))
def test_ids_are_safe_unique_and_do_not_depend_on_order(stems, rnd):
    names = [f"{s}.wav" for s in stems]
    ids = folder_clip_ids(names)
    assert all(wildcard_safe(cid) for cid in ids)
    assert len(set(ids)) == len({Path(n).with_suffix("") for n in names})  # unique per name without suffix
    shuffled = names[:]
    rnd.shuffle(shuffled)
    assert dict(zip(shuffled, folder_clip_ids(shuffled), strict=True)) == dict(zip(names, ids, strict=True))
    assert folder_clip_ids(names) == ids  # the same on every run


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=255).filter(lambda b: b"/" not in b and b"\0" not in b
                                                 and b not in (b".", b"..")))  # what a directory cannot hold
def test_any_file_name_gets_a_safe_id(raw):
    name = os.fsdecode(raw)  # what os.listdir gives for these bytes, UTF-8 or not
    assert wildcard_safe(folder_clip_id(name)) and folder_clip_id(name) == folder_clip_id(name)


# ---- the manifest -----------------------------------------------------------------------------------------------


HOSTILE = ["plain.wav", "é.wav", "日本語.wav", "{wild}.wav", "{clip}.wav", "{a,b}.wav", "a b.wav", "a_b.wav",
           "-lead.wav", "q'\"uote, comma.wav", "new\nline.wav", "tab\there.wav", "cr\rname.wav", "x" * 251 + ".wav",
           "café.wav", "cafe\u0301.wav", "a" * 24 + ".wav"]


def hostile_folder(folder: Path, seconds: float = 1.6) -> dict[str, Path]:
    """Every HOSTILE name (and one that is not UTF-8) as real speech, each from a different place in the
    recording, so that a clip shows which file it was made from."""
    folder.mkdir(parents=True)
    speech, rate = sf.read(SPEECH, dtype="float32", frames=int(8 * 44100), always_2d=True)
    files = {}
    for i, name in enumerate([*HOSTILE, os.fsdecode(b"latin\xe9.wav")]):
        start = int(i * 0.31 * rate)
        path = folder / name
        with open(path, "wb") as f:  # open() takes any name; soundfile only UTF-8 ones
            sf.write(f, speech[start: start + int(seconds * rate), 0], rate, format="WAV", subtype="PCM_16")
        files[name] = path
    return files


def test_the_manifest_keeps_every_name_and_every_id_is_usable(tmp_path):
    files = hostile_folder(tmp_path / "own")
    rows = build_manifest("folder", tmp_path / "own", clips=None, seed=None, offset=0.5, seconds=1.0)
    manifest = tmp_path / "own.csv"
    write_manifest(rows, manifest)
    read = read_manifest(manifest)
    assert [r["source"] for r in read] == [r.source for r in rows]  # Unicode, quotes, commas, tabs, newlines
    by_source = {r["source"]: r for r in read}
    for name in HOSTILE:
        assert by_source[str(files[name])]["status"] == SELECTED, name
    not_utf8 = next(r for r in read if r["status"] == SKIPPED)
    assert "not UTF-8" in not_utf8["reason"] and "latin\\xe9.wav" in not_utf8["source"]
    ids = [r["clip"] for r in read if r["status"] == SELECTED]
    assert len(ids) == len(set(ids)) == len(HOSTILE) and all(wildcard_safe(c) for c in ids)
    assert by_source[str(files["plain.wav"])]["clip"] == "plain"
    assert by_source[str(files["a b.wav"])]["clip"] != by_source[str(files["a_b.wav"])]["clip"] == "a_b"


def test_a_source_with_braces_reaches_snakemake_through_a_link(tmp_path):
    folder = tmp_path / "own {x}"  # braces in the folder too
    folder.mkdir()
    for name in ("{wild}.wav", "plain.wav"):
        sf.write(folder / name, np.sin(np.arange(22050) / 9).astype(np.float32), 22050)
    manifest = tmp_path / "manifests" / "own.csv"
    write_manifest([ManifestRow("wild_", str(folder / "{wild}.wav"), status=SELECTED),
                    ManifestRow("plain", str(folder / "plain.wav"), status=SELECTED)], manifest)
    clips = selected_clips(manifest)
    link = Path(clips["wild_"])
    assert link == source_links(manifest) / "wild_.wav" and "{" not in str(link) and "}" not in str(link)
    assert os.readlink(link) == str(folder / "{wild}.wav") and link.read_bytes() == (folder / "{wild}.wav").read_bytes()
    assert Path(clips["plain"]) == source_links(manifest) / "plain.wav"  # its folder has braces too
    before = os.lstat(link).st_mtime_ns
    assert selected_clips(manifest) == clips and os.lstat(link).st_mtime_ns == before  # left as it is
    write_manifest([ManifestRow("wild_", str(folder / "plain.wav"), status=SELECTED)], manifest)
    assert os.readlink(selected_clips(manifest)["wild_"]) == str(folder / "plain.wav")  # pointed anew


def test_a_manifest_with_an_empty_id_from_an_older_version_says_what_to_do(tmp_path):
    manifest = tmp_path / "own.csv"
    write_manifest([ManifestRow("", str(tmp_path / "日本語.wav"), status=SELECTED)], manifest)
    with pytest.raises(DatasetError, match="delete the manifest and run again"):
        selected_clips(manifest)


# ---- the real Snakemake -----------------------------------------------------------------------------------------


def snakemake(results: Path, folder: Path, *args: str) -> subprocess.CompletedProcess:
    extra = results.parent / "own.yaml"
    extra.write_text(f"datasets:\n  own: {{kind: speech, path: '{folder}'}}\n")
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args, "--cores", "2",
           "--configfile", str(TEST_CONFIG), str(extra), "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise AssertionError(f"snakemake failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}")
    return done


@pytest.mark.slow
def test_a_folder_of_hostile_names_is_planned_and_prepared_by_snakemake(tmp_path):
    files = hostile_folder(tmp_path / "own {x}")  # braces in the folder's path too
    folder, results = files["plain.wav"].parent, tmp_path / "results"
    snakemake(results, folder, str(results / "manifests" / "own.csv"))
    with open(results / "manifests" / "own.csv", newline="", encoding="utf-8") as f:
        clips = {Path(r["source"]).name: r["clip"] for r in csv.DictReader(f) if r["status"] == SELECTED}
    assert sorted(clips) == sorted(HOSTILE)
    grouped = batches(sorted(clips.values()), 1)  # the test configuration's training.clips_per_job
    layout = Layout(str(results))
    targets = [layout.clips("own", b) for b in grouped]
    snakemake(results, folder, *targets)
    for name, cid in clips.items():  # each clip made from its own file ({clip}.wav is not the clip's id)
        made, _ = sf.read(layout.clip("own", batch_of(grouped, cid), cid), dtype="float32")
        np.testing.assert_allclose(made, load_clip(files[name], offset=0.5, duration=1.0).samples, atol=1e-6)
    # nothing is redone but what changed, and the file behind the links is still tracked: new audio in {wild}.wav
    # prepares that clip's batch again (one clip per batch here), and only it
    x, rate = sf.read(files["{wild}.wav"], dtype="float32")
    sf.write(files["{wild}.wav"], x[::-1], rate, format="WAV", subtype="PCM_16")
    planned = snakemake(results, folder, *targets, "--dry-run").stdout
    assert re.findall(r"wildcards: dataset=own, batch=(\S+)", planned) == [batch_of(grouped, clips["{wild}.wav"])]
