"""The field technician's app in a real Chromium against the real stack, with a real edge agent: the fleet updates
live; a box is registered in the wizard (its label read from a QR picture, credentials shown once, the configuration
file downloaded, the provisioning QR code decoded with OpenCV) and seen coming online over MQTT; a zone is drawn on a
snapshot the running agent takes, validated, checked against a fresh picture and pushed, and the agent applies it
with the zone's 4-decimal coordinates unchanged; the editor works by keyboard on a tablet."""

from __future__ import annotations

import base64
import json
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from browser_support import LAPTOP, REPO, assert_accessible, browser_session, login, screenshot
from playwright.sync_api import Browser, Page, expect

from cloud_hub.stack.edge_config import edge_config, write_edge_config
from tests.e2e.e2e_support import SHARED, Api, MqttDevice, wait_for

pytestmark = pytest.mark.browser

TABLET = {"width": 1024, "height": 768}
DEMO_PICTURE = SHARED / "media" / "mmdet_demo.jpg"
MODEL = SHARED / "models" / "yolox_nano.onnx"
DEMO_RULES = REPO / "rules" / "edge" / "demo-street.yaml"
AGENT_ID = "edge-tech-zones"
CAMERA_ID = "cam-tech-01"
DEMO_LOCATION = {"lon": 118.7969, "lat": 32.0603}


def _require_shared() -> None:
    """The real footage and model live next to the repository; without them this test cannot be what it claims."""
    missing = [str(p) for p in (DEMO_PICTURE, MODEL) if not p.is_file()]
    if missing:
        pytest.fail(
            f"the technician's zone test needs a real edge agent with real footage and model, missing: {missing} "
            f"(the shared folder next to the repository, {SHARED}); this test never skips"
        )


@pytest.fixture(scope="module")
def tech_api(web_stack: Any) -> Iterator[Api]:
    api = Api(web_stack.url, "tech1", "cityops-demo")
    yield api
    api.close()


@pytest.fixture(scope="module")
def edge_agent(web_stack: Any, tech_api: Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real edge agent playing the demo street picture through YOLOX-Nano, provisioned like the demo's box."""
    _require_shared()
    work = tmp_path_factory.mktemp("tech-edge")
    credentials = web_stack.provision(AGENT_ID, DEMO_LOCATION["lon"], DEMO_LOCATION["lat"])
    config = edge_config(
        device_id=AGENT_ID,
        credentials=credentials,
        data_dir=work / "data",
        models_dir=SHARED / "models",
        camera_id=CAMERA_ID,
        source=DEMO_PICTURE,
        rules=DEMO_RULES,
        location=DEMO_LOCATION,
        model="yolox_nano",
    )
    config["health_interval_s"] = 5
    config_path = work / "edge.yaml"
    write_edge_config(config_path, config)
    log_path = work / "edge.log"
    log = log_path.open("w")
    agent = subprocess.Popen(
        [sys.executable, "-m", "cityops.cli", "edge", "run", "--config", str(config_path)],
        env=web_stack.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )

    def running_camera() -> bool:
        if agent.poll() is not None:
            raise AssertionError(f"the edge agent exited ({agent.returncode}):\n{log_path.read_text()[-3000:]}")
        device = tech_api.get(f"/api/v1/devices/{AGENT_ID}")
        cameras = (device.get("health") or {}).get("cameras") or []
        delivering = any(c["camera_id"] == CAMERA_ID and (c.get("fps") or 0) > 0 for c in cameras)
        return device["status"] == "online" and delivering

    try:
        wait_for("the edge agent online with its camera delivering frames", running_camera, timeout_s=120)
        yield {"data_dir": work / "data", "log": log_path, "process": agent}
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()


def _open_app(page: Page, path: str) -> None:
    """Log in, and open `path` once the app has its session (reloading while the first refresh token is being
    exchanged would present a spent token, which the hub takes for a stolen one)."""
    login(page, "tech1", expect_path="/technician/")
    live = page.get_by_test_id("live-state")
    expect(live).to_have_class(re.compile(r"\blive\b"), timeout=20_000)
    if path != "/":
        page.goto(f"/technician{path}")
        expect(live).to_have_class(re.compile(r"\blive\b"), timeout=20_000)


def _input(page: Page, test_id: str) -> Any:
    """The <input> of a form control: Element Plus puts a test id on the input itself or on its wrapper."""
    return page.get_by_test_id(test_id).locator("xpath=descendant-or-self::input").first


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


# ---- fleet ----------------------------------------------------------------------------------------------------------


def _health(device_id: str, camera_status: str) -> bytes:
    snapshot = {
        "schema": "cityops.health/1",
        "device_id": device_id,
        "ts": datetime.now(UTC).isoformat(),
        "agent_version": "1.4.0",
        "config_version": 3,
        "cameras": [{"camera_id": "cam-gate", "status": camera_status, "fps": 0.0, "dropped_frames": 12}],
        "inference_ms_p50": 21.5,
        "outbox_depth": 37,
        "models": [{"name": "yolox_nano", "sha256": "695e750a5d57"}],
    }
    return json.dumps(snapshot).encode()


def test_fleet_shows_health_and_updates_live(browser: Browser, web_stack: Any, edge_agent: dict[str, Any]) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        _open_app(page, "/")
        row = page.locator(f'[data-testid="device-row"][data-device-id="{AGENT_ID}"]')
        expect(row.get_by_test_id("device-status")).to_have_attribute("data-status", "online")
        expect(row).to_contain_text(CAMERA_ID)
        expect(row).to_contain_text("yolox_nano")
        expect(row).to_contain_text(re.compile(r"\d+\.\d 帧/秒"))

        # A box provisioned elsewhere appears without a reload: the live channel's `device` message.
        web_stack.provision("edge-tech-live-01")
        new_row = page.locator('[data-testid="device-row"][data-device-id="edge-tech-live-01"]')
        expect(new_row.get_by_test_id("device-status")).to_have_attribute("data-status", "never_seen")

        # A box whose camera froze: it comes online, then its health names the fault; it moves to the top.
        faulty = web_stack.provision("edge-tech-faulty")
        box = MqttDevice(faulty)
        try:
            state = {"online": True, "ts": datetime.now(UTC).isoformat(), "agent_version": "1.4.0"}
            box.client.publish("cityops/v1/dev/edge-tech-faulty/state", json.dumps(state), qos=1, retain=True)
            box.publish("health", _health("edge-tech-faulty", "frozen"))
            faulty_row = page.locator('[data-testid="device-row"][data-device-id="edge-tech-faulty"]')
            expect(faulty_row.get_by_test_id("device-faults")).to_contain_text("cam-gate: frozen")
            expect(faulty_row).to_contain_text("37")
            expect(page.get_by_test_id("device-row").first).to_have_attribute("data-device-id", "edge-tech-faulty")
            expect(page.get_by_test_id("count-faults")).to_contain_text("1")

            _input(page, "fleet-search").fill("tech-zones")
            expect(page.get_by_test_id("device-row")).to_have_count(1)
            _input(page, "fleet-search").fill("")
            page.get_by_test_id("count-never_seen").click()
            expect(new_row).to_be_visible()
            expect(faulty_row).to_have_count(0)
            page.get_by_test_id("count-never_seen").click()
            expect(faulty_row).to_be_visible()

            screenshot(page, "technician-fleet")
            assert_accessible(page)

            # The camera recovers: the fault goes away live.
            box.publish("health", _health("edge-tech-faulty", "ok"))
            expect(faulty_row.get_by_test_id("device-faults")).to_have_count(0)
        finally:
            box.close()


def test_device_screen_commands_and_model_update(
    browser: Browser, web_stack: Any, edge_agent: dict[str, Any], tech_api: Api
) -> None:
    # The running model, registered at the hub: an update to it is answered "already at" by the box.
    upload = tech_api.client.post(
        "/api/v1/models",
        params={"name": "yolox_nano", "version": "0.1.1-test"},
        content=MODEL.read_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert upload.status_code in (200, 201), upload.text
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        _open_app(page, f"/device/{AGENT_ID}")
        expect(page.get_by_test_id("camera-health")).to_contain_text(CAMERA_ID)
        page.get_by_test_id("cmd-ping").click()
        first = page.get_by_test_id("command-list").locator("tbody tr").first
        expect(first.get_by_test_id("command-name")).to_have_text("ping")
        expect(first.get_by_test_id("command-status")).to_have_attribute("data-status", "ok", timeout=30_000)

        page.get_by_test_id("model-select").click()
        page.get_by_role("option", name=re.compile("yolox_nano 0.1.1-test")).click()
        page.get_by_test_id("model-update").click()
        expect(first.get_by_test_id("command-name")).to_have_text("model_update")
        expect(first.get_by_test_id("command-answer")).to_contain_text("already at sha256", timeout=60_000)
        screenshot(page, "technician-device")


# ---- registration ---------------------------------------------------------------------------------------------------


def _qr_png(text: str, path: Path) -> Path:
    code = cv2.QRCodeEncoder.create().encode(text)
    big = cv2.resize(code, None, fx=12, fy=12, interpolation=cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.copyMakeBorder(big, 60, 60, 60, 60, cv2.BORDER_CONSTANT, value=255))
    return path


def _decode_qr_image(page: Page) -> str:
    src = page.get_by_test_id("device-qr").get_attribute("src") or ""
    assert src.startswith("data:image/png;base64,"), src[:40]
    image = cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_GRAYSCALE)
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None and text, "OpenCV found no QR code in the page's image"
    return text


def test_register_a_box_with_credentials_file_and_qr(browser: Browser, web_stack: Any, tmp_path: Path) -> None:
    device_id = "edge-tech-reg-01"
    with browser_session(browser, web_stack.url, viewport=LAPTOP, accept_downloads=True) as session:
        page = session.page()
        _open_app(page, "/register")
        expect(page.get_by_test_id("register-step-identify")).to_be_visible()
        # The box's label, photographed: its QR code fills in the id.
        page.get_by_test_id("scan-picture").set_input_files(str(_qr_png(device_id, tmp_path / "label.png")))
        expect(_input(page, "register-id")).to_have_value(device_id)
        page.get_by_test_id("register-next").click()

        expect(page.get_by_test_id("register-step-place")).to_be_visible()
        _input(page, "place-lon").fill("118.7969")
        _input(page, "place-lat").fill("32.0603")
        _input(page, "place-lat").press("Tab")
        page.get_by_test_id("register-submit").click()

        step = page.get_by_test_id("register-step-credentials")
        expect(step).to_be_visible()
        password = page.get_by_test_id("credential-password").inner_text().strip()
        assert len(password) >= 16
        broker = re.fullmatch(r"mqtts?://(.+):(\d+)", page.get_by_test_id("credential-broker").inner_text().strip())
        assert broker, page.get_by_test_id("credential-broker").inner_text()
        expect(page.get_by_test_id("credential-username")).to_have_text(device_id)

        with page.expect_download() as info:
            page.get_by_test_id("download-config").click()
        download = info.value
        assert download.suggested_filename == f"cityops-edge-{device_id}.yaml"
        yaml_text = Path(download.path()).read_text()
        assert f"device_id: {device_id}" in yaml_text and password in yaml_text

        payload = _decode_qr_image(page)
        assert payload == (page.get_by_test_id("device-qr-text").text_content() or "").strip()
        assert payload.startswith("cityops:1:")
        fields = json.loads(base64.urlsafe_b64decode(payload[10:] + "=" * (-len(payload[10:]) % 4)))
        assert fields["d"] == device_id and fields["s"] == password and password not in fields["m"]
        screenshot(page, "technician-register-qr")

        # The alternative: a one-time token the box redeems itself; its code carries the hub and token, no secret.
        page.get_by_test_id("make-token").click()
        command = page.get_by_test_id("token-command")
        expect(command).to_contain_text("cityops edge provision --hub ")
        expect(page.get_by_test_id("token-qr")).to_be_visible()
        page.get_by_test_id("token-qr").scroll_into_view_if_needed()
        screenshot(page, "technician-register-token")

        page.get_by_test_id("credentials-saved").click()
        page.get_by_test_id("register-continue").click()
        expect(page.get_by_test_id("device-waiting")).to_be_visible()

        # The box connects with the credentials the page showed.
        box = MqttDevice(
            {
                "device_id": device_id,
                "username": device_id,
                "password": password,
                "mqtt_host": broker.group(1),
                "mqtt_port": int(broker.group(2)),
            }
        )
        try:
            state = {"online": True, "ts": datetime.now(UTC).isoformat(), "agent_version": "test-box"}
            topic = f"cityops/v1/dev/{device_id}/state"
            box.client.publish(topic, json.dumps(state), qos=1, retain=True).wait_for_publish(10)
            expect(page.get_by_test_id("device-online")).to_be_visible(timeout=20_000)
        finally:
            box.close()


# ---- zones ----------------------------------------------------------------------------------------------------------


def _canvas_click(page: Page, fx: float, fy: float) -> None:
    box = page.get_by_test_id("zone-canvas").bounding_box()
    assert box is not None
    width = float(page.get_by_test_id("zone-canvas").get_attribute("data-stage-width") or box["width"])
    height = float(page.get_by_test_id("zone-canvas").get_attribute("data-stage-height") or box["height"])
    page.mouse.click(box["x"] + fx * width, box["y"] + fy * height)


def _points(page: Page) -> list[list[float]]:
    form = page.get_by_test_id("zone-form")
    xs = form.get_by_test_id("point-x").locator("xpath=descendant-or-self::input")
    ys = form.get_by_test_id("point-y").locator("xpath=descendant-or-self::input")
    return [[float(xs.nth(i).input_value()), float(ys.nth(i).input_value())] for i in range(xs.count())]


def _open_editor(page: Page) -> None:
    _open_app(page, f"/device/{AGENT_ID}/zones/{CAMERA_ID}")
    expect(page.get_by_test_id("picture-state")).to_have_attribute("data-state", "fresh", timeout=45_000)


def test_zone_drawn_on_a_live_snapshot_reaches_the_agent(
    browser: Browser, web_stack: Any, edge_agent: dict[str, Any], tech_api: Api
) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        _open_editor(page)
        page.get_by_test_id("draw-zone").click()
        corners = [(0.2113, 0.3021), (0.7391, 0.2874), (0.7719, 0.4462), (0.1847, 0.4388)]
        for fx, fy in corners:
            _canvas_click(page, fx, fy)
        _canvas_click(page, *corners[0])  # the first point again closes the shape
        expect(page.get_by_test_id("zone-item")).to_have_count(1)
        expect(_input(page, "zone-id")).to_have_value("no-parking-1")
        dwell = _input(page, "field-dwell_s")
        dwell.fill("12")
        dwell.press("Tab")

        # A rule the hub refuses (no classes): each problem with its JSON path, next to the field; undo repairs it.
        closers = page.get_by_test_id("field-classes").locator(".el-tag__close")
        removed = closers.count()
        for _ in range(removed):
            closers.first.click()
        page.get_by_test_id("validate-config").click()
        problem = page.get_by_test_id("config-problem").first
        expect(problem.get_by_test_id("problem-path")).to_have_text(
            re.compile(r"\$\.cameras\[\d+\]\.analytics\[\d+\]\.classes")
        )
        expect(page.get_by_test_id("field-classes").locator(".el-form-item__error")).to_be_visible()
        for _ in range(removed):
            page.get_by_test_id("undo").click()
        expect(page.get_by_test_id("field-classes")).to_contain_text("car")

        page.get_by_test_id("validate-config").click()
        expect(page.get_by_test_id("config-valid")).to_be_visible()
        expect(page.get_by_test_id("config-problems")).to_have_count(0)
        drawn = _points(page)
        assert len(drawn) == 4 and all(_decimals(v) <= 4 for p in drawn for v in p), drawn
        screenshot(page, "technician-zone-editor")
        assert_accessible(page)

        page.get_by_test_id("push-config").click()
        dialog = page.get_by_test_id("fresh-check")
        expect(dialog.get_by_test_id("zone-canvas")).to_be_visible(timeout=45_000)
        dialog.get_by_test_id("fresh-confirm").click()
        dialog.get_by_test_id("confirm-push").click()
        badge = page.get_by_test_id("applied-version")
        expect(badge).to_have_attribute("data-state", "applied", timeout=60_000)
        version = int(badge.get_attribute("data-version") or "0")
        assert version >= 1

    # The agent itself reports the version and holds the zone exactly as drawn.
    device = tech_api.get(f"/api/v1/devices/{AGENT_ID}")
    assert device["config_version"] == version and not (device["health"] or {}).get("config_error")
    with sqlite3.connect(edge_agent["data_dir"] / "outbox.sqlite") as db:
        stored = db.execute("SELECT value FROM meta WHERE key = 'config_payload'").fetchone()
    assert stored, "the agent stored no applied configuration"
    payload = json.loads(stored[0])
    assert payload["version"] == version
    camera = next(c for c in payload["cameras"] if c["camera_id"] == CAMERA_ID)
    zone = next(z for z in camera["zones"] if z["id"] == "no-parking-1")
    assert zone["polygon"] == drawn
    assert all(_decimals(v) <= 4 for p in zone["polygon"] for v in p)
    rule = next(a for a in camera["analytics"] if "no-parking-1" in a["zones"])
    assert rule["type"] == "parking" and rule["dwell_s"] == 12


def _push(page: Page) -> None:
    page.get_by_test_id("push-config").click()
    dialog = page.get_by_test_id("fresh-check")
    expect(dialog.get_by_test_id("zone-canvas")).to_be_visible(timeout=45_000)
    dialog.get_by_test_id("fresh-confirm").click()
    dialog.get_by_test_id("confirm-push").click()


def test_a_refused_configuration_shows_the_boxs_reason(
    browser: Browser, web_stack: Any, edge_agent: dict[str, Any]
) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        _open_editor(page)
        page.get_by_test_id("add-rectangle").click()
        page.get_by_test_id("field-classes").locator(".el-select__wrapper").click()
        page.keyboard.type("unicorn")  # valid for the schema, but no class of the box's model
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("field-classes")).to_contain_text("unicorn")
        _push(page)
        badge = page.get_by_test_id("applied-version")
        expect(badge).to_have_attribute("data-state", "refused", timeout=60_000)
        expect(page.get_by_test_id("config-refusal")).to_contain_text("unicorn")

        # Without the bad zone the next version is applied, and the refusal is gone.
        page.get_by_test_id("zone-item").last.click()  # the rectangle added above
        page.get_by_test_id("zone-remove").click()
        _push(page)
        expect(badge).to_have_attribute("data-state", "applied", timeout=60_000)
        expect(page.get_by_test_id("config-refusal")).to_have_count(0)


def _drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    canvas = page.get_by_test_id("zone-canvas")
    box = canvas.bounding_box()
    assert box is not None
    width = float(canvas.get_attribute("data-stage-width") or 0)
    height = float(canvas.get_attribute("data-stage-height") or 0)
    page.mouse.move(box["x"] + start[0] * width, box["y"] + start[1] * height)
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * width, box["y"] + end[1] * height, steps=8)
    page.mouse.up()


def test_zone_editor_by_pointer_and_keyboard_on_a_tablet(
    browser: Browser, web_stack: Any, edge_agent: dict[str, Any]
) -> None:
    with browser_session(browser, web_stack.url, viewport=TABLET, has_touch=True) as session:
        page = session.page()
        _open_editor(page)
        # A no-parking rectangle (0.35..0.65 x 0.4..0.6), then a water gauge (0.47..0.53 x 0.3..0.7) on top of it.
        page.get_by_test_id("add-rectangle").click()
        page.get_by_test_id("zone-kind").click()
        page.get_by_role("option", name="水尺").click()
        page.get_by_test_id("add-rectangle").click()
        expect(page.get_by_test_id("zone-item").filter(has_text="gauge-1")).to_have_count(1)
        expect(page.get_by_test_id("gauge-marks")).to_be_visible()
        before = _points(page)
        assert before == [[0.47, 0.3], [0.53, 0.3], [0.53, 0.7], [0.47, 0.7]]

        # A gauge corner dragged near the rectangle's corner snaps onto it exactly.
        _drag(page, (0.53, 0.7), (0.654, 0.604))
        expect(page.get_by_test_id("zone-form").get_by_test_id("zone-point").nth(2)).to_have_class(
            re.compile("current")
        )
        assert _points(page)[2] == [0.65, 0.6]
        # The whole shape moves when dragged by its inside; undo puts it back.
        moved_from = _points(page)
        _drag(page, (0.5, 0.35), (0.55, 0.35))
        shifted = _points(page)
        assert all(
            abs(b[0] - a[0] - 0.05) < 0.004 and abs(b[1] - a[1]) < 0.004
            for a, b in zip(moved_from, shifted, strict=True)
        )
        page.get_by_test_id("undo").click()
        assert _points(page) == moved_from

        # Select the first point and move it by keyboard: a small step, then a big one with Shift.
        page.get_by_test_id("zone-form").get_by_role("button", name="选择第 1 个点").click()
        page.get_by_test_id("zone-canvas").focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Shift+ArrowDown")
        moved = _points(page)
        assert moved[0] == [0.471, 0.31]
        assert moved[1:] == moved_from[1:]

        page.keyboard.press("Control+z")
        page.keyboard.press("Control+z")
        assert _points(page) == moved_from
        page.keyboard.press("Control+Shift+z")
        assert _points(page)[0] == [0.471, 0.3]
        screenshot(page, "technician-zone-editor-tablet")


def test_add_a_camera_probed_through_the_box(
    browser: Browser, web_stack: Any, edge_agent: dict[str, Any], tech_api: Api
) -> None:
    with browser_session(browser, web_stack.url, viewport=LAPTOP) as session:
        page = session.page()
        _open_app(page, f"/device/{AGENT_ID}/camera")
        expect(page.get_by_test_id("camera-step-source")).to_be_visible()
        _input(page, "camera-source").fill(str(DEMO_PICTURE))  # a picture on the box stands in for a stream
        _input(page, "camera-id").fill("cam-tech-02")
        page.get_by_test_id("probe-camera").click()
        expect(page.get_by_test_id("probe-size")).to_have_text("640 × 427", timeout=45_000)
        expect(page.get_by_test_id("probe-frame")).to_be_visible()
        page.get_by_test_id("camera-next").click()

        expect(page.get_by_test_id("camera-step-describe")).to_be_visible()
        _input(page, "camera-name").fill("Lakeside bench")
        _input(page, "place-lon").fill("118.7971")
        _input(page, "place-lat").fill("32.0605")
        _input(page, "place-lat").press("Tab")
        page.get_by_test_id("camera-next").click()

        expect(page.get_by_test_id("camera-step-zones")).to_be_visible()
        page.get_by_test_id("add-rectangle").click()
        expect(page.get_by_test_id("zone-item")).to_have_count(1)
        page.get_by_test_id("validate-config").click()

        expect(page.get_by_test_id("camera-step-push")).to_be_visible()
        page.get_by_test_id("push-config").click()
        expect(page.get_by_test_id("applied-version")).to_have_attribute("data-state", "applied", timeout=60_000)
        expect(page.get_by_test_id("camera-registered")).to_be_visible()

    camera = tech_api.get("/api/v1/admin/cameras/cam-tech-02")
    assert camera["device_id"] == AGENT_ID and camera["name"] == "Lakeside bench"
    wait_for(
        "the box running the added camera",
        lambda: any(
            c["camera_id"] == "cam-tech-02"
            for c in (tech_api.get(f"/api/v1/devices/{AGENT_ID}")["health"] or {}).get("cameras", [])
        ),
        timeout_s=30,
    )
