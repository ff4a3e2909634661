"""Model tests run with one torch thread (the ``one_thread`` fixture of tests/conftest.py)."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _model_tests_one_thread(one_thread):
    yield
