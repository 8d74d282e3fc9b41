// #/till: look a coupon up by its code (typed, or the QR payload a scanner types in), redeem it at one of the
// key's stores, void a redemption just made. Keyboard first: each step is a form (Enter submits), and focus
// moves to the next thing to do. Refusals are sentences in the chosen language (errors.js).
import { all, api } from "./api.js";
import { describe } from "./errors.js";
import { formatDateTime, formatMoney, t } from "./i18n.js";
import { uuid } from "./geometry.js";
import { field, h, message, replace } from "./ui.js";

export async function renderTill(root, ctx) {
  const codeInput = h("input", { type: "text", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true, maxlength: "200" });
  const lookupForm = h(
    "form",
    { class: "till-lookup", novalidate: true },
    field(t("till.code"), codeInput),
    h("button", { type: "submit", class: "primary" }, t("till.lookup")),
  );
  const result = h("div", { class: "till-result", "aria-live": "polite" });
  replace(root, h("h1", {}, t("till.title")), lookupForm, result);
  codeInput.focus();

  // The stores this key may redeem at: the API scopes a manager's list to its own stores.
  let stores = [];
  const storeName = (id) => (stores.find((s) => s.id === id) || {}).name || "";
  let storesError = null;
  const storesLoaded = all("/v1/stores").then(
    (list) => {
      stores = list.sort((a, b) => a.name.localeCompare(b.name));
    },
    (error) => {
      storesError = error;
      replace(result, message(describe(error), "error"));
    },
  );

  // Listening before the stores arrive: a scanner types the code and Enter at once, and a form without its
  // listener would be submitted by the browser itself (a page load that loses the code).
  lookupForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const typed = codeInput.value.trim();
    if (!typed) {
      codeInput.focus();
      return;
    }
    replace(result, message(t("loading")));
    try {
      await storesLoaded;
      if (storesError) throw storesError;
      const coupon = await api("GET", `/v1/coupons/${encodeURIComponent(typed)}`);
      showCoupon(coupon);
    } catch (error) {
      replace(result, message(describe(error, { storeName }), "error"));
      codeInput.select();
    }
  });

  function showCoupon(coupon) {
    const storeSelect = h(
      "select",
      { required: true },
      stores.map((s) => h("option", { value: s.id }, s.name)),
    );
    const remembered = sessionStorage.getItem("solomo-till-store");
    if (remembered && stores.some((s) => s.id === remembered)) storeSelect.value = remembered;
    const amount = h("input", { type: "number", min: "0", step: "0.01", inputmode: "decimal" });
    const redeemButton = h("button", { type: "submit", class: "primary" }, t("till.redeem"));
    const outcome = h("div", { class: "till-outcome", "aria-live": "assertive" });
    const redeemForm = h(
      "form",
      { class: "till-redeem", novalidate: true },
      field(t("till.store"), storeSelect),
      field(t("till.amount"), amount),
      redeemButton,
    );
    let card = couponCard(coupon);
    // The card follows what the API answers after a redemption or a void (its status, its redemption).
    const refreshCard = (fresh) => {
      const next = couponCard(fresh);
      card.replaceWith(next);
      card = next;
    };
    replace(result, card, redeemForm, outcome);
    redeemButton.focus();

    redeemForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      sessionStorage.setItem("solomo-till-store", storeSelect.value);
      const body = { code: coupon.code, store_id: storeSelect.value };
      if (amount.value !== "") body.order_amount = Number(amount.value);
      redeemButton.disabled = true;
      try {
        // A fresh key per press: a retried request (a dropped connection) replays, a second press asks again.
        const redemption = await api("POST", "/v1/redemptions", body, { headers: { "Idempotency-Key": uuid() } });
        refreshCard(redemption.coupon);
        showRedeemed(outcome, redemption, refreshCard);
      } catch (error) {
        replace(outcome, message(describe(error, { storeName }), "error"));
        redeemButton.focus();
      } finally {
        redeemButton.disabled = false;
      }
    });
  }

  function showRedeemed(outcome, redemption, refreshCard) {
    const done = message(
      t("till.redeemed", {
        title: redemption.coupon.title,
        store: storeName(redemption.store_id),
        when: formatDateTime(redemption.redeemed_at),
      }),
      "success",
    );
    const reason = h("input", { type: "text", maxlength: "500" });
    const voidButton = h("button", { type: "submit" }, t("till.void"));
    const voidForm = h("form", { class: "till-void", novalidate: true }, field(t("till.voidReason"), reason), voidButton);
    replace(outcome, done, voidForm);
    voidButton.focus();
    voidForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      voidButton.disabled = true;
      try {
        const voided = await api("POST", `/v1/redemptions/${redemption.id}/void`, reason.value.trim() ? { reason: reason.value.trim() } : {}, {
          headers: { "Idempotency-Key": uuid() },
        });
        refreshCard(voided.coupon);
        replace(outcome, message(t("till.voided"), "success"));
        codeInput.focus();
      } catch (error) {
        voidForm.after(message(describe(error, { storeName }), "error"));
        voidButton.disabled = false;
        voidButton.focus();
      }
    });
    codeInput.value = "";
  }

  function couponCard(coupon) {
    const terms = coupon.terms;
    let offer;
    if (terms.kind === "percent") offer = t("terms.percent", { value: terms.percent_off });
    else if (terms.kind === "amount") offer = t("terms.amount", { value: formatMoney(terms.amount_off, terms.currency) });
    else offer = t("terms.free_item", { item: terms.free_item || "" });
    const where = terms.redeemable_store_ids
      ? terms.redeemable_store_ids.map(storeName).filter(Boolean).join(", ") || t("till.someStores", { count: terms.redeemable_store_ids.length })
      : t("till.anyStore");
    const rows = [
      [t("till.offer"), coupon.title],
      [t("till.terms"), terms.requires_visit ? `${offer} · ${t("till.visit")}` : offer],
      [t("till.statusLabel"), t(`till.status.${coupon.status}`)],
      [t("till.expires"), formatDateTime(coupon.expires_at)],
      [t("till.claimed"), formatDateTime(coupon.claimed_at)],
      [t("till.where"), where],
    ];
    if (coupon.redemption) {
      rows.push([
        t("till.redemptionLabel"),
        t("till.redemption", { when: formatDateTime(coupon.redemption.redeemed_at), store: storeName(coupon.redemption.store_id) || "—" }),
      ]);
    }
    return h(
      "section",
      { class: `coupon status-${coupon.status}`, "aria-label": coupon.code },
      h("h2", {}, coupon.code),
      h("dl", {}, rows.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)])),
    );
  }

  return () => {};
}

