"""Independent pieces of work run on every core: training's held-out fits that calibrate the bands,
evaluation folds, compiling trees, and the shards of a large prediction (``_sharded``).

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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TypeVar

from features.errors import ConfigError
from features.host import usable_cores

__all__ = ["JOBS_ENV", "jobs", "run_all", "run_beside", "workers_for", "threads_for", "in_worker", "workers_warm",
           "start_workers"]

JOBS_ENV = "SURROGATE_JOBS"
# Set in the worker processes run_all starts: work there stays on its own core.
_WORKER_ENV = "SURROGATE_IN_WORKER"
_MAX_JOBS = 8
# Rows summed over fits. A fit of a few hundred trees on 4,000 rows takes a fraction of a second; below 20,000
# row-fits (say five fits of 4,000 rows) the whole batch takes about as long as starting the workers.
_MIN_PARALLEL_WORK = 20_000

# Loky stops idle workers after 300 s; a little less, to be safe.
_WARM_S = 240.0
_last_parallel_s: float | None = None

T = TypeVar("T")
U = TypeVar("U")


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
    return max(1, min(usable_cores(), _MAX_JOBS))


# Threads that release the GIL (compiled trees, k-d tree queries) help only on batches this large: below
# it a thread costs more than it saves (measured with the trees compiled without inlining: on 2 cores two
# threads take 0.157 s where one takes 0.305 s for 200,000 rows of one model).
_THREADED_ROWS = 10_000
_MAX_THREADS = 8


# Set while this thread works beside worker processes (run_beside): they have the other cores.
_beside_workers: ContextVar[bool] = ContextVar("beside_workers", default=False)


def threads_for(rows: int) -> int:
    """Threads for a GIL-free loop over ``rows`` rows: one per usable core on large batches, else one (and
    one in a worker process, or beside them: the workers have the other cores)."""
    if rows < _THREADED_ROWS or in_worker() or _beside_workers.get():
        return 1
    return min(usable_cores(), _MAX_THREADS)


def in_worker() -> bool:
    """Whether this is one of the worker processes :func:`run_all` runs tasks in."""
    return os.environ.get(_WORKER_ENV) == "1"


def workers_for(tasks: int, work: int) -> int:
    """How many worker processes :func:`run_all` uses for ``tasks`` tasks of ``work`` in all (1: none)."""
    if work < _MIN_PARALLEL_WORK:
        return 1
    return max(1, min(jobs(), tasks))


def run_all(tasks: Sequence[Callable[[], T]], *, work: int, done: Callable[[int], None] | None = None) -> list[T]:
    """Each task's result, in order; in worker processes when there are several tasks, several workers and
    at least ``_MIN_PARALLEL_WORK`` of ``work`` (the caller's measure of the batch's size). ``done`` is told
    how many tasks have finished, as results come back. Inside a worker, work runs in that worker only
    (nested workers would only contend for the same cores)."""
    workers = workers_for(len(tasks), work)
    results: list[T] = []
    if workers <= 1:
        for task in tasks:
            results.append(task())
            if done is not None:
                done(len(results))
        return results
    from joblib import Parallel, delayed

    for result in Parallel(n_jobs=workers, backend="loky", return_as="generator")(
            delayed(_in_worker)(task) for task in tasks):
        results.append(result)
        if done is not None:
            done(len(results))
    global _last_parallel_s
    _last_parallel_s = time.monotonic()
    return results


def run_beside(remote: Sequence[Callable[[], T]], local: Callable[[], U],
               discard: Callable[[T], None] | None = None) -> tuple[list[T], U]:
    """The results of ``remote`` (each in a worker process, however small) and of ``local``, which runs in
    this process meanwhile, on one core: a large prediction's last shard is worked here instead of
    waiting, and neither its rows nor its result cross a pipe. Needs worker processes (``jobs() > 1``).
    Should ``local`` or a worker fail, the workers' results that came back are handed to ``discard`` (what they
    hold is let go)."""
    from joblib import Parallel, delayed

    # A generator is dispatched as soon as it is made (joblib starts it), and collected after ``local``. As
    # many workers as run_all would start for these tasks: a pool of another size would be restarted.
    pending = Parallel(n_jobs=max(1, min(jobs(), len(remote) + 1)), backend="loky", return_as="generator")(
        delayed(_in_worker)(task) for task in remote)
    results: list[T] = []
    try:
        with _one_core():
            mine = local()
        for result in pending:
            results.append(result)
    except BaseException:
        # Let the workers finish rather than abort them (joblib would restart the pool); this failure wins.
        with suppress(Exception):
            for result in pending:
                results.append(result)
        if discard is not None:
            for result in results:
                discard(result)
        raise
    global _last_parallel_s
    _last_parallel_s = time.monotonic()
    return results, mine


@contextmanager
def _one_core() -> Iterator[None]:
    token = _beside_workers.set(True)
    try:
        yield
    finally:
        _beside_workers.reset(token)


def workers_warm() -> bool:
    """Whether worker processes started here are likely still running (used within loky's idle timeout):
    handing them work then costs no start-up, about 1.3 s on 2 cores otherwise."""
    return _last_parallel_s is not None and time.monotonic() - _last_parallel_s < _WARM_S


def start_workers() -> int:
    """Start the worker processes now (a long-running caller about to predict large tables repeatedly);
    how many there are (1: this process works alone)."""
    count = jobs()
    if count > 1 and not in_worker():
        run_all([_ready] * count, work=_MIN_PARALLEL_WORK)
    return count


def _ready() -> int:
    """In a worker: load what predicting and fitting import (most of a worker's start-up)."""
    import surrogate.model._bundle  # noqa: F401

    return os.getpid()


def _in_worker(task: Callable[[], T]) -> T:
    os.environ[JOBS_ENV] = "1"
    os.environ[_WORKER_ENV] = "1"
    return task()
