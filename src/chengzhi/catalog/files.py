"""Catalogue files in and out. Export writes every category with all attributes explicit, as
flat entries (`parent:` instead of nesting) in the authoring YAML format, or as one Excel sheet
of the same columns; import reads either back through the one validating loader, so an exported
file re-imports to the same rules."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from chengzhi.catalog.defaults import LIMIT_KEYS, SECTIONS, STAGES, Category, load_documents
from chengzhi.errors import InvalidInput

# libyaml's C loader and dumper when present: ten times faster on a 1,000-category catalogue.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
SECTION_OF = {kind: section for section, kind in SECTIONS.items()}
SCALARS = ("handling_level", "sector", "duty_list", "whistle", "reopen", "legal_basis")
LIMIT_COLUMNS = tuple(
    f"{k}.{s}.{p}" for k in LIMIT_KEYS for s in STAGES for p in ("amount", "unit")
)
COLUMNS = (
    "kind",
    "code",
    "parent",
    "name",
    "name_en",
    *SCALARS,
    *LIMIT_COLUMNS,
    "keywords",
    "note",
)
LABELS = {  # the legend sheet: what each column means, for the officials who edit the file
    "kind": "类别 component 部件 / matter 事项 / topic 诉求分类",
    "code": "代码",
    "parent": "上级代码",
    "name": "名称",
    "name_en": "英文名称",
    "handling_level": "处置层级 grid/community/street/district/city",
    "sector": "责任部门条线 (orgs/sectors.yaml)；空 = 属地处置",
    "duty_list": "清单类型 basic 必须为 / cooperating 配合为 / upward 上级收回",
    "whistle": "可吹哨 true/false",
    "reopen": "可重办 true/false",
    "legal_basis": "法律依据",
    "keywords": "关键词（、分隔）",
    "note": "说明",
}
STAGE_ZH = {"dispatch": "派遣", "sign": "签收", "handle": "办理", "verify": "核查"}
LIMIT_ZH = {"limits": "一般时限", "urgent_limits": "紧急时限", "critical_limits": "特急时限"}


def entry(category: Category, parent_notes: tuple[str, ...]) -> dict[str, Any]:
    """One category as a flat authoring entry with every attribute set."""
    own = (
        category.notes[len(parent_notes) :]
        if category.notes[: len(parent_notes)] == parent_notes
        else category.notes
    )
    out: dict[str, Any] = {"code": category.code}
    if category.parent_code:
        out["parent"] = category.parent_code
    out |= {"name": category.name, "name_en": category.name_en}
    out |= {key: _plain(getattr(category, key)) for key in SCALARS}
    for key in LIMIT_KEYS:
        limits = getattr(category, key)
        out[key] = {s: {"amount": limits[s].amount, "unit": limits[s].unit} for s in STAGES}
    if category.keywords:
        out["keywords"] = list(category.keywords)
    if own:
        out["note"] = "\n".join(own)
    return out


def _plain(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def sections(
    categories: Iterable[Category], root_notes: tuple[str, ...] = ()
) -> dict[str, list[dict[str, Any]]]:
    """Categories (parents before children) as flat authoring sections; `root_notes` are notes
    the document's `defaults` already give every category."""
    notes: dict[str, tuple[str, ...]] = {}
    out: dict[str, list[dict[str, Any]]] = {}
    for c in categories:
        parent = notes.get(c.kind.value + ":" + (c.parent_code or ""), root_notes)
        out.setdefault(SECTION_OF[c.kind], []).append(entry(c, parent))
        notes[c.key] = c.notes
    return out


def documents(categories: Iterable[Category]) -> list[tuple[str, dict[str, Any]]]:
    """A whole catalogue as `load_documents` input that loads back to exactly these categories,
    notes and sources included: one document per source file, with the note every top-level node
    starts with (the file's `defaults` note) given back to `defaults`."""
    by_source: dict[str, list[Category]] = {}
    for c in categories:
        by_source.setdefault(c.source, []).append(c)
    return [(source, _document(group)) for source, group in by_source.items()]


def _document(categories: list[Category]) -> dict[str, Any]:
    tops = [c for c in categories if c.parent_code is None]
    shared = tops[0].notes[:1] if tops else ()
    if not all(c.notes[:1] == shared for c in tops):
        shared = ()
    doc: dict[str, Any] = {"defaults": {"note": shared[0]}} if shared else {}
    return doc | sections(categories, shared)


def write_yaml(categories: Iterable[Category], path: Path, title: str) -> None:
    doc = {"title": title, **sections(categories)}
    text = yaml.dump(
        doc, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=100, default_flow_style=None
    )
    path.write_text(text, "utf-8")


def write_xlsx(categories: Iterable[Category], path: Path, title: str) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "事项清单"
    sheet.append(list(COLUMNS))
    for section, entries in sections(categories).items():
        for e in entries:
            sheet.append(
                [
                    _cell(SECTIONS[section].value if col == "kind" else _get(e, col))
                    for col in COLUMNS
                ]
            )
    _format(sheet)
    legend = book.create_sheet("说明")
    legend.append(["列 column", "含义 meaning"])
    legend.append(["title", title])
    for col in COLUMNS:
        legend.append([col, _label(col)])
    legend.column_dimensions["A"].width, legend.column_dimensions["B"].width = 32, 60
    book.save(path)


def _get(e: dict[str, Any], column: str) -> Any:
    if column.count(".") == 2:
        key, stage, part = column.split(".")
        return e[key][stage][part]
    if column == "keywords":
        return "、".join(e.get("keywords", []))
    return e.get(column)


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _label(column: str) -> str:
    if column.count(".") != 2:
        return LABELS[column]
    key, stage, part = column.split(".")
    what = "数值" if part == "amount" else "单位 working_hours/working_days/hours/minutes"
    return f"{LIMIT_ZH[key]}·{STAGE_ZH[stage]} {what}"


def _format(sheet: Any) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FDE9E7")
    for cell in sheet[1]:
        cell.font, cell.fill, cell.alignment = bold, fill, Alignment(wrap_text=True)
    widths = {
        "code": 10,
        "parent": 10,
        "name": 22,
        "name_en": 30,
        "legal_basis": 30,
        "keywords": 24,
        "note": 40,
    }
    for i, col in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = widths.get(col, 14)
    sheet.freeze_panes = "D2"


def read(path: Path) -> list[Category]:
    """Categories from a YAML or Excel catalogue file, validated; raises CatalogError."""
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InvalidInput(f"{path}: 文件不存在 (no such file)")
    if suffix in (".yaml", ".yml"):
        try:
            doc = yaml.load(path.read_text("utf-8"), Loader=Loader)  # noqa: S506 (a safe loader)
        except (UnicodeDecodeError, yaml.YAMLError) as e:
            raise InvalidInput(f"{path}: 无法读取 YAML (cannot read YAML: {e})") from e
        return load_documents([(str(path), doc)])
    if suffix == ".xlsx":
        return load_documents([(str(path), _sheet_doc(path))])
    raise InvalidInput(f"{path}: 只支持 .yaml/.yml/.xlsx (unsupported file type)")


def _sheet_doc(path: Path) -> dict[str, Any]:
    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidInput(f"{path}: 不是有效的 Excel 文件 (not a valid .xlsx: {e})") from e
    rows = sheet.iter_rows(values_only=True)
    header = [str(c or "").strip() for c in next(rows, ())]
    missing = [c for c in ("kind", "code", "name") if c not in header]
    if missing:
        raise InvalidInput(f"{path}:1: 缺少列 {', '.join(missing)} (missing columns)")
    doc: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        values = dict(zip(header, row, strict=False))
        if not any(v not in (None, "") for v in values.values()):
            continue
        kind = str(values.get("kind") or "").strip()
        section = next((s for s, k in SECTIONS.items() if k.value == kind), kind)
        doc.setdefault(section, []).append(_entry_from_row(values))
    return doc


def _entry_from_row(values: dict[str, Any]) -> dict[str, Any]:
    e: dict[str, Any] = {}
    for col, value in values.items():
        if value in (None, "") or col == "kind" or col not in COLUMNS:
            continue
        if col.count(".") == 2:
            key, stage, part = col.split(".")
            e.setdefault(key, {}).setdefault(stage, {})[part] = value
        elif col == "keywords":
            e[col] = [k for k in str(value).split("、") if k]
        elif col in ("code", "parent"):
            e[col] = str(value).strip()
        else:
            e[col] = value
    e.setdefault("sector", None)
    e.setdefault("legal_basis", None)
    return e
