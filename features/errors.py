"""The one exception hierarchy of the project; ``surrogate`` re-exports it.

Only the CLI turns these into exit codes: ``UnknownNameError`` and other ``ConfigError``s are
usage errors (exit 2), everything else is a failure (exit 1).
"""

from __future__ import annotations

import difflib

__all__ = [
    "SurrogateError",
    "ConfigError",
    "UnknownNameError",
    "DataError",
    "MissingPathError",
    "NotFittedError",
    "InfeasibleError",
    "IncompatibleBundleError",
    "UntrustedModelError",
    "closest_names",
]


class SurrogateError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SurrogateError, ValueError):
    """A request or configuration that cannot be valid (bad flag values, impossible parallelism)."""


class UnknownNameError(ConfigError, KeyError):
    """A hardware, model or framework name that no catalog knows."""

    def __init__(self, kind: str, name: str, suggestions: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} '{name}'{hint}")

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class DataError(SurrogateError):
    """A data file or row that cannot be read; the message names the file and line."""


class MissingPathError(ConfigError, FileNotFoundError):
    """A file or directory that is not there: the same usage error (exit 2) whichever command looked for it."""


class NotFittedError(SurrogateError, ValueError):
    """A model used before it was trained."""


class InfeasibleError(SurrogateError):
    """Nothing satisfies the request (memory, latency target); the message says what would."""


class IncompatibleBundleError(SurrogateError):
    """A model file that is not a bundle this version can read (another format, or not a bundle at all)."""


class UntrustedModelError(SurrogateError):
    """A model file this user never saved or trusted: refused before unpickling, since that runs its code."""


def closest_names(name: str, candidates: list[str], limit: int = 3) -> list[str]:
    """Up to ``limit`` catalog names that look like ``name`` (difflib ratio, then substring)."""
    lowered = {c.lower(): c for c in candidates}
    query = name.lower()
    close = difflib.get_close_matches(query, list(lowered), n=limit, cutoff=0.5)
    picks = [lowered[c] for c in close]
    for low, original in lowered.items():
        if len(picks) >= limit:
            break
        if original not in picks and (query in low or low in query):
            picks.append(original)
    return picks[:limit]
