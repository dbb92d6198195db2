"""What every adapter shares: its output, the context a user passes, and line-accurate CSV reading.

An adapter turns files into candidate canonical rows (``records``) plus the rows it cannot use
(``rejections``) and remarks on rows it kept (``notes``). Labels stay as written; the common checks
in :mod:`surrogate.ingest.checks` resolve them against the catalog.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from features.errors import DataError
from surrogate.ingest.account import Note, Rejection

__all__ = ["AdapterOutput", "IngestContext", "CsvRow", "RowSink", "read_csv_rows", "not_text", "number", "whole",
           "source_fields_json", "relative_name"]


@dataclass(frozen=True)
class IngestContext:
    """Facts about a run that a result file may not record (``surrogate data ingest`` flags).

    ``None`` means "not given"; a file's own metadata fills it, and a conflict rejects the row.
    """

    hardware: str | None = field(default=None, metadata={"help": "accelerator the benchmark ran on"})
    model: str | None = field(default=None, metadata={"help": "model id (overrides nothing the file states)"})
    framework: str | None = field(default=None, metadata={"help": "serving engine (vllm, sglang, ...)"})
    framework_version: str | None = field(default=None, metadata={"help": "engine version"})
    num_devices: int | None = field(default=None, metadata={"help": "devices in total"})
    tp: int | None = field(default=None, metadata={"help": "tensor-parallel degree"})
    pp: int | None = field(default=None, metadata={"help": "pipeline-parallel degree"})
    dp: int | None = field(default=None, metadata={"help": "data-parallel replicas"})
    ep: int | None = field(default=None, metadata={"help": "expert-parallel degree"})
    weight_dtype: str | None = field(default=None, metadata={"help": "weight format"})
    kv_dtype: str | None = field(default=None, metadata={"help": "KV-cache format"})
    input_len: int | None = field(default=None, metadata={"help": "prompt tokens per request"})
    output_len: int | None = field(default=None, metadata={"help": "generated tokens per request"})
    batch_size: int | None = field(default=None, metadata={"help": "static batch size"})
    concurrency: int | None = field(default=None, metadata={"help": "requests in flight"})

    def given(self) -> dict[str, Any]:
        """The fields the user set."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass
class AdapterOutput:
    """Candidate rows of one source, in canonical columns with labels as written."""

    records: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return len(self.records) + len(self.rejections)


class RowSink:
    """Collects one file's records, rejected rows and notes, each tagged with the file and line."""

    def __init__(self, file_label: str) -> None:
        self.file = file_label
        self.records: list[dict[str, Any]] = []
        self.rejections: list[Rejection] = []
        self.notes: list[Note] = []

    def reject(self, row: CsvRow, reason: str) -> None:
        self.rejections.append(Rejection(self.file, row.line, reason))

    def note(self, row: CsvRow, message: str) -> None:
        self.notes.append(Note(self.file, row.line, message))


@dataclass(frozen=True)
class CsvRow:
    """One data row of a CSV file with its 1-based physical line number."""

    line: int
    values: dict[str, str]


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (the file name when ``root`` is the file)."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.name
    return path.name if str(rel) == "." else rel.as_posix()


# What separates the fields when the header has no comma: spreadsheets export ';' where the decimal mark is a
# comma, and tab-separated tables are common. A header with a comma is read as a CSV.
_OTHER_DELIMITERS = (";", "\t", "|")


def _delimiter(handle: TextIO) -> str:
    """The field separator of the file ``handle`` is open on, from its first line, which is put back."""
    first = handle.readline()
    handle.seek(0)
    if "," in first:
        return ","
    return next((d for d in _OTHER_DELIMITERS if d in first), ",")


def read_csv_rows(path: Path, file_label: str) -> tuple[list[str], Iterator[CsvRow | Rejection]]:
    """Header (names stripped of surrounding spaces) and the data rows of a CSV file.

    Fields are separated by commas, or by ';', tabs or '|' where the header has no comma. Blank lines are
    skipped but counted, so ``line`` is the physical line (header = 1); a line of separators
    only (empty fields) is a row, so it is listed with its reason rather than dropped. A row with the
    wrong number of fields, or bytes that are not UTF-8, comes back as a :class:`Rejection` instead of
    a row. A header that is not UTF-8 or names a column twice is a ``DataError``: no row of such a
    file can be read as meant.
    """
    try:
        # surrogateescape keeps undecodable bytes (a Latin-1 or binary file) as lone surrogates, so
        # only the rows that hold them are rejected.
        handle = path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(handle, delimiter=_delimiter(handle))
    try:
        header = next(reader)
    except StopIteration:
        handle.close()
        return [], iter(())
    except csv.Error as exc:
        handle.close()
        raise DataError(f"{file_label}:1: cannot parse the header: {exc}") from exc
    names = [h.strip() for h in header]
    try:
        _check_header(names, file_label)
    except DataError:
        handle.close()
        raise

    def rows() -> Iterator[CsvRow | Rejection]:
        with handle:
            start = reader.line_num + 1
            while True:
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield Rejection(file_label, reader.line_num, f"cannot parse the line: {exc}")
                    start = reader.line_num + 1
                    continue
                line, start = start, reader.line_num + 1
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue  # a blank line; a row of empty fields (",,,") is a row, and is listed if unusable
                if len(cells) != len(names):
                    yield Rejection(file_label, line, f"expected {len(names)} fields, found {len(cells)}")
                    continue
                undecodable = not_text(cells)
                if undecodable:
                    yield Rejection(file_label, line, f"not UTF-8 text ({undecodable}); save the file as UTF-8")
                    continue
                yield CsvRow(line, {n: c.strip() for n, c in zip(names, cells, strict=True)})

    return names, rows()


# Bytes a text table cannot hold: those that were not UTF-8 (kept as lone surrogates) and NUL.
_NOT_TEXT = re.compile("[\udc80-\udcff\x00]")


def not_text(cells: list[str]) -> str:
    """'byte 0xe9 in field 3' for the first byte that was not UTF-8 (read with ``surrogateescape``) or
    was NUL, or ''."""
    for position, cell in enumerate(cells, start=1):
        found = _NOT_TEXT.search(cell)
        if found:
            return f"byte {max(ord(found.group()) - 0xdc00, 0):#04x} in field {position}"
    return ""


def _check_header(names: list[str], file_label: str) -> None:
    """``DataError`` for a header with bytes that are not UTF-8 or a column named twice."""
    undecodable = not_text(names)
    if undecodable:
        raise DataError(f"{file_label}:1: the header is not UTF-8 text ({undecodable}): is this a "
                        "CSV file? Save it as UTF-8")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name and name in seen:
            raise DataError(f"{file_label}:1: column '{name}' appears twice (fields {seen[name]} and {position}); "
                            "keep one")
        seen[name] = position


def number(text: Any) -> float | None:
    """A finite float from a cell, or ``None`` when it is blank, 'None', 'nan' or not a number."""
    if text is None:
        return None
    if isinstance(text, int | float):
        value = float(text)
        return value if math.isfinite(value) else None
    stripped = str(text).strip()
    if not stripped or stripped.lower() in {"none", "nan", "null", "na", "n/a"}:
        return None
    try:
        value = float(stripped)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def whole(text: Any) -> int | None:
    """A whole number from a cell ('4', '4.0'), or ``None`` when it is blank or not whole."""
    value = number(text)
    if value is None or value != round(value):
        return None
    return int(round(value))


def source_fields_json(values: dict[str, Any], used: set[str]) -> str | None:
    """JSON of the fields an adapter did not map, so nothing in the source is lost (``None`` if empty)."""
    extra = {k: v for k, v in values.items() if k not in used and v not in ("", None)}
    return json.dumps(extra, sort_keys=True) if extra else None
