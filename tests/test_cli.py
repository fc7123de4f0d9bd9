import subprocess
import sys

import numpy as np
import soundfile as sf

from siamese_siren import bitstream
from siamese_siren.cli import main
from siamese_siren.models import VARIANTS, parameter_count


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "siamese_siren.cli", *map(str, args)], capture_output=True, text=True)


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


def test_same_file_same_output(tmp_path, trained_small):
    ssr = tmp_path / "a.ssr"
    bitstream.write(ssr, bitstream.CompressedClip.from_model(trained_small, 22050, 4000, 0.5))
    for name in ("x.wav", "y.wav"):
        assert main(["decode", str(ssr), str(tmp_path / name)]) == 0
    assert (tmp_path / "x.wav").read_bytes() == (tmp_path / "y.wav").read_bytes()


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
