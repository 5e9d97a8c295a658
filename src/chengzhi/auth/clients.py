"""API clients (接口客户端): an integration — an Open311 app, a department's own system — acts
as a service-account person with one role and unit, and proves it with a key. The key is shown
once when the client is made; only its SHA-256 is stored, so a copy of the database holds no key.

The service account has no password (it cannot log in to the console) and a username
`client:<name>`; its cases and timeline events carry it as the actor like any person's."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.errors import Conflict, Forbidden, InvalidInput, NotFound
from chengzhi.models import ApiClient, OrgUnit, Person, Role
from chengzhi.orgs import service as orgs
from chengzhi.orgs.queries import Actor, actor_for

# Letters (Chinese too), digits, '.', '_', '-': the name goes into the username `client:<name>`.
NAME = re.compile(r"^[\w.-]{1,56}$")
USERNAME_PREFIX = "client:"
# An integration key never administers the platform: least privilege for a secret that lives in
# another system's configuration.
REFUSED_ROLES = frozenset({Role.ADMIN})
# last_used_at is kept to the minute: a busy integration does not write (and lock) its client
# row on every request.
USE_RESOLUTION = timedelta(minutes=1)
INVALID_KEY = "api_key 无效或已吊销 (invalid or revoked api_key)"


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """One client as `chengzhi clients list` shows it (never the key: it is not stored)."""

    name: str
    role: str
    unit_code: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_client(
    session: Session, clock: Clock, name: str, role: Role, unit_code: str | None = None
) -> tuple[ApiClient, str]:
    """A new client with its service account; returns the key, which is not kept anywhere."""
    if not NAME.fullmatch(name):
        raise InvalidInput(
            "客户端名称须为 1–56 个字母、数字或 . _ - "
            "(client name: 1–56 letters, digits, '.', '_' or '-')"
        )
    if role in REFUSED_ROLES:
        raise InvalidInput("接口客户端不能是系统管理员 (an API client cannot be an administrator)")
    if session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise Conflict(f"客户端 {name} 已存在 (client name taken)")
    person = orgs.create_person(
        session, clock, name, role, unit=unit_code, username=USERNAME_PREFIX + name
    )
    key = secrets.token_urlsafe(32)
    client = ApiClient(
        name=name,
        key_hash=hash_key(key),
        person_id=person.id,
        scopes=[],
        created_at=clock.now(),
        last_used_at=None,
        revoked=False,
    )
    session.add(client)
    session.flush()
    return client, key


def revoke(session: Session, name: str) -> ApiClient:
    """The key stops working at once and the service account is deactivated. Revoking twice is
    harmless; the client's past cases keep it as their actor."""
    client = session.scalar(select(ApiClient).where(ApiClient.name == name))
    if client is None:
        raise NotFound(f"客户端 {name} 不存在 (no such client)")
    client.revoked = True
    person = session.get(Person, client.person_id)
    if person is not None:
        person.active = False
    session.flush()
    return client


def actor_for_key(session: Session, clock: Clock, key: str | None) -> Actor:
    """The service account a key acts as; records when the key was last used (to the minute).
    A missing, unknown or revoked key, or a deactivated account, is refused (Forbidden: 403)."""
    if not key:
        raise Forbidden("缺少 api_key (missing api_key)")
    client = session.scalar(select(ApiClient).where(ApiClient.key_hash == hash_key(key)))
    if client is None or client.revoked:
        raise Forbidden(INVALID_KEY)
    person = session.get(Person, client.person_id)
    if person is None or not person.active:
        raise Forbidden(INVALID_KEY)
    now = clock.now()
    if client.last_used_at is None or now - client.last_used_at >= USE_RESOLUTION:
        client.last_used_at = now
    return actor_for(session, person.id)


def list_clients(session: Session) -> list[ClientInfo]:
    rows = session.execute(
        select(ApiClient, Person.role, OrgUnit.code)
        .join(Person, Person.id == ApiClient.person_id)
        .outerjoin(OrgUnit, OrgUnit.id == Person.org_unit_id)
        .order_by(ApiClient.name)
    )
    return [
        ClientInfo(c.name, role, unit, c.created_at, c.last_used_at, c.revoked)
        for c, role, unit in rows
    ]
