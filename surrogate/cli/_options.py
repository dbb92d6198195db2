"""Flags shared by several commands, and turning them (or a user's CSV) into configuration tables.

pandas and the ingest package are imported inside the functions that use them: defining the flags
must stay cheap, since every ``surrogate --help`` does it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from features.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["apply_options", "config_options", "config_frame", "data_options", "training_table", "read_configs_csv",
           "trust_model_file_option", "ConfigFile", "OutputPath", "output_problem"]


Command = TypeVar("Command", bound=Callable[..., Any])


def apply_options(func: Command, options: list[Callable[[Any], Any]]) -> Command:
    """Decorate ``func`` with click options so they show in ``--help`` in the order listed."""
    for option in reversed(options):
        func = option(func)
    return func


def config_options(required: bool = True) -> Callable[[Command], Command]:
    """Flags that describe one deployment (shared by estimate and predict)."""
    return lambda func: _add_config_options(func, required)


def _add_config_options(func: Command, required: bool) -> Command:
    options = [
        click.option("--model", required=required, help="HF model id, alias, or path to a config.json."),
        click.option("--hardware", required=required, help="Accelerator, e.g. h100-sxm, a100-sxm4-80gb, mi300x."),
        click.option("--num-devices", type=click.IntRange(min=1), default=None,
                     help="Devices in total (default tp*pp*dp)."),
        click.option("--tp", type=click.IntRange(min=1), default=None, help="Tensor-parallel degree."),
        click.option("--pp", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Pipeline-parallel degree."),
        click.option("--dp", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Data-parallel replicas."),
        click.option("--ep", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Expert-parallel degree (MoE)."),
        click.option("--framework", default=None,
                     help="vllm, tensorrt-llm, sglang, llama.cpp, deepspeed-mii, deepspeed, sambaflow (default: vllm, "
                          "or where it does not run the first engine that does: llama.cpp on a CPU)."),
        click.option("--framework-version", default=None,
                     help="Engine release (e.g. 0.19.0) or a date YYYY-MM-DD (the engine as of then); "
                          "default: the newest the model was trained on."),
        click.option("--weight-dtype", default=None, help="fp16, bf16, fp8, int8, int4, fp4 (default: checkpoint)."),
        click.option("--kv-dtype", default="fp16", show_default=True, help="KV-cache precision."),
        click.option("--batching", type=click.Choice(["static", "continuous"]), default=None,
                     help="Static batch, or continuous serving (default: continuous if --concurrency is given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Sequences in a static batch (default 1)."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None,
                     help="Requests in flight per replica under continuous batching (default: batch size)."),
        click.option("--input-len", type=click.IntRange(min=1), required=required,
                     help="Prompt tokens per request."),
        click.option("--output-len", type=click.IntRange(min=1), required=required,
                     help="Generated tokens per request."),
        click.option("--engine-memory-fraction", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=None,
                     help="Share of device memory the engine may take: SGLang --mem-fraction-static, vLLM "
                          "--gpu-memory-utilization, TensorRT-LLM --kv_cache_free_gpu_memory_fraction "
                          "(default: the engine's own)."),
    ]
    return apply_options(func, options)


def config_frame(params: dict[str, Any]) -> pd.DataFrame:
    """One configuration row from the deployment flags (tp from --num-devices when only that is given).

    ``click.UsageError`` when --batch-size and --concurrency ask for different numbers of sequences,
    or --concurrency comes with --batching static: one of them would be dropped.
    """
    import pandas as pd

    from features import catalog
    from features.embedded import split_hardware_count

    batch, concurrency = params["batch_size"], params["concurrency"]
    if batch is not None and concurrency is not None and batch != concurrency:
        raise click.UsageError(f"--batch-size {batch} and --concurrency {concurrency} disagree: --batch-size is a "
                               "static batch, --concurrency the requests in flight under continuous batching; give one")
    if params["batching"] == "static" and concurrency is not None and batch is None:
        raise click.UsageError(f"--concurrency applies to continuous batching, not --batching static; for a static "
                               f"batch of {concurrency} give --batch-size {concurrency}")
    # '8x H100' names the devices too: tp follows from them unless --tp or --num-devices says otherwise.
    hardware, counted = split_hardware_count(params["hardware"])
    framework = params["framework"] or catalog.default_framework(hardware)
    row = {
        "hardware": params["hardware"], "model": params["model"], "framework": framework,
        "framework_version": params.get("framework_version"),
        "tp": params["tp"], "pp": params["pp"], "dp": params["dp"], "ep": params["ep"],
        "weight_dtype": params["weight_dtype"], "kv_dtype": params["kv_dtype"],
        "batching": params["batching"] or ("continuous" if concurrency else "static"),
        "batch_size": batch if batch is not None else (concurrency or 1),
        "concurrency": concurrency, "input_len": params["input_len"],
        "output_len": params["output_len"], "engine_memory_fraction": params.get("engine_memory_fraction"),
    }
    if params["num_devices"] is not None:
        row["num_devices"] = params["num_devices"]
        if params["tp"] is None:
            row.pop("tp")
    elif params["tp"] is None:
        if counted is None:
            row["tp"] = 1
        else:
            row.pop("tp")
    return pd.DataFrame([row])


def default_framework_note(params: dict[str, Any]) -> str | None:
    """The note for a deployment that names no engine where it is priced for another than vLLM (None else)."""
    from features import catalog
    from features.embedded import split_hardware_count

    if params["framework"]:
        return None
    hardware = split_hardware_count(params["hardware"])[0]
    framework = catalog.default_framework(hardware)
    if framework == catalog.DEFAULT_FRAMEWORK:
        return None
    return (f"no --framework given and {catalog.DEFAULT_FRAMEWORK} does not run on "
            f"{catalog.get_hardware(hardware).vendor} hardware: priced for {framework}")


@dataclass(frozen=True)
class ConfigFile:
    """A user's CSV of configurations: the rows read (cells as written, empty ones NA), each row's
    physical line, and the lines that could not be read as a row (``file:line: reason``)."""

    path: Path
    frame: pd.DataFrame
    lines: list[int]
    unreadable: list[tuple[int, str]]

    def where(self, position: int) -> str:
        """``file:line`` of the row at ``position``."""
        return f"{self.path}:{self.lines[position]}"


def read_configs_csv(path: Path) -> ConfigFile:
    """Configurations from a user's CSV, row by row; ``DataError`` for a file with no rows to read.

    Rows with the wrong number of fields or bytes that are not UTF-8 are listed, not read; a header
    naming a column twice, an empty file and a header without rows are errors.
    """
    import pandas as pd

    from surrogate.ingest.account import Rejection
    from surrogate.ingest.base import read_csv_rows

    header, items = read_csv_rows(path, str(path))
    if not header:
        raise DataError(f"{path} is empty: expected a header row of column names (at least hardware, model, "
                        "input_len, output_len) and one configuration per row")
    rows: list[dict[str, str | None]] = []
    lines: list[int] = []
    unreadable: list[tuple[int, str]] = []
    for item in items:
        if isinstance(item, Rejection):
            unreadable.append((item.line, str(item)))
        else:
            rows.append({k: (v if v != "" else None) for k, v in item.values.items()})
            lines.append(item.line)
    if not rows and not unreadable:
        raise DataError(f"{path} has a header but no rows: add one configuration per row")
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    return ConfigFile(path, _canonical_columns(frame, path), lines, unreadable)


def _canonical_columns(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``frame`` under the canonical column names, as ``surrogate data ingest csv`` reads other labs' names;
    what was renamed said on stderr."""
    from surrogate.cli._root import stderr
    from surrogate.ingest.column_names import canonical_frame

    out, notes = canonical_frame(frame, str(path))
    for note in notes:
        stderr.print(f"{path}: note: {note}", markup=False, highlight=False, soft_wrap=True)
    return out


class OutputPath(click.Path):
    """A file or directory the command will write, checked when the flag is read, before any work.

    Refused: a path below a file, or in a directory this user cannot write. A missing directory is
    fine: the command creates it when it writes.
    """

    def __init__(self, *, directory: bool = False) -> None:
        super().__init__(path_type=Path, file_okay=not directory, dir_okay=directory, writable=True)
        self.directory = directory

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        problem = output_problem(path, directory=self.directory)
        if problem:
            self.fail(problem, param, ctx)
        return path


def output_problem(path: Path, *, directory: bool = False) -> str | None:
    """Why ``path`` cannot be written (None when it can): its nearest existing ancestor is a file, or a
    directory this user may not write in."""
    if str(path).strip() == "":
        return "give a path"
    start = path if directory and path.exists() else path.parent
    ancestor = start.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"{ancestor} is a file, not a directory, so {path} cannot be written"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot write in {ancestor} (permission denied)"
    return None


def training_table(data_dir: Path | None, shared_dir: Path | None) -> pd.DataFrame:
    """A dataset written by `surrogate data ingest`, or the shared datasets ingested in memory."""
    from surrogate.ingest import load_shared
    from surrogate.ingest.store import default_data_dir, has_table, read_table

    if data_dir is not None:
        return read_table(data_dir)
    if shared_dir is None and has_table(default_data_dir()):
        logging.getLogger(__name__).info("training on the dataset in %s", default_data_dir())
        return read_table(default_data_dir())
    return load_shared(shared_dir).table


_DATA_OPTIONS = [
    click.option("--data", "data_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Dataset written by `surrogate data ingest` (default: $SURROGATE_DATA_DIR or ./surrogate-data "
                      "if it exists, else the shared datasets)."),
    click.option("--shared", "shared_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                 help="Use the shared datasets directory (default ../shared/datasets or $SURROGATE_SHARED_DIR)."),
]


def data_options(func: Command) -> Command:
    """--data and --shared: where training and evaluation read measurements from."""
    return apply_options(func, _DATA_OPTIONS)


def trust_model_file_option(func: Command) -> Command:
    """--trust-model-file: the opt-in to unpickle a --model-file this user never saved or trusted."""
    option = click.option("--trust-model-file", is_flag=True,
                          help="Load --model-file even though this user never saved or trusted it. Loading a model "
                               "file runs code it holds: only for files from a source you trust.")
    return option(func)
