"""Reading the file of a historical import (`intake/importer.py`): a CSV in UTF-8 or GB18030
(the encoding found in one streaming pass that also counts the lines) or an Excel workbook in
openpyxl's read-only mode, as a header and lazily read rows. Never held in memory whole."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zipfile import BadZipFile

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from chengzhi.errors import InvalidInput
from chengzhi.readers import ENCODINGS

CHUNK = 1 << 20


@dataclass
class Table:
    """A file's header and its data rows as (row number, cells), read lazily."""

    header: list[str]
    rows: Iterator[tuple[int, tuple[Any, ...]]]
    total: int  # data rows, as far as can be told before reading them (for the progress bar)
    encoding: str | None = None


@contextmanager
def open_table(path: Path) -> Iterator[Table]:
    if not path.is_file():
        raise InvalidInput(f"{path}: 文件不存在 (no such file)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with _csv(path) as table:
            yield table
    elif suffix == ".xlsx":
        with _xlsx(path) as table:
            yield table
    else:
        raise InvalidInput(f"{path}: 只支持 .csv 和 .xlsx (unsupported file type)")


@contextmanager
def _csv(path: Path) -> Iterator[Table]:
    encoding, lines = _sniff(path)
    with path.open(encoding=encoding, newline="") as f:
        reader = csv.reader(f)
        header = _header(path, next(reader, None))
        rows = _records(path, reader)
        yield Table(header, rows, max(lines - 1, 0), encoding.removesuffix("-sig"))


def _records(path: Path, reader: Iterator[list[str]]) -> Iterator[tuple[int, tuple[str, ...]]]:
    """(row number, cells) of the non-empty rows. A row the CSV reader cannot parse stops the
    import there, naming it: what follows cannot be read reliably. Batches before it are kept."""
    number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise InvalidInput(
                f"{path.name}: 第 {number + 1} 行无法解析 (row {number + 1}: malformed CSV: {e})"
            ) from e
        number += 1
        if any(cells):
            yield number, tuple(cells)


def _sniff(path: Path) -> tuple[str, int]:
    """The file's encoding (UTF-8 first: GB18030 text is almost never valid UTF-8, while nearly
    any bytes are GB18030) and its number of lines, in one streaming pass."""
    decoders = {e: codecs.getincrementaldecoder(e)() for e in ENCODINGS}
    valid = dict.fromkeys(ENCODINGS, True)
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
            for encoding, decoder in decoders.items():
                valid[encoding] = valid[encoding] and _decodes(decoder, chunk)
    for encoding in ENCODINGS:
        if valid[encoding] and _decodes(decoders[encoding], b"", final=True):
            return encoding, lines + (last != b"\n")
    raise InvalidInput(f"{path}: 无法识别的文件编码 (not UTF-8 or GB18030)")


def _decodes(decoder: codecs.IncrementalDecoder, chunk: bytes, final: bool = False) -> bool:
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError:
        return False
    return True


@contextmanager
def _xlsx(path: Path) -> Iterator[Table]:
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (BadZipFile, InvalidFileException, KeyError, OSError) as e:
        raise InvalidInput(f"{path}: 无法读取 Excel 文件 (cannot read the workbook)") from e
    try:
        sheet = book.worksheets[0]
        cells = sheet.iter_rows(values_only=True)
        first = next(cells, None)
        header = _header(path, [cell_text(c) for c in first] if first else None)
        rows = (
            (n, row)
            for n, row in enumerate(cells, start=2)
            if any(c is not None and cell_text(c) for c in row)
        )
        yield Table(header, rows, max((sheet.max_row or 1) - 1, 0))
    finally:
        book.close()


def _header(path: Path, cells: list[str] | None) -> list[str]:
    header = [c.strip().lstrip("\ufeff") for c in cells or []]
    if not any(header):
        raise InvalidInput(f"{path}: 文件为空或没有表头 (empty file or no header row)")
    return header


def cell_text(value: Any) -> str:
    """A cell as text: Excel hands numbers over as numbers (an order number 2024030500012 as an
    int, sometimes as a float)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
