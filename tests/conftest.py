"""Fixtures shared by all test suites (unit, channels, end-to-end): add yours below."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.ci import running_in_ci

PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the test PostgreSQL: TEST_POSTGRES_URL, default 127.0.0.1:5432 db ``test``.

    When the server is not reachable, tests using this fixture FAIL if CI=true and are
    SKIPPED (with the reason) otherwise. Tests must use their own schema or tables.
    """
    import sqlalchemy as sa

    url = os.environ.get("TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    engine = sa.create_engine(url, future=True, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))
    except sa.exc.SQLAlchemyError as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = f"PostgreSQL not reachable at {where} ({type(exc).__name__})"
        if running_in_ci():
            pytest.fail(f"{reason}; CI=true requires it", pytrace=False)
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    finally:
        engine.dispose()
    return url
