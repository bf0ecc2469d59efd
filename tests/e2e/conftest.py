"""Browser fixtures: Debian's Chromium (scripts/install_browser.sh) driven by Playwright's sync API
against pytest-django's live server. Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google services, which on a
# closed network means a flood of failing connections.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTEFACTS = REPO / "test-artifacts" / "browser"
# Generous: on a busy 2-core machine one page that computes keypoint pictures can take seconds.
DEFAULT_TIMEOUT_MS = 60_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Keep each phase's report on the item, so fixtures can tell a failed test in teardown."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium for the module. Missing Chromium is a failure, not a skip: CI must run these."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install_browser.sh (as root) to install Debian's Chromium "
                    "for the browser tests", pytrace=False)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread, so Django would refuse the test's
    # own ORM calls (SynchronousOnlyOperation); they are plain synchronous calls, so allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Callable[[], Any]]:
    """new_page(width=1280, height=900) -> a page in its own context (its own cookies: one per
    user). When the test fails, every open page is saved as test-artifacts/browser/failed-N.png."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        # A phone width (390) also gets a phone's pixel ratio and touch, so media queries and
        # tap targets behave as on the device.
        phone = width < 600
        context = browser.new_context(viewport={"width": width, "height": height},
                                      device_scale_factor=2 if phone else 1, is_mobile=phone, has_touch=phone)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    report = getattr(request.node, "rep_call", None)
    for i, context in enumerate(contexts):
        if report is not None and report.failed:
            for j, page in enumerate(context.pages):
                # A crashed page must not hide the test's own error.
                with contextlib.suppress(Exception):
                    page.screenshot(path=ARTEFACTS / f"failed-{i}{j}.png", full_page=True)
        context.close()


class Shots:
    """Numbered screenshots: shots(page, "catalogue") -> test-artifacts/browser/<test>/01-catalogue.png."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.n, self.paths = folder, 0, []

    def __call__(self, page: Any, name: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{name}.png"
        page.screenshot(path=path, full_page=True)
        self.paths.append(path)
        return path


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    """Screenshots of one test in a folder of their own (test-artifacts/browser/<test>/), emptied
    first, so one test's run never deletes another's."""
    folder = ARTEFACTS / request.node.name.replace("[", "-").rstrip("]")
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return Shots(folder)
