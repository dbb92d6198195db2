"""Command-line wiring only: parse flags, call the library, print, map errors to exit codes.

Exit codes: 0 ok, 1 failure (SurrogateError: infeasible, bad data), 2 usage error (unknown names,
bad flag values). No traceback for user mistakes unless ``--debug``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import pandas as pd
from rich.console import Console

from features.analytic import estimate as analytic_estimate
from features.configs import normalize_configs
from features.errors import ConfigError, SurrogateError
from surrogate import __version__
from surrogate.advice import fit_alternatives
from surrogate.report import describe_config, estimate_table, print_json

_stdout = Console()
_stderr = Console(stderr=True)


class _Group(click.Group):
    """Turns library errors into click errors so users see one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.UsageError(str(exc)) from None
        except SurrogateError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="surrogate")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Predict and optimise LLM inference deployments."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(message)s",
                        handlers=[RichHandler(console=_stderr, show_path=False)], force=True)


def _config_options(func: Any) -> Any:
    """Flags that describe one deployment (shared by estimate and, later, predict)."""
    options = [
        click.option("--model", required=True, help="HF model id, alias, or path to a config.json."),
        click.option("--hardware", required=True, help="Accelerator, e.g. h100-sxm, a100-sxm4-80gb, mi300x."),
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
        click.option("--weight-dtype", default=None, help="fp16, bf16, fp8, int8, int4, fp4 (default: checkpoint)."),
        click.option("--kv-dtype", default="fp16", show_default=True, help="KV-cache precision."),
        click.option("--batching", type=click.Choice(["static", "continuous"]), default=None,
                     help="Static batch, or continuous serving (default: continuous if --concurrency is given)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
                     help="Sequences in a static batch."),
        click.option("--concurrency", type=click.IntRange(min=1), default=None,
                     help="Requests in flight per replica under continuous batching (default: batch size)."),
        click.option("--input-len", type=click.IntRange(min=1), required=True, help="Prompt tokens per request."),
        click.option("--output-len", type=click.IntRange(min=1), required=True,
                     help="Generated tokens per request."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config_frame(params: dict[str, Any]) -> pd.DataFrame:
    row = {
        "hardware": params["hardware"], "model": params["model"], "framework": params["framework"],
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


@cli.command()
@_config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def estimate(as_json: bool, **params: Any) -> None:
    """Analytic (roofline) estimate for one deployment.

    Example: surrogate estimate --model meta-llama/Meta-Llama-3-8B --hardware h100-sxm
    --num-devices 2 --tp 2 --batch-size 16 --input-len 1024 --output-len 256
    """
    config = normalize_configs(_config_frame(params))
    result = analytic_estimate(config, normalized=True).iloc[0]
    row = config.iloc[0]
    if as_json:
        print_json({"config": row.to_dict(), "estimate": result.to_dict()})
    else:
        _stdout.print(describe_config(row), soft_wrap=True)
        _stdout.print(estimate_table(result))
    if not bool(result["fits"]):
        over = result["mem_per_device_gb"] - result["mem_usable_gb"]
        alternatives = fit_alternatives(config)
        hint = f" Would fit: {'; '.join(alternatives)}." if alternatives else ""
        raise click.ClickException(
            f"does not fit: needs {result['mem_per_device_gb']:.1f} GB per device, "
            f"{result['mem_usable_gb']:.1f} GB usable on {row['hardware']} ({over:.1f} GB over).{hint}"
        )


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="surrogate", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
