"""Large predictions split into shards predicted in worker processes, one per core.

Most of a large prediction is NumPy and pandas work that holds the GIL between array operations, so
threads gain little (1.2x on 2 cores, measured on 200,000 rows); processes gain nearly a core each.
Each worker predicts its shard with the same bundle (the last shard is predicted here meanwhile, on one core:
its rows and result never cross a pipe) and the shards come back in order: the result is
the one a single process gives, row for row (``tests/test_sharded.py``). A configuration error found
in a shard is said again by the caller from the whole table, so it names the row as one process would.

The bundle travels to the reused workers as pickled bytes made once per bundle object, and each worker
unpickles it once per bundle (by a token), so a prediction ships rows, not models. Settings the workers
must share with this process (the compiled-trees policy and cache) go with every shard, since reused
workers keep the environment they started with.
"""

from __future__ import annotations

import os
import pickle
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from surrogate.cache_home import CACHE_ENV
from surrogate.model import _compiled
from surrogate.model._shard_results import SHARED_MEMORY_DIR, PackedShard
from surrogate.model._workers import in_worker, jobs, run_beside, workers_warm

if TYPE_CHECKING:
    from surrogate.model._bundle import SurrogateModel

T = TypeVar("T")

__all__ = ["shards_for", "predict_in_shards", "forget"]

# Below this many rows a prediction stays in this process: shipping rows and results both ways and
# concatenating them costs about 0.1 s per 100,000 rows, worth it only where the work is ten times that.
SHARDED_ROWS = 100_000
# Without workers running already: starting them pays off only for this many rows or more.
COLD_SHARDED_ROWS = 600_000
# Each shard at least this many rows (a third core on 120,000 rows would mostly wait on shipping).
_MIN_SHARD_ROWS = 50_000
# Settings a worker must take from this process for each shard.
_SHARED_ENV = (_compiled.POLICY_ENV, CACHE_ENV)
# Bundles a worker keeps unpickled (the most recent ones).
_KEPT_IN_WORKER = 2

_shipments: weakref.WeakKeyDictionary[SurrogateModel, tuple[str, bytes]] = weakref.WeakKeyDictionary()
_received: OrderedDict[str, SurrogateModel] = OrderedDict()


def shards_for(rows: int) -> int:
    """How many worker processes predict ``rows`` rows (1: this process does it). Workers not started yet
    cost more to start (1.3 s) than sharding saves (0.2-0.3 s per 100,000 rows) below ``COLD_SHARDED_ROWS``;
    ``surrogate.model.start_workers()`` starts them for a caller that predicts large tables repeatedly."""
    if rows < SHARDED_ROWS or in_worker() or (rows < COLD_SHARDED_ROWS and not workers_warm()):
        return 1
    return max(1, min(jobs(), rows // _MIN_SHARD_ROWS))


def forget(model: SurrogateModel) -> None:
    """Drop the bytes shipped for ``model`` (it is being refitted: workers must get the new one)."""
    _shipments.pop(model, None)


def predict_in_shards(model: SurrogateModel, cfg: pd.DataFrame, shards: int, normalized: bool) -> pd.DataFrame:
    """``model``'s prediction of the rows ``cfg`` (normalised already or not), ``shards`` contiguous pieces
    predicted in worker processes and put back in order. A ``ConfigError`` names a row by its position in
    its shard: the caller says it again from the whole table."""
    _compiled.policy()  # a bad setting is a usage error here, not in a worker
    token, blob = _shipment(model)
    settings = {name: os.environ.get(name) for name in _SHARED_ENV}
    pieces = _pieces(cfg, shards, _balance.local_share(shards))
    where = str(SHARED_MEMORY_DIR) if os.access(SHARED_MEMORY_DIR, os.W_OK) else None  # else the temp dir
    remote = [partial(_predict_shard, token, blob, settings, piece, normalized, where) for piece in pieces[:-1]]
    sent_at = time.time()
    packed, (mine, local_s) = run_beside(remote, partial(_timed, model._predict_aggregated, pieces[-1], normalized),
                                         PackedShard.discard)
    frames = []
    try:
        for shard in packed:
            frames.append(shard.unpack())
            _compiled.note_status(shard.status)
    finally:
        for shard in packed:
            shard.discard()
    _balance.record(shards, len(pieces[-1]) / max(local_s, 1e-6),
                    [len(piece) / max(shard.finished_at - sent_at, 1e-6)
                     for piece, shard in zip(pieces[:-1], packed, strict=True)])
    return pd.concat([*frames, mine])


def _pieces(cfg: pd.DataFrame, shards: int, local_share: float) -> list[pd.DataFrame]:
    """Contiguous pieces in order: the workers' equal ones, then this process's ``local_share`` of the rows."""
    local = min(len(cfg) - (shards - 1), max(1, round(local_share * len(cfg))))
    bounds = np.array_split(np.arange(len(cfg) - local), shards - 1)
    return [*(cfg.iloc[rows] for rows in bounds), cfg.iloc[len(cfg) - local:]]


def _timed(func: Callable[..., T], *args: Any) -> tuple[T, float]:
    start = time.perf_counter()
    return func(*args), time.perf_counter() - start


@dataclass
class _Balance:
    """The share of a large prediction's rows this process takes. A worker's shard also pays for shipping
    its rows out and its result back, and two processes on two cores run slower than one alone, so equal
    shards left this process waiting (0.1-0.3 s of about 1 s on 2 cores). Each prediction measures rows per
    second here and in the workers (from sending to finishing) and moves the share halfway to the one that
    would have finished together, within half to one and a half times an equal share. Only the split moves: the rows
    predicted, and so the result, are the same whatever the share."""

    shares: dict[int, float] = field(default_factory=dict)

    def local_share(self, shards: int) -> float:
        return self.shares.get(shards, 1.0 / shards)

    def record(self, shards: int, local_rate: float, remote_rates: list[float]) -> None:
        if not remote_rates:
            return
        remote_rate = float(np.mean(remote_rates))
        even = local_rate / (local_rate + (shards - 1) * remote_rate)
        share = 0.5 * self.local_share(shards) + 0.5 * even
        self.shares[shards] = float(np.clip(share, 0.5 / shards, 1.5 / shards))


_balance = _Balance()


def _shipment(model: SurrogateModel) -> tuple[str, bytes]:
    shipment = _shipments.get(model)
    if shipment is None:
        shipment = (uuid.uuid4().hex, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        _shipments[model] = shipment
    return shipment


def _predict_shard(token: str, blob: bytes, settings: dict[str, str | None], cfg: pd.DataFrame,
                   normalized: bool, where: str | None) -> PackedShard:
    """In a worker: the shard's prediction, packed into a file in ``where``, with how its trees were read
    (``_compiled.status``)."""
    for name, value in settings.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    model = _received.get(token)
    if model is None:
        model = pickle.loads(blob)  # noqa: S301 - bytes this package pickled in the parent process
        _received[token] = model
        while len(_received) > _KEPT_IN_WORKER:
            _received.popitem(last=False)
    _received.move_to_end(token)
    return PackedShard.of(model._predict_aggregated(cfg, normalized), _compiled.status(), where)

