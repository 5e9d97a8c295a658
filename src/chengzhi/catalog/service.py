"""Write and read paths for the versioned catalogue. Every import makes a new version; versions
are never edited, so a case keeps the rules it was filed under."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from chengzhi.catalog import defaults, files
from chengzhi.clock import Clock
from chengzhi.errors import NotFound
from chengzhi.models import CatalogVersion, Category
from chengzhi.worktime import Limit


def current_version(session: Session) -> CatalogVersion | None:
    return session.scalar(select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1))


def install_defaults(session: Session, clock: Clock) -> CatalogVersion | None:
    """The shipped catalogue as version 1, when the database has none yet."""
    if current_version(session) is not None:
        return None
    return _store(session, clock, defaults.load_default_catalog(), "chengzhi defaults", None, None)


def import_catalog(
    session: Session, clock: Clock, path: Path, note: str | None = None, actor_id: int | None = None
) -> CatalogVersion:
    """A YAML or Excel catalogue as the new current version (refused whole if any row is bad)."""
    return _store(session, clock, files.read(path), path.name, note, actor_id)


def _store(
    session: Session,
    clock: Clock,
    categories: list[defaults.Category],
    source: str,
    note: str | None,
    actor_id: int | None,
) -> CatalogVersion:
    number = (session.scalar(select(func.max(CatalogVersion.number))) or 0) + 1
    version = CatalogVersion(
        number=number,
        source=source,
        note=note,
        created_at=clock.now(),
        created_by_id=actor_id,
        categories=len(categories),
    )
    session.add(version)
    session.flush()
    session.execute(insert(Category), [_row(version.id, c) for c in categories])
    return version


def _row(version_id: int, c: defaults.Category) -> dict[str, Any]:
    def limits(stages: defaults.StageLimits) -> dict[str, dict[str, Any]]:
        return {s: {"amount": stages[s].amount, "unit": stages[s].unit} for s in defaults.STAGES}

    return {
        "version_id": version_id,
        "kind": c.kind.value,
        "code": c.code,
        "parent_code": c.parent_code,
        "path": list(c.path),
        "is_leaf": c.is_leaf,
        "name": c.name,
        "name_en": c.name_en,
        "handling_level": c.handling_level.value,
        "sector": c.sector,
        "limits": limits(c.limits),
        "urgent_limits": limits(c.urgent_limits),
        "critical_limits": limits(c.critical_limits),
        "whistle": c.whistle,
        "reopen": c.reopen,
        "duty_list": c.duty_list.value,
        "legal_basis": c.legal_basis,
        "keywords": list(c.keywords),
        "notes": list(c.notes),
        "source": c.source,
    }


def export_catalog(session: Session, path: Path, number: int | None = None) -> CatalogVersion:
    version = version_by_number(session, number)
    rows = session.scalars(
        select(Category).where(Category.version_id == version.id).order_by(Category.id)
    )
    categories = [as_category(r) for r in rows]
    title = f"chengzhi 事项清单 v{version.number} ({version.source})"
    if path.suffix.lower() == ".xlsx":
        files.write_xlsx(categories, path, title)
    else:
        files.write_yaml(categories, path, title)
    return version


def version_by_number(session: Session, number: int | None) -> CatalogVersion:
    version = (
        current_version(session)
        if number is None
        else session.scalar(select(CatalogVersion).where(CatalogVersion.number == number))
    )
    if version is None:
        raise NotFound(f"事项清单版本 {number or ''} 不存在 (no such catalogue version)")
    return version


def as_category(row: Category) -> defaults.Category:
    """A stored row back as the loader's value type (for export and comparison)."""

    def stages(raw: dict[str, Any]) -> defaults.StageLimits:
        return defaults.StageLimits(
            **{s: Limit(raw[s]["amount"], raw[s]["unit"]) for s in defaults.STAGES}
        )

    return defaults.Category(
        kind=defaults.Kind(row.kind),
        code=row.code,
        name=row.name,
        name_en=row.name_en,
        parent_code=row.parent_code,
        path=tuple(row.path),
        is_leaf=row.is_leaf,
        handling_level=defaults.HandlingLevel(row.handling_level),
        sector=row.sector,
        limits=stages(row.limits),
        urgent_limits=stages(row.urgent_limits),
        critical_limits=stages(row.critical_limits),
        whistle=row.whistle,
        reopen=row.reopen,
        duty_list=defaults.DutyList(row.duty_list),
        legal_basis=row.legal_basis,
        keywords=tuple(row.keywords),
        notes=tuple(row.notes),
        source=row.source,
    )


def versions(session: Session) -> Iterable[CatalogVersion]:
    return session.scalars(select(CatalogVersion).order_by(CatalogVersion.number.desc()))
