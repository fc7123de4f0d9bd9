"""What every workflow job does first: send its output to its log, and die with the Snakemake that started it.

Snakemake runs each job as a child process. If Snakemake itself is killed (``kill -9``, an out-of-memory kill, a
closed terminal), its jobs would run on as orphans, and the rerun docs/reliability.md advises would start the same
trainings again beside them. On Linux the kernel can signal a process when its parent dies (``PR_SET_PDEATHSIG``);
elsewhere nothing is set up, and docs/reliability.md says to kill the whole process group instead.

A GPU job (training, fine-tuning, CDPAM scoring on CUDA) then takes one GPU of its own (:func:`take_gpu`):
``--resources gpu=N`` only counts jobs, it does not say which GPU each may use, and every job would pick device 0.
A slot is an exclusive ``flock`` on one lock file per device, so the kernel releases it when the process ends,
whatever ends it: the lock file stays, and holds nothing once its holder is gone; no one ever has to delete it.

A results folder is one run's at a time (:func:`hold_results`): Snakemake locks its own working directory, but two
clones or two working directories writing one ``results`` folder would train the same clips twice and remove each
other's outputs and training-cache entries. The Snakemake process that is about to run jobs takes an exclusive
``flock`` on ``<results>/logs/.run.lock`` (released by the kernel however it ends), and a second one is refused in
one line naming the first one's working directory. Dry runs and planning take no lock.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from functools import cache
from pathlib import Path

from siamese_siren.codec.integrity import ONE_LINE_ERRORS

_PR_SET_PDEATHSIG = 1
#: The GPUs jobs share, overriding what the machine shows: a count (``4``: devices 0-3) or device ids separated
#: by commas (``0,2``; one id alone as ``2,``). Wins over the config's ``training.gpus``; ``0`` turns slots off.
GPUS_ENV = "SIAMESE_SIREN_GPUS"
#: The folder of the slots' lock files, instead of the per-user, per-host default (:func:`lock_folder`).
LOCKS_ENV = "SIAMESE_SIREN_GPU_LOCKS"
#: Seconds between two looks for a free slot when every one is held.
POLL_SECONDS = 2.0
#: One folder per NVIDIA GPU, from the driver: the count when nvidia-smi is missing.
PROC_GPUS = Path("/proc/driver/nvidia/gpus")
#: The open lock files of the slot this process holds: kept open for its whole life, closed by the kernel.
_HELD: list[int] = []
#: The lock file of a results folder, under it (its logs/ folder: not a result, siamese_siren.analysis.compare).
RESULTS_LOCK = Path("logs") / ".run.lock"
#: The results folders this process holds, by their lock file's real path: {path: open descriptor}.
_RESULTS_HELD: dict[str, int] = {}


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask for ``sig`` when the parent process dies; True when the platform did so."""
    parent = os.getppid()
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), sig)
    return True


def start(log: str | Path) -> None:
    """A job's first line: stdout and stderr to its log file (line-buffered), die with Snakemake, and end with the
    one line of an error that names its file and the fix (:data:`~siamese_siren.codec.integrity.ONE_LINE_ERRORS`: a
    damaged model, a training cache another run keeps changing) instead of a traceback."""
    sys.stderr = sys.stdout = open(log, "w", buffering=1)  # noqa: SIM115 - open for the job's whole life
    die_with_parent()
    sys.excepthook = _one_line_or_traceback


def _one_line_or_traceback(kind: type[BaseException], error: BaseException, trace) -> None:
    if issubclass(kind, ONE_LINE_ERRORS):
        print(error, file=sys.stderr)  # and the interpreter exits with status 1, as after a traceback
    else:
        sys.__excepthook__(kind, error, trace)


def parse_gpus(value: int | str | Sequence[int | str] | None) -> list[str] | None:
    """Device ids of an override (:data:`GPUS_ENV` or ``training.gpus``), or None when there is none.

    A count ``n`` (an int, or a string of digits) stands for devices ``0 .. n-1``; otherwise the ids themselves, as
    a list or a comma-separated string, as ``CUDA_VISIBLE_DEVICES`` takes them (indices or ``GPU-``/``MIG-`` UUIDs).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):  # a bool is an int to Python, but no count of GPUs
        raise ValueError(f"GPU override must be a count or device ids, got {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        count = int(value)
        if count < 0:
            raise ValueError(f"GPU count must be >= 0, got {count}")
        return [str(i) for i in range(count)]
    pieces = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    ids = [piece.strip() for piece in pieces if piece.strip()]
    if not ids or len(set(ids)) != len(ids):
        raise ValueError(f"GPU ids must be distinct and at least one, got {value!r}")
    return ids


def parse_nvidia_smi(listing: str) -> list[str]:
    """CUDA device ids from ``nvidia-smi -L``: each GPU's index, or the UUIDs of its MIG instances when it is
    partitioned (a process can use one MIG instance, named by UUID)."""
    ids: list[str] = []
    for line in listing.splitlines():
        if gpu := re.match(r"^GPU (\d+):", line):
            ids.append(gpu.group(1))
        elif (mig := re.match(r"^\s+MIG .*\(UUID: (MIG-[^)\s]+)\)", line)) and ids:
            if not ids[-1].startswith("MIG-"):
                ids.pop()  # the partitioned GPU itself is no device of its own
            ids.append(mig.group(1))
    return ids


@cache
def machine_gpus() -> tuple[str, ...]:
    """The machine's GPUs as CUDA device ids, read without CUDA (a parent that initialised it could not hand
    devices to its children): ``nvidia-smi -L``, else one per folder of ``/proc/driver/nvidia/gpus``."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
        return tuple(parse_nvidia_smi(listing))
    except (OSError, subprocess.SubprocessError):
        pass
    return tuple(str(i) for i in range(len(list(PROC_GPUS.iterdir())))) if PROC_GPUS.is_dir() else ()


def slot_devices(config_gpus: int | str | Sequence[int | str] | None = None,
                 environ: Mapping[str, str] = os.environ) -> list[str]:
    """The devices GPU jobs take turns on: :data:`GPUS_ENV`, else ``config_gpus`` (``training.gpus``), else the
    machine's GPUs. Empty: no slots (no GPU, or turned off with a count of 0)."""
    override, source = None, GPUS_ENV
    try:
        override = parse_gpus(environ.get(GPUS_ENV))
        if override is None:
            source = "training.gpus"
            override = parse_gpus(config_gpus)
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from None
    return list(machine_gpus()) if override is None else override


def lock_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the slots' lock files live: :data:`LOCKS_ENV`, else a folder of this user and host (every run of the
    user on this machine shares the GPUs; a temp folder on a shared filesystem must not lock another host's)."""
    if environ.get(LOCKS_ENV):
        return Path(environ[LOCKS_ENV])
    base = environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"siamese-siren-gpu-slots-{os.getuid()}-{socket.gethostname()}"


def _lock_file(folder: Path, device: str) -> Path:
    return folder / f"gpu-{re.sub(r'[^A-Za-z0-9_.-]', '_', device)}.lock"


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    # The holder's pid, for whoever waits: the lock is the flock, this is only what a waiting job's log names.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holders(paths: list[Path]) -> str:
    pids = []
    for path in paths:
        try:
            pids.append(path.read_text().strip() or "?")
        except OSError:
            pids.append("?")
    return ", ".join(pids)


def take_gpu(config_gpus: int | str | Sequence[int | str] | None = None,
             environ: MutableMapping[str, str] = os.environ, poll: float = POLL_SECONDS,
             say: Callable[[str], None] = print) -> str | None:
    """Take a free GPU slot for this process and set ``CUDA_VISIBLE_DEVICES`` to its device; call it before torch
    touches CUDA (CUDA reads the variable once, when it starts). Returns the device, or None when no slot was taken.

    A ``CUDA_VISIBLE_DEVICES`` already set (by SLURM, or by the user) is kept: the scheduler already chose. With no
    GPU and no override nothing changes. When every slot is held (more GPU jobs at once than GPUs: ``--resources
    gpu=N`` above the GPU count) the job waits for one, polling every ``poll`` seconds, and its log says so.
    """
    if "CUDA_VISIBLE_DEVICES" in environ:
        say(f"GPU: CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']} was set for this job: kept, no slot taken")
        return None
    devices = slot_devices(config_gpus, environ)
    if not devices:
        say("GPU: none found (nvidia-smi -L, /proc/driver/nvidia/gpus) and no override: no slot taken")
        return None
    folder = lock_folder(environ)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [_lock_file(folder, device) for device in devices]
    start, waiting = time.monotonic(), False
    while True:
        for index, (device, path) in enumerate(zip(devices, paths, strict=True)):
            fd = _try_lock(path)
            if fd is not None:
                _HELD.append(fd)
                environ["CUDA_VISIBLE_DEVICES"] = device
                waited = f", after waiting {time.monotonic() - start:.1f} s" if waiting else ""
                say(f"GPU slot {index + 1} of {len(devices)}: CUDA_VISIBLE_DEVICES={device} (lock {path}), taken at "
                    f"{time.time():.3f}{waited}")
                return device
        if not waiting:
            say(f"GPU: all {len(devices)} slots are held (by pids {_holders(paths)}): waiting for one; more GPU jobs "
                f"run at once than there are GPUs, lower --resources gpu=N to {len(devices)}")
            waiting = True
        time.sleep(poll)


def usable_device(key: str, device: str | None) -> None:
    """A configured torch device that this machine has, or the job ends here with one line naming ``key`` and the fix
    (torch's own failure comes much later, as an assertion traceback). Planning may run on a login node without a
    GPU, so this is checked in the job, where the device is used. Call it after :func:`take_gpu`."""
    if not device or not device.startswith("cuda"):
        return
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = device.partition(":")[2]
    if available == 0 or (index.isdigit() and int(index) >= available):
        raise SystemExit(f"config key {key}: {device!r}, but torch sees {available} CUDA device(s) on "
                         f"{socket.gethostname()} (torch {torch.__version__}); set it to null (CUDA when present, else "
                         "the CPU) or run the job where the device is")


class ResultsInUse(RuntimeError):
    """Another run holds the results folder; the message is one line naming its working directory and the fix."""


def _holder(fd: int) -> str:
    """Who holds a results lock, from what it wrote in the file: its working directory, host, pid and start."""
    try:
        raw = os.pread(fd, 4096, 0).decode(errors="replace")
        who = json.loads(raw)
        return (f"the Snakemake run in working directory {who['workdir']} (pid {who['pid']} on {who['host']}, "
                f"started {who['started']})")
    except (OSError, ValueError, KeyError, TypeError):
        return "another Snakemake run (it has not said which yet)"


def hold_results(results: str | Path, workdir: str | Path | None = None) -> Path | None:
    """Hold ``results`` for this process's life, or raise :class:`ResultsInUse` at once when another process holds
    it; the lock file says who holds it (``workdir``: this process's working directory by default). Holding it
    twice in one process is a no-op. Returns the lock file, or None on a file system without ``flock`` (the run
    goes on unlocked, and the caller may say so)."""
    path = Path(results) / RESULTS_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(path)
    if key in _RESULTS_HELD:
        return path
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise ResultsInUse(f"results folder {Path(results).resolve()} is in use by {holder}; wait until it ends, or "
                           "give this run a results folder of its own (--config results=...)") from None
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return None
        raise
    who = {"workdir": str(Path(workdir or os.getcwd()).resolve()), "host": socket.gethostname(), "pid": os.getpid(),
           "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    # Written in place, not through siamese_siren.codec.files: the lock is the file's inode, which a rename would
    # replace. What it says is only for the message of a refused run.
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(who).encode(), 0)
    _RESULTS_HELD[key] = fd
    return path


def release_results(results: str | Path) -> None:
    """Let go of a results folder this process holds (tests; a run's lock goes when the process ends)."""
    fd = _RESULTS_HELD.pop(os.path.realpath(Path(results) / RESULTS_LOCK), None)
    if fd is not None:
        os.close(fd)
