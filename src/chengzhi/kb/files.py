"""Knowledge base files in and out (知识库导入导出): YAML for people who keep the answers in a
repository, Excel for the officials who keep them in a spreadsheet. Both hold the same fields
(`title`, `question`, `answer`, `category_code`, `source`, `active`), one article a row; an
export re-imports to the same articles. An import lands whole or not at all: every bad row is
named (YAML by line, Excel by row) with the reason, and nothing is stored if any is bad.

`install_demo` loads `data/demo.yaml`, a set of answers written as a city centre would word
them, into an empty knowledge base.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.errors import InvalidInput
from chengzhi.kb import service
from chengzhi.models import KnowledgeArticle

# libyaml's C loader and dumper when present, as the catalogue files use.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
DEMO = Path(__file__).with_name("data") / "demo.yaml"
COLUMNS = ("title", "question", "answer", "category_code", "source", "active")
LABELS = {  # the legend sheet and the Chinese headers an official's own sheet may use
    "title": "标题：条目名称，在知识库中唯一",
    "question": "问法：市民怎么问，一行一种问法（用于匹配来电诉求）",
    "answer": "答复：受理员直接答复的内容",
    "category_code": "事项分类：类别:代码，如 topic:B0501（可空）",
    "source": "来源：政策依据或主管部门（可空）",
    "active": "启用：true 启用 / false 停用（空 = 启用）",
}
ALIASES = {label.split("：")[0]: column for column, label in LABELS.items()}
TRUE, FALSE = {"true", "yes", "1", "是", "启用"}, {"false", "no", "0", "否", "停用"}
WIDTHS = {"title": 24, "question": 40, "answer": 80, "category_code": 16, "source": 24}


# ---------------------------------------------------------------------------------------------
# Into the database and out of it


def import_file(session: Session, clock: Clock, path: Path) -> service.ImportResult:
    """A YAML or Excel file's articles: new titles added, known titles updated; refused whole
    (ImportRejected naming every bad row) if any row is bad."""
    return service.import_rows(session, clock, path.name, read(path))


def export_file(session: Session, path: Path) -> int:
    """Every article, active or not, as a YAML or Excel file; the number written."""
    kind = _kind(path)
    articles = service.all_articles(session)
    title = f"城治知识库 chengzhi knowledge base ({len(articles)} 条)"
    if kind == "xlsx":
        write_xlsx(articles, path, title)
    else:
        write_yaml(articles, path, title)
    return len(articles)


def install_demo(session: Session, clock: Clock) -> int:
    """The demo articles, when the knowledge base is empty; how many were added. A demo
    article's category the current catalogue lacks is left out rather than refused."""
    if service.count(session):
        return 0
    rows = list(read(DEMO))
    known = service.known_categories(session, [fields.get("category_code") for _, fields in rows])
    for _, fields in rows:
        if fields.get("category_code") not in known:
            fields["category_code"] = None
    return service.import_rows(session, clock, DEMO.name, rows).created


# ---------------------------------------------------------------------------------------------
# Reading


def read(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, fields) of each article in a YAML or Excel file: `where` is "line N" of the
    article's first line in YAML, "row N" of the sheet in Excel."""
    if not path.is_file():
        raise InvalidInput(f"{path}: 文件不存在 (no such file)")
    if _kind(path) == "xlsx":
        return _read_xlsx(path)
    return _read_yaml(path)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".xlsx":
        return "xlsx"
    raise InvalidInput(f"{path}: 只支持 .yaml/.yml/.xlsx (unsupported file type)")


def _read_yaml(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The articles with the line each starts on: the text is composed once for the lines
    (nodes carry their marks) and loaded once for the values."""
    try:
        text = path.read_text("utf-8")
        node = yaml.compose(text, Loader=Loader)  # noqa: S506 (a safe loader)
        doc = yaml.load(text, Loader=Loader)  # noqa: S506 (a safe loader)
    except (UnicodeDecodeError, yaml.YAMLError) as e:
        raise InvalidInput(f"{path}: 无法读取 YAML (cannot read YAML: {e})") from e
    items, nodes = _articles(path, doc), _article_nodes(node)
    for i, item in enumerate(items):
        line = nodes[i].start_mark.line + 1 if i < len(nodes) else None
        yield (f"line {line}" if line else f"article {i + 1}"), item


def _articles(path: Path, doc: Any) -> list[Any]:
    articles = doc.get("articles") if isinstance(doc, dict) else doc
    if not isinstance(articles, list):
        raise InvalidInput(
            f"{path}: 需要 articles 列表 (expected a list of articles under `articles:`)"
        )
    return articles


def _article_nodes(node: yaml.Node | None) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if k.value == "articles"), None)
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _read_xlsx(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    except Exception as e:  # openpyxl raises many kinds for a file that is not a workbook
        raise InvalidInput(f"{path}: 不是有效的 Excel 文件 (not a valid .xlsx: {e})") from e
    rows = sheet.iter_rows(values_only=True)
    header = [_column(c) for c in next(rows, ())]
    missing = [c for c in ("title", "question", "answer") if c not in header]
    if missing:
        raise InvalidInput(f"{path}:row 1: 缺少列 {', '.join(missing)} (missing columns)")
    for number, row in enumerate(rows, start=2):
        cells = {h: v for h, v in zip(header, row, strict=False) if h and v not in (None, "")}
        if cells:
            yield f"row {number}", {k: _cell_value(k, v) for k, v in cells.items()}


def _column(cell: Any) -> str:
    name = str(cell or "").strip()
    return ALIASES.get(name, name)


def _cell_value(column: str, value: Any) -> Any:
    """Excel types a cell by its look: a number typed where text belongs is that text, and a
    yes/no column may hold TRUE, 1 or 是."""
    if column == "active" and not isinstance(value, bool):
        word = str(value).strip().lower()
        return True if word in TRUE else False if word in FALSE else value
    if isinstance(value, int | float) and not isinstance(value, bool) and column != "active":
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value


# ---------------------------------------------------------------------------------------------
# Writing


def entry(article: KnowledgeArticle) -> dict[str, Any]:
    """One article as a file row; an empty category or source is left out."""
    out = {key: getattr(article, key) for key in COLUMNS}
    return {k: v for k, v in out.items() if v is not None}


class Dumper(BaseDumper):  # type: ignore[misc]
    """Multi-line texts as literal blocks (`|-`), so an answer reads as it is said."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _text)


def write_yaml(articles: list[KnowledgeArticle], path: Path, title: str) -> None:
    doc = {"title": title, "articles": [entry(a) for a in articles]}
    text = yaml.dump(doc, Dumper=Dumper, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(text, "utf-8")


def write_xlsx(articles: list[KnowledgeArticle], path: Path, title: str) -> None:
    book = Workbook()
    sheet = book.active
    sheet.title = "知识库"
    sheet.append(list(COLUMNS))
    for article in articles:
        sheet.append([_cell(getattr(article, column)) for column in COLUMNS])
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # text, never a formula Excel would run
    _format(sheet)
    legend = book.create_sheet("说明")
    legend.append(["列 column", "含义 meaning"])
    legend.append(["title", title])
    for column in COLUMNS:
        legend.append([column, LABELS[column]])
    legend.column_dimensions["A"].width, legend.column_dimensions["B"].width = 16, 60
    book.save(path)


def _cell(value: Any) -> Any:
    return "" if value is None else value


def _format(sheet: Any) -> None:
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="FDE9E7")
    for cell in sheet[1]:
        cell.font, cell.fill = bold, fill
    wrap = Alignment(wrap_text=True, vertical="top")
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap
    for i, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = WIDTHS.get(column, 10)
    sheet.freeze_panes = "B2"
