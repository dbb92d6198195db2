"""Progress of long work as a message and the fraction done, so a caller can show elapsed and remaining time.

``fit`` counts its work up front in units (an efficiency fit 2, a LightGBM fit 1: about their cost
on the shared data) and reports after each step; cross-validation and training scale the fraction of
each fit into their own (:func:`scaled`).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressFn", "Steps", "scaled"]

# (what is being done now, fraction of the whole job done so far in [0, 1])
ProgressFn = Callable[[str, float], None]


def scaled(progress: ProgressFn | None, start: float, width: float, prefix: str = "") -> ProgressFn | None:
    """``progress`` for a part of a job that spans ``[start, start + width]`` of the whole."""
    if progress is None:
        return None
    outer = progress

    def report(message: str, fraction: float) -> None:
        outer(f"{prefix}{message}", start + width * min(max(fraction, 0.0), 1.0))

    return report


class Steps:
    """Counts finished units of work against a planned total and reports each step."""

    def __init__(self, progress: ProgressFn | None, total_units: float) -> None:
        self.progress, self.total_units, self.done_units = progress, max(total_units, 1e-9), 0.0

    def start(self, message: str, units: float = 1.0) -> None:
        """Report ``message`` as under way; its ``units`` count as done at the next step."""
        if self.progress is not None:
            self.progress(message, min(self.done_units / self.total_units, 1.0))
        self.done_units += units

    def finish(self, message: str = "done") -> None:
        if self.progress is not None:
            self.progress(message, 1.0)
