"""The one write rule: a failed write changes nothing, leaves nothing, and readers never see half a file."""

import errno
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import numpy as np
import pytest
import soundfile as sf

from siamese_siren.codec import files
from siamese_siren.codec.audio import write_audio, write_audio_chunks


def leftovers(folder):
    """Temporary files of the helper still in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp"))


def test_a_write_publishes_the_whole_file_with_ordinary_permissions(tmp_path):
    target = tmp_path / "out.bin"
    assert files.write_bytes(target, b"x" * 1000) == 1000
    assert target.read_bytes() == b"x" * 1000
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    target.chmod(0o640)
    files.write_text(target, "again")
    assert target.read_text() == "again" and stat.S_IMODE(target.stat().st_mode) == 0o640  # the target's mode kept
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("interruption", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_a_writer_that_fails_midway_leaves_the_old_file_and_no_temporary_file(tmp_path, interruption):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old complete file")
    with pytest.raises(type(interruption)):
        with files.atomic_write(target) as f:
            f.write(b"half of the new")
            raise interruption
    assert target.read_bytes() == b"old complete file"
    assert leftovers(tmp_path) == []


def test_a_full_disk_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "out.ssr"
    target.write_bytes(b"old")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError) as raised:
        files.write_bytes(target, b"new" * 1000)
    assert raised.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_FSIZE and its EFBIG are Linux behaviour")
def test_a_write_the_kernel_cuts_off_midway_publishes_nothing(tmp_path):
    """A real short write: the file-size limit makes the kernel refuse the rest of a 1 MB audio file."""
    target = tmp_path / "out.wav"
    target.write_bytes(b"old")
    script = textwrap.dedent(f"""
        import resource, numpy as np
        from siamese_siren.codec.audio import write_audio
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # Python ignores SIGXFSZ: writes get EFBIG
        try:
            write_audio({str(target)!r}, np.zeros(500_000, dtype=np.float32), 22050)
        except OSError as err:
            print(err.errno)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == str(errno.EFBIG), result.stderr
    assert "Traceback" not in result.stderr  # cffi did not print a dropped exception
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_audio_that_fails_midway_leaves_nothing(tmp_path):
    def pieces():
        yield np.zeros(1000, dtype=np.float32)
        raise RuntimeError("synthesis failed")

    with pytest.raises(RuntimeError):
        write_audio_chunks(tmp_path / "out.flac", pieces(), 22050)
    assert list(tmp_path.iterdir()) == []


def test_audio_in_any_writable_format_round_trips(tmp_path):
    tone = 0.5 * np.sin(np.linspace(0, 200, 4000)).astype(np.float32)
    for name in ("a.wav", "a.flac", "a.ogg", "a.mp3"):
        write_audio(tmp_path / name, tone, 22050)
        assert sf.info(str(tmp_path / name)).samplerate == 22050
    data, _ = sf.read(tmp_path / "a.wav", dtype="float32")
    np.testing.assert_allclose(data, tone, atol=1 / 32767)
    assert leftovers(tmp_path) == []


def test_a_symbolic_link_is_written_through(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    (tmp_path / "link.bin").symlink_to(real)
    files.write_bytes(tmp_path / "link.bin", b"new")
    assert (tmp_path / "link.bin").is_symlink() and real.read_bytes() == b"new"


def test_publish_links_or_copies_over_an_existing_target(tmp_path):
    source, target = tmp_path / "cache.pt", tmp_path / "out" / "clip.pt"
    source.write_bytes(b"weights")
    target.parent.mkdir()
    target.write_bytes(b"stale")
    files.publish(source, target)
    assert target.read_bytes() == b"weights" and leftovers(target.parent) == []


WRITER = textwrap.dedent("""
    import os, sys, zlib
    from siamese_siren.codec.files import write_bytes
    path, tag, count = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
    for i in range(count):
        body = tag * (2000 + i % 97) + os.urandom(64)  # sizes vary, so a torn file shows as a bad checksum
        write_bytes(path, body + zlib.crc32(body).to_bytes(4, "little"))
""")


def _complete(data: bytes) -> bool:
    return len(data) > 4 and zlib.crc32(data[:-4]).to_bytes(4, "little") == data[-4:]


def test_concurrent_writers_never_collide_and_a_reader_sees_only_complete_files(tmp_path):
    target = tmp_path / "shared.ssr"
    files.write_bytes(target, b"seed" + zlib.crc32(b"seed").to_bytes(4, "little"))
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), tag, "300"], stderr=subprocess.PIPE)
               for tag in ("a", "b")]
    reads, bad, missing = 0, 0, 0
    stop = threading.Event()

    def read_until_stopped():
        nonlocal reads, bad, missing
        while not stop.is_set():
            try:
                data = target.read_bytes()
            except FileNotFoundError:
                missing += 1
                continue
            reads += 1
            bad += not _complete(data)

    reader = threading.Thread(target=read_until_stopped)
    reader.start()
    try:
        errors = [w.communicate(timeout=120)[1].decode() for w in writers]
    finally:
        stop.set()
        reader.join()
    assert [w.returncode for w in writers] == [0, 0], errors
    assert reads > 100 and bad == 0 and missing == 0
    assert _complete(target.read_bytes()) and leftovers(tmp_path) == []


def test_input_problems_are_named_with_their_fix(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "folder.wav").mkdir()
    os.mkfifo(tmp_path / "pipe.wav")
    assert "no such file" in files.input_problem(tmp_path / "missing.wav")
    assert "empty file" in files.input_problem(tmp_path / "empty.wav")
    assert "folder" in files.input_problem(tmp_path / "folder.wav")
    start = time.monotonic()
    assert "pipes are not supported" in files.input_problem(tmp_path / "pipe.wav")
    assert time.monotonic() - start < 1  # never opened, so never blocked on
    assert files.output_problem(tmp_path / "new.wav") is None and leftovers(tmp_path) == []
    assert "does not exist" in files.output_problem(tmp_path / "no" / "new.wav")
    assert "is a folder" in files.output_problem(tmp_path / "folder.wav")


def _device_node(path):
    """A character device like /dev/null (major 1, minor 3) at ``path``; None where mknod is not permitted."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, AttributeError):
        return None
    return path


def test_an_existing_target_that_is_not_a_regular_file_is_never_replaced(tmp_path):
    # issue 28, row 1: a FIFO or a device node (or a link to one) was replaced by a regular file; /dev/null for root
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link-to-fifo").symlink_to(tmp_path / "fifo")
    special = {"fifo": stat.S_ISFIFO, "link-to-fifo": stat.S_ISFIFO}
    if _device_node(tmp_path / "null"):
        (tmp_path / "link-to-null").symlink_to(tmp_path / "null")
        special.update({"null": stat.S_ISCHR, "link-to-null": stat.S_ISCHR})
    for name, kind in special.items():
        path = tmp_path / name
        problem = files.special_file_problem(path)
        assert "not a regular file" in problem and problem == files.output_problem(path), problem
        assert ("symbolic link" in problem) == name.startswith("link"), problem
        with pytest.raises(FileExistsError, match="not a regular file"):
            files.write_bytes(path, b"data")
        with pytest.raises(FileExistsError):
            files.publish(tmp_path / "fifo", path)
        assert kind(os.stat(path).st_mode), name
    assert leftovers(tmp_path) == []
    # what may be written over is unchanged: a missing name, a regular file, a link to one (written through)
    (tmp_path / "real").write_bytes(b"old")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for name in ("new", "real", "link", "dangling"):
        assert files.special_file_problem(tmp_path / name) is None
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert files.special_file_problem(tmp_path / "dangling") is None
    files.write_bytes(tmp_path / "link", b"new")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real").read_bytes() == b"new"
