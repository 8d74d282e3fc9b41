"""The console as people use it, in a real browser against the real app and PostGIS (issue 17's journeys).

A manager draws fences with the mouse and the API then has them; a bow-tie is refused with its crossing marked
on the map; the till redeems a coupon once and says so in a sentence the second time; a manager cannot open
another store; signing out ends the session on the server; the pages speak Chinese to a Chinese browser.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import FilePayload, Page, Route, expect

from tests.conftest import BrandContext
from tests.console.conftest import OpenPage, png_pixel, screenshot
from tests.coupon_helpers import open_shop

SHANGHAI = (121.4737, 31.2304)
#: The store page opens at this zoom when the store has no fences yet (fitTo's maxZoom for one position).
STORE_ZOOM = 17
EARTH_CIRCUMFERENCE_M = 40_075_016.686


def metres_per_pixel(lat: float, zoom: float) -> float:
    """MapLibre's scale: 512-pixel tiles in Web Mercator."""
    return EARTH_CIRCUMFERENCE_M * math.cos(math.radians(lat)) / (512 * 2**zoom)


async def sign_in(page: Page, key: str, *, label: str = "API key", button: str = "Sign in") -> None:
    await page.get_by_label(label).fill(key)
    await page.get_by_role("button", name=button).click()
    await expect(page.locator("header.top .signout")).to_be_visible()


async def open_store(page: Page, name: str) -> None:
    """Opens a store from the stores list and waits for the fence editor."""
    await page.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", level=1, name=name)).to_be_visible()
    await expect(page.locator(".fence-list li").first).to_be_visible()


async def map_centre(page: Page) -> tuple[float, float]:
    """The centre of the editor's map in page pixels (the store's location, when it has no fences yet)."""
    box = await page.locator(".editor-map canvas.maplibregl-canvas").bounding_box()
    assert box is not None
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def draw_polygon(page: Page, corners: list[tuple[float, float]]) -> None:
    """Draws a polygon by clicking its corners, given in pixels from the map's centre."""
    await page.get_by_role("button", name="Polygon").click()
    cx, cy = await map_centre(page)
    for dx, dy in [*corners, corners[0]]:  # clicking the first corner again closes the ring
        await page.mouse.move(cx + dx, cy + dy, steps=3)
        await page.mouse.click(cx + dx, cy + dy)


async def fences_of(brand: BrandContext, store_id: str) -> list[dict[str, Any]]:
    answer = await brand.client.get(f"/v1/geofences?store_id={store_id}", headers=brand.admin)
    assert answer.status_code == 200, answer.text
    features: list[dict[str, Any]] = answer.json()["features"]
    return features


async def test_a_manager_draws_a_circle_and_a_polygon_and_the_api_has_them(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="People's Square", timezone="Asia/Shanghai")
    await brand.store(121.50, 31.24, name="Bund (not the manager's)", timezone="Asia/Shanghai")
    manager = await brand.key("manager", [uuid.UUID(store["id"])])
    page = await open_page()
    await sign_in(page, manager)

    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Stores", "Till", "Dashboard"])
    await expect(page.locator(".store-list li")).to_have_count(1)  # the API scopes the list to the manager's store
    await page.get_by_label("Search stores by name").fill("people")
    await expect(page.locator(".store-list li")).to_have_text(["People's Square"])
    await open_store(page, "People's Square")

    # A circle: click its centre, move out 80 px (the radius is shown while drawing), click again.
    await page.get_by_role("button", name="Circle").click()
    cx, cy = await map_centre(page)
    centre = (cx - 200, cy)
    await page.mouse.click(*centre)
    await page.mouse.move(centre[0] + 40, cy, steps=4)
    radius = page.get_by_label("Radius (m)")
    await expect(radius).not_to_have_value("")
    await page.mouse.move(centre[0] + 80, cy, steps=4)
    await page.mouse.click(centre[0] + 80, cy)
    shown_radius = float(await radius.input_value())

    # A polygon: four corners by mouse clicks.
    await draw_polygon(page, [(60, -80), (220, -80), (220, 80), (60, 80)])
    await expect(page.locator(".fence-list li.fence")).to_have_count(2)

    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Saved 2 fence(s).")).to_be_visible()
    await expect(page.locator(".fence-list")).not_to_contain_text("not saved")
    await screenshot(page, "a-fences-drawn", doc="console-fences.png")

    fences = {f["properties"]["kind"]: f for f in await fences_of(brand, store["id"])}
    assert set(fences) == {"circle", "polygon"}
    circle_radius = fences["circle"]["properties"]["radius_m"]
    assert abs(circle_radius - shown_radius) <= 3, (circle_radius, shown_radius)
    drawn = 80 * metres_per_pixel(SHANGHAI[1], STORE_ZOOM)
    assert abs(circle_radius - drawn) <= 0.05 * drawn, (circle_radius, drawn)
    ring = fences["polygon"]["geometry"]["coordinates"][0]
    assert len(ring) - 1 == 4, ring
    assert ring[0] == ring[-1]


async def test_b_a_bow_tie_shows_the_apis_error_and_marks_the_crossing(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="Jing'an", timezone="Asia/Shanghai")
    page = await open_page()
    await sign_in(page, brand.admin_key)
    await open_store(page, "Jing'an")

    x0, y0, x1, y1 = -150, -100, 50, 100
    await draw_polygon(page, [(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # the edges cross in the middle
    await page.get_by_role("button", name="Save", exact=True).click()
    error = page.locator(".fence-error")
    await expect(error).to_contain_text("self-intersection at lon")
    await expect(page.get_by_role("status").or_(page.get_by_role("alert")).first).to_be_visible()
    cx, cy = await map_centre(page)
    await page.mouse.move(cx + 300, cy + 200)  # the pointer off the crossing, so the screenshot sees the mark
    await screenshot(page, "b-bow-tie-refused")

    # The crossing is marked in red on the map where the two edges meet.
    mx, my = round(cx + (x0 + x1) / 2), round(cy + (y0 + y1) / 2)
    near = await page.screenshot(clip={"x": mx - 2, "y": my - 2, "width": 5, "height": 5})
    red, green, blue = png_pixel(near, 2, 2)
    assert red > 150, (red, green, blue)
    assert max(green, blue) < 110, (red, green, blue)
    assert await fences_of(brand, store["id"]) == []

    # Leaving with an unsaved fence asks first; answering no keeps the page and the shape.
    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_role("navigation").get_by_role("link", name="Stores").click()
    await expect(page.get_by_role("heading", level=1, name="Jing'an")).to_be_visible()
    await expect(page.locator(".fence-list li.fence")).to_have_count(1)
    # The address is put back by the hashchange handler after the dialog; Playwright may see the link's hash
    # first, so wait for it rather than reading it once.
    await expect(page).to_have_url(re.compile(re.escape(f"#/stores/{store['id']}") + "$"))


async def test_a_an_admin_edits_pauses_exports_and_imports_fences(brand: BrandContext, open_page: OpenPage) -> None:
    store = await brand.store(*SHANGHAI, name="Xintiandi", timezone="Asia/Shanghai")
    centre = {"type": "Point", "coordinates": list(SHANGHAI)}
    made = await brand.client.post(
        f"/v1/stores/{store['id']}/geofences",
        json={"name": "door", "geometry": centre, "radius_m": 60},
        headers=brand.admin,
    )
    assert made.status_code == 201, made.text
    page = await open_page()
    await sign_in(page, brand.admin_key)
    await open_store(page, "Xintiandi")

    # Pick the saved circle from the list, type a new radius, save: the API has it.
    await page.locator(".fence-list").get_by_role("button", name="Circle, 60 m").click()
    radius = page.get_by_label("Radius (m)")
    await expect(radius).to_have_value("60")
    await radius.fill("120")
    await radius.press("Enter")
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Saved 1 fence(s).")).to_be_visible()
    [fence] = await fences_of(brand, store["id"])
    assert fence["properties"]["radius_m"] == 120
    assert fence["geometry"]["coordinates"] == pytest.approx(list(SHANGHAI), abs=1e-6)

    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator(".fence-list")).to_contain_text("paused")
    [fence] = await fences_of(brand, store["id"])
    assert fence["properties"]["active"] is False

    async with page.expect_download() as downloading:
        await page.get_by_role("button", name="Export GeoJSON").click()
    saved = await (await downloading.value).path()
    exported = json.loads(await asyncio.to_thread(Path(saved).read_text))
    assert [f["properties"]["radius_m"] for f in exported["features"]] == [120]

    # An import with one bad feature imports nothing and names it; the same file without it imports.
    bow_tie = {
        "type": "Polygon",
        "coordinates": [[[121.47, 31.23], [121.471, 31.231], [121.471, 31.23], [121.47, 31.231], [121.47, 31.23]]],
    }
    good = {"type": "Feature", "geometry": centre, "properties": {"name": "terrace", "radius_m": 30}}
    bad = {"type": "Feature", "geometry": bow_tie, "properties": {"name": "bow"}}
    upload = page.locator("#fence-import")
    await upload.set_input_files(files=[_geojson("bad.geojson", [good, bad])])
    await expect(page.locator(".import-report")).to_contain_text("Feature 2 (bow): self-intersection")
    assert len(await fences_of(brand, store["id"])) == 1
    await upload.set_input_files(files=[_geojson("good.geojson", [good])])
    await expect(page.get_by_role("status").filter(has_text="Imported 1 fence(s).")).to_be_visible()
    await expect(page.locator(".fence-list li.fence")).to_have_count(2)
    assert len(await fences_of(brand, store["id"])) == 2
    await screenshot(page, "a-fences-edited")

    page.once("dialog", lambda dialog: dialog.accept())  # "Delete the fence …?"
    await page.locator(".fence-list").get_by_role("button", name="Circle, 30 m").click()
    await page.get_by_role("button", name="Delete").click()
    await expect(page.locator(".fence-list li.fence")).to_have_count(1)
    assert [f["properties"]["name"] for f in await fences_of(brand, store["id"])] == ["door"]


def _geojson(name: str, features: list[dict[str, Any]]) -> FilePayload:
    body = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    return {"name": name, "mimeType": "application/geo+json", "buffer": body}


async def test_a_a_marketer_sees_stores_read_only(brand: BrandContext, open_page: OpenPage) -> None:
    await brand.store(*SHANGHAI, name="Lujiazui", timezone="Asia/Shanghai")
    marketer = await brand.key("marketer")
    page = await open_page()
    await sign_in(page, marketer)
    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Stores", "Offers", "Dashboard"])
    await open_store(page, "Lujiazui")
    await expect(page.get_by_text("Read only")).to_be_visible()
    await expect(page.get_by_role("toolbar")).to_have_count(0)


async def test_c_a_manager_redeems_at_the_till_and_a_second_redeem_is_refused(
    brand: BrandContext, open_page: OpenPage
) -> None:
    shop = await open_shop(brand)
    renamed = {"name": "Rue de Rivoli"}
    assert (
        await brand.client.patch(f"/v1/stores/{shop.scene.store['id']}", json=renamed, headers=brand.admin)
    ).is_success
    coupon = await shop.claimed()
    manager = await brand.key("manager", [uuid.UUID(shop.scene.store["id"])])
    page = await open_page()
    await sign_in(page, manager)
    await page.get_by_role("link", name="Till").click()

    code = page.get_by_label("Coupon code or QR payload")
    await expect(code).to_be_focused()
    await code.fill(coupon["qr_payload"])  # what a scanner types
    await code.press("Enter")
    card = page.locator(".coupon")
    await expect(card).to_contain_text(coupon["title"])
    await expect(card).to_contain_text("Active")
    await expect(page.get_by_role("button", name="Redeem")).to_be_focused()
    await page.keyboard.press("Enter")
    outcome = page.locator(".till-outcome")
    await expect(outcome).to_contain_text(f"Redeemed: {coupon['title']}, at Rue de Rivoli")
    await expect(card).to_contain_text("Redeemed")  # the card follows the answer
    await screenshot(page, "c-till-redeemed", doc="console-till.png")

    looked_up = await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=brand.admin)
    assert looked_up.json()["status"] == "redeemed"

    await code.fill(coupon["code"].lower().replace("-", ""))  # typed by hand
    await code.press("Enter")
    await expect(card).to_contain_text("Redeemed")
    await page.keyboard.press("Enter")
    await expect(outcome).to_contain_text("This coupon was already redeemed")
    await screenshot(page, "c-till-already-redeemed")


async def test_c_a_code_scanned_before_the_till_has_loaded_its_stores_is_looked_up(
    brand: BrandContext, open_page: OpenPage
) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    manager = await brand.key("manager", [uuid.UUID(shop.scene.store["id"])])
    page = await open_page()
    await sign_in(page, manager)

    async def slow_stores(route: Route) -> None:  # the till's store list arrives after the scanner's Enter
        await asyncio.sleep(1.5)
        await route.continue_()

    await page.route(re.compile(r"/v1/stores(\?.*)?$"), slow_stores)
    await page.get_by_role("link", name="Till").click()
    code = page.get_by_label("Coupon code or QR payload")
    await expect(code).to_be_focused()
    await code.fill(coupon["qr_payload"])
    await code.press("Enter")
    await expect(page.locator(".coupon")).to_contain_text(coupon["title"])
    assert page.url.endswith("#/till")  # no form submission by the browser itself (a page load)


async def test_c_a_redemption_just_made_can_be_voided(brand: BrandContext, open_page: OpenPage) -> None:
    shop = await open_shop(brand)
    coupon = await shop.claimed()
    manager = await brand.key("manager", [uuid.UUID(shop.scene.store["id"])])
    page = await open_page(path="/console#/till")
    await sign_in(page, manager)
    code = page.get_by_label("Coupon code or QR payload")
    await code.fill(coupon["code"])
    await code.press("Enter")
    await page.get_by_role("button", name="Redeem").press("Enter")
    void = page.get_by_role("button", name="Void this redemption")
    await expect(void).to_be_focused()
    await page.get_by_label("Reason for the void (optional)").fill("rang up the wrong item")
    await void.click()
    await expect(page.locator(".till-outcome")).to_contain_text("Voided")
    await expect(page.locator(".coupon")).to_contain_text("Active")
    looked_up = await brand.client.get(f"/v1/coupons/{coupon['code']}", headers=brand.admin)
    assert looked_up.json()["status"] == "active"


async def test_d_a_manager_cannot_open_another_stores_page(brand: BrandContext, open_page: OpenPage) -> None:
    mine = await brand.store(*SHANGHAI, name="Mine", timezone="Asia/Shanghai")
    other = await brand.store(121.50, 31.24, name="Not mine", timezone="Asia/Shanghai")
    manager = await brand.key("manager", [uuid.UUID(mine["id"])])
    page = await open_page()
    await sign_in(page, manager)
    await page.goto(page.url.split("#")[0] + f"#/stores/{other['id']}")
    await expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("Not mine")
    await screenshot(page, "d-not-allowed")

    answer = await brand.client.get(f"/v1/stores/{other['id']}", headers=brand.bearer(manager))
    assert answer.status_code in (403, 404)
    fences = await brand.client.get(f"/v1/geofences?store_id={other['id']}", headers=brand.bearer(manager))
    assert fences.status_code in (403, 404)


async def test_e_signing_out_ends_the_session(brand: BrandContext, open_page: OpenPage, console_url: str) -> None:
    page = await open_page()
    await sign_in(page, brand.admin_key)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    assert "solomo_console" in cookies
    assert brand.admin_key not in str(cookies)
    assert await page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})") == "{}{}"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("API key")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("API key")).to_be_visible()
    await screenshot(page, "e-signed-out")
    async with httpx.AsyncClient(base_url=console_url, cookies={"solomo_console": cookies["solomo_console"]}) as old:
        assert (await old.get("/console/session")).status_code == 401
        assert (await old.get("/v1/stores")).status_code == 401


async def test_e_a_wrong_key_is_a_sentence(open_page: OpenPage) -> None:
    page = await open_page()
    await page.get_by_label("API key").fill("sk_" + "x" * 40)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("Unknown or revoked key.")


async def test_f_the_console_speaks_chinese_to_a_chinese_browser(brand: BrandContext, open_page: OpenPage) -> None:
    store = await brand.store(*SHANGHAI, name="人民广场店", timezone="Asia/Shanghai")
    manager = await brand.key("manager", [uuid.UUID(store["id"])])
    page = await open_page(locale="zh-CN")
    await expect(page.get_by_role("heading", name="登录")).to_be_visible()
    await sign_in(page, manager, label="API 密钥", button="登录")
    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["门店", "收银台", "数据看板"])
    await expect(page.locator("header.top .role")).to_have_text("店长")
    await expect(page.get_by_role("link", name="人民广场店")).to_be_visible()
    await screenshot(page, "f-chinese")

    # The switch changes the language at once, and the choice outlives a reload.
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Stores", "Till", "Dashboard"])
    await page.reload()
    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Stores", "Till", "Dashboard"])


async def test_g_a_change_without_the_csrf_token_is_refused_in_the_browser(
    brand: BrandContext, open_page: OpenPage
) -> None:
    """The page's own fetch wrapper sends the token; a script on the page that does not is refused, cookie or not."""
    page = await open_page()
    await sign_in(page, brand.admin_key)
    body = {"name": "Forged", "timezone": "Europe/Paris", "location": {"type": "Point", "coordinates": [2.3, 48.8]}}
    answer = await page.evaluate(
        """async (body) => {
            const r = await fetch("/v1/stores", {method: "POST", headers: {"Content-Type": "application/json"},
                                                 body: JSON.stringify(body)});
            return {status: r.status, body: await r.json()};
        }""",
        body,
    )
    assert answer["status"] == 403, answer
    assert answer["body"]["code"] == "csrf_failed"
    listed = await brand.client.get("/v1/stores", headers=brand.admin)
    assert "Forged" not in [s["name"] for s in listed.json()["items"]]


async def test_a_a_manager_drags_a_vertex_and_moves_a_fence_with_the_mouse(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="Xintiandi", timezone="Asia/Shanghai")
    manager = await brand.key("manager", [uuid.UUID(store["id"])])
    page = await open_page()
    await sign_in(page, manager)
    await open_store(page, "Xintiandi")
    # A square, 160 px a side; saving would fit the map to it, so the edits come before the one save.
    await draw_polygon(page, [(60, -80), (220, -80), (220, 80), (60, 80)])
    cx, cy = await map_centre(page)
    await page.get_by_role("button", name="Select / edit").click()
    await page.mouse.click(cx + 140, cy)  # inside the polygon: selects it
    await expect(page.get_by_role("button", name="Delete")).to_be_enabled()  # the editor has it in hand
    await page.wait_for_timeout(300)  # and terra-draw has drawn the vertex handles (on its next frame)
    # Drag the north-east corner 60 px further east.
    await page.mouse.move(cx + 220, cy - 80)
    await page.mouse.down()
    await page.mouse.move(cx + 250, cy - 80, steps=5)
    await page.mouse.move(cx + 280, cy - 80, steps=5)
    await page.mouse.up()
    # Then move the whole fence 40 px south by dragging its inside.
    await page.mouse.move(cx + 120, cy + 20)
    await page.mouse.down()
    await page.mouse.move(cx + 120, cy + 40, steps=5)
    await page.mouse.move(cx + 120, cy + 60, steps=5)
    await page.mouse.up()
    await page.get_by_role("button", name="Save", exact=True).click()
    await expect(page.get_by_role("status").filter(has_text="Saved 1 fence(s).")).to_be_visible()

    [saved] = await fences_of(brand, store["id"])
    ring = saved["geometry"]["coordinates"][0][:-1]
    assert len(ring) == 4, ring
    lons = sorted(p[0] for p in ring)
    lats = [p[1] for p in ring]
    # The dragged corner sticks out east of the other east corner: the square became a quadrilateral.
    assert lons[3] - lons[2] > 0.3 * (lons[2] - lons[0]), ring
    # The whole shape went south: its centre is below the store (the map's centre), where it was drawn across.
    assert sum(lats) / 4 < SHANGHAI[1] - 1e-5, (ring, SHANGHAI)
