"""Values written inside a name, as tables write them: a device count in an accelerator's ('8x H100'), a release
in an engine's ('vLLM 0.6.3'). ``features.configs.normalize_configs`` and the ingest's checks take them out,
so the name resolves and the value fills its own column.
"""

from __future__ import annotations

import re

from features.catalog import resolve_framework, resolve_hardware
from features.errors import UnknownNameError

__all__ = ["split_hardware_count", "split_framework_version", "contradiction"]

# Devices counted into the accelerator's name, as tables write them: '8x H100', '8 x H200 SXM', 'h100-sxm:8'.
_COUNT_FIRST = re.compile(r"^(\d+)\s*[x×*]\s*(\S.*)$", re.IGNORECASE)
_COUNT_LAST = re.compile(r"^(.*\S)\s*(?::|\s[x×*]\s*)(\d+)$", re.IGNORECASE)


def split_hardware_count(name: str) -> tuple[str, int | None]:
    """``('H100', 8)`` for ``'8x H100'`` or ``'h100-sxm:8'``: a device count written with the accelerator, where
    the name alone is no accelerator and the rest is one; ``(name, None)`` otherwise."""
    try:
        resolve_hardware(str(name))
        return name, None
    except UnknownNameError:
        pass
    for pattern, part, count in ((_COUNT_FIRST, 2, 1), (_COUNT_LAST, 1, 2)):
        match = pattern.match(str(name).strip())
        if match:
            try:
                resolve_hardware(match.group(part))
            except UnknownNameError:
                continue
            return match.group(part), int(match.group(count))
    return name, None


# An engine named with its release, as tables write it: 'vLLM 0.6.3', 'sglang v0.4.1', 'vllm==0.8.5'.
_ENGINE_WITH_VERSION = re.compile(r"^(.*?)[\s_=-]+v?(\d+(?:\.\d+)+\S*)$", re.IGNORECASE)


def split_framework_version(name: str) -> tuple[str, str | None]:
    """``('vLLM', '0.6.3')`` for ``'vLLM 0.6.3'``: an engine name with its release written after it, where the
    name alone is no engine and what precedes the release is one; ``(name, None)`` otherwise."""
    if _is_engine(str(name)):
        return name, None
    match = _ENGINE_WITH_VERSION.match(str(name).strip())
    if match and _is_engine(match.group(1)):
        return match.group(1), match.group(2)
    return name, None


def _is_engine(name: str) -> bool:
    try:
        resolve_framework(name)
    except UnknownNameError:
        return False
    return True


def contradiction(column: str, written: str, found: object, other: str, stated: object) -> str:
    """Why a row is refused whose name states a count or release (``found``) that column ``other`` contradicts."""
    said = f"counts {found} devices" if column == "hardware" else f"names release {found}"
    return f"{column} '{written}' {said} but {other} says {stated}"
