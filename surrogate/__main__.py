"""``python -m surrogate`` runs the command line (used by tests that start separate processes)."""

from surrogate.cli import main

if __name__ == "__main__":
    main()
