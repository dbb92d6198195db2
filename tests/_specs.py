"""Catalog specs for one configuration row, shared by the roofline and memory tests.

Import as ``from _specs import arr, specs_for`` (pytest puts tests/ on the path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.configs import gather_specs, normalize_configs

LLAMA3_8B = "meta-llama/Meta-Llama-3-8B"


def specs_for(**overrides: object) -> pd.DataFrame:
    """``gather_specs`` of Llama-3-8B bf16 on one H100 SXM with vLLM, with any column overridden."""
    row = {"hardware": "h100-sxm", "model": LLAMA3_8B, "framework": "vllm", "weight_dtype": "bf16",
           "kv_dtype": "fp16", "input_len": 1, "output_len": 1}
    row.update(overrides)
    return gather_specs(normalize_configs(pd.DataFrame([row])))


def arr(*values: float) -> np.ndarray:
    """A float array of the given values (one per row)."""
    return np.array(values, dtype=float)
