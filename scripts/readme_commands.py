"""Run every ``surrogate`` command the README shows and compare what they print with a stored copy.

Proof that a refactoring changed nothing users see: the first-screen command and every ``$ surrogate``
example are run at a fixed terminal width, as shown and with ``--json``; their exit codes and output are written to
``benchmarks/results/readme_commands.txt`` (``--write``) or diffed against it (the default, exit 1 on
any difference).

    python scripts/readme_commands.py --write   # record
    python scripts/readme_commands.py           # check
    python scripts/readme_commands.py --write --readme   # record, and put the outputs into README.md

``--readme`` replaces the output shown under each ``$ surrogate ...`` line of a README code block, and the
block under "What the first command prints", with what the command prints now (lines right-stripped; an
output shown as "..." keeps that and its last line on stdout), so the README cannot drift from what the code does.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
STORED = REPO_ROOT / "benchmarks" / "results" / "readme_commands.txt"
_WIDTH = "200"


def readme_commands(text: str) -> list[str]:
    """The first-screen main job and every ``$ surrogate ...`` line in a code block, then each with ``--json``."""
    commands: list[str] = []
    first = re.search(r"^python3 -m venv .venv && .*?&& (surrogate .*)$", text, flags=re.MULTILINE)
    if first:
        commands.append(first.group(1).strip())
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block and line.startswith("$ surrogate "):
            commands.append(line.removeprefix("$ ").strip())
    # The same commands with --json: every number they compute, not only those the tables round.
    commands += [f"{command} --json" for command in commands]
    return list(dict.fromkeys(commands))


def _printed(record: str) -> list[str]:
    """The output lines of one recorded run (without its ``$`` and ``[exit]`` lines), right-stripped."""
    lines = [line.rstrip() for line in record.splitlines()[2:]]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# How the CLI's own lines on stderr begin (``surrogate.cli``: notes and warnings beside a table).
_STDERR_PREFIXES = ("note: ", "warning: ")


def refresh_readme(text: str, records: dict[str, str]) -> str:
    """README text with every shown command output replaced by ``records`` (command -> recorded run)."""
    lines = text.splitlines()
    commands = readme_commands(text)
    first = commands[0] if commands else None
    out: list[str] = []
    in_block = replacing = first_block_next = False
    for index, line in enumerate(lines):
        if line.startswith("## What the first command prints"):
            first_block_next = True
        if line.startswith("```"):
            if not in_block and first_block_next and first in records:
                out += [line, *_printed(records[first])]
                first_block_next, in_block, replacing = False, True, True
                continue
            in_block, replacing = not in_block, False
            out.append(line)
            continue
        if in_block and line.startswith("$ "):
            command = line.removeprefix("$ ").strip()
            out.append(line)
            replacing = command in records
            if replacing:
                shown = lines[index + 1] if index + 1 < len(lines) else ""
                printed = _printed(records[command])
                # An output the README elides ("..." first) keeps its elision and its last line on stdout (the
                # record puts stderr's "note:" and "warning:" lines after it).
                on_stdout = [shown_line for shown_line in printed if not shown_line.startswith(_STDERR_PREFIXES)]
                out += ["...", (on_stdout or printed)[-1]] if shown == "..." and printed else printed
            continue
        if not replacing:
            out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def run(command: str, workdir: Path) -> str:
    """Exit code and combined output of one command, run with ``python -m surrogate``."""
    argv = [sys.executable, "-m", "surrogate", *shlex.split(command)[1:]]
    env = {**os.environ, "COLUMNS": _WIDTH, "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    return f"$ {command}\n[exit {done.returncode}]\n{done.stdout}{done.stderr}\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the outputs instead of checking them")
    parser.add_argument("--readme", action="store_true", help="with --write: also put the outputs into README.md")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    commands = readme_commands(text)
    with tempfile.TemporaryDirectory() as workdir:
        records = {command: run(command, Path(workdir)) for command in commands}
    output = "".join(records.values())
    if args.write and args.readme:
        README.write_text(refresh_readme(text, records), encoding="utf-8")
        print(f"refreshed the outputs shown in {README.relative_to(REPO_ROOT)}")
    if args.write:
        STORED.write_text(output, encoding="utf-8")
        print(f"recorded {len(commands)} commands in {STORED.relative_to(REPO_ROOT)}")
        return 0
    stored = STORED.read_text(encoding="utf-8")
    if stored == output:
        print(f"{len(commands)} README commands print the same as {STORED.relative_to(REPO_ROOT)}")
        return 0
    sys.stdout.writelines(difflib.unified_diff(stored.splitlines(keepends=True), output.splitlines(keepends=True),
                                               "stored", "now"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
