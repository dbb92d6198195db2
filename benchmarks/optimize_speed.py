"""End-to-end speed of `surrogate optimize`: a fresh process each run, start-up included.

    python benchmarks/optimize_speed.py [--model-file PATH] [--repeats 5] [--cores 0,1] [--only NAME,...]

Each case runs ``python -m surrogate optimize ... --json`` in a new process (imports, catalog and
model loading, enumeration, prediction, output) pinned to two cores with ``taskset`` when it is
available, and reports the median wall time and how many configurations were evaluated. Aim: at
least 500 evaluated configurations in under 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_AIM_CONFIGS = 500
_AIM_SECONDS = 3.0

_XLARGE = ["--model", "meta-llama/Llama-3.1-70B", "--gpus", "h100-sxm:64", "--gpus", "a100-sxm4-80gb:64",
           "--gpus", "h200:64", "--gpus", "l40s:64", "--gpus", "b200:64", "--input-len", "2048", "--output-len", "512",
           "--precisions", "fp16,fp8,int4", "--max-sequences", "1024", "--max-itl-s", "0.05"]
# Eleven accelerator types, four weight formats, up to 2,048 sequences per replica: 109,208 configurations.
_XXLARGE = ["--model", "meta-llama/Llama-3.1-70B", *[x for pool in (
    "h100-sxm:128", "a100-sxm4-80gb:128", "h200:128", "l40s:128", "b200:128", "mi300x:128", "h100-pcie:128",
    "gb200:72", "a100-sxm4-40gb:128", "mi325x:128", "h100-nvl:128") for x in ("--gpus", pool)],
    "--input-len", "2048", "--output-len", "512", "--precisions", "fp16,fp8,int4,fp4", "--max-sequences", "2048",
    "--max-itl-s", "0.05"]
CASES = {
    "exhaustive (70B, 8x H100 + 8x A100, ITL limit)": [
        "--model", "meta-llama/Llama-3.1-70B", "--gpus", "h100-sxm:8", "--gpus", "a100-sxm4-80gb:8",
        "--input-len", "1024", "--output-len", "256", "--max-itl-s", "0.05"],
    "exhaustive (8B, 8x H100 + 8x L40S, 64 users)": [
        "--model", "meta-llama/Meta-Llama-3-8B", "--gpus", "h100-sxm:8", "--gpus", "l40s:8", "--input-len", "2048",
        "--output-len", "512", "--concurrency", "64"],
    "exhaustive (70B, 5 types x 64 devices, 39,300 configurations)": [*_XLARGE, "--search", "exhaustive"],
    "TPE, default 200 trials (same 39,300-configuration space)": [*_XLARGE, "--search", "optuna"],
    "exhaustive (70B, 11 types, 109,208 configurations)": [*_XXLARGE, "--search", "exhaustive"],
    "TPE, default 200 trials (same 109,208-configuration space)": [*_XXLARGE, "--search", "optuna"],
    "--serving both (70B, 16x H100, ITL limit)": [
        "--model", "meta-llama/Llama-3.1-70B", "--gpus", "h100-sxm:16", "--input-len", "4096", "--output-len", "512",
        "--max-itl-s", "0.1", "--serving", "both"],
    "--serving disagg (70B, 64x H100, ITL limit)": [
        "--model", "meta-llama/Llama-3.1-70B", "--gpus", "h100-sxm:64", "--input-len", "4096", "--output-len", "512",
        "--max-itl-s", "0.1", "--serving", "disagg"],
    "--serving both (DeepSeek-V3, 16x H200, wide EP, ITL limit)": [
        "--model", "deepseek-ai/DeepSeek-V3", "--gpus", "h200:16", "--input-len", "2048", "--output-len", "512",
        "--max-itl-s", "0.1", "--serving", "both"],
}


def _command(args: list[str], model_file: Path | None, cores: str | None) -> list[str]:
    command = [sys.executable, "-m", "surrogate", "optimize", *args, "--json"]
    if model_file is not None:
        command += ["--model-file", str(model_file)]
    if cores and shutil.which("taskset"):
        command = ["taskset", "-c", cores, *command]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-file", type=Path, default=None, help="bundle (default: models/default.joblib)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cores", default="0,1", help="CPU list for taskset ('' to run unpinned)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--only", default="", help="run only the cases whose name holds one of these "
                                                   "comma-separated substrings")
    args = parser.parse_args(argv)
    wanted = [part for part in args.only.split(",") if part]
    # Passive OpenMP waiting: with spinning, a busy 2-core machine slows LightGBM by orders of magnitude.
    env = {"OMP_WAIT_POLICY": "PASSIVE", **os.environ, "OMP_NUM_THREADS": "2"}
    results = {}
    for name, case in CASES.items():
        if wanted and not any(part in name for part in wanted):
            continue
        command = _command(case, args.model_file, args.cores or None)
        times, evaluated = [], 0
        for _ in range(args.repeats):
            started = time.perf_counter()
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env, check=False)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                print(f"{name}: exit {done.returncode}: {done.stderr.strip()[-500:]}", file=sys.stderr)
                return 1
            evaluated = json.loads(done.stdout)["evaluated"]
        median = statistics.median(times)
        ok = evaluated >= _AIM_CONFIGS and median < _AIM_SECONDS
        results[name] = {"median_s": median, "min_s": min(times), "max_s": max(times), "evaluated": evaluated}
        print(f"{name}: {evaluated:,} configurations evaluated, median {median:.2f} s over {args.repeats} runs "
              f"(min {min(times):.2f}, max {max(times):.2f}); aim >= {_AIM_CONFIGS} in < {_AIM_SECONDS:.0f} s: "
              f"{'met' if ok else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
