"""surrogate: predict and optimise LLM inference deployments."""

from importlib.metadata import PackageNotFoundError, version

from features.errors import (
    ConfigError,
    DataError,
    IncompatibleBundleError,
    InfeasibleError,
    MissingPathError,
    NotFittedError,
    SurrogateError,
    UnknownNameError,
    UntrustedModelError,
)

try:
    __version__ = version("surrogate")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_BUNDLE_NAMES = ("SurrogateModel", "load", "load_default")


def __getattr__(name: str) -> object:
    """``surrogate.load`` and friends, imported on first use (pandas and the catalogs load then)."""
    if name in _BUNDLE_NAMES:
        from surrogate import model

        return getattr(model, name)
    raise AttributeError(f"module 'surrogate' has no attribute '{name}'")


__all__ = [
    "__version__",
    "SurrogateModel",
    "load",
    "load_default",
    "ConfigError",
    "DataError",
    "IncompatibleBundleError",
    "InfeasibleError",
    "MissingPathError",
    "NotFittedError",
    "SurrogateError",
    "UnknownNameError",
    "UntrustedModelError",
]
