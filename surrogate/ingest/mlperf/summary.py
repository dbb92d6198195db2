"""Reading LoadGen's ``mlperf_log_summary.txt`` and a submitter's ``systems/<system>.json``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surrogate.ingest.base import number, whole

__all__ = ["Summary", "read_summary", "SystemInfo", "read_system"]

_LINE = re.compile(r"^\s*([^:]+?)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True)
class Summary:
    """The ``key : value`` pairs of one summary (keys as written, first occurrence wins), with the line
    each came from."""

    values: dict[str, str]
    lines: dict[str, int]

    def get(self, key: str) -> float | None:
        return number(self.values.get(key))

    def nanoseconds_s(self, key: str) -> float | None:
        """A ``(ns)`` statistic in seconds."""
        value = self.get(key)
        return None if value is None else value / 1e9


def read_summary(path: Path) -> Summary:
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number_, text in enumerate(handle, start=1):
            match = _LINE.match(text)
            if match and not text.lstrip().startswith("*"):
                key = match.group(1)
                if key not in values:
                    values[key], lines[key] = match.group(2), number_
    return Summary(values, lines)


@dataclass(frozen=True)
class SystemInfo:
    """The facts of a system description the adapter uses; ``raw`` keeps the rest."""

    accelerator: str | None
    per_node: int | None
    nodes: int | None
    framework: str | None
    raw: dict[str, Any]

    @property
    def devices(self) -> int | None:
        if self.per_node is None:
            return None
        return self.per_node * (self.nodes or 1)


def read_system(path: Path) -> SystemInfo:
    """``systems/<system>.json``; counts may be numbers or strings ('8', 'N/A'), names 'N/A' for CPU-only."""
    raw = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    name = str(raw.get("accelerator_model_name") or "").strip()
    accelerator = None if name.lower() in {"", "n/a", "na", "none"} else name
    per_node = whole(raw.get("accelerators_per_node"))
    return SystemInfo(accelerator=accelerator, per_node=per_node if per_node and per_node > 0 else None,
                      nodes=whole(raw.get("number_of_nodes")), framework=str(raw.get("framework") or "") or None,
                      raw=raw)
