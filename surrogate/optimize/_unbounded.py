"""The note ``optimize`` adds when no latency limit bounds its ranking: what the pick's users would wait.

Ranked by throughput (or cost) alone, the best deployment is often the one with the most requests in flight,
whose first tokens can take tens of seconds (70B on H100s, 4,096-token prompts: 512 in flight, most of them
waiting for a KV cache slot). A user who forgot ``--max-ttft-s`` should read that before acting on it.
"""

from __future__ import annotations

import pandas as pd

from surrogate.formatting import format_seconds
from surrogate.optimize._request import Objective, Targets

__all__ = ["unbounded_latency_note"]


def unbounded_latency_note(ranked: pd.DataFrame, objective: Objective, targets: Targets) -> str | None:
    """The note for the ranking's first row when no limit was given and the objective is not latency itself
    (None otherwise): its median and P90 TTFT and ITL, and the flags that bound them."""
    if targets.given() or objective.name == "latency" or ranked.empty:
        return None
    best = ranked.iloc[0]

    def spread(metric: str) -> str:
        return f"{format_seconds(float(best[metric]))} (P90 {format_seconds(float(best[f'{metric}_p90']))})"

    return (f"no latency limit given: ranked by {objective.label} alone; #1 waits {spread('ttft_s')} for its first "
            f"token and {spread('itl_s')} between tokens. --max-ttft-s, --max-itl-s or --max-latency-s trade "
            "throughput for latency")
