"""The grid officer's phone app in a real Chromium at phone size, against the real stack: a parked car published over
MQTT by a device becomes a task that arrives on the open list without a reload; the officer opens it (evidence
picture, map, model and rule), accepts, goes on site while offline (the action waits in the outbox and is sent exactly
once when the network returns), and resolves with a camera photo whose EXIF time and place reach the hub. The app is
installable: manifest, icons and a service worker that opens it offline from its cache."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from browser_support import PHONE, assert_accessible, browser_session, login, screenshot
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect

from cloud_hub.seed.demo import DEMO_LOCATION
from tests.e2e.e2e_support import Api, MqttDevice, event_batch, event_dict, wait_for

pytestmark = pytest.mark.browser

PHONE_CONTEXT: dict[str, Any] = {"viewport": PHONE, "is_mobile": True, "has_touch": True}
SLOW = 30_000  # ms: the stack and the browser share two busy cores
# Records the app's vibration calls (a headless browser has no vibrator to observe).
RECORD_VIBRATION = "window.__vibrations = []; navigator.vibrate = (p) => { window.__vibrations.push(p); return true };"
PHOTO_TIME = "2026:12:03 09:41:07"
PHOTO_PLACE = (118.79690, 32.06030)


def _jpeg(width: int, height: int, draw: Any = None, exif: Image.Exif | None = None) -> bytes:
    image = Image.new("RGB", (width, height), (128, 134, 140))
    if draw:
        draw(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def _street(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((0, 300, 960, 540), fill=(70, 72, 76))  # road
    d.rectangle((0, 290, 960, 300), fill=(240, 200, 40))  # no-parking line
    d.rectangle((380, 330, 600, 440), fill=(190, 30, 40))  # the car
    d.rectangle((360, 320, 620, 450), outline=(255, 220, 0), width=4)  # the detector's box


def _gps(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return (float(degrees), float(minutes), round(((value - degrees) * 60 - minutes) * 60, 4))


@functools.cache
def site_photo() -> bytes:
    """A phone camera's JPEG: 3000x2000 of sensor noise (megabytes, so the app has something to compress), with
    EXIF time and GPS position."""
    exif = Image.Exif()
    exif[0x0132] = PHOTO_TIME
    exif.get_ifd(0x8769)[0x9003] = PHOTO_TIME  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: _gps(PHOTO_PLACE[1]), 3: "E", 4: _gps(PHOTO_PLACE[0])})
    noise = Image.merge("RGB", [Image.effect_noise((3000, 2000), 40 + 10 * n) for n in range(3)])
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=92, exif=exif)
    return out.getvalue()


def publish_parked_car(web_stack: Any) -> str:
    """A device reports an illegal-parking start with its evidence picture; returns the camera id (unique)."""
    suffix = uuid.uuid4().hex[:8]
    credentials = web_stack.provision(f"edge-officer-{suffix}", DEMO_LOCATION["lon"], DEMO_LOCATION["lat"])
    camera = f"cam-officer-{suffix}"
    event = event_dict(
        1,
        camera_id=camera,
        subtype="no_parking_zone",
        incident_key=f"{camera}/zone-a/track-1",
        confidence=0.91,
        zone_id="zone-a",
        location=dict(DEMO_LOCATION),
        measurements={"dwell_s": 312.4},
        model={"name": "yolox_nano", "version": "0.1.1", "sha256": "0" * 64},
        rule={"id": "parking.no_parking", "version": 3},
    )
    picture = _jpeg(960, 540, _street)
    sha256 = hashlib.sha256(picture).hexdigest()
    event["evidence"] = {"sha256": sha256, "content_type": "image/jpeg", "bytes": len(picture)}
    uploaded = httpx.put(
        f"{credentials['hub_url'].rstrip('/')}/api/v1/evidence/{event['event_id']}",
        content=picture,
        auth=(credentials["username"], credentials["password"]),
        headers={"Content-Type": "image/jpeg", "X-Content-SHA256": sha256},
        timeout=15,
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    device = MqttDevice(credentials)
    try:
        device.publish("events", event_batch(device.device_id, [event]))
        wait_for("the hub's ack", lambda: device.highest_ack() >= 1 or None, timeout_s=30)
    finally:
        device.close()
    return camera


def order_of(api: Api, camera: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        orders = api.get("/api/v1/work-orders", sort="newest", limit=50)["data"]
        return next((o for o in orders if o.get("camera_id") == camera), None)

    return wait_for(f"the work order of {camera}", find, timeout_s=30)


def steps_to(api: Api, order_id: int, status: str) -> list[dict[str, Any]]:
    detail = api.get(f"/api/v1/work-orders/{order_id}")
    return [t for t in detail["transitions"] if t["to_status"] == status]


def open_list(page: Page) -> None:
    """Log in as officer1 and wait until the list is loaded and the live channel is up."""
    login(page, "officer1", expect_path="/officer/")
    expect(page.locator('[data-testid="task-list"][data-loaded="true"]')).to_be_visible(timeout=SLOW)
    expect(page.get_by_test_id("live-state")).to_have_text("实时", timeout=SLOW)


def test_officer_gets_a_task_live_and_handles_it_on_a_bad_connection(browser: Browser, web_stack: Any) -> None:
    officer = Api(web_stack.url, "officer1", "cityops-demo")
    with browser_session(browser, web_stack.url, **PHONE_CONTEXT) as session:
        session.context.add_init_script(RECORD_VIBRATION)
        page = session.page()
        open_list(page)

        # A task arrives on the open list, without a reload, marked new, with an alert.
        camera = publish_parked_car(web_stack)
        order = order_of(officer, camera)
        assert order["assignee"] == "officer1"
        row = page.locator(f'[data-testid="task-row"][data-task-id="{order["id"]}"]')
        expect(row).to_be_visible(timeout=SLOW)
        expect(row).to_have_class(re.compile(r"\bfresh\b"))
        expect(row.get_by_test_id("task-due")).to_contain_text(re.compile("剩余|已超时"))
        assert page.evaluate("window.__vibrations.length") >= 1
        screenshot(page, "officer-tasks-phone")
        assert_accessible(page)

        # The task: evidence picture, map and place, model and rule, what the officer may do.
        row.click()
        page.wait_for_url(re.compile(rf".*/officer/task/{order['id']}$"))
        evidence = page.get_by_test_id("task-evidence").locator("img")
        expect(evidence).to_be_visible(timeout=SLOW)
        assert evidence.evaluate("(img) => img.naturalWidth") == 960
        expect(page.get_by_test_id("task-model")).to_contain_text("yolox_nano 0.1.1")
        expect(page.get_by_test_id("task-rule")).to_contain_text("parking.no_parking v3")
        expect(page.get_by_test_id("task-place")).to_contain_text("118.79690")
        expect(page.get_by_test_id("task-marker")).to_have_count(1, timeout=SLOW)  # on the hub's own grid map
        expect(page.get_by_test_id("action-accepted")).to_be_visible()
        screenshot(page, "officer-task-phone")
        assert_accessible(page)

        page.get_by_test_id("action-accepted").click()
        expect(page.get_by_test_id("task-status-now")).to_have_text("已接单")
        expect(page.get_by_test_id("action-on_site")).to_be_visible()
        wait_for("accepted at the hub", lambda: steps_to(officer, order["id"], "accepted") or None, timeout_s=30)
        expect(page.get_by_test_id("outbox-banner")).to_be_hidden(timeout=SLOW)

        # No network: the action waits in the outbox, on screen, and goes out exactly once when the network returns.
        session.context.set_offline(True)
        page.get_by_test_id("action-on_site").click()
        banner = page.get_by_test_id("outbox-banner")
        expect(banner).to_be_visible()
        expect(banner.get_by_test_id("outbox-item")).to_have_count(1)
        expect(banner.get_by_test_id("outbox-item")).to_contain_text(f"#{order['id']}")
        expect(banner.get_by_test_id("outbox-state")).to_contain_text("等待网络", timeout=SLOW)
        expect(page.get_by_test_id("history-queued")).to_have_count(1)
        expect(page.get_by_test_id("action-resolved")).to_be_visible()  # predicted: resolving can be queued too
        screenshot(page, "officer-outbox-phone")
        assert officer.get(f"/api/v1/work-orders/{order['id']}")["status"] == "accepted"
        session.context.set_offline(False)
        expect(banner).to_be_hidden(timeout=SLOW)
        assert len(steps_to(officer, order["id"], "on_site")) == 1
        expect(page.get_by_test_id("task-status-now")).to_have_text("已到场")

        # Resolve with a photo from the camera and a note.
        page.get_by_test_id("action-resolved").click()
        page.get_by_test_id("photo-input").set_input_files(
            {"name": "IMG_0412.jpg", "mimeType": "image/jpeg", "buffer": site_photo()}
        )
        expect(page.get_by_test_id("photo-prepared")).to_have_count(1, timeout=SLOW)
        page.get_by_test_id("action-note").locator("textarea").fill("车辆已驶离，现场已拍照")
        page.get_by_test_id("action-confirm").click()
        expect(page.get_by_test_id("task-status-now")).to_have_text("已处置", timeout=SLOW)
        expect(page.get_by_test_id("history-photo")).to_have_count(1, timeout=SLOW)
        expect(page.get_by_test_id("outbox-banner")).to_be_hidden(timeout=SLOW)

    [resolved] = steps_to(officer, order["id"], "resolved")
    assert resolved["note"] == "车辆已驶离，现场已拍照"
    [photo] = resolved["photos"]
    assert photo["uploaded_by"] == "officer1"
    assert photo["lon"] == pytest.approx(PHOTO_PLACE[0], abs=1e-4)
    assert photo["lat"] == pytest.approx(PHOTO_PLACE[1], abs=1e-4)
    taken = datetime.fromisoformat(photo["taken_at"])
    assert taken.tzinfo is not None and taken.astimezone(UTC).replace(tzinfo=None).strftime("%M:%S") == "41:07"
    stored = officer.client.get(photo["url"])
    assert stored.status_code == 200 and stored.content[:3] == b"\xff\xd8\xff"
    assert len(stored.content) < len(site_photo()), "the phone compresses the photo"
    kept = Image.open(io.BytesIO(stored.content)).getexif()
    assert kept.get_ifd(0x8769).get(0x9003) == PHOTO_TIME, "EXIF kept through compression"
    assert max(photo["width"], photo["height"]) <= 2560
    officer.close()


def test_the_app_is_installable_and_opens_offline_from_its_cache(browser: Browser, web_stack: Any) -> None:
    manifest_response = httpx.get(f"{web_stack.url}/officer/manifest.webmanifest")
    assert manifest_response.status_code == 200
    manifest = json.loads(manifest_response.text)
    assert manifest["start_url"] == "/officer/" and manifest["scope"] == "/officer/"
    assert manifest["display"] == "standalone" and manifest["theme_color"].startswith("#")
    assert manifest["name"] and manifest["short_name"]
    sizes = set()
    for icon in manifest["icons"]:
        response = httpx.get(f"{web_stack.url}{icon['src']}")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png", icon
        width, height = Image.open(io.BytesIO(response.content)).size
        assert icon["sizes"] == f"{width}x{height}"
        sizes.add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes
    worker = httpx.get(f"{web_stack.url}/officer/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]

    publish_parked_car(web_stack)  # something on the list to keep
    with browser_session(browser, web_stack.url, **PHONE_CONTEXT) as session:
        page = session.page()
        open_list(page)
        assert page.locator('link[rel="manifest"]').get_attribute("href") == "/officer/manifest.webmanifest"
        scope = page.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
        assert scope == f"{web_stack.url}/officer/"
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=SLOW)
        rows = page.get_by_test_id("task-row").count()
        assert rows >= 1

        session.context.set_offline(True)
        page.reload()
        expect(page.get_by_test_id("task-count")).to_be_visible(timeout=SLOW)
        expect(page.get_by_test_id("list-offline")).to_be_visible(timeout=SLOW)
        expect(page.get_by_test_id("task-row")).to_have_count(rows)
        page.get_by_test_id("task-row").first.click()
        expect(page.get_by_test_id("task-detail")).to_be_visible()
        expect(page.get_by_test_id("task-history")).to_be_visible(timeout=SLOW)  # the cached detail
        session.context.set_offline(False)
