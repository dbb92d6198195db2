"""Model bundles on disk: where the bundled default lives, and loading that refuses anything else clearly.

Unpickling runs whatever code a file holds, so ``load`` hashes the bytes first and unpickles only a
trusted file (``surrogate.model._trust``): one this user saved or recorded, the bundled default, or
one the caller vouches for with ``trust=True``. The bytes hashed are the bytes unpickled.
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import joblib

from features.errors import DataError, IncompatibleBundleError, MissingPathError
from surrogate.model._bundle import SurrogateModel
from surrogate.model._trust import digest_of, is_trusted, record, untrusted_error

__all__ = ["load", "load_default", "default_model_path", "trust_file"]


def load(path: str | Path, *, trust: bool = False) -> SurrogateModel:
    """Load a bundle written by :meth:`SurrogateModel.save`; refuse anything else clearly.

    The file is unpickled only if its SHA-256 is one this user trusts (bundles written by ``save`` on
    this account, files recorded with :func:`trust_file`, the bundled default), or ``trust=True``: the
    caller vouches for the file (nothing is recorded). Otherwise ``UntrustedModelError``, before any of
    its code runs.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"model file {path} does not exist")
    data = path.read_bytes()
    if not (trust or _is_default(path)):
        digest = digest_of(data)
        if not is_trusted(digest):
            raise untrusted_error(path, digest)
    try:
        model = joblib.load(io.BytesIO(data))
    except IncompatibleBundleError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not a bundle we can read"
        raise IncompatibleBundleError(f"{path} is not a surrogate model bundle this version can read: {exc}") \
            from exc
    if not isinstance(model, SurrogateModel):
        raise IncompatibleBundleError(f"{path} holds a {type(model).__name__}, not a surrogate model bundle")
    return model


def default_model_path() -> Path:
    """Where the bundled default model lives: ``models/default.joblib``, installed as package data."""
    return Path(str(resources.files("models") / "default.joblib"))


def load_default() -> SurrogateModel:
    """The bundled default model; a clear error if this installation lacks it."""
    path = default_model_path()
    if not path.is_file():
        raise DataError(f"no default model at {path}; train one with `python scripts/train_default.py` "
                        "or pass --model-file")
    return load(path)


def trust_file(path: str | Path) -> str:
    """Trust the model file at ``path`` from now on (record its SHA-256); returns the digest.

    Only for files from a source you trust: loading a model file runs any code it holds.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"model file {path} does not exist")
    return record(path, source="trusted")


def _is_default(path: Path) -> bool:
    """The bundled default is as trusted as the installed code beside it: whoever can replace one can
    replace the other."""
    return path.resolve() == default_model_path().resolve()
