"""Shared fixtures: the read-only ../shared folder (tests that need it skip when absent).

Mark a test ``@pytest.mark.shared`` (or use ``requires_shared``) and/or take the
``shared_dir`` fixture: without ../shared the test is skipped with the reason below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SKIP_REASON = f"../shared not found: {SHARED} (read-only project data; tests using it skip)"

requires_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=SKIP_REASON)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every test marked ``shared`` when ../shared is absent."""
    if SHARED.is_dir():
        return
    skip = pytest.mark.skip(reason=SKIP_REASON)
    for item in items:
        if "shared" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder next to the repository; skips the test when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(SKIP_REASON)
    return SHARED
