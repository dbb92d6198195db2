"""The shared sources' ingest kept on disk: the same :class:`IngestResult` without reading every row again.

Ingesting the three shared sources reads, checks and accounts for every row: 7.5 s on a 2-core machine, against
0.2 s from the cache (``benchmarks/ingest_cache.py``, medians of 3), paid by every ``surrogate train``,
``evaluate`` and benchmark before it does anything. The result is pickled under the user's cache
(:func:`surrogate.cache_home.cache_home`, folder ``ingest/``), keyed by everything that decides it: each data
file's path, size and modification time; the content of the ingest and features code and catalogs (a fix to an
adapter or a spec changes what is kept); the user hardware file (its parts enter the physics check); and the
versions of Python, numpy, pandas and pyarrow (what can unpickle). Anything changed reads the sources again; so
does an entry that cannot be read back. ``SURROGATE_INGEST_CACHE=off`` always reads them; a cache that cannot
be written is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import platform
import tempfile
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path
from typing import TypeVar

import features
from features.host import user_hardware_path
from surrogate.cache_home import cache_home

__all__ = ["INGEST_CACHE_ENV", "KEPT_ENTRIES", "cached", "cache_key", "ingest_cache_dir"]

INGEST_CACHE_ENV = "SURROGATE_INGEST_CACHE"
# Entries kept (the most recently written): a checkout or two, each with the data before and after a change.
KEPT_ENTRIES = 4
_CODE_SUFFIXES = {".py", ".csv", ".json", ".yaml", ".yml", ".toml"}

T = TypeVar("T")


def ingest_cache_dir() -> Path:
    return cache_home() / "ingest"


def cache_key(data_root: Path) -> str:
    """A hash of what decides the ingest of ``data_root`` (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(f"python {platform.python_version()}\n".encode())
    for package in ("numpy", "pandas", "pyarrow"):
        digest.update(f"{package} {_version(package)}\n".encode())
    root = data_root.resolve()
    digest.update(f"data {root}\n".encode())
    for path in _files(root):
        stat = path.stat()
        digest.update(f"{path.relative_to(root)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    for package_root in (Path(__file__).parent, Path(features.__file__).parent):
        for path in _files(package_root):
            if path.suffix in _CODE_SUFFIXES:
                digest.update(f"{path.relative_to(package_root.parent)}\n".encode())
                digest.update(path.read_bytes())
    hardware = user_hardware_path()
    digest.update(b"user hardware\n" + (hardware.read_bytes() if hardware.is_file() else b"none"))
    return digest.hexdigest()[:32]


def cached(data_root: Path, build: Callable[[], T]) -> T:
    """``build()``'s result for ``data_root``, from the cache where an entry has the same key, else built and
    stored (keeping the :data:`KEPT_ENTRIES` newest)."""
    if os.environ.get(INGEST_CACHE_ENV, "").strip().lower() in {"off", "0", "no", "false"}:
        return build()
    folder = ingest_cache_dir()
    path = folder / f"{cache_key(data_root)}.pickle"
    try:
        with path.open("rb") as handle:
            result: T = pickle.load(handle)
        return result
    except OSError:  # no entry, or a cache folder that cannot be read
        pass
    except Exception:  # unpickling fails in many ways (a truncated file, a class since renamed): rebuild it
        with contextlib.suppress(OSError):
            path.unlink()
    result = build()
    _store(result, folder, path)
    return result


def _store(result: object, folder: Path, path: Path) -> None:
    """Write ``result`` to ``path`` whole or not at all (a reader never sees half an entry), then prune;
    a folder that cannot be written leaves the cache as it was."""
    part = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".part", delete=False) as handle:
            part = Path(handle.name)
            pickle.dump(result, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(part, path)
        part = None
        _prune(folder.glob("*.pickle"))
    except OSError:
        pass
    finally:
        if part is not None:
            part.unlink(missing_ok=True)


def _prune(entries: Iterable[Path]) -> None:
    """Remove all but the :data:`KEPT_ENTRIES` most recently written entries."""
    by_age = sorted(entries, key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in by_age[KEPT_ENTRIES:]:
        old.unlink(missing_ok=True)


def _files(root: Path) -> list[Path]:
    """Every file under ``root``, in a fixed order (compiled bytecode left out)."""
    return sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _version(package: str) -> str:
    try:
        return package_version(package)
    except PackageNotFoundError:
        return "absent"
