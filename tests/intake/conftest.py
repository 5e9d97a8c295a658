"""Fixtures shared with the case tests: the small demo city with its catalogue."""

from tests.cases.conftest import api, city  # noqa: F401 (fixtures)
