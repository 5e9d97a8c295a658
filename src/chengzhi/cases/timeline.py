"""The append-only timeline: each event's hash covers its content and the previous hash, so
editing or deleting any row breaks the chain (`chengzhi audit verify`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.models import Case, CaseEvent

GENESIS = "0" * 64
EVENTS = CaseEvent.__table__


def digest(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}|{body}".encode()).hexdigest()


def content(row: Mapping[str, Any]) -> dict[str, Any]:
    """What an event's hash covers, from its column values."""
    return {
        "case": row["case_id"],
        "seq": row["seq"],
        "action": row["action"],
        "from": row["from_status"],
        "to": row["to_status"],
        "actor": row["actor_id"],
        "role": row["role"],
        "unit": row["unit_id"],
        "at": row["at"].astimezone(UTC).isoformat(),
        "reason": row["reason"],
        "data": row["data"],
    }


@dataclass(frozen=True, slots=True)
class Break:
    case_number: str
    seq: int | None
    problem: str


def verify(session: Session, case_ids: Iterable[int] | None = None) -> tuple[int, list[Break]]:
    """Recompute every chain; (events checked, breaks found)."""
    query = select(Case.id, Case.number, Case.last_hash).order_by(Case.id)
    if case_ids is not None:
        query = query.where(Case.id.in_(list(case_ids)))
    checked, breaks = 0, []
    for case_id, number, last_hash in session.execute(query).all():
        events = (
            session.execute(
                select(EVENTS).where(EVENTS.c.case_id == case_id).order_by(EVENTS.c.seq)
            )
            .mappings()
            .all()
        )
        checked += len(events)
        breaks.extend(_check_chain(number, events, last_hash))
    return checked, breaks


def _check_chain(number: str, events: Sequence[Mapping[str, Any]], last_hash: str) -> list[Break]:
    prev, out = GENESIS, []
    for expected_seq, event in enumerate(events, start=1):
        seq = event["seq"]
        if seq != expected_seq:
            out.append(Break(number, seq, f"事件缺失 (event {expected_seq} missing)"))
        if event["prev_hash"] != prev or digest(prev, content(event)) != event["hash"]:
            out.append(Break(number, seq, "事件被改动 (event content or link altered)"))
        prev = event["hash"]
    if prev != last_hash:
        out.append(Break(number, None, "最后事件不符 (last event deleted or replaced)"))
    return out
