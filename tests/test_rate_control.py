import math

import pytest

from siamese_siren.analysis.rate_control import Candidate, SearchSettings, Target, choose, search_bound, smallest_file
from siamese_siren.cli import main
from siamese_siren.codec import bitstream
from siamese_siren.codec.models import VARIANTS

ONE_SECOND = 1.0


def _file(label: str, kbps: float, **scores: float) -> Candidate:
    return Candidate(label, round(kbps * 1000 / 8 * ONE_SECOND), ONE_SECOND, scores)


FILES = [_file("small", 8, snr=5, visqol=2.0, cdpam=0.6), _file("mid", 16, snr=12, visqol=3.1, cdpam=0.3),
         _file("noisy-mid", 15, snr=9, visqol=3.3, cdpam=0.4), _file("large", 32, snr=20, visqol=3.9, cdpam=0.1)]


def test_a_kbps_target_takes_the_best_objective_at_or_under_the_budget():
    choice = choose(FILES, Target.of("kbps", 16), objective="snr")
    assert choice.candidate.label == "mid" and choice.met and choice.got == pytest.approx(16)
    assert choose(FILES, Target.of("kbps", 16), objective="visqol").candidate.label == "noisy-mid"
    assert choose(FILES, Target.of("kbps", 16), objective="cdpam").candidate.label == "mid"  # lower is better
    missed = choose(FILES, Target.of("kbps", 4))
    assert missed.candidate.label == "small" and not missed.met
    assert "no file fits the budget" in missed.reason() and "of 4 candidates" in missed.reason()


def test_a_quality_target_takes_the_smallest_file_reaching_it():
    choice = choose(FILES, Target.parse("visqol=3.2"))
    assert choice.candidate.label == "noisy-mid" and choice.met and choice.got == pytest.approx(3.3)
    assert choose(FILES, Target.parse("cdpam = 0.35")).candidate.label == "mid"
    missed = choose(FILES, Target.parse("visqol=4.5"))
    assert missed.candidate.label == "large" and not missed.met and "no file reaches it" in missed.reason()
    record = choice.record()
    assert (record.target, record.asked, record.met, record.candidates) == ("visqol", 3.2, True, 4)
    assert record.objective == "snr" and record.objective_value == pytest.approx(9)  # what it also scored


def test_a_candidate_without_the_score_never_wins_a_quality_target():
    unscored = [_file("unscored", 4), *FILES]
    assert choose(unscored, Target.parse("visqol=3.0")).candidate.label == "noisy-mid"
    assert math.isnan(unscored[0].value("visqol"))


@pytest.mark.parametrize("text", ["visqol", "loudness=3", "kbps=-3", "kbps=nan", "pesq=fast"])
def test_bad_targets_say_how_to_write_one(text):
    with pytest.raises(ValueError, match="kbps|unknown target|not a target"):
        Target.parse(text)


def test_the_search_bound_and_the_smallest_possible_file():
    settings = SearchSettings(widths=("siamese-2x64+1x32", "siamese-siren"), bits=(8, 4), qat_steps=100)
    assert search_bound(settings, 2500) == {"trainings": 2, "finetunings": 8, "steps": 2 * 2500 + 8 * 100,
                                            "candidates": 16}  # 2 widths x 2 depths x 2 kinds of scales, twice
    small = VARIANTS["siamese-2x64+1x32"]
    record = bitstream.RATE_CONTROL_BYTES
    assert smallest_file(small, (8, 4), (True,)) == 0.5 * bitstream.file_size(small, 4, True) + record
    assert smallest_file(small, (8, 4)) == 0.5 * bitstream.file_size(small, 4, False) + record  # fewer scales
    with pytest.raises(ValueError, match="outside 2..8"):
        SearchSettings(bits=(9,)).check()


HALF_SECOND = ["--offset", "0.5", "--duration", "0.5"]


@pytest.mark.slow  # trains and writes every setting (6-20 s on a busy 2-core machine)
def test_encode_at_a_bitrate_writes_the_best_file_under_it_and_info_says_why(speech_path, tmp_path, capsys):
    ssr = tmp_path / "rc.ssr"
    small = VARIANTS["siamese-2x64+1x32"]
    budget = bitstream.kbps(bitstream.file_size(small, 6, True) + bitstream.RATE_CONTROL_BYTES, 0.5)
    code = main(["encode", str(speech_path), str(ssr), "--kbps", f"{budget:.2f}", "--widths", "siamese-2x64+1x32",
                 "--search-bits", "8,6,4", "--steps", "60", *HALF_SECOND, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    clip = bitstream.read(ssr)
    assert bitstream.kbps(ssr.stat().st_size, 0.5) <= budget
    assert clip.rate_control.met and clip.bits >= 6  # a deep file fits: the fewest bits are never the best SNR
    assert f"asked at most {float(f'{budget:.2f}'):g} kbps" in out and "of 6 candidates" in out  # 3 depths x 2 scales
    assert main(["info", str(ssr)]) == 0
    info = capsys.readouterr().out
    assert "rate control: kbps" in info and "(met); snr" in info and "6 candidates measured" in info
    assert main(["decode", str(ssr), str(tmp_path / "rc.wav")]) == 0


@pytest.mark.slow  # trains and scores ViSQOL (~4 s)
def test_encode_at_a_quality_writes_the_smallest_file_reaching_it(speech_path, tmp_path, capsys):
    ssr = tmp_path / "q.ssr"
    code = main(["encode", str(speech_path), str(ssr), "--quality", "snr=3", "--widths", "siamese-2x64+1x32",
                 "--search-bits", "8,6,4,3", "--steps", "150", "--qat-steps", "20", *HALF_SECOND, "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    record = bitstream.read(ssr).rate_control
    assert record.target == "snr" and record.asked == 3 and record.met and record.got >= 3
    assert "the smallest file that reaches it" in out


@pytest.mark.parametrize(("args", "says"), [
    (["--kbps", "16", "--bits", "4"], "--bits given with rate control"),
    (["--kbps", "16", "--quality", "visqol=3"], "give one of them"),
    (["--quality", "loudness=3"], "unknown target"),
    (["--kbps", "16", "--widths", "siamese-huge"], "siamese-huge"),
    (["--quality", "pesq=3", "--kind", "music"], "scores speech only"),
    (["--kbps", "0.01", "--widths", "siamese-siren"], "over the budget"),
])
def test_rate_control_options_are_checked_before_any_training(speech_path, tmp_path, capsys, args, says):
    assert main(["encode", str(speech_path), str(tmp_path / "x.ssr"), *args, *HALF_SECOND, "--quiet"]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "x.ssr").exists()
