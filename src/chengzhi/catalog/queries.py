"""Read side of the catalogue: categories of a version, filtered."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from chengzhi.catalog.service import version_by_number
from chengzhi.db import page
from chengzhi.errors import NotFound
from chengzhi.models import Category


def list_categories(
    session: Session,
    limit: int,
    offset: int,
    version: int | None = None,
    kind: str | None = None,
    parent: str | None = None,
    leaf: bool | None = None,
    q: str | None = None,
) -> tuple[int, list[Category]]:
    query = select(Category).where(Category.version_id == version_by_number(session, version).id)
    if kind:
        query = query.where(Category.kind == kind)
    if parent:
        query = query.where(Category.parent_code == parent)
    if leaf is not None:
        query = query.where(Category.is_leaf.is_(leaf))
    if q:
        query = query.where(or_(Category.name.contains(q, autoescape=True), Category.code == q))
    return page(session, query.order_by(Category.id), limit, offset)


def get_category(session: Session, kind: str, code: str, version: int | None = None) -> Category:
    row = session.scalar(
        select(Category).where(
            Category.version_id == version_by_number(session, version).id,
            Category.kind == kind,
            Category.code == code,
        )
    )
    if row is None:
        raise NotFound(f"事项 {kind}:{code} 不存在 (no such category)")
    return row
