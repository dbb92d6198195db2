"""The root command group: flags every command shares, logging, and errors mapped to exit codes.

Exit codes: 0 ok, 1 failure (``SurrogateError``: infeasible, bad data; an ``OSError`` writing or reading
a file), 2 usage error (``ConfigError``: unknown names, bad flag values, impossible requests). No
traceback unless ``--debug``, not even for a bug: that is one "unexpected ..." line asking for a report.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from features.errors import ConfigError, SurrogateError
from surrogate import __version__

__all__ = ["cli", "main", "stdout", "stderr", "progress_bar"]

# Results go to stdout: the terminal's width, or 160 columns when it is a file or pipe (rich would
# wrap tables at 80 and break their labels). Progress and notes go to stderr.
_PIPE_WIDTH = 160
stdout = Console() if Console().is_terminal else Console(width=_PIPE_WIDTH)
stderr = Console(stderr=True)


def progress_bar() -> Progress:
    """The step under way, a bar of the fraction done, elapsed and estimated remaining time, on stderr
    (gone when done): for work that reports ``(message, fraction)``."""
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                    TextColumn("remaining"), TimeRemainingColumn(), console=stderr, transient=True)


class _Group(click.Group):
    """Turns library errors into click errors so users see one line, not a traceback.

    ``ConfigError`` is a usage error (exit 2), any other ``SurrogateError`` a failure (exit 1). An
    ``OSError`` (a disk full, a file that cannot be written) is a failure naming the file. Anything
    else is a bug, still reported in one line (exit 1) with the hint to rerun with ``--debug``.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise _click_error(exc) from None


def _click_error(exc: Exception) -> click.ClickException:
    if isinstance(exc, ConfigError):
        return click.UsageError(str(exc))
    if isinstance(exc, SurrogateError):
        return click.ClickException(str(exc))
    if isinstance(exc, OSError) and exc.filename is not None:
        return click.ClickException(f"{exc.filename}: {exc.strerror or exc}")
    return click.ClickException(f"unexpected {type(exc).__name__}: {exc} (a bug: rerun with --debug for the "
                                "traceback and report it)")


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
