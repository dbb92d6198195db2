"""Accelerator names as tables and tools write them, matched to catalog ids where no id or alias is spelled alike.

``nvidia-smi`` prints ``NVIDIA A100-SXM4-80GB``, vendors' tables ``NVIDIA H100 SXM5 80GB`` or ``AMD Instinct
MI325X``, papers ``H200 SXM 141GB``. :func:`match_by_parts` reads such a name as a part and a memory size:
brand words (``NVIDIA``, ``AMD Instinct``, ``Tesla``, ``HGX``) and memory kinds (``HBM3``) are dropped and a
size (``80GB``, ``80G``) is set apart; nothing else is loosened (``A100-SXM9`` is no part). The part must
equal what a catalog id or alias reads as, and a stated size must be that row's memory (as GB or as GiB,
within 8%): ``H100 64GB`` does not become the 80 GB card, and a part with no size that two rows share
(``A100 SXM``: 40 and 80 GB) matches only through an alias that says which (``a100_sxm``: the 80 GB card),
the bare part's alias first (``NVIDIA A100`` is what ``A100`` is, not what a dataset's ``Nvidia A100 GPU`` is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

__all__ = ["name_parts", "match_by_parts"]

_BRAND_WORDS = frozenset({"nvidia", "amd", "instinct", "intel", "tesla", "geforce", "habana", "hgx", "dgx", "gpu",
                          "graphics", "accelerator", "oam"})
_MEMORY_KINDS = frozenset({"hbm", "hbm2", "hbm2e", "hbm3", "hbm3e", "gddr6", "gddr6x", "gddr7"})
# How a system runs the part, not which part it is (MLPerf's 'AMD Instinct MI300X-NPS1-SPX-192GB-750W',
# 'NVIDIA H200-SXM-141GB-CTS'): a power cap, AMD's memory and compute partition modes, a custom thermal solution.
_SETTINGS = re.compile(r"^(\d+w|nps\d|spx|dpx|qpx|cpx|cts)$")
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)(?:g|gb|gib)$")
# How far a stated memory size may be from a row's and still name it (marketing rounds: 94 GB, 141 GB).
_SIZE_TOLERANCE = 0.08


@lru_cache(maxsize=4096)  # every unresolved name reads each catalog label again: read the labels once
def name_parts(name: str) -> tuple[str, float | None]:
    """The part a name reads as (lower-case letters and digits, brand words and memory kinds dropped) and the
    memory size it states in GB or GiB (None if it states none)."""
    size = None
    kept = []
    for word in re.split(r"[^a-z0-9.]+", name.lower()):
        if not word:
            continue
        found = _SIZE.match(word)
        if found:
            size = float(found.group(1))
        elif word not in _BRAND_WORDS and word not in _MEMORY_KINDS and not _SETTINGS.match(word):
            kept.append(word)
    return "".join(ch for ch in "".join(kept) if ch.isalnum()), size


def _same_size(stated_gb: float, memory_gb: float) -> bool:
    return any(abs(memory_gb - stated_gb * unit) <= _SIZE_TOLERANCE * stated_gb * unit for unit in (1.0, 2**30 / 1e9))


def match_by_parts(name: str, labels: Iterable[tuple[str, str]], memory_gb: Mapping[str, float]) -> str | None:
    """The one catalog id ``name`` reads as, given every (label, id) pair of the catalog (its ids and aliases)
    and each id's memory; None when no row or more than one does.

    A stated size picks among the rows of that part; without one, labels that state no size either (the
    aliases that name a default) decide first.
    """
    part, size = name_parts(name)
    if not part:
        return None
    same_part = [(hardware_id, label_size, _plain(label) == part) for label, hardware_id in labels
                 for label_part, label_size in [name_parts(label)] if label_part == part]
    if size is not None:
        ids = {h for h, _, _ in same_part if h in memory_gb and _same_size(size, memory_gb[h])}
    else:  # the label that is the bare part ('A100') says which row it means, before labels with more words
        ids = ({h for h, label_size, plain in same_part if label_size is None and plain}
               or {h for h, label_size, _ in same_part if label_size is None} or {h for h, _, _ in same_part})
    return ids.pop() if len(ids) == 1 else None


def _plain(label: str) -> str:
    return "".join(ch for ch in label.lower() if ch.isalnum())
