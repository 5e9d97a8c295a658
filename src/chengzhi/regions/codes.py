"""Statistical division codes (统计用区划代码), pure functions.

A code is stored with its significant digits only: province 2, prefecture 4, district/county 6,
street/town 9, community/village 12, grid 15 (community code + 3-digit sequence)."""

from __future__ import annotations

from chengzhi.models import Level, RegionKind

LENGTHS = (2, 4, 6, 9, 12, 15)
LEVEL_BY_LENGTH = {6: Level.DISTRICT, 9: Level.STREET, 12: Level.COMMUNITY, 15: Level.GRID}
# Province-level municipalities (直辖市): their 2-digit code is the city itself.
MUNICIPALITIES = {"11", "12", "31", "50"}
# Grouping rows in the NBS files that are not governance units.
PLACEHOLDER_NAMES = {"市辖区", "县", "郊县", "省直辖县级行政区划", "自治区直辖县级行政区划"}


def shorten(code: str) -> str:
    """'120101001000' → '120101001': drop the zero padding NBS files use for upper levels."""
    code = code.strip()
    if len(code) != 12:
        return code
    for start, end in ((0, 2), (2, 4), (4, 6), (6, 9)):
        if code[end:].strip("0") == "" and code[start:end].strip("0") != "":
            return code[:end]
    return code


def check(code: str) -> str | None:
    """The reason a code is malformed, or None."""
    if not code.isascii() or not code.isdigit():
        return f"代码只能由数字组成 (code must be digits only): {code!r}"
    if len(code) not in LENGTHS:
        return f"代码长度应为 2/4/6/9/12/15 位 (bad code length {len(code)}): {code}"
    if not 11 <= int(code[:2]) <= 82:
        return f"省级代码 {code[:2]} 不存在 (no such province prefix): {code}"
    return None


def is_placeholder(code: str, name: str) -> bool:
    return name.strip() in PLACEHOLDER_NAMES and len(code) in (4, 6)


def parent_candidates(code: str) -> list[str]:
    """Proper prefixes of a code that could be its parent, nearest first."""
    return [code[:n] for n in reversed(LENGTHS) if n < len(code)]


def level_of(code: str, root: str) -> Level:
    return Level.CITY if code == root else LEVEL_BY_LENGTH[len(code)]


def kind_of(code: str, root: str) -> RegionKind:
    """Digits 7–9 tell a street from a town; digits 10–12 a community from a village."""
    level = level_of(code, root)
    if level is Level.STREET:
        seq = int(code[6:9])
        return _by_range(seq, RegionKind.STREET, RegionKind.TOWN, RegionKind.TOWNSHIP)
    if level is Level.COMMUNITY:
        seq = int(code[9:12])
        return _by_range(seq, RegionKind.COMMUNITY, RegionKind.COMMUNITY, RegionKind.VILLAGE)
    return RegionKind(level.value)


def _by_range(seq: int, low: RegionKind, mid: RegionKind, high: RegionKind) -> RegionKind:
    if seq < 100:
        return low
    if seq < 200:
        return mid
    if seq < 400:
        return high
    return RegionKind.SPECIAL


def infer_root(codes: dict[str, str]) -> str | None:
    """The city in a file: a municipality's 2-digit code, or the only prefecture-level code."""
    provinces = [c for c in codes if len(c) == 2]
    if len(provinces) == 1 and provinces[0] in MUNICIPALITIES:
        return provinces[0]
    prefectures = [c for c, n in codes.items() if len(c) == 4 and not is_placeholder(c, n)]
    return prefectures[0] if len(prefectures) == 1 else None
