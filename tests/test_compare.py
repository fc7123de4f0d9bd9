"""The results-folder comparison: what must count as a change, and what must not."""

import json

import numpy as np
import pandas as pd
import soundfile as sf

from siamese_siren.analysis.compare import compare_results
from siamese_siren.cli import EXIT_DIFFERENT, main


def results(root, *, rows_reversed=False, wav_scale=1.0, wall=1.0, extra_column=False, ssr=b"SSRN\x01"):
    (root / "scores").mkdir(parents=True)
    frame = pd.DataFrame({"clip": ["a", "b"], "visqol": [2.5, float("nan")], "visqol_version": ["v1", "v1"]})
    if extra_column:
        frame["dataset"] = "speech"
    (frame[::-1] if rows_reversed else frame).to_csv(root / "scores" / "b0000.csv", index=False)
    sf.write(root / "clip.wav", wav_scale * np.linspace(-0.5, 0.5, 1000), 22050, subtype="FLOAT")
    (root / "model.json").write_text(json.dumps({"steps": 30, "wall_seconds": wall}))
    (root / "clip.ssr").write_bytes(ssr)
    (root / "logs").mkdir()
    (root / "logs" / "x.log").write_text(str(wall))
    return root


def test_same_results_in_another_order_with_other_timings_and_an_added_column_are_identical(tmp_path):
    a = results(tmp_path / "a")
    b = results(tmp_path / "b", rows_reversed=True, wall=9.0, extra_column=True)
    outcome = compare_results(a, b)
    assert outcome.identical and outcome.compared == 4 and "columns on one side only" in outcome.notes[0]
    assert main(["compare", str(a), str(b)]) == 0


def test_a_changed_sample_value_or_byte_is_a_difference(tmp_path):
    a = results(tmp_path / "a")
    assert not compare_results(a, results(tmp_path / "b", wav_scale=0.5)).identical
    assert not compare_results(a, results(tmp_path / "c", ssr=b"SSRN\x02")).identical
    changed = results(tmp_path / "d")
    (changed / "model.json").write_text(json.dumps({"steps": 31, "wall_seconds": 1.0}))
    assert compare_results(a, changed).differences == ["model.json: values differ"]
    (changed / "only-here.csv").write_text("x\n1\n")
    assert main(["compare", str(a), str(changed)]) == EXIT_DIFFERENT


def test_a_tolerance_admits_last_bit_noise_only(tmp_path):
    a, b = results(tmp_path / "a"), results(tmp_path / "b")
    pd.DataFrame({"clip": ["a", "b"], "visqol": [2.5 * (1 + 1e-15), float("nan")], "visqol_version": ["v1", "v1"]}
                 ).to_csv(b / "scores" / "b0000.csv", index=False)
    assert not compare_results(a, b).identical and compare_results(a, b, rtol=1e-9).identical
    pd.DataFrame({"clip": ["a", "b"], "visqol": [2.6, float("nan")], "visqol_version": ["v1", "v1"]}
                 ).to_csv(b / "scores" / "b0000.csv", index=False)
    assert not compare_results(a, b, rtol=1e-6).identical


def test_a_damaged_file_on_one_side_is_a_difference_not_a_crash(tmp_path, capsys):
    a, b = results(tmp_path / "a"), results(tmp_path / "b")
    (b / "scores" / "b0000.csv").write_bytes(b"")
    (b / "clip.wav").write_bytes(b"RIFF, but not audio")
    (b / "model.json").write_text("{not json")
    differences = sorted(compare_results(a, b).differences)
    assert [d.split(":")[0] for d in differences] == ["clip.wav", "model.json", "scores/b0000.csv"]
    for line, error in zip(differences, ("LibsndfileError", "JSONDecodeError", "EmptyDataError"), strict=True):
        assert f"cannot be compared as .{line.split(':')[0].split('.')[-1]} ({error}: " in line, line
        assert len(line) < 150, line  # one readable line, however long the parser's message
    assert main(["compare", str(a), str(b)]) == EXIT_DIFFERENT
    assert "3 results differ" in capsys.readouterr().out
