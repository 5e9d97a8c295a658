"""Write and read paths for the versioned catalogue. Every change — a file import, a JSON upload,
one category edited through the API — makes a new version through `_store`; versions are never
edited, so a case keeps the rules it was filed under."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chengzhi.catalog import defaults, files
from chengzhi.clock import Clock
from chengzhi.db import forget, memo
from chengzhi.errors import Conflict, Forbidden, ImportRejected, InvalidInput, NotFound, Problem
from chengzhi.models import NOT_STAFF, CatalogVersion, Category, Role
from chengzhi.worktime import Limit

EDITORS = frozenset({Role.ADMIN})
# Everyone who logs in except the public and outside helpers may download a whole version.
# What an edit may change: every attribute of the authoring format except codes and notes.
EDITABLE = frozenset({"name", "name_en", "keywords", *defaults.INHERITED, *defaults.LIMIT_KEYS})
FileFormat = Literal["yaml", "xlsx"]
CURRENT = "catalog.current_version"  # memo key


def authorise_edit(role: Role | None) -> None:
    """Only an administrator makes catalogue versions over the API (the CLI is trusted)."""
    if role not in EDITORS:
        raise Forbidden(
            "只有系统管理员可以修改事项清单 (only an administrator may change the catalogue)"
        )


def authorise_export(role: Role | None) -> None:
    if role is None or role in NOT_STAFF:
        raise Forbidden("只有工作人员可以导出事项清单 (only staff may export the catalogue)")


LATEST = select(CatalogVersion).order_by(CatalogVersion.number.desc()).limit(1)


def current_version(session: Session) -> CatalogVersion | None:
    """The newest version, read once per transaction (every registration asks)."""
    return memo(session, CURRENT, lambda: session.scalar(LATEST), lasting=True)


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


def create_version(
    session: Session,
    clock: Clock,
    documents: list[Any],
    note: str | None = None,
    actor_id: int | None = None,
    based_on: int | None = None,
) -> CatalogVersion:
    """Whole catalogue documents (the YAML export's shape, already parsed) as the new current
    version, checked by the file import's loader and refused whole if anything is wrong."""
    _check_base(session, based_on)
    named = [(f"documents[{i}]", doc) for i, doc in enumerate(documents)]
    return _store(session, clock, _load(named), "api upload", note, actor_id)


def edit_category(
    session: Session,
    clock: Clock,
    kind: str,
    code: str,
    changes: Mapping[str, Any],
    note: str | None = None,
    actor_id: int | None = None,
    based_on: int | None = None,
) -> tuple[CatalogVersion, Category]:
    """The current version with one category's attributes changed, as a new version: the version
    as documents (files.documents), the change applied to the category's entry, every category
    loaded and checked again. Limits merge stage by stage. Stored values are resolved, so a
    group's change stays on the group: its children keep their own values."""
    _check_base(session, based_on)
    if not changes:
        raise InvalidInput("没有要修改的属性 (no attribute to change)")
    if wrong := sorted(set(changes) - EDITABLE):
        raise InvalidInput(f"这些属性不能修改 (attributes that cannot be changed): {wrong}")
    before = categories_of(session, version_by_number(session, None))
    documents = files.documents(before)
    entry = _entry(documents, kind, code)
    entry |= _changed(entry, changes)
    key = f"{kind}:{code}"
    after = _load(documents, key)
    if after == before:
        raise InvalidInput(f"事项 {key} 没有变化 (nothing would change)")
    version = _store(session, clock, after, f"api edit {key}", note, actor_id)
    row = session.scalar(
        select(Category).where(
            Category.version_id == version.id, Category.kind == kind, Category.code == code
        )
    )
    assert row is not None  # the loader keeps every code it was given
    return version, row


def _check_base(session: Session, based_on: int | None) -> None:
    """Optimistic locking: a change made from version N is refused once N is not current."""
    current = current_version(session)
    if based_on is not None and (current is None or current.number != based_on):
        now = current.number if current else 0
        raise Conflict(
            f"事项清单已更新到第 {now} 版，请在现行版本上修改 "
            f"(the catalogue has moved on from version {based_on} to {now})"
        )


def _entry(documents: list[tuple[str, dict[str, Any]]], kind: str, code: str) -> dict[str, Any]:
    section = next((s for s, k in defaults.SECTIONS.items() if k.value == kind), None)
    for _, doc in documents:
        for entry in doc.get(section, []) if section else []:
            if entry["code"] == code:
                return entry
    raise NotFound(f"事项 {kind}:{code} 不在现行清单中 (no such category in the current catalogue)")


def _changed(entry: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The new values for an entry; limits merge stage by stage, as the loader merges them."""
    out: dict[str, Any] = {}
    for key, value in changes.items():
        merge = key in defaults.LIMIT_KEYS and isinstance(value, dict)
        out[key] = {**entry[key], **value} if merge else value
    return out


def _load(documents: list[tuple[str, Any]], edited: str | None = None) -> list[defaults.Category]:
    """The loader's CatalogError as an ImportRejected, so the API answers with its problems."""
    try:
        return defaults.load_documents(documents)
    except defaults.CatalogError as e:
        if edited is None:
            raise ImportRejected(e.message, e.problems) from e
        reasons = "; ".join(p.reason for p in e.problems[:5])
        raise ImportRejected(
            f"事项 {edited} 的修改未通过检查 (invalid change to {edited}): {reasons}", e.problems
        ) from e


def _store(
    session: Session,
    clock: Clock,
    categories: list[defaults.Category],
    source: str,
    note: str | None,
    actor_id: int | None,
) -> CatalogVersion:
    """The one write path: checked categories as the next version number."""
    _check_sizes(categories)
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
    forget(session, CURRENT)
    try:
        session.flush()
    except IntegrityError as e:  # another version took the number first
        raise Conflict(
            "事项清单刚被他人更新，请重试 (the catalogue changed meanwhile; try again)"
        ) from e
    session.execute(insert(Category), [_row(version.id, c) for c in categories])
    return version


def _check_sizes(categories: list[defaults.Category]) -> None:
    """What the loader does not know: an empty catalogue, names longer than their columns."""
    if not categories:
        raise InvalidInput("事项清单为空 (the catalogue has no categories)")
    widths = {key: Category.__table__.c[key].type.length for key in ("name", "name_en")}
    problems = [
        Problem(c.source, c.code, f"{key} is longer than {width} characters")
        for c in categories
        for key, width in widths.items()
        if len(getattr(c, key)) > width
    ]
    if problems:
        raise ImportRejected(f"事项目录有误 (invalid catalogue): {problems[0]}", problems)


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
    categories = categories_of(session, version)
    title = f"chengzhi 事项清单 v{version.number} ({version.source})"
    if path.suffix.lower() == ".xlsx":
        files.write_xlsx(categories, path, title)
    else:
        files.write_yaml(categories, path, title)
    return version


def export_file(
    session: Session, number: int | None, file_format: FileFormat
) -> tuple[CatalogVersion, bytes]:
    """A version as the bytes of the file `export_catalog` writes (for a download)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"catalog.{file_format}"
        version = export_catalog(session, path, number)
        return version, path.read_bytes()


def categories_of(session: Session, version: CatalogVersion) -> list[defaults.Category]:
    """Every category of a version in load order (parents before children)."""
    rows = session.scalars(
        select(Category).where(Category.version_id == version.id).order_by(Category.id)
    )
    return [as_category(r) for r in rows]


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
