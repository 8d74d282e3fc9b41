// #/dashboard (marketer, admin; a manager sees its own stores' figures, as the API scopes them): a date range in
// the brand's days and campaign / offer / store filters; the funnel (check-ins → impressions → claims →
// redemptions) and the daily trend as ECharts charts; per-store and per-offer tables, sortable, each with its
// CSV; the KOL board; the check-in heatmap as a map layer. Every figure is one /v1/stats answer shown as given
// (formatted in the chosen language), never recomputed here. ECharts draws into a canvas and needs no eval, so
// the page's CSP (script-src 'self') stands.
import * as echarts from "../vendor/echarts/echarts.esm.min.js";
import { all, api, apiText, ApiError } from "./api.js";
import { addDays, daysBetween, todayIn } from "./dates.js";
import { describe } from "./errors.js";
import { FieldErrors } from "./forms.js";
import { formatNumber, t } from "./i18n.js";
import { addStores, createMap, settings } from "./map.js";
import { sortableTable } from "./tables.js";
import { download, field, h, message, replace } from "./ui.js";

const STAGES = ["checkins", "impressions", "claims", "redemptions"];
const COLOURS = ["#1f6feb", "#8250df", "#bf8700", "#1a7f37"];
// The heatmap route's limits: a box at most 5° each way, hexagons of 50 m to 50 km.
const MAX_SPAN_DEG = 5;
const CELLS_ACROSS = 40;

const count = (value) => (value === null || value === undefined ? "—" : formatNumber(value));
const rate = (value) => (value === null || value === undefined ? "—" : formatNumber(value, { style: "percent", maximumFractionDigits: 1 }));
const amount = (value) => (value === null || value === undefined ? "—" : formatNumber(value, { minimumFractionDigits: 2, maximumFractionDigits: 2 }));

export async function renderDashboard(root, ctx) {
  const marketing = ctx.session.role !== "manager"; // campaigns, the KOL board and the heatmap are theirs
  const zone = ctx.session.timezone;
  const to = todayIn(zone);
  const fromInput = h("input", { type: "date", value: addDays(to, -29), name: "from" });
  const toInput = h("input", { type: "date", value: to, name: "to" });
  const campaignSelect = h("select", { name: "campaign_id", disabled: true }, h("option", { value: "" }, t("dash.allCampaigns")));
  const offerSelect = h("select", { name: "offer_id", disabled: true }, h("option", { value: "" }, t("dash.allOffers")));
  const storeSelect = h("select", { name: "store_id", disabled: true }, h("option", { value: "" }, t("dash.allStores")));
  const filterStatus = h("div", { "aria-live": "polite" });
  const filters = h(
    "form",
    { class: "filters row", novalidate: true, "aria-label": t("dash.filters") },
    field(t("dash.from"), fromInput),
    field(t("dash.to"), toInput),
    marketing ? field(t("offers.campaign"), campaignSelect) : null,
    field(t("offers.offer"), offerSelect),
    field(t("dash.store"), storeSelect),
  );
  const filterErrors = new FieldErrors(filterStatus);
  filterErrors.register("from", fromInput);
  filterErrors.register("to", toInput);
  filterErrors.register("campaign_id", campaignSelect);
  filterErrors.register("offer_id", offerSelect);
  filterErrors.register("store_id", storeSelect);

  const rangeNote = h("p", { class: "hint range" });
  const funnelChart = h("div", { class: "chart funnel-chart", role: "img", "aria-label": t("dash.funnel") });
  const funnelFigures = h("dl", { class: "funnel-figures" });
  const funnelNote = h("p", { class: "hint" });
  const trendChart = h("div", { class: "chart trend-chart", role: "img", "aria-label": t("dash.trend") });
  const storesBox = h("div", { class: "table-box" });
  const offersBox = h("div", { class: "table-box" });
  const kolBox = h("div", { class: "table-box" });
  const heatStatus = h("div", { class: "heat-status", "aria-live": "polite" });
  const heatLegend = h("div", { class: "heat-legend" });
  const heatMapEl = h("div", { class: "map heat-map", role: "region", "aria-label": t("dash.heatMapArea") });
  const csvButton = (name, route) => h("button", { type: "button", onclick: () => downloadCsv(name, route) }, t("dash.csv"));
  replace(
    root,
    h("h1", {}, t("dash.title")),
    filters,
    filterStatus,
    rangeNote,
    h(
      "div",
      { class: "charts" },
      h("section", { class: "panel", "aria-labelledby": "funnel-title" }, h("h2", { id: "funnel-title" }, t("dash.funnel")), funnelChart, funnelFigures, funnelNote),
      h("section", { class: "panel", "aria-labelledby": "trend-title" }, h("h2", { id: "trend-title" }, t("dash.trend")), trendChart),
    ),
    h("section", { class: "panel", "aria-labelledby": "stores-title" }, h("div", { class: "page-head" }, h("h2", { id: "stores-title" }, t("dash.byStore")), csvButton("stores", "stores")), storesBox),
    h("section", { class: "panel", "aria-labelledby": "offers-title" }, h("div", { class: "page-head" }, h("h2", { id: "offers-title" }, t("dash.byOffer")), csvButton("offers", "offers")), offersBox),
    marketing
      ? h("section", { class: "panel", "aria-labelledby": "kol-title" }, h("div", { class: "page-head" }, h("h2", { id: "kol-title" }, t("dash.kol")), csvButton("referrers", "referrers")), kolBox)
      : null,
    marketing
      ? h("section", { class: "panel", "aria-labelledby": "heat-title" }, h("h2", { id: "heat-title" }, t("dash.heatmap")), h("p", { class: "hint" }, t("dash.heatHint")), heatStatus, heatMapEl, heatLegend)
      : null,
  );

  const charts = [echarts.init(funnelChart), echarts.init(trendChart)];
  const resize = () => charts.forEach((c) => c.resize());
  window.addEventListener("resize", resize);
  let map = null;
  const cleanup = () => {
    window.removeEventListener("resize", resize);
    charts.forEach((c) => c.dispose());
    if (map) map.remove();
  };

  let campaigns = [];
  let offers = [];
  let stores = [];
  try {
    [campaigns, offers, stores] = await Promise.all([marketing ? all("/v1/campaigns") : [], all("/v1/offers"), all("/v1/stores")]);
  } catch (error) {
    replace(filterStatus, message(describe(error), "error"));
    return cleanup;
  }
  if (!ctx.alive()) return cleanup;
  const byName = (a, b) => a.localeCompare(b);
  campaigns.sort((a, b) => byName(a.name, b.name));
  offers.sort((a, b) => byName(a.title, b.title));
  stores.sort((a, b) => byName(a.name, b.name));
  campaignSelect.append(...campaigns.map((c) => h("option", { value: c.id }, c.name)));
  storeSelect.append(...stores.map((s) => h("option", { value: s.id }, s.name)));
  const fillOffers = () => {
    const shown = campaignSelect.value ? offers.filter((o) => o.campaign_id === campaignSelect.value) : offers;
    const keep = shown.some((o) => o.id === offerSelect.value) ? offerSelect.value : "";
    replace(offerSelect, h("option", { value: "" }, t("dash.allOffers")), shown.map((o) => h("option", { value: o.id }, o.title)));
    offerSelect.value = keep;
  };
  fillOffers();
  for (const select of [campaignSelect, offerSelect, storeSelect]) select.disabled = false; // usable once filled
  const campaignName = (id) => (campaigns.find((c) => c.id === id) || {}).name || null;

  /** The query of every stats request: the range and the filters chosen. */
  function query(extra = {}, keys = ["campaign_id", "offer_id", "store_id"]) {
    const params = new URLSearchParams();
    if (fromInput.value) params.set("from", fromInput.value);
    if (toInput.value) params.set("to", toInput.value);
    const chosen = { campaign_id: marketing ? campaignSelect.value : "", offer_id: offerSelect.value, store_id: storeSelect.value };
    for (const key of keys) if (chosen[key]) params.set(key, chosen[key]);
    for (const [key, value] of Object.entries(extra)) params.set(key, value);
    return params.toString();
  }

  async function downloadCsv(name, route) {
    const keys = route === "referrers" ? ["campaign_id", "offer_id"] : undefined;
    try {
      const text = await apiText(`/v1/stats/${route}?${query({}, keys)}`);
      download(`${name}-${fromInput.value}-${toInput.value}.csv`, text, "text/csv");
    } catch (error) {
      replace(filterStatus, message(describe(error), "error"));
    }
  }

  // ---- the funnel: one row of the API for the filters chosen ----
  // An offer, a campaign or a store alone each have their own row (/v1/stats/offers?offer_id=…, campaigns, stores);
  // with none chosen, the brand's row is the range's total that /v1/stats/daily answers beside its days.
  async function funnelRow(daily) {
    const route = offerSelect.value ? "offers" : marketing && campaignSelect.value ? "campaigns" : storeSelect.value ? "stores" : null;
    if (!route) return { row: daily.items.length ? daily.total : null, route: "daily" };
    const answer = await api("GET", `/v1/stats/${route}?${query({ limit: "1" })}`);
    return { row: answer.items[0] || null, route };
  }

  function showFunnel(row, route) {
    const figures = STAGES.map((stage) => ({ stage, value: row ? row[stage] : 0 }));
    replace(
      funnelFigures,
      figures.map(({ stage, value }) => [h("dt", {}, t(`dash.stage.${stage}`)), h("dd", { dataset: { figure: stage } }, count(value))]),
      row ? [h("dt", {}, t("dash.claimRate")), h("dd", { dataset: { figure: "claim_rate" } }, rate(row.claim_rate))] : null,
      row ? [h("dt", {}, t("dash.redemptionRate")), h("dd", { dataset: { figure: "redemption_rate" } }, rate(row.redemption_rate))] : null,
    );
    funnelNote.textContent = row && row.checkins === null ? t("dash.checkinsPlaces") : row ? "" : t("dash.nothing");
    const shown = figures.filter((f) => f.value !== null);
    const max = Math.max(1, ...shown.map((f) => f.value));
    charts[0].setOption(
      {
        animation: false,
        aria: { enabled: true },
        tooltip: { trigger: "item", formatter: (p) => `${p.name}: ${count(p.value)}` },
        series: [
          {
            type: "funnel",
            sort: "none",
            min: 0,
            max,
            minSize: "8%",
            left: "5%",
            width: "90%",
            gap: 2,
            label: { position: "inside", formatter: (p) => `${p.name}  ${count(p.value)}` },
            data: shown.map((f) => ({ name: t(`dash.stage.${f.stage}`), value: f.value, itemStyle: { color: COLOURS[STAGES.indexOf(f.stage)] } })),
          },
        ],
      },
      true,
    );
  }

  function showTrend(daily) {
    const byDay = new Map(daily.items.map((item) => [item.day, item]));
    const days = daysBetween(daily.from, daily.to);
    charts[1].setOption(
      {
        animation: false,
        aria: { enabled: true },
        color: COLOURS,
        tooltip: { trigger: "axis", valueFormatter: (value) => count(value) },
        legend: { top: 0 },
        grid: { left: 48, right: 16, top: 36, bottom: 28 },
        xAxis: { type: "category", data: days, axisLabel: { formatter: (day) => day.slice(5) } },
        yAxis: { type: "value", minInterval: 1, axisLabel: { formatter: (value) => formatNumber(value) } },
        series: STAGES.map((stage) => ({
          type: "line",
          name: t(`dash.stage.${stage}`),
          showSymbol: false,
          // A day the API has no row for had nothing: zero, not a gap.
          data: days.map((day) => (byDay.has(day) ? byDay.get(day)[stage] : 0)),
        })),
      },
      true,
    );
  }

  const FIGURE_COLUMNS = [
    { key: "checkins", label: t("dash.stage.checkins"), numeric: true, cell: (r) => count(r.checkins) },
    { key: "impressions", label: t("dash.stage.impressions"), numeric: true, cell: (r) => count(r.impressions) },
    { key: "claims", label: t("dash.stage.claims"), numeric: true, cell: (r) => count(r.claims) },
    { key: "redemptions", label: t("dash.stage.redemptions"), numeric: true, cell: (r) => count(r.redemptions) },
    { key: "claim_rate", label: t("dash.claimRate"), numeric: true, cell: (r) => rate(r.claim_rate) },
    { key: "redemption_rate", label: t("dash.redemptionRate"), numeric: true, cell: (r) => rate(r.redemption_rate) },
    { key: "order_amount", label: t("dash.orderAmount"), numeric: true, cell: (r) => amount(r.order_amount) },
  ];

  function showTables(storeRows, offerRows, referrers) {
    replace(
      storesBox,
      storeRows.length ? sortableTable([{ key: "store_name", label: t("dash.store") }, ...FIGURE_COLUMNS], storeRows, { sort: "claims" }) : message(t("dash.nothing")),
    );
    replace(
      offersBox,
      offerRows.length
        ? sortableTable(
            [
              { key: "offer_title", label: t("offers.offer") },
              ...(marketing ? [{ key: "campaign", label: t("offers.campaign"), value: (r) => campaignName(r.campaign_id) }] : []),
              ...FIGURE_COLUMNS.filter((c) => c.key !== "checkins"),
            ],
            offerRows,
            { sort: "claims" },
          )
        : message(t("dash.nothing")),
    );
    if (!marketing) return;
    replace(
      kolBox,
      referrers.items.length
        ? sortableTable(
            [
              { key: "member_id", label: t("dash.member"), cell: (r) => h("code", { title: r.member_id }, r.member_id.slice(0, 8)) },
              { key: "shares", label: t("dash.shares"), numeric: true, cell: (r) => count(r.shares) },
              { key: "claims", label: t("dash.stage.claims"), numeric: true, cell: (r) => count(r.claims) },
              { key: "redemptions", label: t("dash.stage.redemptions"), numeric: true, cell: (r) => count(r.redemptions) },
              { key: "order_amount", label: t("dash.orderAmount"), numeric: true, cell: (r) => amount(r.order_amount) },
              { key: "followers", label: t("dash.followers"), numeric: true, cell: (r) => count(r.followers) },
              {
                key: "accounts",
                label: t("dash.accounts"),
                value: (r) => r.accounts.map((a) => a.provider).join(" "),
                cell: (r) => r.accounts.map((a) => (a.followers === null ? a.provider : `${a.provider} (${count(a.followers)})`)).join(", ") || "—",
              },
            ],
            referrers.items,
            { sort: "claims" },
          )
        : message(t("dash.noSharers")),
    );
  }

  let loading = 0;
  async function load() {
    loading += 1;
    const mine = loading;
    filterErrors.clear();
    rangeNote.textContent = t("loading");
    try {
      const [daily, storeRows, offerRows, referrers] = await Promise.all([
        api("GET", `/v1/stats/daily?${query()}`),
        all(`/v1/stats/stores?${query()}`),
        all(`/v1/stats/offers?${query()}`),
        marketing ? api("GET", `/v1/stats/referrers?${query({ limit: "50" }, ["campaign_id", "offer_id"])}`) : null,
      ]);
      const { row, route } = await funnelRow(daily);
      if (!ctx.alive() || mine !== loading) return;
      rangeNote.textContent = t("dash.range", { from: daily.from, to: daily.to, zone: daily.timezone });
      showFunnel(row, route);
      showTrend(daily);
      showTables(storeRows, offerRows, referrers);
      loadHeat();
    } catch (error) {
      if (!ctx.alive() || mine !== loading) return;
      rangeNote.textContent = "";
      if (error instanceof ApiError && error.status === 422) filterErrors.show(error.errors, describe(error));
      else replace(filterStatus, message(describe(error), "error"));
    }
  }

  // ---- the heatmap: hexagons for the box on screen, coloured by check-ins; no text on the map ----
  let heatToken = 0;
  async function loadHeat() {
    if (!map) return;
    heatToken += 1;
    const mine = heatToken;
    const bounds = map.getBounds();
    const west = Math.max(-180, bounds.getWest());
    const east = Math.min(180, bounds.getEast());
    const south = Math.max(-85, bounds.getSouth());
    const north = Math.min(85, bounds.getNorth());
    if (east - west > MAX_SPAN_DEG || north - south > MAX_SPAN_DEG) {
      map.getSource("heat").setData({ type: "FeatureCollection", features: [] });
      replace(heatStatus, message(t("dash.heatZoom")));
      replace(heatLegend);
      return;
    }
    const widthM = (east - west) * 111_320 * Math.cos((((north + south) / 2) * Math.PI) / 180);
    // The API snaps this to its ladder of sizes and answers the size it used (answer.cell_m).
    const cell = Math.round(Math.min(50_000, Math.max(50, widthM / CELLS_ACROSS)));
    const bbox = [west, south, east, north].map((v) => v.toFixed(5)).join(",");
    try {
      const answer = await api("GET", `/v1/stats/checkins/heatmap?${query({ bbox, cell_m: String(cell) }, [])}`);
      if (!ctx.alive() || mine !== heatToken) return;
      map.getSource("heat").setData(answer);
      const top = Math.max(0, ...answer.features.map((f) => f.properties.checkins));
      map.setPaintProperty("heat", "fill-color", ["interpolate", ["linear"], ["get", "checkins"], 1, "#fed976", Math.max(2, top), "#bd0026"]);
      replace(heatStatus, message(answer.features.length ? t("dash.heatCells", { cells: count(answer.features.length), cell: count(Math.round(answer.cell_m)) }) : t("dash.heatNone", { k: count(answer.min_members) })));
      replace(
        heatLegend,
        answer.features.length
          ? [h("span", {}, count(1)), h("span", { class: "ramp", "aria-hidden": "true" }), h("span", {}, count(top)), h("span", { class: "hint" }, t("dash.heatK", { k: count(answer.min_members) }))]
          : null,
      );
    } catch (error) {
      if (ctx.alive() && mine === heatToken) replace(heatStatus, message(describe(error), "error"));
    }
  }

  filters.addEventListener("change", (event) => {
    if (event.target === campaignSelect) fillOffers();
    load();
  });
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });

  const loaded = load(); // the figures need not wait for the map
  if (marketing) {
    try {
      map = await createMap(heatMapEl);
    } catch (error) {
      replace(heatStatus, message(describe(error), "error"));
    }
    if (!ctx.alive()) return cleanup;
    if (map) {
      map.addSource("heat", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
      map.addLayer({ id: "heat", type: "fill", source: "heat", paint: { "fill-color": "#fed976", "fill-opacity": 0.7, "fill-outline-color": "#ffffff" } });
      // Close enough for the API's 5° box: a city, not the country the offline basemap otherwise shows.
      addStores(
        map,
        { type: "FeatureCollection", features: stores.map((s) => ({ type: "Feature", geometry: s.location, properties: {} })) },
        { "circle-radius": 4, "circle-color": "#1f2328", "circle-stroke-color": "#ffffff", "circle-stroke-width": 1.5 },
        settings().mapStyleUrl ? 14 : 11,
      );
      map.on("moveend", loadHeat);
      loadHeat();
    }
  }
  await loaded;
  return cleanup;
}
