"""Place names (地名) as the gazetteer reads them: full-width characters folded to ASCII, grid
numbers in Chinese numerals written in digits (第三网格 → 第3网格), and the short forms a
region answers to (解放碑街道 → 解放碑, 秀山土家族苗族自治县 → 秀山县 → 秀山).
See `regions/gazetteer.py`."""

from __future__ import annotations

import re

MIN_NAME = 2  # shorter names are never matched

# Full-width ASCII (ＡＢＣ１２３（）) and the ideographic space as plain ASCII: one for one.
_FOLD = str.maketrans({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)} | {0x3000: 0x20})
_CN_GRID = re.compile(r"第([一二两三四五六七八九十百〇零]+)(?=号?网格)")
_CN_DIGITS = {"〇": 0, "零": 0, "两": 2} | {c: i for i, c in enumerate("一二三四五六七八九", 1)}
# Suffixes stripped again and again while a stem of 2+ characters stays, and what they become
# unless the stem ends so already (增兴窑村委会 → 增兴窑村, 河头村村民委员会 → 河头村).
_TAILS: dict[str, tuple[tuple[str, str], ...]] = {
    "city": (("市", ""),),
    "district": (("新区", ""), ("区", ""), ("县", ""), ("市", ""), ("旗", "")),
    "street": (("街道办事处", ""), ("办事处", ""), ("街道", ""), ("镇", ""), ("乡", "")),
    "community": (
        ("居民委员会", "社区"),
        ("村民委员会", "村"),
        ("委员会", ""),
        ("居委会", "社区"),
        ("村委会", "村"),
        ("筹备组", ""),
        ("社区", ""),
        ("村", ""),
    ),
}
_ETHNIC = re.compile(r"^(.{2,}?)(?:[^族]{1,4}族)+(自治县|自治旗|乡|镇)$")  # 秀山土家族苗族自治县
_JUNK = re.compile(r"^第?\d+$")  # 第3 (from 第3街道) names nothing


def fold(text: str) -> str:
    return text.translate(_FOLD)


def short_forms(name: str, level: str) -> list[str]:
    """The shorter names a region answers to, longest first: 解放碑街道 → [解放碑]. Never one of
    fewer than 2 characters, nor a bare number."""
    out: list[str] = []
    current = fold(name)
    ethnic = _ETHNIC.match(current)
    if ethnic:
        current = ethnic[1] + ethnic[2][-1]
        out.append(current)
    tails = _TAILS.get(level, ())
    while True:
        tail = next((t for t in tails if current.endswith(t[0])), None)
        if tail is None or len(current) - len(tail[0]) < MIN_NAME:
            break
        stem = current[: -len(tail[0])]
        current = stem if stem.endswith(tail[1]) else stem + tail[1]
        out.append(current)
    return [f for f in out if len(f) >= MIN_NAME and not _JUNK.match(f)]


def _cn_number(numeral: str) -> int:
    """三 → 3, 十二 → 12, 二十 → 20, 一百零五 → 105."""
    total = digit = 0
    for ch in numeral:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        else:
            total += (digit or 1) * (10 if ch == "十" else 100)
            digit = 0
    return total + digit


def normalise(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """The folded text with 第三网格 written 第3网格, and (when that changed lengths) where each
    character came from in the original."""
    text = fold(text)
    if "网格" not in text or not _CN_GRID.search(text):
        return text, None
    pieces: list[str] = []
    origin: list[tuple[int, int]] = []
    last = 0
    for m in _CN_GRID.finditer(text):
        pieces.append(text[last : m.start(1)])
        origin.extend((i, i + 1) for i in range(last, m.start(1)))
        digits = str(_cn_number(m[1]))
        pieces.append(digits)
        origin.extend([(m.start(1), m.end(1))] * len(digits))
        last = m.end(1)
    pieces.append(text[last:])
    origin.extend((i, i + 1) for i in range(last, len(text)))
    return "".join(pieces), origin
