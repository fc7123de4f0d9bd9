"""Issue 28, the codec's command line as a careless or hostile user drives it: outputs that are not regular files,
targets nothing can meet, signals, odd .ssr files and options, a closed pipe, start-up.

Every test here failed before the fix of its row (the row numbers are the issue's)."""

import contextlib
import dataclasses
import io
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from siamese_siren.analysis.rate_control import MAX_KBPS, Target
from siamese_siren.cli import EXIT_STDOUT_CLOSED, main
from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.decode import MAX_ALPHA
from siamese_siren.codec.models import VARIANTS, SiameseSiren, Variant
from siamese_siren.metrics.vocabulary import metric

SMALL = "siamese-2x64+1x32"
RATE = 22050


def _tone(path, seconds=0.2):
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, 0.5 * np.sin(2 * np.pi * 330 * t), RATE)
    return path


def _ssr(path, variant=None, sample_rate=RATE, num_samples=4410, twin_heads=False):
    """An untrained network as a valid .ssr file; with ``twin_heads``, head b a copy of head a."""
    torch.manual_seed(0)
    model = SiameseSiren(variant or VARIANTS[SMALL])
    if twin_heads:
        model.heads[1].load_state_dict(model.heads[0].state_dict())
    bitstream.write(path, CompressedClip.from_model(model, sample_rate, num_samples, 0.5))
    return path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def _one_line(err, *names):
    lines = [line for line in err.splitlines() if "no CUDA device" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


def _cli(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "siamese_siren.cli", *map(str, args)], **kwargs)


# ---- row 1: an output that is a FIFO, a device node, or a link to one, is refused before any work --------------


def _special(kind, folder):
    """An output path of ``kind``; None where this machine cannot make it (mknod needs root)."""
    if kind in ("fifo", "link to fifo"):
        os.mkfifo(folder / "fifo")
    if kind in ("device", "link to device"):
        try:
            os.mknod(folder / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
        except PermissionError:
            return None
    target = folder / ("fifo" if "fifo" in kind else "null")
    if not kind.startswith("link"):
        return target
    (folder / "link").symlink_to(target)
    return folder / "link"


@pytest.mark.parametrize("kind", ["fifo", "link to fifo", "device", "link to device"])
@pytest.mark.parametrize("command", ["encode", "decode", "mushra"])
def test_an_output_that_is_not_a_regular_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command,
                                                                         kind):
    output = _special(kind, tmp_path)
    if output is None:
        pytest.skip("mknod is not permitted here")
    named = output.with_name(output.name + {"encode": ".ssr", "decode": ".wav", "mushra": ".csv"}[command])
    output.rename(named)
    if kind.startswith("link"):  # the link keeps pointing at the special file
        assert stat.S_ISFIFO(os.stat(named).st_mode) or stat.S_ISCHR(os.stat(named).st_mode)
    before = os.stat(named).st_mode

    def no_work(*args, **kwargs):
        raise AssertionError("work started before the output was checked")

    monkeypatch.setattr("siamese_siren.codec.train.train", no_work)
    monkeypatch.setattr("siamese_siren.codec.audio.write_audio_chunks", no_work)
    if command == "encode":
        args = ["encode", str(_tone(tmp_path / "a.wav")), str(named), "--variant", SMALL, "--steps", "1"]
    elif command == "decode":
        args = ["decode", str(_ssr(tmp_path / "a.ssr")), str(named)]
    else:
        ratings = tmp_path / "r.csv"
        ratings.write_text("rating_stimulus,rating_score\nreference,100\nanchor35,20\n")
        args = ["mushra", str(ratings), "--out", str(named)]
    assert main(args) == 2
    line = _one_line(capsys.readouterr().err, str(named), "not a regular file")
    assert ("symbolic link" in line) == kind.startswith("link")
    assert os.stat(named).st_mode == before and named.is_symlink() == kind.startswith("link")
    assert _leftovers(tmp_path) == []


def test_an_output_linked_to_a_regular_file_is_written_through_as_before(tmp_path, capsys):
    real = tmp_path / "real.wav"
    real.write_bytes(b"the user's existing file")
    (tmp_path / "link.wav").symlink_to(real)
    assert main(["decode", str(_ssr(tmp_path / "a.ssr")), str(tmp_path / "link.wav"), "--no-denoise"]) == 0
    assert (tmp_path / "link.wav").is_symlink() and sf.info(str(real)).frames == 4410
    assert _leftovers(tmp_path) == []


# ---- row 6: a rate-control target nothing can meet is refused before the search --------------------------------


@pytest.mark.parametrize("option,value,says", [
    ("--kbps", "inf", ["--kbps inf", f"{MAX_KBPS:g} kbps"]),
    ("--kbps", "1e39", ["--kbps 1e+39", f"{MAX_KBPS:g} kbps"]),
    ("--kbps", "1.5e9", ["--kbps 1.5e+09", f"{MAX_KBPS:g} kbps"]),
    ("--kbps", "nan", ["--kbps nan"]),
    ("--kbps", "0", ["--kbps 0"]),
    ("--quality", "pesq=9", ["--quality pesq=9", "PESQ", "-0.5 to 4.64"]),
    ("--quality", "visqol=-3", ["--quality visqol=-3", "ViSQOL", "1 to 5"]),
    ("--quality", "stoi=1.5", ["--quality stoi=1.5", "0 to 1"]),
    ("--quality", "estoi=-2", ["--quality estoi=-2", "-1 to 1"]),
    ("--quality", "cdpam=-0.1", ["--quality cdpam=-0.1", "CDPAM"]),
    ("--quality", "snr=1e39", ["--quality snr=1e39", "SNR"]),
])
def test_rate_control_targets_out_of_range_are_refused_before_any_work(tmp_path, capsys, monkeypatch, option, value,
                                                                       says):
    def no_search(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr("siamese_siren.analysis.rate_control.search", no_search)
    monkeypatch.setattr("siamese_siren.codec.train.train", no_search)
    output = tmp_path / "o.ssr"
    assert main(["encode", str(_tone(tmp_path / "a.wav")), str(output), option, value, "--widths", SMALL,
                 "--search-bits", "8", "--steps", "1", "--quiet"]) == 2
    _one_line(capsys.readouterr().err, *says)
    assert not output.exists() and _leftovers(tmp_path) == []


def test_every_target_within_its_metrics_range_is_accepted_and_the_kbps_bound_is_above_any_file():
    for name in ("visqol", "pesq", "stoi", "estoi", "cdpam"):
        m = metric(name)
        assert Target.of(name, m.low).value == m.low
        if np.isfinite(m.high):
            assert Target.of(name, m.high).value == m.high
            with pytest.raises(ValueError, match=f"{m.low:g} to {m.high:g}"):
                Target.of(name, m.high + 0.01)
        with pytest.raises(ValueError, match=re.escape(m.label)):
            Target.of(name, m.low - 0.01)
    assert Target.of("kbps", MAX_KBPS).value == MAX_KBPS
    # the largest file the format can hold, over the shortest clip it can hold: no file is over MAX_KBPS
    from siamese_siren.codec.bitstream import (
        MAX_LAYERS,
        MAX_PE_FREQUENCIES,
        MAX_SAMPLE_RATE,
        MAX_WIDTH,
        MIN_SAMPLES,
        RATE_CONTROL_BYTES,
        file_size,
    )

    largest = max(file_size(Variant((MAX_WIDTH,) * h, (MAX_WIDTH,) * (MAX_LAYERS - h), MAX_PE_FREQUENCIES), 8, True)
                  for h in range(MAX_LAYERS + 1)) + RATE_CONTROL_BYTES
    assert bitstream.kbps(largest, MIN_SAMPLES / MAX_SAMPLE_RATE) < MAX_KBPS < float(np.finfo(np.float32).max)


# ---- row 7: SIGTERM and SIGHUP behave like Ctrl-C: nothing left behind, exit 128 + the signal ------------------


def _wait_for(predicate, process, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):  # the process may end between the poll and a look at its files
            if predicate():
                return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {process.poll()=}")


@pytest.mark.slow  # a decode subprocess writing megabytes, then the signal
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_during_a_streaming_decode_leaves_nothing(tmp_path, signum):
    long = _ssr(tmp_path / "long.ssr", Variant((8,), (4,), pe_frequencies=0), 192_000, 192_000 * 3600)
    output = tmp_path / "long.wav"
    output.write_bytes(b"the user's existing file")
    process = _cli("decode", long, output, "--no-denoise", stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: any(p.stat().st_size > 2**20 for p in tmp_path.glob(".*.tmp")), process)
        process.send_signal(signum)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, (process.returncode, err)
    _one_line(err, "SIGTERM" if signum == signal.SIGTERM else "SIGHUP", "nothing was written")
    assert output.read_bytes() == b"the user's existing file" and _leftovers(tmp_path) == []


# ---- row 8: a file whose two heads are identical decodes, without denoising -----------------------------------


def test_identical_heads_decode_without_denoising_and_say_so(tmp_path, capsys):
    twin = _ssr(tmp_path / "twin.ssr", twin_heads=True)
    assert main(["decode", str(twin), str(tmp_path / "t.wav")]) == 0
    captured = capsys.readouterr()
    _one_line(captured.err, "twin.ssr", "two heads are identical", "denoising removes nothing")
    assert "not denoised" in captured.out
    assert main(["decode", str(twin), str(tmp_path / "plain.wav"), "--no-denoise"]) == 0
    np.testing.assert_array_equal(sf.read(tmp_path / "t.wav")[0], sf.read(tmp_path / "plain.wav")[0])
    assert main(["decode", str(_ssr(tmp_path / "x.ssr")), str(tmp_path / "x.wav"), "--alpha", "0"]) == 0
    _one_line(capsys.readouterr().err, "--alpha 0", "denoising removes nothing")


# ---- row 11: --init given a file that is not an initialisation: one line -----------------------------------------


@pytest.mark.parametrize("kind", ["text", "pickle", "module", "truncated zip"])
def test_init_that_is_not_an_initialisation_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / f"{kind.replace(' ', '_')}.pt"
    if kind == "text":
        path.write_text("hello\n" * 10)
    elif kind == "pickle":
        import pickle

        path.write_bytes(pickle.dumps({"weights": np.zeros(3)}, protocol=4))
    elif kind == "module":
        torch.save(torch.nn.Linear(2, 2), path)  # a whole module: torch's weights_only loader refuses it
    else:
        torch.save({"w": torch.zeros(1000)}, tmp_path / "whole.pt")
        path.write_bytes((tmp_path / "whole.pt").read_bytes()[:300])
    assert main(["encode", str(_tone(tmp_path / "a.wav")), str(tmp_path / "o.ssr"), "--variant", SMALL,
                 "--steps", "1", "--init", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    line = _one_line(err, str(path), "not a readable learned initialisation", "meta_init")
    assert "weights_only" not in err and "Warning" not in err and len(line) < 400


# ---- row 12: start-up imports only what the command needs, and Ctrl-C there is silent --------------------------

HEAVY = ("torch", "soundfile", "numpy", "scipy", "noisereduce", "pandas")


def _imported_after(code):
    done = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())  # the modules: the last line, after what the command printed


def test_help_and_version_import_no_heavy_package_and_info_only_the_reader(tmp_path):
    loaded = _imported_after("import siamese_siren.cli")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
    for args in (["--version"], ["--help"], ["info", "--help"], ["compare", "--help"]):
        loaded = _imported_after(f"from siamese_siren.cli import main\ntry:\n    main({args!r})\nexcept SystemExit:\n"
                                 "    pass")
        assert not loaded & set(HEAVY), (args, loaded & set(HEAVY))
    # info reads the .ssr file with NumPy and the network's plain data (codec.variants): no torch, as it runs no
    # network, and nothing for audio, denoising, metrics or rate control. Every part of the format is read: the
    # paper's version 1, a family's version 2, an entropy-coded payload, a rate-control record.
    family = Variant((16,), (8,), activation="gauss", encoding="fourier", fourier_sigma=3.0, fourier_seed=7)
    coded = CompressedClip.from_model(SiameseSiren(family), RATE, 4410, 0.5, bits=5, entropy="rans-prior")
    record = bitstream.RateControl("kbps", 64.0, 60.5, True, 3, "snr", 12.5)
    bitstream.write(tmp_path / "v2.ssr", dataclasses.replace(coded, rate_control=record))
    for ssr in (_ssr(tmp_path / "v1.ssr"), tmp_path / "v2.ssr"):
        loaded = _imported_after(f"from siamese_siren.cli import main\nassert main(['info', {str(ssr)!r}]) == 0")
        assert not loaded & {"torch", "soundfile", "scipy", "noisereduce", "pandas", "siamese_siren.codec.models",
                             "siamese_siren.codec.quantize", "siamese_siren.analysis.rate_control",
                             "siamese_siren.codec.decode", "siamese_siren.codec.train", "siamese_siren.metrics"}, ssr


def test_ctrl_c_while_a_command_imports_exits_130_silently(tmp_path, capsys, monkeypatch):
    class Interrupting:  # Ctrl-C landing while the command's modules are imported (torch takes seconds)
        def find_spec(self, name, path=None, target=None):
            if name == "siamese_siren.codec.train":
                raise KeyboardInterrupt

    monkeypatch.delitem(sys.modules, "siamese_siren.codec.train")
    monkeypatch.setattr(sys, "meta_path", [Interrupting(), *sys.meta_path])
    assert main(["encode", str(_tone(tmp_path / "a.wav")), str(tmp_path / "o.ssr"), "--steps", "0"]) == 130
    assert capsys.readouterr() == ("", "")
    assert not (tmp_path / "o.ssr").exists()


@pytest.mark.slow  # a subprocess importing torch
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_ctrl_c_while_torch_loads_exits_130_without_a_traceback(tmp_path):
    process = _cli("encode", _tone(tmp_path / "a.wav"), tmp_path / "o.ssr", "--variant", SMALL, "--steps", "100000",
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:  # torch's library is mapped: the process is inside main, importing torch (or, on a fast machine, past it)
        _wait_for(lambda: "libtorch" in Path(f"/proc/{process.pid}/maps").read_text(), process, timeout=60)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130 and "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert len([line for line in err.splitlines() if "CUDA" not in line and "step" not in line]) <= 1, err
    assert not (tmp_path / "o.ssr").exists() and _leftovers(tmp_path) == []


# ---- row 14: the work a file may ask of the decoder is bounded; --max-work overrides ---------------------------


def test_a_file_asking_for_too_much_work_is_refused_before_decoding(tmp_path, capsys, monkeypatch):
    wide = _ssr(tmp_path / "wide.ssr", Variant((512, 512), (256,)), 192_000, 192_000 * 3600)  # 0.6 MB
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoding started")

    monkeypatch.setattr("siamese_siren.codec.audio.write_audio_chunks", no_decoding)
    start = time.monotonic()
    assert main(["decode", str(wide), str(tmp_path / "o.wav"), "--no-denoise"]) == 2
    line = _one_line(capsys.readouterr().err, "wide.ssr", "multiply-adds", "--max-work", "1e+14")
    assert time.monotonic() - start < 10 and not (tmp_path / "o.wav").exists()
    assert "3.74e+14" in line  # 691,200,000 samples x 541,696 multiply-adds


def test_max_work_overrides_the_limit_and_is_checked(tmp_path, capsys):
    small = _ssr(tmp_path / "small.ssr")  # 4410 samples x 10,368 multiply-adds: 4.6e7
    assert main(["decode", str(small), str(tmp_path / "o.wav"), "--max-work", "1e6"]) == 2
    _one_line(capsys.readouterr().err, "small.ssr", "4.57e+07 multiply-adds", "--max-work 4.58e+07")
    assert not (tmp_path / "o.wav").exists()
    assert main(["decode", str(small), str(tmp_path / "o.wav"), "--max-work", "4.58e7"]) == 0
    for value in ("0", "-1", "nan", "inf"):
        assert main(["decode", str(small), str(tmp_path / "o.wav"), "--max-work", value]) == 2
        _one_line(capsys.readouterr().err, "--max-work")


# ---- row 15: alpha is bounded -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e30", "10.5", "1e309"])
@pytest.mark.parametrize("command", ["encode", "decode"])
def test_alpha_out_of_its_documented_range_is_refused(tmp_path, capsys, command, value):
    if command == "encode":
        args = ["encode", str(_tone(tmp_path / "a.wav")), str(tmp_path / "o.ssr"), "--kbps", "64", "--steps", "1"]
    else:
        args = ["decode", str(_ssr(tmp_path / "a.ssr")), str(tmp_path / "o.wav")]
    assert main([*args, "--alpha", value]) == 2
    _one_line(capsys.readouterr().err, "--alpha", f"from 0 to {MAX_ALPHA:g}")
    assert not (tmp_path / ("o.ssr" if command == "encode" else "o.wav")).exists()


def test_alpha_at_its_bound_decodes(tmp_path):
    assert main(["decode", str(_ssr(tmp_path / "a.ssr")), str(tmp_path / "o.wav"), "--alpha", f"{MAX_ALPHA:g}"]) == 0


# ---- row 17: a reader that stops reading ends the command quietly ------------------------------------------------


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("command", ["info", "decode"])
def test_a_closed_stdout_ends_quietly_with_sigpipes_status(tmp_path, capsys, monkeypatch, command):
    ssr = _ssr(tmp_path / "x.ssr")
    args = ["info", str(ssr)] if command == "info" else ["decode", str(ssr), str(tmp_path / "o.wav")]
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(args) == EXIT_STDOUT_CLOSED == 141
    assert capsys.readouterr().err == ""
    if command == "decode":  # the file was written before the summary line met the closed pipe: it stays
        assert sf.info(str(tmp_path / "o.wav")).frames == 4410 and _leftovers(tmp_path) == []


@pytest.mark.slow  # subprocesses importing torch
@pytest.mark.parametrize("args", [["info", "{ssr}"], ["decode", "{ssr}", "{tmp}/o.wav"], ["--help"]])
def test_a_closed_pipe_on_the_real_stdout_is_quiet(tmp_path, args):
    ssr = _ssr(tmp_path / "x.ssr")
    read, write = os.pipe()
    os.close(read)  # the reader has gone, as head -1 does once it has its line
    try:
        process = _cli(*[a.format(ssr=ssr, tmp=tmp_path) for a in args], stdout=write, stderr=subprocess.PIPE,
                       text=True)
        _, err = process.communicate(timeout=120)
    finally:
        os.close(write)
    assert err == "" and process.returncode in ((0, 141) if args == ["--help"] else (141,)), (process.returncode, err)


# ---- row 18 --------------------------------------------------------------------------------------------------------


def test_one_sample_is_singular(tmp_path, capsys):
    sf.write(tmp_path / "one.wav", np.array([0.5]), RATE)
    assert main(["encode", str(tmp_path / "one.wav"), str(tmp_path / "o.ssr"), "--steps", "1"]) == 1
    line = _one_line(capsys.readouterr().err, "one.wav", "1 sample is out of range")
    assert not re.search(r"\b1 samples\b", line)
