"""surrogate.float_paths: which variables pin numpy's and OpenBLAS's kernels, and that they take effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

from surrogate.float_paths import float_path_settings, pin_float_paths

AVX2 = {"sse4_2", "avx", "avx2", "fma"}


def test_an_avx2_machine_with_numpy_2_4_turns_off_its_avx512_targets_and_holds_openblas_to_haswell() -> None:
    assert float_path_settings(AVX2 | {"avx512f"}, "x86_64", "2.4.6") == {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"}


def test_an_older_numpy_gets_its_own_names_for_the_avx512_targets() -> None:
    names = float_path_settings(AVX2, "AMD64", "2.3.5")["NPY_DISABLE_CPU_FEATURES"].split()
    assert "X86_V4" not in names
    assert {"AVX512F", "AVX512_SKX", "AVX512_ICL"} <= set(names)


@pytest.mark.parametrize(("flags", "machine"), [(AVX2, "aarch64"), (AVX2, "arm64"), ({"sse4_2", "avx"}, "x86_64"),
                                                (set(), "x86_64")])
def test_nothing_is_pinned_off_x86_64_or_without_avx2(flags: set[str], machine: str) -> None:
    assert float_path_settings(flags, machine, "2.4.6") == {}


def test_once_numpy_is_loaded_it_warns_and_sets_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy  # noqa: F401 - loaded, as in any test process

    if not float_path_settings():
        pytest.skip("this machine pins nothing")
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    with pytest.warns(RuntimeWarning, match="numpy is already loaded, so OPENBLAS_CORETYPE cannot pin"):
        in_force = pin_float_paths()
    assert "OPENBLAS_CORETYPE" not in os.environ
    assert "OPENBLAS_CORETYPE" not in in_force


def test_a_value_the_user_set_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    if not float_path_settings():
        pytest.skip("this machine pins nothing")
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Sandybridge")
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "")
    assert pin_float_paths() == {"OPENBLAS_CORETYPE": "Sandybridge", "NPY_DISABLE_CPU_FEATURES": ""}


_PROBE = """
import json
from surrogate.float_paths import pin_float_paths
pinned = pin_float_paths()
from numpy._core._multiarray_umath import __cpu_features__
from threadpoolctl import threadpool_info
print(json.dumps({"pinned": pinned, "avx512_kernels": bool(__cpu_features__.get("X86_V4")),
                  "openblas": sorted({pool.get("architecture") for pool in threadpool_info()
                                      if pool["internal_api"] == "openblas"})}))
"""


def test_pinned_before_numpy_loads_numpy_skips_its_avx512_kernels_and_openblas_runs_haswell() -> None:
    if not float_path_settings():
        pytest.skip("this machine pins nothing")
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["pinned"] == float_path_settings()
    assert seen["avx512_kernels"] is False
    assert seen["openblas"] == ["Haswell"]


def test_this_test_process_runs_on_the_pinned_path() -> None:
    """The conftest pins before numpy loads, in every pytest-xdist worker too."""
    if not float_path_settings():
        pytest.skip("this machine pins nothing")
    assert {pool.get("architecture") for pool in threadpool_info() if pool["internal_api"] == "openblas"} == {
        "Haswell"}


_COMMAND_PROBE = """
import sys
sys.argv = ["surrogate", "--version"]
from surrogate.__main__ import main
try:
    main()
except SystemExit:
    pass
from threadpoolctl import threadpool_info
print(sorted({pool.get("architecture") for pool in threadpool_info() if pool["internal_api"] == "openblas"}))
"""


def test_the_surrogate_command_pins_before_its_cli_loads_numpy() -> None:
    if not float_path_settings():
        pytest.skip("this machine pins nothing")
    env = {k: v for k, v in os.environ.items() if k not in ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE")}
    out = subprocess.run([sys.executable, "-c", _COMMAND_PROBE], env=env, capture_output=True, text=True, check=True)
    version, architectures = out.stdout.splitlines()
    assert version.startswith("surrogate, version ")
    assert architectures == "['Haswell']"
