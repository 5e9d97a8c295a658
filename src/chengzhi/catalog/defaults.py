"""Load the default matter catalogue from `catalog/data/*.yaml` into frozen `Category` values.

Pure: files in, categories out, no database. Each file holds `defaults` and one or more sections
(`components`, `matters`, `topics`) of nested nodes. A node's missing attribute comes from its
nearest ancestor, then from the file's `defaults`; limits merge stage by stage; keywords are never
inherited; notes accumulate from the root down (docs/catalog.md). Every problem names the file and
the code, and all of them are reported at once."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_args

import yaml

from chengzhi.errors import InvalidInput, Problem
from chengzhi.models import LabelledEnum
from chengzhi.worktime import Limit, Unit

DATA_DIR = Path(__file__).with_name("data")
DEFAULT_FILES = (DATA_DIR / "urban_management.yaml", DATA_DIR / "hotline_topics.yaml")
SECTORS_FILE = Path(__file__).resolve().parents[1] / "orgs" / "sectors.yaml"


class Kind(LabelledEnum):
    COMPONENT = ("component", "管理部件", "component")
    MATTER = ("matter", "管理事项", "matter")
    TOPIC = ("topic", "诉求分类", "appeal topic")


class HandlingLevel(LabelledEnum):
    GRID = ("grid", "网格", "grid")
    COMMUNITY = ("community", "社区（村）", "community or village")
    STREET = ("street", "街道（乡镇）", "street or town")
    DISTRICT = ("district", "区县部门", "district department")
    CITY = ("city", "市级部门", "city department")


class DutyList(LabelledEnum):
    """The town's three lists (三张清单), seen from the street or town."""

    BASIC = ("basic", "基本履职事项（必须为）", "basic duty")
    COOPERATING = ("cooperating", "配合履职事项（配合为）", "cooperating duty")
    UPWARD = ("upward", "上级部门收回事项", "handed back to the departments")


SECTIONS = {"components": Kind.COMPONENT, "matters": Kind.MATTER, "topics": Kind.TOPIC}
STAGES = ("dispatch", "sign", "handle", "verify")
LIMIT_KEYS = ("limits", "urgent_limits", "critical_limits")
INHERITED = ("handling_level", "sector", "duty_list", "whistle", "reopen", "legal_basis")
NODE_KEYS = {"code", "name", "name_en", "keywords", "note", "children", "parent"}
NODE_KEYS |= set(INHERITED) | set(LIMIT_KEYS)
FILE_KEYS = {"title", "source", "defaults", *SECTIONS}
TERRITORIAL = {HandlingLevel.GRID, HandlingLevel.COMMUNITY, HandlingLevel.STREET}
# One scale to order limits of different units (urgent ≤ normal): rough elapsed hours, a working
# hour ≈ 3 wall-clock hours and a working day ≈ 24 (about 8 working hours a day; weekends and
# holidays ignored). Deadlines themselves come from chengzhi.worktime.
APPROX_HOURS = {"minutes": 1 / 60, "hours": 1.0, "working_hours": 3.0, "working_days": 24.0}
UNITS: tuple[str, ...] = get_args(Unit)
CODE_SHAPES = {  # code pattern per depth: GB/T 47678.5 major/minor classes; topics A, A01, A0101
    Kind.COMPONENT: (r"\d{2}", r"\d{5}"),
    Kind.MATTER: (r"\d{2}", r"\d{5}"),
    Kind.TOPIC: (r"[A-Z]", r"[A-Z]\d{2}", r"[A-Z]\d{4}"),
}
LAW_NAMES = re.compile(r"(《[^《》]+》)+")


class CatalogError(InvalidInput):
    """A catalogue file is malformed; `problems` lists every bad node (file, code, reason)."""

    def __init__(self, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"事项目录有误 (invalid catalogue): {shown}{more}", problems=problems)
        self.problems = problems


def approx_hours(limit: Limit) -> float:
    """A limit on one scale for ordering only (urgent ≤ normal); deadlines come from worktime."""
    return limit.amount * APPROX_HOURS[limit.unit]


@dataclass(frozen=True, slots=True)
class StageLimits:
    """A limit per stage: 派遣 (dispatch), 签收 (sign), 处置/办理 (handle), 核查/回访 (verify)."""

    dispatch: Limit
    sign: Limit
    handle: Limit
    verify: Limit

    def __getitem__(self, stage: str) -> Limit:
        return getattr(self, stage)


@dataclass(frozen=True, slots=True)
class Category:
    """One node of the catalogue with every attribute resolved (docs/catalog.md): `sector` is a
    department line of orgs/sectors.yaml or None for territorial handling (属地); `whistle` says
    whether a street may blow the whistle on it, `reopen` whether a resident may reopen it;
    `notes` run from the file's defaults down to this node; `source` is the file name."""

    kind: Kind
    code: str
    name: str
    name_en: str
    parent_code: str | None
    path: tuple[str, ...]
    is_leaf: bool
    handling_level: HandlingLevel
    sector: str | None
    limits: StageLimits
    urgent_limits: StageLimits
    critical_limits: StageLimits
    whistle: bool
    reopen: bool
    duty_list: DutyList
    legal_basis: str | None
    keywords: tuple[str, ...]
    notes: tuple[str, ...]
    source: str

    @property
    def level(self) -> int:
        return len(self.path)

    @property
    def key(self) -> str:
        """Unique across kinds: components and matters share GB/T codes such as 01001."""
        return f"{self.kind.value}:{self.code}"


def load_default_catalog() -> list[Category]:
    return list(_default_catalog())


@cache
def _default_catalog() -> tuple[Category, ...]:
    return tuple(load_catalog(DEFAULT_FILES))


def known_sectors(path: Path = SECTORS_FILE) -> frozenset[str]:
    return frozenset(row["code"] for row in yaml.safe_load(path.read_text("utf-8")))


def load_catalog(paths: Iterable[Path], sectors: Iterable[str] | None = None) -> list[Category]:
    """Read and check every file; raise one `CatalogError` listing all problems, or return all
    categories (groups and leaves, parents before children, in file order)."""
    loader = _Loader(frozenset(known_sectors() if sectors is None else sectors))
    for path in paths:
        loader.read_file(Path(path))
    if loader.problems:
        raise CatalogError(loader.problems)
    return loader.categories


def load_documents(
    docs: Iterable[tuple[str, Any]], sectors: Iterable[str] | None = None
) -> list[Category]:
    """As `load_catalog`, for documents already parsed (source name, YAML-shaped mapping): an
    Excel sheet converted to sections, an upload."""
    loader = _Loader(frozenset(known_sectors() if sectors is None else sectors))
    for source, doc in docs:
        loader.source = source
        loader.read_doc(doc)
    if loader.problems:
        raise CatalogError(loader.problems)
    return loader.categories


@dataclass
class _Node:
    raw: Mapping[str, Any]
    code: str
    parent: str | None


class _Loader:
    def __init__(self, sectors: frozenset[str]) -> None:
        self.sectors = sectors
        self.problems: list[Problem] = []
        self.categories: list[Category] = []
        self.seen: dict[tuple[Kind, str], str] = {}
        self.source = ""

    def fail(self, where: str, reason: str) -> None:
        self.problems.append(Problem(self.source, where, reason))

    def read_file(self, path: Path) -> None:
        self.source = str(path)
        try:
            doc = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            return self.fail("-", f"cannot read: {exc}")
        self.read_doc(doc)

    def read_doc(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            return self.fail("-", "the file must be a mapping with `defaults` and sections")
        for key in sorted(set(doc) - FILE_KEYS):
            self.fail("-", f"unknown key {key!r}")
        defaults = doc.get("defaults") or {}
        if not isinstance(defaults, dict):
            return self.fail("defaults", "`defaults` must be a mapping")
        self.check_attributes(
            "defaults", defaults, allowed=set(INHERITED) | set(LIMIT_KEYS) | {"note"}
        )
        root = self.inherit(
            {"limits": {}, "urgent_limits": {}, "critical_limits": {}, "notes": ()}, defaults
        )
        for section, kind in SECTIONS.items():
            if section in doc:
                self.read_section(kind, doc[section], root)

    def read_section(self, kind: Kind, entries: Any, root: dict[str, Any]) -> None:
        nodes: dict[str, _Node] = {}
        if not isinstance(entries, list):
            return self.fail(kind.value, "a section must be a list of nodes")
        for entry in entries:
            parent = entry.get("parent") if isinstance(entry, dict) else None
            if parent is not None and not isinstance(parent, str):
                self.fail(str(entry.get("code")), f"parent must be a quoted code, got {parent!r}")
                continue
            self.collect(kind, entry, parent, nodes)
        children: dict[str | None, list[_Node]] = {}
        for node in nodes.values():
            if node.parent is not None and node.parent not in nodes:
                self.fail(node.code, f"missing parent {node.parent!r}")
                continue
            children.setdefault(node.parent, []).append(node)
        for node in children.get(None, []):
            self.resolve(kind, node, root, (), children)

    def collect(self, kind: Kind, raw: Any, parent: str | None, nodes: dict[str, _Node]) -> None:
        if not isinstance(raw, dict):
            return self.fail(parent or kind.value, f"a node must be a mapping, got {raw!r}")
        code = raw.get("code")
        if not isinstance(code, str) or not code:
            where = f"{parent or kind.value} (child {raw.get('name', '?')})"
            return self.fail(where, f"code must be a non-empty quoted string, got {code!r}")
        if (kind, code) in self.seen:
            first = self.seen[(kind, code)]
            where = "" if first == self.source else f" (first in {first})"
            return self.fail(code, f"duplicate {kind.value} code{where}")
        self.seen[(kind, code)] = self.source
        nodes[code] = _Node(raw, code, parent)
        kids = raw.get("children", [])
        if not isinstance(kids, list):
            return self.fail(code, "children must be a list")
        for child in kids:
            if isinstance(child, dict) and "parent" in child:
                self.fail(
                    str(child.get("code")), "`parent` is only for top-level nodes of a section"
                )
            self.collect(kind, child, code, nodes)

    def resolve(
        self,
        kind: Kind,
        node: _Node,
        up: dict[str, Any],
        path: tuple[str, ...],
        children: dict[str | None, list[_Node]],
    ) -> None:
        before = len(self.problems)
        path = (*path, node.code)
        self.check_code(kind, node, path)
        self.check_attributes(node.code, node.raw, allowed=NODE_KEYS)
        for key in ("name", "name_en"):
            if not _text(node.raw.get(key)):
                self.fail(node.code, f"{key} must be a non-empty string")
        eff = self.inherit(up, node.raw)
        kids = children.get(node.code, [])
        self.check_effective(node.code, eff, is_leaf=not kids, keywords=node.raw.get("keywords"))
        if len(self.problems) == before:  # a node with problems yields no category
            self.categories.append(self.category(kind, node, eff, path, is_leaf=not kids))
        for child in kids:
            self.resolve(kind, child, eff, path, children)

    def check_code(self, kind: Kind, node: _Node, path: tuple[str, ...]) -> None:
        shapes = CODE_SHAPES[kind]
        if len(path) > len(shapes):
            self.fail(node.code, f"too deep: a {kind.value} tree has {len(shapes)} levels")
        elif not re.fullmatch(shapes[len(path) - 1], node.code):
            self.fail(
                node.code,
                f"a level-{len(path)} {kind.value} code must match {shapes[len(path) - 1]}",
            )
        elif node.parent is not None and not node.code.startswith(node.parent):
            self.fail(node.code, f"code does not extend its parent's code {node.parent!r}")

    def check_attributes(self, where: str, raw: Mapping[str, Any], allowed: set[str]) -> None:
        for key in sorted(set(raw) - allowed):
            self.fail(where, f"unknown attribute {key!r}")
        for key in INHERITED + LIMIT_KEYS + ("keywords", "note"):
            if key in raw and (reason := self.bad_value(key, raw[key])):
                self.fail(where, reason)

    def bad_value(self, key: str, value: Any) -> str | None:
        # Membership in tuples, not sets: a malformed value may be an unhashable list.
        if key == "handling_level" and value not in tuple(HandlingLevel):
            return f"handling_level {value!r} is not one of {', '.join(HandlingLevel)}"
        if key == "duty_list" and value not in tuple(DutyList):
            return f"duty_list {value!r} is not one of {', '.join(DutyList)}"
        if key == "sector" and value is not None and value not in tuple(self.sectors):
            return f"unknown sector {value!r} (not in orgs/sectors.yaml)"
        if key in ("whistle", "reopen") and not isinstance(value, bool):
            return f"{key} must be true or false, got {value!r}"
        if (
            key == "legal_basis"
            and value is not None
            and not (isinstance(value, str) and LAW_NAMES.fullmatch(value))
        ):
            return f"legal_basis must be null or law names in 《》, got {value!r}"
        if key == "keywords" and not (isinstance(value, list) and all(_text(k) for k in value)):
            return "keywords must be a list of non-empty strings"
        if key == "note" and not _text(value):
            return "note must be a non-empty string"
        if key in LIMIT_KEYS:
            return _bad_limits(key, value)
        return None

    def inherit(self, up: dict[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
        """Merge a node over its parent's effective values; bad values (already reported) are
        skipped so nothing downstream trips on them."""
        eff = dict(up)
        for key in INHERITED:
            if key in raw and self.bad_value(key, raw[key]) is None:
                eff[key] = raw[key]
        for key in LIMIT_KEYS:
            stages = raw.get(key) if isinstance(raw.get(key), dict) else {}
            good = {s: v for s, v in stages.items() if _bad_limits(key, {s: v}) is None}
            eff[key] = {**up[key], **good}
        if _text(raw.get("note")):
            eff["notes"] = (*up["notes"], raw["note"].strip())
        return eff

    def check_effective(self, code: str, eff: dict[str, Any], is_leaf: bool, keywords: Any) -> None:
        """Completeness, then (when complete) coherence after inheritance."""
        before = len(self.problems)
        for key in INHERITED:
            if key not in eff:
                self.fail(code, f"{key} is not set here, on an ancestor or in defaults")
        for key in LIMIT_KEYS:
            for stage in STAGES:
                if stage not in eff[key]:
                    self.fail(code, f"{key}.{stage} is not set here, on an ancestor or in defaults")
        if is_leaf and not keywords:
            self.fail(code, "a leaf needs keywords")
        if len(self.problems) == before:
            self.check_coherence(code, eff)

    def check_coherence(self, code: str, eff: dict[str, Any]) -> None:
        level, duty, sector = eff["handling_level"], eff["duty_list"], eff["sector"]
        if sector is None and duty != DutyList.BASIC:
            self.fail(code, f"territorial handling (sector null) must be a basic duty, not {duty}")
        elif duty == DutyList.BASIC and level not in TERRITORIAL:
            self.fail(code, f"a basic duty is handled by grid, community or street, not {level}")
        elif duty != DutyList.BASIC and level in TERRITORIAL:
            self.fail(
                code, f"a {duty} duty is handled by a district or city department, not {level}"
            )
        normal, urgent, critical = (eff[k] for k in LIMIT_KEYS)
        for stage in STAGES:
            n, u, c = (_limit(x[stage]) for x in (normal, urgent, critical))
            if not c.wall_clock:
                self.fail(code, f"critical_limits.{stage} must be wall-clock (hours or minutes)")
            if approx_hours(u) > approx_hours(n):
                longer = f"({_show(u)}) is longer than limits.{stage} ({_show(n)})"
                self.fail(code, f"urgent_limits.{stage} {longer}")
            if approx_hours(c) > approx_hours(u):
                self.fail(
                    code, f"critical_limits.{stage} ({_show(c)}) is longer than urgent ({_show(u)})"
                )

    def category(
        self, kind: Kind, node: _Node, eff: dict[str, Any], path: tuple[str, ...], is_leaf: bool
    ) -> Category:
        stages = {k: StageLimits(**{s: _limit(eff[k][s]) for s in STAGES}) for k in LIMIT_KEYS}
        return Category(
            kind=kind,
            code=node.code,
            name=node.raw["name"].strip(),
            name_en=node.raw["name_en"].strip(),
            parent_code=node.parent,
            path=path,
            is_leaf=is_leaf,
            handling_level=HandlingLevel(eff["handling_level"]),
            sector=eff["sector"],
            **stages,
            whistle=eff["whistle"],
            reopen=eff["reopen"],
            duty_list=DutyList(eff["duty_list"]),
            legal_basis=eff["legal_basis"],
            keywords=tuple(node.raw.get("keywords") or ()),
            notes=eff["notes"],
            source=Path(self.source).name,
        )


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _bad_limits(key: str, value: Any) -> str | None:
    if not isinstance(value, dict):
        return f"{key} must map stages ({', '.join(STAGES)}) to {{amount, unit}}"
    for stage, limit in value.items():
        if stage not in STAGES:
            return f"{key}: unknown stage {stage!r} (stages: {', '.join(STAGES)})"
        if not isinstance(limit, dict) or set(limit) != {"amount", "unit"}:
            return f"{key}.{stage} must be {{amount, unit}}, got {limit!r}"
        amount, unit = limit["amount"], limit["unit"]
        if unit not in UNITS:
            return f"{key}.{stage}: bad unit {unit!r} (units: {', '.join(UNITS)})"
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
            return f"{key}.{stage}: amount must be a number > 0, got {amount!r}"
        if not math.isfinite(amount):
            return f"{key}.{stage}: amount must be finite, got {amount!r}"
    return None


def _limit(raw: Mapping[str, Any]) -> Limit:
    return Limit(raw["amount"], raw["unit"])


def _show(limit: Limit) -> str:
    return f"{limit.amount} {limit.unit}"
