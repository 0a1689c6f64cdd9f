"""The command center in a real browser against the real stack, as commander1 (laptop 1440x900 and the 1920x1080
wall): an event published over MQTT with the real protocol appears on the map and in the incident list without a
reload; drill-downs from a marker and a chart reach an incident's timeline with its evidence picture; a reassigned
order changes on the SLA board live; the rainstorm mode is switched and the switch arrives on another screen; the
stale banner appears when the live channel drops and goes when it returns."""

from __future__ import annotations

import hashlib
import io
import itertools
import re
import uuid
from typing import Any

import httpx
import pytest
from browser_support import DEMO_PASSWORD, LAPTOP, WALL, assert_accessible, browser_session, login, screenshot
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from cloud_hub.seed.demo import DEMO_GRIDS
from tests.e2e.e2e_support import Api, MqttDevice, event_batch, event_dict, wait_for

pytestmark = pytest.mark.browser

LIVE = re.compile(r"\blive\b")
# Places in officer1's grid (nj-gulou-01) on a 7x7 lattice, about 95 m apart: parked cars closer than 30 m merge
# into one incident (rules/hub/merge.yaml), and each test here wants its own.
_GRID = DEMO_GRIDS[0]
_PLACES = (
    {
        "lon": round(_GRID.west + (0.5 + n % 7) * (_GRID.east - _GRID.west) / 7, 6),
        "lat": round(_GRID.south + (0.5 + n // 7 % 7) * (_GRID.north - _GRID.south) / 7, 6),
    }
    for n in itertools.count()
)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (200, 60, 40)).save(out, format="JPEG")
    return out.getvalue()


def publish_incident(stack: Any, label: str, kind: str = "illegal_parking", **fields: Any) -> dict[str, Any]:
    """A new edge device in officer1's grid reports one situation over MQTT, with its evidence picture over HTTP
    (protocol v1); answers the incident and work order as the hub made them."""
    device_id = f"cmd-{label}-{uuid.uuid4().hex[:6]}"
    place = next(_PLACES)
    credentials = stack.provision(device_id, place["lon"], place["lat"])
    camera = f"{device_id}-cam"
    picture = _jpeg()
    sha = hashlib.sha256(picture).hexdigest()
    details: dict[str, Any] = {
        "kind": kind,
        "camera_id": camera,
        "incident_key": f"{camera}/zone-a/track-1",
        "zone_id": "zone-a",
        "confidence": 0.91,
        "location": place,
        "measurements": {"dwell_s": 312.0},
        "model": {"name": "yolox_nano", "version": "0.1.1", "sha256": "ab" * 32},
        "rule": {"id": "parking.no_parking", "version": 3},
        "evidence": {"sha256": sha, "content_type": "image/jpeg", "bytes": len(picture)},
    }
    event = event_dict(1, **{**details, **fields})
    device = MqttDevice(credentials)
    try:
        device.publish("events", event_batch(device_id, [event]))
        wait_for("the event's ack", lambda: device.highest_ack() >= 1 or None, timeout_s=30)
    finally:
        device.close()
    httpx.put(
        f"{stack.url}/api/v1/evidence/{event['event_id']}",
        content=picture,
        headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha},
        auth=(device_id, credentials["password"]),
        timeout=15,
    ).raise_for_status()
    api = Api(stack.url, "commander1", DEMO_PASSWORD)
    try:
        incident = wait_for(
            "the incident and its work order",
            lambda: next(
                (i for i in api.get("/api/v1/incidents", camera_id=camera)["data"] if i.get("work_order")), None
            ),
            timeout_s=30,
        )
    finally:
        api.close()
    return {"camera": camera, "incident": incident, "order": incident["work_order"]}


def open_command(page: Page, path: str = "/command/") -> None:
    login(page, "commander1", expect_path="/command/")
    # Let the app finish its start (it exchanges the single-use refresh cookie) before opening another page.
    expect(page.get_by_test_id("live-state")).to_have_class(LIVE, timeout=30_000)
    if path != "/command/":
        page.goto(path)
        expect(page.get_by_test_id("live-state")).to_have_class(LIVE, timeout=30_000)


def settled(page: Page) -> None:
    """Before a screenshot: the open-incident KPI agrees with the map's list (its debounced refetch is done) and
    every chart has finished drawing."""
    expect(page.get_by_test_id("kpi-open-incidents-total")).to_have_text(
        str(page.get_by_test_id("map-list-incident").count())
    )
    for chart in page.locator(".chart[data-rendered]").all():
        expect(chart).to_have_attribute("data-rendered", "true")


def marker(page: Page, incident_id: int) -> Locator:
    return page.locator(f'[data-testid="incident-marker"][data-incident-id="{incident_id}"]')


def test_a_published_event_appears_on_the_map_and_in_the_list_without_a_reload(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        open_command(page)
        expect(page.get_by_test_id("map-panel").locator(".leaflet-container")).to_be_visible()
        page.evaluate("window.__notReloaded = true")  # gone if the page were reloaded

        # A rat in a kitchen (red) and a flooded street (orange), as edge boxes report them.
        first = publish_incident(web_stack, "map", kind="kitchen_violation", subtype="rodent")
        incident_id = first["incident"]["id"]
        expect(marker(page, incident_id)).to_be_visible()
        expect(marker(page, incident_id)).to_have_attribute("data-severity", "red")
        expect(marker(page, incident_id)).to_have_attribute("aria-label", re.compile("红色 · 后厨违规"))
        expect(page.locator(f'[data-testid="map-list-incident"][data-incident-id="{incident_id}"]')).to_be_visible()
        flood = publish_incident(web_stack, "flood", kind="waterlogging", measurements={"water_depth_cm": 28.0})
        expect(marker(page, flood["incident"]["id"])).to_have_attribute("data-severity", "orange")
        for panel in ("kpi-open-incidents", "kpi-work-orders", "kpi-sla", "kpi-false-alarms", "kpi-fleet"):
            expect(page.get_by_test_id(panel).get_by_test_id("data-age")).to_be_visible()
        settled(page)
        screenshot(page, "command-overview-laptop")
        assert_accessible(page)

        page.get_by_test_id("nav-incidents").click()
        row = page.locator(f'[data-testid="incident-row"][data-incident-id="{incident_id}"]')
        expect(row).to_be_visible()
        second = publish_incident(web_stack, "list")
        expect(
            page.locator(f'[data-testid="incident-row"][data-incident-id="{second["incident"]["id"]}"]')
        ).to_be_visible()
        assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
        assert_accessible(page)

        # The English switch covers this app too.
        page.get_by_test_id("language").select_option("en")
        expect(page.get_by_test_id("nav-incidents")).to_have_text("Incidents")
        expect(row.get_by_test_id("severity")).not_to_contain_text("色")


def test_drill_down_to_the_timeline_and_reassign_the_order(browser: Browser, web_stack) -> None:
    published = publish_incident(web_stack, "drill")
    incident_id, order_id = published["incident"]["id"], published["order"]["id"]
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        board = session.page()  # a second screen watching the SLA board
        open_command(board, "/command/orders")
        board_row = board.locator(f'[data-testid="order-row"][data-order-id="{order_id}"]')
        expect(board_row.get_by_test_id("order-assignee")).to_contain_text("officer1")

        page = session.page()
        page.goto("/command/")
        expect(page.get_by_test_id("live-state")).to_have_class(LIVE, timeout=30_000)
        # From the marker, by keyboard: focus it and press Enter.
        marker(page, incident_id).focus()
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf".*/command/incidents/{incident_id}$"))
        timeline = page.get_by_test_id("incident-timeline")
        expect(timeline.get_by_test_id("event")).to_have_count(1)
        expect(timeline.get_by_test_id("evidence-image")).to_have_attribute("src", re.compile(r"^blob:"))
        expect(timeline.get_by_test_id("transition").first).to_be_visible()
        screenshot(page, "command-incident-timeline")

        page.get_by_test_id("action-reassigned").click()
        dialog = page.get_by_test_id("action-dialog")
        dialog.get_by_test_id("action-assignee").click()
        page.get_by_test_id("officer-officer2").click()
        dialog.get_by_test_id("action-note").fill("officer1 is at another incident")
        dialog.get_by_test_id("action-confirm").click()
        expect(page.get_by_test_id("order-assignee")).to_contain_text("officer2")
        expect(timeline.get_by_test_id("transition").last).to_contain_text("officer1 is at another incident")

        # The other screen's row changed by itself.
        expect(board_row.get_by_test_id("order-assignee")).to_contain_text("officer2")

        # From a chart (its table view: the same links a bar click follows) to the filtered list, then a row.
        page.goto("/command/")
        chart = page.get_by_test_id("chart-by-kind")
        chart.get_by_test_id("chart-by-kind-table-toggle").click()
        chart.get_by_role("link").first.click()
        page.wait_for_url(re.compile(r".*/command/incidents\?kind=.*since=.*until=.*"))
        page.locator('[data-testid="incident-row"]').first.get_by_test_id("incident-link").click()
        page.wait_for_url(re.compile(r".*/command/incidents/\d+$"))
        expect(page.get_by_test_id("incident-timeline").get_by_test_id("event").first).to_be_visible()


def test_sla_board_bulk_reassign_with_per_order_results(browser: Browser, web_stack) -> None:
    first = publish_incident(web_stack, "bulk1")["order"]["id"]
    second = publish_incident(web_stack, "bulk2")["order"]["id"]
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        open_command(page, "/command/orders")
        rows = {i: page.locator(f'[data-testid="order-row"][data-order-id="{i}"]') for i in (first, second)}
        expect(rows[first].get_by_test_id("order-due")).to_contain_text(re.compile("剩余|超时"))
        bar = page.get_by_test_id("bulk-bar")
        results = page.get_by_test_id("bulk-results")

        def bulk_reassign_to_officer3(ids: tuple[int, ...]) -> None:
            for i in ids:
                rows[i].get_by_test_id("order-select").click()
            expect(bar.get_by_test_id("bulk-selected")).to_contain_text(str(len(ids)))
            bar.get_by_test_id("bulk-officer").click()
            page.get_by_role("option", name=re.compile("officer3")).click()
            bar.get_by_test_id("bulk-reassign").click()
            expect(results.get_by_test_id("bulk-result")).to_have_count(len(ids))

        bulk_reassign_to_officer3((first,))
        results.get_by_test_id("bulk-results-close").click()
        expect(rows[first].get_by_test_id("order-assignee")).to_contain_text("officer3")

        # Both: the first is already officer3's and is refused with the hub's reason, the second moves.
        bulk_reassign_to_officer3((first, second))
        refused = results.get_by_test_id("bulk-result").filter(has_text=f"#{first}")
        expect(refused).to_contain_text("officer3")
        expect(refused).not_to_have_class(re.compile(r"\bok\b"))
        expect(results.get_by_test_id("bulk-result").filter(has_text=f"#{second}")).to_have_class(re.compile(r"\bok\b"))
        results.get_by_test_id("bulk-results-close").click()
        expect(results).to_be_hidden()
        expect(rows[second].get_by_test_id("order-assignee")).to_contain_text("officer3")
        expect(bar.get_by_test_id("bulk-selected")).to_contain_text("1")  # the refused one stays selected
        screenshot(page, "command-orders")
        assert_accessible(page)


def test_rainstorm_mode_is_switched_with_a_note_and_reaches_the_wall(browser: Browser, web_stack) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        open_command(page)
        wall = session.page()
        wall.set_viewport_size(WALL)
        wall.goto("/command/wall")
        expect(wall.get_by_test_id("live-state")).to_have_class(LIVE, timeout=30_000)
        expect(wall.get_by_test_id("rainstorm-state")).to_contain_text("关闭")

        page.get_by_test_id("rainstorm-switch").click()
        dialog = page.get_by_test_id("rainstorm-dialog")
        dialog.get_by_test_id("rainstorm-note").fill("气象台发布暴雨橙色预警")
        dialog.get_by_test_id("rainstorm-confirm").click()
        expect(page.get_by_test_id("rainstorm-state")).to_contain_text("已开启")
        expect(wall.get_by_test_id("rainstorm-state")).to_contain_text("已开启")  # pushed, not polled

        page.get_by_test_id("rainstorm-switch").click()
        page.get_by_test_id("rainstorm-dialog").get_by_test_id("rainstorm-confirm").click()
        expect(wall.get_by_test_id("rainstorm-state")).to_contain_text("关闭")
    api = Api(web_stack.url, "commander1", DEMO_PASSWORD)
    try:
        history = api.get("/api/v1/modes/rainstorm/history")
    finally:
        api.close()
    assert [h["enabled"] for h in history[:2]] == [False, True]
    assert history[1]["note"] == "气象台发布暴雨橙色预警"


def test_wall_fits_any_screen_and_shows_the_stale_banner_while_the_channel_is_down(browser: Browser, web_stack) -> None:
    # Street vending for over an hour: orange. (Not waterlogging: floods within 150 m merge into one incident.)
    publish_incident(web_stack, "wall", kind="road_occupation", measurements={"dwell_s": 4000.0})
    with browser_session(browser, web_stack.url, viewport=WALL) as session:
        page = session.page()
        open_command(page, "/command/wall")
        assert page.evaluate("document.documentElement.classList.contains('dark')")
        expect(page.get_by_test_id("incident-marker").first).to_be_visible()
        for size in (WALL, {"width": 3840, "height": 2160}, {"width": 1280, "height": 800}):
            page.set_viewport_size(size)
            # The whole 1920x1080 layout inside the window (scaled, letterboxed), and no scrollbar.
            page.wait_for_function(
                """([w, h]) => {
                    const r = document.querySelector('[data-testid=wall]').getBoundingClientRect()
                    const d = document.documentElement
                    return r.left >= -0.5 && r.top >= -0.5 && r.right <= w + 0.5 && r.bottom <= h + 0.5
                        && Math.max(r.width / w, r.height / h) > 0.99 && d.scrollWidth <= w && d.scrollHeight <= h
                }""",
                arg=[size["width"], size["height"]],
            )
        page.set_viewport_size(WALL)
        settled(page)
        screenshot(page, "command-wall")

        page.route("**/api/v1/live**", lambda route: route.abort())
        session.context.set_offline(True)
        expect(page.get_by_test_id("stale-banner")).to_be_visible(timeout=60_000)
        screenshot(page, "command-wall-stale")
        page.unroute("**/api/v1/live**")
        session.context.set_offline(False)
        expect(page.get_by_test_id("stale-banner")).to_be_hidden(timeout=60_000)
        expect(page.get_by_test_id("live-state")).to_have_class(LIVE)
