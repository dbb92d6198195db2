"""The real llama.cpp server the bench tests run (``scripts/llama_server.py``), and what to do without it.

Without the binary a test skips, unless ``SURROGATE_REQUIRE_LLAMA_SERVER=1`` (``.ci/run`` sets it), where that
is a failure. Import it one way only, ``from _llama import ...`` (pytest puts tests/ on the path).
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest
from _scripts import load_script

SERVER = load_script("scripts/llama_server.py", "llama_server")


def unavailable(exc: Exception) -> NoReturn:
    """Skip the test, or fail it where the server is required."""
    if os.environ.get("SURROGATE_REQUIRE_LLAMA_SERVER") == "1":
        pytest.fail(f"{exc} (SURROGATE_REQUIRE_LLAMA_SERVER=1: .ci/run builds it)")
    pytest.skip(str(exc))
