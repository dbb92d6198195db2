"""A small surrogate trained in a fraction of a second on synthetic measurements (analytic x a known factor).

Tests of the optimizer use it instead of the shipped default bundle, so they stay fast and offline.
Import it one way only, ``from _tiny_model import tiny_model`` (pytest puts tests/ on the path): a
second spelling (``tests._tiny_model``) would be a second module and train the model again.
"""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pandas as pd

from features.analytic import estimate
from surrogate.model import SurrogateModel

_HARDWARE = ["h100-sxm", "a100-sxm4-80gb", "l40s"]
_MODELS = ["meta-llama/Meta-Llama-3-8B", "Qwen/Qwen2.5-14B"]
_FRAMEWORKS = {"vllm": 1.15, "sglang": 1.10, "tensorrt-llm": 1.0}


def synthetic_table() -> pd.DataFrame:
    """Configurations with 'measured' metrics = analytic x a deterministic factor per framework and tp."""
    rows = []
    grid = itertools.product(_HARDWARE, _MODELS, _FRAMEWORKS, [1, 2, 4], [1, 16, 128], [256, 1024])
    for hw, model, fw, tp, seqs, length in grid:
        rows.append({"hardware": hw, "model": model, "framework": fw, "tp": tp, "pp": 1, "dp": 1,
                     "num_devices": tp, "batching": "continuous", "batch_size": seqs, "concurrency": seqs,
                     "input_len": length, "output_len": length // 4, "weight_dtype": "bf16", "kv_dtype": "bf16"})
    table = pd.DataFrame(rows)
    est = estimate(table)
    keep = est["fits"].to_numpy()
    table, est = table[keep].reset_index(drop=True), est[keep].reset_index(drop=True)
    factor = table["framework"].map(_FRAMEWORKS).to_numpy() * (1.0 + 0.05 * np.log2(table["tp"].to_numpy()))
    wobble = 1.0 + 0.03 * np.sin(np.arange(len(table)))
    for metric in ["latency_s", "ttft_s", "itl_s"]:
        table[metric] = est[metric].to_numpy() * factor * wobble
    return table


@cache
def tiny_model() -> SurrogateModel:
    return SurrogateModel(seed=0, n_estimators=20).fit(synthetic_table())
