"""Measure this machine, learn from it, predict what was not measured: the loop bench -> ingest -> train -> predict.

    python benchmarks/closed_loop.py [--quick] [--with-shared] [--keep DIR | --reuse DIR] [--json OUT]

Runs on any machine with the llama-server that ``scripts/build_llama_server.sh`` builds. Steps: write the tiny
Llama model (``scripts/tiny_gguf.py``), probe this CPU (``surrogate hardware probe``, into a private hardware
file), start llama-server on 127.0.0.1 (8 parallel slots, 2 threads), sweep concurrency 1,2,4,8 x prompt
32,128,384,768 x output 16,64,160 with 3 repeats (``surrogate bench``), ingest the rows, train a bundle on part of
the grid and predict the rest. Two splits: *interpolation* (a checkerboard of the grid held out) and
*concurrency extrapolation* (train at concurrency <= 4, predict 8). For each metric: median APE of the
surrogate, of the achievable physics alone (what surrogate predicts before any measurement of this machine;
also its median measured / predicted, ``meas/phys``: above 1, the physics is too fast here) and the repeat
noise of the held-out points (median over points and repeats of |repeat - point median| / point median):
the aim is a surrogate error within 2x that noise. ``--with-shared`` also trains on the shared datasets (the
default model's data) beside this machine's rows. ``--quick`` (CI) sweeps 4 small points twice and trains
with 800 shared rows (4 points alone are too few: a metric needs 20 rows to be learned): its numbers mean
nothing, it only proves the loop runs. ``--reuse DIR`` scores a sweep kept earlier with ``--keep DIR`` (with the
probe it recorded) instead of measuring again.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
METRICS = ["ttft_s", "itl_s", "latency_s"]
KEYS = ["concurrency", "input_len", "output_len"]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _noise(measurements: pd.DataFrame, held: pd.DataFrame, metric: str) -> float:
    """Median relative deviation of one repeat from its point's median, over the held-out points."""
    rows = measurements.merge(held[KEYS], on=KEYS)
    medians = rows.groupby(KEYS)[metric].transform("median")
    return float(np.median(np.abs(rows[metric] - medians) / medians))


def _ape(truth: pd.Series, guess: pd.Series) -> float:
    return float(np.median(np.abs(guess.to_numpy() - truth.to_numpy()) / truth.to_numpy()))


def _score(name: str, train: pd.DataFrame, held: pd.DataFrame, measurements: pd.DataFrame,
           shared: pd.DataFrame | None, quick: bool) -> list[dict[str, object]]:
    from features.configs import CONFIG_COLUMNS
    from surrogate.model import AnalyticPredictor, train_bundle

    rows = train if shared is None else pd.concat([shared, train], ignore_index=True)
    params = {"n_estimators": 20, "calibrate": False} if quick else {}
    model = train_bundle(rows, seed=0, cv_folds=0, **params)
    cfg = held[[c for c in CONFIG_COLUMNS if c in held]]
    predicted = model.predict(cfg)
    physics = AnalyticPredictor().predict(cfg)
    out = []
    for metric in METRICS:
        truth = held[metric]
        noise = _noise(measurements, held, metric)
        inside = (truth >= predicted[f"{metric}_p10"]) & (truth <= predicted[f"{metric}_p90"])
        out.append({"split": name, "metric": metric, "train_points": len(train), "held_out_points": len(held),
                    "repeat_noise_pct": 100 * noise, "physics_ape_pct": 100 * _ape(truth, physics[metric]),
                    "physics_measured_over_predicted": float(np.median(truth.to_numpy() / physics[metric].to_numpy())),
                    "surrogate_ape_pct": 100 * _ape(truth, predicted[metric]),
                    "p10_p90_coverage_pct": 100 * float(inside.mean())})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run: 4 small points, 2 repeats")
    parser.add_argument("--with-shared", action="store_true", help="also train on the shared datasets")
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets dir (default ../shared/datasets)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the bench output (rows.csv, requests.jsonl) here")
    parser.add_argument("--reuse", type=Path, default=None, help="score the sweep kept in this folder, measure nothing")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="closed-loop-"))
    # The model is named by its config's path, which enters the training's row order and folds: a fixed path
    # keeps a --reuse run reproducible.
    model_dir = Path(tempfile.gettempdir()) / "surrogate-closed-loop" / "model"
    os.environ["SURROGATE_HARDWARE_FILE"] = str(work / "hardware.csv")
    from features import catalog
    from features.host import save_user_hardware
    from surrogate.bench import BenchPlan, read_server, run_sweep
    from surrogate.bench.probe import probe_host
    from surrogate.ingest import ingest, load_shared

    catalog.reload_hardware()
    if args.reuse is not None:
        out_dir = args.reuse
        recorded = json.loads((out_dir / "probe.json").read_text())
        save_user_hardware(recorded["row"])
        catalog.reload_hardware()
        _script("tiny_gguf").write_tiny_llama(model_dir)  # the same seeded model and config.json
        rows = pd.read_csv(out_dir / "rows.csv")
        rows["model"] = str(model_dir / "config.json")
        rows.to_csv(work / "rows.csv", index=False)
        ingest_from, probe_row, bench_s, repeats = work / "rows.csv", recorded["row"], recorded["bench_s"], \
            int(rows["repeat"].max()) + 1
        bandwidth, tflops = recorded["mem_bw_gbps"], recorded["fp32_tflops"]
    else:
        server, tiny = _script("llama_server"), _script("tiny_gguf")
        gguf, config = tiny.write_tiny_llama(model_dir)
        probe = probe_host(quick=args.quick)
        catalog.reload_hardware()
        grid = ((1, 2), (32, 96), (8,), 2) if args.quick else ((1, 2, 4, 8), (32, 128, 384, 768), (16, 64, 160), 3)
        out_dir = args.keep or work / "bench"
        start = time.perf_counter()
        with server.running_server(gguf, parallel=8, ctx=8192, threads=2) as (url, _):
            info = read_server(f"{url}/v1", server.ALIAS)
            plan = BenchPlan(url=info.base_url, served_model=server.ALIAS, model=str(config),
                             hardware=probe.row["id"], framework="llama.cpp", framework_version=None,
                             weight_dtype="fp16", kv_dtype="fp16", concurrencies=grid[0], input_lens=grid[1],
                             output_lens=grid[2], out_dir=out_dir, repeats=grid[3],
                             server_version=info.framework_version)
            result = run_sweep(plan, info)
        bench_s = time.perf_counter() - start
        if result.failed or result.not_run or result.interrupted:
            print(f"the sweep did not finish: {result.failed} {result.not_run}", file=sys.stderr)
            return 1
        bandwidth, tflops, probe_row, repeats, ingest_from = probe.mem_bw_gbps, probe.fp32_tflops, probe.row, \
            grid[3], out_dir
        (out_dir / "probe.json").write_text(json.dumps({"row": probe.row, "mem_bw_gbps": bandwidth,
                                                        "fp32_tflops": tflops, "bench_s": bench_s}, indent=2))
    ingested = ingest("bench", ingest_from)
    # Every measured point is scored; training leaves out rows flagged faster than physics (a probe run on a busy
    # machine can understate its rates), and the count is printed.
    table = ingested.table
    flagged = int(table["faster_than_physics"].sum())
    measurements = ingested.measurements
    position = {key: {v: i for i, v in enumerate(sorted(table[key].unique()))} for key in KEYS}
    parity = sum(table[key].map(position[key]) for key in KEYS) % 2
    splits = {"interpolation (checkerboard held out)": parity == 1}
    if not args.quick:
        splits["concurrency 8 from concurrency <= 4"] = table["concurrency"] == table["concurrency"].max()
    shared = None
    if args.with_shared or args.quick:  # --quick: 4 points are too few to learn from alone (20 per metric)
        shared = load_shared(args.shared).training_table()
        if args.quick:
            shared = shared.sample(n=min(800, len(shared)), random_state=0).reset_index(drop=True)
    results = []
    for name, held_mask in splits.items():
        if held_mask.all() or not held_mask.any():
            print(f"{name}: nothing to hold out or to train on in this grid; skipped", file=sys.stderr)
            continue
        results += _score(name, table[~held_mask], table[held_mask], measurements, shared, args.quick)
    print(f"{probe_row['id']}: memory {bandwidth:.1f} GB/s, fp32 {tflops * 1e3:.0f} GFLOP/s; "
          f"{len(table)} grid points x {repeats} repeats measured in {bench_s:.0f} s"
          + ("; trained with the shared datasets" if shared is not None else "; trained on this machine's rows only")
          + (f"; {flagged} points faster than the probed physics allows, not trained on" if flagged else ""))
    print(f"{'split':<40} {'metric':<10} {'train':>5} {'held':>5} {'noise %':>8} {'physics %':>10} "
          f"{'meas/phys':>10} {'surrogate %':>12} {'/ noise':>8} {'P10-P90 %':>10}")
    for r in results:
        ratio = float(r["surrogate_ape_pct"]) / max(float(r["repeat_noise_pct"]), 1e-9)  # type: ignore[arg-type]
        print(f"{r['split']:<40} {r['metric']:<10} {r['train_points']:>5} {r['held_out_points']:>5} "
              f"{r['repeat_noise_pct']:>8.1f} {r['physics_ape_pct']:>10.1f} "
              f"{r['physics_measured_over_predicted']:>10.2f} {r['surrogate_ape_pct']:>12.1f} "
              f"{ratio:>7.1f}x {r['p10_p90_coverage_pct']:>10.0f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"hardware": probe_row, "bench_s": bench_s, "results": results}, indent=2)
                             + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
