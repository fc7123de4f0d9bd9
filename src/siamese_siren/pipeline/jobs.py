"""What every workflow job does first: send its output to its log, and die with the Snakemake that started it.

Snakemake runs each job as a child process. If Snakemake itself is killed (``kill -9``, an out-of-memory kill, a
closed terminal), its jobs would run on as orphans, and the rerun docs/reliability.md advises would start the same
trainings again beside them. On Linux the kernel can signal a process when its parent dies (``PR_SET_PDEATHSIG``);
elsewhere nothing is set up, and docs/reliability.md says to kill the whole process group instead.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


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
    """A job's first line: stdout and stderr to its log file (line-buffered), and die with Snakemake."""
    sys.stderr = sys.stdout = open(log, "w", buffering=1)  # noqa: SIM115 - open for the job's whole life
    die_with_parent()
