"""The listening page and the MUSHRA kit: clip choice, demand, media, ratings analysis, and the page in a real
headless Chromium on the test config's run."""

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from snakemake_workdir import SNAKEFILE, workdir
from test_plan import load, plan_with  # the tests' one way to load a validated config

from siamese_siren.analysis.listen import Player, build_page, clip_players, kit_trial
from siamese_siren.analysis.mushra import (
    ANCHOR,
    REFERENCE,
    Trial,
    lowpass_anchor,
    match_loudness,
    nearest_bitrate,
    ratings_table,
    screen,
    trim,
    write_kit,
)
from siamese_siren.cli import main
from siamese_siren.pipeline.config import ConfigError
from siamese_siren.pipeline.layout import Layout, spread
from siamese_siren.pipeline.plan import Plan
from siamese_siren.pipeline.targets import listen as listening_page

ROOT = Path(__file__).resolve().parents[1]

RATE = 22050
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def test_config() -> dict:
    return load(ROOT / "tests" / "workflow" / "config.yaml", {"results": "res"})


# ---- which clips, which reconstructions ---------------------------------------------------------------------


def test_spread_takes_first_last_and_equal_steps():
    ids = [f"c{i:03d}" for i in range(100)]
    assert spread(ids, 5) == ["c000", "c025", "c050", "c074", "c099"]
    assert spread(ids, 1) == ["c000"]
    assert spread(ids, None) == ids == spread(ids, 1000)
    genres = [f"{g}.{i:05d}" for g in ("blues", "jazz", "rock", "pop") for i in range(100)]
    assert {c.split(".")[0] for c in spread(genres, 20)} == {"blues", "jazz", "rock", "pop"}


def test_page_plays_what_the_tables_score_and_what_the_figures_decoded(test_config):
    plan = Plan(test_config)
    entries = {(v, p, d): tables for v, p, d, tables in listening_page.entries(plan, "speech")}
    assert entries[("t-siamese-siren", "int8-paper", "siamese")] == ["table1", "table2", "table3"]
    assert entries[("t-original-siren", "int8-paper", "none")] == ["table1"]
    # fig4's undenoised and the training curves' float reconstructions exist anyway: shown, in no table
    assert entries[("t-siamese-siren", "int8-paper", "none")] == []
    assert entries[("t-siamese-siren", "float", "none")] == []
    # no decoding of the page's own: every entry is one the plan already makes
    assert all((p, d) in plan.reconstructions("speech", v) for v, p, d in entries)
    assert {"res/listen/index.html", "res/listen/mushra"} <= set(plan.targets())
    assert not any("listen" in t for t in plan_with(test_config, {"listen": None}).targets())


def test_listen_variants_must_be_in_a_table(test_config):
    plan = plan_with(test_config, {"listen": {"variants": ["t-pe-siren"]}})
    assert {v for v, *_ in listening_page.entries(plan, "music")} == {"t-pe-siren"}
    with pytest.raises(ConfigError, match="listen.variants"):
        listening_page.entries(plan_with(test_config, {"listen": {"variants": ["no-such"]}}), "music")


# ---- the page -------------------------------------------------------------------------------------------------


def test_clip_players_reference_first_then_by_kbps_with_sizes_and_scores():
    entries = [("big", "int8-paper", "siamese", ["table1"]), ("big", "float", "none", []),
               ("small", "int8-paper", "none", ["table1"])]
    scores = pd.DataFrame([{"dataset": "speech", "variant": "big", "clip": "c", "precision": "int8-paper",
                            "denoise": "siamese", "visqol": 3.5}])
    sizes = pd.DataFrame([{"dataset": "speech", "variant": v, "setting": "int8", "clip": "c", "bytes": b}
                          for v, b in (("big", 2500), ("small", 500))])
    codecs = pd.DataFrame([{"dataset": "speech", "codec": "opus", "target_kbps": 6, "clip": "c", "kbps": 6.2,
                            "payload_bytes": 775, "visqol": 4.0}])
    players = clip_players(Layout("res"), "speech", "c", "b0000", entries, scores, sizes, codecs,
                           {"big": 4000, "small": 1000}, {"opus": "opus"}, seconds=1.0)
    assert [(p.label, p.precision) for p in players] == [
        ("reference", ""), ("small", "int8-paper"), ("opus 6 kbps", ""), ("big", "int8-paper"), ("big", "float")]
    big = players[3]
    assert big.kbps == pytest.approx(20.0) and big.scores == {"visqol": 3.5} and big.tables == ("table1",)
    assert big.original == Path("res/compressed/speech/big/b0000/int8/c.ssr")
    assert big.audio == Path("res/reconstructions/speech/big/b0000/c__int8-paper__siamese.wav")
    assert players[4].bytes == 4000 and players[4].original is None  # float: the weights' bytes, no file
    assert players[2].original == Path("res/codecs/speech/opus/b0000/c__6k.opus") and players[2].bitrate == 6



def _tone(tmp_path: Path, name: str, hz: float, rate: int = RATE, seconds: float = 0.5) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    path = tmp_path / "run" / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate, subtype="FLOAT")
    return path


def test_page_stores_each_audio_once_as_flac_with_relative_links(tmp_path):
    ref, rec, opus = _tone(tmp_path, "ref", 440), _tone(tmp_path, "rec", 450), _tone(tmp_path, "opus", 440, 48000)
    players = [Player("reference", "reference", ref),
               Player("v1", "v1__int8__none", rec, precision="int8", denoise="none", tables=("table1",),
                      bytes=1000, kbps=16.0, scores={"visqol": 3.2}),
               Player("opus 12 kbps", "opus-12k", opus, bytes=750, kbps=12.0, codec="opus", bitrate=12)]
    listen = tmp_path / "run" / "listen"
    listen.mkdir()
    seconds = build_page(listen / "index.html", listen / "media", {"speech": {"clip1": players}},
                         {"table1": pd.DataFrame({"dataset": ["speech"], "variant": ["v1"], "kbps": [16.0]})}, RATE,
                         "t")
    page = (listen / "index.html").read_text()
    for slug, source in (("reference", ref), ("v1__int8__none", rec), ("opus-12k", opus)):
        flac = listen / "media" / "speech" / "clip1" / f"{slug}.flac"
        decoded, rate = sf.read(flac, dtype="float32")
        original, _ = sf.read(source, dtype="float32")
        assert sf.info(flac).subtype == "PCM_24" and np.abs(decoded - original).max() < 2**-22
        assert seconds[f"speech/clip1/{slug}.flac"] == pytest.approx(len(original) / rate)
        assert (flac.with_suffix(".png")).read_bytes()[:4] == b"\x89PNG"
        assert f'src="media/speech/clip1/{slug}.flac"' in page
    assert 'href="../rec.wav"' in page and "file://" not in page and "http" not in page.replace("<!DOCTYPE html>", "")
    assert "<script" not in page and "3.20" in page


# ---- the MUSHRA kit -------------------------------------------------------------------------------------------


def _sine(hz: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate).astype(np.float32)


def _level_db(x: np.ndarray) -> float:
    return 20 * math.log10(np.sqrt(np.mean(x[2000:-2000] ** 2)))


def test_anchor_is_a_3_5_khz_lowpass_without_delay():
    low, high = _sine(1000), _sine(6000)
    assert abs(_level_db(lowpass_anchor(low, RATE)) - _level_db(low)) < 0.1
    assert _level_db(lowpass_anchor(high, RATE)) - _level_db(high) < -40
    assert np.argmax(np.correlate(lowpass_anchor(low, RATE)[:2000], low[:2000], "full")) == 1999  # zero phase


def test_loudness_matched_without_clipping_and_trimmed_to_one_length():
    signals = {"quiet": 0.01 * _sine(440), "loud": 0.9 * _sine(440, 0.8), "spiky": np.r_[0.05 * _sine(300), 1.0]}
    matched, gains = match_loudness(trim(signals, 10 * RATE, RATE))
    assert {len(x) for x in matched.values()} == {round(0.8 * RATE)}
    levels = [np.sqrt(np.mean(x**2)) for x in matched.values()]
    assert max(levels) / min(levels) == pytest.approx(1.0, rel=1e-4)
    assert max(np.abs(x).max() for x in matched.values()) <= 0.99 + 1e-6
    assert gains["quiet"] > gains["loud"]
    assert nearest_bitrate([6, 12, 24, 64], 20) == 24 and nearest_bitrate([8, 16], 12) == 8


def test_kit_is_a_webmushra_config_with_reference_anchor_and_equal_stimuli(tmp_path):
    trials = [Trial(id=f"speech--c{i}", dataset="speech", clip=f"c{i}", rate=RATE, reference=_sine(440, 1.2),
                    conditions={"v1": 0.3 * _sine(440, 1.2), "opus-12k": 0.8 * _sine(445, 1.1)},
                    described={"v1": {"label": "v1", "kbps": 8.0}}) for i in range(2)]
    table = write_kit(tmp_path / "mushra", trials, seconds=1.0, title="t")
    config = yaml.safe_load((tmp_path / "mushra" / "config.yaml").read_text())
    pages = config["pages"][0]
    assert pages[0] == "random" and config["pages"][-1]["type"] == "finish"
    for page in pages[1:]:
        assert page["type"] == "mushra" and page["reference"].endswith(f"{REFERENCE}.wav")
        assert set(page["stimuli"]) == {ANCHOR, "v1", "opus-12k"}
        paths = [page["reference"], *page["stimuli"].values()]
        infos = [sf.info(tmp_path / "mushra" / p.split("/", 2)[2]) for p in paths]
        assert {(i.samplerate, i.frames) for i in infos} == {(RATE, RATE)}
    assert len(table) == 2 * 4 and set(table["condition"]) == {REFERENCE, ANCHOR, "v1", "opus-12k"}


def test_kit_trial_takes_each_variant_once_and_codecs_nearest_its_kbps(tmp_path):
    ref, rec, opus = _tone(tmp_path, "ref", 440), _tone(tmp_path, "rec", 450), _tone(tmp_path, "opus", 440, 48000)
    players = [Player("reference", "reference", ref),
               Player("v", "v__int8__siamese", rec, tables=("table1",), kbps=20.0),
               Player("v", "v__float__none", rec, kbps=80.0),
               *(Player(f"opus {b} kbps", f"opus-{b}k", opus, kbps=b, codec="opus", bitrate=b) for b in (6, 24, 64))]
    trial = kit_trial("speech", "c", players, None, RATE)
    assert list(trial.conditions) == ["v__int8__siamese", "opus-24k"]
    assert {len(x) for x in trial.conditions.values()} == {len(trial.reference)}  # Opus resampled to the clip rate
    assert list(kit_trial("speech", "c", players, {"opus": [6, 64]}, RATE).conditions)[1:] == ["opus-6k", "opus-64k"]


def _ratings() -> pd.DataFrame:
    """Synthetic webMUSHRA export: 4 listeners x 3 trials; listener d misses the hidden reference twice."""
    rng = np.random.default_rng(0)
    rows = []
    for listener in "abcd":
        for trial in ("t1", "t2", "t3"):
            for stimulus, score in ((REFERENCE, 100), (ANCHOR, 20), ("v1", 60), ("opus-12k", 80)):
                if listener == "d" and stimulus == REFERENCE and trial != "t1":
                    score = 40
                rows.append({"session_test_id": "siamese_siren", "name": listener, "trial_id": trial,
                             "rating_stimulus": stimulus, "rating_score": score + int(rng.integers(-3, 4)),
                             "rating_time": 1000, "rating_comment": ""})
    return pd.DataFrame(rows)


def test_ratings_become_means_and_95_percent_intervals_per_condition(tmp_path, capsys):
    kept, excluded = screen(_ratings(), "name")
    assert excluded == ["d"] and set(kept["name"]) == {"a", "b", "c"}
    table = ratings_table(kept).set_index("condition")
    assert list(table.index) == [REFERENCE, "opus-12k", "v1", ANCHOR]
    v1 = kept[kept["rating_stimulus"] == "v1"]["rating_score"]
    assert table.loc["v1", "n"] == 9 and table.loc["v1", "mean"] == pytest.approx(v1.mean())
    assert table.loc["v1", "ci95"] == pytest.approx(2.306 * v1.std(ddof=1) / 3, rel=1e-3)  # t(0.975, 8) = 2.306
    _ratings().to_csv(tmp_path / "mushra.csv", index=False)
    assert main(["mushra", str(tmp_path / "mushra.csv"), "--listener", "name", "--out", str(tmp_path / "t.csv")]) == 0
    assert "excluded 1 listener(s): d" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "t.csv")["condition"].iloc[0] == REFERENCE


# ---- the page of a real run, in a real browser ------------------------------------------------------------


def _snakemake(results: Path, *args: str) -> None:
    """Snakemake on the test config with ViSQOL only (the page shows what the run has; CDPAM takes minutes)."""
    overrides = results.parent / "listen-overrides.yaml"
    overrides.write_text(yaml.safe_dump({"metrics": {"speech": ["visqol"], "music": ["visqol"]}}))
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), *args, "--cores", "2", "--configfile",
           str(ROOT / "tests/workflow/config.yaml"), str(overrides), "--config", f"results={results}"]
    done = subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]


@pytest.fixture(scope="module")
def page_run(tmp_path_factory) -> Path:
    """The test config's page and kit, and only what they need."""
    results = tmp_path_factory.mktemp("listen-run")
    _snakemake(results, str(results / "listen" / "index.html"))
    return results


@pytest.mark.slow  # runs the real Snakemake
def test_run_page_lists_every_clip_its_kit_and_report(page_run):
    page = (page_run / "listen" / "index.html").read_text()
    for dataset in ("speech", "music"):
        clip = pd.read_csv(page_run / "manifests" / f"{dataset}.csv").query("status == 'selected'")["clip"].iloc[0]
        assert f'id="{dataset}--{clip}"' in page
    assert page.count("<audio") == len(list((page_run / "listen" / "media").rglob("*.flac")))
    kit = yaml.safe_load((page_run / "listen" / "mushra" / "config.yaml").read_text())
    assert len(kit["pages"][0]) == 1 + 2  # "random" and one trial per dataset
    report = page_run.parent / "listen-report.html"  # the README's report command still works with the page in it
    _snakemake(page_run, "--report", str(report), str(page_run / "listen" / "index.html"))
    assert "listening page" in report.read_text()


@pytest.mark.slow  # the real Snakemake, then headless Chromium
def test_page_in_headless_chromium(page_run, tmp_path):
    """No console error, every <audio> loads its FLAC and reports its duration (10 ms), every image loads."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("no chromium on this machine: apt-get install chromium (and pip install playwright)")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    index = page_run / "listen" / "index.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(index.as_uri())
        # preload="none" keeps a large page light; the test asks every player for its file's metadata
        loaded = page.evaluate("""() => Promise.all([...document.querySelectorAll('audio')].map(a =>
            new Promise(done => {
                a.onloadedmetadata = () => done({src: a.getAttribute('src'), duration: a.duration});
                a.onerror = () => done({src: a.getAttribute('src'), error: a.error ? a.error.code : -1});
                a.preload = 'metadata'; a.load();
            })))""")
        page.evaluate("() => Promise.all([...document.images].map(i => { i.loading = 'eager'; return i.decode(); }))")
        images = page.evaluate("() => [...document.images].map(i => [i.getAttribute('src'), i.naturalWidth])")
        page.screenshot(path=tmp_path / "listen.png", full_page=True)
        page_width = page.evaluate("() => document.documentElement.scrollWidth")
        browser.close()
    assert errors == []
    assert page_width <= 1280, f"the page is {page_width} px wide in a 1280 px window"
    assert loaded and images and len(images) == len(loaded)
    for player in loaded:
        assert "error" not in player, player
        flac = index.parent / player["src"].replace("%2B", "+")
        assert abs(player["duration"] - sf.info(flac).duration) <= 0.010, player
    assert all(width > 0 for _, width in images)
    assert (tmp_path / "listen.png").read_bytes()[:4] == b"\x89PNG"
