"""Start a throwaway PostgreSQL server for multi-worker `surrogate optimize`: python scripts/throwaway_postgres.py

Initialises a cluster in a temp directory (trust auth, listening on 127.0.0.1 only, a free port),
prints its URL for ``--storage`` and runs until Ctrl-C, then stops it and deletes the directory.
Needs PostgreSQL's server binaries (Debian: ``apt-get install postgresql``) and, for optuna, a driver
(``pip install "psycopg[binary]"``, the one SQLAlchemy 2.1 picks for ``postgresql://``). ``initdb``
refuses to run as root, so as root the server runs as the ``postgres`` user. The test of shared
studies (tests/test_postgres.py) and ``benchmarks/optimize_workers.py`` start theirs with
:func:`throwaway_server`.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def _binary(name: str) -> str:
    found = shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [None])[-1]
    if found is None:
        raise PostgresUnavailable(f"{name} is not installed (Debian: apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_server() -> Iterator[str]:
    """A running server for the duration of the block; yields ``postgresql://surrogate@127.0.0.1:PORT/postgres``."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="surrogate-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, user="postgres")
    data, port = root / "data", _free_port()
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "surrogate", "--no-sync"],
                       check=True, capture_output=True)
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w",
                        "start"], check=True, capture_output=True)
        try:
            yield f"postgresql://surrogate@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` cleans up like Ctrl-C
    try:
        with throwaway_server() as url:
            print(url, flush=True)
            print("running; Ctrl-C stops it and deletes its data", file=sys.stderr, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
    except PostgresUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(exc.cmd)} failed: {exc.stderr.decode(errors='replace').strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
