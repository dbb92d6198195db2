"""Shared fixtures: where the shared benchmark data lives (tests skip cleanly without it)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    override = os.environ.get("SURROGATE_SHARED_DIR")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "datasets"


@pytest.fixture
def shared_datasets() -> Path:
    path = shared_datasets_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"shared datasets not found at {path} (set SURROGATE_SHARED_DIR)")
    return path
