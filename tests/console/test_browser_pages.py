"""The marketers' and admins' pages in a real browser against the real app and PostGIS (issue 17's journeys).

A marketer creates an offer through the form and the API has it, and a bad field shows the API's message next to
that field; the dashboard's funnel shows the numbers /v1/stats answers for the same range; an admin creates a key
whose secret is shown once, then revokes it and the API refuses it.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from pathlib import Path
from typing import Any

from playwright.async_api import Page, expect

from tests.conftest import BrandContext
from tests.console.conftest import OpenPage, screenshot
from tests.console.test_browser_journeys import SHANGHAI, sign_in
from tests.coupon_helpers import open_shop
from tests.test_offers_crud import offer_body

BUND = (121.49, 31.24)


async def fitted_pixel(
    page: Page, canvas: str, positions: list[tuple[float, float]], target: tuple[float, float], padding: int = 60
) -> tuple[float, float]:
    """Where a map fitted to these positions (fitTo: MapLibre's fitBounds with 60 px of padding) shows target."""
    box = await page.locator(canvas).bounding_box()
    assert box is not None

    def mercator(lon: float, lat: float) -> tuple[float, float]:
        return math.radians(lon), math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    xs, ys = zip(*(mercator(*p) for p in positions), strict=True)
    scale = min((box["width"] - 2 * padding) / (max(xs) - min(xs)), (box["height"] - 2 * padding) / (max(ys) - min(ys)))
    x, y = mercator(*target)
    return (
        box["x"] + box["width"] / 2 + (x - (max(xs) + min(xs)) / 2) * scale,
        box["y"] + box["height"] / 2 - (y - (max(ys) + min(ys)) / 2) * scale,
    )


def field_error(page: Page, label: str) -> Any:
    """The API's message shown next to the input with this label."""
    return page.locator(".field", has=page.get_by_label(label, exact=True)).locator(".field-error")


async def api_message(brand: BrandContext, body: dict[str, Any], path: str) -> str:
    """What the API itself says about one field of an offer it refuses."""
    answer = await brand.client.post("/v1/offers", json=body, headers=brand.admin)
    assert answer.status_code == 422, answer.text
    [message] = [e["message"] for e in answer.json()["errors"] if e["field"] == path]
    return str(message)


async def test_g_a_marketer_creates_an_offer_and_a_bad_field_shows_the_apis_message(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="People's Square", timezone="Asia/Shanghai")
    bund = await brand.store(*BUND, name="Bund", timezone="Asia/Shanghai")
    marketer = await brand.key("marketer")
    page = await open_page(path="/console#/offers")
    await sign_in(page, marketer)
    await expect(page.get_by_role("heading", level=1, name="Campaigns and offers")).to_be_visible()

    await page.get_by_role("button", name="New campaign").click()
    await page.get_by_label("Campaign name").fill("Spring mornings")
    await page.get_by_role("button", name="Create campaign").click()
    await expect(page.get_by_role("status").filter(has_text="Campaign “Spring mornings” created.")).to_be_visible()
    campaign = page.get_by_role("region", name="Spring mornings")
    await campaign.get_by_role("link", name="New offer").click()
    await expect(page.get_by_role("heading", level=1, name="New offer")).to_be_visible()

    await page.get_by_label("Title", exact=True).fill("20% off a morning latte")
    await page.get_by_label("Some stores").check()
    await page.get_by_label("People's Square").check()
    # The other store is picked on the map: a click on its dot ticks it in the list.
    await expect(page.locator(".picker-map[data-drawn=true]")).to_have_count(1)
    await page.mouse.click(*await fitted_pixel(page, ".picker-map canvas", [SHANGHAI, BUND], BUND))
    await expect(page.get_by_label("Bund")).to_be_checked()
    await page.get_by_label("Whenever the campaign runs").uncheck()
    await page.get_by_label("Until").fill("09:00")  # the same as the start: the API refuses it
    await page.get_by_label("Percent off", exact=True).fill("150")
    await page.get_by_label("Per member", exact=True).fill("2")

    # msgspec's bounds come first: percent_off is refused, with the API's own words next to it.
    await page.get_by_role("button", name="Create offer").click()
    percent = page.get_by_label("Percent off", exact=True)
    campaigns = await brand.client.get("/v1/campaigns", headers=brand.admin)
    campaign_id = campaigns.json()["items"][0]["id"]
    bad_percent = offer_body(campaign_id, coupon={"kind": "percent", "percent_off": 150, "validity_minutes": 1440})
    await expect(field_error(page, "Percent off")).to_have_text(
        await api_message(brand, bad_percent, "coupon.percent_off")
    )
    await expect(percent).to_have_attribute("aria-invalid", "true")
    await expect(percent).to_be_focused()
    await screenshot(page, "g-offer-refused")

    # Then the rule across fields: the window of the first hours row ends where it starts.
    await percent.fill("20")
    await page.get_by_role("button", name="Create offer").click()
    await expect(field_error(page, "Until")).to_have_text("a window must not start and end at once")
    await expect(field_error(page, "Percent off")).to_have_count(0)

    await page.get_by_label("Until").fill("11:00")
    await page.get_by_role("button", name="Create offer").click()
    await expect(page.get_by_role("status").filter(has_text="Offer “20% off a morning latte” created.")).to_be_visible()
    row = page.locator("table.data tbody tr", has_text="20% off a morning latte")
    await expect(row).to_contain_text("Bund, People's Square")
    await expect(row).to_contain_text("Mon Tue Wed Thu Fri 09:00\u201311:00")
    await screenshot(page, "g-offer-created")

    listed = await brand.client.get("/v1/offers", headers=brand.admin)
    [offer] = listed.json()["items"]
    assert offer["title"] == "20% off a morning latte"
    assert offer["campaign_id"] == campaign_id
    assert offer["where"]["target"] == "stores"
    assert sorted(offer["where"]["store_ids"]) == sorted([store["id"], bund["id"]])
    assert offer["when"]["weekly_hours"] == [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "11:00"}
    ]
    assert offer["coupon"]["percent_off"] == 20
    assert offer["limits"]["per_member"] == 2
    assert offer["active"] is True

    await row.get_by_role("button", name="Pause “20% off a morning latte”").click()
    await expect(page.get_by_role("status").filter(has_text="“20% off a morning latte” paused.")).to_be_visible()
    paused = await brand.client.get(f"/v1/offers/{offer['id']}", headers=brand.admin)
    assert paused.json()["active"] is False

    # Editing opens the form with the offer as the API has it; a change is saved, the rest kept.
    await page.get_by_role("link", name="20% off a morning latte").click()
    await expect(page.get_by_role("heading", level=1, name="Edit offer")).to_be_visible()
    await expect(page.get_by_label("Until")).to_have_value("11:00")
    await page.get_by_label("Per member", exact=True).fill("3")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("status").filter(has_text="Offer “20% off a morning latte” saved.")).to_be_visible()
    edited = (await brand.client.get(f"/v1/offers/{offer['id']}", headers=brand.admin)).json()
    assert edited["limits"]["per_member"] == 3
    assert {key: edited[key] for key in ("where", "when", "coupon", "active")} == {
        key: paused.json()[key] for key in ("where", "when", "coupon", "active")
    }


async def test_i_an_admin_creates_a_key_sees_the_secret_once_and_revokes_it(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="People's Square", timezone="Asia/Shanghai")
    await brand.store(*BUND, name="Bund", timezone="Asia/Shanghai")
    page = await open_page(path="/console#/keys")
    await sign_in(page, brand.admin_key)
    await expect(page.get_by_role("heading", level=1, name="API keys")).to_be_visible()
    await expect(page.locator("table.data tbody tr")).to_have_count(1)  # the admin key signed in with

    # A manager key without a store: the API's message is shown on the store picker.
    await page.get_by_label("Name", exact=True).fill("Till, People's Square")
    await page.get_by_label("Role", exact=True).select_option("manager")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator(".store-picker .field-error")).to_have_text("a manager key needs at least one store")

    await page.get_by_label("People's Square").check()
    await page.get_by_role("button", name="Create key").click()
    shown = page.get_by_label("The new key")
    await expect(shown).to_be_visible()
    secret = await shown.input_value()
    await expect(page.locator(".secret-once")).to_contain_text("shown only this once")
    await expect(page.locator("table.data tbody tr")).to_have_count(2)
    await screenshot(page, "i-key-created")
    mine = await brand.client.get("/v1/stores", headers=brand.bearer(secret))
    assert mine.status_code == 200, mine.text
    assert [s["id"] for s in mine.json()["items"]] == [store["id"]]

    # Gone after a reload: the page never kept it.
    await page.reload()
    row = page.locator("table.data tbody tr", has_text="Till, People's Square")
    await expect(row).to_contain_text(secret[:6])
    await expect(page.get_by_label("The new key")).to_have_count(0)
    assert secret not in await page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Revoke “Till, People's Square”").click()
    await expect(page.get_by_role("status").filter(has_text="Revoked “Till, People's Square”.")).to_be_visible()
    await expect(page.locator("table.data tbody tr")).to_have_count(1)
    await page.get_by_label("Show revoked keys").check()
    await expect(row).to_contain_text("Revoked")
    refused = await brand.client.get("/v1/stores", headers=brand.bearer(secret))
    assert refused.status_code == 401, refused.text

    # The last admin key cannot go: a sentence says why.
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Revoke “", exact=False).first.click()
    await expect(page.get_by_role("alert")).to_have_text(
        "This is the brand's last admin key: create another admin key before revoking it."
    )
    await screenshot(page, "i-key-revoked")


def shown_number(value: int | None) -> str:
    """A count as the page shows it in English (Intl.NumberFormat("en")), "—" when the API has none."""
    return "—" if value is None else f"{value:,}"


async def stats(brand: BrandContext, route: str, **params: str) -> Any:
    answer = await brand.client.get(f"/v1/stats/{route}", params=params, headers=brand.admin)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def expect_funnel(page: Page, figures: dict[str, int | None]) -> None:
    for stage, value in figures.items():
        await expect(page.locator(f".funnel-figures dd[data-figure={stage}]")).to_have_text(shown_number(value))


async def test_h_the_dashboards_funnel_shows_the_numbers_of_v1_stats(brand: BrandContext, open_page: OpenPage) -> None:
    shop = await open_shop(brand)  # a store with a fence, a running offer, and a member who checked in there
    coupon = await shop.claimed()
    assert (await shop.redeem(coupon["code"], order_amount=12.5)).status_code == 201
    page = await open_page(path="/console#/dashboard")
    await sign_in(page, brand.admin_key)
    await expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    window = {
        "from": await page.get_by_label("From", exact=True).input_value(),
        "to": await page.get_by_label("To", exact=True).input_value(),
    }
    stages = ("checkins", "impressions", "claims", "redemptions")

    # No filter: the brand's figures, the range's total that /v1/stats/daily answers (the route the page reads),
    # which for the brand's one offer are also /v1/stats/offers' row.
    answer = await stats(brand, "daily", **window)
    [by_offer] = (await stats(brand, "offers", **window))["items"]
    brand_wide = {stage: answer["total"][stage] for stage in stages}
    assert brand_wide == {stage: sum(day[stage] for day in answer["items"]) for stage in stages}
    assert {stage: brand_wide[stage] for stage in stages[1:]} == {stage: by_offer[stage] for stage in stages[1:]}
    assert (brand_wide["claims"], brand_wide["redemptions"]) == (1, 1)
    await expect_funnel(page, brand_wide)
    offers_table = page.get_by_role("region", name="By offer")
    await expect(offers_table.locator("tbody tr")).to_have_count(1)
    await expect(offers_table.locator("tbody tr")).to_contain_text(shop.offer["title"])
    await screenshot(page, "h-dashboard", doc="console-dashboard.png")

    # The heatmap asked the API for the hexagons of the map's box (none pass the brand's k with one member).
    heatmap = page.get_by_role("region", name="Check-in heatmap")
    await expect(heatmap.locator(".heat-status")).to_contain_text("hexagon")
    await heatmap.scroll_into_view_if_needed()
    await screenshot(page, "h-dashboard-heatmap")

    # The offers table's CSV is the API's CSV for the same range.
    async with page.expect_download() as downloading:
        await offers_table.get_by_role("button", name="Download CSV").click()
    saved = await (await downloading.value).path()
    csv_answer = await brand.client.get("/v1/stats/offers", params=window, headers=brand.admin | {"Accept": "text/csv"})
    assert await asyncio.to_thread(Path(saved).read_bytes) == csv_answer.content

    # Sorting by a header says so.
    claims_header = page.get_by_role("region", name="By store").get_by_role("columnheader", name="Redemptions")
    await claims_header.get_by_role("button").click()
    await expect(claims_header).to_have_attribute("aria-sort", "descending")

    # A store alone: its row of /v1/stats/stores, check-ins included.
    store_id = shop.scene.store["id"]
    await page.get_by_label("Store", exact=True).select_option(store_id)
    [at_store] = (await stats(brand, "stores", store_id=store_id, **window))["items"]
    await expect_funnel(page, {stage: at_store[stage] for stage in stages})

    # An offer: its row of /v1/stats/offers; check-ins belong to places, so there are none to show.
    await page.get_by_label("Store", exact=True).select_option("")
    await page.get_by_label("Offer", exact=True).select_option(shop.offer["id"])
    [offer_row] = (await stats(brand, "offers", offer_id=shop.offer["id"], **window))["items"]
    assert offer_row["checkins"] is None
    await expect_funnel(page, {stage: offer_row[stage] for stage in stages})
    await expect(page.get_by_text("Check-ins belong to places, not offers")).to_be_visible()
    await screenshot(page, "h-dashboard-offer")


async def test_h_a_manager_reads_its_own_stores_figures(brand: BrandContext, open_page: OpenPage) -> None:
    shop = await open_shop(brand)
    assert (await shop.claim()).status_code == 201
    manager = await brand.key("manager", [uuid.UUID(shop.scene.store["id"])])
    page = await open_page(path="/console#/dashboard")
    await sign_in(page, manager)
    window = {
        "from": await page.get_by_label("From", exact=True).input_value(),
        "to": await page.get_by_label("To", exact=True).input_value(),
    }
    answer = await brand.client.get("/v1/stats/daily", params=window, headers=brand.bearer(manager))
    assert answer.status_code == 200, answer.text
    days = answer.json()["items"]
    stages = ("checkins", "impressions", "claims", "redemptions")
    await expect_funnel(page, {stage: sum(day[stage] for day in days) for stage in stages})
    await expect(page.get_by_role("region", name="By store").locator("tbody tr")).to_have_count(1)
    # The KOL board, the heatmap and the campaign filter are the marketers' (the API refuses a manager them).
    await expect(page.get_by_role("heading", name="Top sharers (KOL board)")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Check-in heatmap")).to_have_count(0)
    await expect(page.get_by_label("Campaign", exact=True)).to_have_count(0)
