"""Matching an inquiry against the knowledge base (知识库匹配): the best answers for a text.

The active articles' title and question (how residents ask it) are vectorised by the triage
classifier's character n-gram TF-IDF (字符 1–3 元组; every n-gram kept, as one article is a
document), and an inquiry scores each article by cosine similarity. Scoring walks only the
posting lists of the inquiry's n-grams, so a suggestion costs well under a millisecond with
thousands of articles.

The `Index` is built once per process and reused until the knowledge base changes. Web
processes, workers and the CLI share the database, so the index is checked against a fingerprint
of the table (the number of articles and their latest `updated_at`, which the write path keeps
strictly rising): after any write by this process, and otherwise at most every
`RECHECK_SECONDS`, so a change made elsewhere shows within a second. A transaction that has
changed articles itself matches against its own view, in an index of its own that no other
session sees (the transaction may yet roll back). Texts pass through `clean` first, so phone and
ID numbers never reach the index, and nothing here logs a text.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chengzhi.db import forget, memo
from chengzhi.models import KnowledgeArticle
from chengzhi.triage.classifier import CharNgramTfidf, clean, ngram_keys, prepare

MIN_SCORE = 0.2  # below it an answer is more likely noise than help (docs/knowledge-base.md)
MAX_K = 20
QUERY_CHARS = 2000  # the head of a long appeal is where the question is
# How long an index is trusted without asking the database whether another process changed the
# knowledge base: the question scans the table (no index on updated_at), about 1 ms per 5,000
# articles, which would otherwise be paid by every suggestion.
RECHECK_SECONDS = 1.0
FINGERPRINT, OWN_INDEX = "kb.fingerprint", "kb.own_index"  # memo keys
WROTE = "kb.wrote"  # session.info: the transaction that changed articles


@dataclass(frozen=True, slots=True)
class Answer:
    """One suggested article: what the operator reads out, and how well it matched (0–1)."""

    article_id: int
    title: str
    answer: str
    score: float


class Index:
    """TF-IDF vectors of some articles with an inverted index (n-gram → articles) over them."""

    def __init__(self, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """`rows`: (id, title, question, answer) of each article to match."""
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.titles = [r[1] for r in rows]
        self.answers = [r[3] for r in rows]
        self.vectoriser: CharNgramTfidf | None = None
        if not rows:
            return
        texts = [document(title, question) for _, title, question, _ in rows]
        self.vectoriser = CharNgramTfidf(ngram_range=(1, 3), min_df=1).fit(texts)
        self.postings = self.vectoriser.transform(texts).T.tocsr()  # n-gram → (article, weight)

    def __len__(self) -> int:
        return len(self.ids)

    def query_vector(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(columns, weights) of an inquiry's unit TF-IDF vector: what the vectoriser's
        `transform` gives for one text, computed from its vocabulary index and IDF directly, as
        the sparse-matrix machinery costs several times the arithmetic for one short text."""
        query = clean_query(text)
        if self.vectoriser is None or not query:
            return np.zeros(0, np.int64), np.zeros(0)
        _, keys = ngram_keys([query], self.vectoriser.ngram_range)
        cols = self.vectoriser.index_.lookup(keys)
        cols, counts = np.unique(cols[cols >= 0], return_counts=True)
        weights = (1.0 + np.log(counts)) * self.vectoriser.idf_[cols]  # sublinear tf × idf
        norm = np.sqrt(weights @ weights)
        return cols, weights / norm if norm else weights

    def scores(self, text: str) -> np.ndarray:
        """The cosine similarity of `text` with every article, in index order."""
        scores = np.zeros(len(self.ids))
        cols, weights = self.query_vector(text)
        if not len(cols):
            return scores
        starts, ends = self.postings.indptr[cols], self.postings.indptr[cols + 1]
        lengths = ends - starts  # every column is a known n-gram: at least one posting
        # The positions of every posting of every query n-gram, in one array.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        at = offsets + np.arange(lengths.sum())
        contributions = self.postings.data[at] * np.repeat(weights, lengths)
        return np.bincount(self.postings.indices[at], contributions, len(self.ids))

    def search(self, text: str, k: int = 3, min_score: float = MIN_SCORE) -> list[Answer]:
        """The k best articles scoring at least `min_score`, best first (ties: older first)."""
        scores = self.scores(text)
        hits = np.flatnonzero(scores >= max(min_score, 1e-9))
        best = hits[np.lexsort((self.ids[hits], -scores[hits]))][:k]
        return [
            Answer(int(self.ids[i]), self.titles[i], self.answers[i], round(float(scores[i]), 4))
            for i in best
        ]


def document(title: str, question: str) -> str:
    """The text an article is matched by: its title and every way residents ask it."""
    return prepare(title, question)


def clean_query(text: str) -> str:
    """An inquiry as it is matched: its head, normalised, personal data removed."""
    return clean(text[:QUERY_CHARS])


# ---------------------------------------------------------------------------------------------
# The process's index, rebuilt when the knowledge base changes


@dataclass(frozen=True, slots=True)
class _Cached:
    fingerprint: tuple[Hashable, ...]  # what the index was built from
    revision: int  # this process's writes when it was built
    checked: float  # time.monotonic() of the last check against the database
    index: Index


_cached: _Cached | None = None
_revision = 0  # bumped by each write this process makes


def suggest(session: Session, text: str, k: int = 3, min_score: float = MIN_SCORE) -> list[Answer]:
    """The best answers in the knowledge base for an inquiry, best first; [] when none scores
    `min_score` (cosine similarity, 0–1)."""
    k = max(0, min(k, MAX_K))
    return index(session).search(text, k, min_score) if k and text.strip() else []


def index(session: Session) -> Index:
    """The index of the active articles as this session sees the database (at most
    `RECHECK_SECONDS` behind other processes' changes)."""
    global _cached
    if _wrote(session):  # its own uncommitted view: never shared, as it may be rolled back
        return memo(session, OWN_INDEX, lambda: Index(active_rows(session)))
    url, now, cached = session.get_bind().engine.url, time.monotonic(), _cached
    if (
        cached is not None
        and cached.fingerprint[0] == url
        and cached.revision == _revision
        and now - cached.checked < RECHECK_SECONDS
    ):
        return cached.index
    revision = _revision  # read before the database: a write meanwhile forces a new check
    found = memo(session, FINGERPRINT, lambda: fingerprint(session))
    if cached is not None and (cached.fingerprint, cached.revision) == (found, revision):
        built = cached.index
    else:  # another process's change, or this one's (which a still clock may not show)
        built = Index(active_rows(session))
    _cached = _Cached(found, revision, now, built)
    return built


def changed(session: Session) -> None:
    """Called by every write path: the writing transaction matches against its own view from
    now on, and this process checks the database again on its next suggestion."""
    global _revision
    _revision += 1
    session.info[WROTE] = session.get_transaction()
    forget(session, OWN_INDEX)
    forget(session, FINGERPRINT)


def _wrote(session: Session) -> bool:
    written = session.info.get(WROTE)
    return written is not None and written is session.get_transaction()


def fingerprint(session: Session) -> tuple[Hashable, ...]:
    """Which database, how many articles, and the latest change: one aggregate query."""
    with session.no_autoflush:  # writers flush; a lookup during intake must not write early
        count, latest = session.execute(
            select(func.count(), func.max(KnowledgeArticle.updated_at))
        ).one()
    return session.get_bind().engine.url, count, latest


def active_rows(session: Session) -> list[tuple[int, str, str, str]]:
    query = (
        select(
            KnowledgeArticle.id,
            KnowledgeArticle.title,
            KnowledgeArticle.question,
            KnowledgeArticle.answer,
        )
        .where(KnowledgeArticle.active.is_(True))
        .order_by(KnowledgeArticle.id)
    )
    with session.no_autoflush:
        return [(i, t, q, a) for i, t, q, a in session.execute(query)]
