"""One floating-point path on every x86-64 machine, so a fit gives the same bits wherever it runs.

numpy picks its exp/log/sum kernels by CPU (AVX-512 ones where the CPU has them) and OpenBLAS its
matrix kernels (SkylakeX, Zen, Haswell); their results differ in the last bits. The efficiency fit
(``scipy.optimize.least_squares``) stops a few ulps apart, and LightGBM turns that into another split
here and there: on an AVX-512 machine ``scripts/fit_efficiency.py`` moved every parameter by about 1e-7
and a retrained default bundle predicted up to 2.7% apart from the shipped one (30% of 60 sampled rows
differed; ``tests/test_default_model.py``). With numpy's AVX-512 kernels off and OpenBLAS held to its
Haswell (AVX2) kernels, that machine rebuilt ``features/data/efficiency.json`` byte for byte.

:func:`pin_float_paths` sets the two variables both libraries read when they load, so it must run before
numpy is imported (the ``surrogate`` command, the test suite's conftest, the scripts that build what ships
and ``scripts/reproduce.sh`` set them first). A value the user set is kept. Off x86-64, or on a CPU without
AVX2 (forcing OpenBLAS's Haswell kernels there would stop the process on an illegal instruction), it sets
nothing.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["pin_float_paths", "float_path_settings"]

# numpy 2.4 renamed its x86 dispatch targets (X86_V4: the AVX-512 foundation and SKX/CLX/CNL; 2.3.5's
# extension module has no "X86_V4"); a name numpy does not dispatch is only an ImportWarning, but disables nothing.
_NUMPY_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"
_NUMPY_AVX512_BEFORE_2_4 = ("AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL "
                            "AVX512_SPR")
_OPENBLAS_CORE = "Haswell"


def float_path_settings(cpu_flags: set[str] | None = None, machine: str | None = None,
                        numpy_version: str | None = None) -> dict[str, str]:
    """The variables that pin the path on this machine (empty where there is nothing safe to pin).
    The arguments stand in for this machine's (tests pass others)."""
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return {}
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    if not {"avx2", "fma"} <= flags:
        return {}
    return {"NPY_DISABLE_CPU_FEATURES": _numpy_names(numpy_version or _installed("numpy")),
            "OPENBLAS_CORETYPE": _OPENBLAS_CORE}


def pin_float_paths() -> dict[str, str]:
    """Set :func:`float_path_settings` in the environment (each one the user did not set); returns what is
    in force. Once numpy is loaded the variables would change nothing in this process: then it only warns
    (where they are not already set, as a test process's conftest sets them)."""
    settings = float_path_settings()
    unset = [name for name in settings if name not in os.environ]
    if unset and "numpy" in sys.modules:
        warnings.warn(f"numpy is already loaded, so {', '.join(unset)} cannot pin its floating-point path: "
                      "results can differ from another machine's in the last bits", RuntimeWarning, stacklevel=2)
        return {name: os.environ[name] for name in settings if name in os.environ}
    for name in unset:
        os.environ[name] = settings[name]
    return {name: os.environ[name] for name in settings}


def _numpy_names(numpy_version: str) -> str:
    try:
        major, minor = (int(part) for part in numpy_version.split(".")[:2])
    except ValueError:
        return _NUMPY_AVX512
    return _NUMPY_AVX512 if (major, minor) >= (2, 4) else _NUMPY_AVX512_BEFORE_2_4


def _installed(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "0.0"


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: nothing is pinned)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


if __name__ == "__main__":  # `eval "$(python -m surrogate.float_paths)"`: the same pins for a shell's commands
    import shlex

    for _name, _value in float_path_settings().items():
        print(f"export {_name}={shlex.quote(os.environ.get(_name, _value))}")
