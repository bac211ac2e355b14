"""The experiment engine's domain error."""

from __future__ import annotations

from typing import Any

from model.params import CarePathError

__all__ = ["ExperimentError"]

_MISSING = object()


class ExperimentError(CarePathError, ValueError):
    """A bad experiment file, store or request.

    The message names where the problem is (file and key, or directory), the value given and
    what is allowed, so the CLI can print it as one line.
    """

    def __init__(self, message: str | None = None, *, file: str | None = None,
                 key: str | None = None, value: Any = _MISSING, allowed: str | None = None):
        self.file = file
        self.key = key
        self.value = None if value is _MISSING else value
        self.allowed = allowed
        where = ": ".join(p for p in (file, f"key '{key}'" if key else None) if p)
        body = []
        if message:
            body.append(message)
        if value is not _MISSING:
            body.append(f"got {value!r}")
        if allowed:
            body.append(f"allowed: {allowed}")
        text = "; ".join(body)
        super().__init__(f"{where}: {text}" if where else text)
