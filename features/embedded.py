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


# vLLM's engine generation written beside its name ('vLLM V1', 'vllm-v1', 'vLLM (V1 engine)'): not a release.
_ENGINE_GENERATION = re.compile(r"^(.*?)[\s_-]*\(?\s*v[01](?:\s*engine)?\s*\)?$", re.IGNORECASE)
# A container image ('vllm/vllm-openai:v0.8.5', 'lmsysorg/sglang:v0.4.6.post1-cu124',
# 'nvcr.io/nvidia/tensorrt-llm/release:1.0.0rc4'): a path of names and a tag, whose leading release is the engine's.
_IMAGE = re.compile(r"^(?:[\w.-]+(?::\d+)?/)*[\w.-]+(?::[\w.+-]+)?$")
_IMAGE_RELEASE = re.compile(r"^v?(\d+(?:\.\d+)+(?:\.?(?:rc|post|dev|a|b)\d+)*)", re.IGNORECASE)


def split_framework_version(name: str) -> tuple[str, str | None]:
    """``('vLLM', '0.6.3')`` for ``'vLLM 0.6.3'``: an engine name with its release written after it, where the
    name alone is no engine and what precedes the release is one; ``(name, None)`` otherwise. vLLM's engine
    generation ('vLLM V1') is dropped, and a container image gives the engine its path names and the release
    its tag starts with (``('vllm', '0.8.5')`` for ``'vllm/vllm-openai:v0.8.5'``; a tag that is no release,
    such as Triton's '24.08-trtllm-python-py3' or 'latest', gives none)."""
    text = str(name).strip()
    if _is_engine(text):
        return name, None
    match = _ENGINE_WITH_VERSION.match(text)
    if match and _is_engine(match.group(1)):
        return match.group(1), match.group(2)
    match = _ENGINE_GENERATION.match(text)
    if match and _is_engine(match.group(1)):
        return match.group(1), None
    if "/" in text and _IMAGE.match(text):
        return _image(text) or (name, None)
    return name, None


def _image(text: str) -> tuple[str, str | None] | None:
    """The engine a container image names (its last path name that is one, else a word of its tag: Triton's
    '24.08-trtllm-python-py3') and the release its tag starts with or gives after the engine's name
    ('rocm6.3.1_vllm_0.8.5_20250521')."""
    path, _, tag = text.rpartition(":") if ":" in text.rsplit("/", 1)[-1] else (text, "", "")
    words = [w for w in re.split(r"[_-]", tag) if w]
    engine = next((part for part in reversed(path.split("/")) if _is_engine(part)), None) or \
        next((word for word in words if not word[0].isdigit() and _is_engine(word)), None)
    if engine is None:
        return None
    if re.match(r"^\d{2}\.\d{2}-", tag):  # NGC's YY.MM container numbering is no release of the engine
        return engine, None
    after = re.search(rf"(?:^|[_-]){re.escape(engine)}[_-]v?(\d+(?:\.\d+)+)", tag, re.IGNORECASE)
    release = after or _IMAGE_RELEASE.match(tag)
    return engine, release.group(1) if release else None


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
