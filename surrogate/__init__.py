"""surrogate: predict and optimise LLM inference deployments."""

from importlib.metadata import PackageNotFoundError, version

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

__all__ = [
    "__version__",
    "ConfigError",
    "DataError",
    "InfeasibleError",
    "NotFittedError",
    "SurrogateError",
    "UnknownNameError",
]
