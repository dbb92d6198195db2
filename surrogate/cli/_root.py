"""The root command group: flags every command shares, logging, and errors mapped to exit codes.

Exit codes: 0 ok, 1 failure (``SurrogateError``: infeasible, bad data), 2 usage error (``ConfigError``:
unknown names, bad flag values). No traceback for user mistakes unless ``--debug``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from features.errors import ConfigError, SurrogateError
from surrogate import __version__

__all__ = ["cli", "main", "stdout", "stderr", "progress_spinner"]

# Results go to stdout: the terminal's width, or 160 columns when it is a file or pipe (rich would
# wrap tables at 80 and break their labels). Progress and notes go to stderr.
_PIPE_WIDTH = 160
stdout = Console() if Console().is_terminal else Console(width=_PIPE_WIDTH)
stderr = Console(stderr=True)


def progress_spinner() -> Progress:
    """A spinner with the step's name and the time elapsed, on stderr, gone when done."""
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=stderr,
                    transient=True)


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
                        handlers=[RichHandler(console=stderr, show_path=False)], force=True)


def main() -> None:
    """Console-script entry point."""
    # LightGBM's OpenMP threads spin while idle; on a busy 2-core machine that made one fit take 136 s
    # instead of 1.6 s. Passive waiting must be chosen before LightGBM loads the OpenMP runtime.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        cli.main(prog_name="surrogate", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover - interactive only
        sys.exit(130)
