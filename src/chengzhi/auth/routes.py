"""/api/v1/auth: log in and out; `ActorDep` gives routes the acting person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Header, Response
from pydantic import BaseModel, Field

from chengzhi.auth import service
from chengzhi.deps import ClockDep, SessionDep
from chengzhi.models import Role
from chengzhi.orgs.queries import Actor
from chengzhi.privacy import mask_name

router = APIRouter(prefix="/api/v1/auth", tags=["auth 登录"])
COOKIE = "chengzhi_session"


def _token(cookie: str | None, authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return cookie


def current_actor(
    session: SessionDep,
    clock: ClockDep,
    chengzhi_session: Annotated[str | None, Cookie()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Actor:
    return service.actor_from_token(session, clock, _token(chengzhi_session, authorization))


ActorDep = Annotated[Actor, Depends(current_actor)]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    token: str
    name: str | None
    role: str
    role_label: str


@router.post("/login", response_model=LoginOut)
def login(body: LoginIn, session: SessionDep, clock: ClockDep, response: Response) -> LoginOut:
    token, person = service.login(session, clock, body.username, body.password)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", max_age=int(service.LIFETIME.total_seconds())
    )
    role = Role(person.role)
    return LoginOut(token=token, name=mask_name(person.name), role=role.value, role_label=role.zh)


@router.post("/logout", status_code=204)
def logout(
    session: SessionDep,
    response: Response,
    chengzhi_session: Annotated[str | None, Cookie()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    token = _token(chengzhi_session, authorization)
    if token:
        service.logout(session, token)
    response.delete_cookie(COOKIE)
