"""Sourced catalogs of hardware, models and frameworks, loaded once and validated on load.

The data lives in ``features/data/``: ``hardware.csv`` (+ ``hardware_aliases.csv``),
``models.csv`` (+ ``hf_configs/`` and ``model_aliases.csv``) and ``frameworks.csv``. Every row
carries a ``source``; a bad row raises :class:`DataError` naming the file and line. Model names as people
write them (publisher-quantised, renamed, fine-tuned) resolve by the rules of :mod:`features.model_names`
through :func:`resolve_model_name`.
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from features.errors import DataError, UnknownNameError, closest_names
from features.hardware_names import match_by_parts
from features.host import HOST_NAME, detect_host, host_id, is_cpu_vendor, user_hardware_path
from features.model_arch import ModelArch, arch_from_config
from features.model_names import CatalogNames, ResolvedModel, resolve_name, strip_quant_suffix

__all__ = [
    "HardwareSpec",
    "FrameworkSpec",
    "hardware_table",
    "hardware_ids",
    "get_hardware",
    "resolve_hardware",
    "model_ids",
    "resolve_model",
    "resolve_model_name",
    "ResolvedModel",
    "get_model",
    "framework_ids",
    "DEFAULT_FRAMEWORK",
    "default_framework",
    "frameworks_on",
    "framework_table",
    "resolve_framework",
    "get_framework",
    "catalog_fingerprint",
    "reload_hardware",
    "packaged_vendors",
    "KV_BUDGETS",
    "FRAMEWORK_MEMORY_SPECS",
]

_DATA = resources.files("features") / "data"
logger = logging.getLogger(__name__)

PEAK_COLUMNS = ["fp32_tflops", "tf32_tflops", "fp16_tflops", "bf16_tflops", "fp8_tflops", "int8_tops",
                "fp4_tflops"]
_HARDWARE_NUMERIC = ["memory_gb", "mem_bw_gbps", *PEAK_COLUMNS, "intra_node_bw_gbps", "inter_node_bw_gbps",
                     "devices_per_node", "scale_up_domain_devices", "tdp_w", "price_usd_per_device_hour"]
_HARDWARE_REQUIRED = ["id", "vendor", "memory_gb", "mem_bw_gbps", "devices_per_node", "scale_up_domain_devices",
                      "source"]
# How an engine sizes its KV-cache pool (frameworks.csv ``kv_budget``; ``features.memory`` applies them):
# of_total = a fraction of device memory holds everything (vLLM gpu_memory_utilization); of_free = a
# fraction of the memory left after weights, activations and runtime buffers (TensorRT-LLM
# free_gpu_memory_fraction, DeepSpeed FastGen's reserve); sglang_reserve = SGLang's mem_fraction_static
# heuristic, a fixed reserve for activations and CUDA graphs. Sources in frameworks.csv ``memory_source``.
KV_BUDGETS = ("of_total", "of_free", "sglang_reserve")
# Framework columns the memory model reads per configuration row: spec column -> frameworks.csv column.
# ``engine_batching`` is how the engine schedules (continuous engines admit sequences as their KV pool
# allows, whatever the client submits); the rest are the KV budget rule and its sourced reservations.
FRAMEWORK_MEMORY_SPECS = {"engine_batching": "batching", "kv_budget": "kv_budget",
                          "kv_reserve_gb": "kv_reserve_gb", "cuda_graph_gb": "cuda_graph_gb"}


@dataclass(frozen=True)
class HardwareSpec:
    """One accelerator SKU; bandwidths per device per direction, peaks dense."""

    id: str
    vendor: str
    name: str
    memory_gb: float
    mem_bw_gbps: float
    peak_tflops: dict[str, float]
    intra_node_bw_gbps: float
    inter_node_bw_gbps: float
    devices_per_node: int
    scale_up_domain_devices: int
    tdp_w: float
    price_usd_per_device_hour: float
    price_source: str
    source: str


@dataclass(frozen=True)
class FrameworkSpec:
    """An inference engine: how it batches, how it uses several devices, what it supports."""

    id: str
    display_name: str
    batching: str
    device_split: str
    weight_precisions: tuple[str, ...]
    kv_precisions: tuple[str, ...]
    vendors: tuple[str, ...]
    usable_memory_fraction: float
    max_batched_tokens: float = field(metadata={"help": "prefill token budget per step; nan = unchunked"})
    source: str = ""
    kv_budget: str = field(default="of_total", metadata={"help": "how the KV pool is sized: " + ", ".join(KV_BUDGETS)})
    kv_reserve_gb: float = field(default=0.0, metadata={"help": "memory kept out of an of_free KV pool (GB)"})
    cuda_graph_gb: float = field(default=0.0, metadata={"help": "CUDA graph pool outside the KV budget (GB)"})
    disaggregated: bool = field(default=False, metadata={
        "help": "runs prefill and decode workers apart, shipping the KV cache between them (xPyD)"})
    attention_data_parallel: bool = field(default=False, metadata={
        "help": "serves MoE models with attention data parallelism, the experts spread over every rank (wide EP)"})


def _read_csv(name: str, required: list[str], path: Path | None = None) -> pd.DataFrame:
    """A catalog CSV as text cells; ``path`` reads a user's file of the same form instead of the packaged one."""
    path = Path(str(_DATA / name)) if path is None else path
    try:
        with path.open("r", encoding="utf-8", newline="") as handle:
            _check_field_counts(path, handle)
            handle.seek(0)
            table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise DataError(f"catalog file {path} is missing; reinstall the package") from exc
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise DataError(f"{path}: missing columns {', '.join(missing)}")
    for column in required:
        blank = table.index[table[column].str.strip() == ""]
        if len(blank):
            raise DataError(f"{path}:{blank[0] + 2}: required field '{column}' is blank")
    return table


def _check_field_counts(path: Path, handle: TextIO) -> None:
    """Refuse a record with more or fewer fields than the header, naming its line: pandas would take the
    extra fields of a first record for an index (an unquoted comma in a note then read as a blank field
    of some other row), and of a later one raise without the file's name."""
    reader = csv.reader(handle)
    header = next(reader, [])
    for record in reader:
        if record and len(record) != len(header):
            raise DataError(f"{path}:{reader.line_num}: {len(record)} fields where the header has {len(header)} "
                            "(a comma in an unquoted field? quote it)")


def _to_float(table: pd.DataFrame, columns: list[str], file: str) -> pd.DataFrame:
    """Numeric columns of ``features/data/<file>`` as floats (errors name the file and line)."""
    return _to_float_at(table, columns, [f"features/data/{file}:{row + 2}" for row in range(len(table))])


def _user_hardware(columns: pd.Index) -> pd.DataFrame:
    """Rows of the user hardware file (machines ``surrogate hardware probe`` measured); empty if none. Its
    columns must be among ``columns``, the packaged catalog's."""
    path = user_hardware_path()
    if not path.is_file():
        return pd.DataFrame(columns=_HARDWARE_REQUIRED, dtype=str)
    table = _read_csv(path.name, _HARDWARE_REQUIRED, path)
    unknown = [c for c in table.columns if c not in columns]
    if unknown:
        raise DataError(f"{path}: unknown columns {', '.join(unknown)}")
    return table


@cache
def hardware_table() -> pd.DataFrame:
    """All hardware rows (the packaged catalog, then the user's probed machines), numeric columns as floats,
    indexed by catalog id."""
    packaged = _read_csv("hardware.csv", _HARDWARE_REQUIRED)
    user = _user_hardware(packaged.columns)
    table = pd.concat([packaged, user], ignore_index=True).fillna("")
    files = ["features/data/hardware.csv"] * len(packaged) + [str(user_hardware_path())] * len(user)
    lines = list(range(2, len(packaged) + 2)) + list(range(2, len(user) + 2))
    where = [f"{f}:{n}" for f, n in zip(files, lines, strict=True)]
    table = _to_float_at(table, _HARDWARE_NUMERIC, where)
    if table["id"].duplicated().any():
        dup = table.index[table["id"].duplicated()][0]
        raise DataError(f"{where[dup]}: duplicate id '{table.at[dup, 'id']}'")
    # The chip whose fitted efficiency offsets a row shares (``same_chip_as``; blank: its own id): one GCD of an
    # MI250 runs the MI250's kernels and software, measured on the whole package.
    same = table["same_chip_as"].astype(str).str.strip() if "same_chip_as" in table else pd.Series("", table.index)
    unknown = table.index[same.ne("") & ~same.isin(table["id"])]
    if len(unknown):
        raise DataError(f"{where[unknown[0]]}: same_chip_as '{same[unknown[0]]}' is not a hardware id")
    table["chip"] = same.where(same.ne(""), table["id"])
    no_peak = table.index[table[["fp16_tflops", "bf16_tflops"]].isna().all(axis=1)]
    if len(no_peak):
        raise DataError(f"{where[no_peak[0]]}: needs fp16_tflops or bf16_tflops")
    multi = table["devices_per_node"] > 1
    no_link = table.index[multi & table["intra_node_bw_gbps"].isna()]
    if len(no_link):
        raise DataError(f"{where[no_link[0]]}: intra_node_bw_gbps is blank")
    # Half-precision peaks stand in for each other where a vendor publishes only one of them.
    table["fp16_tflops"] = table["fp16_tflops"].fillna(table["bf16_tflops"])
    table["bf16_tflops"] = table["bf16_tflops"].fillna(table["fp16_tflops"])
    table["inter_node_bw_gbps"] = table["inter_node_bw_gbps"].fillna(table["intra_node_bw_gbps"])
    # A single-device machine (a CPU) has no device-to-device link: its memory stands in (never used with
    # one device, but keeps the arithmetic finite).
    for column in ("intra_node_bw_gbps", "inter_node_bw_gbps"):
        table[column] = table[column].fillna(table["mem_bw_gbps"])
    table["user_entry"] = [False] * len(packaged) + [True] * len(user)
    return table.set_index("id", drop=False)


def _to_float_at(table: pd.DataFrame, columns: list[str], where: list[str]) -> pd.DataFrame:
    """:func:`_to_float` for a table drawn from several files (``where``: each row's file:line)."""
    out = table.copy()
    for column in columns:
        converted = pd.to_numeric(out[column].replace("", None), errors="coerce")
        bad = out.index[converted.isna() & (out[column].astype(str).str.strip() != "")]
        if len(bad):
            raise DataError(f"{where[bad[0]]}: '{column}' is not a number: {out.at[bad[0], column]!r}")
        out[column] = converted.astype(float)
    return out


def reload_hardware() -> None:
    """Forget the loaded hardware table (after ``surrogate hardware probe`` added this machine)."""
    hardware_table.cache_clear()
    _hardware_aliases.cache_clear()
    _hardware_labels.cache_clear()


def packaged_vendors() -> list[str]:
    """Vendor categories in a stable order: the packaged accelerators' vendors sorted, then CPU vendors, then
    vendors only probed machines have (a new CPU leaves every earlier code as it was)."""
    table = hardware_table()
    if _vendors_known[0] is not table:  # worked out once per table (it is reloaded when a machine is probed)
        _vendors_known[:] = [table, _vendors_of(table)]
    return list(_vendors_known[1])


_vendors_known: list[Any] = [None, ()]


def _vendors_of(table: pd.DataFrame) -> tuple[str, ...]:
    packaged = set(table.loc[~table["user_entry"], "vendor"])
    ordered = sorted(v for v in packaged if not is_cpu_vendor(v)) + sorted(v for v in packaged if is_cpu_vendor(v))
    return tuple(ordered + sorted(set(table.loc[table["user_entry"], "vendor"]) - packaged))


@cache
def _hardware_aliases() -> dict[str, str]:
    table = _read_csv("hardware_aliases.csv", ["alias", "hardware_id", "evidence"])
    known = set(hardware_table().index)
    aliases: dict[str, str] = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        if row.hardware_id not in known:
            raise DataError(f"features/data/hardware_aliases.csv:{row_number}: unknown hardware_id "
                            f"'{row.hardware_id}'")
        aliases[_key(row.alias)] = row.hardware_id
    return aliases


@cache
def _hardware_labels() -> tuple[tuple[str, str], ...]:
    """Every (label, id) the catalog knows an accelerator by, as written: its ids and its aliases."""
    aliases = _read_csv("hardware_aliases.csv", ["alias", "hardware_id", "evidence"])
    return tuple((str(i), str(i)) for i in hardware_table().index) + tuple(
        zip(aliases["alias"].astype(str), aliases["hardware_id"].astype(str), strict=True))


def _key(name: str) -> str:
    """Case-, space- and separator-insensitive lookup key ('H100_SXM' == 'h100-sxm')."""
    return "".join(ch for ch in name.lower() if ch.isalnum())


def hardware_ids() -> list[str]:
    return list(hardware_table().index)


def resolve_hardware(name: str) -> str:
    """Catalog id for an id or any known alias; ``UnknownNameError`` with suggestions otherwise."""
    table = hardware_table()
    by_key: dict[str, str] = {_key(i): i for i in table.index}
    key = _key(str(name))
    if key in by_key:
        return by_key[key]
    aliases = _hardware_aliases()
    if key in aliases:
        return aliases[key]
    if key == HOST_NAME:
        here = host_id(detect_host())
        if here in table.index:
            return here
        raise DataError(f"this machine ({here}) has not been measured yet: run `surrogate hardware probe` first "
                        f"(it measures memory bandwidth and peak FLOP/s and keeps them in {user_hardware_path()})")
    # Spelled another way: brand words, run settings, a memory size (features.hardware_names).
    matched = match_by_parts(str(name), _hardware_labels(), dict(zip(table.index, table["memory_gb"], strict=True)))
    if matched is not None:
        return matched
    error = UnknownNameError("GPU", str(name), closest_names(str(name), hardware_ids()))
    if any(word in key for word in _CPU_WORDS):  # a CPU is priced from its probe: say how to get one
        error.args = (f"{error}; for a CPU the catalog lacks, run `surrogate hardware probe` on it, then name it "
                      f"'{HOST_NAME}'",)
    elif not error.suggestions:  # no name is close: an accelerator the catalog lacks is one datasheet row away
        error.args = (f"{error}; to price an accelerator the catalog "
                      f"lacks, add a row with its datasheet numbers to {user_hardware_path()} (the columns of "
                      f"features/data/hardware.csv; at least {', '.join(_HARDWARE_REQUIRED)} and a bf16_tflops "
                      f"or fp16_tflops peak)",)
    raise error


# Words in a name that mean a CPU (what a user types for "this machine" or a server processor).
_CPU_WORDS = ("cpu", "xeon", "epyc", "ryzen", "threadripper", "graviton", "neoverse")


def get_hardware(name: str) -> HardwareSpec:
    row = hardware_table().loc[resolve_hardware(name)]
    return HardwareSpec(
        id=row["id"],
        vendor=row["vendor"],
        name=row.get("name", row["id"]) or row["id"],
        memory_gb=float(row["memory_gb"]),
        mem_bw_gbps=float(row["mem_bw_gbps"]),
        peak_tflops={c.rsplit("_", 1)[0]: float(row[c]) for c in PEAK_COLUMNS if pd.notna(row[c])},
        intra_node_bw_gbps=float(row["intra_node_bw_gbps"]),
        inter_node_bw_gbps=float(row["inter_node_bw_gbps"]),
        devices_per_node=int(row["devices_per_node"]),
        scale_up_domain_devices=int(row["scale_up_domain_devices"]),
        tdp_w=float(row["tdp_w"]),
        price_usd_per_device_hour=float(row["price_usd_per_device_hour"]),
        price_source=str(row.get("price_source", "")),
        source=str(row["source"]),
    )


# --- models ----------------------------------------------------------------------------------


@cache
def _model_manifest() -> pd.DataFrame:
    table = _read_csv("models.csv", ["model_id", "config_file", "source"])
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        if not (_DATA / "hf_configs" / row.config_file).is_file():
            raise DataError(f"features/data/models.csv:{row_number}: config file '{row.config_file}' "
                            "is not in features/data/hf_configs/")
    return table.set_index("model_id", drop=False)


@cache
def _model_aliases() -> dict[str, tuple[str, str]]:
    """alias as written -> (model id, evidence)."""
    table = _read_csv("model_aliases.csv", ["alias", "model_id", "evidence"])
    known = set(_model_manifest().index)
    aliases = {}
    for row_number, row in enumerate(table.itertuples(index=False), start=2):
        if row.model_id not in known:
            raise DataError(f"features/data/model_aliases.csv:{row_number}: unknown model_id '{row.model_id}'")
        aliases[row.alias] = (row.model_id, row.evidence)
    return aliases


@cache
def _catalog_names() -> CatalogNames:
    return CatalogNames({**_model_aliases(), **{m: (m, "") for m in model_ids()}})


def model_ids() -> list[str]:
    return list(_model_manifest().index)


# What an unknown model's error says to do: the catalog only knows the families it has a config for.
_PASS_A_CONFIG = ("the catalog has no config.json for it: download the checkpoint's config.json (and "
                 "hf_quant_config.json if it has one) and give its path, or the folder holding them, instead "
                 "of the name (e.g. --model path/to/config.json)")


@cache
def resolve_model_name(name: str) -> ResolvedModel:
    """A model name as people write it -> catalog id (or config path), the precision the name states, and
    a ``how`` line saying what was resolved and what was assumed (rules in :mod:`features.model_names`).

    ``weight_dtype``/``kv_dtype`` are None unless the name states them (``-NVFP4``, ``-FP8-KV``); a caller
    fills them in only where the user gave no precision. Raises ``UnknownNameError`` with suggestions and
    how to pass a config.json when nothing matches. Logged once per name: a warning when a name rule decided.
    """
    name = str(name).strip()
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        path = path / "config.json"
    if path.is_file() and path.suffix == ".json":
        return ResolvedModel(name, str(path), how=f"{path} (config.json given)")
    resolved = resolve_name(name, _catalog_names())
    if resolved is None:
        stem = strip_quant_suffix(name)[0]
        error = UnknownNameError("model", name, closest_names(stem, model_ids() + list(_model_aliases())))
        error.args = (f"{error} If not, {_PASS_A_CONFIG}" if error.suggestions else f"{error}; {_PASS_A_CONFIG}",)
        raise error
    if resolved.how and resolved.model_id != name:
        logger.log(logging.WARNING if resolved.assumed else logging.INFO, "model %s", resolved.how)
    return resolved


def resolve_model(name: str) -> str:
    """Canonical HF id for a bundled id, alias or name the rules resolve, or the path of a local config.json."""
    return resolve_model_name(name).model_id


def _load_json(path: Path, model: str) -> dict[str, Any]:
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read config for '{model}' from {path}: {exc}") from exc
    if not isinstance(parsed, dict):
        raise DataError(f"config for '{model}' in {path} is not a JSON object; pass a Hugging Face config.json")
    return parsed


@cache
def get_model(name: str) -> ModelArch:
    """Architecture of a bundled model, an alias, a name the rules resolve, or a ``config.json`` path.

    Its ``native_weight_dtype``/``native_kv_dtype`` are what a name with a precision suffix states
    (``nvidia/Qwen3-32B-NVFP4``: fp4 weights, KV cache unstated, on Qwen/Qwen3-32B's architecture): that
    checkpoint is not the one whose config the catalog holds. Otherwise they are what the config records.
    """
    resolved = resolve_model_name(name)
    arch = _arch(resolved.model_id)
    if resolved.weight_dtype is None:
        return arch
    return replace(arch, native_weight_dtype=resolved.weight_dtype, native_kv_dtype=resolved.kv_dtype)


@cache
def _arch(model_id: str) -> ModelArch:
    if model_id in _model_manifest().index:
        row = _model_manifest().loc[model_id]
        config = _load_json(Path(str(_DATA / "hf_configs" / row["config_file"])), model_id)
        quant_file = str(row.get("quant_config_file", "") or "")
        quant = _load_json(Path(str(_DATA / "hf_configs" / quant_file)), model_id) if quant_file else None
        return arch_from_config(model_id, config, quant)
    path = Path(model_id)
    quant_path = path.with_name("hf_quant_config.json")
    quant = _load_json(quant_path, model_id) if quant_path.is_file() else None
    return arch_from_config(model_id, _load_json(path, model_id), quant)


# --- frameworks ------------------------------------------------------------------------------


@cache
def _framework_table() -> pd.DataFrame:
    table = _read_csv("frameworks.csv", ["id", "batching", "device_split", "weight_precisions", "vendors",
                                         "usable_memory_fraction", "source", "kv_budget", "kv_reserve_gb",
                                         "cuda_graph_gb", "memory_source"])
    bad = table.index[~table["batching"].isin(["static", "continuous"])]
    if len(bad):
        raise DataError(f"features/data/frameworks.csv:{bad[0] + 2}: batching must be static or continuous")
    bad = table.index[~table["device_split"].isin(["tensor", "layer"])]
    if len(bad):
        raise DataError(f"features/data/frameworks.csv:{bad[0] + 2}: device_split must be tensor or layer")
    bad = table.index[~table["kv_budget"].isin(KV_BUDGETS)]
    if len(bad):
        raise DataError(f"features/data/frameworks.csv:{bad[0] + 2}: kv_budget must be one of {', '.join(KV_BUDGETS)}")
    numeric = ["usable_memory_fraction", "max_batched_tokens", "kv_reserve_gb", "cuda_graph_gb"]
    return _to_float(table, numeric, "frameworks.csv").set_index("id", drop=False)


def framework_table() -> pd.DataFrame:
    """All framework rows indexed by id (numeric columns as floats)."""
    return _framework_table()


def framework_ids() -> list[str]:
    return list(_framework_table().index)


# The engine a deployment that names none is priced for, where it runs.
DEFAULT_FRAMEWORK = "vllm"


def frameworks_on(vendor: str) -> list[str]:
    """The engines that run on a vendor's hardware, in catalog order."""
    return [str(fw) for fw, vendors in _framework_table()["vendors"].items() if vendor in str(vendors).split(";")]


def default_framework(hardware: str) -> str:
    """The engine to assume on ``hardware`` when none is named: vLLM where it runs, else the first engine in the
    catalog that does (llama.cpp on a CPU, SambaFlow on an SN40L), so a CPU user is answered, not refused."""
    runs = frameworks_on(get_hardware(hardware).vendor)
    return DEFAULT_FRAMEWORK if DEFAULT_FRAMEWORK in runs or not runs else runs[0]


def resolve_framework(name: str) -> str:
    fid = _framework_names().get(_key(str(name)))
    if fid is None:
        error = UnknownNameError("framework", str(name), closest_names(str(name), framework_ids()))
        if not error.suggestions:  # no name is close: say which engines there are
            error.args = (f"{error}; the engines this tool models are {', '.join(framework_ids())}",)
        raise error
    return fid


@cache
def _framework_names() -> dict[str, str]:
    """Each framework's id and aliases (as :func:`_key` spells them) -> its id; the first row claiming a
    name keeps it, as a scan of the table in order would find."""
    names: dict[str, str] = {}
    table = _framework_table()
    for fid, aliases in zip(table.index, table["aliases"], strict=True):
        for name in [str(fid), *(a for a in str(aliases).split(";") if a)]:
            names.setdefault(_key(name), str(fid))
    return names


def get_framework(name: str) -> FrameworkSpec:
    row = _framework_table().loc[resolve_framework(name)]
    return FrameworkSpec(
        id=row["id"],
        display_name=row["display_name"],
        batching=row["batching"],
        device_split=row["device_split"],
        weight_precisions=_split_list(row["weight_precisions"]),
        kv_precisions=_split_list(row["kv_precisions"]),
        vendors=_split_list(row["vendors"]),
        usable_memory_fraction=float(row["usable_memory_fraction"]),
        max_batched_tokens=float(row["max_batched_tokens"]),
        source=row["source"],
        kv_budget=row["kv_budget"],
        kv_reserve_gb=float(row["kv_reserve_gb"]),
        cuda_graph_gb=float(row["cuda_graph_gb"]),
        disaggregated=str(row.get("disaggregated", "false")).strip().lower() == "true",
        attention_data_parallel=str(row.get("attention_data_parallel", "false")).strip().lower() == "true",
    )


def _split_list(text: object) -> tuple[str, ...]:
    """A ';'-separated catalog cell as a tuple, blanks dropped."""
    return tuple(p for p in str(text).split(";") if p)


def catalog_fingerprint() -> str:
    """md5 of every catalog file, so a model bundle can tell which catalog it was trained with."""
    import hashlib

    digest = hashlib.md5()
    for name in ("hardware.csv", "hardware_aliases.csv", "models.csv", "model_aliases.csv", "frameworks.csv"):
        digest.update((_DATA / name).read_bytes())
    return digest.hexdigest()
