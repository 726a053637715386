"""Fixtures of the browser tests: one JupyterLab server and one headless Chromium per session.

Without /usr/bin/chromium the tests skip with a message saying how to install it; in CI
(``CI=true``) they fail instead. Screenshots land in ``test-output/browser/``; with
``ESTIME_UPDATE_DOCS=1`` they are also copied to ``docs/``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _lab import REPO, Lab, chromium_missing, launch, when_chromium_is_missing

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium() -> None:
    missing = chromium_missing()
    if missing:
        if when_chromium_is_missing(os.environ) == "fail":
            pytest.fail(f"CI=true and {missing}", pytrace=False)
        pytest.skip(missing)


@pytest.fixture(scope="session")
def lab(chromium: None) -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="estime-lab-") as tmp:
        server = Lab(Path(tmp)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="session")
def browser(chromium: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    out = REPO / "test-output" / "browser"
    out.mkdir(parents=True, exist_ok=True)
    return out
