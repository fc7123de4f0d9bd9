"""A training's artifacts carry digests (siamese_siren.codec.integrity): a truncated or damaged cache entry is trained
again instead of published, a damaged published model is named with the fix when loaded or checked, and the
workflow's cheap verify_models job fails before Snakemake starts (and so never removes the outputs of) an evaluate job
(issue 28, rows 2 and 3)."""

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from snakemake_workdir import SNAKEFILE, workdir

from siamese_siren.codec import integrity
from siamese_siren.codec import train as train_module
from siamese_siren.codec.integrity import DamagedArtifact
from siamese_siren.codec.models import SiameseSiren, Variant
from siamese_siren.codec.train import TrainConfig, TrainResult, load_state, save_result, train_and_save

TINY = Variant(hidden=(8,), siam=(4,), name="tiny")
CONFIG = TrainConfig(steps=3, progress=False, device="cpu", snapshot_steps=(2,))
ROOT = Path(__file__).resolve().parents[1]


def _result(seed: int = 0) -> TrainResult:
    torch.manual_seed(seed)
    state = {k: v.clone() for k, v in SiameseSiren(TINY).state_dict().items()}
    return TrainResult(state=state, best_step=1, best_loss=0.5, losses=np.array([1.0, 0.5, 0.7]),
                       snapshots={2: state}, keep="best")


def _signals(speech_half_second, count: int = 2) -> dict[str, np.ndarray]:
    return {f"c{i}": speech_half_second[i * 200 : (i + 1) * 200] for i in range(count)}


def test_the_record_lists_the_size_and_sha256_of_every_file_written_before_it(tmp_path):
    save_result(_result(), tmp_path, "clip", TINY)
    listed = json.loads((tmp_path / "clip.json").read_text())["files"]
    assert sorted(listed) == ["clip.loss.csv", "clip.pt", "clip.snapshots.pt"]
    for name, entry in listed.items():
        data = (tmp_path / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert (tmp_path / "clip.loss.csv").read_bytes().startswith(b"step,loss\r\n0,1\r\n")  # as before: csv's line ends
    loaded, saved = load_state(tmp_path / "clip.pt"), _result().state
    assert loaded.keys() == saved.keys() and all(torch.equal(loaded[k], saved[k]) for k in saved)


def _one_line(err: BaseException) -> str:
    text = str(err)
    assert "\n" not in text, text
    return text


@pytest.mark.parametrize("name", ["clip.pt", "clip.snapshots.pt"])
def test_a_damaged_published_file_is_named_with_the_fix_when_loaded(tmp_path, name):
    save_result(_result(), tmp_path, "clip", TINY)
    path = tmp_path / name
    good = path.read_bytes()

    path.write_bytes(good[:1000])  # truncated: what a cut-off copy or a full disk leaves
    with pytest.raises(DamagedArtifact) as caught:
        load_state(path)
    message = _one_line(caught.value)
    assert message.startswith(f"{path}: is truncated (1000 of the {len(good)} bytes its record clip.json lists)")
    assert message.endswith(f"delete the folder {tmp_path} and run again, which trains its clips again")

    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x01  # one bit, same length: torch itself might load it
    path.write_bytes(bytes(flipped))
    with pytest.raises(DamagedArtifact, match=r"does not match the SHA-256 its record clip.json lists"):
        load_state(path)

    path.unlink()
    with pytest.raises(DamagedArtifact, match=rf"^{path}: is missing; delete the folder"):
        load_state(path)
    path.write_bytes(good)
    assert set(load_state(path)) == (set(_result().state) if name == "clip.pt" else {2})


def test_a_damaged_record_is_named_with_the_fix(tmp_path):
    save_result(_result(), tmp_path, "clip", TINY)
    record = tmp_path / "clip.json"
    record.write_bytes(record.read_bytes()[:50])
    with pytest.raises(DamagedArtifact) as caught:
        load_state(tmp_path / "clip.pt")
    assert _one_line(caught.value).startswith(f"{record}: cannot be read as a JSON record (JSONDecodeError: ")
    assert integrity.clip_problem(tmp_path, "clip")[0] == record


def test_a_record_without_digests_is_trusted_only_when_torch_loads_its_weights(tmp_path):
    """Records written before digests existed (an earlier version's results): accepted, but the weights must load."""
    save_result(_result(), tmp_path, "clip", TINY)
    record = json.loads((tmp_path / "clip.json").read_text())
    del record["files"]
    (tmp_path / "clip.json").write_text(json.dumps(record))
    assert set(load_state(tmp_path / "clip.pt")) == set(_result().state)
    assert len(integrity.verify_folder(tmp_path, ["clip"])) == 4
    assert integrity.clip_problem(tmp_path, "clip") is None

    path = tmp_path / "clip.pt"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(DamagedArtifact) as caught:
        load_state(path)
    assert _one_line(caught.value).startswith(f"{path}: cannot be loaded as weights (RuntimeError: ")
    with pytest.raises(DamagedArtifact, match=rf"^{path}: cannot be loaded as weights .*: truncated or damaged; "):
        integrity.verify_folder(tmp_path, ["clip"])


def test_a_file_outside_a_training_folder_is_only_loaded(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "weights.pt")
    assert torch.equal(load_state(tmp_path / "weights.pt")["w"], torch.ones(2))
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DamagedArtifact, match=r"empty.pt: cannot be loaded as weights \("):
        load_state(tmp_path / "empty.pt")


def test_verify_folder_lists_every_file_or_names_the_first_damaged_one_and_counts_the_rest(tmp_path):
    for clip in ("a", "b", "c"):
        save_result(_result(), tmp_path / "b0000", clip, TINY)
    folder = tmp_path / "b0000"
    lines = integrity.verify_folder(folder, ["a", "b", "c"], load=None)
    digest = hashlib.sha256((folder / "a.pt").read_bytes()).hexdigest()
    assert len(lines) == 12 and lines[0] == f"{digest}  b0000/a.pt\n"
    for clip in ("b", "c"):
        (folder / f"{clip}.snapshots.pt").write_bytes(b"PK")
    with pytest.raises(DamagedArtifact) as caught:
        integrity.verify_folder(folder, ["a", "b", "c"], load=None)
    size = json.loads((folder / "b.json").read_text())["files"]["b.snapshots.pt"]["bytes"]
    assert _one_line(caught.value) == (f"{folder}/b.snapshots.pt: is truncated (2 of the {size} bytes its record "
                                       f"b.json lists) (and 1 more clip of this folder); delete the folder {folder} "
                                       "and run again, which trains its clips again")


def _killed_after_first_clip(signals, out, cache, monkeypatch):
    """train_and_save killed once the first clip is in the cache (as a kill -9 of the job would leave it)."""
    real = train_module.train_batch
    calls = []

    def dies_on_the_second_group(variant, group, *args, **kwargs):
        calls.append(group)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(variant, group, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_batch", dies_on_the_second_group)
    with pytest.raises(KeyboardInterrupt):
        train_and_save(TINY, signals, CONFIG, out, cache=cache)
    monkeypatch.setattr(train_module, "train_batch", real)
    (entry,) = [p for p in cache.iterdir() if (p / "c0.json").exists()]
    return entry


def test_a_truncated_cache_entry_is_trained_again_not_published(speech_half_second, tmp_path, monkeypatch, caplog):
    """Issue 28, row 2: kill -9 during training, truncate the cached .pt, run again."""
    signals, out, cache = _signals(speech_half_second), tmp_path / "out", tmp_path / "cache"
    entry = _killed_after_first_clip(signals, out, cache, monkeypatch)
    cached = entry / "c0.pt"
    cached.write_bytes(cached.read_bytes()[:700])
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        trained = train_and_save(TINY, signals, CONFIG, out, label="d/v/", cache=cache)
    assert trained == ["c0", "c1"]  # c0 again: its entry was damaged
    assert f"d/v/c0: a finished training in the cache is damaged ({cached} is truncated (700 of the" in caplog.text
    assert "training it again" in caplog.text
    assert integrity.verify_folder(out, ["c0", "c1"]) and not cache.exists()
    alone = train_module.train(TINY, signals["c0"], CONFIG)
    for name, value in alone.state.items():
        assert torch.equal(load_state(out / "c0.pt")[name], value)


def test_a_sound_cache_entry_is_reused_and_an_old_one_without_digests_too_when_it_loads(speech_half_second, tmp_path,
                                                                                       monkeypatch):
    signals, out, cache = _signals(speech_half_second), tmp_path / "out", tmp_path / "cache"
    entry = _killed_after_first_clip(signals, out, cache, monkeypatch)
    record = json.loads((entry / "c0.json").read_text())
    del record["files"]  # an entry left by an earlier version of the package
    (entry / "c0.json").write_text(json.dumps(record))
    assert train_and_save(TINY, signals, CONFIG, out, cache=cache) == ["c1"]
    assert json.loads((out / "c0.json").read_text()) == record


def test_a_damaged_clip_in_an_output_folder_without_cache_is_trained_again(speech_half_second, tmp_path, caplog):
    signals = _signals(speech_half_second)
    assert train_and_save(TINY, signals, CONFIG, tmp_path) == ["c0", "c1"]
    assert train_and_save(TINY, signals, CONFIG, tmp_path) == []
    (tmp_path / "c1.loss.csv").write_text("step,loss\n")
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        assert train_and_save(TINY, signals, CONFIG, tmp_path) == ["c1"]
    assert "a finished training in the output folder is damaged" in caplog.text
    assert integrity.clip_problem(tmp_path, "c1") is None


JOB = ("import sys\n"
       "from siamese_siren.pipeline import jobs\n"
       "from siamese_siren.codec import integrity\n"
       "jobs.start(sys.argv[1])\n"
       "print('started')\n"
       "raise {error}\n")


@pytest.mark.parametrize("error", ["integrity.DamagedArtifact('m/b0000/x.pt: is truncated; delete the folder m/b0000')",
                                   "integrity.CacheContention('d/v/c0: its cache entry vanished; run one at a time')",
                                   "RuntimeError('anything else')"])
def test_a_workflow_job_ends_with_the_one_line_of_a_damaged_model_not_a_traceback(tmp_path, error):
    """What the evaluate and qat jobs (which load published models) and training jobs end with: jobs.start's hook."""
    log = tmp_path / "job.log"
    done = subprocess.run([sys.executable, "-c", JOB.format(error=error), str(log)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1
    text = log.read_text()
    if error.startswith("RuntimeError"):
        assert "Traceback" in text and "RuntimeError: anything else" in text
    else:
        assert text == f"started\n{error.split(chr(39))[1]}\n"


# ---- another process on the same cache (issue 28, row 9): no traceback from the race -------------------------------


def test_an_entry_that_vanishes_while_it_is_published_is_trained_again(speech_half_second, tmp_path, monkeypatch,
                                                                       caplog):
    signals, out, cache = _signals(speech_half_second), tmp_path / "out", tmp_path / "cache"
    real_publish, removed = train_module.files.publish, []

    def another_process_cleans_up_first(source, target):
        if not removed:  # the other run published this entry elsewhere and removed it
            removed.append(Path(source).parent)
            shutil.rmtree(Path(source).parent)
        return real_publish(source, target)

    monkeypatch.setattr(train_module.files, "publish", another_process_cleans_up_first)
    with caplog.at_level(logging.WARNING, logger=train_module.__name__):
        trained = train_and_save(TINY, signals, CONFIG, out, label="d/v/", cache=cache)
    assert trained == ["c0", "c1"]
    assert "vanished or changed while they were published" in caplog.text
    assert integrity.verify_folder(out, list(signals)) and not cache.exists()


def test_an_entry_another_process_already_published_here_is_accepted(speech_half_second, tmp_path, monkeypatch):
    signals, out, cache = _signals(speech_half_second), tmp_path / "out", tmp_path / "cache"
    real_publish, raced = train_module.files.publish, []

    def another_process_published_it_first(source, target):
        entry = Path(source).parent
        if not raced:  # the same job in another run: it published the same entry to the same folder, then cleaned up
            raced.append(entry)
            for suffix in train_module.ARTIFACT_SUFFIXES:
                real_publish(entry / f"c0{suffix}", out / f"c0{suffix}")
            shutil.rmtree(entry)
        return real_publish(source, target)

    monkeypatch.setattr(train_module.files, "publish", another_process_published_it_first)
    calls = []
    real_train_batch = train_module.train_batch
    monkeypatch.setattr(train_module, "train_batch", lambda v, group, *a, **k: calls.append(len(group)) or
                        real_train_batch(v, group, *a, **k))
    assert train_and_save(TINY, signals, CONFIG, out, cache=cache) == ["c0", "c1"]
    assert calls == [1, 1]  # nothing trained twice
    assert integrity.verify_folder(out, list(signals))


def test_an_entry_folder_removed_while_it_is_written_is_written_again(speech_half_second, tmp_path, monkeypatch):
    signals, out, cache = _signals(speech_half_second, 1), tmp_path / "out", tmp_path / "cache"
    real_save, calls = train_module.save_result, []

    def folder_removed_under_it(result, folder, *args):
        calls.append(folder)
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", str(folder))
        return real_save(result, folder, *args)

    monkeypatch.setattr(train_module, "save_result", folder_removed_under_it)
    assert train_and_save(TINY, signals, CONFIG, out, cache=cache) == ["c0"]
    assert len(calls) == 2 and integrity.verify_folder(out, ["c0"])


def test_a_cache_that_keeps_changing_ends_in_one_line(speech_half_second, tmp_path, monkeypatch):
    signals, out, cache = _signals(speech_half_second, 1), tmp_path / "out", tmp_path / "cache"

    def always_gone(source, target):
        shutil.rmtree(Path(source).parent, ignore_errors=True)
        raise FileNotFoundError(2, "No such file or directory", str(source))

    monkeypatch.setattr(train_module.files, "publish", always_gone)
    with pytest.raises(train_module.CacheContention, match=r"^d/v/c0: its cache entry in .* vanished or changed 3 "
                                                          r"times while it was published: another run is using"):
        train_and_save(TINY, signals, CONFIG, out, label="d/v/", cache=cache)


# ---- through the real Snakemake (issue 28, row 3) ------------------------------------------------------------------


@pytest.mark.slow  # the real Snakemake, three times: train and evaluate one clip, then the failing check (~45 s)
def test_a_damaged_model_stops_the_run_at_its_check_and_evaluate_keeps_its_outputs(tmp_path):
    results = tmp_path / "results"
    batch = results / "models" / "speech" / "t-pe-siren" / "b0000"
    scores = results / "scores" / "speech" / "t-pe-siren" / "b0000.csv"
    compressed = results / "compressed" / "speech" / "t-pe-siren" / "b0000"
    overrides = {"metrics": {"speech": ["stoi"]}, "rate_distortion": None}  # STOI alone: seconds, not a minute

    def snakemake(extra: dict):
        config = tmp_path / "overrides.yaml"
        config.write_text(yaml.safe_dump({**overrides, **extra}))
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE), str(scores), "--cores", "2",
               "--configfile", str(ROOT / "tests" / "workflow" / "config.yaml"), str(config),
               "--config", f"results={results}"]
        return subprocess.run(cmd, cwd=workdir(results), capture_output=True, text=True, timeout=600)

    done = snakemake({})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not batch.with_suffix(".verified").exists()  # temp(): made again before each evaluate job, removed after
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [scores, *compressed.rglob("*")] if p.is_file()}
    (clip,) = [p.stem for p in batch.glob("*.json")]
    model = batch / f"{clip}.pt"
    model.write_bytes(model.read_bytes()[:1000])

    failed = snakemake({"denoise": {"alpha": 1.5}})  # a changed setting: evaluate must run again
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    line = (f"{model}: is truncated (1000 of the ")
    log = (results / "logs" / "verify_models" / "speech" / "t-pe-siren" / "b0000.log").read_text()
    assert log.startswith(line) and log.count("\n") == 1, log
    assert log.rstrip().endswith(f"delete the folder {batch} and run again, which trains its clips again")
    assert line in output  # show-failed-logs (profiles/default) prints it where the run's messages are
    assert "Error in rule verify_models" in output and "Error in rule evaluate" not in output
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before if p.exists()}
    assert after == before  # never started, so nothing of it removed

    shutil.rmtree(batch)  # the fix, as the line words it
    fixed = snakemake({"denoise": {"alpha": 1.5}})
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert integrity.verify_folder(batch, [clip])
