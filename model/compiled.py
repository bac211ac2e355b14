"""Compiling the model's rules and kernels with numba, cached on disk by the model's source.

numba's own cache (``cache=True``) reuses a compiled function until *its own* file changes. The
weekly kernel (``kernels.py``) inlines the rules of ``submodels.py`` and freezes the constants of
``population.py``, so an edit to a rule alone would leave the old compiled kernel in use: a
modeller would change a rule and see no effect. Here every compiled function is cached in a
directory named by a hash of all of those files, so any edit to them compiles afresh (once).

The directory is ``model/__pycache__/numba-<hash>`` (or ``$NUMBA_CACHE_DIR/carepath-<hash>``
when that is set, shared with other checkouts); older ``numba-*`` directories in
``model/__pycache__`` are removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numba

__all__ = ["CACHE_DIR", "SOURCES", "njit_cached", "source_hash"]

HERE = Path(__file__).resolve().parent
#: Files whose code or constants end up in compiled code (tests check the kernels' imports).
SOURCES = ("compiled.py", "population.py", "submodels.py", "kernels.py")


def source_hash(root: Path = HERE, sources=SOURCES) -> str:
    """A short hash of the compiled model's source files."""
    h = hashlib.sha256()
    for name in sources:
        h.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return h.hexdigest()[:16]


def _cache_dir() -> str:
    user = os.environ.get("NUMBA_CACHE_DIR")
    base, prefix = (Path(user), "carepath-") if user else (HERE / "__pycache__", "numba-")
    current = base / f"{prefix}{source_hash()}"
    if not user and base.is_dir():  # caches of earlier versions of this checkout's source
        for old in base.glob(f"{prefix}*"):
            if old != current and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
    return str(current)


CACHE_DIR = _cache_dir()


def njit_cached(fn):
    """``numba.njit(cache=True, nogil=True)(fn)``, cached in :data:`CACHE_DIR`.

    numba fixes a function's cache location when it is decorated, from ``numba.config
    .CACHE_DIR``; the setting is changed only for that moment, so other numba code in the
    process keeps its own cache location."""
    old = numba.config.CACHE_DIR
    numba.config.CACHE_DIR = CACHE_DIR
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    finally:
        numba.config.CACHE_DIR = old
