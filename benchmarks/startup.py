"""How fast the command line starts: ``surrogate --help`` and ``surrogate estimate`` against a bare interpreter.

    python benchmarks/startup.py [--repeats 7]

Each command runs in a new process (``python -m surrogate ...``) so imports are counted; the bare
``python -c pass`` start is measured the same way. Prints medians and ratios; the aim is
``surrogate --help`` within 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

_AIM_HELP_S = 0.5
_COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "surrogate --help": [sys.executable, "-m", "surrogate", "--help"],
    "surrogate estimate": [sys.executable, "-m", "surrogate", "estimate", "--model", "meta-llama/Llama-3.1-8B",
                           "--hardware", "h100-sxm", "--input-len", "1024", "--output-len", "256"],
    "heavy imports?": [sys.executable, "-c",
                       "import sys, surrogate.cli; "
                       "print(sorted(m for m in ('lightgbm', 'optuna', 'matplotlib', 'pandas', 'pyarrow', 'scipy') "
                       "if m in sys.modules))"],
}


def _median_s(argv: list[str], repeats: int) -> tuple[float, str]:
    times = []
    output = ""
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        output = done.stdout.strip()
    return statistics.median(times), output


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    _median_s(_COMMANDS["surrogate --help"], 1)  # warm the file cache
    bare, _ = _median_s(_COMMANDS["python -c pass"], args.repeats)
    print(f"python -c pass: {bare:.3f} s (median of {args.repeats})")
    for name in ("surrogate --help", "surrogate estimate"):
        seconds, _ = _median_s(_COMMANDS[name], args.repeats)
        aim = f"; aim <= {_AIM_HELP_S} s -> {'met' if seconds <= _AIM_HELP_S else 'NOT met'}" \
            if name == "surrogate --help" else ""
        print(f"{name}: {seconds:.3f} s (median of {args.repeats}) = {seconds / bare:.1f}x python -c pass{aim}")
    _, loaded = _median_s(_COMMANDS["heavy imports?"], 1)
    print(f"heavy libraries loaded by importing the CLI: {loaded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
