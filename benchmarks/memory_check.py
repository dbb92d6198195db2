"""The memory model against reality: every measured configuration ran, so every one should fit.

Usage: python benchmarks/memory_check.py [--shared DIR] [--out benchmarks/results/memory_check.txt]

Ingests both shared sources in memory (``surrogate.ingest.load_shared``), runs the analytic memory
model (``features.analytic.estimate`` on the configuration columns) over every aggregated
configuration and over each worker shape of the disaggregated ones (a prefill worker holds the
prompt, a decode worker prompt + output), and lists every one predicted not to fit with its
``file:line``, hardware, model, layout, batch, the memory it needs against what the engine may use,
and the margin. Each such row is then re-checked under one documented reading of its source at a
time (experts sharded by ``moe_tp``, a recorded tp that contradicts ``moe_tp``, the device's binary
capacity, an engine's own token budget or documented default); the first reading under which it
fits is printed as its explanation, and a row no reading explains says so.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.analytic import estimate
from features.configs import CONFIG_COLUMNS, gather_specs, normalize_configs
from surrogate.ingest import SHARED_SOURCES, load_shared
from surrogate.optimize import RAISED_MEMORY_SHARES

DEFAULT_OUT = Path(__file__).parent / "results" / "memory_check.txt"
# A marketed HBM size is binary: an "A100 40GB" has 40 GiB (nvidia-smi: 40960 MiB). Catalog rows with a
# whole-number memory_gb carry the marketed figure (the parts no reference gives in bytes: MI300X, Gaudi 2, ...);
# the rest hold bytes / 1e9 as nvidia-smi or aiconfigurator's system files give them (H100 80 GiB, B200 180 GiB).
_GIB_PER_GB = 2**30 / 1e9
# DeepSpeed FastGen runs at most this many tokens per forward pass (deepspeed/inference/v2/ragged/
# manager_configs.py DSStateManagerConfig.max_ragged_batch_size, default 768).
_FASTGEN_TOKENS_PER_FORWARD = 768
# The share `surrogate optimize` raises SGLang's --mem-fraction-static to where its default leaves too little
# (docs.sglang.io server arguments: "reduce ... --mem-fraction-static. The default value is 0.9.").
_SGLANG_RAISED_SHARE = RAISED_MEMORY_SHARES["sglang"]


@dataclass(frozen=True)
class Reading:
    """A documented reading of a row's source under which the memory model may be re-run."""

    name: str
    applies: Callable[[pd.Series], bool]
    change: Callable[[pd.DataFrame, pd.DataFrame], None]  # edits (configs, specs) of one row in place
    why: Callable[[pd.Series], str]
    layout: bool = False  # reads the layout differently (so the weights per device change)


def _expert_ways(row: pd.Series) -> int:
    moe_tp = row.get("moe_tp")
    return int(moe_tp) * int(row["ep"]) if pd.notna(moe_tp) else int(row["ep"])


def _set_ep(cfg: pd.DataFrame, specs: pd.DataFrame) -> None:
    cfg["ep"] = cfg["_expert_ways"]


def _set_tp(cfg: pd.DataFrame, specs: pd.DataFrame) -> None:
    cfg["tp"] = cfg["_expert_ways"] // cfg["dp"]
    cfg["num_devices"] = cfg["tp"] * cfg["pp"] * cfg["dp"]


def _binary_capacity(cfg: pd.DataFrame, specs: pd.DataFrame) -> None:
    marketed = specs["memory_gb"] == np.round(specs["memory_gb"])
    specs["memory_gb"] = np.where(marketed, specs["memory_gb"] * _GIB_PER_GB, specs["memory_gb"])


def _fastgen_chunk(cfg: pd.DataFrame, specs: pd.DataFrame) -> None:
    specs["max_batched_tokens"] = float(_FASTGEN_TOKENS_PER_FORWARD)
    _binary_capacity(cfg, specs)


def _sglang_raised(cfg: pd.DataFrame, specs: pd.DataFrame) -> None:
    cfg["engine_memory_fraction"] = _SGLANG_RAISED_SHARE


READINGS = (
    Reading("experts sharded by moe_tp",
            lambda r: _expert_ways(r) > max(int(r["tp"]), int(r["ep"])) and _expert_ways(r) == r["tp"] * r["dp"],
            _set_ep,
            lambda r: f"experts are split moe_tp x moe_ep = {_expert_ways(r)} ways across the attention-DP ranks, "
                      f"which tp/dp/ep cannot express; with ep = {_expert_ways(r)} it fits",
            layout=True),
    Reading("recorded tp contradicts moe_tp",
            lambda r: _expert_ways(r) > r["tp"] * r["dp"] and _expert_ways(r) % r["dp"] == 0,
            _set_tp,
            lambda r: f"recorded tp_size {int(r['tp'])} contradicts moe_tp_size {int(r['moe_tp'])} (the engine "
                      f"shards experts over tp x dp ranks); with tp = {_expert_ways(r) // int(r['dp'])} it fits",
            layout=True),
    Reading("device's binary capacity",
            lambda r: float(r["_memory_gb"]).is_integer(),
            _binary_capacity,
            lambda r: f"catalog memory_gb {r['_memory_gb']:g} is the marketed size; the device has "
                      f"{r['_memory_gb']:g} GiB = {r['_memory_gb'] * _GIB_PER_GB:.1f} GB, with which it fits"),
    Reading("FastGen token budget",
            lambda r: r["framework"] == "deepspeed-mii",
            _fastgen_chunk,
            lambda r: f"FastGen runs at most {_FASTGEN_TOKENS_PER_FORWARD} tokens per forward; the catalog gives "
                      "deepspeed-mii no token budget, so activations are sized for the whole batch's prompts "
                      "(with it, and the binary capacity, it fits)"),
    Reading("SGLang raised share",
            lambda r: r["framework"] == "sglang",
            _sglang_raised,
            lambda r: "SGLang's default mem_fraction_static leaves too little for these weights; with "
                      f"--mem-fraction-static {_SGLANG_RAISED_SHARE:g} (its documented value, which `surrogate "
                      "optimize` sets where the default does not fit) it fits, so the run must have set it"),
)


def _configs(frame: pd.DataFrame) -> pd.DataFrame:
    """The configuration columns as plain objects (pandas NA -> None) for ``normalize_configs``."""
    cols = frame[[c for c in CONFIG_COLUMNS if c in frame]].astype(object)  # no engine settings: their defaults
    return cols.where(cols.notna(), None)


def _check(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the memory model's verdict: needed and usable GB, margin, fits."""
    est = estimate(_configs(frame))
    return frame.assign(needed_gb=est["mem_per_device_gb"].to_numpy(), usable_gb=est["mem_usable_gb"].to_numpy(),
                        weights_gb=est["mem_weights_gb"].to_numpy(), max_batch=est["max_batch_size"].to_numpy(),
                        margin_gb=(est["mem_usable_gb"] - est["mem_per_device_gb"]).to_numpy(),
                        fits=est["fits"].to_numpy(dtype=bool))


def _explain(row: pd.Series) -> str:
    """The first reading under which the row fits (then all applicable readings together), or why not."""
    cfg = normalize_configs(_configs(row.to_frame().T))
    base_specs = gather_specs(cfg)
    context = row.copy()
    context["_memory_gb"] = float(base_specs["memory_gb"].iloc[0])
    context["_expert_ways"] = _expert_ways(row)
    applicable = [reading for reading in READINGS if reading.applies(context)]
    est = None
    for chosen in [[reading] for reading in applicable] + [applicable]:
        trial, specs = cfg.copy(), base_specs.copy()
        trial["_expert_ways"] = context["_expert_ways"]
        for reading in chosen:
            reading.change(trial, specs)
        est = estimate(trial[CONFIG_COLUMNS], normalized=True, specs=specs).iloc[0]
        if bool(est["fits"]):
            return " + ".join(r.name for r in chosen) + ": " + "; ".join(r.why(context) for r in chosen)
    assert est is not None  # the loop runs at least once (the empty list of all readings)
    read_as = " under " + " + ".join(r.name for r in applicable) if applicable else ""
    if est["mem_weights_gb"] > context["_memory_gb"]:
        layouts = [r.name for r in applicable if r.layout]
        as_read = " (read as: " + ", ".join(layouts) + ")" if layouts else ""
        return (f"impossible as recorded: the weights alone need {est['mem_weights_gb']:.0f} GB per device{as_read} "
                f"on a {context['_memory_gb']:g} GB device, so the recorded layout is not the one that ran")
    return (f"unexplained: needs {est['mem_per_device_gb']:.1f} GB{read_as} against {est['mem_usable_gb']:.1f} GB "
            "usable (the run must have raised the engine's memory fraction)")


def disaggregated_workers(table: pd.DataFrame) -> pd.DataFrame:
    """One configuration per worker shape of each disaggregated row (prefill: the prompt; decode: all)."""
    frames = []
    for phase in ("prefill", "decode"):
        part = table.copy()
        for column in ("tp", "pp", "dp", "ep", "moe_tp"):
            part[column] = part[f"{phase}_{column}"]
        workers = part[f"{phase}_workers"].fillna(1).astype(float) * part["dp"].astype(float)
        per_worker = np.ceil(part["concurrency"].astype(float) / workers)
        batch = part[f"{phase}_batch_size"].astype(float).fillna(pd.Series(per_worker, index=part.index))
        part["batch_size"] = part["concurrency"] = batch.astype(int)
        part["num_devices"] = part["tp"] * part["pp"] * part["dp"]
        if phase == "prefill":
            part["output_len"] = 1
        part["worker"] = phase
        frames.append(part)
    return pd.concat(frames, ignore_index=True)


def _location(row: pd.Series) -> str:
    return f"{SHARED_SOURCES.get(row['source'], row['source'])}/{row['source_file']}:{int(row['source_line'])}"


def _listing(frame: pd.DataFrame, worker: bool = False) -> list[str]:
    lines = []
    for _, row in frame.iterrows():
        layout = f"tp{int(row['tp'])} pp{int(row['pp'])} dp{int(row['dp'])} ep{int(row['ep'])}"
        if pd.notna(row.get("moe_tp")):
            layout += f" moe_tp{int(row['moe_tp'])}"
        who = f"{row['worker']} worker " if worker else ""
        lines.append(
            f"{_location(row)}  {row['hardware']} {row['model']} {row['framework']} {row['weight_dtype']} "
            f"{who}{layout} {row['batching']} batch {int(row['batch_size'])} {int(row['input_len'])}+"
            f"{int(row['output_len'])} tok: needs {row['needed_gb']:.1f} GB (weights {row['weights_gb']:.1f}), "
            f"usable {row['usable_gb']:.1f} GB, margin {row['margin_gb']:+.1f} GB\n    -> {row['explanation']}")
    return lines


def _counts(checked: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    grouped = checked.groupby(by, sort=True)
    out = pd.DataFrame({"rows": grouped.size(), "not_fitting": grouped["fits"].apply(lambda f: int((~f).sum()))})
    return out.reset_index()


def _kinds(bad: pd.DataFrame) -> str:
    return bad["explanation"].str.split(":").str[0].value_counts().to_string() if len(bad) else "none"


def report(table: pd.DataFrame) -> str:
    """The whole check as text."""
    agg = _check(table[table["mode"].eq("aggregated")].reset_index(drop=True))
    workers = _check(disaggregated_workers(table[table["mode"].eq("disaggregated")].reset_index(drop=True)))
    bad_agg, bad_workers = agg[~agg["fits"]].copy(), workers[~workers["fits"]].copy()
    for bad in (bad_agg, bad_workers):
        bad["explanation"] = [_explain(row) for _, row in bad.iterrows()]
    unexplained = int(bad_agg["explanation"].str.startswith("unexplained").sum())
    bad_rows = bad_workers.drop_duplicates(["source_file", "source_line"])
    lines = [
        "Memory model vs measured runs (features.analytic.estimate on every measured configuration)",
        f"aggregated configurations: {len(agg)}, predicted not to fit: {len(bad_agg)} "
        f"({unexplained} unexplained)",
        f"disaggregated rows: {int(table['mode'].eq('disaggregated').sum())} -> {len(workers)} worker shapes, "
        f"predicted not to fit: {len(bad_workers)} shapes in {len(bad_rows)} rows "
        f"({int(bad_workers['explanation'].str.startswith('unexplained').sum())} shapes unexplained)",
        "", "By source and batching (aggregated):",
        _counts(agg, ["source", "batching", "framework"]).to_string(index=False),
        "", "By source and worker (disaggregated):",
        _counts(workers, ["source", "worker"]).to_string(index=False),
        "", "Explanations (aggregated):",
        _kinds(bad_agg),
        "", "Explanations (disaggregated worker shapes):",
        _kinds(bad_workers),
        "", "Aggregated configurations predicted not to fit:",
        *(_listing(bad_agg) or ["none"]),
        "", "Disaggregated worker shapes predicted not to fit:",
        *(_listing(bad_workers, worker=True) or ["none"]),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=None, help="shared datasets directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the report")
    args = parser.parse_args(argv)
    text = report(load_shared(args.shared).table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
