"""Domain errors carry their meaning; one handler in the web layer maps them to HTTP status,
the CLI prints them. Messages are user-facing (Chinese first, English alongside)."""

from __future__ import annotations


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class InvalidInput(DomainError):
    status = 422


class ImportRejected(InvalidInput):
    """An import found bad rows and, without --skip-bad, landed nothing."""

    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message, problems=problems)
        self.problems = problems


class Problem:
    """One bad row or feature: where it is and why it was refused."""

    __slots__ = ("source", "where", "reason")

    def __init__(self, source: str, where: str, reason: str) -> None:
        self.source, self.where, self.reason = source, where, reason

    def __str__(self) -> str:
        return f"{self.source}:{self.where}: {self.reason}"

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "where": self.where, "reason": self.reason}


class Unauthenticated(DomainError):
    """No valid login (HTTP 401)."""

    status = 401


class Forbidden(DomainError):
    """The actor's role may not do this (HTTP 403)."""

    status = 403


class InvalidTransition(Conflict):
    """The action does not apply to a case in its current status (HTTP 409)."""
