"""Train the bundled default model on all shared data: python scripts/train_default.py [--seed 0].

Prints what it trained on (rows by source and metric, data fingerprint) and the random 5-fold
cross-validation scores stored in the bundle, then writes models/default.joblib.

``--disaggregated-only`` refits only the disaggregated correction of the bundle already at ``--out`` (after a
change to the xPyD physics; seconds instead of minutes): the result is what a full retrain would hold, since
that correction is fitted last, on the aggregated fit's efficiency, with the same seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from surrogate.float_paths import pin_float_paths

pin_float_paths()  # before numpy loads: the same bits on any x86-64 machine

from rich.console import Console  # noqa: E402

from surrogate.ingest import load_shared  # noqa: E402
from surrogate.model import disaggregated_training_rows, load, train_bundle  # noqa: E402
from surrogate.model._disaggregated import DisaggregatedCorrection  # noqa: E402
from surrogate.report import scores_table  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "models" / "default.joblib"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--disaggregated-only", action="store_true",
                        help="refit only the disaggregated correction of the bundle at --out")
    args = parser.parse_args(argv)
    console = Console()
    result = load_shared(args.shared)
    if args.disaggregated_only:
        model = load(args.out, trust=True)
        model.disaggregated_ = model._fit_disaggregated(disaggregated_training_rows(result.table))
        model.metadata.update((model.disaggregated_ or DisaggregatedCorrection.physics_only()).metadata())
        model.save(args.out)
        console.print(f"refitted the disaggregated correction on {model.metadata['disaggregated_rows_by_metric']} "
                      f"rows; wrote {args.out}")
        return 0
    model = train_bundle(result.table, seed=args.seed, cv_folds=5)
    meta = model.metadata
    console.print(f"trained on {json.dumps(meta['rows_by_source'])} configurations; metric rows "
                  f"{json.dumps(meta['rows_by_metric'])}; data fingerprint {meta['data_fingerprint']}; "
                  f"seed {meta['seed']}")
    console.print(scores_table(meta["cv_scores"], f"cross-validation ({meta['cv_scores']['split']})"))
    model.save(args.out)
    console.print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
