// #/stores: the brand's stores (a manager's own, as the API scopes them) on a map and in a list that filters as
// you type. Store names appear only in the list and in popups: map layers draw no text offline.
import { all } from "./api.js";
import { describe } from "./errors.js";
import { t } from "./i18n.js";
import { addStores, createMap, settings } from "./map.js";
import { field, h, message, replace } from "./ui.js";

export async function renderStores(root, ctx) {
  const status = message(t("loading"));
  const mapEl = h("div", { class: "map", role: "region", "aria-label": t("stores.title") });
  const search = h("input", { type: "search", autocomplete: "off", spellcheck: "false" });
  const count = h("p", { class: "count", "aria-live": "polite" });
  const list = h("ul", { class: "store-list" });
  replace(
    root,
    h("h1", {}, t("stores.title")),
    status,
    h("div", { class: "split" }, mapEl, h("div", { class: "side" }, field(t("stores.search"), search), count, list)),
  );

  // The list does not wait for the map: under software WebGL a cold map's first frame takes a second or more.
  const mapReady = createMap(mapEl);
  mapReady.catch(() => {}); // awaited below; this only keeps an early failure from being reported as unhandled
  let stores;
  try {
    stores = await all("/v1/stores");
  } catch (error) {
    replace(status, describe(error));
    status.className = "message error";
    mapReady.then((map) => map.remove(), () => {});
    return () => {};
  }
  status.remove();
  stores.sort((a, b) => a.name.localeCompare(b.name));

  const features = (items) => ({
    type: "FeatureCollection",
    features: items.map((s) => ({ type: "Feature", geometry: s.location, properties: { id: s.id, name: s.name } })),
  });
  let map = null;
  let shown = stores;
  const show = () => {
    const needle = search.value.trim().toLocaleLowerCase();
    shown = needle ? stores.filter((s) => s.name.toLocaleLowerCase().includes(needle)) : stores;
    replace(
      list,
      shown.map((s) =>
        h("li", {}, h("a", { href: `#/stores/${s.id}` }, s.name), s.address ? h("small", {}, s.address) : null),
      ),
    );
    count.textContent = stores.length ? t("stores.count", { shown: shown.length, total: stores.length }) : t("stores.none");
    if (map) map.getSource("stores").setData(features(shown));
  };
  search.addEventListener("input", show);
  show();
  search.focus();

  try {
    map = await mapReady;
  } catch (error) {
    root.insertBefore(message(describe(error), "error"), root.firstChild.nextSibling);
    return () => {};
  }
  if (!ctx.alive()) {
    map.remove();
    return () => {};
  }
  // The offline basemap has country outlines only, blank when zoomed in close: stay where coasts show.
  addStores(
    map,
    features(shown),
    { "circle-radius": 6, "circle-color": "#c0392b", "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 },
    settings().mapStyleUrl ? 14 : 6,
  );

  // A popup names the store under the pointer (text only, never HTML from the API); a click opens it.
  const popup = new globalThis.maplibregl.Popup({ closeButton: false, closeOnClick: false });
  map.on("mousemove", "stores", (event) => {
    map.getCanvas().style.cursor = "pointer";
    const feature = event.features[0];
    popup.setLngLat(feature.geometry.coordinates).setDOMContent(document.createTextNode(feature.properties.name)).addTo(map);
  });
  map.on("mouseleave", "stores", () => {
    map.getCanvas().style.cursor = "";
    popup.remove();
  });
  map.on("click", "stores", (event) => ctx.navigate(`#/stores/${event.features[0].properties.id}`));

  return () => {
    popup.remove();
    map.remove();
  };
}
