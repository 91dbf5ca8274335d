"""Whether the tests run in CI: there, a missing PostgreSQL, Redis or nginx FAILS a test
that needs it instead of skipping it."""

from __future__ import annotations

import os


def running_in_ci() -> bool:
    """True when the environment says CI=true (GitHub Actions, GitLab, .ci/run)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
