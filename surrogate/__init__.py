"""surrogate: predict and optimise LLM inference deployments."""

import os
from importlib.metadata import PackageNotFoundError, version

# LightGBM's OpenMP threads spin while idle; on a busy 2-core machine that made one fit take 136 s
# instead of 1.6 s. Passive waiting must be chosen before LightGBM loads the OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from features.errors import (
    ConfigError,
    DataError,
    InfeasibleError,
    NotFittedError,
    SurrogateError,
    UnknownNameError,
)

try:
    __version__ = version("surrogate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_BUNDLE_NAMES = ("SurrogateModel", "load", "load_default")


def __getattr__(name: str) -> object:
    """``surrogate.load`` and friends, imported on first use (LightGBM is slow to import)."""
    if name in _BUNDLE_NAMES:
        from surrogate import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module 'surrogate' has no attribute '{name}'")


__all__ = [
    "__version__",
    "SurrogateModel",
    "load",
    "load_default",
    "ConfigError",
    "DataError",
    "InfeasibleError",
    "NotFittedError",
    "SurrogateError",
    "UnknownNameError",
]
