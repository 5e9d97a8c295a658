"""Log in with a username and password (argon2), get a session token; the token's SHA-256 is
all the database keeps. The same token works as a cookie or as `Authorization: Bearer`."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chengzhi.clock import Clock
from chengzhi.errors import Unauthenticated
from chengzhi.models import LoginSession, Person
from chengzhi.orgs import service as orgs
from chengzhi.orgs.queries import Actor, actor_for

LIFETIME = timedelta(hours=12)
WRONG = "用户名或密码错误 (wrong username or password)"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, clock: Clock, username: str, password: str) -> tuple[str, Person]:
    person = session.scalar(select(Person).where(Person.username == username))
    if person is None or not person.active or not person.password_hash:
        orgs.hash_password(password)  # same work either way, so timing does not reveal names
        raise Unauthenticated(WRONG)
    if not orgs.verify_password(person.password_hash, password):
        raise Unauthenticated(WRONG)
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(
        LoginSession(
            token_hash=_hash(token),
            person_id=person.id,
            created_at=now,
            expires_at=now + LIFETIME,
            revoked=False,
        )
    )
    return token, person


def actor_from_token(session: Session, clock: Clock, token: str | None) -> Actor:
    if not token:
        raise Unauthenticated("需要登录 (please log in)")
    row = session.scalar(select(LoginSession).where(LoginSession.token_hash == _hash(token)))
    if row is None or row.revoked or row.expires_at <= clock.now():
        raise Unauthenticated("登录已失效，请重新登录 (session expired)")
    return actor_for(session, row.person_id)


def logout(session: Session, token: str) -> None:
    session.execute(
        update(LoginSession).where(LoginSession.token_hash == _hash(token)).values(revoked=True)
    )
