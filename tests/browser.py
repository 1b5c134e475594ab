"""Headless Chromium for the report's tests: Debian's ``chromium`` driven by Playwright.

Every request a page makes is intercepted: the report file itself is served, anything
else is aborted and recorded, so a test can assert the page fetched nothing. Screenshots
go to ``build/screenshots/`` for people to look at.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[1] / "build" / "screenshots"
# As the machine's notes advise: no background traffic, which the closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1440, "height": 900}


@dataclass
class OpenedReport:
    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 10_000  # a rendered page, not a blank one
        return path

    def outside_requests(self) -> list[str]:
        return [url for url in self.requests if url != self.url]


# Module scope, not session: Playwright's sync API keeps an asyncio loop running on the main
# thread while it is open, and pytest-asyncio cannot run the async tests of later modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Debian's chromium is not installed; `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_report(browser: Any) -> Iterator[Callable[..., OpenedReport]]:
    contexts: list[Any] = []

    def open_(path: Path, fragment: str = "") -> OpenedReport:
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        opened = OpenedReport(page, path.resolve().as_uri())

        def route(route: Any) -> None:
            opened.requests.append(route.request.url)
            if route.request.url == opened.url:
                route.continue_()
            else:
                route.abort()

        context.route("**/*", route)
        page.on("pageerror", lambda error: opened.errors.append(str(error)))
        page.on("dialog", lambda dialog: opened.errors.append(f"dialog: {dialog.message}"))
        page.goto(opened.url + fragment)  # a fragment is never requested: the file is
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        return opened

    yield open_
    for context in contexts:
        context.close()
