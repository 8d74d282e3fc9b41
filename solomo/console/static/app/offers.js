// #/offers (marketer, admin): campaigns and their offers; #/offers/new[/<campaign>] and #/offers/<id>: the offer
// form. The form follows the API's shape (solomo/offers/schemas.py) section by section — where, who, when,
// trigger, coupon, limits — and sends every section whole (a PATCH replaces the sections it names). The API does
// the checking: each of its 422 field errors is shown next to the input its path names (forms.js).
import { all, api, ApiError } from "./api.js";
import { addDays, todayIn, zonedToIso } from "./dates.js";
import { describe } from "./errors.js";
import { FieldErrors } from "./forms.js";
import { formatDateTime, formatMoney, t } from "./i18n.js";
import { circlePolygon } from "./geometry.js";
import { createMap, fitTo, positionsOf } from "./map.js";
import { field, h, message, newId, replace } from "./ui.js";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const PROVIDERS = ["wechat", "weibo", "douyin", "qq", "xiaohongshu", "x", "instagram", "facebook", "tiktok"];
let flash = null; // a sentence for the list page to show once, after the form saved

// ---- summaries -----------------------------------------------------------------------------------------------

export function termsText(coupon) {
  if (coupon.kind === "percent") return t("terms.percent", { value: coupon.percent_off });
  if (coupon.kind === "amount") return t("terms.amount", { value: formatMoney(coupon.amount_off, coupon.currency) });
  return t("terms.free_item", { item: coupon.free_item || "" });
}

function whereText(where, storeName) {
  if (where.target === "stores") {
    const names = where.store_ids.map(storeName).sort((a, b) => a.localeCompare(b));
    return names.length > 3 ? `${names.slice(0, 3).join(", ")} ${t("offers.more", { count: names.length - 3 })}` : names.join(", ");
  }
  if (where.target === "geofences") return t("offers.whereFences", { count: where.geofence_ids.length });
  return t("offers.whereAll");
}

function hoursText(when) {
  if (!when.weekly_hours) return t("offers.anyTime");
  return when.weekly_hours.map((w) => `${w.days.map((d) => t(`day.${d}`)).join(" ")} ${w.start}–${w.end}`).join("; ");
}

// ---- the list ------------------------------------------------------------------------------------------------

export async function renderOffers(root, ctx) {
  const status = h("div", { class: "page-status", "aria-live": "polite" }, flash ? message(flash, "success") : null);
  flash = null;
  const newCampaign = h("button", { type: "button", "aria-expanded": "false" }, t("campaign.new"));
  const campaignFormBox = h("div");
  const listBox = h("div", {}, message(t("loading")));
  replace(root, h("div", { class: "page-head" }, h("h1", {}, t("offers.title")), newCampaign), status, campaignFormBox, listBox);

  const zone = ctx.session.timezone;
  // The campaign form needs nothing loaded: it works while the list is still on its way.
  newCampaign.addEventListener("click", () => {
    const open = newCampaign.getAttribute("aria-expanded") === "true";
    newCampaign.setAttribute("aria-expanded", String(!open));
    replace(campaignFormBox, open ? null : campaignForm());
  });

  let campaigns;
  let offers;
  let stores;
  try {
    [campaigns, offers, stores] = await Promise.all([all("/v1/campaigns"), all("/v1/offers"), all("/v1/stores")]);
  } catch (error) {
    replace(listBox, message(describe(error), "error"));
    return () => {};
  }
  if (!ctx.alive()) return () => {};
  const storeName = (id) => (stores.find((s) => s.id === id) || {}).name || "—";

  function campaignForm() {
    const name = h("input", { type: "text", maxlength: "200", autocomplete: "off" });
    const channel = h("input", { type: "text", value: "app", maxlength: "32", autocomplete: "off", spellcheck: "false" });
    const today = todayIn(zone);
    const starts = h("input", { type: "datetime-local", value: `${today}T00:00` });
    const ends = h("input", { type: "datetime-local", value: `${addDays(today, 30)}T00:00` });
    const state = h("select", {}, ["active", "draft"].map((s) => h("option", { value: s }, t(`campaign.status.${s}`))));
    const formStatus = h("div", { "aria-live": "polite" });
    const submit = h("button", { type: "submit", class: "primary" }, t("campaign.create"));
    const form = h(
      "form",
      { class: "campaign-form", novalidate: true },
      h("h2", {}, t("campaign.new")),
      h(
        "div",
        { class: "row fields" },
        field(t("campaign.name"), name),
        field(t("campaign.channel"), channel, t("campaign.channelHint")),
        field(t("campaign.starts"), starts, t("offers.brandTime", { zone })),
        field(t("campaign.ends"), ends),
        field(t("campaign.status"), state),
      ),
      formStatus,
      submit,
    );
    const errors = new FieldErrors(formStatus);
    errors.register("name", name);
    errors.register("channel", channel);
    errors.register("starts_at", starts);
    errors.register("ends_at", ends);
    errors.register("status", state);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      errors.clear();
      const body = { name: name.value.trim(), channel: channel.value.trim(), status: state.value };
      body.starts_at = starts.value ? zonedToIso(starts.value, zone) : null;
      body.ends_at = ends.value ? zonedToIso(ends.value, zone) : null;
      submit.disabled = true;
      try {
        const created = await api("POST", "/v1/campaigns", body);
        flash = t("campaign.created", { name: created.name });
        renderOffers(root, ctx);
      } catch (error) {
        if (error instanceof ApiError && error.status === 422) errors.show(error.errors, describe(error));
        else replace(formStatus, message(describe(error), "error"));
        submit.disabled = false;
      }
    });
    setTimeout(() => name.focus());
    return form;
  }

  async function act(request, done) {
    try {
      await request();
      flash = done;
      if (ctx.alive()) renderOffers(root, ctx);
    } catch (error) {
      if (ctx.alive()) replace(status, message(describe(error), "error"));
    }
  }

  function campaignSection(campaign) {
    const mine = offers.filter((o) => o.campaign_id === campaign.id);
    const pause = campaign.status === "active" ? "paused" : campaign.status === "paused" || campaign.status === "draft" ? "active" : null;
    const toggle = pause
      ? h(
          "button",
          {
            type: "button",
            onclick: () =>
              act(
                () => api("PATCH", `/v1/campaigns/${campaign.id}`, { status: pause }),
                t(pause === "paused" ? "campaign.paused" : "campaign.resumed", { name: campaign.name }),
              ),
          },
          t(pause === "paused" ? "campaign.pause" : campaign.status === "draft" ? "campaign.start" : "campaign.resume"),
        )
      : null;
    const rows = mine.map((offer) =>
      h(
        "tr",
        { class: offer.active ? null : "paused" },
        h("th", { scope: "row" }, h("a", { href: `#/offers/${offer.id}` }, offer.title)),
        h("td", {}, t(offer.active ? "offers.active" : "offers.paused")),
        h("td", {}, termsText(offer.coupon)),
        h("td", {}, t(`trigger.${offer.trigger}`)),
        h("td", {}, whereText(offer.where, storeName)),
        h("td", {}, hoursText(offer.when)),
        h(
          "td",
          {},
          h(
            "button",
            {
              type: "button",
              "aria-label": t(offer.active ? "offers.pauseNamed" : "offers.resumeNamed", { title: offer.title }),
              onclick: () =>
                act(
                  () => api("PATCH", `/v1/offers/${offer.id}`, { active: !offer.active }),
                  t(offer.active ? "offers.pausedDone" : "offers.resumedDone", { title: offer.title }),
                ),
            },
            t(offer.active ? "offers.pause" : "offers.resume"),
          ),
        ),
      ),
    );
    const head = [t("offers.offer"), t("offers.status"), t("offers.coupon"), t("offers.trigger"), t("offers.where"), t("offers.when"), ""];
    return h(
      "section",
      { class: "campaign", "aria-label": campaign.name },
      h(
        "div",
        { class: "page-head" },
        h("h2", {}, campaign.name),
        h(
          "span",
          { class: "campaign-meta" },
          `${campaign.channel} · ${formatDateTime(campaign.starts_at)} – ${formatDateTime(campaign.ends_at)} · ${t(`campaign.status.${campaign.status}`)}`,
          campaign.serving ? ` · ${t("campaign.serving")}` : "",
        ),
        toggle,
        campaign.status === "ended" ? null : h("a", { class: "button", href: `#/offers/new/${campaign.id}` }, t("offers.new")),
      ),
      mine.length
        ? h("table", { class: "data" }, h("thead", {}, h("tr", {}, head.map((label) => h("th", { scope: "col" }, label)))), h("tbody", {}, rows))
        : message(t("offers.none")),
    );
  }

  replace(listBox, campaigns.length ? campaigns.map(campaignSection) : message(t("campaign.none")));
  return () => {};
}

// ---- the form ------------------------------------------------------------------------------------------------

const numberOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));
const listOf = (input) =>
  input.value
    .split(/[,，\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);

export async function renderOfferForm(root, ctx, offerId, campaignId) {
  const status = h("div", { "aria-live": "polite" }, message(t("loading")));
  replace(root, h("h1", {}, offerId ? t("offers.edit") : t("offers.new")), status);
  let campaigns;
  let stores;
  let fences;
  let offer = null;
  try {
    [campaigns, stores, fences, offer] = await Promise.all([
      all("/v1/campaigns"),
      all("/v1/stores"),
      all("/v1/geofences", "features"),
      offerId ? api("GET", `/v1/offers/${encodeURIComponent(offerId)}`) : null,
    ]);
  } catch (error) {
    replace(status, message(describe(error), "error"));
    return () => {};
  }
  if (!ctx.alive()) return () => {};
  replace(status);
  stores.sort((a, b) => a.name.localeCompare(b.name));
  const storeName = (id) => (stores.find((s) => s.id === id) || {}).name || "—";
  fences.sort((a, b) => `${storeName(a.properties.store_id)} ${a.properties.name}`.localeCompare(`${storeName(b.properties.store_id)} ${b.properties.name}`));
  const formStatus = h("div", { "aria-live": "polite" });
  const errors = new FieldErrors(formStatus);
  const reg = (path, input, box) => errors.register(path, input, box);

  // -- basics --
  const campaign = h(
    "select",
    { disabled: Boolean(offer) },
    campaigns.filter((c) => c.status !== "ended" || (offer && offer.campaign_id === c.id)).map((c) => h("option", { value: c.id }, c.name)),
  );
  if (offer) campaign.value = offer.campaign_id;
  else if (campaignId) campaign.value = campaignId;
  const title = h("input", { type: "text", maxlength: "200", autocomplete: "off", value: offer ? offer.title : "" });
  const description = h("textarea", { rows: 2, maxlength: "2000" }, offer && offer.description ? offer.description : "");
  const shareable = h("input", { type: "checkbox", checked: Boolean(offer && offer.shareable) });
  const active = h("input", { type: "checkbox", checked: offer ? offer.active : true });
  const basics = h(
    "fieldset",
    {},
    h("legend", {}, t("offers.basics")),
    field(t("offers.campaign"), campaign),
    field(t("offers.titleLabel"), title),
    field(t("offers.description"), description),
    h("div", { class: "field" }, h("label", { class: "check" }, shareable, t("offers.shareable"))),
    h("div", { class: "field" }, h("label", { class: "check" }, active, t("offers.activeLabel"))),
  );
  reg("campaign_id", campaign);
  reg("title", title);
  reg("description", description);
  reg("shareable", shareable);
  reg("active", active);

  // -- where --
  const where = offer ? offer.where : { target: "all_stores", store_ids: [], geofence_ids: [] };
  const targetName = newId("target");
  const targets = ["all_stores", "stores", "geofences"].map((value) => ({
    value,
    input: h("input", { type: "radio", name: targetName, value, checked: where.target === value }),
  }));
  const target = () => targets.find((r) => r.input.checked).value;
  const storeChecks = stores.map((s) => ({ id: s.id, box: h("input", { type: "checkbox", value: s.id, checked: where.store_ids.includes(s.id) }) }));
  const fenceChecks = fences.map((f) => ({ id: f.id, box: h("input", { type: "checkbox", value: f.id, checked: where.geofence_ids.includes(f.id) }) }));
  const storePicker = h(
    "fieldset",
    { class: "store-picker" },
    h("legend", {}, t("offers.pickStores")),
    stores.length
      ? h("ul", { class: "check-list" }, stores.map((s, i) => h("li", {}, h("label", {}, storeChecks[i].box, s.name))))
      : message(t("stores.none")),
  );
  const fencePicker = h(
    "fieldset",
    { class: "fence-picker" },
    h("legend", {}, t("offers.pickFences")),
    fences.length
      ? h(
          "ul",
          { class: "check-list" },
          fences.map((f, i) => h("li", {}, h("label", {}, fenceChecks[i].box, `${storeName(f.properties.store_id)} · ${f.properties.name}`))),
        )
      : message(t("fence.none")),
  );
  const mapEl = h("div", { class: "map picker-map", role: "region", "aria-label": t("offers.whereMap") });
  const whereSet = h(
    "fieldset",
    { class: "where" },
    h("legend", {}, t("offers.where")),
    h("div", { class: "row", role: "radiogroup", "aria-label": t("offers.where") }, targets.map((r) => h("label", { class: "check" }, r.input, t(`offers.target.${r.value}`)))),
    h("p", { class: "hint" }, t("offers.mapHint")),
    h("div", { class: "split" }, mapEl, h("div", { class: "side" }, storePicker, fencePicker)),
  );
  reg("where.target", targets[0].input, whereSet);
  reg("where.store_ids", storeChecks.length ? storeChecks[0].box : targets[1].input, storePicker);
  reg("where.geofence_ids", fenceChecks.length ? fenceChecks[0].box : targets[2].input, fencePicker);
  reg("where", targets[0].input, whereSet);

  // -- who --
  const who = offer ? offer.who : { tags: [], tiers: [], provider: null, min_followers: null, joined_within_days: null };
  const tags = h("input", { type: "text", autocomplete: "off", spellcheck: "false", value: who.tags.join(", ") });
  const tiers = h("input", { type: "text", autocomplete: "off", spellcheck: "false", value: who.tiers.join(", ") });
  const provider = h("select", {}, h("option", { value: "" }, t("offers.anyProvider")), PROVIDERS.map((p) => h("option", { value: p }, p)));
  provider.value = who.provider || "";
  const minFollowers = h("input", { type: "number", min: "0", step: "1", value: who.min_followers ?? "" });
  const joinedWithin = h("input", { type: "number", min: "1", step: "1", value: who.joined_within_days ?? "" });
  const whoSet = h(
    "fieldset",
    { class: "grid" },
    h("legend", {}, t("offers.who")),
    field(t("offers.tags"), tags, t("offers.listHint")),
    field(t("offers.tiers"), tiers, t("offers.listHint")),
    field(t("offers.provider"), provider),
    field(t("offers.minFollowers"), minFollowers),
    field(t("offers.joinedWithin"), joinedWithin),
  );
  reg("who.tags", tags);
  reg("who.tiers", tiers);
  reg("who.provider", provider);
  reg("who.min_followers", minFollowers);
  reg("who.joined_within_days", joinedWithin);

  // -- when --
  const anyTime = h("input", { type: "checkbox", checked: !(offer && offer.when.weekly_hours) });
  const hoursBox = h("div", { class: "hours" });
  const addHours = h("button", { type: "button" }, t("offers.addHours"));
  const whenSet = h(
    "fieldset",
    {},
    h("legend", {}, t("offers.when")),
    h("label", { class: "check" }, anyTime, t("offers.anyTime")),
    h("p", { class: "hint" }, t("offers.hoursHint")),
    hoursBox,
    addHours,
  );
  const hourRows = [];
  function renumber() {
    errors.unregister("when");
    reg("when.weekly_hours", addHours, whenSet);
    hourRows.forEach((row, i) => {
      row.legend.textContent = t("offers.hoursRow", { n: i + 1 });
      reg(`when.weekly_hours[${i}]`, row.start, row.el);
      reg(`when.weekly_hours[${i}].days`, row.days[0].box, row.daysBox);
      reg(`when.weekly_hours[${i}].start`, row.start);
      reg(`when.weekly_hours[${i}].end`, row.end);
    });
  }
  function addRow(window = { days: ["mon", "tue", "wed", "thu", "fri"], start: "09:00", end: "18:00" }) {
    const row = {
      legend: h("legend"),
      days: DAYS.map((d) => ({ d, box: h("input", { type: "checkbox", value: d, checked: window.days.includes(d) }) })),
      start: h("input", { type: "time", value: window.start === "24:00" ? "00:00" : window.start }),
      end: h("input", { type: "time", value: window.end === "24:00" ? "00:00" : window.end }),
    };
    row.daysBox = h("div", { class: "days", role: "group", "aria-label": t("offers.days") }, row.days.map(({ d, box }) => h("label", { class: "check" }, box, t(`day.${d}`))));
    const remove = h("button", { type: "button", class: "link" }, t("offers.removeHours"));
    row.el = h("fieldset", { class: "hours-row" }, row.legend, row.daysBox, h("div", { class: "row" }, field(t("offers.from"), row.start), field(t("offers.until"), row.end), remove));
    remove.addEventListener("click", () => {
      hourRows.splice(hourRows.indexOf(row), 1);
      row.el.remove();
      renumber();
    });
    hourRows.push(row);
    hoursBox.append(row.el);
    renumber();
    return row;
  }
  for (const w of (offer && offer.when.weekly_hours) || []) addRow(w);
  addHours.addEventListener("click", () => {
    anyTime.checked = false;
    syncWhen();
    addRow().days[0].box.focus();
  });
  const syncWhen = () => {
    hoursBox.hidden = anyTime.checked;
    if (!anyTime.checked && !hourRows.length) addRow();
  };
  anyTime.addEventListener("change", syncWhen);
  renumber();

  // -- trigger --
  const trigger = h("select", {}, ["enter", "dwell"].map((v) => h("option", { value: v }, t(`trigger.${v}`))));
  trigger.value = offer ? offer.trigger : "enter";
  reg("trigger", trigger);

  // -- coupon --
  const terms = offer ? offer.coupon : { kind: "percent", validity_minutes: 1440, redeemable_at: "any_store", requires_visit: false };
  const kind = h("select", {}, ["percent", "amount", "free_item"].map((v) => h("option", { value: v }, t(`offers.kind.${v}`))));
  kind.value = terms.kind;
  const percentOff = h("input", { type: "number", step: "any", value: terms.percent_off ?? "" });
  const amountOff = h("input", { type: "number", step: "any", value: terms.amount_off ?? "" });
  const currency = h("input", { type: "text", maxlength: "3", autocapitalize: "characters", spellcheck: "false", value: terms.currency || "CNY" });
  const freeItem = h("input", { type: "text", maxlength: "200", value: terms.free_item || "" });
  const validity = h("input", { type: "number", min: "1", step: "1", value: terms.validity_minutes ?? "" });
  const redeemableAt = h("select", {}, ["any_store", "targeted_stores"].map((v) => h("option", { value: v }, t(`offers.redeemable.${v}`))));
  redeemableAt.value = terms.redeemable_at;
  const requiresVisit = h("input", { type: "checkbox", checked: Boolean(terms.requires_visit) });
  const percentField = field(t("offers.percentOff"), percentOff);
  const amountFields = h("div", { class: "row" }, field(t("offers.amountOff"), amountOff), field(t("offers.currency"), currency, t("offers.currencyHint")));
  const freeField = field(t("offers.freeItem"), freeItem);
  const couponSet = h(
    "fieldset",
    { class: "grid" },
    h("legend", {}, t("offers.coupon")),
    field(t("offers.kind"), kind),
    percentField,
    amountFields,
    freeField,
    field(t("offers.validity"), validity, t("offers.validityHint")),
    field(t("offers.redeemableAt"), redeemableAt),
    h("div", { class: "field" }, h("label", { class: "check" }, requiresVisit, t("till.visit"))),
  );
  const syncKind = () => {
    percentField.hidden = kind.value !== "percent";
    amountFields.hidden = kind.value !== "amount";
    freeField.hidden = kind.value !== "free_item";
  };
  kind.addEventListener("change", syncKind);
  syncKind();
  reg("coupon.kind", kind);
  reg("coupon.percent_off", percentOff);
  reg("coupon.amount_off", amountOff);
  reg("coupon.currency", currency);
  reg("coupon.free_item", freeItem);
  reg("coupon.validity_minutes", validity);
  reg("coupon.redeemable_at", redeemableAt);
  reg("coupon.requires_visit", requiresVisit);
  reg("coupon", kind, couponSet);

  // -- limits --
  const limits = offer ? offer.limits : { total: null, per_member: null, per_member_per_day: null, grants: "daily" };
  const total = h("input", { type: "number", min: "1", step: "1", value: limits.total ?? "" });
  const perMember = h("input", { type: "number", min: "1", step: "1", value: limits.per_member ?? "" });
  const perDay = h("input", { type: "number", min: "1", step: "1", value: limits.per_member_per_day ?? "" });
  const grants = h("select", {}, ["daily", "every_visit"].map((v) => h("option", { value: v }, t(`offers.grants.${v}`))));
  grants.value = limits.grants;
  const limitsSet = h(
    "fieldset",
    { class: "grid" },
    h("legend", {}, t("offers.limits")),
    field(t("offers.total"), total, t("offers.noLimit")),
    field(t("offers.perMember"), perMember, t("offers.noLimit")),
    field(t("offers.perDay"), perDay, t("offers.noLimit")),
    field(t("offers.grants"), grants),
    field(t("offers.trigger"), trigger),
  );
  reg("limits.total", total);
  reg("limits.per_member", perMember);
  reg("limits.per_member_per_day", perDay);
  reg("limits.grants", grants);

  const submit = h("button", { type: "submit", class: "primary" }, offer ? t("offers.save") : t("offers.create"));
  const form = h(
    "form",
    { class: "offer-form", novalidate: true },
    basics,
    whereSet,
    whoSet,
    whenSet,
    couponSet,
    limitsSet,
    formStatus,
    h("div", { class: "row" }, submit, h("a", { href: "#/offers" }, t("offers.back"))),
  );
  root.append(form);
  const syncPickers = () => {
    storePicker.hidden = target() !== "stores";
    fencePicker.hidden = target() !== "geofences";
  };
  form.addEventListener("change", syncPickers);
  syncPickers();
  syncWhen();
  if (!offer || !offer.when.weekly_hours) hoursBox.hidden = anyTime.checked;

  let dirty = false;
  form.addEventListener("input", () => {
    dirty = true;
  });
  form.addEventListener("change", () => {
    dirty = true;
  });
  ctx.setUnsaved(() => dirty);

  function body() {
    const coupon = {
      kind: kind.value,
      validity_minutes: numberOrNull(validity),
      redeemable_at: redeemableAt.value,
      requires_visit: requiresVisit.checked,
    };
    if (kind.value === "percent") coupon.percent_off = numberOrNull(percentOff);
    if (kind.value === "amount") Object.assign(coupon, { amount_off: numberOrNull(amountOff), currency: currency.value.trim().toUpperCase() || null });
    if (kind.value === "free_item") coupon.free_item = freeItem.value.trim() || null;
    const chosen = target();
    const out = {
      title: title.value.trim(),
      description: description.value.trim() || null,
      where: {
        target: chosen,
        store_ids: chosen === "stores" ? storeChecks.filter((c) => c.box.checked).map((c) => c.id) : [],
        geofence_ids: chosen === "geofences" ? fenceChecks.filter((c) => c.box.checked).map((c) => c.id) : [],
      },
      who: {
        tags: listOf(tags),
        tiers: listOf(tiers),
        provider: provider.value || null,
        min_followers: numberOrNull(minFollowers),
        joined_within_days: numberOrNull(joinedWithin),
      },
      when: {
        weekly_hours: anyTime.checked
          ? null
          : hourRows.map((row) => ({ days: row.days.filter((d) => d.box.checked).map((d) => d.d), start: row.start.value, end: row.end.value })),
      },
      trigger: trigger.value,
      coupon,
      limits: { total: numberOrNull(total), per_member: numberOrNull(perMember), per_member_per_day: numberOrNull(perDay), grants: grants.value },
      shareable: shareable.checked,
      active: active.checked,
    };
    if (!offer) out.campaign_id = campaign.value || null;
    return out;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.clear();
    submit.disabled = true;
    try {
      const saved = offer ? await api("PATCH", `/v1/offers/${offer.id}`, body()) : await api("POST", "/v1/offers", body());
      dirty = false;
      flash = t(offer ? "offers.saved" : "offers.created", { title: saved.title });
      ctx.navigate("#/offers");
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) errors.show(error.errors, describe(error));
      else replace(formStatus, message(describe(error), "error"));
      submit.disabled = false;
    }
  });

  // -- the map: stores and fences, a click picks one (for the target chosen) --
  let map = null;
  try {
    map = await createMap(mapEl);
  } catch (error) {
    replace(mapEl, message(describe(error), "error"));
    return () => {};
  }
  if (!ctx.alive()) {
    map.remove();
    return () => {};
  }
  const picked = (checks, id) => checks.some((c) => c.id === id && c.box.checked);
  const storeData = () => ({
    type: "FeatureCollection",
    features: stores.map((s) => ({ type: "Feature", geometry: s.location, properties: { id: s.id, picked: target() === "stores" && picked(storeChecks, s.id) } })),
  });
  const fenceData = () => ({
    type: "FeatureCollection",
    features: fences.map((f) => ({
      type: "Feature",
      geometry: f.properties.kind === "circle" ? circlePolygon(f.geometry.coordinates, f.properties.radius_m) : f.geometry,
      properties: { id: f.id, picked: target() === "geofences" && picked(fenceChecks, f.id) },
    })),
  });
  map.addSource("fences", { type: "geojson", data: fenceData() });
  map.addSource("stores", { type: "geojson", data: storeData() });
  const PICKED = "#d1242f";
  map.addLayer({ id: "fences-fill", type: "fill", source: "fences", paint: { "fill-color": ["case", ["get", "picked"], PICKED, "#1f6feb"], "fill-opacity": 0.25 } });
  map.addLayer({ id: "fences-line", type: "line", source: "fences", paint: { "line-color": ["case", ["get", "picked"], PICKED, "#1f6feb"], "line-width": 2 } });
  map.addLayer({
    id: "stores",
    type: "circle",
    source: "stores",
    paint: { "circle-radius": ["case", ["get", "picked"], 8, 6], "circle-color": ["case", ["get", "picked"], PICKED, "#59636e"], "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
  });
  const refresh = () => {
    map.getSource("stores").setData(storeData());
    map.getSource("fences").setData(fenceData());
  };
  form.addEventListener("change", refresh);
  refresh();
  const toggle = (checks, id) => {
    const check = checks.find((c) => c.id === id);
    if (!check) return;
    check.box.checked = !check.box.checked;
    dirty = true;
    refresh();
  };
  map.on("click", "stores", (event) => {
    if (target() !== "stores") return;
    toggle(storeChecks, event.features[0].properties.id);
  });
  map.on("click", "fences-fill", (event) => {
    if (target() !== "geofences") return;
    toggle(fenceChecks, event.features[0].properties.id);
  });
  for (const layer of ["stores", "fences-fill"]) {
    map.on("mouseenter", layer, () => {
      map.getCanvas().style.cursor = "pointer";
    });
    map.on("mouseleave", layer, () => {
      map.getCanvas().style.cursor = "";
    });
  }
  fitTo(map, [...stores.map((s) => s.location.coordinates), ...fences.flatMap((f) => positionsOf(f.geometry))], 15);
  return () => map.remove();
}

