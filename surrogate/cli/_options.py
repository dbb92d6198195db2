"""Flags shared by several commands, and turning them (or a user's CSV) into configuration tables.

pandas and the ingest package are imported inside the functions that use them: defining the flags
must stay cheap, since every ``surrogate --help`` does it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from features.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["apply_options", "config_options", "config_frame", "data_options", "training_table", "read_configs_csv"]


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
        click.option("--framework", default="vllm", show_default=True,
                     help="vllm, tensorrt-llm, sglang, llama.cpp, deepspeed-mii, deepspeed, sambaflow."),
        click.option("--framework-version", default=None,
                     help="Engine release (e.g. 0.19.0) or a date YYYY-MM-DD (the engine as of then); "
                          "default: the newest the model was trained on."),
        click.option("--weight-dtype", default=None, help="fp16, bf16, fp8, int8, int4, fp4 (default: checkpoint)."),
        click.option("--kv-dtype", default="fp16", show_default=True, help="KV-cache precision."),
        click.option("--batching", type=click.Choice(["static", "continuous"]), default=None,
                     help="Static batch, or continuous serving (default: continuous if --concurrency is given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Sequences in a static batch."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None,
                     help="Requests in flight per replica under continuous batching (default: batch size)."),
        click.option("--input-len", type=click.IntRange(min=1), required=required,
                     help="Prompt tokens per request."),
        click.option("--output-len", type=click.IntRange(min=1), required=required,
                     help="Generated tokens per request."),
    ]
    return apply_options(func, options)


def config_frame(params: dict[str, Any]) -> pd.DataFrame:
    """One configuration row from the deployment flags (tp from --num-devices when only that is given)."""
    import pandas as pd

    row = {
        "hardware": params["hardware"], "model": params["model"], "framework": params["framework"],
        "framework_version": params.get("framework_version"),
        "tp": params["tp"], "pp": params["pp"], "dp": params["dp"], "ep": params["ep"],
        "weight_dtype": params["weight_dtype"], "kv_dtype": params["kv_dtype"],
        "batching": params["batching"] or ("continuous" if params["concurrency"] else "static"),
        "batch_size": params["batch_size"],
        "concurrency": params["concurrency"], "input_len": params["input_len"],
        "output_len": params["output_len"],
    }
    if params["num_devices"] is not None:
        row["num_devices"] = params["num_devices"]
        if params["tp"] is None:
            row.pop("tp")
    elif params["tp"] is None:
        row["tp"] = 1
    return pd.DataFrame([row])




def read_configs_csv(path: Path) -> pd.DataFrame:
    """Configurations from a user's CSV; a malformed file is a DataError naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from exc


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
