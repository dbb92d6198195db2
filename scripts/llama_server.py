"""Start and stop a real llama.cpp server (``llama-server``) on 127.0.0.1 for tests and benchmarks.

The binary comes from ``scripts/build_llama_server.sh`` (``$SURROGATE_LLAMA_SERVER``, else the folder that
script builds into, else ``llama-server`` on the PATH). :func:`running_server` starts it on a free port with
``--parallel`` slots (continuous batching), waits until ``/health`` answers and stops it afterwards.

Usage: ``python scripts/llama_server.py MODEL.gguf [--parallel 4 --ctx 4096 --threads 2]`` serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

VERSION = "0.3.36"  # as in scripts/build_llama_server.sh
ALIAS = "tiny-llama"


class LlamaServerUnavailable(RuntimeError):
    """No llama-server binary, or it did not start."""


def find_binary() -> Path:
    """The llama-server to run; :class:`LlamaServerUnavailable` with the command that builds one."""
    override = os.environ.get("SURROGATE_LLAMA_SERVER")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    default = Path(os.environ.get("SURROGATE_LLAMA_DIR") or cache / "surrogate" / f"llama-server-{VERSION}")
    for candidate in [Path(override)] if override else [default / "llama-server"]:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("llama-server")
    if on_path and not override:
        return Path(on_path)
    raise LlamaServerUnavailable("no llama-server binary: build one with `bash scripts/build_llama_server.sh` "
                                 "(about 5 minutes on 2 cores) or set SURROGATE_LLAMA_SERVER")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_server(model: Path, parallel: int = 4, ctx: int = 4096, threads: int = 2,
                   startup_s: float = 60.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A llama-server serving ``model`` as ``tiny-llama``: yields (root URL, process); stopped on exit.

    ``ctx`` is the total context, shared by the ``parallel`` slots (``ctx / parallel`` per sequence).
    """
    binary = find_binary()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(binary), "-m", str(model), "--alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
               "--parallel", str(parallel), "--ctx-size", str(ctx), "--threads", str(threads), "--no-webui",
               "--seed", "0"]
    log = tempfile.TemporaryFile()  # a file, not a pipe: the server logs every request and would block
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_s
        while not _healthy(url):
            if process.poll() is not None:
                log.seek(0)
                error = log.read().decode("utf-8", "replace")[-2000:]
                raise LlamaServerUnavailable(f"llama-server exited with {process.returncode}: {error}")
            if time.monotonic() > deadline:
                raise LlamaServerUnavailable(f"llama-server did not answer on {url} within {startup_s:.0f} s")
            time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with running_server(args.model, args.parallel, args.ctx, args.threads) as (url, process):
        print(f"serving {args.model} as {ALIAS} at {url}/v1 (Ctrl-C stops)", flush=True)
        try:
            process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
