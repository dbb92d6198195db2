"""Fit the achievable model's parameters on all shared data and ship them: python scripts/fit_efficiency.py.

Writes ``features/data/efficiency.json`` (the parameters ``features.efficiency.default_efficiency``
loads, the newest engine release the rows ran per accelerator and engine (``default_newest_software``), the
fingerprint of the rows they were fitted on, and this command), and prints them.
Deterministic: the same data gives the same file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from surrogate.float_paths import pin_float_paths

pin_float_paths()  # before numpy loads: the same bits on any x86-64 machine

from features.efficiency import Efficiency  # noqa: E402
from surrogate.ingest import load_shared  # noqa: E402
from surrogate.model import fingerprint, fit_efficiency, training_rows  # noqa: E402
from surrogate.model._software import newest_software_of  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "features" / "data" / "efficiency.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    rows = training_rows(load_shared(args.shared).table)
    efficiency = fit_efficiency(rows, base=Efficiency())
    # Beside the parameters, the newest engine release their rows ran per accelerator and engine: the era
    # `surrogate estimate` prices a row that names none in (as a bundle trained on them predicts it).
    payload = {"parameters": efficiency.to_dict(), "newest_software": newest_software_of(rows),
               "data_fingerprint": fingerprint(rows), "command": "python scripts/fit_efficiency.py"}
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
