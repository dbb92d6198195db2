"""The ``surrogate`` command and ``python -m surrogate``: the floating-point path pinned, then the command line.

The pin (``surrogate.float_paths``) must precede numpy's import, which ``surrogate.cli`` brings: so that
``surrogate train`` and ``evaluate`` give the same bits on any x86-64 machine, as the shipped bundle's scripts do.
"""

from surrogate.float_paths import pin_float_paths


def main() -> None:
    """Console-script entry point."""
    pin_float_paths()
    from surrogate.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
