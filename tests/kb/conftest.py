"""The demo city and its personas for the API tests, and a fresh matcher for every test."""

import pytest

from chengzhi.kb import match
from tests.cases.conftest import city  # noqa: F401 (a fixture)


@pytest.fixture(autouse=True)
def fresh_index(monkeypatch):
    """No index carried over from another test: the tests' transactions roll back, and some
    read through a second session on the same connection, which production never does."""
    monkeypatch.setattr(match, "_cached", None)
