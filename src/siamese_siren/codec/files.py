"""The one way the package writes a file: nobody ever sees half of it, and a failed write changes nothing.

Every write goes to a fresh temporary file in the destination folder (``.<name>.<random>.tmp``: unique, so
concurrent writers to one path never touch each other's data), is flushed and fsynced, and is then renamed over
the target with :func:`os.replace`, which is atomic on POSIX and Windows; the folder is fsynced too, so the rename
survives a power cut. On any error, Ctrl-C included, the temporary file is removed and an existing target is
left exactly as it was. A reader therefore sees the old complete file or the new complete file, never a part.

Writers that want a file object use :func:`atomic_write` (soundfile, ``torch.save``, ``pandas.to_csv``,
``Figure.savefig`` all accept one; pass the format explicitly where they would guess it from the name, since the
temporary name ends in ``.tmp``). Writers that need a path (a subprocess such as ffmpeg, a hard link) use
:func:`atomic_path`.

Only regular files are ever replaced: an existing target that is a FIFO, a device node or a socket (directly or
through symbolic links) is refused (:func:`special_file_problem`), since renaming a file over it would destroy it
(``/dev/null`` for root). A symbolic link to a regular file is written through: the file it points to is replaced
and the link kept.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# Read once at import: os.umask can only be read by setting it, which would race with other threads creating files.
_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems (and Windows) refuse fsync on a folder; the data itself is synced
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; on a clean exit it is fsynced and renamed onto ``path``.

    The temporary file already exists (empty, with the permissions a new file would get); a writer may replace it.
    Symbolic links are followed, so writing to a link updates the file it points to, as ``open`` would.
    """
    target = Path(os.path.realpath(path))
    special = special_file_problem(target)
    if special is not None:  # checked before the writer runs; callers that can check earlier do (output_problem)
        raise FileExistsError(errno.EEXIST, special, str(path))
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        # mkstemp creates 0600 files; keep an existing target's mode, else what open() would have given
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_UMASK)
        yield tmp
        with open(tmp, "rb+") as written:  # a writer that was given the path may not have synced it
            os.fsync(written.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_folder(target.parent)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb", **open_kwargs: Any) -> Iterator[IO]:
    """``open(path, mode)`` that publishes the file only when the block ends without an error (see the module)."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_write writes whole files; mode must start with 'w', got {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def write_bytes(path: str | Path, data: bytes) -> int:
    """Write ``data`` to ``path`` atomically; returns the number of bytes written."""
    with atomic_write(path) as f:
        f.write(data)
    return len(data)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)


def write_csv(table: Any, path: str | Path) -> None:
    """Write a pandas DataFrame (anything with ``to_csv``) to ``path`` atomically, without its index."""
    with atomic_write(path, "w", newline="") as f:
        table.to_csv(f, index=False)


def publish(source: str | Path, target: str | Path) -> None:
    """Make ``target`` a copy of ``source`` atomically: a hard link where the file system allows (no bytes copied),
    else a real copy."""
    with atomic_path(target) as tmp:
        tmp.unlink()  # os.link will not overwrite; the random name stays ours in practice
        try:
            os.link(source, tmp)
        except OSError:  # another file system, or one without hard links
            shutil.copy2(source, tmp)


def input_problem(path: str | Path) -> str | None:
    """What stops ``path`` from being read as an input file, phrased with the fix; None when it can be read.

    Only regular files qualify: reading a pipe would block or need the whole stream in memory, and a folder or an
    empty file deserves its own message rather than a decoder's complaint.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file; check the path"
    except OSError as err:
        return f"cannot be looked at ({err.strerror}); check the path and its folders' permissions"
    if stat.S_ISDIR(info.st_mode):
        return "is a folder, not a file; give the file inside it"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file (a pipe, socket or device); pipes are not supported, save the data to a file"
    if info.st_size == 0:
        return "is an empty file (0 bytes); it was probably cut off, use the original"
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        fix = "change its permissions (chmod u+r)" if err.errno in (errno.EACCES, errno.EPERM) else "check the file"
        return f"cannot be read ({err.strerror}); {fix}"
    return None


_SPECIAL_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def special_file_problem(path: str | Path) -> str | None:
    """Why an existing ``path`` must not be replaced by a written file, phrased with the fix: it is (or a symbolic
    link leads to) a FIFO, a device node or a socket. None when it is missing, a regular file or a folder (a folder
    has its own message in :func:`output_problem`)."""
    try:
        mode = os.stat(path).st_mode  # follows symbolic links: what a write would replace
    except OSError:
        return None  # missing (a dangling link included) or not reachable: output_problem says what is wrong
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), None)
    if kind is None:
        return None
    through = f"a symbolic link to {os.path.realpath(path)}, " if os.path.islink(path) else ""
    return (f"is {through}{kind}, not a regular file; writing would replace it with a file, so give the name "
            "of a regular file or a new one")


def output_problem(path: str | Path) -> str | None:
    """What stops a file from being written at ``path`` (it is a FIFO or a device, its folder is missing, not
    writable, ...), phrased with the fix; None when a test file could be created beside it. Checked before long
    work, not instead of handling errors at write time (a disk can still fill up)."""
    special = special_file_problem(path)
    if special is not None:
        return special
    target = Path(os.path.realpath(path))
    if target.is_dir():
        return "is a folder; give a file name inside it"
    if not target.parent.is_dir():
        return f"folder {target.parent} does not exist; create it first (mkdir -p)"
    try:  # access() says yes to root on read-only mounts and /proc; creating a file is the real test
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"):
            pass
    except OSError as err:
        return f"cannot write in folder {target.parent} ({err.strerror}); {os_error_fix(err)}"
    return None


def os_error_fix(err: OSError) -> str:
    """The user's fix for a failed write, by its cause: full disk, permissions and the rest differ."""
    fixes = {
        errno.ENOSPC: "the disk is full: free some space or write elsewhere",
        errno.EDQUOT: "your disk quota is used up: free some space or write elsewhere",
        errno.EFBIG: "the file is larger than this file system or a limit (ulimit -f) allows: write elsewhere",
        errno.EACCES: "permission denied: choose a folder you can write to, or change its permissions",
        errno.EPERM: "not permitted: choose a folder you can write to, or change its permissions",
        errno.EROFS: "the file system is read-only: write elsewhere",
    }
    return fixes.get(err.errno, "check the path and the disk")
