"""The web apps' shell in a real browser: each role logs in and lands in its own app, Chinese first with an English
switch, the API docs render from the hub's own files, and no page asks any other origin for anything."""

from __future__ import annotations

import re

import httpx
import pytest
from browser_support import PHONE, assert_accessible, browser_session, login, screenshot
from playwright.sync_api import Browser, expect

pytestmark = pytest.mark.browser

ROLES = [("commander1", "/command/"), ("officer1", "/officer/"), ("tech1", "/technician/")]


@pytest.mark.parametrize(("username", "home"), ROLES)
def test_each_role_logs_in_to_its_own_app(browser: Browser, web_stack, username: str, home: str) -> None:
    viewport = PHONE if home == "/officer/" else None
    with browser_session(browser, web_stack.url, **({"viewport": viewport} if viewport else {})) as session:
        page = session.page()
        login(page, username, expect_path=home)
        expect(page).to_have_url(re.compile(rf"{re.escape(web_stack.url)}{home}"))


def test_admin_logs_in_and_switches_to_english(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        page.goto("/")
        expect(page.get_by_test_id("login")).to_contain_text("登录")
        screenshot(page, "login")
        assert_accessible(page)
        page.get_by_test_id("language").select_option("en")
        expect(page.get_by_test_id("login")).to_contain_text("Log in")
        login(page, web_stack.info["admin_user"], web_stack.info["admin_password"], expect_path="/admin/")
        expect(page.get_by_test_id("current-user")).to_contain_text("Administrator")


def test_a_wrong_password_is_refused_with_the_reason(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        login(page, "officer1", "not-the-password")
        expect(page.get_by_test_id("login-error")).to_contain_text("incorrect username or password")


def test_an_app_page_without_a_session_goes_to_login_and_back(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        page.goto("/command/")
        page.wait_for_url(re.compile(r".*/\?next=%2Fcommand%2F$"))
        login(page, "commander1", expect_path="/command/")


def test_api_docs_render_from_the_hubs_own_files(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        page.goto("/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("CityOps hub")
        expect(page.locator(".opblock-tag").first).to_be_visible()
        screenshot(page, "api-docs")
        page.goto("/redoc")
        expect(page.locator("h1").first).to_contain_text("CityOps hub", timeout=30_000)


def test_pages_carry_security_headers(web_stack) -> None:
    for path in ("/", "/officer/", "/docs", "/api/v1/auth/me"):
        headers = httpx.get(f"{web_stack.url}{path}").headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert httpx.get(f"{web_stack.url}/dashboard").headers["location"] == "/command/"
