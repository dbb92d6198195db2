"""A worker's shard of a large prediction on its way back to the process that asked (``_sharded``).

Through loky's pipe a 100,000-row result (31 MB pickled, 8 MB of it text) took 0.16-0.21 s, as much as a
fifth of the whole prediction on 2 cores. Here the floats travel as one block in a file in shared memory
(deleted once read) and the text columns as codes into their few values; only the flags are pickled.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.distinct import factorize, names_at

__all__ = ["SHARED_MEMORY_DIR", "PackedShard"]

# Where a shard's numbers are written for this process to read: memory-backed where the system has it.
SHARED_MEMORY_DIR = Path("/dev/shm")


@dataclass
class PackedShard:
    """A shard's prediction as it crosses: the float columns in a file in shared memory (``of`` writes it,
    ``unpack`` reads it, ``discard`` deletes it), the text columns as codes, the rest (flags) as they are."""

    path: str
    finished_at: float  # the worker's wall clock when packed (time.time(): one machine, one clock)
    floats: list[str]
    texts: dict[str, tuple[npt.NDArray[np.integer[Any]], list[Any]]]
    rest: pd.DataFrame
    order: list[str]
    status: str

    @classmethod
    def of(cls, frame: pd.DataFrame, status: str, where: str | None) -> PackedShard:
        floats = [name for name in frame.columns if frame[name].dtype == np.float64]
        texts = {name: _small_codes(*factorize(frame[name])) for name in frame.columns
                 if isinstance(frame[name].array, pd.arrays.ArrowStringArray)}
        handle, path = tempfile.mkstemp(prefix="surrogate-shard-", suffix=".npy", dir=where)
        try:
            with os.fdopen(handle, "wb") as out:
                block = np.empty((len(floats), len(frame)))
                for i, name in enumerate(floats):
                    block[i] = frame[name].to_numpy()
                np.save(out, block)
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        return cls(path, time.time(), floats, texts, frame.drop(columns=[*floats, *texts]), list(frame.columns),
                   status)

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
