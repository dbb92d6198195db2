"""Support: where a row beyond the trained workload range reads the learned correction."""

from __future__ import annotations

import numpy as np
import pandas as pd

from surrogate.model._support import Support


def _support(workload_range: dict[str, dict[str, tuple[float, float]]]) -> Support:
    return Support(vendors=set(), hardware=set(), models=set(), frameworks=set(), software=set(),
                   workload_range=workload_range, center=np.zeros(1), scale=np.ones(1), points=np.zeros((1, 1)))


def test_clamp_holds_each_batching_mode_to_its_own_range() -> None:
    # Continuous rows were once left unclamped in input and output length whenever static rows were trained
    # too (the static pass rewrote those columns from the unclamped rows).
    support = _support({"continuous": {"sequences": (1.0, 64.0), "input_len": (128.0, 1024.0),
                                       "output_len": (100.0, 2048.0)},
                        "static": {"sequences": (1.0, 16.0), "input_len": (256.0, 2048.0),
                                   "output_len": (1.0, 512.0)}})
    rows = pd.DataFrame({"model": ["meta-llama/Llama-3.1-8B"] * 3,
                         "batching": ["continuous", "static", "continuous"],
                         "concurrency": [256, 1, 8], "batch_size": [256, 64, 8],
                         "input_len": [8192, 8192, 64], "output_len": [4096, 1024, 50]})
    clamped = support.clamp(rows)
    assert clamped[["concurrency", "batch_size", "input_len", "output_len"]].values.tolist() == [
        [64, 64, 1024, 2048], [1, 16, 2048, 512], [8, 8, 128, 100]]
