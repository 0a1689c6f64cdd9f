"""The administrator's app in a real browser (laptop, 1440x900), against the real stack: users, districts and grids
(GeoJSON import with a dry run, a grid's outline edited with the mouse), rosters with the on-duty answer, and a rule
file edited with validation. Every change is checked through the hub's API, not only on screen.

The stack is shared by all browser tests: this module only changes what it creates (its own users, grids and
roster entries, away from the demo grids), and puts sla.yaml back as it was (the stack's hub reads a copy of rules/)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_support import assert_accessible, browser_session, login, screenshot
from playwright.sync_api import Browser, Locator, Page, expect

pytestmark = pytest.mark.browser


def _square(west: float, south: float, size: float = 0.004) -> dict[str, Any]:
    ring = [[west, south], [west + size, south], [west + size, south + size], [west, south + size], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture(scope="module")
def hub(web_stack) -> Iterator[httpx.Client]:
    """The hub's API as the administrator (to prepare and to check what the browser did)."""
    answer = httpx.post(
        f"{web_stack.url}/api/v1/auth/token",
        data={"username": web_stack.info["admin_user"], "password": web_stack.info["admin_password"]},
    )
    answer.raise_for_status()
    token = answer.json()["access_token"]
    with httpx.Client(base_url=web_stack.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        yield client


def _open_admin(page: Page, web_stack, screen: str) -> None:
    """Log in as the administrator and open a screen from the menu (as a person would)."""
    login(page, web_stack.info["admin_user"], web_stack.info["admin_password"], expect_path="/admin/")
    expect(page.get_by_test_id("current-user")).to_be_visible()
    page.get_by_test_id(f"nav-{screen}").click()
    expect(page).to_have_url(f"{web_stack.url}/admin/{screen}")


def _pick(page: Page, select: Locator, text: str, search: str | None = None) -> None:
    """Choose an option of an Element Plus select (typing into it first when it searches the hub)."""
    select.click()
    if search is not None:
        page.keyboard.type(search)
    page.locator(".el-select-dropdown__item:visible", has_text=text).first.click()


def test_admin_creates_an_officer_with_a_district_and_sees_refusals(browser: Browser, web_stack, hub) -> None:
    username = f"officer-{secrets.token_hex(3)}"
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        _open_admin(page, web_stack, "users")
        expect(page.get_by_test_id("user-row").filter(has_text="officer1")).to_be_visible()

        page.get_by_test_id("user-create").click()
        dialog = page.get_by_test_id("user-dialog")
        dialog.get_by_test_id("user-username").fill(username)
        dialog.get_by_test_id("user-display-name").fill("新网格员")
        _pick(page, dialog.get_by_test_id("user-districts"), "nj-gulou")
        dialog.get_by_test_id("user-password").fill("short")
        expect(dialog.get_by_test_id("password-policy")).to_contain_text("至少 10 个字符")
        expect(dialog.get_by_test_id("user-save")).to_be_disabled()  # the policy is met before the hub is asked
        dialog.get_by_test_id("user-password").fill("officer-pass-2026")
        dialog.get_by_test_id("user-password-confirm").fill("officer-pass-2026")
        dialog.get_by_test_id("user-save").click()
        expect(dialog).to_be_hidden()

        page.get_by_test_id("user-search").fill(username)
        row = page.get_by_test_id("user-row").filter(has_text=username)
        expect(row).to_be_visible()
        expect(row).to_contain_text("网格员")
        expect(row).to_contain_text("nj-gulou")
        created = hub.get(f"/api/v1/admin/users/{username}").json()
        assert created["role"] == "officer" and created["districts"] == ["nj-gulou"] and created["active"]

        # The hub's refusal, in its own words: an administrator cannot demote themselves.
        page.get_by_test_id("user-search").fill(web_stack.info["admin_user"])
        me = page.get_by_test_id("user-row").filter(has_text=web_stack.info["admin_user"]).first
        me.get_by_test_id("user-edit").click()
        dialog = page.get_by_test_id("user-dialog")
        _pick(page, dialog.get_by_test_id("user-role"), "指挥员")
        dialog.get_by_test_id("user-save").click()
        expect(dialog.get_by_test_id("problem")).to_contain_text("中心拒绝了此更改")
        expect(dialog.get_by_test_id("problem-detail")).to_contain_text("cannot demote or disable themselves")
        dialog.get_by_test_id("user-cancel").click()
        assert hub.get(f"/api/v1/admin/users/{web_stack.info['admin_user']}").json()["role"] == "admin"

        page.get_by_test_id("user-search").fill("")
        expect(page.get_by_test_id("user-row").filter(has_text="officer1")).to_be_visible()
        screenshot(page, "admin-users")
        assert_accessible(page)

        # The change log shows the creation, field by field.
        page.get_by_test_id("nav-changes").click()
        page.get_by_test_id("change-filter-id").fill(username)
        change = page.get_by_test_id("change-row").filter(has_text=username).first
        change.locator(".el-table__expand-icon").click()
        expect(page.get_by_test_id("change-field").filter(has_text="role")).to_contain_text("officer")

        page.get_by_test_id("language").select_option("en")
        expect(page.get_by_test_id("nav-changes")).to_have_text("Change log")
        page.get_by_test_id("nav-users").click()
        expect(page.get_by_test_id("user-create")).to_have_text("New user")


def test_admin_imports_grids_after_a_dry_run_that_lists_the_bad_feature(
    browser: Browser, web_stack, hub, tmp_path: Path
) -> None:
    tag = secrets.token_hex(2)
    good, bad = f"imp-{tag}-a", f"imp-{tag}-b"
    crossed = [[118.70, 32.10], [118.71, 32.11], [118.71, 32.10], [118.70, 32.11], [118.70, 32.10]]
    bowtie = {"type": "Polygon", "coordinates": [crossed]}
    features = [
        {"type": "Feature", "properties": {"grid_id": good, "name": "导入网格 A", "district_id": "nj-gulou"},
         "geometry": _square(118.70, 32.12)},
        {"type": "Feature", "properties": {"grid_id": bad, "name": "导入网格 B", "district_id": "nj-gulou"},
         "geometry": bowtie},
    ]  # fmt: skip
    broken = tmp_path / "grids-broken.geojson"
    broken.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    features[1]["geometry"] = _square(118.71, 32.12)
    fixed = tmp_path / "grids-fixed.geojson"
    fixed.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")

    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        _open_admin(page, web_stack, "areas")
        expect(page.get_by_test_id("grid-row").first).to_be_visible()
        page.get_by_role("tab", name="导入 / 导出").click()

        page.get_by_test_id("import-file").locator("input[type=file]").set_input_files(str(broken))
        errors = page.get_by_test_id("import-errors")
        expect(errors).to_contain_text("2 个要素中有 1 个有问题")
        expect(errors.get_by_test_id("import-error")).to_contain_text("Self-intersection")
        expect(errors).to_contain_text(bad)
        expect(page.get_by_test_id("import-apply")).to_have_count(0)
        for grid_id in (good, bad):  # the dry run saved nothing
            assert hub.get(f"/api/v1/admin/grids/{grid_id}").status_code == 404

        page.get_by_test_id("import-file").locator("input[type=file]").set_input_files(str(fixed))
        expect(page.get_by_test_id("import-dry-run")).to_contain_text("新建 2 个")
        assert hub.get(f"/api/v1/admin/grids/{good}").status_code == 404
        page.get_by_test_id("import-apply").click()
        expect(page.get_by_test_id("import-done")).to_be_visible()
        for grid_id in (good, bad):
            assert hub.get(f"/api/v1/admin/grids/{grid_id}").json()["district_id"] == "nj-gulou"

        with page.expect_download() as download:
            page.get_by_test_id("export-grids").click()
        assert download.value.suggested_filename.endswith(".geojson")
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert {good, bad} <= {f["properties"]["grid_id"] for f in exported["features"]}

        page.get_by_role("tab", name="网格").click()
        page.get_by_test_id("grid-search").fill(f"imp-{tag}")
        expect(page.get_by_test_id("grid-row")).to_have_count(2)
        assert_accessible(page)


def test_admin_moves_a_grid_corner_with_the_mouse_and_saves(browser: Browser, web_stack, hub) -> None:
    grid_id = f"edit-{secrets.token_hex(2)}"
    polygon = _square(118.72, 32.12)
    assert hub.post("/api/v1/admin/grids", json={"grid_id": grid_id, "name": "编辑网格", "polygon": polygon}).is_success

    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        _open_admin(page, web_stack, "areas")
        page.get_by_test_id("grid-search").fill(grid_id)
        page.get_by_test_id("grid-row").filter(has_text=grid_id).get_by_test_id("grid-edit").click()
        editor = page.get_by_test_id("grid-editor")
        expect(editor.get_by_test_id("grid-shape-status")).to_contain_text("4 个角点")
        editor.get_by_test_id("grid-edit-shape").click()

        coords = editor.get_by_test_id("grid-coords")
        before_text = coords.input_value()
        corners = page.locator(".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")
        expect(corners).to_have_count(4)
        map_box = page.get_by_test_id("areas-map").bounding_box()
        corner = corners.first.bounding_box()
        assert map_box and corner
        x, y = corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2
        # 60 px towards the middle of the map: the square stays a simple polygon
        cx, cy = map_box["x"] + map_box["width"] / 2, map_box["y"] + map_box["height"] / 2
        dx, dy = (60 if cx > x else -60), (60 if cy > y else -60)
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + dx / 2, y + dy / 2, steps=5)
        page.mouse.move(x + dx, y + dy, steps=5)
        page.mouse.up()
        expect(coords).not_to_have_value(before_text)

        editor.get_by_test_id("grid-save").click()
        expect(editor.get_by_test_id("grid-edit-shape")).to_be_visible()  # saved: back to viewing the outline
        expect(editor.get_by_test_id("problem")).to_have_count(0)
        screenshot(page, "admin-areas")
        assert_accessible(page)

    saved = hub.get(f"/api/v1/admin/grids/{grid_id}").json()["polygon"]
    before, after = polygon["coordinates"][0], saved["coordinates"][0]
    assert saved["type"] == "Polygon" and len(after) == 5 and after[0] == after[-1]
    moved = [i for i in range(4) if abs(after[i][0] - before[i][0]) + abs(after[i][1] - before[i][1]) > 1e-6]
    assert len(moved) == 1, f"one corner should have moved: {before} -> {after}"


def test_admin_draws_a_new_grid_saves_and_deletes_it(browser: Browser, web_stack, hub) -> None:
    grid_id = f"drawn-{secrets.token_hex(2)}"
    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        _open_admin(page, web_stack, "areas")
        expect(page.locator("[data-testid=areas-map][data-ready=true]")).to_be_visible()
        for _ in range(3):  # zoom out: the new grid is drawn in the corner, far from the demo grids
            page.get_by_role("button", name="Zoom out").click()
            page.wait_for_timeout(300)
        page.get_by_test_id("grid-create").click()
        editor = page.get_by_test_id("grid-editor")
        expect(editor.get_by_test_id("grid-shape-status")).to_contain_text("依次点击")
        box = page.get_by_test_id("areas-map").bounding_box()
        assert box
        x0, y0 = box["x"] + 80, box["y"] + 80
        for dx, dy in [(0, 0), (60, 0), (60, 50), (0, 50), (0, 0)]:  # four corners, then the first to finish
            page.mouse.click(x0 + dx, y0 + dy)
        expect(editor.get_by_test_id("grid-shape-status")).to_contain_text("共 4 个角点")
        expect(page.locator(".leaflet-marker-pane .marker-icon:not(.marker-icon-middle)")).to_have_count(4)
        editor.get_by_test_id("grid-id").fill(grid_id)
        editor.get_by_test_id("grid-name").fill("画出的网格")
        editor.get_by_test_id("grid-save").click()
        expect(editor).to_contain_text(f"编辑网格 {grid_id}")
        ring = hub.get(f"/api/v1/admin/grids/{grid_id}").json()["polygon"]["coordinates"][0]
        assert len(ring) == 5 and ring[0] == ring[-1]

        editor.get_by_test_id("grid-delete").click()
        page.locator(".el-message-box").get_by_role("button", name="删除").click()
        expect(page.get_by_test_id("grid-editor")).to_have_count(0)
        assert hub.get(f"/api/v1/admin/grids/{grid_id}").status_code == 404


def test_admin_places_a_camera_with_a_click_on_the_map(browser: Browser, web_stack, hub) -> None:
    camera_id = f"cam-admin-{secrets.token_hex(2)}"
    assert hub.post("/api/v1/admin/cameras", json={"camera_id": camera_id, "name": "待定位"}).is_success
    try:
        with browser_session(browser, web_stack.url) as session:
            page = session.page()
            _open_admin(page, web_stack, "cameras")
            page.get_by_test_id("camera-search").fill(camera_id)
            page.get_by_test_id("camera-row").filter(has_text=camera_id).get_by_test_id("camera-edit").click()
            dialog = page.get_by_test_id("camera-dialog")
            expect(dialog.get_by_test_id("camera-lon").locator("input")).to_have_value("")
            place_map = dialog.locator("[data-testid=camera-map][data-ready=true]")
            place_map.click()  # the middle of the map: among the demo grids
            expect(dialog.get_by_test_id("camera-lon").locator("input")).not_to_have_value("")
            _pick(page, dialog.get_by_test_id("camera-district"), "nj-gulou")
            dialog.get_by_test_id("camera-save").click()
            expect(dialog).to_be_hidden()
            expect(page.get_by_test_id("camera-row").filter(has_text=camera_id)).to_contain_text("nj-gulou")
        camera = hub.get(f"/api/v1/admin/cameras/{camera_id}").json()
        assert camera["district"] == "nj-gulou" and 118 < camera["lon"] < 119 and 31.5 < camera["lat"] < 32.5
    finally:
        hub.delete(f"/api/v1/admin/cameras/{camera_id}")


def test_admin_adds_a_roster_entry_and_sees_who_is_on_duty(browser: Browser, web_stack, hub) -> None:
    tag = secrets.token_hex(2)
    officer, grid_id = f"duty-{tag}", f"duty-grid-{tag}"
    assert hub.post(
        "/api/v1/admin/users", json={"username": officer, "password": "duty-pass-2026", "role": "officer"}
    ).is_success
    assert hub.post(
        "/api/v1/admin/grids", json={"grid_id": grid_id, "name": "值班网格", "polygon": _square(118.73, 32.12)}
    ).is_success

    with browser_session(browser, web_stack.url) as session:
        page = session.page()
        _open_admin(page, web_stack, "rosters")
        page.get_by_test_id("roster-create").click()
        dialog = page.get_by_test_id("roster-dialog")
        _pick(page, dialog.get_by_test_id("roster-grid"), grid_id, search=grid_id)
        _pick(page, dialog.get_by_test_id("roster-officer"), officer, search=officer)
        dialog.get_by_test_id("roster-save").click()
        expect(dialog).to_be_hidden()

        _pick(page, page.get_by_test_id("roster-filter-grid"), grid_id, search=grid_id)
        row = page.get_by_test_id("roster-row").filter(has_text=officer)
        expect(row).to_contain_text("全天")
        expect(row).to_contain_text("每天")
        expect(page.get_by_test_id("roster-row")).to_have_count(1)

        page.get_by_test_id("on-duty-check").click()
        expect(page.get_by_test_id("on-duty-officer")).to_have_text(officer)
    entries = hub.get("/api/v1/admin/rosters", params={"grid_id": grid_id}).json()["data"]
    assert [(e["username"], e["weekdays"], e["start_time"]) for e in entries] == [(officer, None, None)]


def test_admin_edits_the_sla_file_with_validation(browser: Browser, web_stack, hub) -> None:
    original = hub.get("/api/v1/admin/rules/sla.yaml").json()
    text = original["text"]
    assert "illegal_parking: {red: 15," in text, "the test edits the illegal_parking row of rules/hub/sla.yaml"
    try:
        with browser_session(browser, web_stack.url) as session:
            page = session.page()
            _open_admin(page, web_stack, "rules")
            panel = page.get_by_test_id("rule-file-sla.yaml")
            editor = panel.get_by_test_id("rules-editor")
            expect(editor).to_have_value(text)
            editor.focus()  # Tab indents inside the editor; Escape then Tab leaves it (no keyboard trap)
            page.keyboard.press("Escape")
            page.keyboard.press("Tab")
            expect(panel.get_by_test_id("rules-validate")).to_be_focused()

            editor.fill(text.replace("illegal_parking: {red: 15,", "illegal_parking: {red: -5,"))
            panel.get_by_test_id("rules-validate").click()
            error = panel.get_by_test_id("rule-error")
            expect(error).to_have_count(1)
            expect(error).to_contain_text("sla.yaml › kinds.illegal_parking.red")
            expect(error).to_contain_text("greater than 0")
            expect(panel.get_by_test_id("rules-save")).to_be_disabled()
            screenshot(page, "admin-rules")
            assert_accessible(page)

            editor.fill(text.replace("illegal_parking: {red: 15,", "illegal_parking: {red: 16,"))
            panel.get_by_test_id("rules-validate").click()
            expect(panel.get_by_test_id("rules-valid")).to_be_visible()
            red = panel.locator("[data-testid=sla-row][data-kind=illegal_parking] [data-severity=red]")
            expect(red).to_have_text("16分钟")
            panel.get_by_test_id("rules-save").click()
            expect(panel.get_by_test_id("rules-dirty")).to_have_count(0)
            expect(panel.get_by_test_id("rules-valid")).to_have_count(0)
            expect(red).to_have_text("16分钟")
            saved = hub.get("/api/v1/admin/rules/sla.yaml").json()
            assert "illegal_parking: {red: 16," in saved["text"]
            assert saved["content"]["kinds"]["illegal_parking"]["red"] == 16

            # Someone else saves the file meanwhile: this editor's save is refused with the hub's reason.
            other = saved["text"].replace("illegal_parking: {red: 16,", "illegal_parking: {red: 17,")
            assert hub.put("/api/v1/admin/rules/sla.yaml", json={"text": other}).is_success
            editor.fill(saved["text"].replace("illegal_parking: {red: 16,", "illegal_parking: {red: 18,"))
            panel.get_by_test_id("rules-validate").click()
            expect(panel.get_by_test_id("rules-valid")).to_be_visible()
            panel.get_by_test_id("rules-save").click()
            expect(panel.get_by_test_id("problem-detail")).to_contain_text("changed since you loaded it")
            assert "illegal_parking: {red: 17," in hub.get("/api/v1/admin/rules/sla.yaml").json()["text"]
    finally:
        _restore_sla(hub, text)


def _restore_sla(hub: httpx.Client, text: str) -> None:
    """Put sla.yaml back through the API (so this hub reloads it) for the tests after this one."""
    restored = hub.put("/api/v1/admin/rules/sla.yaml", json={"text": text})
    assert restored.is_success, restored.text
    assert hub.get("/api/v1/admin/rules/sla.yaml").json()["text"] == text
