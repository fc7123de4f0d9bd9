"""Property test of the command line (issue 14): random option values and paths, and whatever happens the exit
code is a documented one, stderr has no traceback, no temporary or partial file is left, an existing output is
either replaced by a complete file or untouched, and the input is byte-identical afterwards.

Issue 28 added outputs that are not regular files (a FIFO, a device node, links to them: refused with exit 2 and
left as they were), links to a regular file or to nothing (written through), rate-control targets in and out of
their metric's range (out: refused with exit 2), and decode's --max-work."""

import contextlib
import io
import os
import stat
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamese_siren.cli import main
from siamese_siren.codec import bitstream
from siamese_siren.codec.bitstream import CompressedClip
from siamese_siren.codec.models import VARIANTS, SiameseSiren

DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 130}
SMALL = "siamese-2x64+1x32"
RATE = 22050
TONE = (0.5 * np.sin(2 * np.pi * 330 * np.arange(int(0.2 * RATE)) / RATE)).astype(np.float32)
torch.manual_seed(0)
SSR = bitstream.to_bytes(CompressedClip.from_model(SiameseSiren(VARIANTS[SMALL]), RATE, len(TONE), 0.5))
EXISTING = b"the user's existing file"

NAMES = st.sampled_from(["out", "ünïcödé ☃ 音", "with space", "-dash", "x" * 200])
ODD_EXTENSIONS = [".ssr", ".wav", ".WAV", ".flac", ".ogg", ".mp3", ".xyz", "", ".ssr.tmp"]
GOOD_INPUTS = {"encode": ["audio", "unicode audio"], "decode": ["ssr"], "info": ["ssr"]}
BAD_INPUTS = ["missing", "empty", "folder", "text.wav", "truncated", "audio", "ssr"]
GOOD_EXTENSIONS = {"encode": [".ssr"], "decode": [".wav", ".flac", ".ogg", ".WAV"], "info": [""]}
SPECIAL_OUTPUTS = ["fifo", "link to fifo", "device", "link to device"]  # never replaced: refused with exit 2
BAD_OUTPUTS = ["same as input", "missing folder", "read-only folder", "/proc", "a folder", *SPECIAL_OUTPUTS]
GOOD_OUTPUTS = ["new", "existing", "link to file", "dangling link"]  # a link is written through, as open() does
# (option, valid values, invalid values); encode always trains tiny: the defaults (2500 steps of the paper's
# network) would take minutes per case
ENCODE_OPTIONS = [
    ("--steps", [1, 2, 3], [-1, 0, "two"]),
    ("--variant", [SMALL], ["nope"]),
    ("--sample-rate", [8000, 16000, 22050, 192000], [0, 1, -5, 7999, 192001, 10**7]),
    # valid at every valid --sample-rate: 0.05 s is 400 samples at 8 kHz, under the 1,024 a file needs
    ("--duration", [0.2, 1.0], ["nan", "inf", -1, 0, 0.01, 4000]),
    ("--offset", [0, 0.05], ["nan", -1, "inf"]),
    ("--seed", [0, 7, 2**32 - 1], [-1, 2**40]),
    ("--bits", [2, 5, 8], [1, 9]),
    ("--entropy", ["none", "zstd", "rans"], ["gzip"]),
]
DECODE_OPTIONS = [
    ("--sample-rate", [8000, 16000, 44100, 192000], [0, 1, -8000, 10**7]),
    ("--alpha", [0, 1, 2.5, 10], ["nan", "inf", -5, "1e30", 10.5]),
    ("--max-work", ["1e12", "1e15"], [0, -1, "nan", "inf", 1000]),  # 1000: less than any file here asks for
]
REQUIRED = {"--steps", "--variant"}
# Rate-control targets (encode): the cheapest search, one width at one bit depth; the in-range ones cost nothing
# to measure (kbps maximising SNR, an SNR target). Out of range, they are refused before the search.
VALID_TARGETS = [["--kbps", "1e9"], ["--kbps", "4"], ["--quality", "snr=5"], ["--quality", "snr=-3"]]
INVALID_TARGETS = [["--kbps", "inf"], ["--kbps", "1e39"], ["--kbps", "0"], ["--kbps", "-3"], ["--kbps", "nan"],
                   ["--quality", "pesq=9"], ["--quality", "visqol=-3"], ["--quality", "visqol=5.5"],
                   ["--quality", "stoi=1.5"], ["--quality", "estoi=-1.5"], ["--quality", "cdpam=-1"],
                   ["--quality", "snr=1e39"]]
SEARCH = ["--widths", SMALL, "--search-bits", "8"]
CHOSEN_BY_RATE_CONTROL = {"--variant", "--bits", "--entropy"}


@st.composite
def command_lines(draw) -> tuple[str, str, str, str, str, list[str]]:
    """(command, fault, input kind, output kind, output file name, options). One part (the fault) is made faulty,
    or none, or all may be: so that whole command lines also succeed often enough to test what a success writes."""
    command = draw(st.sampled_from(["encode", "decode", "info"]))
    faults = ["none", "none", "input", "output", "option", "anything"] + (["target"] if command == "encode" else [])
    fault = draw(st.sampled_from(faults))
    input_kind = draw(st.sampled_from(BAD_INPUTS if fault in ("input", "anything") else GOOD_INPUTS[command]))
    if fault in ("output", "anything"):
        output_kind = draw(st.sampled_from(BAD_OUTPUTS + GOOD_OUTPUTS))
        extension = draw(st.sampled_from(ODD_EXTENSIONS))
    else:
        output_kind = draw(st.sampled_from(GOOD_OUTPUTS))
        extension = draw(st.sampled_from(GOOD_EXTENSIONS[command]))
    table = {"encode": ENCODE_OPTIONS, "decode": DECODE_OPTIONS, "info": []}[command]
    faulty = draw(st.sampled_from([o for o, _, _ in table])) if fault == "option" and table else None
    options = []
    for option, valid, invalid in table:
        bad = option == faulty or (fault == "anything" and draw(st.booleans()))
        if bad or option in REQUIRED or draw(st.booleans()):
            options += [option, str(draw(st.sampled_from(invalid if bad else valid)))]
    if command == "encode":
        bad_target = fault == "target" or (fault == "anything" and draw(st.booleans()))
        if bad_target or draw(st.integers(0, 3)) == 0:  # a quarter of the other encodes use rate control
            pairs = zip(options[::2], options[1::2], strict=True)  # rate control chooses these: leave them out
            options = [word for pair in pairs if pair[0] not in CHOSEN_BY_RATE_CONTROL for word in pair]
            options += draw(st.sampled_from(INVALID_TARGETS if bad_target else VALID_TARGETS)) + SEARCH
        options.append("--quiet")
    elif command == "decode":
        options += draw(st.sampled_from([[], ["--denoise"], ["--no-denoise"]]))
        options += draw(st.sampled_from([[], ["--paper-mode"]]))
    return command, fault, input_kind, output_kind, draw(NAMES) + extension, options


cases_run = 0
exit_codes: dict[int, int] = {}
SPECIAL_KIND = {"fifo": stat.S_ISFIFO, "link to fifo": stat.S_ISFIFO, "device": stat.S_ISCHR,
                "link to device": stat.S_ISCHR}


def _make_input(folder: Path, kind: str) -> Path:
    paths = {"audio": "in.wav", "unicode audio": "ïnpüt ♪.flac", "ssr": "in.ssr", "missing": "missing.wav",
             "empty": "empty.wav", "folder": "folder.wav", "text.wav": "text.wav", "truncated": "truncated.ssr"}
    path = folder / paths[kind]
    if kind in ("audio", "unicode audio"):
        sf.write(path, TONE, RATE)
    elif kind == "ssr":
        path.write_bytes(SSR)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "folder":
        path.mkdir()
    elif kind == "text.wav":
        path.write_text("not audio\n" * 20)
    elif kind == "truncated":
        path.write_bytes(SSR[: len(SSR) // 2])
    return path


def _device_node(path: Path) -> Path:
    """A device node like /dev/null (character device 1, 3) of our own at ``path``; where mknod is not permitted
    (not root), /dev/null itself, which only root could replace."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return Path(os.devnull)
    return path


def _make_output(folder: Path, kind: str, name: str, source: Path) -> Path:
    if kind == "same as input":
        return source
    if kind in ("fifo", "device"):
        path = folder / name
        if kind == "fifo":
            os.mkfifo(path)
            return path
        return _device_node(path)
    if kind.startswith("link to "):
        target = folder / f"target of {name}"
        if kind == "link to fifo":
            os.mkfifo(target)
        elif kind == "link to device":
            target = _device_node(target)
        else:
            target.write_bytes(EXISTING)
        (folder / name).symlink_to(target)
        return folder / name
    if kind == "dangling link":
        (folder / name).symlink_to(folder / f"target of {name}")
        return folder / name
    if kind == "/proc":
        return Path("/proc") / name
    if kind == "missing folder":
        return folder / "no such folder" / name
    if kind == "read-only folder":
        (folder / "read-only").mkdir(mode=0o555)
        return folder / "read-only" / name
    path = folder / name
    if kind == "existing":
        path.write_bytes(EXISTING)
    elif kind == "a folder":
        path.mkdir()
    return path


def _snapshot(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None  # never opens a FIFO or a device: they are not is_file


def _temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def _complete_output(command: str, output: Path) -> bool:
    if command == "encode":
        return bitstream.read(output).num_samples > 0
    return sf.info(str(output)).frames > 0


@pytest.mark.slow  # 80 command lines, each encode trains (5-13 s on a busy 2-core machine)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_any_command_line_ends_in_a_documented_way_and_loses_nothing(command_line):
    global cases_run
    cases_run += 1
    command, fault, input_kind, output_kind, name, options = command_line
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = _make_input(folder, input_kind)
        output = _make_output(folder, output_kind, name, source)
        before_input, before_output = _snapshot(source), _snapshot(output)
        argv = [command, str(source)] + ([] if command == "info" else [str(output)]) + options
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)  # an uncaught exception fails the test here, with its traceback

        exit_codes[code] = exit_codes.get(code, 0) + 1
        assert code in DOCUMENTED_EXIT_CODES, (argv, code, err.getvalue())
        assert "Traceback" not in err.getvalue(), argv
        assert _temporary_files(folder) == [], argv
        if command != "info" and output_kind in SPECIAL_KIND:  # never replaced, refused as a bad command line
            assert SPECIAL_KIND[output_kind](os.stat(output).st_mode), argv
            assert code != 0 and (fault != "output" or code == 2), (argv, code, err.getvalue())
        if command != "info" and output_kind == "link to file":
            assert output.is_symlink(), argv  # written through: the link stays a link
        if fault == "target":  # the target is the only fault: refused before the search, naming the option
            assert code == 2 and ("--kbps" in err.getvalue() or "--quality" in err.getvalue()), argv
        assert _snapshot(source) == before_input, argv
        if command != "info" and output != source:
            if code == 0:
                assert _complete_output(command, output), argv
            else:
                assert _snapshot(output) == before_output, argv  # untouched: still absent, or the old bytes
        if code != 0:
            message = [line for line in err.getvalue().splitlines() if "error" in line]
            assert message, (argv, err.getvalue())  # one line that says what went wrong


def teardown_module(module):
    print(f"\nCLI property test: {cases_run} command lines run, exit codes {dict(sorted(exit_codes.items()))}")
