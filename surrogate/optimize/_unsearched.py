"""Notes on what the search left out that a user would want to know: integer weight formats where the winner
had to run 16-bit weights, and engines not yet released on the date ``--software-as-of`` prices for.

The default formats (16-bit and fp8) are those an engine serves from the published checkpoint at about its
quality. Where fp8 is out of reach (an A100 has no fp8 units, llama.cpp has no fp8 format, a CPU neither),
the winner is 16-bit, and a memory-bound decode would run about 2x faster from int8 weights and up to 4x from
int4: Llama-3.1-8B on this repository's 2-core EPYC is predicted at 525 ms per token at bf16, 262 ms at q8_0
and 166 ms at q4_0 (README "Weight formats", from that day's `surrogate hardware probe`). Whether the
quality lost is worth it is the user's call, so the search does not take those formats on its own; it says
they exist.
"""

from __future__ import annotations

import pandas as pd

from features import catalog
from features.precision import canonical_dtype
from surrogate.optimize._request import SIXTEEN_BIT, Inventory, SearchSpace
from surrogate.optimize._space import searched_frameworks, weight_runs_on

__all__ = ["unsearched_formats_note", "unreleased_engines_note"]

# Integer weight formats, smallest saving first, and what a person serves for each.
_INTEGER_FORMATS = ("int8", "int4")
_CHECKPOINTS = {"llama.cpp": {"int8": "GGUF q8_0", "int4": "GGUF q4_0"},
                "default": {"int8": "a W8A8 checkpoint", "int4": "an AWQ or GPTQ checkpoint"}}


def unsearched_formats_note(ranked: pd.DataFrame, space: SearchSpace) -> str | None:
    """The note for the winner of ``ranked`` (None where it is not 16-bit, the search had integer formats,
    or its engine or hardware runs none)."""
    if ranked.empty or any(canonical_dtype(name) in _INTEGER_FORMATS for name in space.precisions):
        return None
    best = ranked.iloc[0]
    if best.get("mode") == "disaggregated" or str(best["weight_dtype"]) not in SIXTEEN_BIT:
        return None
    framework = catalog.get_framework(str(best["framework"]))
    hardware = catalog.get_hardware(str(best["hardware"]))
    formats = [d for d in _INTEGER_FORMATS if d in framework.weight_precisions and weight_runs_on(d, hardware)]
    if not formats:
        return None
    served = _CHECKPOINTS.get(framework.id, _CHECKPOINTS["default"])
    listed = " and ".join(f"{d} ({served[d]})" for d in formats)
    return (f"the winner runs 16-bit weights; {framework.id} on {hardware.id} also serves {listed}, not searched "
            f"(integer weights cost some model quality): add --precisions fp16,{','.join(formats)} to compare")


def unreleased_engines_note(inventory: Inventory, space: SearchSpace) -> str | None:
    """The engines that run on the searched hardware but were left out as not yet released on
    ``space.software_as_of`` (None where none was)."""
    vendors = {catalog.get_hardware(pool.hardware).vendor for pool in inventory.pools}
    reasons = [why for name in searched_frameworks(space)
               if vendors & set(catalog.get_framework(name).vendors) and (why := space.unreleased(name))]
    return "left out: " + "; ".join(reasons) if reasons else None
