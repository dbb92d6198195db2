"""Which model files this user trusts to unpickle: SHA-256 digests recorded in a per-user store.

Unpickling a model file runs any code it holds, so :func:`surrogate.model.load` unpickles only a file
whose digest the user has recorded (``SurrogateModel.save`` records every bundle it writes, and
``surrogate trust PATH`` a file from elsewhere) or that was passed with an explicit opt-in. A digest
beside the file would not do: whoever ships a file can ship its digest too.

The store is a directory with one ``<sha256>.json`` per trusted file (what it was, where, when):
``$SURROGATE_TRUST_DIR`` if set, else ``$XDG_CONFIG_HOME/surrogate/trusted-models``, else
``~/.config/surrogate/trusted-models``. One file per digest keeps concurrent writers (parallel
``surrogate train`` runs) from losing each other's records; deleting a file revokes the trust.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from features.errors import DataError, UntrustedModelError

__all__ = ["trust_dir", "digest_of", "is_trusted", "record", "record_saved", "untrusted_error"]

_ENV = "SURROGATE_TRUST_DIR"
_log = logging.getLogger(__name__)


def trust_dir() -> Path:
    """The directory of trusted digests (``$SURROGATE_TRUST_DIR``, else under the XDG config home)."""
    override = os.environ.get(_ENV)
    if override:
        return Path(override)
    config = os.environ.get("XDG_CONFIG_HOME")
    if not config:
        try:
            config = str(Path.home() / ".config")
        except RuntimeError as exc:  # no home directory to expand ~ to
            raise DataError(f"no home directory to keep trusted model digests in; set {_ENV}") from exc
    return Path(config) / "surrogate" / "trusted-models"


def digest_of(data: bytes) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(data).hexdigest()


def is_trusted(digest: str) -> bool:
    """Whether this user recorded ``digest`` as a model file to trust."""
    return (trust_dir() / f"{digest}.json").is_file()


def record(path: Path, source: str) -> str:
    """Record the digest of the file at ``path`` as trusted (``source``: who vouched, e.g. ``saved``).

    Returns the digest. The record is written to a temporary file and renamed, so a reader never
    sees half of one.
    """
    digest = digest_of(path.read_bytes())
    folder = trust_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    entry = {"sha256": digest, "path": str(path.resolve()), "source": source,
             "recorded_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False, encoding="utf-8")
    try:
        with tmp:
            json.dump(entry, tmp, indent=1)
        os.replace(tmp.name, folder / f"{digest}.json")
    except BaseException:
        Path(tmp.name).unlink(missing_ok=True)
        raise
    return digest


def record_saved(path: Path) -> None:
    """Trust a bundle just written; if the store cannot be written, warn (the bundle itself is fine)."""
    try:
        record(path, source="saved")
    except (OSError, DataError) as exc:
        _log.warning("saved %s but could not record it as trusted (%s): load it with --trust-model-file or "
                     "surrogate.load(path, trust=True)", path, exc)


def untrusted_error(path: Path, digest: str) -> UntrustedModelError:
    """The refusal for a file whose digest is not trusted: what it is, why, and the ways to opt in."""
    changed = _recorded_for(path)
    why = (f"it changed since it was recorded as trusted on {changed}" if changed
           else "it is not a model file this user saved or trusted")
    return UntrustedModelError(
        f"refusing to load model file {path} (sha256 {digest}): {why}, and loading a model file runs any "
        f"code it holds. If you trust where it came from, pass --trust-model-file, call "
        f"surrogate.load(path, trust=True), or record it once with `surrogate trust {path}` "
        f"(trusted digests live in {trust_dir()})")


def _recorded_for(path: Path) -> str | None:
    """When a file at the same place was recorded with other contents (None if never)."""
    folder = trust_dir()
    if not folder.is_dir():
        return None
    where = str(path.resolve())
    dates = []
    for entry_path in folder.glob("*.json"):
        try:
            entry = json.loads(entry_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a hand-edited or half-deleted record says nothing about this file
        if isinstance(entry, dict) and entry.get("path") == where:
            dates.append(str(entry.get("recorded_utc", "")))
    if not dates:
        return None
    return max(dates) or "an unknown date"
