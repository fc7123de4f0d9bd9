"""Where numba caches its machine code: a per-user directory we know is writable.

visqol and librosa JIT-compile with numba and cache the result (ViSQOL audio mode: ~30 s to compile, then ~2 s per
clip). numba's default is a ``__pycache__`` next to the package, and on a read-only install (system package,
container image, shared venv) it falls back to ``~/.cache`` only when HOME is writable; otherwise every process,
and every pool worker, silently recompiles. Call :func:`configure` before the first import of numba, visqol or
librosa (the metrics and figures modules do so where they import them); nothing happens at import of this module.
"""

from __future__ import annotations

import os
import sys
import tempfile


def default_dir() -> str:
    """The first of ``$XDG_CACHE_HOME/siamese-siren/numba`` (or ``~/.cache/...``) and a per-user temporary
    directory that can be created and written."""
    uid = getattr(os, "getuid", lambda: "user")()
    candidates = [
        os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "siamese-siren", "numba"),
        os.path.join(tempfile.gettempdir(), f"siamese-siren-numba-{uid}"),
    ]
    for path in candidates:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path
    return candidates[-1]


def configure() -> str:
    """Set ``NUMBA_CACHE_DIR`` unless the user did, and return it. Cheap to call again."""
    if not os.environ.get("NUMBA_CACHE_DIR"):
        os.environ["NUMBA_CACHE_DIR"] = default_dir()
        if "numba" in sys.modules:  # numba reads its config at import; functions decorated later still see this
            sys.modules["numba"].core.config.reload_config()
    return os.environ["NUMBA_CACHE_DIR"]
