"""The browser tests' world: one local stack (`cityops stack up`, demo seed) serving the built web apps, and one
headless Chromium. Never skipped: without the build or the browser the tests fail and say what to run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_support import CHROMIUM, CHROMIUM_ARGS, REPO
from playwright.sync_api import Browser, sync_playwright

from tests.e2e.e2e_support import cityops, json_of, stack_env

# CITYOPS_WEB_DIR: another build to test (engineers building side by side each test their own).
WEB_DIST = Path(os.environ.get("CITYOPS_WEB_DIR", REPO / "dashboards" / "web" / "dist"))


class Stack:
    def __init__(self, info: dict[str, Any], env: dict[str, str], state_dir: Path) -> None:
        self.info, self.env, self.state_dir = info, env, state_dir
        self.url = str(info["hub_url"]).rstrip("/")

    def provision(self, device_id: str, lon: float | None = None, lat: float | None = None) -> dict[str, Any]:
        args = ["device", "provision", "--id", device_id, "--kind", "edge", "--json"]
        if lon is not None and lat is not None:
            args += ["--lon", str(lon), "--lat", str(lat)]
        return json_of(cityops(args, self.env, timeout=60))


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not (WEB_DIST / "index.html").is_file():
        pytest.fail(f"the web apps are not built ({WEB_DIST} is missing): run `make web`")
    state_dir = tmp_path_factory.mktemp("browser-stack")
    env = stack_env(state_dir, os.environ.get("CITYOPS_TEST_DB", "auto"))
    env["CITYOPS_WEB_DIR"] = str(WEB_DIST)
    # The admin tests edit hub rule files through the API: on a copy, never the checkout's rules/.
    rules = state_dir / "rules"
    shutil.copytree(REPO / "rules", rules)
    env["CITYOPS_RULES_DIR"] = str(rules)
    info = json_of(cityops(["stack", "up", "--json"], env))
    try:
        yield Stack(info, env, state_dir)
    finally:
        cityops(["stack", "down", "--purge"], env, timeout=120)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
