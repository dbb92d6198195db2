"""Where surrogate keeps what it can rebuild: compiled trees and ingested shared data.

``$SURROGATE_CACHE_DIR``, else ``$XDG_CACHE_HOME/surrogate``, else ``~/.cache/surrogate``; each user of it
takes a folder of its own below.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "cache_home"]

CACHE_ENV = "SURROGATE_CACHE_DIR"


def cache_home() -> Path:
    """The cache root (read on every call: tests and workers set the variable after import)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "surrogate"
