"""Fixtures shared with the case tests: the small demo city with its catalogue."""

from tests.cases.conftest import city  # noqa: F401 (a fixture)
