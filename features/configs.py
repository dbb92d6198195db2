"""Deployment configurations as a table: defaults, canonical names, validation, catalog lookup.

One row is one deployment of one model: ``tp * pp * dp == num_devices`` devices of one hardware
type, serving either a static batch (``batch_size`` prompts at once, then decode to the end) or a
continuous stream with ``concurrency`` requests in flight per replica.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from features import catalog
from features.distinct import distinct_values, factorize, lookup, names_at, per_distinct
from features.embedded import contradiction, split_framework_version, split_hardware_count
from features.errors import ConfigError
from features.memory import MEMORY_FRACTION_SETTINGS
from features.precision import BYTES_PER_VALUE, PEAK_COLUMNS_BY_WEIGHT, canonical_dtype, native_peak, runs_natively

__all__ = ["CONFIG_COLUMNS", "ENGINE_SETTING_COLUMNS", "REQUIRED_COLUMNS", "LARGEST_COUNT", "check_table",
           "normalize_configs", "batching_mode",
           "invalid_reasons", "config_warnings", "gather_specs", "mean_lengths", "nearest_tokens",
           "MEAN_LENGTH_COLUMNS"]

CONFIG_COLUMNS = [
    "hardware", "num_devices", "tp", "pp", "dp", "ep", "framework", "framework_version", "model", "weight_dtype",
    "kv_dtype", "batching", "batch_size", "concurrency", "input_len", "output_len", "prefill_chunk_tokens",
    "request_rate_per_s", "engine_memory_fraction",
]
# Engine settings the measured sources do not record (every training row ran the engine's default): inputs to
# predict and search, not columns of the ingest schema. engine_memory_fraction: the share of device memory the
# engine may take (SGLang --mem-fraction-static, vLLM --gpu-memory-utilization, TensorRT-LLM
# free_gpu_memory_fraction: ``features.memory.MEMORY_FRACTION_SETTINGS``); empty: the engine's own default.
ENGINE_SETTING_COLUMNS = ["engine_memory_fraction"]
REQUIRED_COLUMNS = ["hardware", "model", "input_len", "output_len"]
_INT_COLUMNS = ["num_devices", "tp", "pp", "dp", "ep", "batch_size", "concurrency", "input_len", "output_len"]


# A sanity bound, not a measured limit: no device count, batch or token length comes near it, and
# every count below it is exact in float64 and int64 (the largest int32).
LARGEST_COUNT = 2**31 - 1


def _map_unique(values: pd.Series, resolve: Callable[[str], str]) -> pd.Series:
    """Resolve each distinct value once (catalog lookups are the slow part)."""
    return pd.Series(per_distinct(resolve, values.astype(str), dtype="str"), index=values.index)


# Batching modes as tables write them: TensorRT-LLM's in-flight batching ('IFB' in its docs) is continuous.
_BATCHING_SPELLINGS = {"continuousbatching": "continuous", "inflight": "continuous", "inflightbatching": "continuous",
                       "ifb": "continuous", "iterationlevel": "continuous", "staticbatching": "static",
                       "staticbatch": "static"}


def batching_mode(written: str) -> str:
    """'static' or 'continuous' for a mode as written ('Continuous batching', 'in-flight'); anything else as
    it is, lower-case, for the caller to refuse."""
    key = "".join(ch for ch in str(written).lower() if ch.isalpha())
    return _BATCHING_SPELLINGS.get(key, str(written).strip().lower())


def _split_per_distinct(values: pd.Series, split: Callable[[str], tuple[str, Any]],
                        resolve: Callable[[str], str]) -> tuple[pd.Series, list[Any], np.ndarray]:
    """Each distinct value split once into a name and what was written with it ('8x H100': 'H100', 8), the name
    resolved to its catalog id: the ids per row, the extras per distinct value (None where none was written)
    and each row's distinct value."""
    codes, (distinct,) = distinct_values(values.astype(str))
    parts = [split(value) for value in distinct]
    ids = pd.Series(names_at([resolve(name) for name, _ in parts], codes), index=values.index)
    return ids, [extra for _, extra in parts], codes


def _stated_dtype(stated: dict[str, str], model: str) -> str:
    """The precision a checkpoint states, canonical."""
    return canonical_dtype(stated[model])


def _row(position: int, n: int) -> str:
    """'row 3 ' in a table of several rows, '' for a single row (its caller names it)."""
    return f"row {position} " if n > 1 else ""


def _shown(value: object) -> str:
    """A cell as the user wrote it: strings quoted, numbers plain (``1e+30``, ``inf``, ``2.5``)."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _counts(out: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` as floats, NaN where a cell is empty (or the column absent); ``ConfigError`` naming
    the first cell that is not a whole number from 0 to :data:`LARGEST_COUNT` (values below 1 are left
    to :func:`invalid_reasons`, which rejects them row by row)."""
    if name not in out:
        return pd.Series(np.nan, index=out.index, dtype=float)
    raw = out[name]
    numbers = pd.to_numeric(raw, errors="coerce").astype(float)
    given = raw.notna().to_numpy()
    values = numbers.to_numpy()
    with np.errstate(invalid="ignore"):
        bad = given & ~(np.isfinite(values) & (values == np.round(values)))
        big = given & np.isfinite(values) & (np.abs(values) > LARGEST_COUNT)
    if bad.any():
        i = int(bad.argmax())
        raise ConfigError(f"column '{name}' must be a whole number; {_row(i, len(out)) or 'got '}"
                          f"{'has ' if len(out) > 1 else ''}{_shown(raw.iloc[i])}")
    if big.any():
        i = int(big.argmax())
        raise ConfigError(f"column '{name}' is too large{' in ' + _row(i, len(out)).strip() if len(out) > 1 else ''}"
                          f": {_shown(raw.iloc[i])} (at most {LARGEST_COUNT:,})")
    return numbers


MEAN_LENGTH_COLUMNS = ("input_len", "output_len")


def nearest_tokens(mean: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """A mean token length as the nearest whole number, half up (512.5 -> 513; NumPy's and Python's rounding
    take halves to even): how every reader of a mean length rounds it."""
    out: npt.NDArray[np.float64] = np.floor(np.asarray(mean, dtype=float) + 0.5)
    return out


def mean_lengths(configs: pd.DataFrame) -> tuple[pd.DataFrame, dict[int, str]]:
    """``configs`` with token lengths that are not whole (a mean over requests of varying length, as tables
    of such runs give it) read as the nearest whole number (half up), and per position of each such row what
    was read. Other cells are left to :func:`normalize_configs`' checks."""
    notes: dict[int, list[str]] = {}
    out = configs
    for name in MEAN_LENGTH_COLUMNS:
        if name not in configs or configs.columns.duplicated().any():
            continue
        values = pd.to_numeric(configs[name], errors="coerce").astype(float).to_numpy()
        with np.errstate(invalid="ignore"):
            fractional = np.isfinite(values) & (values != np.round(values)) & (np.abs(values) <= LARGEST_COUNT)
        if not fractional.any():
            continue
        rounded = nearest_tokens(values)
        if out is configs:
            out = configs.copy()
        column = out[name].astype(object)
        column[fractional] = rounded[fractional]
        out[name] = column
        for i in fractional.nonzero()[0]:
            notes.setdefault(int(i), []).append(
                f"{name} {values[i]:g} is not a whole number of tokens: read as {int(rounded[i])}, the nearest (a mean "
                "length is predicted as if every request had it)")
    return out, {i: "; ".join(texts) for i, texts in notes.items()}


def check_table(configs: pd.DataFrame) -> None:
    """What no row can fix: a column named twice, a required column absent."""
    duplicated = configs.columns[configs.columns.duplicated()]
    if len(duplicated):
        raise ConfigError(f"column '{duplicated[0]}' appears more than once; keep one")
    missing = [c for c in REQUIRED_COLUMNS if c not in configs.columns]
    if missing:
        raise ConfigError(f"configurations lack required columns: {', '.join(missing)}")


def _check_columns(configs: pd.DataFrame) -> None:
    """Every required column present, once, and filled in every row."""
    check_table(configs)
    for name in REQUIRED_COLUMNS:
        empty = configs[name].isna().to_numpy()
        if empty.any():
            i = int(empty.argmax())
            raise ConfigError(f"{_row(i, len(configs)) or 'the configuration '}has no {name}")


def _sequences(out: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Static batch (default 1) and concurrency (default: the batch size).

    A static row uses ``batch_size``, a continuous one ``concurrency``; a continuous row without a
    batch size gets its concurrency there, so a normalised table normalises to itself. The number a
    row's batching does not use is kept as given; :func:`config_warnings` names it when it differs.
    """
    batch, concurrency = _counts(out, "batch_size"), _counts(out, "concurrency")
    continuous = out["batching"].eq("continuous").to_numpy()
    batch_size = batch.fillna(pd.Series(np.where(continuous, concurrency, np.nan), index=out.index)).fillna(1.0)
    return batch_size, concurrency.fillna(batch_size)


def _optional_numbers(out: pd.DataFrame, name: str, must_be: str,
                      fine: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.bool_]]) -> pd.Series:
    """An optional numeric column as floats (NaN where not given); ``ConfigError`` naming the first given
    value that is unreadable or not ``fine``."""
    given = out[name] if name in out else pd.Series(np.nan, index=out.index)
    values = pd.to_numeric(given, errors="coerce").astype(float)
    bad = given.notna().to_numpy() & ~fine(values.to_numpy())
    if bad.any():
        i = int(bad.argmax())
        raise ConfigError(f"column '{name}' must be {must_be}; {_row(i, len(out))}"
                          f"{'has ' if len(out) > 1 else 'got '}{_shown(given.iloc[i])}")
    return values


def normalize_configs(configs: pd.DataFrame) -> pd.DataFrame:
    """Fill defaults and canonical names; raise ``ConfigError``/``UnknownNameError`` on bad input.

    Whole numbers (devices, parallel degrees, batch, concurrency, lengths) must be finite whole
    numbers up to :data:`LARGEST_COUNT`; a length that is not whole is read as a mean (:func:`mean_lengths`),
    with a ``UserWarning``. Whether a configuration is possible (degrees that divide,
    context window, formats the engine runs) is :func:`invalid_reasons`' job; what it asks that it
    does not use, :func:`config_warnings`'.
    """
    _check_columns(configs)
    out, rounded = mean_lengths(configs)
    if rounded:  # a warning, not a log line: said once however often one table is normalised
        first = min(rounded)
        warnings.warn(rounded[first] + (f" (row {first}; {len(rounded) - 1:,} more rows read the same way)"
                                        if len(rounded) > 1 else ""), UserWarning, stacklevel=2)
    out = out.copy() if out is configs else out  # mean_lengths copied a table it rounded
    # Devices counted into the name ('8x H100') give the accelerator and num_devices, unless num_devices differs.
    out["hardware"], counts, codes = _split_per_distinct(out["hardware"], split_hardware_count,
                                                         catalog.resolve_hardware)
    if any(n is not None for n in counts):
        count = pd.Series(np.array([np.nan if n is None else n for n in counts], dtype=float)[codes], index=out.index)
        given = _counts(out, "num_devices")
        clash = count.notna() & given.notna() & (count != given)
        if clash.any():
            row = clash.to_numpy().nonzero()[0][0]
            raise ConfigError(contradiction("hardware", configs["hardware"].iloc[row], int(count.iloc[row]),
                                            "num_devices", int(given.iloc[row])))
        out["num_devices"] = given.fillna(count)
    written = out["model"].astype(str)  # as written: 'nvidia/Qwen3-32B-NVFP4' states fp4 weights
    out["model"] = _map_unique(out["model"], catalog.resolve_model)
    # A row that names no engine is priced for vLLM, or where vLLM does not run for an engine that does.
    named = out["framework"] if "framework" in out else pd.Series(pd.NA, index=out.index, dtype=object)
    if named.isna().any():
        named = named.astype(object).where(named.notna(), per_distinct(catalog.default_framework, out["hardware"]))
    # An engine written with its release ('vLLM 0.6.3') gives both, unless a framework_version says otherwise.
    out["framework"], releases, codes = _split_per_distinct(named, split_framework_version,
                                                            catalog.resolve_framework)
    embedded = pd.Series(names_at(releases, codes), index=out.index, dtype="string")
    # Optional: the engine release as written (``features.versions`` dates it); NA when not given.
    out["framework_version"] = (out["framework_version"].astype("string") if "framework_version" in out
                                else pd.Series(pd.NA, index=out.index, dtype="string"))
    clash = embedded.notna() & out["framework_version"].notna() & (embedded != out["framework_version"])
    if clash.any():
        row = clash.to_numpy().nonzero()[0][0]
        raise ConfigError(contradiction("framework", named.iloc[row], embedded.iloc[row], "framework_version",
                                        out["framework_version"].iloc[row]))
    out["framework_version"] = out["framework_version"].fillna(embedded)
    frameworks = catalog.framework_table()
    layer_split = lookup(out["framework"], frameworks["device_split"]) == "layer"

    def column(name: str, default: object) -> pd.Series:
        if name not in out:
            return pd.Series(default, index=out.index, dtype=object)
        return out[name].where(out[name].notna(), default)

    lengths = {name: _counts(out, name) for name in ("input_len", "output_len")}
    pp, dp = _counts(out, "pp").fillna(1.0), _counts(out, "dp").fillna(1.0)
    tp, devices = _counts(out, "tp"), _counts(out, "num_devices")
    # Row by row: tp from the devices left when only they are given (llama.cpp splits layers across
    # devices, so its devices become pipeline stages), 1 when neither is; devices from the degrees.
    # (Degrees below 1 divide by 1 here; invalid_reasons rejects them.)
    from_devices = (tp.isna() & devices.notna()).to_numpy()
    tp = tp.where(~from_devices, np.where(layer_split, 1.0, devices // np.maximum(pp * dp, 1.0)))
    pp = pp.where(~(from_devices & layer_split), devices // np.maximum(dp, 1.0))
    tp = tp.fillna(1.0)
    out["tp"], out["pp"], out["dp"], out["num_devices"] = tp, pp, dp, devices.fillna(tp * pp * dp)
    out["ep"] = _counts(out, "ep").fillna(1.0)
    # Precision the user gives wins; else what the checkpoint (or its publisher's name) states.
    checkpoints = {m: catalog.get_model(m) for m in pd.unique(written)}
    native = {m: a.native_weight_dtype for m, a in checkpoints.items()}
    native_kv = {m: a.native_kv_dtype or "fp16" for m, a in checkpoints.items()}
    for name, stated in (("weight_dtype", native), ("kv_dtype", native_kv)):
        if name in out and out[name].notna().any():
            given = column(name, None).fillna(pd.Series(lookup(written, stated), index=out.index))
            out[name] = _map_unique(given, canonical_dtype)
        else:  # not given: the checkpoint's own, resolved once per model
            out[name] = _map_unique(written, partial(_stated_dtype, stated))
    default_batching = pd.Series(lookup(out["framework"], frameworks["batching"], dtype="str"), index=out.index)
    batching = column("batching", None).fillna(default_batching) if "batching" in out else default_batching
    out["batching"] = _map_unique(batching, batching_mode)
    bad = ~out["batching"].isin(["static", "continuous"])
    if bad.any():
        raise ConfigError(f"batching must be 'static' or 'continuous', got '{out['batching'][bad].iloc[0]}'")
    out["batch_size"], out["concurrency"] = _sequences(out)
    out["input_len"], out["output_len"] = lengths["input_len"], lengths["output_len"]
    out["prefill_chunk_tokens"] = _optional_numbers(out, "prefill_chunk_tokens", "a number of tokens", np.isfinite)
    # Only whether a rate is given changes the physics (Poisson arrivals instead of closed-loop clients,
    # ``features.analytic``); the requests in flight are still ``concurrency``. NaN: a closed loop.
    out["request_rate_per_s"] = _optional_numbers(
        out, "request_rate_per_s", "a positive number of requests per second (empty for a closed loop)",
        lambda rates: np.isfinite(rates) & (rates > 0))
    out["engine_memory_fraction"] = _optional_numbers(
        out, "engine_memory_fraction", "a share of device memory above 0 and at most 1 (empty: the engine's default)",
        lambda shares: np.isfinite(shares) & (shares > 0) & (shares <= 1))
    for name in _INT_COLUMNS:
        out[name] = out[name].astype(np.int64)
    return out


def invalid_reasons(configs: pd.DataFrame, *, specs: pd.DataFrame | None = None) -> pd.Series:
    """Why each normalised row is impossible ('' when it is fine), without raising.

    Impossible: a count below 1, devices that are not tp*pp*dp, tp that does not divide the heads
    (unless the engine splits them unevenly), more pipeline stages than layers, an engine on hardware
    or with weight / KV formats it does not run, a sequence longer than the model's context window
    (``max_position_embeddings`` of its config.json), and an expert-parallel degree the model cannot
    use (a dense model, more than its experts, or not dividing the tp*dp devices of a stage).

    ``specs`` may pass :func:`gather_specs` of the same rows (row for row, in the same order; its
    index is ignored), so a caller that already gathered them does not gather them again.
    """
    specs = _specs_for(configs, specs)
    reasons = pd.Series("", index=configs.index, dtype=object)
    fine = np.ones(len(configs), dtype=bool)  # no reason yet: the first reason found is the one given

    def flag(mask: np.ndarray, message: Callable[[pd.DataFrame, pd.DataFrame], pd.Series]) -> None:
        rows = np.asarray(mask, dtype=bool) & fine
        if rows.any():
            reasons[rows] = message(configs[rows], specs[rows]).to_numpy()
            fine[rows] = False

    def text(values: pd.Series) -> pd.Series:
        return values.astype(np.int64).astype(str)

    c = configs
    def at_least_one(name: str) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
        return lambda r, s: f"{name} must be at least 1, got " + text(r[name])

    def unsupported(column: str, what: str, runs: str) -> Callable[[pd.DataFrame, pd.DataFrame], pd.Series]:
        return lambda r, s: (r["framework"] + " does not run " + r[column] + f" {what} (it runs "
                             + s[runs].str.replace(";", ", ") + ")")

    for name in _INT_COLUMNS:
        flag((c[name] < 1).to_numpy(), at_least_one(name))
    product = c["tp"] * c["pp"] * c["dp"]
    flag((product != c["num_devices"]).to_numpy(),
         lambda r, s: "num_devices " + text(r["num_devices"]) + " != tp*pp*dp = " + text(r["tp"] * r["pp"] * r["dp"]))
    heads = specs["num_attention_heads"].astype(np.int64)
    flag(((heads % c["tp"] != 0) & ~specs["uneven_head_split"]).to_numpy(),
         lambda r, s: "tp " + text(r["tp"]) + " does not divide the " + text(s["num_attention_heads"])
         + " attention heads")
    flag((c["pp"] > specs["num_layers"]).to_numpy(),
         lambda r, s: "pp " + text(r["pp"]) + " exceeds the " + text(s["num_layers"]) + " layers")
    flag(~_listed(specs["vendor"], specs["fw_vendors"]),
         lambda r, s: r["framework"] + " does not run on " + s["vendor"] + " hardware" + s["vendor"].map(_engines_on))
    for column, what, runs in (("weight_dtype", "weights", "fw_weight_precisions"),
                               ("kv_dtype", "KV caches", "fw_kv_precisions")):
        flag(~_listed(c[column], specs[runs]), unsupported(column, what, runs))
    _flag_context(c, specs, flag)
    _flag_experts(c, specs, flag)
    if "engine_memory_fraction" in c:
        settable = c["framework"].isin(list(MEMORY_FRACTION_SETTINGS)).to_numpy()
        flag(c["engine_memory_fraction"].notna().to_numpy() & ~settable,
             lambda r, s: r["framework"] + " has no memory share setting (engine_memory_fraction is for "
             + ", ".join(MEMORY_FRACTION_SETTINGS) + "); leave it empty")
    return reasons


Flag = Callable[[np.ndarray, Callable[[pd.DataFrame, pd.DataFrame], pd.Series]], None]


def _engines_on(vendor: str) -> str:
    """' (engines that do: a, b)' for a vendor's hardware: what to ask for instead ('' where none does)."""
    engines = catalog.frameworks_on(vendor)
    return f" (engines that do: {', '.join(engines)})" if engines else ""


def _listed(values: pd.Series, lists: pd.Series) -> np.ndarray:
    """Whether each value is one of its row's ';'-separated list (exact items, not substrings); each
    distinct pair is checked once."""
    listed: np.ndarray = per_distinct(lambda value, items: str(value) in str(items).split(";"), values, lists,
                                      dtype=bool)
    return listed


def _flag_context(c: pd.DataFrame, specs: pd.DataFrame, flag: Flag) -> None:
    """A request longer than the model's context window: no engine serves it (vLLM refuses a
    ``--max-model-len`` above ``max_position_embeddings`` unless told to override it)."""
    tokens = c["input_len"] + c["output_len"]
    flag((tokens > specs["max_position_embeddings"]).to_numpy(),
         lambda r, s: "input_len " + r["input_len"].astype(str) + " + output_len " + r["output_len"].astype(str)
         + " = " + (r["input_len"] + r["output_len"]).astype(str) + " tokens exceed the context window of "
         + r["model"] + " (" + s["max_position_embeddings"].astype(np.int64).astype(str)
         + " tokens, max_position_embeddings); shorten the prompt or the output")


def _flag_experts(c: pd.DataFrame, specs: pd.DataFrame, flag: Flag) -> None:
    """Expert parallelism spreads a MoE model's experts over the tp*dp devices of a pipeline stage
    (vLLM ``--enable-expert-parallel``: ep = tp*dp; TensorRT-LLM: moe_ep_size divides tp_size)."""
    ep, experts = c["ep"], specs["num_experts"]
    per_stage = c["tp"] * c["dp"]
    flag(((ep > 1) & (experts <= 1)).to_numpy(),
         lambda r, s: "ep " + r["ep"].astype(str) + ": " + r["model"] + " is a dense model (no experts to "
         "spread); use ep 1")
    flag((ep > experts).to_numpy() & (ep > 1).to_numpy(),
         lambda r, s: "ep " + r["ep"].astype(str) + " exceeds the " + s["num_experts"].astype(np.int64).astype(str)
         + " experts of " + r["model"])
    flag((per_stage % ep != 0).to_numpy(),
         lambda r, s: "ep " + r["ep"].astype(str) + " needs tp*dp to be a multiple of it (experts are spread over "
         "the tp*dp devices of a pipeline stage); here tp*dp = " + (r["tp"] * r["dp"]).astype(str))


def config_warnings(configs: pd.DataFrame) -> pd.Series:
    """What each normalised row asks that is not used, or runs but not as its name suggests ('' when
    nothing; several separated by '; ').

    * A number of sequences the row's batching does not use: ``batch_size`` under continuous
      batching, ``concurrency`` in a static batch, when it differs from the one used.
    * fp8, fp4 or int8 weights on hardware without tensor cores for that format (int8 on a CPU runs in its
      SIMD units: ``features.precision.runs_natively``). Their matmuls run at
      the next peak the hardware has (:data:`PEAK_COLUMNS_BY_WEIGHT`): weight-only quantisation,
      dequantised per matmul (vLLM's Marlin kernels on Ampere), which saves memory but not compute,
      and which some engines do not ship (TensorRT-LLM's fp4 needs Blackwell).
    """
    notes: list[list[str]] = [[] for _ in range(len(configs))]
    continuous = configs["batching"].eq("continuous").to_numpy()
    batch, concurrency = configs["batch_size"].to_numpy(), configs["concurrency"].to_numpy()
    for i in (continuous & (batch != concurrency)).nonzero()[0]:
        notes[i].append(f"batch_size {batch[i]} is not used: under continuous batching the requests in flight are "
                        f"concurrency ({concurrency[i]})")
    for i in (~continuous & (batch != concurrency)).nonzero()[0]:
        notes[i].append(f"concurrency {concurrency[i]} is not used: a static batch is batch_size ({batch[i]})")
    hardware = catalog.hardware_table()
    pairs = configs[["hardware", "weight_dtype"]].drop_duplicates()
    for hw, dtype in zip(pairs["hardware"], pairs["weight_dtype"], strict=True):
        spec = catalog.get_hardware(str(hw))
        if runs_natively(str(dtype), spec.peak_tflops, spec.vendor):
            continue
        own = native_peak(str(dtype))
        used = next(col for col in PEAK_COLUMNS_BY_WEIGHT[str(dtype)] if pd.notna(hardware.at[hw, col]))
        text = (f"{dtype} weights on {hw}: it has no {own} tensor cores, so this is weight-only {dtype} (matmuls at "
                f"the {used.rsplit('_', 1)[0]} peak, as vLLM's Marlin kernels run them); an engine without such "
                "kernels cannot serve it")
        for i in (configs["hardware"].eq(hw) & configs["weight_dtype"].eq(dtype)).to_numpy().nonzero()[0]:
            notes[i].append(text)
    return pd.Series(["; ".join(n) for n in notes], index=configs.index, dtype=object)


def _specs_for(configs: pd.DataFrame, specs: pd.DataFrame | None) -> pd.DataFrame:
    """``gather_specs(configs)``, or the caller's copy of it relabelled with ``configs.index``.

    Shared by ``invalid_reasons``, ``estimate`` and ``build_features`` so one prediction gathers
    specs once. Rows are matched by position, as ``gather_specs`` builds them; the caller's frame
    is not modified (``set_axis`` returns a new frame).
    """
    if specs is None:
        return gather_specs(configs)
    if len(specs) != len(configs):
        raise ConfigError(f"specs has {len(specs)} rows for {len(configs)} configurations; "
                          "pass gather_specs() of the same normalised rows")
    return specs.set_axis(configs.index, axis=0)


class _PerRow:
    """A catalog table's rows for each configuration, looked up once per distinct key (tables of
    thousands of configurations name a handful of parts; indexing the whole table per row is slow)."""

    def __init__(self, table: pd.DataFrame, keys: pd.Series) -> None:
        self.codes, uniques = factorize(keys)
        self.rows = table.loc[uniques].reset_index(drop=True)

    def __getitem__(self, name: str) -> Any:
        """The column per configuration: a NumPy array of numbers, or the catalog's own (string) array,
        taken without a Python object per row."""
        column = self.rows[name]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            return column.to_numpy()[self.codes]
        return column.array.take(self.codes)


def gather_specs(configs: pd.DataFrame) -> pd.DataFrame:
    """Per-row hardware, model and framework numbers for a normalised configuration table."""
    hw = _PerRow(catalog.hardware_table(), configs["hardware"])
    out: dict[str, Any] = {}  # one frame over these arrays at the end (inserting 45 columns one by one was slower)
    for name in ["vendor", "chip", "memory_gb", "mem_bw_gbps", "intra_node_bw_gbps", "inter_node_bw_gbps",
                 "devices_per_node", "scale_up_domain_devices", "tdp_w", "price_usd_per_device_hour"]:
        out[name] = hw[name]
    weight = configs["weight_dtype"]
    peak = np.full(len(configs), np.nan)
    for dtype, columns in PEAK_COLUMNS_BY_WEIGHT.items():
        rows = weight.eq(dtype).to_numpy(dtype=bool, na_value=False)
        for col in columns:
            fill = rows & np.isnan(peak)
            peak[fill] = hw[col].astype(float)[fill]
    out["matmul_peak_tflops"] = peak
    out["attention_peak_tflops"] = hw["fp16_tflops"]
    model_codes, model_ids = factorize(configs["model"])
    models = [catalog.get_model(m) for m in model_ids]
    for field in ["num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "vocab_size",
                  "total_params", "active_params", "matmul_params_per_token", "expert_params", "num_experts",
                  "experts_per_token", "kv_values_per_token_full", "kv_values_per_token_window",
                  "recurrent_state_bytes_per_sequence",
                  "sliding_window", "attn_flops_per_ctx_full", "attn_flops_per_ctx_window", "is_mla",
                  "ffn_active_width", "max_position_embeddings"]:
        values = np.array([getattr(a, field) for a in models], dtype=float)
        out[field] = values[model_codes] if len(models) else np.full(len(configs), np.nan)
    out["weight_bytes_per_value"] = lookup(configs["weight_dtype"], BYTES_PER_VALUE, np.nan, dtype=float)
    out["kv_bytes_per_value"] = lookup(configs["kv_dtype"], BYTES_PER_VALUE, np.nan, dtype=float)
    fw = _PerRow(catalog.framework_table(), configs["framework"])
    out["usable_memory_fraction"] = fw["usable_memory_fraction"]
    out["max_batched_tokens"] = fw["max_batched_tokens"]
    out["fw_vendors"] = fw["vendors"]
    out["fw_weight_precisions"] = fw["weight_precisions"]
    out["fw_kv_precisions"] = fw["kv_precisions"]
    out["uneven_head_split"] = per_distinct(lambda flag: str(flag).lower() == "true", fw["uneven_head_split"],
                                            dtype=bool)
    for name, column in catalog.FRAMEWORK_MEMORY_SPECS.items():  # the engine's KV admission and budget rule
        out[name] = fw[column]
    if np.isnan(peak).any():
        row = int(np.isnan(peak).argmax())
        hw_id = configs["hardware"].iloc[row]
        runs = [d for d, cols in PEAK_COLUMNS_BY_WEIGHT.items()
                if any(pd.notna(hw[col][row]) for col in cols)]
        raise ConfigError(f"{hw_id} has no published peak for {configs['weight_dtype'].iloc[row]} matmuls; "
                          f"weight formats it runs: {', '.join(runs)}")
    return pd.DataFrame(out, index=configs.index, copy=False)
