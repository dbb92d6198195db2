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
import tempfile
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.distinct import factorize, names_at
from surrogate.model import _compiled
from surrogate.model._workers import in_worker, jobs, run_beside, workers_warm

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
    where = str(_SHARED_MEMORY_DIR) if os.access(_SHARED_MEMORY_DIR, os.W_OK) else None  # else the temp dir
    remote = [partial(_predict_shard, token, blob, settings, piece, normalized, where) for piece in pieces[:-1]]
    packed, mine = run_beside(remote, lambda: model._predict_aggregated(pieces[-1], normalized), _Packed.discard)
    frames = []
    try:
        for shard in packed:
            frames.append(shard.unpack())
            _compiled.note_status(shard.status)
    finally:
        for shard in packed:
            shard.discard()
    return pd.concat([*frames, mine])


# Where a shard's numbers are written for this process to read: memory-backed where the system has it.
_SHARED_MEMORY_DIR = Path("/dev/shm")


@dataclass
class _Packed:
    """A shard's prediction on its way back from a worker: the float columns as one block in a file in
    shared memory, the text columns as codes into their few distinct values, the rest (flags) pickled as
    usual. Through the pipe, the 31 MB of floats took 0.16-0.21 s and the 8 MB of text 0.05 s for
    100,000 rows; the file takes a few hundredths of a second."""

    path: str
    floats: list[str]
    texts: dict[str, tuple[npt.NDArray[np.integer[Any]], list[Any]]]
    rest: pd.DataFrame
    order: list[str]
    status: str

    @classmethod
    def of(cls, frame: pd.DataFrame, status: str, where: str | None) -> _Packed:
        floats = [name for name in frame.columns if frame[name].dtype == np.float64]
        texts = {name: _small_codes(*factorize(frame[name])) for name in frame.columns
                 if isinstance(frame[name].array, pd.arrays.ArrowStringArray)}
        handle, path = tempfile.mkstemp(prefix="surrogate-shard-", suffix=".npy", dir=where)
        with os.fdopen(handle, "wb") as out:
            block = np.empty((len(floats), len(frame)))
            for i, name in enumerate(floats):
                block[i] = frame[name].to_numpy()
            np.save(out, block)
        return cls(path, floats, texts, frame.drop(columns=[*floats, *texts]), list(frame.columns), status)

    def unpack(self) -> pd.DataFrame:
        columns: dict[str, Any] = dict(zip(self.floats, np.load(self.path), strict=True))
        columns.update({name: names_at(values, codes) for name, (codes, values) in self.texts.items()})
        return pd.DataFrame({name: columns[name] if name in columns else self.rest[name].array for name in self.order},
                            index=self.rest.index, copy=False)

    def discard(self) -> None:
        Path(self.path).unlink(missing_ok=True)


def _small_codes(codes: npt.NDArray[np.intp], values: list[Any]) -> tuple[npt.NDArray[np.integer[Any]], list[Any]]:
    """Codes in the narrowest integer type that numbers ``values`` (a label column has a handful)."""
    return codes.astype(np.min_scalar_type(max(len(values) - 1, 0))), values


def _shipment(model: SurrogateModel) -> tuple[str, bytes]:
    shipment = _shipments.get(model)
    if shipment is None:
        shipment = (uuid.uuid4().hex, pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        _shipments[model] = shipment
    return shipment


def _predict_shard(token: str, blob: bytes, settings: dict[str, str | None], cfg: pd.DataFrame,
                   normalized: bool, where: str | None) -> _Packed:
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
    return _Packed.of(model._predict_aggregated(cfg, normalized), _compiled.status(), where)

