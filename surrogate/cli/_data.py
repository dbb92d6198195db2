"""``surrogate data``: the group, whose subcommands (and the ingest package under them) load when it runs.

``surrogate --help`` lists this group without importing pandas, pyarrow or the source adapters;
``surrogate data ...`` loads ``_data_commands``.
"""

from __future__ import annotations

import click

__all__ = ["data"]


class _DataGroup(click.Group):
    """Adds the subcommands from ``surrogate.cli._data_commands`` the first time they are asked for."""

    def _load(self) -> None:
        if not self.commands:
            from surrogate.cli._data_commands import COMMANDS

            for command in COMMANDS:
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group("data", cls=_DataGroup)
def data() -> None:
    """Ingest measurements into one canonical table, summarise it, fetch upstream data."""
