"""What would fit when a configuration does not: more devices, a smaller format, a smaller batch."""

from __future__ import annotations

import pandas as pd

from features import catalog
from features.analytic import estimate
from features.errors import SurrogateError

__all__ = ["fit_alternatives"]

_SMALLER_FORMATS = {"fp32": ["fp16", "fp8", "int4"], "fp16": ["fp8", "int4"], "bf16": ["fp8", "int4"],
                    "fp8": ["int4", "fp4"], "int8": ["int4"], "int4": [], "fp4": []}


def _fits(row: pd.DataFrame) -> bool:
    try:
        return bool(estimate(row, normalized=True)["fits"].iloc[0])
    except SurrogateError:
        return False


def fit_alternatives(config: pd.DataFrame) -> list[str]:
    """Short, actionable alternatives for a one-row normalised configuration that does not fit."""
    base = config.iloc[[0]].copy()
    hw = catalog.get_hardware(base["hardware"].iloc[0])
    framework = catalog.get_framework(base["framework"].iloc[0])
    layer_split = framework.device_split == "layer"
    out: list[str] = []
    devices = int(base["num_devices"].iloc[0])
    while devices < 8 * hw.scale_up_domain_devices:
        devices *= 2
        trial = base.copy()
        trial["num_devices"] = devices
        if layer_split:
            trial["pp"] = devices // int(base["dp"].iloc[0])
        else:
            trial["tp"] = devices // (int(base["pp"].iloc[0]) * int(base["dp"].iloc[0]))
        if _fits(trial):
            split = f"pp={int(trial['pp'].iloc[0])}" if layer_split else f"tp={int(trial['tp'].iloc[0])}"
            out.append(f"{devices}x {hw.id} ({split})")
            break
    for dtype in _SMALLER_FORMATS.get(str(base["weight_dtype"].iloc[0]), []):
        if dtype not in framework.weight_precisions:
            continue
        trial = base.copy()
        trial["weight_dtype"] = dtype
        if _fits(trial):
            out.append(f"{dtype} weights on {int(base['num_devices'].iloc[0])}x {hw.id}")
            break
    result = estimate(base, normalized=True)
    max_batch = int(result["max_batch_size"].iloc[0])
    if max_batch >= 1:
        out.append(f"batch size {max_batch} or less")
    return out
