"""Model bundles on disk: where the bundled default lives, and loading that refuses anything else clearly."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import joblib

from features.errors import DataError, IncompatibleBundleError, MissingPathError
from surrogate.model._bundle import SurrogateModel

__all__ = ["load", "load_default", "default_model_path"]


def load(path: str | Path) -> SurrogateModel:
    """Load a bundle written by :meth:`SurrogateModel.save`; refuse anything else clearly."""
    path = Path(path)
    if not path.is_file():
        raise MissingPathError(f"model file {path} does not exist")
    try:
        model = joblib.load(path)
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
