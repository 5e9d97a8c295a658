"""Deterministic Chinese names for the demo city, from embedded word lists (nothing downloaded).

Every generator takes an `rng` with a `.random()` method returning a float in [0, 1) — a
`random.Random` or a `numpy.random.Generator` — so the same rng state gives the same name. Region
generators also take `taken`, the names already used among the siblings; the new name is added to
it and is never one of them.

The place names are invented but built the way real ones are: 杨家坪, 石桥铺, 化龙桥, 黄桷村 …
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Protocol

__all__ = [
    "community_name",
    "district_name",
    "grid_name",
    "person_name",
    "phone",
    "street_name",
    "town_name",
    "village_name",
]


class Rng(Protocol):
    def random(self) -> float: ...


def _pick(rng: Rng, items: Sequence[str]) -> str:
    return items[min(len(items) - 1, int(rng.random() * len(items)))]


class _Weighted:
    def __init__(self, pairs: Sequence[tuple[str, float]]) -> None:
        self.items = [p[0] for p in pairs]
        self.cumulative = list(accumulate(p[1] for p in pairs))

    def pick(self, rng: Rng) -> str:
        i = bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        return self.items[min(i, len(self.items) - 1)]


def _chars(text: str) -> tuple[str, ...]:
    """The distinct characters of `text`, in order."""
    return tuple(dict.fromkeys(text))


# ---------------------------------------------------------------------------------------------
# word lists

# Common surnames with rough frequencies (% of the population), most common first.
_SURNAMES = _Weighted(
    [
        ("王", 7.25), ("李", 7.19), ("张", 6.87), ("刘", 5.38), ("陈", 4.53), ("杨", 3.08),
        ("黄", 2.23), ("赵", 2.19), ("吴", 2.0), ("周", 1.9), ("徐", 1.45), ("孙", 1.38),
        ("马", 1.29), ("朱", 1.28), ("胡", 1.16), ("郭", 1.13), ("何", 1.06), ("高", 1.0),
        ("林", 0.97), ("罗", 0.86), ("郑", 0.82), ("梁", 0.8), ("谢", 0.67), ("宋", 0.6),
        ("唐", 0.59), ("许", 0.57), ("韩", 0.55), ("冯", 0.53), ("邓", 0.53), ("曹", 0.5),
        ("彭", 0.49), ("曾", 0.48), ("肖", 0.46), ("田", 0.45), ("董", 0.44), ("袁", 0.43),
        ("潘", 0.42), ("于", 0.41), ("蒋", 0.4), ("蔡", 0.39), ("余", 0.38), ("杜", 0.37),
        ("叶", 0.36), ("程", 0.35), ("苏", 0.34), ("魏", 0.33), ("吕", 0.32), ("丁", 0.31),
        ("任", 0.3), ("沈", 0.29), ("姚", 0.28), ("卢", 0.27), ("姜", 0.26), ("崔", 0.25),
        ("钟", 0.24), ("谭", 0.24), ("陆", 0.22), ("汪", 0.21), ("范", 0.2), ("金", 0.19),
        ("石", 0.18), ("廖", 0.18), ("贾", 0.16), ("夏", 0.15), ("韦", 0.14), ("付", 0.13),
        ("方", 0.12), ("白", 0.11), ("邹", 0.11), ("孟", 0.1), ("熊", 0.1), ("秦", 0.1),
        ("邱", 0.1), ("江", 0.1), ("尹", 0.1), ("薛", 0.09), ("闫", 0.09), ("段", 0.09),
        ("雷", 0.09), ("侯", 0.09), ("龙", 0.09), ("史", 0.08), ("陶", 0.08), ("黎", 0.08),
        ("贺", 0.08), ("顾", 0.07), ("毛", 0.07), ("郝", 0.07), ("龚", 0.07), ("邵", 0.07),
        ("万", 0.06), ("钱", 0.06), ("严", 0.06), ("覃", 0.06), ("武", 0.06), ("戴", 0.06),
        ("莫", 0.05), ("孔", 0.05), ("向", 0.05), ("汤", 0.05), ("冉", 0.04), ("牟", 0.03),
        ("欧阳", 0.03), ("司马", 0.005), ("诸葛", 0.004), ("上官", 0.004),
    ]
)  # fmt: skip

_GIVEN_MALE = _chars(
    "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林阳建国志文海东峰亮成晨博子轩睿泽"
    "然诚毅翔德兵江川松山晓云"
)
_GIVEN_FEMALE = _chars(
    "芳娜敏静丽艳娟霞秀英玲燕婷雪慧琳丹萍红梅莉倩颖佳欣怡雨涵思梦晓月琪薇妍玉兰凤洁蓉琴桂茜悦诗"
)

# Place-name building blocks.
_DISTRICT_FIRST = _chars(
    "江渝巴嘉龙云金清长青白宝凤华平安永新兴德明石桃松天玉双万丰定武文汉合临泰南北东西沙九大綦铜"
    "璧荣潼梁忠开奉秀黔彭垫涪渠岳通"
)
_DISTRICT_SECOND = _chars("中北南川山江阳陵州城岭坪安宁丰平源水湖桥口坝滩林峰河都津昌寿隆溪")
_SURNAME_PLACES = _chars("杨陈王李张刘黄赵周吴徐胡郭何高罗谢唐冯邓曹彭曾肖田袁蒋余杜叶程魏任谭廖")
_JIA_PLACES = _chars("坪桥湾坝岗沟院山嘴店场岩塘园坡")
_LEAD = _chars("一二三五七九十两大小上下新老高石白黄红青金银龙凤观化双沙马")
_MIDDLE = _chars("星龙里路石桥门溪峰坪马鹤凤音清阳柳松桂竹梅花洞水碑板牌树")
_PLACE = _chars("岗桥铺坝店口寺坪湾场门街园塘嘴庙关梁堡")
_MODERN_FIRST = _chars("人天华龙回兴双新民和宏翠朝南北东西中金玉碧云光长永建幸康福")
_MODERN_SECOND = _chars("和星新山兴凤湖阳安平华坪泉桥园峰苑林城港岸锦泰荣盛")
_ROAD = ("路", "街", "苑", "湾", "园", "桥", "坡", "巷")
_VILLAGE_FIRST = _chars(
    "黄桂石新红金龙双柏竹桐松杉桃李梨杨柳青清白高长大小上下团太永平凉观庙堰塘河溪"
)
_VILLAGE_SECOND = _chars("桷花板桥坝湾沟岩塘坪林山坡冲垭槽院丰和安平兴光星岭田井庙堡河溪水")
_ETHNIC = ("土家族自治县", "苗族土家族自治县", "土家族苗族自治县")


def _unique(make: Callable[[], str], taken: set[str], fallback: Callable[[int], str]) -> str:
    for _ in range(200):
        name = make()
        if name not in taken:
            taken.add(name)
            return name
    n = 2
    while (name := fallback(n)) in taken:
        n += 1
    taken.add(name)
    return name


def _two(rng: Rng, first: Sequence[str], second: Sequence[str]) -> str:
    a = _pick(rng, first)
    b = _pick(rng, second)
    while b == a:
        b = _pick(rng, second)
    return a + b


def _three(rng: Rng) -> str:
    """化龙桥, 七星岗, 石桥铺 …"""
    a = _pick(rng, _LEAD)
    b = _pick(rng, _MIDDLE)
    while b == a:
        b = _pick(rng, _MIDDLE)
    c = _pick(rng, _PLACE)
    while c == b:
        c = _pick(rng, _PLACE)
    return a + b + c


def _jia(rng: Rng) -> str:
    """杨家坪, 陈家湾 …"""
    return _pick(rng, _SURNAME_PLACES) + "家" + _pick(rng, _JIA_PLACES)


# ---------------------------------------------------------------------------------------------
# region names


def district_name(rng: Rng, taken: set[str], *, kind: str = "district") -> str:
    """'嘉陵区' (kind 'district'), '云丰县' ('county') or '秀山土家族自治县' ('autonomous')."""
    suffixes = {"district": ("区",), "county": ("县",), "autonomous": _ETHNIC}
    if kind not in suffixes:
        raise ValueError(f"unknown district kind {kind!r}")
    suffix = suffixes[kind]

    def make() -> str:
        return _two(rng, _DISTRICT_FIRST, _DISTRICT_SECOND) + _pick(rng, suffix)

    return _unique(make, taken, lambda n: f"新{_two(rng, _DISTRICT_FIRST, _DISTRICT_SECOND)}{n}区")


def street_name(rng: Rng, taken: set[str]) -> str:
    """'杨家坪街道', '化龙桥街道', '天星街道' …"""

    def make() -> str:
        r = rng.random()
        if r < 0.25:
            stem = _jia(rng)
        elif r < 0.6:
            stem = _three(rng)
        else:
            stem = _two(rng, _MODERN_FIRST, _MODERN_SECOND)
        return stem + "街道"

    return _unique(make, taken, lambda n: f"第{n}街道")


def town_name(rng: Rng, taken: set[str], *, township: bool = False) -> str:
    """'龙兴镇', '青木关镇', '石板乡' …"""
    suffix = "乡" if township else "镇"

    def make() -> str:
        r = rng.random()
        if r < 0.55:
            stem = _two(rng, _VILLAGE_FIRST + _MODERN_FIRST, _MODERN_SECOND + _VILLAGE_SECOND)
        elif r < 0.8:
            stem = _three(rng)
        else:
            stem = _jia(rng)
        return stem + suffix

    return _unique(make, taken, lambda n: f"第{n}{suffix}")


def community_name(rng: Rng, taken: set[str]) -> str:
    """'七星岗社区', '民生路社区', '桂花园社区', '陈家湾社区' …"""

    def make() -> str:
        r = rng.random()
        if r < 0.3:
            stem = _three(rng)
        elif r < 0.65:
            stem = _two(rng, _MODERN_FIRST, _MODERN_SECOND)
            road = _pick(rng, _ROAD)
            while road == stem[-1]:
                road = _pick(rng, _ROAD)
            stem += road
        elif r < 0.85:
            stem = _two(rng, _MODERN_FIRST, _MODERN_SECOND)
        else:
            stem = _jia(rng)
        return stem + "社区"

    return _unique(make, taken, lambda n: f"第{n}社区")


def village_name(rng: Rng, taken: set[str]) -> str:
    """'黄桷村', '石板村', '李家沟村', '新华村' …"""

    def make() -> str:
        r = rng.random()
        if r < 0.6:
            stem = _two(rng, _VILLAGE_FIRST, _VILLAGE_SECOND)
        elif r < 0.8:
            stem = _jia(rng)
        else:
            stem = _two(rng, _MODERN_FIRST, _MODERN_SECOND)
        return stem + "村"

    return _unique(make, taken, lambda n: f"第{n}村")


def grid_name(community: str, seq: int) -> str:
    """'七星岗社区第3网格' — grids are numbered 1… within their community in reading order."""
    return f"{community}第{seq}网格"


# ---------------------------------------------------------------------------------------------
# people


def person_name(rng: Rng) -> str:
    """'王伟', '李晓婷', '欧阳思雨' …: weighted surname, then one (30 %) or two given characters."""
    surname = _SURNAMES.pick(rng)
    pool = _GIVEN_MALE if rng.random() < 0.5 else _GIVEN_FEMALE
    first = _pick(rng, pool)
    if rng.random() < 0.3:
        return surname + first
    second = _pick(rng, pool)
    if second == first and rng.random() < 0.7:  # 婷婷 happens, but not that often
        second = _pick(rng, pool)
    return surname + first + second


_MOBILE_PREFIXES = _Weighted(
    [(str(p), 3.0) for p in range(130, 140)]
    + [(str(p), 2.5) for p in (150, 151, 152, 153, 155, 156, 157, 158, 159)]
    + [(str(p), 2.5) for p in range(180, 190)]
    + [(str(p), 1.0) for p in (166, 173, 175, 176, 177, 178, 191, 195, 198, 199)]
    + [("147", 0.5), ("170", 0.3), ("171", 0.2)]
)


def phone(rng: Rng) -> str:
    """A plausible 11-digit mainland mobile number, e.g. '13812345678'."""
    return _MOBILE_PREFIXES.pick(rng) + f"{min(99_999_999, int(rng.random() * 100_000_000)):08d}"
