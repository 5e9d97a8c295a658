"""Reading the files cities hand us: CSV in UTF-8 or GB18030 (most Chinese government exports),
GeoJSON feature collections. Readers never touch the database; they report problems by line or
feature so an import can refuse a file with a message that names the place and the reason."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chengzhi.errors import InvalidInput

ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True, slots=True)
class CsvFile:
    path: Path
    encoding: str
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (line number, row keyed by header)


def decode(path: Path) -> tuple[str, str]:
    """The text of a file and the encoding that decoded it. UTF-8 is tried first: a GB18030 file
    of Chinese text is almost never valid UTF-8, while every byte string is 'valid' GB18030."""
    data = _read_bytes(path)
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise InvalidInput(f"{path}: 无法识别的文件编码 (not UTF-8 or GB18030)")


def read_csv(path: Path, aliases: dict[str, tuple[str, ...]]) -> CsvFile:
    """Rows keyed by canonical column names; `aliases` maps each canonical name to the headers a
    city's file may use for it (e.g. code ← 统计用区划代码). A file without a header row is read
    in the order of `aliases`."""
    text, encoding = decode(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    lines = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not lines:
        raise InvalidInput(f"{path}: 文件为空 (empty file)")
    header = _canonical_header(path, lines[0][1], aliases)
    if header is None:
        header, body = list(aliases), lines
    else:
        body = lines[1:]
    rows = [(n, dict(zip(header, (c.strip() for c in row), strict=False))) for n, row in body]
    return CsvFile(path, encoding, header, rows)


def _canonical_header(
    path: Path, first: list[str], aliases: dict[str, tuple[str, ...]]
) -> list[str] | None:
    cells = [c.strip().lstrip("\ufeff").lower() for c in first]
    if cells and cells[0].isdigit():
        return None
    lookup = {alias.lower(): name for name, names in aliases.items() for alias in (name, *names)}
    header = [lookup.get(cell, cell) for cell in cells]
    missing = [name for name in aliases if name not in header]
    if missing:
        raise InvalidInput(
            f"{path}:1: 缺少列 {', '.join(missing)} (missing columns; found {', '.join(first)})"
        )
    return header


def read_geojson(path: Path) -> Iterator[tuple[int, dict[str, Any], dict[str, Any] | None]]:
    """(index, properties, geometry) for each feature of a FeatureCollection."""
    text, _ = decode(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"{path}:{e.lineno}: 不是有效的 JSON (invalid JSON: {e.msg})") from e
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput(f"{path}: 需要 GeoJSON FeatureCollection (expected a FeatureCollection)")
    features = doc.get("features")
    if not isinstance(features, list):
        raise InvalidInput(f"{path}: features 必须是数组 (features must be a list)")
    for i, feature in enumerate(features):
        if not isinstance(feature, dict):
            yield i, {}, None
            continue
        props = feature.get("properties")
        yield i, props if isinstance(props, dict) else {}, feature.get("geometry")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise InvalidInput(f"{path}: 文件不存在 (no such file)") from e
    except IsADirectoryError as e:
        raise InvalidInput(f"{path}: 是目录而不是文件 (is a directory)") from e
