"""Write paths for the structure: division-code import, boundary import, grid generation and
import. Each lands whole or not at all unless `skip_bad`, and bumps the structure version so the
spatial index rebuilds. Services never commit; the caller's transaction does."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from chengzhi import db
from chengzhi.errors import ImportRejected, InvalidInput, Problem
from chengzhi.geo.shapes import Footprint
from chengzhi.models import Level, Region, StructureState
from chengzhi.progress import OnProgress, quiet
from chengzhi.readers import read_csv
from chengzhi.regions import codes, locator

DIVISION_COLUMNS = {"code": ("统计用区划代码", "区划代码", "代码"), "name": ("名称", "区划名称")}


@dataclass
class ImportReport:
    source: str
    encoding: str | None = None
    created: Counter[str] = field(default_factory=Counter)
    updated: int = 0
    skipped_placeholders: int = 0
    skipped_outside_root: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "encoding": self.encoding,
            "created": dict(self.created),
            "updated": self.updated,
            "skipped_placeholders": self.skipped_placeholders,
            "skipped_outside_root": self.skipped_outside_root,
            "rejected": [p.as_dict() for p in self.problems],
            "repaired": [p.as_dict() for p in self.repaired],
        }


def bump_structure_version(session: Session) -> None:
    stamp = secrets.token_hex(16)
    session.execute(update(StructureState).values(version=StructureState.version + 1, stamp=stamp))
    db.forget(session, locator.STAMP)


def import_divisions(
    session: Session,
    path: Path,
    root: str | None = None,
    skip_bad: bool = False,
    on_progress: OnProgress = quiet,
) -> ImportReport:
    """`chengzhi regions import`: NBS division codes (code,name) → the region tree."""
    table = read_csv(path, DIVISION_COLUMNS)
    report = ImportReport(str(path), table.encoding)
    rows = _valid_rows(table.rows, report)
    root = root or codes.infer_root(rows) or _existing_root(session)
    if root is None:
        raise InvalidInput(
            f"{path}: 无法判断城市，请用 --root 指定 (cannot tell the city; use --root)"
        )
    existing = dict(session.execute(select(Region.code, Region.id)).all())
    if root not in rows and root not in existing:
        raise InvalidInput(f"{path}: 文件中没有根代码 {root} (root code {root} is not in the file)")
    wanted = _placed(rows, root, existing, report)
    if report.problems and not skip_bad:
        raise ImportRejected(
            f"{path}: {len(report.problems)} 行有误，未导入任何数据", report.problems
        )
    _upsert(session, wanted, root, existing, report, on_progress)
    bump_structure_version(session)
    return report


def _valid_rows(rows: list[tuple[int, dict[str, str]]], report: ImportReport) -> dict[str, str]:
    """code → name for well-formed, unique, non-placeholder rows; problems for the rest."""
    seen: dict[str, int] = {}
    out: dict[str, str] = {}
    for line, row in rows:
        code, name = codes.shorten(row.get("code", "")), row.get("name", "")
        reason = codes.check(code) or ("名称为空 (empty name)" if not name else None)
        if reason is None and code in seen:
            first = seen[code]
            reason = f"重复代码，首次出现在第 {first} 行 (duplicate code, first on line {first})"
        if reason:
            report.problems.append(Problem(report.source, f"line {line}", reason))
            continue
        seen[code] = line
        if codes.is_placeholder(code, name):
            report.skipped_placeholders += 1
        else:
            out[code] = name
    return out


def _placed(
    rows: dict[str, str], root: str, existing: dict[str, int], report: ImportReport
) -> dict[str, tuple[str, str | None]]:
    """code → (name, parent code) for rows under the root whose parent exists at the level above.
    Shorter codes first, so a refused parent also refuses its children."""
    placed: dict[str, tuple[str, str | None]] = {}
    for code in sorted(rows, key=len):
        if not code.startswith(root):
            report.skipped_outside_root += 1
            continue
        if code == root:
            placed[code] = (rows[code], None)
            continue
        parent = _parent(code, root, placed, existing)
        if parent is None:
            reason = f"找不到上级区划 (orphan: no parent of {code} at the level above)"
            report.problems.append(Problem(report.source, f"code {code}", reason))
        else:
            placed[code] = (rows[code], parent)
    return placed


def _parent(code: str, root: str, placed: dict[str, Any], existing: dict[str, int]) -> str | None:
    if len(code) <= len(root) or len(code) not in codes.LEVEL_BY_LENGTH:
        return None
    level = codes.LEVEL_BY_LENGTH[len(code)]
    for candidate in codes.parent_candidates(code):
        if candidate in placed or candidate in existing:
            up = Level.CITY if candidate == root else codes.LEVEL_BY_LENGTH.get(len(candidate))
            return candidate if up is not None and up.depth == level.depth - 1 else None
    return None


def _upsert(
    session: Session,
    placed: dict[str, tuple[str, str | None]],
    root: str,
    existing: dict[str, int],
    report: ImportReport,
    on_progress: OnProgress,
) -> None:
    ids = dict(existing)
    done = 0
    for length in sorted({len(c) for c in placed}):
        level_codes = [c for c in placed if len(c) == length]
        new = [c for c in level_codes if c not in ids]
        rows = [_region_row(c, *placed[c], root, ids) for c in new]
        ids.update(insert_regions(session, rows))
        for c in new:
            report.created[codes.level_of(c, root).value] += 1
        report.updated += _rename(session, {c: placed[c][0] for c in level_codes if c in existing})
        done += len(level_codes)
        on_progress(done, len(placed))


def _region_row(code: str, name: str, parent: str | None, root: str, ids: dict[str, int]) -> dict:
    return {
        "code": code,
        "name": name,
        "level": codes.level_of(code, root).value,
        "kind": codes.kind_of(code, root).value,
        "parent_id": ids[parent] if parent else None,
    }


def insert_regions(session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert many regions in one statement per batch; returns code → id."""
    out: dict[str, int] = {}
    for start in range(0, len(rows), 5000):
        batch = rows[start : start + 5000]
        result = session.execute(insert(Region).returning(Region.code, Region.id), batch)
        out.update(dict(result.all()))
    return out


def _rename(session: Session, names: dict[str, str]) -> int:
    current = dict(
        session.execute(select(Region.code, Region.name).where(Region.code.in_(names))).all()
    )
    changed = [{"c": code, "n": name} for code, name in names.items() if current.get(code) != name]
    for row in changed:
        session.execute(update(Region).where(Region.code == row["c"]).values(name=row["n"]))
    return len(changed)


def _existing_root(session: Session) -> str | None:
    return session.scalar(select(Region.code).where(Region.level == Level.CITY.value).limit(1))


def set_footprints(session: Session, by_id: dict[int, Footprint]) -> None:
    rows = [{"id": region_id, **fp.columns()} for region_id, fp in by_id.items()]
    if rows:
        session.execute(update(Region), rows)


def city_name(session: Session) -> str | None:
    return session.scalar(select(Region.name).where(Region.level == Level.CITY.value).limit(1))
