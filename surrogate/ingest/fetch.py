"""Download the pinned upstream files of a source, resumable, with sha256 checks.

The manifest (``datasets/manifest.json`` in the repository) lists, per source, a base URL and the
files with their size and sha256. ``sha256_of`` says what the hash is of: ``upstream`` (a mismatch
is an error: the download is deleted) or ``shared-copy`` (the copy in ``../shared/datasets``, which
withholds test rows; a complete upstream file is expected to differ, so a mismatch is reported,
not fatal). An interrupted download resumes from its ``.part`` file with an HTTP Range request.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.errors import DataError

__all__ = ["FileResult", "default_manifest_path", "load_manifest", "fetch", "sha256_file"]

_CHUNK_BYTES = 1 << 16
_TIMEOUT_S = 30.0
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    path: str
    status: str
    sha256: str
    expected_sha256: str | None
    sha256_of: str
    bytes: int

    @property
    def mismatch(self) -> bool:
        return self.expected_sha256 is not None and self.sha256 != self.expected_sha256


def default_manifest_path() -> Path:
    """``datasets/manifest.json`` of the repository this package runs from."""
    return Path(__file__).resolve().parents[2] / "datasets" / "manifest.json"


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    path = Path(path) if path is not None else default_manifest_path()
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"manifest {path} not found; pass --manifest PATH (datasets/manifest.json of the "
                        "surrogate repository)") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), dict):
        raise DataError(f"manifest {path} has no 'sources' object")
    return manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, part: Path, name: str, progress: Progress | None) -> str:
    """Fetch ``url`` into ``part``, resuming from its current size; returns 'downloaded' or 'resumed'."""
    have = part.stat().st_size if part.exists() else 0
    try:
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    except ValueError as exc:  # not a URL urllib can open ('unknown url type')
        raise DataError(f"cannot download {url}: {exc}; give --base-url as http(s)://host/path") from exc
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)  # noqa: S310 - manifest URLs
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
            return "resumed"
        raise DataError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DataError(f"cannot download {url}: {getattr(exc, 'reason', exc)}") from exc
    with response:
        resumed = have > 0 and response.status == 206
        if not resumed:
            have = 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with part.open("ab" if resumed else "wb") as out:
            done = have
            if progress:
                progress(name, done, total)
            try:
                for block in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    out.write(block)
                    done += len(block)
                    if progress:
                        progress(name, done, total)
            except OSError as exc:
                raise DataError(f"download of {url} interrupted after {done} bytes: {exc}; run the same command "
                                "again to resume") from exc
    return "resumed" if resumed else "downloaded"


def fetch(source: str, dest: Path, *, manifest_path: Path | None = None, base_url: str | None = None,
          progress: Progress | None = None) -> list[FileResult]:
    """Download every file of ``source`` into ``dest`` (keeping upstream paths) and verify it.

    Files already present with the manifest's hash are left alone. ``base_url`` replaces the
    manifest's (a mirror). Raises ``DataError`` if a file fails its ``upstream`` hash.
    """
    manifest = load_manifest(manifest_path)
    sources = manifest["sources"]
    if source not in sources:
        raise DataError(f"source '{source}' is not in the manifest; choose from: {', '.join(sources)}")
    entry = sources[source]
    files = entry.get("files") if isinstance(entry, dict) else None
    if not isinstance(files, list) or not all(isinstance(i, dict) and isinstance(i.get("path"), str) for i in files):
        raise DataError(f"manifest entry '{source}' needs a 'files' list of objects with a 'path'")
    if not base_url and not isinstance(entry.get("base_url"), str):
        raise DataError(f"manifest entry '{source}' has no 'base_url'; give --base-url")
    root = (base_url or entry["base_url"]).rstrip("/") + "/"
    dest = Path(dest)
    results: list[FileResult] = []
    failures: list[str] = []
    for item in files:
        target = dest / item["path"]
        expected = item.get("sha256")
        kind = item.get("sha256_of", "upstream")
        if target.is_file() and expected and sha256_file(target) == expected:
            results.append(FileResult(item["path"], "already present", expected, expected, kind,
                                      target.stat().st_size))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        status = _download(root + item.get("url_path", item["path"]), part, item["path"], progress)
        digest = sha256_file(part)
        size = part.stat().st_size
        if expected and digest != expected and kind == "upstream":
            part.unlink()
            failures.append(f"{item['path']}: sha256 {digest} != manifest {expected}")
            results.append(FileResult(item["path"], "sha256 mismatch (deleted)", digest, expected, kind, size))
            continue
        part.replace(target)
        results.append(FileResult(item["path"], status, digest, expected, kind, size))
    if failures:
        raise DataError("downloaded files failed their sha256 check and were deleted: " + "; ".join(failures))
    return results
