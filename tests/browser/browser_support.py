"""Helpers of the browser tests: a real Chromium (Debian's, driven by Playwright) against the real stack.

Every page a test opens records each request it makes and each console message: at the end of the test no request
may have left the hub's origin and no Content-Security-Policy violation may have happened (`BrowserSession.check`).
Screenshots go to `.cityops/screenshots/` (CITYOPS_SCREENSHOTS_DIR); the README shows the main ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("CITYOPS_SCREENSHOTS_DIR", REPO / ".cityops" / "screenshots"))
DEMO_PASSWORD = "cityops-demo"
PHONE = {"width": 390, "height": 844}  # an ordinary phone, portrait
LAPTOP = {"width": 1440, "height": 900}
WALL = {"width": 1920, "height": 1080}  # the command center's big screen
_ALLOWED_SCHEMES = ("data:", "blob:", "about:")


@dataclass
class BrowserSession:
    """One browser context (one user) with what its pages did."""

    context: BrowserContext
    origin: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("request", self._request)
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        return page

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(f"CSP violation: {text}")

    def foreign_requests(self) -> list[str]:
        return [u for u in self.requests if not u.startswith(self.origin) and not u.startswith(_ALLOWED_SCHEMES)]

    def check(self) -> None:
        foreign = self.foreign_requests()
        assert not foreign, f"requests left the hub's origin {self.origin}: {foreign[:10]}"
        assert not self.problems, "\n".join(self.problems[:10])


@contextmanager
def browser_session(
    browser: Browser, origin: str, viewport: dict[str, int] = LAPTOP, locale: str = "zh-CN", **options: Any
) -> Iterator[BrowserSession]:
    context = browser.new_context(base_url=origin, viewport=viewport, locale=locale, **options)
    context.set_default_timeout(20_000)
    session = BrowserSession(context, origin)
    try:
        yield session
        session.check()
    finally:
        context.close()


def login(page: Page, username: str, password: str = DEMO_PASSWORD, expect_path: str | None = None) -> None:
    """Log in on the landing page as a person would; waits until the role's app has opened."""
    page.goto("/")
    page.get_by_test_id("username").fill(username)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("login").click()
    if expect_path:
        page.wait_for_url(re.compile(rf".*{re.escape(expect_path)}.*"))


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


AXE = REPO / "dashboards" / "web" / "node_modules" / "axe-core" / "axe.min.js"


def assert_accessible(page: Page, context: str | None = None, ignore: tuple[str, ...] = ()) -> None:
    """axe-core (from the web apps' locked packages) finds no serious or critical accessibility violation on the
    page, or inside the element matching the CSS selector `context`. `ignore`: rule ids judged not to apply, each
    with its reason at the call site."""
    assert AXE.is_file(), f"{AXE} is missing: run `make web`"
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated by the test driver: not subject to the page's CSP
    result = page.evaluate(
        "async ([ctx, ignore]) => await axe.run(ctx ? document.querySelector(ctx) : document,"
        " {rules: Object.fromEntries(ignore.map((id) => [id, {enabled: false}]))})",
        [context, list(ignore)],
    )
    bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, "accessibility violations:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in bad
    )
