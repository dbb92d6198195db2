"""Independent pieces of training (the held-out fits that calibrate the bands) run on every core.

Training a bundle fits dozens of LightGBM models that do not depend on each other. Each is seeded and
single-threaded (``_bundle._THREADS``), so running them in worker processes gives the same models as
running them one after the other, in a fraction of the time on a machine with more than one core.
joblib's loky workers are started once per process and reused.

``$SURROGATE_JOBS`` sets the number of workers (default: the cores this process may use, at most
``_MAX_JOBS``; 1 runs everything in this process). Work below ``_MIN_PARALLEL_WORK`` rows x fits stays
in this process: starting workers costs about a second, more than small fits take.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

from features.errors import ConfigError

__all__ = ["JOBS_ENV", "jobs", "run_all"]

JOBS_ENV = "SURROGATE_JOBS"
_MAX_JOBS = 8
# Rows summed over fits. A 400-tree fit on 4,000 rows takes about a third of a second; below 20,000
# row-fits (say five fits of 4,000 rows) the whole batch takes about as long as starting the workers.
_MIN_PARALLEL_WORK = 20_000

T = TypeVar("T")


def jobs() -> int:
    """Worker processes to use: ``$SURROGATE_JOBS``, else the usable cores (at most ``_MAX_JOBS``)."""
    value = os.environ.get(JOBS_ENV, "").strip()
    if value:
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            raise ConfigError(f"{JOBS_ENV}={value!r} must be a whole number of worker processes, 1 or more")
        return count
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(usable, _MAX_JOBS))


def run_all(tasks: Sequence[Callable[[], T]], *, work: int) -> list[T]:
    """Each task's result, in order; in worker processes when there are several tasks, several workers and
    at least ``_MIN_PARALLEL_WORK`` of ``work`` (the caller's measure of the batch's size)."""
    workers = min(jobs(), len(tasks))
    if workers <= 1 or work < _MIN_PARALLEL_WORK:
        return [task() for task in tasks]
    from joblib import Parallel, delayed

    return list(Parallel(n_jobs=workers, backend="loky")(delayed(task)() for task in tasks))
