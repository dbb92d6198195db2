"""Large predictions split into shards predicted in worker processes, one per core.

Most of a large prediction is NumPy and pandas work that holds the GIL between array operations, so
threads gain little (1.2x on 2 cores, measured on 200,000 rows); processes gain nearly a core each.
Each worker predicts its shard with the same bundle and the shards come back in order: the result is
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
import uuid
import weakref
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from surrogate.model import _compiled
from surrogate.model._workers import in_worker, jobs, run_all, workers_warm

if TYPE_CHECKING:
    from surrogate.model._bundle import SurrogateModel

__all__ = ["shards_for", "predict_in_shards", "forget"]

# Below this many rows a prediction stays in this process: shipping rows and results both ways and
# concatenating them costs about 0.1 s per 100,000 rows, worth it only where the work is ten times that.
SHARDED_ROWS = 100_000
# Without workers running already: starting them pays off only for this many rows or more.
COLD_SHARDED_ROWS = 600_000
# Each shard at least this many rows (a third core on 120,000 rows would mostly wait on shipping).
_MIN_SHARD_ROWS = 50_000
# Settings a worker must take from this process for each shard.
_SHARED_ENV = (_compiled.POLICY_ENV, _compiled.CACHE_ENV)
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
    pieces = [cfg.iloc[rows] for rows in np.array_split(np.arange(len(cfg)), shards)]
    results = run_all([partial(_predict_shard, token, blob, settings, piece, normalized) for piece in pieces],
                      work=len(cfg))
    _compiled.note_status(results[-1][1])
    return pd.concat([frame for frame, _ in results])


def _shipment(model: SurrogateModel) -> tuple[str, bytes]:
    shipment = _shipments.get(model)
    if shipment is None:
        shipment = (uuid.uuid4().hex, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        _shipments[model] = shipment
    return shipment


def _predict_shard(token: str, blob: bytes, settings: dict[str, str | None], cfg: pd.DataFrame,
                   normalized: bool) -> tuple[pd.DataFrame, str]:
    """In a worker: the shard's prediction and how its trees were read (``_compiled.status``)."""
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
    frame = model._predict_aggregated(cfg, normalized)
    return frame, _compiled.status()

