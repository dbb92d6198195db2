"""This machine's CPU as hardware: what it is (detected), how fast it is (measured), where that is kept.

A CPU enters the hardware catalog as one device: llama.cpp runs a model on a CPU with threads, not with
tensor parallelism, so ``devices_per_node`` is 1 and ``num_devices`` is 1. Cores, SIMD width and memory
size are read from the operating system (``/proc/cpuinfo``, ``/proc/meminfo``, the CPU set this process
may use). Memory bandwidth and peak FLOP/s are not printed anywhere a program can read, so
``surrogate hardware probe`` measures them (:mod:`surrogate.bench.probe`) and keeps the entry in the user
hardware file (:func:`user_hardware_path`), which the catalog reads beside its own rows. The half
precision peaks of a probed CPU equal its fp32 peak: llama.cpp converts fp16/bf16 weights to fp32 in
registers and multiplies in fp32 on CPUs without native half-precision matrix units.
"""

from __future__ import annotations

import csv
import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from features.errors import DataError

__all__ = ["HostCpu", "detect_host", "usable_cores", "is_cpu_vendor", "host_id", "host_catalog_row",
           "user_hardware_path", "save_user_hardware", "USER_HARDWARE_ENV", "HOST_NAME"]

# The name users type for "this machine" (``--hardware host``).
HOST_NAME = "host"
USER_HARDWARE_ENV = "SURROGATE_HARDWARE_FILE"
# Widest vector unit -> bits, strongest first (x86 flags in /proc/cpuinfo; Arm: sve/asimd).
_SIMD_FLAGS = (("avx512f", 512), ("avx2", 256), ("avx", 256), ("sve", 128), ("asimd", 128), ("sse2", 128))


@dataclass(frozen=True)
class HostCpu:
    """What the operating system says about this machine's CPU."""

    name: str
    vendor: str
    cores: int
    simd_bits: int
    memory_gb: float
    flags: tuple[str, ...] = ()


def _cpuinfo() -> dict[str, str]:
    """The first processor block of /proc/cpuinfo (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _memory_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return float("nan")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity; all cores where the OS does not say)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _vendor_of(name: str, vendor_id: str) -> str:
    """A vendor label for the catalog, kept apart from the same maker's GPUs (efficiency offsets are per vendor)."""
    text = f"{vendor_id} {name}".lower()
    for key, label in (("amd", "AMD"), ("intel", "Intel"), ("apple", "Apple"), ("ampere", "Ampere"),
                       ("graviton", "AWS"), ("arm", "Arm")):
        if key in text:
            return f"{label} (CPU)"
    return "CPU"


def is_cpu_vendor(vendor: str) -> bool:
    """Whether a catalog vendor label names a CPU (the labels :func:`detect_host` writes)."""
    return vendor == "CPU" or vendor.endswith("(CPU)")


def detect_host() -> HostCpu:
    """Cores this process may use, widest SIMD unit and memory size of this machine."""
    info = _cpuinfo()
    name = info.get("model name") or info.get("hardware") or platform.processor() or platform.machine() or "cpu"
    flags = tuple((info.get("flags") or info.get("features") or "").split())
    simd = next((bits for flag, bits in _SIMD_FLAGS if flag in flags), 0)
    return HostCpu(name=name, vendor=_vendor_of(name, info.get("vendor_id", "")), cores=usable_cores(),
                   simd_bits=simd, memory_gb=_memory_gb(), flags=flags)


def host_id(cpu: HostCpu) -> str:
    """Catalog id of this machine: its CPU model and usable cores ('host-amd-epyc-2c'), so measurements from
    two different machines stay apart."""
    slug = re.sub(r"[^a-z0-9]+", "-", cpu.name.lower())
    slug = re.sub(r"-(processor|cpu|with-radeon.*|\d+-core)(?=-|$)", "", slug).strip("-")[:40].strip("-")
    return f"host-{slug or 'cpu'}-{cpu.cores}c"


def host_catalog_row(cpu: HostCpu, mem_bw_gbps: float, fp32_tflops: float, how: str) -> dict[str, str]:
    """A hardware.csv row for this machine from the probe's measurements (``how`` says what was measured)."""
    peak = f"{fp32_tflops:.4g}"
    simd = f"{cpu.simd_bits}-bit SIMD" if cpu.simd_bits else "SIMD width unknown"
    return {
        "id": host_id(cpu), "vendor": cpu.vendor, "name": f"{cpu.name} ({cpu.cores} cores)",
        "memory_gb": f"{cpu.memory_gb:.4g}", "mem_bw_gbps": f"{mem_bw_gbps:.4g}", "fp32_tflops": peak,
        "fp16_tflops": peak, "bf16_tflops": peak, "devices_per_node": "1", "scale_up_domain_devices": "1",
        "source": f"surrogate hardware probe on this machine: {how}",
        "notes": f"{cpu.cores} usable cores, {simd}; fp16/bf16 peaks = the fp32 peak (llama.cpp multiplies in "
                 "fp32 on CPUs); one device: llama.cpp uses threads, not tensor parallelism",
    }


def user_hardware_path() -> Path:
    """Where probed machines are kept: ``$SURROGATE_HARDWARE_FILE``, else the user's config folder."""
    override = os.environ.get(USER_HARDWARE_ENV)
    if override:
        return Path(override).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "surrogate" / "hardware.csv"


def save_user_hardware(row: dict[str, str]) -> Path:
    """Add ``row`` to the user hardware file, replacing an entry with the same id; return the file."""
    path = user_hardware_path()
    rows: list[dict[str, str]] = []
    if path.is_file():
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r.get("id") != row["id"]]
    columns = list(dict.fromkeys([*row, *(k for r in rows for k in r)]))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows([*rows, row])
    except OSError as exc:
        raise DataError(f"cannot write the user hardware file {path}: {exc} (set {USER_HARDWARE_ENV} to a "
                        "writable path)") from exc
    return path
