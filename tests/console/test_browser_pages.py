"""The marketers' and admins' pages in a real browser against the real app and PostGIS (issue 17's journeys).

A marketer creates an offer through the form and the API has it, and a bad field shows the API's message next to
that field; the dashboard's funnel shows the numbers /v1/stats answers for the same range; an admin creates a key
whose secret is shown once, then revokes it and the API refuses it.
"""

from __future__ import annotations

from playwright.async_api import expect

from tests.conftest import BrandContext
from tests.console.conftest import OpenPage, screenshot
from tests.console.test_browser_journeys import SHANGHAI, sign_in


async def test_i_an_admin_creates_a_key_sees_the_secret_once_and_revokes_it(
    brand: BrandContext, open_page: OpenPage
) -> None:
    store = await brand.store(*SHANGHAI, name="People's Square", timezone="Asia/Shanghai")
    await brand.store(121.50, 31.24, name="Bund", timezone="Asia/Shanghai")
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
