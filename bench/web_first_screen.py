"""First screen of each web app: `python -m bench.web_first_screen [--url URL] [--runs 5] [--profiles lan,4g]`.

How long a person waits from opening an app to its first useful screen, in a real Chromium (Debian's, driven by
Playwright) against a real hub: the login page (the form ready), and for a logged-in user the command center
(KPIs and the map drawn), the officer's task list (loaded), the technician's fleet (loaded) and the admin's users.

Each run is a cold load: a fresh browser context, logged in through the form (not timed), then the browser cache
disabled and service workers blocked, the network shaped by the profile (Chrome DevTools network emulation), and
the app opened. A warm run follows in the same context with the cache and the officer app's service worker on.
Profiles: `local` (not shaped: this machine's loopback, the floor), `lan` (2 ms round trip, 100 Mbit/s, a city's
own network) and `4g` (60 ms, 12 Mbit/s down, 4 up, an officer's phone). Target (issue 13): the first screen under
one second on a local network (the median of the cold `lan` loads of every screen). `stalls_over_5s` counts loads
where a request was held for seconds: a first version of this bench, which attached a second DevTools session to
the page, saw 1 in about 15 shaped loads held 8 or 16 s (never unshaped, nor in 480 fresh connections from another
client); with one session per page none so far.

Without `--url` a stack of its own is started (`cityops stack up`, free ports, demo seed, the built apps from
dashboards/web/dist, three registered boxes for the fleet) and removed afterwards; a hub given with `--url` needs
the demo logins and at least one registered device. Prints JSON lines: one `run` per load, then one `summary`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from playwright.sync_api import Browser, BrowserContext, CDPSession, Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-quic", "--disable-sync"]  # fmt: skip
DEMO_PASSWORD = "cityops-demo"
TARGET_MS = 1000.0

# (round trip ms, download bit/s, upload bit/s); None: the machine's own network, not shaped.
PROFILES: dict[str, tuple[float, float, float] | None] = {
    "local": None,
    "lan": (2.0, 100e6, 100e6),
    "4g": (60.0, 12e6, 4e6),
}


@dataclass(frozen=True)
class Screen:
    name: str
    user: str | None  # None: the login page, nobody logged in
    path: str
    ready: str  # a CSS selector that is visible once the screen is useful
    viewport: tuple[int, int]


SCREENS = (
    Screen("login", None, "/", '[data-testid="username"]', (1440, 900)),
    Screen("command", "commander1", "/command/",
           '[data-testid="kpi-open-incidents-total"] >> visible=true', (1440, 900)),
    Screen("officer", "officer1", "/officer/", '[data-testid="task-list"][data-loaded="true"]', (390, 844)),
    Screen("technician", "tech1", "/technician/", '[data-testid="device-row"]', (1440, 900)),
    Screen("admin", "admin", "/admin/", '[data-testid="user-row"]', (1440, 900)),
)  # fmt: skip


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def own_stack() -> Iterator[tuple[str, str, str]]:
    """(hub URL, admin user, admin password) of a throwaway local stack serving the built web apps."""
    web = REPO / "dashboards" / "web" / "dist"
    if not (web / "index.html").is_file():
        raise SystemExit(f"the web apps are not built ({web} is missing): run `make web`")
    state = Path(tempfile.mkdtemp(prefix="cityops-web-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYOPS_")}
    env.update(CITYOPS_STATE_DIR=str(state), CITYOPS_STACK_DB="auto", CITYOPS_WEB_DIR=str(web),
               CITYOPS_STACK_MQTT_PORT=str(_free_port()), CITYOPS_STACK_PG_PORT=str(_free_port()),
               CITYOPS_HTTP_PORT=str(_free_port()))  # fmt: skip
    cli = [sys.executable, "-m", "cityops.cli", "stack"]
    up = subprocess.run([*cli, "up", "--json"], env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    if up.returncode != 0:
        raise SystemExit(f"`cityops stack up` failed:\n{up.stdout}\n{up.stderr}")
    info = json.loads(up.stdout)
    try:
        for n in range(1, 4):  # a fleet to list: registered boxes (offline: no agent runs)
            device = [sys.executable, "-m", "cityops.cli", "device", "provision", "--id", f"edge-web-{n:02d}",
                      "--kind", "edge", "--json"]  # fmt: skip
            subprocess.run(device, env=env, cwd=REPO, capture_output=True, check=True, timeout=120)
        yield str(info["hub_url"]).rstrip("/"), str(info["admin_user"]), str(info["admin_password"])
    finally:
        subprocess.run([*cli, "down", "--purge"], env=env, cwd=REPO, capture_output=True, timeout=300)


def _login(page: Page, user: str, password: str) -> None:
    page.goto("/")
    page.fill('[data-testid="username"]', user)
    page.fill('[data-testid="password"]', password)
    page.click('[data-testid="login"]')
    page.wait_for_url(lambda url: urlparse(url).path not in ("", "/"), timeout=30_000)  # the role's app opened
    page.wait_for_load_state("networkidle")


def _devtools(context: BrowserContext, page: Page, profile: str) -> CDPSession:
    """A DevTools session on `page` with the profile's network shaping (and the cache off until told otherwise)."""
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    shape = PROFILES[profile]
    if shape is not None:
        latency, down, up = shape
        conditions = {"offline": False, "latency": latency, "downloadThroughput": down / 8, "uploadThroughput": up / 8}
        cdp.send("Network.emulateNetworkConditions", conditions)
    return cdp


_PAGE_FIGURES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const resources = performance.getEntriesByType('resource');
  const bytes = resources.reduce((sum, r) => sum + (r.transferSize || 0), nav ? nav.transferSize || 0 : 0);
  return {fcp: fcp ? fcp.startTime : null, bytes, requests: resources.length + 1};
}"""


def _open(page: Page, screen: Screen) -> dict[str, Any]:
    started = time.perf_counter()
    page.goto(screen.path, wait_until="commit")
    page.wait_for_selector(screen.ready, state="visible", timeout=60_000)
    first_screen_ms = (time.perf_counter() - started) * 1000
    figures = page.evaluate(_PAGE_FIGURES)
    return {"first_screen_ms": round(first_screen_ms, 1),
            "first_contentful_paint_ms": round(figures["fcp"], 1) if figures["fcp"] is not None else None,
            "transferred_kib": round(figures["bytes"] / 1024, 1), "requests": figures["requests"]}  # fmt: skip


def measure(browser: Browser, url: str, screen: Screen, profile: str, admin: tuple[str, str]) -> list[dict[str, Any]]:
    """One cold load and one warm load of `screen`."""
    width, height = screen.viewport
    context = browser.new_context(base_url=url, viewport={"width": width, "height": height}, locale="zh-CN",
                                  service_workers="block")  # fmt: skip
    try:
        page = context.new_page()
        if screen.user is not None:
            user, password = admin if screen.user == "admin" else (screen.user, DEMO_PASSWORD)
            _login(page, user, password)
        page.goto("about:blank")
        devtools = _devtools(context, page, profile)
        cold = _open(page, screen)
        page.goto("about:blank")
        devtools.send("Network.setCacheDisabled", {"cacheDisabled": False})
        _open(page, screen)  # fills the cache
        page.goto("about:blank")
        warm = _open(page, screen)
    finally:
        context.close()
    base = {"phase": "run", "screen": screen.name, "profile": profile}
    return [{**base, "load": "cold", **cold}, {**base, "load": "warm", **warm}]


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for run in runs:
        rows.setdefault(f"{run['screen']}/{run['profile']}/{run['load']}", []).append(run)
    summary: dict[str, Any] = {}
    for key, group in sorted(rows.items()):
        times = [r["first_screen_ms"] for r in group]
        summary[key] = {"runs": len(group), "median_ms": round(statistics.median(times), 1),
                        "max_ms": round(max(times), 1), "transferred_kib": group[0]["transferred_kib"],
                        "stalls_over_5s": sum(t > 5000 for t in times)}  # fmt: skip
    lan_cold = [v["median_ms"] for k, v in summary.items() if k.endswith("/lan/cold")]
    return {"phase": "summary", "screens": summary, "target_ms": TARGET_MS,
            "target_met_lan_median": bool(lan_cold) and max(lan_cold) < TARGET_MS}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.web_first_screen",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="a running hub with the demo seed (default: start a stack of its own)")
    parser.add_argument("--admin", default="admin:", help="USER:PASSWORD of an admin on --url (default: the stack's)")
    parser.add_argument("--runs", type=int, default=5, help="cold and warm loads per screen and profile")
    parser.add_argument("--profiles", default="local,lan,4g", help=f"comma-separated, of: {', '.join(PROFILES)}")
    parser.add_argument("--screens", default=",".join(s.name for s in SCREENS))
    args = parser.parse_args(argv)
    profiles = [p for p in args.profiles.split(",") if p]
    unknown = [p for p in profiles if p not in PROFILES]
    if unknown:
        parser.error(f"unknown profile {unknown[0]!r}; known: {', '.join(PROFILES)}")
    screens = [s for s in SCREENS if s.name in args.screens.split(",")]
    if not CHROMIUM.is_file():
        parser.error(f"{CHROMIUM} is missing: install Debian's chromium (`make test` does)")

    @contextmanager
    def target() -> Iterator[tuple[str, str, str]]:
        if args.url:
            user, _, password = args.admin.partition(":")
            yield args.url.rstrip("/"), user, password
        else:
            with own_stack() as stack:
                yield stack

    runs: list[dict[str, Any]] = []
    with target() as (url, admin_user, admin_password), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.runs):
                for profile in profiles:
                    for screen in screens:
                        for record in measure(browser, url, screen, profile, (admin_user, admin_password)):
                            emit(record)
                            runs.append(record)
        finally:
            browser.close()
    emit(summarise(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
