import errno
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from siamese_siren.cli import EXIT_DIFFERENT, build_parser, main
from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Variant, parameter_count


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "siamese_siren.cli", *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow  # three trainings and decodes of real speech
def test_encode_decode_info_on_real_speech(speech_path, tmp_path, capsys):
    ssr = tmp_path / "speech.ssr"
    code = main(["encode", str(speech_path), str(ssr), "--variant", "siamese-2x64+1x32", "--steps", "200",
                 "--offset", "0.5", "--duration", "0.5", "--quiet"])
    assert code == 0
    size = ssr.stat().st_size
    assert size == bitstream.file_size(VARIANTS["siamese-2x64+1x32"])
    assert f"{size} bytes" in capsys.readouterr().out

    assert main(["info", str(ssr)]) == 0
    info = capsys.readouterr().out
    assert "siamese-2x64+1x32" in info and str(parameter_count(VARIANTS["siamese-2x64+1x32"])) in info
    assert f"{8 * size / 0.5 / 1000:.2f}" in info and "0.500 s" in info

    wav = tmp_path / "speech.wav"
    assert main(["decode", str(ssr), str(wav)]) == 0
    audio, rate = sf.read(wav)
    assert rate == 22050 and audio.shape == (11025,)
    original, _ = sf.read(speech_path, start=8000, frames=8000)
    level = np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(original**2))
    assert 0.5 < level < 1.5  # the original level is restored from the stored peak
    wav44 = tmp_path / "speech44.wav"
    assert main(["decode", str(ssr), str(wav44), "--sample-rate", "44100", "--no-denoise", "--paper-mode"]) == 0
    assert sf.info(str(wav44)).frames == 22050


@pytest.mark.slow  # trains twice (~14 s)
def test_encode_from_a_learned_init_with_a_schedule_decodes_alone(speech_path, tmp_path, capsys, trained_small):
    from siamese_siren.codec.inits import LearnedInit, save_init
    from siamese_siren.codec.train import state_digest

    small = VARIANTS["siamese-2x64+1x32"]
    state = trained_small.state_dict()  # any state of the architecture serves as a starting point here
    save_init(LearnedInit(small, state, state_digest(state), {}), tmp_path / "small.init.pt")
    ssr = tmp_path / "fast.ssr"
    code = main(["encode", str(speech_path), str(ssr), "--variant", "siamese-2x64+1x32", "--steps", "20",
                 "--init", str(tmp_path / "small.init.pt"), "--lr", "3e-3", "--schedule", "cosine",
                 "--warmup-steps", "5", "--offset", "0.5", "--duration", "0.5", "--quiet"])
    assert code == 0 and ssr.stat().st_size == bitstream.file_size(small)
    (tmp_path / "small.init.pt").unlink()  # the file stores its own weights: no init is needed to decode it
    assert main(["decode", str(ssr), str(tmp_path / "fast.wav")]) == 0
    capsys.readouterr()

    save_init(LearnedInit(small, state, state_digest(state), {}), tmp_path / "small.init.pt")
    code = main(["encode", str(speech_path), str(ssr), "--variant", "siamese-2x128+1x64", "--steps", "2",
                 "--init", str(tmp_path / "small.init.pt"), "--duration", "0.5", "--quiet"])
    assert code == 1 and "an initialisation of 2x64+1x32" in capsys.readouterr().err
    assert main(["encode", str(speech_path), str(ssr), "--init", str(tmp_path / "none.init.pt"), "--quiet"]) == 1
    assert "none.init.pt: no such file" in capsys.readouterr().err
    assert main(["encode", str(speech_path), str(ssr), "--steps", "10", "--warmup-steps", "10", "--quiet"]) == 2
    assert "--warmup-steps 10 is out of range" in capsys.readouterr().err


def test_same_file_same_output(tmp_path, trained_small):
    ssr = tmp_path / "a.ssr"
    bitstream.write(ssr, bitstream.CompressedClip.from_model(trained_small, 22050, 4000, 0.5))
    for name in ("x.wav", "y.wav"):
        assert main(["decode", str(ssr), str(tmp_path / name)]) == 0
    assert (tmp_path / "x.wav").read_bytes() == (tmp_path / "y.wav").read_bytes()


@pytest.mark.slow  # three runs of the command in a subprocess
def test_errors_are_actionable(tmp_path, speech_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(2205, dtype=np.float32), 22050)
    result = run_cli("encode", silent, tmp_path / "s.ssr", "--steps", "1")
    assert result.returncode == 1 and "silent.wav" in result.stderr and "silence" in result.stderr
    assert not (tmp_path / "s.ssr").exists()

    broken = tmp_path / "broken.ssr"
    broken.write_bytes(b"SSRN\x01" + b"\x00" * 40)
    result = run_cli("decode", broken, tmp_path / "out.wav")
    assert result.returncode == 1 and "broken.ssr" in result.stderr and "encode the audio again" in result.stderr
    assert not (tmp_path / "out.wav").exists()

    result = run_cli("encode", speech_path, tmp_path / "x.ssr", "--variant", "nope")
    assert result.returncode == 2 and "nope" in result.stderr


# ---- issue 14: every path and number checked before the work, failures in one line, nothing lost -------------

SMALL = "siamese-2x64+1x32"


def _tone_file(path, seconds=0.2, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, 0.5 * np.sin(2 * np.pi * 330 * t), rate)
    return path


def _ssr(path, variant=None, sample_rate=22050, num_samples=4410):
    """An untrained network as a valid .ssr file: decoding does not care how good the weights are."""
    torch.manual_seed(0)
    bitstream.write(path, CompressedClip.from_model(SiameseSiren(variant or VARIANTS[SMALL]), sample_rate,
                                                    num_samples, 0.5))
    return path


def _reseal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def one_line_error(capsys, *names):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "no CUDA device" not in line]  # the CPU notice, not an error
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def test_encode_onto_its_own_input_is_refused_and_the_input_kept(tmp_path, capsys):
    source = _tone_file(tmp_path / "a.wav")
    before = source.read_bytes()
    (tmp_path / "link.wav").symlink_to(source)
    for output in (source, tmp_path / "link.wav", tmp_path / "." / "a.wav"):
        assert main(["encode", str(source), str(output), "--steps", "1"]) == 2
        one_line_error(capsys, str(output), "is the input file")
    assert source.read_bytes() == before


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_a_full_disk_leaves_the_existing_output_and_no_temporary_file(tmp_path, capsys, monkeypatch, command):
    source = _tone_file(tmp_path / "a.wav") if command == "encode" else _ssr(tmp_path / "a.ssr")
    output = tmp_path / ("old.ssr" if command == "encode" else "old.wav")
    output.write_bytes(b"the user's existing file")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    args = ["--steps", "1", "--variant", SMALL, "--quiet"] if command == "encode" else []
    assert main([command, str(source), str(output), *args]) == 4
    one_line_error(capsys, str(output), "disk is full", "nothing was written")
    assert output.read_bytes() == b"the user's existing file" and _leftovers(tmp_path) == []


@pytest.mark.parametrize("output,code,says", [
    ("missing/out.{ext}", 4, "does not exist"),
    ("/proc/out.{ext}", 4, "cannot write in folder /proc"),
    ("/sys/out.{ext}", 4, "Permission denied"),  # EACCES even for root
    ("folder.{ext}", 4, "is a folder"),
])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_unwritable_outputs_are_refused_before_any_work(tmp_path, capsys, command, output, code, says):
    source = _tone_file(tmp_path / "a.wav") if command == "encode" else _ssr(tmp_path / "a.ssr")
    target = output.format(ext="ssr" if command == "encode" else "wav")
    target = target if target.startswith("/") else str(tmp_path / target)
    if "folder" in target:
        os.mkdir(target)
    start = time.monotonic()
    assert main([command, str(source), target, "--steps" if command == "encode" else "--alpha", "1"]) == code
    one_line_error(capsys, target, says)
    assert time.monotonic() - start < 5  # no training, no synthesis


@pytest.mark.parametrize("name", ["out.mp3", "out.xyz", "out", "out.ssr.bak"])
def test_encode_output_must_be_an_ssr_file(tmp_path, capsys, name):
    assert main(["encode", str(_tone_file(tmp_path / "a.wav")), str(tmp_path / name), "--steps", "1"]) == 2
    one_line_error(capsys, name, "must end in .ssr")


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.ssr"])
def test_decode_output_extension_must_be_writable_and_the_message_lists_them(tmp_path, capsys, name):
    assert main(["decode", str(_ssr(tmp_path / "a.ssr")), str(tmp_path / name)]) == 2
    line = one_line_error(capsys, name, "use one of")
    assert ".wav" in line and ".flac" in line and ".mp3" in line
    assert main(["decode", str(tmp_path / "a.ssr"), str(tmp_path / "out.mp3"), "--sample-rate", "96000"]) == 2
    one_line_error(capsys, "out.mp3", "96000 Hz")


@pytest.mark.parametrize("option,value", [
    ("--sample-rate", "0"), ("--sample-rate", "1"), ("--sample-rate", "10000000"), ("--duration", "-1"),
    ("--duration", "nan"), ("--duration", "inf"), ("--duration", "0"), ("--offset", "-1"), ("--offset", "nan"),
    ("--steps", "0"), ("--steps", "-3"), ("--seed", "-1"), ("--device", "nope"), ("--device", "meta"),
])
def test_encode_numbers_out_of_range_are_refused_naming_the_option(tmp_path, capsys, option, value):
    assert main(["encode", str(_tone_file(tmp_path / "a.wav")), str(tmp_path / "o.ssr"), option, value]) == 2
    one_line_error(capsys, option)
    assert not (tmp_path / "o.ssr").exists()


@pytest.mark.parametrize("option,value", [
    ("--sample-rate", "0"), ("--sample-rate", "1"), ("--sample-rate", "-8000"), ("--sample-rate", "10000000"),
    ("--alpha", "nan"), ("--alpha", "-5"), ("--alpha", "inf"),
])
def test_decode_numbers_out_of_range_are_refused_naming_the_option(tmp_path, capsys, option, value):
    assert main(["decode", str(_ssr(tmp_path / "a.ssr")), str(tmp_path / "o.wav"), option, value]) == 2
    one_line_error(capsys, option)
    assert not (tmp_path / "o.wav").exists()


def test_inputs_that_are_not_regular_files_get_their_own_message(tmp_path, capsys):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    os.mkfifo(tmp_path / "pipe.wav")
    for name, says in (("empty.wav", "empty file"), ("folder.wav", "is a folder"),
                       ("pipe.wav", "pipes are not supported"), ("missing.wav", "no such file")):
        for command in ("encode", "decode", "info"):
            args = [command, str(tmp_path / name)] + ([] if command == "info" else [str(tmp_path / "o.ssr")])
            assert main(args) in (1, 2)  # decode to .ssr is also a usage error; the input is checked first
            line = one_line_error(capsys, name, says)
            assert "convert it to WAV" not in line


def test_clips_outside_the_shared_bounds_are_refused_before_training(tmp_path, capsys):
    sf.write(tmp_path / "one.wav", np.array([0.5]), 22050)
    header_only = tmp_path / "header_only.wav"
    header_only.write_bytes((tmp_path / "one.wav").read_bytes()[:44])
    for name in ("one.wav", "header_only.wav"):
        assert main(["encode", str(tmp_path / name), str(tmp_path / "o.ssr"), "--steps", "1"]) == 1
        one_line_error(capsys, name)
    assert not (tmp_path / "o.ssr").exists()
    clip = CompressedClip.from_model(SiameseSiren(VARIANTS[SMALL]), 1, 4410, 0.5)
    with pytest.raises(ValueError, match="sample rate 1 Hz out of range"):  # the library never writes one either
        bitstream.to_bytes(clip)


def test_a_tiny_file_asking_for_hours_at_768_khz_is_refused_with_flat_memory(tmp_path, capsys):
    data = bytearray(_ssr(tmp_path / "valid.ssr").read_bytes()[:-4])
    tail_at = 22 + 2 * (len(VARIANTS[SMALL].hidden) + len(VARIANTS[SMALL].siam))
    struct.pack_into("<II", data, tail_at, 768_000, 768_000 * 3600)
    hostile = tmp_path / "hostile.ssr"
    hostile.write_bytes(_reseal(bytes(data)))
    assert hostile.stat().st_size < 12_000
    tracemalloc.start()
    code = main(["decode", str(hostile), str(tmp_path / "o.wav")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 1 and peak < 20 * 2**20
    one_line_error(capsys, "hostile.ssr", "sample rate 768000 Hz out of range")


def test_an_hour_at_the_highest_rate_is_refused_for_denoising_and_paper_mode_by_documented_bounds(tmp_path, capsys):
    long = _ssr(tmp_path / "long.ssr", sample_rate=192_000, num_samples=192_000 * 3600)
    assert main(["decode", str(long), str(tmp_path / "o.wav")]) == 2
    one_line_error(capsys, "siamese denoising", "28800000 samples", "--no-denoise")
    assert main(["decode", str(long), str(tmp_path / "o.wav"), "--no-denoise", "--paper-mode"]) == 2
    one_line_error(capsys, "paper mode", "--paper-mode")


def _high_water_mark(pid):
    """Peak resident memory of a process so far, in bytes (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


def _wait_for_temporary(folder, size, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        grown = [p for p in folder.glob(".*.tmp") if p.stat().st_size >= size]
        if grown:
            return
        time.sleep(0.05)
    raise AssertionError(f"no temporary file of {size} bytes in {folder}: {process.poll()=}")


@pytest.mark.slow  # writes tens of MB from a subprocess
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_an_hour_at_the_highest_rate_streams_to_disk_with_flat_memory_and_ctrl_c_leaves_nothing(tmp_path):
    # no positional encoding and 8-wide layers: fast enough to write tens of MB in seconds on a shared CPU
    long = _ssr(tmp_path / "long.ssr", Variant((8,), (4,), pe_frequencies=0), 192_000, 192_000 * 3600)
    output = tmp_path / "long.wav"
    output.write_bytes(b"the user's existing file")
    process = subprocess.Popen([sys.executable, "-m", "siamese_siren.cli", "decode", str(long), str(output),
                                "--no-denoise"], stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_temporary(tmp_path, 5 * 2**20, process)  # past the first chunks: the working set is reached
        early = _high_water_mark(process.pid)
        _wait_for_temporary(tmp_path, 17 * 2**20, process)  # 6M more samples: 48 MB as float heads
        late = _high_water_mark(process.pid)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert late - early < 30 * 2**20, (early, late)
    assert process.returncode == 130 and "Traceback" not in err and "interrupted" in err, err
    assert output.read_bytes() == b"the user's existing file" and _leftovers(tmp_path) == []


@pytest.mark.slow  # a training subprocess, then the signal
@pytest.mark.parametrize(("signum", "code", "said"), [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated (SIGTERM); nothing was written")])
def test_ctrl_c_or_sigterm_during_encode_exits_without_traceback_and_leaves_nothing(tmp_path, signum, code, said):
    source = _tone_file(tmp_path / "a.wav")
    output = tmp_path / "a.ssr"
    output.write_bytes(b"the user's existing file")
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "siamese_siren.cli", "encode", str(source), str(output),
                                    "--variant", SMALL, "--steps", "1000000"], stderr=err)
        try:
            deadline = time.monotonic() + 120
            while "step" not in log.read_text() and time.monotonic() < deadline:  # training has started
                time.sleep(0.1)
            process.send_signal(signum)
            process.wait(timeout=60)
        finally:
            process.kill()
    assert process.returncode == code
    text = log.read_text()
    assert "Traceback" not in text and said in text
    assert output.read_bytes() == b"the user's existing file" and _leftovers(tmp_path) == []


# ---- issue 16, point 7: help text ----------------------------------------------------------------------------


def test_help_has_no_markup_every_argument_is_explained_and_exit_codes_are_listed(capsys):
    texts = []
    for args in ([], ["encode"], ["decode"], ["info"], ["compare"], ["mushra"]):
        assert main([*args, "--help"]) == 0
        texts.append(capsys.readouterr().out)
    assert not any("``" in text or "%%" in text for text in texts)
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130"):
        assert f"  {code}" in texts[0]
    assert f"  {EXIT_DIFFERENT}    compare only: the results differ" in texts[0] and "5: no" in texts[0]
    from siamese_siren.analysis.mushra import SCREEN_SCORE, SCREEN_SHARE

    assert f"below {SCREEN_SCORE} in more than {SCREEN_SHARE:.0%}" in " ".join(texts[-1].split())
    parser = build_parser()
    for action in parser._subparsers._group_actions[0].choices.values():
        for argument in action._actions:
            assert argument.help, f"{action.prog} {argument.dest} has no help"


def test_the_progress_bar_says_which_step_its_loss_is_from(tmp_path, capsys):
    assert main(["encode", str(_tone_file(tmp_path / "a.wav")), str(tmp_path / "a.ssr"), "--variant", SMALL,
                 "--steps", "3"]) == 0
    assert "at step 3, shown every 50 steps" in capsys.readouterr().err


# ---- compare and mushra: the results tools are subcommands with the same conventions ---------------------------


def _results_folder(root, visqol=2.5, reversed_rows=False):
    """A tiny results folder: a scores table, a .ssr file, a WAV and a log (which is not a result)."""
    (root / "scores").mkdir(parents=True)
    table = pd.DataFrame({"clip": ["a", "b"], "visqol": [visqol, 3.0]})
    (table[::-1] if reversed_rows else table).to_csv(root / "scores" / "speech.csv", index=False)
    (root / "clip.ssr").write_bytes(b"SSRN\x01")
    sf.write(root / "clip.wav", np.linspace(-0.5, 0.5, 100), 22050, subtype="FLOAT")
    (root / "logs").mkdir()
    (root / "logs" / "run.log").write_text(f"{time.time()}")
    return root


def _mushra_ratings(path):
    """A webMUSHRA export: listeners a, b and c; c rates the hidden reference low in both trials."""
    rows = [{"name": who, "trial_id": trial, "rating_stimulus": stimulus, "rating_score": score}
            for who in "abc" for trial in ("t1", "t2")
            for stimulus, score in (("reference", 30 if who == "c" else 100), ("anchor35", 20), ("v1", 60))]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def run_installed(*args):
    """The installed console script, as a user runs it (not python -m)."""
    script = Path(sys.executable).parent / "siamese-siren"
    command = str(script) if script.exists() else shutil.which("siamese-siren")
    assert command, "the siamese-siren command is not installed (pip install -e .)"
    return subprocess.run([command, *map(str, args)], capture_output=True, text=True, timeout=600)


def _one_line(stderr, *names):
    lines = [line for line in stderr.splitlines() if "no CUDA device" not in line]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    for name in names:
        assert name in lines[0], lines[0]


def test_the_old_module_entry_points_are_gone():
    from siamese_siren.analysis import compare, mushra

    assert not hasattr(compare, "main") and not hasattr(mushra, "main")
    for module in (compare, mushra):
        assert "python -m" not in Path(module.__file__).read_text()


@pytest.mark.slow  # four runs of the installed command, a few seconds each
def test_installed_compare_exits_0_when_identical_5_when_different_1_on_a_bad_folder_2_on_a_bad_option(tmp_path):
    a = _results_folder(tmp_path / "a")
    same = _results_folder(tmp_path / "same", reversed_rows=True)  # rows in another order, another log
    changed = _results_folder(tmp_path / "changed", visqol=2.6)
    (changed / "extra.csv").write_text("x\n1\n")

    done = run_installed("compare", a, same)
    assert done.returncode == 0 and "3 files compared: identical results" in done.stdout, done
    done = run_installed("compare", a, changed)
    assert done.returncode == EXIT_DIFFERENT == 5, done
    assert f"DIFFERENT: extra.csv: only in {changed}" in done.stdout
    assert "DIFFERENT: scores/speech.csv: column 'visqol' differs" in done.stdout and "2 results differ" in done.stdout
    done = run_installed("compare", a, tmp_path / "missing")
    assert done.returncode == 1 and done.stdout == ""
    _one_line(done.stderr, str(tmp_path / "missing"), "no such folder")
    done = run_installed("compare", a, same, "--rtol", "-1")
    assert done.returncode == 2
    _one_line(done.stderr, "--rtol", "out of range")


@pytest.mark.slow  # four runs of the installed command, a few seconds each
def test_installed_mushra_summarises_ratings_and_refuses_a_missing_file_or_a_wrong_column(tmp_path):
    ratings = _mushra_ratings(tmp_path / "mushra.csv")
    done = run_installed("mushra", ratings, "--listener", "name", "--out", tmp_path / "table.csv")
    assert done.returncode == 0, done
    assert "post-screening excluded 1 listener(s): c" in done.stdout and "| reference" in done.stdout
    table = pd.read_csv(tmp_path / "table.csv")
    assert list(table["condition"]) == ["reference", "v1", "anchor35"] and list(table["n"]) == [4, 4, 4]
    done = run_installed("mushra", tmp_path / "missing.csv", "--listener", "name")
    assert done.returncode == 1
    _one_line(done.stderr, "missing.csv", "no such file")
    done = run_installed("mushra", ratings, "--listener", "listener")
    assert done.returncode == 2
    _one_line(done.stderr, "--listener listener", "no such column", "name, trial_id")
    done = run_installed("mushra", ratings, "--no-such-option")
    assert done.returncode == 2 and "--no-such-option" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("args,code,says", [
    (["compare", "{a}", "{a}/scores/speech.csv"], 1, ["speech.csv", "is a file, not a folder"]),
    (["compare", "{tmp}/none", "{a}"], 1, ["none", "no such folder"]),
    (["compare", "{a}", "{a}", "--rtol", "nan"], 2, ["--rtol nan"]),
    (["mushra", "{a}"], 1, ["is a folder"]),
    (["mushra", "{a}/scores/speech.csv"], 1, ["speech.csv", "no column rating_stimulus, rating_score"]),
    (["mushra", "{tmp}/header.csv"], 1, ["header.csv", "holds no ratings"]),
    (["mushra", "{tmp}/mushra.csv", "--listener", "trial_id"], 1, ["excluded every listener", "--listener trial_id"]),
    (["mushra", "{tmp}/mushra.csv", "--out", "{tmp}/mushra.csv"], 2, ["mushra.csv", "is the input file"]),
    (["mushra", "{tmp}/mushra.csv", "--out", "{tmp}/no/t.csv"], 4, ["does not exist"]),
])
def test_compare_and_mushra_failures_are_one_line_with_the_documented_code(tmp_path, capsys, args, code, says):
    a = _results_folder(tmp_path / "a")
    _mushra_ratings(tmp_path / "mushra.csv")
    (tmp_path / "header.csv").write_text("rating_stimulus,rating_score\n")
    assert main([arg.format(a=a, tmp=tmp_path) for arg in args]) == code
    one_line_error(capsys, *says)
    assert not (tmp_path / "no").exists()


def test_compare_lists_every_difference_in_process(tmp_path, capsys):
    a, b = _results_folder(tmp_path / "a"), _results_folder(tmp_path / "b", visqol=2.5 * (1 + 1e-12))
    (b / "clip.ssr").write_bytes(b"SSRN\x02")
    assert main(["compare", str(a), str(b)]) == EXIT_DIFFERENT
    out = capsys.readouterr().out
    assert "DIFFERENT: clip.ssr: bytes differ" in out and "DIFFERENT: scores/speech.csv" in out
    (b / "clip.ssr").write_bytes(b"SSRN\x01")
    assert main(["compare", str(a), str(b), "--rtol", "1e-9"]) == 0
    assert "identical results" in capsys.readouterr().out


@pytest.mark.parametrize("command,package", [("compare", "pandas"), ("mushra", "tabulate")])
def test_a_missing_optional_package_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch, command, package):
    monkeypatch.setitem(sys.modules, package, None)  # import fails as if the package were not installed
    for module in ("siamese_siren.analysis.compare", "siamese_siren.analysis.mushra"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    args = [str(tmp_path), str(tmp_path)] if command == "compare" else [str(_mushra_ratings(tmp_path / "r.csv"))]
    assert main([command, *args]) == 2
    one_line_error(capsys, command, package, 'pip install "siamese-siren[report]"')
