"""Write and read paths of the knowledge base (知识库). Every change — one article through the
API, a whole file imported — goes through `_save`, which stamps `updated_at` and tells the
matcher to rebuild its index. Articles are never deleted: an article withdrawn is deactivated
(停用), so a case closed with its answer keeps pointing at what was said.

Titles are unique: they are the key a file import updates articles by, and what an operator
picks from, so two articles of one title would be one too many.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from chengzhi.catalog import service as catalog
from chengzhi.clock import Clock
from chengzhi.db import page
from chengzhi.errors import Conflict, Forbidden, ImportRejected, InvalidInput, NotFound, Problem
from chengzhi.kb import match
from chengzhi.models import DESK, NOT_STAFF, Category, KnowledgeArticle, Role

EDITORS = frozenset({Role.ADMIN})
# Who answers inquiries, or watches those who do: they ask for suggestions.
ANSWERING = DESK
TEXTS = ("title", "question", "answer", "source")
FIELDS = (*TEXTS, "category_code")
EDITABLE = frozenset({*FIELDS, "active"})
REQUIRED = ("title", "question", "answer")
MAX_CHARS = {"title": 200, "question": 2000, "answer": 4000, "source": 200}
LABELS = {
    "title": "标题 (title)",
    "question": "问法 (question)",
    "answer": "答复 (answer)",
    "source": "来源 (source)",
    "category_code": "事项分类 (category_code)",
    "active": "启用 (active)",
}
CATEGORY = re.compile(r"^(component|matter|topic):([0-9A-Za-z]{1,20})$")
TICK = timedelta(microseconds=1)
CHUNK = 500  # titles per IN (…) when an import looks up the articles it updates


# ---------------------------------------------------------------------------------------------
# Who may do what


def authorise_edit(role: Role | None) -> None:
    """Only an administrator changes the knowledge base over the API (the CLI is trusted)."""
    if role not in EDITORS:
        raise Forbidden(
            "只有系统管理员可以修改知识库 (only an administrator may change the knowledge base)"
        )


def authorise_read(role: Role | None) -> None:
    if role is None or role in NOT_STAFF:
        raise Forbidden("只有工作人员可以查看知识库 (only staff may read the knowledge base)")


def authorise_suggest(role: Role | None) -> None:
    if role not in ANSWERING:
        raise Forbidden(
            "只有受理、派单、管理和督办人员可以检索答复 "
            "(only operators, dispatchers, supervisors and administrators may ask for answers)"
        )


# ---------------------------------------------------------------------------------------------
# Articles one at a time


def create(
    session: Session,
    clock: Clock,
    title: str,
    question: str,
    answer: str,
    category_code: str | None = None,
    source: str | None = None,
) -> KnowledgeArticle:
    """A new active article (收录), its texts checked and trimmed."""
    raw = dict(
        title=title, question=question, answer=answer, category_code=category_code, source=source
    )
    values = checked(raw)
    _check_categories(session, [values["category_code"]])
    _check_title_free(session, values["title"])
    article = KnowledgeArticle(active=True, **values)
    session.add(article)
    _save(session, clock, [article])
    return article


def update(session: Session, clock: Clock, article_id: int, **fields: Any) -> KnowledgeArticle:
    """Change some of an article's fields (title, question, answer, category_code, source,
    active); fields given their current value change nothing and stamp nothing."""
    if unknown := sorted(set(fields) - EDITABLE):
        raise InvalidInput(f"这些字段不能修改 (fields that cannot be changed): {unknown}")
    if not fields:
        raise InvalidInput("没有要修改的字段 (no field to change)")
    article = get(session, article_id)
    values = checked(fields)
    if "category_code" in values:
        _check_categories(session, [values["category_code"]])
    if "title" in values and values["title"] != article.title:
        _check_title_free(session, values["title"])
    changes = {k: v for k, v in values.items() if getattr(article, k) != v}
    if changes:
        for key, value in changes.items():
            setattr(article, key, value)
        _save(session, clock, [article])
    return article


def deactivate(session: Session, clock: Clock, article_id: int) -> KnowledgeArticle:
    """停用: the article is no longer suggested nor listed as active; it stays for the record.
    Deactivating an inactive article changes nothing."""
    return update(session, clock, article_id, active=False)


def get(session: Session, article_id: int) -> KnowledgeArticle:
    article = session.get(KnowledgeArticle, article_id)
    if article is None:
        raise NotFound(f"知识库条目 {article_id} 不存在 (no such article)")
    return article


def list_articles(
    session: Session,
    q: str | None = None,
    active: bool | None = True,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[KnowledgeArticle]]:
    """Articles by id (oldest first), with the total: `q` a substring of the title, question
    or answer; `active` None for active and inactive alike."""
    query = select(KnowledgeArticle)
    if active is not None:
        query = query.where(KnowledgeArticle.active.is_(active))
    if q and q.strip():
        text = q.strip()
        query = query.where(
            or_(
                *(
                    column.contains(text, autoescape=True)
                    for column in (
                        KnowledgeArticle.title,
                        KnowledgeArticle.question,
                        KnowledgeArticle.answer,
                    )
                )
            )
        )
    return page(session, query.order_by(KnowledgeArticle.id), limit, offset)


def all_articles(session: Session) -> list[KnowledgeArticle]:
    """Every article, active or not, by id (for an export)."""
    return list(session.scalars(select(KnowledgeArticle).order_by(KnowledgeArticle.id)))


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(KnowledgeArticle)) or 0


# ---------------------------------------------------------------------------------------------
# Many articles at once: a file


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def import_rows(
    session: Session, clock: Clock, source: str, rows: Iterable[tuple[str, Mapping[str, Any]]]
) -> ImportResult:
    """Articles from a file, each row `(where, fields)` with `where` naming its place ("row 3",
    "line 12"). A row is a whole article: a missing category or source is none, a missing
    `active` is true. A row whose title is already in the knowledge base updates that article;
    any other row makes a new one. Every row is checked first, and if any is bad nothing is
    stored: ImportRejected lists each bad row and the reason."""
    rows = list(rows)
    if not rows:
        raise InvalidInput(f"{source}: 文件中没有条目 (the file has no articles)")
    problems: list[Problem] = []
    good: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, str] = {}
    for where, raw in rows:
        values = _checked_row(source, where, raw, problems)
        if values is None:
            continue
        title = values["title"]
        if title in seen:
            reason = f"标题与 {seen[title]} 重复 (the same title as {seen[title]}): {title}"
            problems.append(Problem(source, where, reason))
            continue
        seen[title] = where
        good.append((where, values))
    problems += _category_problems(session, source, good)
    if problems:
        raise ImportRejected(
            f"知识库文件有 {len(problems)} 处错误，未导入任何条目 "
            f"({len(problems)} problems; nothing was imported): {problems[0]}",
            problems,
        )
    return _store(session, clock, [values for _, values in good])


def _checked_row(
    source: str, where: str, raw: Any, problems: list[Problem]
) -> dict[str, Any] | None:
    """A row's fields checked, or None with its problems added (every bad field, not only the
    first)."""
    if not isinstance(raw, Mapping):
        problems.append(Problem(source, where, "条目应为字段表 (an article must be a mapping)"))
        return None
    found = len(problems)
    if unknown := sorted(str(k) for k in set(raw) - EDITABLE):
        problems.append(Problem(source, where, f"未知字段 (unknown fields): {unknown}"))
    values: dict[str, Any] = {"category_code": None, "source": None, "active": True}
    for key in (*FIELDS, "active"):
        if key not in raw:
            if key in REQUIRED:
                problems.append(Problem(source, where, f"{LABELS[key]} 缺失 (is missing)"))
            continue
        try:
            values |= checked({key: raw[key]})
        except InvalidInput as e:
            problems.append(Problem(source, where, e.message))
    return values if len(problems) == found else None


def _category_problems(
    session: Session, source: str, rows: list[tuple[str, dict[str, Any]]]
) -> list[Problem]:
    wanted = [values["category_code"] for _, values in rows]
    unknown = set(wanted) - known_categories(session, wanted)
    return [
        Problem(source, where, _unknown_category(values["category_code"]))
        for where, values in rows
        if values["category_code"] in unknown
    ]


def _store(session: Session, clock: Clock, rows: list[dict[str, Any]]) -> ImportResult:
    """Checked whole articles: new titles created, known ones updated where they differ."""
    titles = [values["title"] for values in rows]
    existing = {
        a.title: a
        for start in range(0, len(titles), CHUNK)
        for a in session.scalars(
            select(KnowledgeArticle).where(
                KnowledgeArticle.title.in_(titles[start : start + CHUNK])
            )
        )
    }
    saved: list[KnowledgeArticle] = []
    created = updated = 0
    for values in rows:
        article = existing.get(values["title"])
        if article is None:
            article = KnowledgeArticle(**values)
            session.add(article)
            created += 1
        elif changes := {k: v for k, v in values.items() if getattr(article, k) != v}:
            for key, value in changes.items():
                setattr(article, key, value)
            updated += 1
        else:
            continue
        saved.append(article)
    if saved:
        _save(session, clock, saved)
    return ImportResult(created, updated, len(rows) - created - updated)


# ---------------------------------------------------------------------------------------------
# Checks


def checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The given fields trimmed and checked (not the category's existence: see
    `_check_categories`); InvalidInput names the first bad one."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key == "active":
            if not isinstance(value, bool):
                raise InvalidInput(f"{LABELS[key]} 须为 true 或 false (must be true or false)")
            out[key] = value
        elif key == "category_code":
            out[key] = _category_code(value)
        else:
            out[key] = _text(key, value)
    return out


def _text(key: str, value: Any) -> str | None:
    label = LABELS[key]
    if value is None:
        if key in REQUIRED:
            raise InvalidInput(f"{label} 不能为空 (is required)")
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{label} 须为文本 (must be text)")
    if "\0" in value:
        raise InvalidInput(f"{label} 含有空字符 (contains a NUL character)")
    lines = [" ".join(line.split()) for line in value.strip().splitlines()]
    if key == "question":  # one way of asking a line
        text = "\n".join(line for line in lines if line)
    elif key == "answer":
        text = "\n".join(lines)
    else:
        text = " ".join(line for line in lines if line)
    if not text:
        if key in REQUIRED:
            raise InvalidInput(f"{label} 不能为空 (is required)")
        return None
    if len(text) > MAX_CHARS[key]:
        raise InvalidInput(
            f"{label} 不能超过 {MAX_CHARS[key]} 个字，现为 {len(text)} 个 "
            f"(is longer than {MAX_CHARS[key]} characters: {len(text)})"
        )
    return text


def _category_code(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not CATEGORY.match(value.strip()):
        raise InvalidInput(
            f"{LABELS['category_code']} 应为 类别:代码，如 topic:B0501 "
            f"(must be kind:code, e.g. topic:B0501): {str(value)[:40]}"
        )
    return value.strip()


def _check_categories(session: Session, codes: list[str | None]) -> None:
    unknown = sorted(set(codes) - known_categories(session, codes) - {None}, key=str)
    if unknown:
        raise InvalidInput(_unknown_category(str(unknown[0])))


def known_categories(session: Session, codes: Iterable[str | None]) -> set[str | None]:
    """Which of these kind:code keys the current catalogue has (None is always fine)."""
    pairs = {tuple(c.split(":", 1)) for c in codes if c}
    version = catalog.current_version(session)
    if not pairs or version is None:
        return {None}
    rows = session.execute(
        select(Category.kind, Category.code).where(
            Category.version_id == version.id, Category.code.in_({code for _, code in pairs})
        )
    )
    return {None} | {f"{kind}:{code}" for kind, code in rows if (kind, code) in pairs}


def _unknown_category(code: str) -> str:
    return f"事项分类 {code} 不在现行事项清单中 (not in the current catalogue)"


def _check_title_free(session: Session, title: str) -> None:
    other = session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.title == title))
    if other is not None:
        state = "" if other.active else "（已停用 inactive）"
        raise Conflict(
            f"已有同名条目 #{other.id}{state}：{title} (an article with this title exists)"
        )


# ---------------------------------------------------------------------------------------------
# The one write path


def _save(session: Session, clock: Clock, articles: list[KnowledgeArticle]) -> None:
    """Stamp, flush, and make the matcher rebuild its index."""
    stamp = _next_stamp(session, clock.now())
    for article in articles:
        article.updated_at = stamp
    session.flush()
    match.changed(session)


def _next_stamp(session: Session, now: datetime) -> datetime:
    """`now`, or just after the latest stamp if that is not earlier: `updated_at` only rises,
    so the matcher's fingerprint (count, latest stamp) changes with every write even when two
    servers' clocks disagree a little."""
    with session.no_autoflush:
        latest = session.scalar(select(func.max(KnowledgeArticle.updated_at)))
    return max(now, latest + TICK) if latest is not None else now
