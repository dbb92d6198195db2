"""The ``surrogate`` command: click wiring only, one module per command family.

``_root`` holds the group, logging and the error-to-exit-code mapping; ``_model`` estimate, train,
evaluate, predict and trust; ``_optimize`` optimize; ``_data`` the ``data`` group; ``_bench`` bench and
hardware; ``_options`` shared flags.
"""

from surrogate.cli._bench import bench, hardware
from surrogate.cli._data import data
from surrogate.cli._model import compile_command, estimate, evaluate, predict, train, trust
from surrogate.cli._optimize import optimize_command
from surrogate.cli._root import cli, main

for _command in (estimate, train, evaluate, predict, trust, compile_command, data, optimize_command, bench, hardware):
    cli.add_command(_command)

__all__ = ["cli", "main"]
