"""Measure this machine's memory bandwidth and peak FLOP/s, the two numbers the analytic model needs.

Bandwidth: a STREAM-style copy (read + write of arrays far larger than the caches) split over one thread
per usable core (NumPy releases the GIL while copying), best of several runs; bytes counted as STREAM counts
them (one read and one write per element), so it is the sustainable rate, below the DIMMs' peak.
FLOP/s: a float32 matrix product through NumPy's BLAS on every usable core, best of several runs; the fp32
rate llama.cpp's matrix kernels can approach. Both are seconds of work; ``quick`` shrinks them for tests.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from features.host import HostCpu, detect_host, host_catalog_row, save_user_hardware, usable_cores

__all__ = ["ProbeResult", "measure_bandwidth_gbps", "measure_fp32_tflops", "probe_host"]


@dataclass(frozen=True)
class ProbeResult:
    cpu: HostCpu
    mem_bw_gbps: float
    fp32_tflops: float
    row: dict[str, str]


def measure_bandwidth_gbps(megabytes: int = 512, repeats: int = 5, threads: int | None = None) -> float:
    """Sustained copy bandwidth in GB/s (read + write bytes / best time)."""
    threads = threads or usable_cores()
    count = megabytes * 1_000_000 // 8
    source = np.ones(count, dtype=np.float64)
    target = np.empty_like(source)
    bounds = np.linspace(0, count, threads + 1).astype(int)
    chunks = [(target[a:b], source[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(repeats):
            start = time.perf_counter()
            list(pool.map(lambda pair: np.copyto(pair[0], pair[1]), chunks))
            best = min(best, time.perf_counter() - start)
    return 2 * source.nbytes / best / 1e9


def measure_fp32_tflops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 matrix-product rate through NumPy's BLAS, in TFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm up the BLAS thread pool
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e12


def probe_host(quick: bool = False, save: bool = True) -> ProbeResult:
    """Detect and measure this machine; keep it in the user hardware file unless ``save`` is False."""
    cpu = detect_host()
    megabytes, size = (64, 512) if quick else (512, 2048)
    bandwidth = measure_bandwidth_gbps(megabytes)
    tflops = measure_fp32_tflops(size)
    how = (f"copy of {megabytes} MB on {cpu.cores} threads = {bandwidth:.3g} GB/s; float32 {size}x{size} "
           f"matmul = {tflops:.3g} TFLOP/s (best of 5 each; {time.strftime('%Y-%m-%d')})")
    row = host_catalog_row(cpu, bandwidth, tflops, how)
    if save:
        save_user_hardware(row)
    return ProbeResult(cpu, bandwidth, tflops, row)
