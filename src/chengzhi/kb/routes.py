"""/api/v1/kb: the knowledge base of direct answers. Staff read it; operators, dispatchers,
supervisors and administrators ask it for the answers to an inquiry; only an administrator
changes it (a deleted article is deactivated, never removed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from chengzhi.auth.routes import ActorDep
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.kb import match, service
from chengzhi.kb.schemas import AnswerOut, ArticleIn, ArticleOut, ArticlePatch
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base 知识库"])
ArticleId = Annotated[int, Path(ge=1)]


def editor(actor: ActorDep) -> None:
    """401 without a login, 403 for any role but administrator."""
    service.authorise_edit(actor.role)


def staff(actor: ActorDep) -> None:
    service.authorise_read(actor.role)


def answering(actor: ActorDep) -> None:
    service.authorise_suggest(actor.role)


@router.get("/articles", response_model=Page[ArticleOut], dependencies=[Depends(staff)])
def list_articles(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Text in title or body")] = None,
    active: Annotated[bool, Query(description="true: active articles, false: deactivated")] = True,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[ArticleOut]:
    total, rows = service.list_articles(session, q, active, limit, offset)
    items = [ArticleOut.model_validate(r) for r in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/articles/{article_id}", response_model=ArticleOut, dependencies=[Depends(staff)])
def get_article(session: SessionDep, article_id: ArticleId) -> ArticleOut:
    return ArticleOut.model_validate(service.get(session, article_id))


@router.post(
    "/articles", response_model=ArticleOut, status_code=201, dependencies=[Depends(editor)]
)
def create_article(session: SessionDep, clock: ClockDep, body: ArticleIn) -> ArticleOut:
    article = service.create(session, clock, **body.model_dump())
    return ArticleOut.model_validate(article)


@router.patch("/articles/{article_id}", response_model=ArticleOut, dependencies=[Depends(editor)])
def update_article(
    session: SessionDep, clock: ClockDep, article_id: ArticleId, body: ArticlePatch
) -> ArticleOut:
    article = service.update(session, clock, article_id, **body.changes())
    return ArticleOut.model_validate(article)


@router.delete("/articles/{article_id}", status_code=204, dependencies=[Depends(editor)])
def deactivate_article(session: SessionDep, clock: ClockDep, article_id: ArticleId) -> None:
    service.deactivate(session, clock, article_id)


@router.get("/suggest", response_model=list[AnswerOut], dependencies=[Depends(answering)])
def suggest(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=4000, description="The inquiry")],
    k: Annotated[int, Query(ge=1, le=match.MAX_K)] = 3,
    min_score: Annotated[float, Query(ge=0, le=1)] = match.MIN_SCORE,
) -> list[AnswerOut]:
    return [AnswerOut.model_validate(a) for a in match.suggest(session, q, k, min_score)]
